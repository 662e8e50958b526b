//! A bounded, durable spool of reports the collector has not acknowledged.
//!
//! The run loop sends a report first and spools it only when delivery
//! fails, so while the collector is reachable the spool costs nothing: no
//! write, no fsync, no listing of the folder.
//!
//! One file per report, named by its sequence number so the oldest is sent
//! first. Each file carries a magic, a length and a CRC32; a file that fails
//! the check (torn write, disk corruption) is logged, removed and skipped,
//! never fatal. When the spool is over its bounds the oldest reports go
//! first: reports are snapshots, so the newest state is worth the most.
//!
//! The folder is listed once, when the spool is opened; after that an index
//! in memory says what is there (only this process writes the folder).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use prost::bytes::Bytes;
use tracing::warn;

use crate::config::SpoolConfig;
use crate::report::EncodedReport;
use crate::state::{StateError, write_atomically};

const MAGIC: &[u8; 4] = b"FWS1";
const HEADER_LEN: usize = 12;
const EXTENSION: &str = "report";

#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    limits: SpoolConfig,
    /// Sequence number to file size of every report spooled, oldest first.
    index: BTreeMap<u64, u64>,
}

/// One spooled report, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct SpooledReport {
    /// The sequence number its file is named by.
    pub seq: u64,
    pub report: EncodedReport,
}

impl Spool {
    pub fn open(dir: PathBuf, limits: SpoolConfig) -> Result<Self, StateError> {
        std::fs::create_dir_all(&dir).map_err(|source| StateError::Write {
            path: dir.clone(),
            source,
        })?;
        let index = list(&dir);
        Ok(Self { dir, limits, index })
    }

    fn path_for(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.{EXTENSION}"))
    }

    /// Highest sequence number spooled, so numbering continues after a restart.
    pub fn max_seq(&self) -> u64 {
        self.index.last_key_value().map_or(0, |(seq, _)| *seq)
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Adds a report, then drops the oldest until the spool is within bounds.
    pub fn push(&mut self, report: &EncodedReport) -> Result<(), StateError> {
        let body = &report.bytes;
        let mut bytes = Vec::with_capacity(HEADER_LEN + body.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_le_bytes());
        bytes.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
        bytes.extend_from_slice(body);
        write_atomically(&self.path_for(report.seq), &bytes)?;
        self.index.insert(report.seq, bytes.len() as u64);
        self.enforce_bounds();
        Ok(())
    }

    fn enforce_bounds(&mut self) {
        let mut bytes: u64 = self.index.values().sum();
        // Always keep the newest report, however large.
        while self.index.len() > 1
            && (self.index.len() > self.limits.max_reports || bytes > self.limits.max_bytes)
        {
            let Some((&seq, &size)) = self.index.first_key_value() else {
                break;
            };
            warn!(seq, "spool full; dropping oldest unsent report");
            self.remove(seq);
            bytes = bytes.saturating_sub(size);
        }
    }

    /// The oldest intact report; damaged files are removed on the way.
    pub fn oldest(&mut self) -> Option<SpooledReport> {
        while let Some(&seq) = self.index.keys().next() {
            let path = self.path_for(seq);
            match read_entry(&path) {
                Ok(report) => return Some(SpooledReport { seq, report }),
                Err(reason) => {
                    warn!(path = %path.display(), reason, "damaged spool entry skipped");
                    self.remove(seq);
                }
            }
        }
        None
    }

    /// Removes every report up to and including `seq` (the collector has it).
    pub fn acknowledge(&mut self, seq: u64) {
        let acknowledged: Vec<u64> = self.index.range(..=seq).map(|(seq, _)| *seq).collect();
        for spooled in acknowledged {
            self.remove(spooled);
        }
    }

    /// Removes one report (acknowledged, or refused for good).
    pub fn remove(&mut self, seq: u64) {
        self.index.remove(&seq);
        let path = self.path_for(seq);
        if let Err(err) = std::fs::remove_file(&path)
            && err.kind() != std::io::ErrorKind::NotFound
        {
            warn!(path = %path.display(), error = %err, "cannot remove spool entry");
        }
    }
}

/// Sequence numbers in `dir` with their file sizes; damaged names are ignored.
fn list(dir: &Path) -> BTreeMap<u64, u64> {
    let Ok(read_dir) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    read_dir
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let path = entry.path();
            if path.extension()? != EXTENSION {
                return None;
            }
            let seq = path.file_stem()?.to_str()?.parse().ok()?;
            Some((seq, entry.metadata().ok()?.len()))
        })
        .collect()
}

