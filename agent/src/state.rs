//! The agent's state directory: identity, enrollment record, sequence number,
//! current policy and the spool.
//!
//! ```text
//! <state_dir>/enrollment.toml   collector URL, server name, device id, group
//! <state_dir>/device.pem        client certificate followed by its private key (0600)
//! <state_dir>/ca.pem            the collector CA the agent trusts
//! <state_dir>/seq               highest report sequence number reserved
//! <state_dir>/policy.pb         last policy received (protobuf)
//! <state_dir>/spool/            reports not yet acknowledged
//! <state_dir>/backups.json      last backup successes and restore verifications
//! ```
//! Certificate and key share one file so a renewal replaces both in one
//! atomic rename; a crash can never pair a new key with an old certificate.

use std::io::Write;
use std::path::{Path, PathBuf};

use prost::Message;
use serde::{Deserialize, Serialize};

use forewarn_proto::pb;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("this device is not enrolled (no {path}); run `forewarn-agent enroll` first")]
    NotEnrolled { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is damaged: {message}")]
    Damaged { path: PathBuf, message: String },
}

/// Where and who: the result of enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enrollment {
    /// `https://host:port` of the collector.
    pub collector_url: String,
    /// Name the collector's server certificate is checked against.
    pub server_name: String,
    /// Identity the collector assigned; also in the certificate.
    pub device_id: String,
    /// Group the enrollment token placed this device in.
    pub group: String,
}

/// The device's client certificate and private key (PEM).
#[derive(Clone)]
pub struct DeviceIdentity {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for DeviceIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceIdentity").finish_non_exhaustive()
    }
}

impl DeviceIdentity {
    /// Validity of the certificate as (not_before, not_after) Unix seconds.
    pub fn validity(&self) -> Option<(i64, i64)> {
        use rustls_pki_types::pem::PemObject;
        let der =
            rustls_pki_types::CertificateDer::from_pem_slice(self.cert_pem.as_bytes()).ok()?;
        let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
        Some((
            cert.validity().not_before.timestamp(),
            cert.validity().not_after.timestamp(),
        ))
    }

    /// Renew once two thirds of the lifetime have passed.
    pub fn renewal_due(&self, now: i64) -> bool {
        now >= self.renewal_at()
    }

    /// When two thirds of the lifetime have passed (Unix seconds); 0 (now)
    /// when the certificate cannot be read. The run loop computes it once per
    /// certificate rather than parsing the certificate every cycle.
    pub fn renewal_at(&self) -> i64 {
        self.validity().map_or(0, |(not_before, not_after)| {
            not_before + (not_after - not_before) * 2 / 3
        })
    }
}

/// Everything `run` needs, loaded from the state directory.
#[derive(Debug, Clone)]
pub struct EnrolledState {
    pub enrollment: Enrollment,
    pub identity: DeviceIdentity,
    pub ca_pem: String,
}

