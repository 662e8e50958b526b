use super::*;

fn fixture(path: &str) -> String {
    crate::fixtures::captured_output(&format!("patches/{path}"))
}

/// Reads Ansible `win_updates` JSON (its `filtered_updates` map, which
/// the module fills from `IUpdate` objects) into update records.
fn ansible_updates(json: &str) -> Vec<UpdateRecord> {
    let value: serde_json::Value = serde_json::from_str(json).unwrap();
    let strings = |update: &serde_json::Value, key: &str| -> Vec<String> {
        update[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    value["filtered_updates"]
        .as_object()
        .unwrap()
        .values()
        .map(|update| UpdateRecord {
            title: update["title"].as_str().unwrap().to_owned(),
            kb_article_ids: strings(update, "kb"),
            categories: strings(update, "categories")
                .into_iter()
                .map(|name| Category {
                    id: String::new(),
                    name,
                })
                .collect(),
            msrc_severity: String::new(),
        })
        .collect()
}

/// Reads PowerShell `Format-List` output of `IUpdate` objects
/// (`Name : value` lines; COM collections print as `System.__ComObject`).
fn format_list_updates(text: &str) -> Vec<UpdateRecord> {
    let mut updates = Vec::new();
    let mut current: Option<UpdateRecord> = None;
    for line in text.lines() {
        let Some((key, value)) = line
            .split_once(" : ")
            .or_else(|| line.trim_end().strip_suffix(" :").map(|key| (key, "")))
        else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        match key {
            "Title" => {
                updates.extend(current.take());
                current = Some(UpdateRecord {
                    title: value.to_owned(),
                    ..Default::default()
                });
            }
            "MsrcSeverity" => {
                if let Some(update) = &mut current {
                    value.clone_into(&mut update.msrc_severity);
                }
            }
            _ => {}
        }
    }
    updates.extend(current);
    updates
}

/// Reads PSWindowsUpdate `Get-WUHistory` table output (local time taken
/// as UTC here; the COM layer gets UTC from WUA directly).
fn wu_history(text: &str) -> Vec<HistoryRecord> {
    let format = time::macros::format_description!("[day].[month].[year] [hour]:[minute]:[second]");
    text.lines()
        .skip_while(|line| !line.starts_with("----"))
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [_computer, operation, result, date, clock, _kb, title @ ..] = fields.as_slice()
            else {
                panic!("unexpected history line {line:?}");
            };
            let stamp =
                time::PrimitiveDateTime::parse(&format!("{date} {clock}"), &format).unwrap();
            HistoryRecord {
                operation: if *operation == "Installation" {
                    UO_INSTALLATION
                } else {
                    2
                },
                result_code: RESULT_CODE_NAMES
                    .iter()
                    .position(|name| name.replace(' ', "").eq_ignore_ascii_case(result))
                    .map_or(-1, |code| code as i32),
                date_unix: stamp.assume_utc().unix_timestamp(),
                title: title.join(" "),
                categories: Vec::new(),
            }
        })
        .collect()
}

/// Reads a console transcript of `reg query` runs: each run starts with
/// its `C:\...>reg query "KEY"` command line; a key that exists prints its
/// path (`HKEY_LOCAL_MACHINE\...`) and its values indented as
/// `name    TYPE    data` (`REG_MULTI_SZ` entries separated by `\0`),
/// one that does not prints an `ERROR:` line.
fn reg_query(text: &str) -> RegistrySnapshot {
    let mut snapshot = RegistrySnapshot::default();
    let mut in_queried_key = false;
    for line in text.lines().map(str::trim_end) {
        if line.contains(">reg query ") {
            in_queried_key = false;
        } else if let Some(path) = line.strip_prefix(r"HKEY_LOCAL_MACHINE\") {
            // The first key of a run is the one queried; later ones list its subkeys.
            if !in_queried_key {
                snapshot.keys.push(RegistryKey {
                    path: path.to_owned(),
                    values: Vec::new(),
                });
                in_queried_key = true;
            }
        } else if let Some(value_line) = line.strip_prefix("    ") {
            let parts: Vec<&str> = value_line.splitn(3, "    ").collect();
            let (name, kind, data) = match parts.as_slice() {
                [name, kind, data] => (*name, *kind, *data),
                [name, kind] => (*name, *kind, ""),
                _ => panic!("unexpected reg query line {line:?}"),
            };
            let data = match kind {
                "REG_DWORD" => RegistryData::Dword(
                    u32::from_str_radix(data.trim_start_matches("0x"), 16).unwrap(),
                ),
                "REG_SZ" | "REG_EXPAND_SZ" => RegistryData::Text(data.to_owned()),
                "REG_MULTI_SZ" => {
                    let mut entries: Vec<String> = data.split(r"\0").map(str::to_owned).collect();
                    while entries.last().is_some_and(String::is_empty) {
                        entries.pop();
                    }
                    RegistryData::MultiText(entries)
                }
                _ => RegistryData::Other,
            };
            let key = snapshot.keys.last_mut().expect("a value follows its key");
            key.values.push((name.to_owned(), data));
        }
    }
    snapshot
}

