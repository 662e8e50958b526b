//! Windows Update: the mapping of what the WUA COM API returns (search
//! result, update and history records, OLE dates, registry values of the
//! reboot keys, error codes) to the report. The records are built from the
//! input with `arbitrary`, registry paths picked among the keys read.
//! Properties: no panic; one pending entry per update, named by its title,
//! with distinct `KB…` advisories; a search that did not succeed is never a
//! list; the last install is one of the history's successful installs or the
//! agent's own date.
#![no_main]

use arbitrary::{Arbitrary, Result, Unstructured};
use forewarn_agent::checks::patches::fuzzing::*;
use libfuzzer_sys::fuzz_target;

fn categories(u: &mut Unstructured<'_>) -> Result<Vec<Category>> {
    u.arbitrary_iter::<(String, String)>()?
        .map(|pair| pair.map(|(id, name)| Category { id, name }))
        .collect()
}

fn search(u: &mut Unstructured<'_>) -> Result<WuaSearch> {
    let mut updates = Vec::new();
    for _ in 0..u.int_in_range(0..=8)? {
        updates.push(UpdateRecord {
            title: u.arbitrary()?,
            kb_article_ids: u.arbitrary()?,
            categories: categories(u)?,
            msrc_severity: u.arbitrary()?,
        });
    }
    let mut history = Vec::new();
    for _ in 0..u.int_in_range(0..=8)? {
        history.push(HistoryRecord {
            operation: u.int_in_range(0..=3)?,
            result_code: u.int_in_range(0..=6)?,
            date_unix: u.arbitrary()?,
            title: u.arbitrary()?,
            categories: categories(u)?,
        });
    }
    Ok(WuaSearch {
        result_code: u.int_in_range(-1..=6)?,
        updates,
        history,
        last_search_success: u.arbitrary()?,
        last_installation_success: u.arbitrary()?,
        reboot_required: u.arbitrary()?,
    })
}

fn registry(u: &mut Unstructured<'_>) -> Result<RegistrySnapshot> {
    let mut keys = Vec::new();
    for _ in 0..u.int_in_range(0..=REBOOT_KEYS.len())? {
        let (path, names) = *u.choose(&REBOOT_KEYS)?;
        let mut values = Vec::new();
        for _ in 0..u.int_in_range(0..=3)? {
            let name = match names {
                [] => u.arbitrary::<String>()?,
                _ => (*u.choose(names)?).to_owned(),
            };
            let kind = u.int_in_range(0..=8)?;
            let bytes: &[u8] = u.arbitrary()?;
            values.push((name, registry_data(kind, bytes)));
        }
        keys.push(RegistryKey {
            path: path.to_owned(),
            values,
        });
    }
    Ok(RegistrySnapshot { keys })
}

fn check(u: &mut Unstructured<'_>) -> Result<()> {
    let search = search(u)?;
    for update in &search.updates {
        let pending = pending_update(update);
        assert_eq!(pending.name, update.title);
        for (i, kb) in pending.advisories.iter().enumerate() {
            assert!(kb.to_ascii_uppercase().starts_with("KB"), "{kb:?}");
            assert!(!pending.advisories[..i].contains(kb), "{kb:?} twice");
        }
    }
    let installs: Vec<i64> = search
        .history
        .iter()
        .filter(|h| h.operation == UO_INSTALLATION && h.result_code == ORC_SUCCEEDED)
        .map(|h| h.date_unix)
        .collect();
    if let Some(last) = last_successful_install(&search.history) {
        assert!(installs.contains(&last), "{last} is no successful install");
    }
    let (code, count, own_install) = (
        search.result_code,
        search.updates.len(),
        search.last_installation_success,
    );
    match wua_scan(search) {
        Ok(scan) => {
            assert_eq!(code, ORC_SUCCEEDED);
            assert_eq!(scan.pending.len(), count);
            if let Some(last) = scan.last_install {
                assert!(installs.contains(&last) || Some(last) == own_install);
            }
        }
        Err(message) => {
            assert_ne!(code, ORC_SUCCEEDED);
            assert!(message.contains(&code.to_string()), "{message}");
        }
    }
    let _ = ole_date_to_unix(f64::arbitrary(u)?);
    let doing: String = u.arbitrary()?;
    let system_message: String = u.arbitrary()?;
    let _ = error_message(&doing, u.arbitrary()?, &system_message);
    let _ = service_start_problem(u.arbitrary()?);
    for reason in reboot_reasons(&registry(u)?) {
        assert!(!reason.source.is_empty() && !reason.detail.is_empty());
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = check(&mut Unstructured::new(data));
});