#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn enrollment_path(&self) -> PathBuf {
        self.root.join("enrollment.toml")
    }
    fn identity_path(&self) -> PathBuf {
        self.root.join("device.pem")
    }
    fn ca_path(&self) -> PathBuf {
        self.root.join("ca.pem")
    }
    fn seq_path(&self) -> PathBuf {
        self.root.join("seq")
    }
    fn policy_path(&self) -> PathBuf {
        self.root.join("policy.pb")
    }
    pub fn spool_dir(&self) -> PathBuf {
        self.root.join("spool")
    }
    pub fn backups_state_path(&self) -> PathBuf {
        self.root.join("backups.json")
    }

    /// Creates the directory, readable by its owner only (an ACL on Windows).
    pub fn create(&self) -> Result<(), StateError> {
        let write_error = |source| StateError::Write {
            path: self.root.clone(),
            source,
        };
        std::fs::create_dir_all(&self.root).map_err(write_error)?;
        crate::owner_only::restrict(&self.root).map_err(write_error)
    }

    pub fn save_enrollment(
        &self,
        enrollment: &Enrollment,
        identity: &DeviceIdentity,
        ca_pem: &str,
        policy: &pb::Policy,
    ) -> Result<(), StateError> {
        self.create()?;
        self.save_identity(identity, ca_pem)?;
        self.save_policy(policy)?;
        let text = toml::to_string(enrollment).map_err(|err| StateError::Damaged {
            path: self.enrollment_path(),
            message: err.to_string(),
        })?;
        // Written last: its presence means enrollment completed.
        write_atomically(&self.enrollment_path(), text.as_bytes())
    }

    pub fn save_identity(&self, identity: &DeviceIdentity, ca_pem: &str) -> Result<(), StateError> {
        write_atomically(&self.ca_path(), ca_pem.as_bytes())?;
        let combined = format!("{}\n{}", identity.cert_pem.trim_end(), identity.key_pem);
        write_atomically(&self.identity_path(), combined.as_bytes())
    }

    pub fn load(&self) -> Result<EnrolledState, StateError> {
        let enrollment_path = self.enrollment_path();
        if !enrollment_path.exists() {
            return Err(StateError::NotEnrolled {
                path: enrollment_path,
            });
        }
        let enrollment: Enrollment =
            toml::from_str(&read(&enrollment_path)?).map_err(|err| StateError::Damaged {
                path: enrollment_path.clone(),
                message: err.to_string(),
            })?;
        let identity_path = self.identity_path();
        let combined = read(&identity_path)?;
        let identity = split_identity(&combined).ok_or_else(|| StateError::Damaged {
            path: identity_path,
            message: "expected a certificate followed by a private key".into(),
        })?;
        Ok(EnrolledState {
            enrollment,
            identity,
            ca_pem: read(&self.ca_path())?,
        })
    }

    pub fn save_policy(&self, policy: &pb::Policy) -> Result<(), StateError> {
        write_atomically(&self.policy_path(), &policy.encode_to_vec())
    }

    /// The last policy received; a damaged or missing file gives the defaults.
    pub fn load_policy(&self) -> pb::Policy {
        std::fs::read(self.policy_path())
            .ok()
            .and_then(|bytes| pb::Policy::decode(bytes.as_slice()).ok())
            .unwrap_or_else(default_policy)
    }

    /// Hands out report sequence numbers, starting above `floor` and above
    /// every number reserved before (see [`Sequence`]).
    pub fn sequence(&self, floor: u64) -> Result<Sequence, StateError> {
        let path = self.seq_path();
        let reserved = match std::fs::read_to_string(&path) {
            Ok(text) => text.trim().parse::<u64>().unwrap_or(0),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => 0,
            Err(source) => return Err(StateError::Read { path, source }),
        };
        let last = reserved.max(floor);
        Ok(Sequence {
            path,
            last,
            reserved: last,
        })
    }
}

/// How many sequence numbers one write of the `seq` file reserves.
pub const SEQ_BLOCK: u64 = 1024;

/// Report sequence numbers, persisted a block at a time.
///
/// The file holds the highest number reserved, written (and synced) before
/// any number of the block is used, so after a crash numbering resumes above
/// everything that may have been sent; the unused rest of the block is
/// skipped, which the collector accepts (it only needs numbers to grow).
/// One write per [`SEQ_BLOCK`] reports instead of one per report.
#[derive(Debug)]
pub struct Sequence {
    path: PathBuf,
    last: u64,
    reserved: u64,
}

impl Sequence {
    /// The next number, above `floor` too. When a new block cannot be saved the
    /// number is still handed out (reports go on) and the error says why.
    pub fn next(&mut self, floor: u64) -> (u64, Option<StateError>) {
        let next = self.last.max(floor) + 1;
        self.last = next;
        if next <= self.reserved {
            return (next, None);
        }
        let reserved = next + SEQ_BLOCK - 1;
        match write_atomically(&self.path, reserved.to_string().as_bytes()) {
            Ok(()) => {
                self.reserved = reserved;
                (next, None)
            }
            Err(err) => (next, Some(err)),
        }
    }
}

