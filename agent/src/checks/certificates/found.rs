//! Certificates found in one cycle, listed once per fingerprint with every
//! place they were found, and what is kept from one cycle to the next so
//! that unchanged files and chains are not read or parsed again.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use forewarn_proto::limits::MAX_LIST_ITEMS;
use forewarn_proto::pb;

use super::files::{self, WalkLimits};
use super::{CHECK_NAME, parse};
use crate::checks::CheckError;
use crate::file_stamp::FileStamp;

/// What one certificate file held.
#[derive(Debug, Clone)]
pub(super) struct ParsedFile {
    stamp: FileStamp,
    /// Fingerprint and description (without locations) of each certificate.
    certificates: Vec<(String, pb::CertificateStatus)>,
    /// Why parts of the file could not be read as certificates, and whether
    /// the part is a key file (expected in a folder, an error when named).
    problems: Vec<(String, bool)>,
}

impl ParsedFile {
    fn parse(stamp: FileStamp, bytes: &[u8]) -> Self {
        let (ders, problems) = parse::split_certificates(bytes);
        let mut parsed = Self {
            stamp,
            certificates: Vec::with_capacity(ders.len()),
            problems: problems
                .iter()
                .map(|problem| (problem.to_string(), problem.is_key_file()))
                .collect(),
        };
        for der in ders {
            let fingerprint = parse::fingerprint(&der);
            if parsed.certificates.iter().any(|(f, _)| *f == fingerprint) {
                continue;
            }
            match parse::describe(&der) {
                Ok(status) => parsed.certificates.push((fingerprint, status)),
                Err(err) => parsed.problems.push((err.to_string(), false)),
            }
        }
        parsed
    }
}

/// Walks `paths`, reading and parsing only the files whose stamp moved since
/// `previous`. Returns each file's outcome (the parsed content is in the map)
/// and the map of this cycle's files.
pub(super) fn read_files(
    paths: &[PathBuf],
    limits: WalkLimits,
    mut previous: HashMap<PathBuf, ParsedFile>,
) -> (Vec<files::FileResult<()>>, HashMap<PathBuf, ParsedFile>) {
    let mut stamps: HashMap<PathBuf, FileStamp> = HashMap::new();
    let results = files::read_changed_certificate_files(paths, limits, &mut |path, metadata| {
        let stamp = FileStamp::of(metadata);
        stamps.insert(path.to_path_buf(), stamp);
        previous.get(path).is_some_and(|file| file.stamp == stamp)
    });
    let mut parsed = HashMap::with_capacity(results.len());
    let outcomes = results
        .into_iter()
        .map(|(path, result)| {
            let outcome = match result {
                Ok(None) => {
                    if let Some(file) = previous.remove(&path) {
                        parsed.insert(path.clone(), file);
                    }
                    Ok(())
                }
                Ok(Some(bytes)) => {
                    if let Some(stamp) = stamps.get(&path) {
                        parsed.insert(path.clone(), ParsedFile::parse(*stamp, &bytes));
                    }
                    Ok(())
                }
                Err(err) => Err(err),
            };
            (path, outcome)
        })
        .collect();
    (outcomes, parsed)
}

/// Certificates found so far, by fingerprint, and per-item errors.
#[derive(Debug, Default)]
pub(super) struct Found {
    pub(super) certificates: BTreeMap<String, pb::CertificateStatus>,
    pub(super) errors: Vec<pb::CheckError>,
    /// Descriptions from the last cycle, reused for unchanged certificates.
    pub(super) previous: HashMap<String, pb::CertificateStatus>,
    /// Descriptions made or reused this cycle.
    pub(super) described: HashMap<String, pb::CertificateStatus>,
}

impl Found {
    /// Adds a file's certificates and problems. A file of private keys found
    /// in a folder (`named` false) is expected there and passed over in silence.
    pub(super) fn add_file(&mut self, file: &ParsedFile, location: &str, named: bool) {
        for (problem, is_key_file) in &file.problems {
            if *is_key_file && !named {
                continue;
            }
            let error = CheckError::InvalidData(problem.clone());
            self.errors.push(error.to_proto(CHECK_NAME, location));
        }
        for (fingerprint, status) in &file.certificates {
            self.add_described(fingerprint, pb::CertificateSource::File, location, || {
                status.clone()
            });
        }
    }

    pub(super) fn add_bytes(
        &mut self,
        bytes: &[u8],
        source: pb::CertificateSource,
        location: &str,
    ) {
        let (ders, problems) = parse::split_certificates(bytes);
        for problem in problems {
            let error = CheckError::InvalidData(problem.to_string());
            self.errors.push(error.to_proto(CHECK_NAME, location));
        }
        for der in ders {
            self.add_der(&der, source, location);
        }
    }

