use super::*;
use crate::command::scripted::ScriptedCommandRunner;

#[test]
fn auto_uses_the_os_updater_on_windows_and_macos_even_beside_a_linux_root() {
    // What Wine's Z: drive shows a Windows program: Linux's dpkg status under "/".
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("var/lib/dpkg")).unwrap();
    std::fs::write(root.path().join("var/lib/dpkg/status"), "").unwrap();
    assert_eq!(auto_choice("windows", root.path()), AutoChoice::OsDefault);
    assert_eq!(
        auto_choice("macos", root.path()),
        AutoChoice::SoftwareUpdate
    );
    assert_eq!(auto_choice("linux", root.path()), AutoChoice::Apt);
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(auto_choice("linux", empty.path()), AutoChoice::OsDefault);
}

const NOW: i64 = 1_800_000_000;

fn pending(name: &str) -> pb::PendingUpdate {
    pb::PendingUpdate {
        name: name.into(),
        candidate_version: "2".into(),
        ..Default::default()
    }
}

fn scan(pending: Vec<pb::PendingUpdate>) -> Scan {
    Scan {
        pending,
        ..Scan::default()
    }
}

fn refreshed(ago_secs: i64) -> HostSignals {
    HostSignals {
        last_refresh: Some(NOW - ago_secs),
        ..Default::default()
    }
}

#[test]
fn fresh_scan_is_ok_with_its_pending_list() {
    let status = assess(
        "apt",
        Ok(scan(vec![pending("a")])),
        refreshed(3600),
        NOW,
        7 * 86_400,
    );
    assert_eq!(status.scan_state, pb::ScanState::Ok as i32);
    assert_eq!(status.pending.len(), 1);
    assert_eq!(status.last_successful_scan_unix_secs, Some(NOW - 3600));
}

#[test]
fn lists_refreshed_30_days_ago_are_stale() {
    let status = assess(
        "apt",
        Ok(scan(vec![pending("a")])),
        refreshed(30 * 86_400),
        NOW,
        7 * 86_400,
    );
    assert_eq!(status.scan_state, pb::ScanState::Stale as i32);
    assert_eq!(
        status.scan_error,
        "package lists last refreshed 30 days ago (limit 7 days)"
    );
    assert_eq!(
        status.pending.len(),
        1,
        "stale data is still shown, marked stale"
    );
}

#[test]
fn failed_scan_is_an_error_and_never_zero_pending_ok() {
    let status = assess(
        "apt",
        Err(CheckError::Failed("apt-get exited with 100".into())),
        refreshed(60),
        NOW,
        7 * 86_400,
    );
    assert_eq!(status.scan_state, pb::ScanState::Error as i32);
    assert!(status.scan_error.contains("exited with 100"));
    assert!(status.pending.is_empty());
}

#[test]
fn never_refreshed_lists_are_never_not_up_to_date() {
    let status = assess(
        "apt",
        Ok(Scan::default()),
        HostSignals::default(),
        NOW,
        7 * 86_400,
    );
    assert_eq!(status.scan_state, pb::ScanState::Never as i32);
    assert!(!status.scan_error.is_empty());
}

#[test]
fn times_the_probe_reports_count_when_the_host_has_none() {
    // Windows Update: the search itself says when it last succeeded.
    let found = Scan {
        pending: vec![pending("2025-06 Cumulative Update (KB5060842)")],
        last_refresh: Some(NOW - 3600),
        last_install: Some(NOW - 86_400),
        ..Scan::default()
    };
    let status = assess(
        wua::MANAGER_NAME,
        Ok(found),
        HostSignals::default(),
        NOW,
        7 * 86_400,
    );
    assert_eq!(status.scan_state, pb::ScanState::Ok as i32);
    assert_eq!(status.last_successful_scan_unix_secs, Some(NOW - 3600));
    assert_eq!(status.last_successful_install_unix_secs, Some(NOW - 86_400));
    let never_searched = assess(
        wua::MANAGER_NAME,
        Ok(Scan::default()),
        HostSignals::default(),
        NOW,
        7 * 86_400,
    );
    assert_eq!(never_searched.scan_state, pb::ScanState::Never as i32);
    assert!(
        never_searched
            .scan_error
            .starts_with("Windows Update has never searched"),
        "{}",
        never_searched.scan_error
    );
    let stale = assess(
        wua::MANAGER_NAME,
        Ok(Scan {
            last_refresh: Some(NOW - 30 * 86_400),
            ..Scan::default()
        }),
        HostSignals::default(),
        NOW,
        7 * 86_400,
    );
    assert_eq!(stale.scan_state, pb::ScanState::Stale as i32);
    assert_eq!(
        stale.scan_error,
        "Windows Update last searched successfully 30 days ago (limit 7 days)"
    );
}