#[test]
fn security_classification_marks_security_updates_from_ansible_capture() {
    let updates = ansible_updates(&fixture("windows/ansible-win-updates-server2016.json"));
    let pending: Vec<pb::PendingUpdate> = updates.iter().map(pending_update).collect();
    let security: Vec<&str> = pending
        .iter()
        .filter(|p| p.security)
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(
        security,
        ["2022-08 Security Update for Windows Server 2016 for x64-based Systems (KB5012170)"]
    );
    let msrt = pending
        .iter()
        .find(|p| {
            p.name
                .starts_with("Windows Malicious Software Removal Tool")
        })
        .unwrap();
    assert!(!msrt.security, "{msrt:?}");
    assert_eq!(msrt.advisories, ["KB890830"]);
    assert_eq!(msrt.source, "Windows Update");
    assert!(pending.iter().all(|p| p.installed_version.is_empty()));
}

#[test]
fn critical_updates_by_category_id_count_as_security_whatever_the_language() {
    let update = UpdateRecord {
        title: "Kritisches Update".into(),
        categories: vec![Category {
            id: "E6CF1350-C01B-414D-A61F-263D14D133B4".into(),
            name: "Kritische Updates".into(),
        }],
        ..Default::default()
    };
    assert!(pending_update(&update).security);
}

#[test]
fn msrc_severity_is_reported_and_marks_security_from_format_list_capture() {
    let updates = format_list_updates(&fixture("windows/iupdate-format-list-de.txt"));
    assert_eq!(updates.len(), 1);
    let pending = pending_update(&updates[0]);
    assert!(pending.security);
    assert_eq!(pending.severity, "Important");
    // KBArticleIDs printed as a COM object: the KB comes from the title.
    assert_eq!(pending.advisories, ["KB5032339"]);
}

#[test]
fn kb_ids_are_prefixed_once_and_deduplicated() {
    let update = UpdateRecord {
        title: "x".into(),
        kb_article_ids: vec!["5034441".into(), "KB5034441".into(), " ".into()],
        ..Default::default()
    };
    assert_eq!(pending_update(&update).advisories, ["KB5034441"]);
}

#[test]
fn last_install_skips_definition_updates_and_failures_in_history() {
    let history = wu_history(&fixture("windows/get-wuhistory.txt"));
    assert_eq!(history.len(), 10);
    let last = last_successful_install(&history).unwrap();
    // 30.08 is a definition update and 29.08 11:49:50 failed: the .NET row.
    assert_eq!(
        last,
        time::macros::datetime!(2017-08-29 11:30:37 UTC).unix_timestamp()
    );
    assert_eq!(last_successful_install(&history[..1]), None);
}

#[test]
fn search_times_come_from_the_search_and_history_wins_over_au_results() {
    let search = WuaSearch {
        result_code: ORC_SUCCEEDED,
        history: vec![HistoryRecord {
            operation: UO_INSTALLATION,
            result_code: ORC_SUCCEEDED,
            date_unix: 1_700_000_000,
            title: "2023-11 Cumulative Update (KB5032189)".into(),
            categories: Vec::new(),
        }],
        last_search_success: Some(1_700_100_000),
        last_installation_success: Some(1_600_000_000),
        reboot_required: true,
        ..Default::default()
    };
    let scan = scan_from(search.clone()).unwrap();
    assert_eq!(scan.last_refresh, Some(1_700_100_000));
    assert_eq!(scan.last_install, Some(1_700_000_000));
    assert!(scan.reboot_reasons[0].patch_related);
    let without_history = scan_from(WuaSearch {
        history: Vec::new(),
        ..search
    })
    .unwrap();
    assert_eq!(without_history.last_install, Some(1_600_000_000));
}