fn read_entry(path: &Path) -> Result<EncodedReport, &'static str> {
    let mut bytes = Bytes::from(std::fs::read(path).map_err(|_| "unreadable")?);
    if bytes.len() < HEADER_LEN || &bytes[..4] != MAGIC {
        return Err("bad header");
    }
    let len = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
    let crc = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    let body = bytes.split_off(HEADER_LEN);
    if body.len() != len {
        return Err("truncated");
    }
    if crc32fast::hash(&body) != crc {
        return Err("checksum mismatch");
    }
    EncodedReport::decode(body).map_err(|_| "not a report")
}

#[cfg(test)]
mod tests {
    use forewarn_proto::pb;

    use super::*;

    fn report(seq: u64) -> EncodedReport {
        EncodedReport::new(&pb::StatusReport {
            seq,
            collected_at_unix_secs: 1_700_000_000 + seq as i64,
            ..Default::default()
        })
    }

    fn spool(dir: &Path, max_reports: usize) -> Spool {
        Spool::open(
            dir.to_path_buf(),
            SpoolConfig {
                max_reports,
                max_bytes: 1 << 20,
            },
        )
        .unwrap()
    }

    #[test]
    fn reports_come_back_oldest_first_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = spool(dir.path(), 10);
        for seq in [3, 1, 2] {
            s.push(&report(seq)).unwrap();
        }
        let mut reopened = spool(dir.path(), 10);
        assert_eq!(reopened.oldest().unwrap().seq, 1);
        assert_eq!(reopened.max_seq(), 3);
        reopened.acknowledge(2);
        let oldest = reopened.oldest().unwrap().report;
        assert_eq!(oldest.bytes, report(3).bytes);
        assert_eq!(oldest.delivery.collected_at_unix_secs, 1_700_000_003);
    }

    #[test]
    fn oldest_reports_are_dropped_beyond_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = spool(dir.path(), 3);
        for seq in 1..=5 {
            s.push(&report(seq)).unwrap();
        }
        assert_eq!(s.len(), 3);
        assert_eq!(s.oldest().unwrap().seq, 3);
    }

    #[test]
    fn corrupt_entry_is_skipped_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = spool(dir.path(), 10);
        s.push(&report(1)).unwrap();
        s.push(&report(2)).unwrap();
        let first = s.path_for(1);
        let mut bytes = std::fs::read(&first).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&first, bytes).unwrap();
        std::fs::write(s.path_for(7), b"junk").unwrap();
        // The junk file is seen by a spool opened after it was written.
        let mut s = spool(dir.path(), 10);
        assert_eq!(s.oldest().unwrap().seq, 2);
        assert!(!first.exists());
        s.acknowledge(2);
        assert!(s.oldest().is_none(), "junk entry should be dropped too");
    }

    #[test]
    fn a_reopened_spool_sees_what_is_on_disk_and_bounds_by_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = spool(dir.path(), 10);
        for seq in 1..=4 {
            s.push(&report(seq)).unwrap();
        }
        let size = std::fs::metadata(s.path_for(1)).unwrap().len();
        let mut small = Spool::open(
            dir.path().to_path_buf(),
            SpoolConfig {
                max_reports: 10,
                max_bytes: 2 * size,
            },
        )
        .unwrap();
        assert_eq!(small.len(), 4);
        small.push(&report(5)).unwrap();
        assert_eq!(small.len(), 2, "bounded by bytes");
        assert_eq!(small.oldest().unwrap().seq, 4);
        assert!(!s.path_for(3).exists());
    }

    #[test]
    fn write_failure_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = spool(&dir.path().join("spool"), 10);
        std::fs::remove_dir(dir.path().join("spool")).unwrap();
        std::fs::write(
            dir.path().join("spool"),
            b"a file where the spool should be",
        )
        .unwrap();
        assert!(s.push(&report(1)).is_err());
        assert!(s.oldest().is_none());
    }
}