#[test]
fn reboot_reasons_set_reboot_required() {
    let mut signals = refreshed(60);
    signals
        .reboot_reasons
        .push(parse::reboot_required_reason("/run/reboot-required", None));
    let status = assess("apt", Ok(Scan::default()), signals, NOW, 7 * 86_400);
    assert!(status.reboot_required);
    assert_eq!(status.reboot_reasons.len(), 1);
}

#[test]
fn bad_settings_are_all_reported_with_their_keys() {
    let config = PatchConfig {
        scan_interval_secs: 1,
        stale_after_secs: 5,
        package_manager: "pacman".into(),
        ..PatchConfig::default()
    };
    let problems = config.problems("checks.patches");
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems.iter().all(|p| p.starts_with("checks.patches.")));
    assert!(problems[2].contains("pacman"));
}

fn apt_check(runner: Arc<ScriptedCommandRunner>, root: &Path) -> PatchCheck {
    let config = PatchConfig {
        package_manager: "apt".into(),
        root_dir: root.to_path_buf(),
        ..PatchConfig::default()
    };
    PatchCheck::with_runner(config, runner)
}

#[tokio::test]
async fn probe_runs_once_per_interval_and_again_after_a_database_change() {
    let root = tempfile::tempdir().unwrap();
    let runner = Arc::new(ScriptedCommandRunner::default());
    runner.answer(
        &apt::simulation_command_line(),
        0,
        "Inst foo [1] (2 Debian:12/stable [amd64])\n",
        "",
    );
    let mut check = apt_check(Arc::clone(&runner), root.path());
    let first = check.collect().await.unwrap().unwrap();
    let second = check.collect().await.unwrap().unwrap();
    assert_eq!(
        runner.calls.lock().unwrap().len(),
        1,
        "cached between cycles"
    );
    // No lists in the test root: the scan ran but apt was never updated.
    assert_eq!(first.scan_state, pb::ScanState::Never as i32);
    assert_eq!(first, second);
    check.changed.store(true, Ordering::SeqCst);
    check.collect().await.unwrap();
    assert_eq!(
        runner.calls.lock().unwrap().len(),
        2,
        "rescanned after a change"
    );
}

#[tokio::test]
async fn missing_apt_get_is_a_scan_error() {
    let root = tempfile::tempdir().unwrap();
    let runner = Arc::new(ScriptedCommandRunner::default());
    runner.missing(&apt::simulation_command_line());
    let status = apt_check(runner, root.path())
        .collect()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.scan_state, pb::ScanState::Error as i32);
    assert!(
        status.scan_error.contains("apt-get"),
        "{}",
        status.scan_error
    );
}

#[tokio::test]
async fn apt_failure_reports_apts_own_error_line() {
    let root = tempfile::tempdir().unwrap();
    let runner = Arc::new(ScriptedCommandRunner::default());
    runner.answer(
        &apt::simulation_command_line(),
        100,
        "Reading package lists...\n",
        "E: Could not open file /var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4 - open (2: No such file or directory)\nE: The package lists or status file could not be parsed or opened.\n",
    );
    let status = apt_check(runner, root.path())
        .collect()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.scan_state, pb::ScanState::Error as i32);
    assert!(
        status.scan_error.contains("could not be parsed or opened"),
        "{}",
        status.scan_error
    );
}