#[test]
fn search_that_did_not_succeed_is_an_error_not_zero_pending() {
    for code in [3, 4, 5, 9] {
        let err = scan_from(WuaSearch {
            result_code: code,
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("not be complete"), "{err}");
    }
    let err = scan_from(WuaSearch {
        result_code: 4,
        ..Default::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("search failed"), "{err}");
}

#[test]
fn ole_dates_convert_to_unix_seconds() {
    assert_eq!(ole_date_to_unix(25_569.0), Some(0));
    // 2023-11-14 00:00:00 UTC, the LastDeploymentChangeTime in the capture above.
    assert_eq!(
        ole_date_to_unix(45_244.0),
        Some(time::macros::datetime!(2023-11-14 00:00 UTC).unix_timestamp())
    );
    assert_eq!(ole_date_to_unix(0.0), None);
    assert_eq!(ole_date_to_unix(f64::NAN), None);
}

/// Rows `| 0x8024402C | `WU_E_...` | description |` of Microsoft's error reference.
fn documented_errors(markdown: &str) -> Vec<(u32, String)> {
    markdown
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let code = cells.get(1)?.strip_prefix("0x")?;
            let code = u32::from_str_radix(code, 16).ok()?;
            Some((code, cells.get(2)?.trim_matches('`').to_owned()))
        })
        .collect()
}

#[test]
fn error_table_matches_microsofts_error_reference() {
    let documented = documented_errors(&fixture("windows/wu-error-reference.md"));
    assert!(documented.len() > 20);
    for (code, name, ..) in KNOWN_ERRORS
        .iter()
        .filter(|(_, name, ..)| name.starts_with("WU_E_"))
    {
        let doc = documented.iter().find(|(c, _)| c == code);
        assert_eq!(
            doc.map(|(_, n)| n.as_str()),
            Some(*name),
            "0x{code:08X} in the table is not documented as {name}"
        );
    }
}

#[test]
fn no_network_and_service_errors_read_as_such() {
    let message = error_message("searching for updates", 0x8024402C, "");
    assert_eq!(
        message,
        "Windows Update cannot reach its update server while searching for updates: the proxy server or target server name cannot be resolved (0x8024402C WU_E_PT_WINHTTP_NAME_NOT_RESOLVED)"
    );
    let starts = |hresult: u32, summary: &str| {
        let message = error_message("searching for updates", hresult, "");
        assert!(message.starts_with(summary), "{message}");
    };
    starts(0x80240438, "Windows Update cannot reach its update server");
    starts(0x8024001E, "the Windows Update service is not available");
    starts(0x80070422, "the Windows Update service is not available");
    starts(0x8024002F, "Windows Update is blocked by policy");
    starts(0x80240009, "Windows Update is busy");
}

#[test]
fn unknown_error_keeps_the_code_and_windows_own_text() {
    assert_eq!(
        error_message(
            "reading the update history",
            0x80004005,
            "Unspecified error\r\n"
        ),
        "Windows Update failed while reading the update history: Unspecified error (0x80004005)"
    );
    assert_eq!(
        error_message("searching for updates", 0x87654321, ""),
        "Windows Update failed while searching for updates (0x87654321)"
    );
}

#[test]
fn disabled_service_is_a_scan_error_other_start_types_are_not() {
    assert!(
        service_start_problem(SERVICE_DISABLED)
            .unwrap()
            .contains("wuauserv")
    );
    // Automatic, manual (demand/trigger start, the default since Windows 10).
    assert_eq!(service_start_problem(2), None);
    assert_eq!(service_start_problem(3), None);
}

#[test]
fn each_reboot_key_is_its_own_reason_and_file_renames_are_not_patch_reboots() {
    let registry = reg_query(&fixture("windows/reg-query-reboot-pending.txt"));
    let reasons = reboot_reasons(&registry);
    let sources: Vec<(&str, bool)> = reasons
        .iter()
        .map(|r| (r.source.as_str(), r.patch_related))
        .collect();
    assert_eq!(
        sources,
        [
            (
                r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired",
                true
            ),
            (
                r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending",
                true
            ),
            (
                r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\PackagesPending",
                true
            ),
            (r"HKLM\SOFTWARE\Microsoft\Updates\UpdateExeVolatile", true),
            (
                r"HKLM\SYSTEM\CurrentControlSet\Control\Session Manager\PendingFileRenameOperations",
                false
            ),
            (
                r"HKLM\SYSTEM\CurrentControlSet\Control\ComputerName\ComputerName",
                false
            ),
        ]
    );
    assert!(
        reasons[4].detail.starts_with("2 file operation(s)"),
        "{}",
        reasons[4].detail
    );
    assert!(
        reasons[5].detail.contains("WS-OLD to WS-NEW"),
        "{}",
        reasons[5].detail
    );
}

