use std::io::Write;
use std::sync::Mutex;

use prost::Message;

use super::test_repos::{
    BorgRepo, PASSWORD, ResticRepo, TestRepo, canary_sha256, collect_one, job,
};
use super::*;

#[derive(Clone, Default)]
struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A stand-in tool that prints every password it was given to stderr and fails.
fn leaky_tool(dir: &Path) -> String {
    let script = dir.join("leaky-tool");
    std::fs::write(
        &script,
        "#!/bin/sh\necho \"Fatal: got $RESTIC_PASSWORD $BORG_PASSPHRASE $(cat \"$RESTIC_PASSWORD_FILE\" 2>/dev/null)\" >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    script.display().to_string()
}

fn verification(canary: &str) -> String {
    format!(
        "[checks.backups.jobs.restore_verification]\ncanary_path = {canary:?}\nexpected_sha256 = {:?}\n",
        canary_sha256()
    )
}

fn locked_borg(borg: &BorgRepo) -> std::process::Child {
    let holder = borg
        .borg()
        // Killed after the probe: a short sleep can end before a loaded machine gets to it.
        .args(["with-lock", "::", "sleep", "60"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !borg.0.repo.join("lock.exclusive").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    holder
}

#[tokio::test]
async fn password_is_in_no_report_log_line_or_error() {
    let log = CapturedLog::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer({
            let log = log.clone();
            move || log.clone()
        })
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let mut statuses = Vec::new();

    // restic: success with verification, password command, leaky tool, stale lock, missing, corrupted.
    let restic = ResticRepo::new();
    restic.backup(&[]);
    statuses.push(collect_one(restic.job(&verification(&restic.0.canary_path()))).await);
    let mut by_command = restic.job("");
    by_command.password_file = None;
    by_command.password_command = Some(Secret::new(format!(
        "cat {}",
        restic.0.password_file.display()
    )));
    statuses.push(collect_one(by_command).await);
    let leaky = leaky_tool(restic.0.dir.path());
    statuses.push(collect_one(restic.job(&format!("program = {leaky:?}"))).await);
    restic.leave_stale_lock();
    statuses.push(collect_one(restic.job("")).await);
    let corrupted = ResticRepo::new();
    corrupted.backup(&[]);
    corrupted.0.corrupt("data");
    statuses.push(collect_one(corrupted.job(&verification(&corrupted.0.canary_path()))).await);
    std::fs::remove_dir_all(&corrupted.0.repo).unwrap();
    statuses.push(collect_one(corrupted.job("")).await);

    // Wrong password: a repository made with another one, given the known password.
    let foreign = ResticRepo(TestRepo::new());
    std::fs::write(&foreign.0.password_file, "another password\n").unwrap();
    assert!(
        foreign
            .restic()
            .args(["init", "--quiet"])
            .status()
            .unwrap()
            .success()
    );
    std::fs::write(&foreign.0.password_file, format!("{PASSWORD}\n")).unwrap();
    let wrong = collect_one(foreign.job("")).await;
    assert!(
        wrong.probe_error.starts_with("authentication failed"),
        "{wrong:?}"
    );
    statuses.push(wrong);

    // borg: success with verification, leaky tool, locked, corrupted, missing.
    let borg = BorgRepo::new();
    borg.create("first", &[]);
    statuses.push(collect_one(borg.job(&verification(&borg.0.canary_path()))).await);
    let leaky = leaky_tool(borg.0.dir.path());
    statuses.push(collect_one(borg.job(&format!("program = {leaky:?}"))).await);
    let mut holder = locked_borg(&borg);
    statuses.push(collect_one(borg.job("")).await);
    holder.kill().unwrap();
    holder.wait().unwrap();
    let corrupted = BorgRepo::new();
    corrupted.create("first", &[]);
    corrupted.0.corrupt("data");
    statuses.push(collect_one(corrupted.job(&verification(&corrupted.0.canary_path()))).await);
    std::fs::remove_dir_all(&corrupted.0.repo).unwrap();
    statuses.push(collect_one(corrupted.job("")).await);

    let errors: Vec<&str> = statuses
        .iter()
        .flat_map(|s| {
            [
                s.probe_error.as_str(),
                s.restore_verification_error.as_str(),
            ]
        })
        .filter(|e| !e.is_empty())
        .collect();
    // The cases really took the error paths the search below must cover.
    assert!(
        errors
            .iter()
            .filter(|e| e.starts_with("repository is locked"))
            .count()
            >= 2,
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .filter(|e| e.starts_with("repository not found"))
            .count()
            >= 2,
        "{errors:?}"
    );
    assert!(
        errors.iter().filter(|e| e.contains("[redacted]")).count() >= 2,
        "leaky tool output not scrubbed: {errors:?}"
    );
    assert!(
        errors.iter().filter(|e| e.starts_with("job ")).count() >= 2,
        "{errors:?}"
    );
    for error in &errors {
        assert!(!error.contains(PASSWORD), "password in an error: {error}");
    }
    let report = pb::StatusReport {
        backups: Some(pb::BackupCheck { jobs: statuses }),
        ..Default::default()
    };
    let bytes = report.encode_to_vec();
    assert!(
        !bytes
            .windows(PASSWORD.len())
            .any(|w| w == PASSWORD.as_bytes()),
        "password in the encoded report"
    );
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains(PASSWORD), "password in the report as JSON");
    let log_text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert!(
        log_text.contains("cannot read backup job state"),
        "no log captured: {log_text}"
    );
    assert!(!log_text.contains(PASSWORD), "password in a log line");
}

/// A restic that takes `seconds` longer to restore, so a test can see
/// whether anything waits for the restore.
fn slow_restoring_restic(dir: &Path, seconds: u64) -> String {
    let script = dir.join("slow-restic");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nif [ \"$1\" = restore ]; then sleep {seconds}; fi\nexec restic \"$@\"\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    script.display().to_string()
}

fn captured_logs() -> (CapturedLog, tracing::subscriber::DefaultGuard) {
    let log = CapturedLog::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_writer({
            let log = log.clone();
            move || log.clone()
        })
        .finish();
    (log, tracing::subscriber::set_default(subscriber))
}

#[tokio::test]
async fn restore_verification_never_holds_a_report_back_and_survives_a_restart() {
    let repo = ResticRepo::new();
    repo.backup(&[]);
    // Longer than the snapshot probe takes even on a loaded machine.
    let restore_delay = Duration::from_secs(15);
    let program = slow_restoring_restic(repo.0.dir.path(), restore_delay.as_secs());
    let config = BackupsConfig {
        jobs: vec![repo.job(&format!(
            "program = {program:?}\n{}",
            verification(&repo.0.canary_path())
        ))],
    };
    let state_path = repo.0.dir.path().join("backups.json");
    let trigger = ReportTrigger::default();
    let mut check = BackupCheck::with_runner(&config, Arc::new(SystemCommandRunner))
        .with_state_file(state_path.clone());
    check.verify_wait = Duration::ZERO;
    check.trigger = trigger.clone();

    let started = Instant::now();
    let first = check.collect().await.jobs.remove(0);
    assert!(
        started.elapsed() < restore_delay,
        "the report waited {:?} for the restore",
        started.elapsed()
    );
    assert!(first.last_success_unix_secs.is_some(), "{first:?}");
    assert_eq!(first.restore_verified_unix_secs, None);
    assert_eq!(first.restore_verification_error, "");

    // The finished verification asks for a report, which carries its result.
    tokio::time::timeout(Duration::from_secs(120), trigger.fired())
        .await
        .expect("a finished verification fires the report trigger");
    let second = check.collect().await.jobs.remove(0);
    assert_eq!(second.restore_verification_error, "");
    let verified = second.restore_verified_unix_secs.expect("verified");
    drop(check);

    // A restarted agent reports the verification without running it again.
    let mut restarted = BackupCheck::with_runner(&config, Arc::new(SystemCommandRunner))
        .with_state_file(state_path);
    let after_restart = restarted.collect().await.jobs.remove(0);
    assert_eq!(after_restart.restore_verified_unix_secs, Some(verified));
    assert!(
        restarted.verifying.is_none(),
        "verification ran again after a restart"
    );
}

#[tokio::test]
async fn last_success_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let touched = dir.path().join("nightly.done");
    std::fs::write(&touched, "").unwrap();
    let config = BackupsConfig {
        jobs: vec![job(&format!(
            "name = \"nightly\"\nkind = \"touch-file\"\npath = {:?}\n",
            touched.display().to_string()
        ))],
    };
    let state_path = dir.path().join("backups.json");
    let mut check = BackupCheck::with_runner(&config, Arc::new(SystemCommandRunner))
        .with_state_file(state_path.clone());
    let before = check.collect().await.jobs.remove(0);
    let success = before
        .last_success_unix_secs
        .expect("touch file is a success");
    drop(check);

    // The script's file is gone; only the saved state still knows the success.
    std::fs::remove_file(&touched).unwrap();
    let mut restarted = BackupCheck::with_runner(&config, Arc::new(SystemCommandRunner))
        .with_state_file(state_path.clone());
    let after = restarted.collect().await.jobs.remove(0);
    assert_eq!(after.result, pb::BackupResult::Unknown as i32);
    assert_eq!(after.last_success_unix_secs, Some(success));

    // A job renamed to another kind does not inherit it.
    let other_kind = BackupsConfig {
        jobs: vec![job(&format!(
            "name = \"nightly\"\nkind = \"status-file\"\npath = {:?}\n",
            touched.display().to_string()
        ))],
    };
    let mut renamed = BackupCheck::with_runner(&other_kind, Arc::new(SystemCommandRunner))
        .with_state_file(state_path);
    assert_eq!(renamed.collect().await.jobs[0].last_success_unix_secs, None);
}

#[tokio::test]
async fn future_success_is_sent_but_never_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let touched = dir.path().join("nightly.done");
    let file = std::fs::File::create(&touched).unwrap();
    let tomorrow = std::time::SystemTime::now() + Duration::from_secs(86_400);
    file.set_modified(tomorrow).unwrap();
    let config = BackupsConfig {
        jobs: vec![job(&format!(
            "name = \"nightly\"\nkind = \"touch-file\"\npath = {:?}\n",
            touched.display().to_string()
        ))],
    };
    let state_path = dir.path().join("backups.json");
    // A file written by the agent before this fix still holds the future time.
    std::fs::write(&state_path, format!("{{\"jobs\":{{\"nightly\":{{\"kind\":\"touch-file\",\"last_success_unix_secs\":{}}}}}}}", now_unix() + 86_400)).unwrap();
    let mut check = BackupCheck::with_runner(&config, Arc::new(SystemCommandRunner))
        .with_state_file(state_path.clone());
    let sent = check.collect().await.jobs.remove(0).last_success_unix_secs;
    assert!(sent.is_some_and(|t| t > now_unix() + 3_600), "{sent:?}");
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
    assert_eq!(
        saved["jobs"]["nightly"]["last_success_unix_secs"],
        serde_json::Value::Null
    );
    // Once the file is right, its time is sent and remembered.
    file.set_modified(std::time::SystemTime::now()).unwrap();
    drop(check);
    let mut fixed = BackupCheck::with_runner(&config, Arc::new(SystemCommandRunner))
        .with_state_file(state_path.clone());
    let sent = fixed.collect().await.jobs.remove(0).last_success_unix_secs;
    assert!(sent.is_some_and(|t| t <= now_unix()), "{sent:?}");
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
    assert_eq!(
        saved["jobs"]["nightly"]["last_success_unix_secs"],
        serde_json::json!(sent)
    );
}

#[tokio::test]
async fn damaged_state_file_is_ignored_with_a_warning() {
    let (log, _guard) = captured_logs();
    let dir = tempfile::tempdir().unwrap();
    let state_path = dir.path().join("backups.json");
    std::fs::write(&state_path, "{\"jobs\": {\"nightly\": {\"kind\"").unwrap();
    let touched = dir.path().join("nightly.done");
    std::fs::write(&touched, "").unwrap();
    let config = BackupsConfig {
        jobs: vec![job(&format!(
            "name = \"nightly\"\nkind = \"touch-file\"\npath = {:?}\n",
            touched.display().to_string()
        ))],
    };
    let mut check = BackupCheck::with_runner(&config, Arc::new(SystemCommandRunner))
        .with_state_file(state_path.clone());
    let status = check.collect().await.jobs.remove(0);
    assert_eq!(status.result, pb::BackupResult::Success as i32);
    let log_text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert!(
        log_text.contains("saved backup state is damaged; ignoring it"),
        "{log_text}"
    );
    // The next save replaces the damaged file with a good one.
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
    assert_eq!(
        saved["jobs"]["nightly"]["last_success_unix_secs"],
        serde_json::json!(status.last_success_unix_secs)
    );
}

#[tokio::test]
async fn kinds_of_other_oses_say_which_os_they_need() {
    let config = BackupsConfig {
        jobs: vec![
            job("name = \"tm\"\nkind = \"time-machine\"\n"),
            job("name = \"wsb\"\nkind = \"windows-server-backup\"\n"),
        ],
    };
    let statuses = BackupCheck::with_runner(&config, Arc::new(SystemCommandRunner))
        .collect()
        .await
        .jobs;
    assert_eq!(
        statuses[0].probe_error,
        "not supported on this OS: \"time-machine\" jobs need macOS"
    );
    assert_eq!(
        statuses[1].probe_error,
        "not supported on this OS: \"windows-server-backup\" jobs need Windows Server"
    );
    assert_eq!(statuses[1].kind, "windows-server-backup");
}