    /// Adds one certificate; returns its expiry, None when it cannot be read.
    pub(super) fn add_der(
        &mut self,
        der: &[u8],
        source: pb::CertificateSource,
        location: &str,
    ) -> Option<i64> {
        let fingerprint = parse::fingerprint(der);
        if self.certificates.contains_key(&fingerprint) {
            return self.add_described(&fingerprint, source, location, Default::default);
        }
        let status = match self.described.get(&fingerprint) {
            Some(status) => status.clone(),
            None => {
                let status = match self.previous.remove(&fingerprint) {
                    Some(status) => status,
                    None => match parse::describe(der) {
                        Ok(status) => status,
                        Err(err) => {
                            let error = CheckError::InvalidData(err.to_string());
                            self.errors.push(error.to_proto(CHECK_NAME, location));
                            return None;
                        }
                    },
                };
                self.described.insert(fingerprint.clone(), status.clone());
                status
            }
        };
        self.add_described(&fingerprint, source, location, || status)
    }

    /// Lists `fingerprint` at `location`, describing it with `describe` when
    /// it is new this cycle; returns its expiry.
    fn add_described(
        &mut self,
        fingerprint: &str,
        source: pb::CertificateSource,
        location: &str,
        describe: impl FnOnce() -> pb::CertificateStatus,
    ) -> Option<i64> {
        let known = match self.certificates.get_mut(fingerprint) {
            Some(known) => known,
            None => self
                .certificates
                .entry(fingerprint.to_owned())
                .or_insert_with(describe),
        };
        let source = source as i32;
        if known.locations.len() < MAX_LIST_ITEMS
            && !known
                .locations
                .iter()
                .any(|l| l.source == source && l.location == location)
        {
            known.locations.push(pb::CertificateLocation {
                source,
                location: location.to_owned(),
            });
        }
        Some(known.not_after_unix_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: WalkLimits = WalkLimits {
        max_depth: 3,
        max_files: 100,
        max_file_bytes: 1 << 20,
    };

    fn pem(name: &str) -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        rcgen::CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap()
            .pem()
    }

    fn names(parsed: &HashMap<PathBuf, ParsedFile>, path: &std::path::Path) -> Vec<String> {
        parsed[path]
            .certificates
            .iter()
            .map(|(_, status)| status.subject.clone())
            .collect()
    }

    #[test]
    fn unchanged_files_are_reused_changed_ones_read_again_and_removed_ones_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            dir.path().join("a.pem"),
            dir.path().join("b.pem"),
            dir.path().join("c.pem"),
        );
        std::fs::write(&a, pem("a.test")).unwrap();
        std::fs::write(&b, pem("b.test")).unwrap();
        std::fs::write(&c, pem("c.test")).unwrap();
        let roots = [dir.path().to_path_buf()];
        let (outcomes, mut parsed) = read_files(&roots, LIMITS, HashMap::new());
        assert_eq!(outcomes.len(), 3);
        assert!(outcomes.iter().all(|(_, r)| r.is_ok()));
        // Mark what the cache holds for `a`: if `a` were parsed again, the mark would go.
        parsed.get_mut(&a).unwrap().certificates[0].1.subject = "cached".into();
        let b_before = parsed[&b].certificates[0].0.clone();
        std::fs::write(&b, pem("b2.test")).unwrap();
        std::fs::remove_file(&c).unwrap();
        let (outcomes, parsed) = read_files(&roots, LIMITS, parsed);
        assert_eq!(outcomes.len(), 2);
        assert_eq!(names(&parsed, &a), ["cached"]);
        assert_eq!(parsed[&b].certificates.len(), 1);
        assert_ne!(parsed[&b].certificates[0].0, b_before, "b was read again");
        assert!(!parsed.contains_key(&c));
    }

    #[test]
    fn a_certificate_in_two_files_is_listed_once_with_both_places() {
        let dir = tempfile::tempdir().unwrap();
        let text = pem("both.test");
        std::fs::write(dir.path().join("one.pem"), &text).unwrap();
        std::fs::write(dir.path().join("two.crt"), format!("{text}junk\n")).unwrap();
        let (outcomes, parsed) = read_files(&[dir.path().to_path_buf()], LIMITS, HashMap::new());
        let mut found = Found::default();
        for (path, _) in &outcomes {
            found.add_file(&parsed[path], &path.display().to_string(), true);
        }
        assert_eq!(found.certificates.len(), 1);
        let only = found.certificates.values().next().unwrap();
        assert_eq!(only.locations.len(), 2);
    }
}