/// Policy used until the collector sends one.
pub fn default_policy() -> pb::Policy {
    pb::Policy {
        version: String::new(),
        report_interval_secs: 300,
        disabled_checks: Vec::new(),
    }
}

fn split_identity(combined: &str) -> Option<DeviceIdentity> {
    let key_start = combined
        .find("-----BEGIN PRIVATE KEY-----")
        .or_else(|| combined.find("-----BEGIN EC PRIVATE KEY-----"))?;
    let (cert, key) = combined.split_at(key_start);
    cert.contains("-----BEGIN CERTIFICATE-----")
        .then(|| DeviceIdentity {
            cert_pem: cert.trim_end().to_owned() + "\n",
            key_pem: key.to_owned(),
        })
}

fn read(path: &Path) -> Result<String, StateError> {
    std::fs::read_to_string(path).map_err(|source| StateError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes via a temporary file and rename, owner-only, so readers see old or new, never half.
pub fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), StateError> {
    let write_error = |source| StateError::Write {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(write_error)?;
    file.write_all(contents).map_err(write_error)?;
    file.sync_all().map_err(write_error)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(write_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> DeviceIdentity {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["d".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        DeviceIdentity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    #[test]
    fn enrollment_round_trips_and_key_is_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().join("agent"));
        let enrollment = Enrollment {
            collector_url: "https://127.0.0.1:7443".into(),
            server_name: "127.0.0.1".into(),
            device_id: "abc".into(),
            group: "laptops".into(),
        };
        let id = identity();
        state
            .save_enrollment(&enrollment, &id, "CA", &default_policy())
            .unwrap();
        let loaded = state.load().unwrap();
        assert_eq!(loaded.enrollment, enrollment);
        assert_eq!(loaded.identity.key_pem, id.key_pem);
        assert_eq!(loaded.ca_pem, "CA");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("agent/device.pem"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "key file readable by others: {mode:o}");
        }
    }

    #[test]
    fn unenrolled_state_says_how_to_enroll() {
        let dir = tempfile::tempdir().unwrap();
        let err = StateDir::new(dir.path()).load().unwrap_err();
        assert!(err.to_string().contains("forewarn-agent enroll"));
    }

    #[test]
    fn seq_increases_across_restarts_and_respects_floor() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let mut seq = state.sequence(0).unwrap();
        assert_eq!(seq.next(0).0, 1);
        assert_eq!(seq.next(0).0, 2);
        assert_eq!(seq.next(10).0, 11);
        // A restart (or crash) never reuses a number handed out before it.
        let mut after_restart = StateDir::new(dir.path()).sequence(0).unwrap();
        assert!(after_restart.next(0).0 > 11);
    }

    #[test]
    fn seq_file_is_written_once_per_block() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let mut seq = state.sequence(0).unwrap();
        let path = dir.path().join("seq");
        seq.next(0);
        let first_block = std::fs::read_to_string(&path).unwrap();
        assert_eq!(first_block, SEQ_BLOCK.to_string());
        std::fs::remove_file(&path).unwrap();
        for _ in 1..SEQ_BLOCK {
            seq.next(0);
        }
        assert!(!path.exists(), "rewritten inside a reserved block");
        let (next, err) = seq.next(0);
        assert_eq!(next, SEQ_BLOCK + 1);
        assert!(err.is_none());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            (2 * SEQ_BLOCK).to_string()
        );
    }

    #[test]
    fn seq_goes_on_in_memory_when_the_block_cannot_be_saved() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().join("gone"));
        let mut seq = StateDir::new(dir.path()).sequence(5).unwrap();
        seq.path = state.seq_path();
        let (next, err) = seq.next(0);
        assert_eq!(next, 6);
        assert!(err.unwrap().to_string().contains("gone"));
        assert_eq!(seq.next(0).0, 7);
    }

    #[test]
    fn fresh_certificate_is_not_due_for_renewal() {
        let id = identity();
        let (not_before, not_after) = id.validity().unwrap();
        assert!(!id.renewal_due(not_before + 1));
        assert!(id.renewal_due(not_after - (not_after - not_before) / 4));
    }
}
