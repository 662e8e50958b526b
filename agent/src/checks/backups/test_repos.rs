//! Real restic and borg repositories in temporary directories, for the tests
//! of this check. Setup runs the tools directly; the code under test runs them
//! through the command runner.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tempfile::TempDir;

use super::config::BackupJobConfig;
use crate::config::AgentConfig;

/// The repository password of every test repository; the secrets test looks for it.
pub const PASSWORD: &str = "forewarn-known-pw-Zq81x";
/// Content of the canary file backed up in every repository: 64 KiB that do
/// not compress, so the canary is the bulk of the largest pack or segment.
pub fn canary() -> Vec<u8> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    (0..64 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

pub fn canary_sha256() -> String {
    hex::encode(Sha256::digest(canary()))
}

fn run(command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|err| panic!("{command:?}: {err}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A job parsed from TOML the way the agent reads it.
pub fn job(toml: &str) -> BackupJobConfig {
    let config = AgentConfig::from_toml(
        &format!("[[checks.backups.jobs]]\n{toml}"),
        Path::new("test.toml"),
    )
    .unwrap_or_else(|err| panic!("{err}"));
    config.checks.backups.jobs[0].clone()
}

/// A directory with data to back up, a password file and a repository.
#[derive(Debug)]
pub struct TestRepo {
    pub dir: TempDir,
    pub repo: PathBuf,
    pub data: PathBuf,
    pub password_file: PathBuf,
}

impl TestRepo {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("canary.txt"), canary()).unwrap();
        std::fs::write(data.join("report.txt"), "quarterly numbers\n".repeat(1000)).unwrap();
        let password_file = dir.path().join("password");
        std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
        let repo = dir.path().join("repo");
        Self {
            dir,
            repo,
            data,
            password_file,
        }
    }

    pub fn canary_path(&self) -> String {
        self.data.join("canary.txt").display().to_string()
    }

    /// Overwrites the middle of the largest file under the repository's
    /// `data_dir`: the pack or segment that holds the canary.
    pub fn corrupt(&self, data_dir: &str) {
        let mut stack = vec![self.repo.join(data_dir)];
        let mut largest: Option<(u64, PathBuf)> = None;
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let len = std::fs::metadata(&path).unwrap().len();
                    if largest.as_ref().is_none_or(|(best, _)| len > *best) {
                        largest = Some((len, path));
                    }
                }
            }
        }
        let (_, path) = largest.unwrap_or_else(|| panic!("nothing to corrupt under {data_dir}"));
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        for byte in &mut bytes[middle - 16..middle + 16] {
            *byte ^= 0x5a;
        }
        let mut permissions = std::fs::metadata(&path).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        permissions.set_readonly(false);
        std::fs::set_permissions(&path, permissions).unwrap();
        std::fs::write(&path, bytes).unwrap();
    }
}

/// A restic repository.
#[derive(Debug)]
pub struct ResticRepo(pub TestRepo);

impl ResticRepo {
    pub fn new() -> Self {
        let repo = Self(TestRepo::new());
        run(repo.restic().args(["init", "--quiet"]));
        repo
    }

    pub fn restic(&self) -> Command {
        let mut command = Command::new("restic");
        command
            .env("RESTIC_REPOSITORY", &self.0.repo)
            .env("RESTIC_PASSWORD_FILE", &self.0.password_file)
            .env("RESTIC_CACHE_DIR", self.0.dir.path().join("cache"));
        command
    }

    pub fn backup(&self, extra: &[&str]) {
        run(self
            .restic()
            .args(["backup", "--quiet"])
            .args(extra)
            .arg(&self.0.data));
    }

    /// A job reading this repository with `extra` TOML lines.
    pub fn job(&self, extra: &str) -> BackupJobConfig {
        job(&format!(
            "name = \"restic-job\"\nkind = \"restic\"\nrepository = {:?}\npassword_file = {:?}\n{extra}",
            self.0.repo.display().to_string(),
            self.0.password_file.display().to_string()
        ))
    }

    /// Leaves an exclusive lock of a killed `restic check` behind.
    pub fn leave_stale_lock(&self) {
        let locks = self.0.repo.join("locks");
        for _ in 0..20 {
            let mut child = self
                .restic()
                .args(["check", "--read-data"])
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut caught = false;
            while Instant::now() < deadline {
                let has_lock = std::fs::read_dir(&locks).is_ok_and(|entries| {
                    entries
                        .flatten()
                        .any(|e| !e.file_name().to_string_lossy().contains("-tmp-"))
                });
                if has_lock {
                    child.kill().unwrap();
                    caught = true;
                    break;
                }
                if child.try_wait().unwrap().is_some() {
                    break;
                }
            }
            child.wait().unwrap();
            let still_locked = std::fs::read_dir(&locks).is_ok_and(|entries| {
                entries
                    .flatten()
                    .any(|e| !e.file_name().to_string_lossy().contains("-tmp-"))
            });
            if caught && still_locked {
                return;
            }
        }
        panic!("could not leave a stale lock in {}", locks.display());
    }
}

/// A borg repository (repokey encryption).
#[derive(Debug)]
pub struct BorgRepo(pub TestRepo);

impl BorgRepo {
    pub fn new() -> Self {
        let repo = Self(TestRepo::new());
        run(repo
            .borg()
            .args(["init", "--encryption", "repokey"])
            .arg(&repo.0.repo));
        repo
    }

    pub fn borg(&self) -> Command {
        let mut command = Command::new("borg");
        command
            .env("BORG_PASSPHRASE", PASSWORD)
            .env("BORG_REPO", &self.0.repo)
            .env("TZ", "UTC");
        command
    }

    pub fn create(&self, archive: &str, extra: &[&str]) {
        run(self
            .borg()
            .arg("create")
            .args(extra)
            .arg(format!("::{archive}"))
            .arg(&self.0.data));
    }

    /// A job reading this repository with `extra` TOML lines.
    pub fn job(&self, extra: &str) -> BackupJobConfig {
        job(&format!(
            "name = \"borg-job\"\nkind = \"borg\"\nrepository = {:?}\npassword_file = {:?}\n{extra}",
            self.0.repo.display().to_string(),
            self.0.password_file.display().to_string()
        ))
    }
}

/// The status one collection reports for `job`, with real programs.
pub async fn collect_one(job: BackupJobConfig) -> forewarn_proto::pb::BackupJobStatus {
    let config = super::BackupsConfig { jobs: vec![job] };
    let mut check = super::BackupCheck::with_runner(
        &config,
        std::sync::Arc::new(crate::command::SystemCommandRunner),
    );
    check.collect().await.jobs.remove(0)
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