#[test]
fn lone_file_rename_is_reported_but_not_a_patch_reboot() {
    let registry = reg_query(&fixture("windows/reg-query-pending-file-rename-only.txt"));
    let reasons = reboot_reasons(&registry);
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(!reasons[0].patch_related);
    assert!(reboot_reasons(&RegistrySnapshot::default()).is_empty());
}

fn utf16(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

#[test]
fn raw_registry_values_decode_with_empty_rename_targets_kept() {
    assert_eq!(
        registry_data(REG_DWORD, &1u32.to_le_bytes()),
        RegistryData::Dword(1)
    );
    assert_eq!(
        registry_data(REG_SZ, &utf16("WS-NEW\0")),
        RegistryData::Text("WS-NEW".into())
    );
    // A delete: the file, an empty target, then the list's closing empty string.
    assert_eq!(
        registry_data(
            REG_MULTI_SZ,
            &utf16("\\??\\C:\\a.dll\0\0\\??\\C:\\b.tmp\0\\??\\C:\\b.dll\0\0")
        ),
        RegistryData::MultiText(vec![
            r"\??\C:\a.dll".into(),
            String::new(),
            r"\??\C:\b.tmp".into(),
            r"\??\C:\b.dll".into(),
        ])
    );
    assert_eq!(registry_data(REG_DWORD, &[1]), RegistryData::Other);
    assert_eq!(registry_data(3, &[1, 2]), RegistryData::Other);
}

#[test]
fn zero_update_exe_flag_and_unrelated_values_are_no_reason() {
    let registry = RegistrySnapshot {
        keys: vec![
            RegistryKey {
                path: UPDATES.to_owned(),
                values: vec![("UpdateExeVolatile".into(), RegistryData::Dword(0))],
            },
            RegistryKey {
                path: SESSION_MANAGER.to_owned(),
                values: vec![(
                    "PendingFileRenameOperations".into(),
                    RegistryData::MultiText(vec![String::new(), String::new()]),
                )],
            },
        ],
    };
    assert!(reboot_reasons(&registry).is_empty());
}

#[tokio::test]
async fn worker_runs_the_job_on_its_own_thread() {
    static WORKER: SearchWorker = SearchWorker::new();
    let caller = std::thread::current().id();
    let job_thread = WORKER
        .run(Duration::from_secs(5), || std::thread::current().id())
        .await
        .unwrap();
    assert_ne!(job_thread, caller);
    // Idle again: a second job runs.
    assert_eq!(WORKER.run(Duration::from_secs(5), || 7).await, Ok(7));
}

#[tokio::test]
async fn timed_out_search_blocks_the_next_until_it_ends() {
    static WORKER: SearchWorker = SearchWorker::new();
    let (release, hold) = std::sync::mpsc::channel::<()>();
    let first = WORKER
        .run(Duration::from_millis(50), move || {
            let _ = hold.recv();
        })
        .await;
    assert_eq!(first, Err(WorkerError::TimedOut(0)));
    let second = WORKER.run(Duration::from_secs(5), || ()).await;
    assert!(
        matches!(second, Err(WorkerError::StillRunning(_))),
        "{second:?}"
    );
    release.send(()).unwrap();
    // Once the hung job ends, the worker takes new jobs again.
    let mut third = WORKER.run(Duration::from_secs(5), || ()).await;
    for _ in 0..100 {
        if third.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        third = WORKER.run(Duration::from_secs(5), || ()).await;
    }
    assert_eq!(third, Ok(()));
}

#[tokio::test]
async fn panicking_job_is_an_error_and_frees_the_worker() {
    static WORKER: SearchWorker = SearchWorker::new();
    let result: Result<(), _> = WORKER
        .run(Duration::from_secs(5), || panic!("WUA blew up"))
        .await;
    assert_eq!(result, Err(WorkerError::Lost));
    assert_eq!(WORKER.run(Duration::from_secs(5), || 1).await, Ok(1));
}

#[test]
fn timeout_maps_to_a_timeout_check_error() {
    assert!(matches!(
        CheckError::from(WorkerError::TimedOut(300)),
        CheckError::Timeout(300)
    ));
}
