//! Windows Update through the Windows Update Agent (WUA) COM API, the
//! Service Control Manager and the registry (I/O only; `wua` judges).
//!
//! The search runs on its own OS thread (see [`wua::SearchWorker`]) with COM
//! initialised there in the multithreaded apartment, at below-normal thread
//! priority, with the check's timeout. The heavy work of a search happens
//! inside the Windows Update service itself, whose priority the caller cannot
//! set; what this side controls is that it asks rarely and one at a time.
//!
//! The search is offline (`IUpdateSearcher::Online = false`): it is judged
//! against the update metadata that Windows Update's own scheduled scan last
//! downloaded, like dnf's `-C`, so the agent never makes 2,000 devices hit the
//! update server at once, never forces a scan the device's policy did not
//! ask for, and reports what the Settings app shows. How old that metadata is
//! comes from `IAutomaticUpdatesResults::LastSearchSuccessDate`, to which the
//! check's staleness limit applies; a device whose Windows Update never
//! searched is NEVER, not "0 pending".
//!
//! Before searching, the start type of `wuauserv` is read: a disabled
//! service is a scan error whatever the offline data says.
// COM, the registry and the Service Control Manager are C APIs: calling them
// needs `unsafe`, kept to this file.
#![allow(unsafe_code)]

use std::time::Duration;

use windows::Win32::Foundation::{ERROR_SUCCESS, VARIANT_FALSE};
use windows::Win32::System::Com::{
    CLSCTX_ALL, COINIT_MULTITHREADED, CoCreateInstance, CoInitializeEx, CoUninitialize,
};
use windows::Win32::System::Registry::{
    HKEY, HKEY_LOCAL_MACHINE, KEY_READ, KEY_WOW64_64KEY, REG_VALUE_TYPE, RegCloseKey,
    RegOpenKeyExW, RegQueryValueExW,
};
use windows::Win32::System::Services::{
    CloseServiceHandle, OpenSCManagerW, OpenServiceW, QUERY_SERVICE_CONFIGW, QueryServiceConfigW,
    SC_HANDLE, SC_MANAGER_CONNECT, SERVICE_QUERY_CONFIG,
};
use windows::Win32::System::Threading::{
    GetCurrentThread, SetThreadPriority, THREAD_PRIORITY_BELOW_NORMAL,
};
use windows::Win32::System::UpdateAgent::{
    AutomaticUpdates, IAutomaticUpdates2, ICategoryCollection, ISystemInformation,
    IUpdateCollection, IUpdateHistoryEntry2, IUpdateSearcher, IUpdateSession, SystemInformation,
    UpdateSession,
};
use windows::Win32::System::Variant::VT_DATE;
use windows::core::{BSTR, Interface, PCWSTR, w};

use super::wua::{self, Category, HistoryRecord, SearchWorker, UpdateRecord, WuaSearch};
use super::{HostSignals, Scan};
use crate::checks::CheckError;

/// The one worker of this process: Windows Update serves one search at a time.
static WORKER: SearchWorker = SearchWorker::new();

/// History entries read for the last successful install; newest first.
const HISTORY_ENTRIES: i32 = 200;

/// How Windows Update is probed on this device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowsUpdateProbe {
    pub timeout: Duration,
}

impl WindowsUpdateProbe {
    /// Searches for pending updates and reads the update history.
    pub async fn scan(&self) -> Result<Scan, CheckError> {
        let search = WORKER.run(self.timeout, search_on_this_thread).await??;
        wua::scan_from(search)
    }

    /// The pending-reboot registry keys, read every cycle (a few key opens).
    pub(super) async fn signals(&self) -> HostSignals {
        tokio::task::spawn_blocking(|| HostSignals {
            reboot_reasons: wua::reboot_reasons(&read_reboot_keys()),
            ..HostSignals::default()
        })
        .await
        .unwrap_or_default()
    }
}

/// A scan error for a failed WUA call made while `doing` something.
fn wua_error(doing: &'static str) -> impl Fn(windows::core::Error) -> CheckError {
    move |err| {
        CheckError::Failed(wua::error_message(
            doing,
            err.code().0 as u32,
            &err.message(),
        ))
    }
}

/// COM initialised on this thread for as long as the value lives.
struct ComApartment;

impl ComApartment {
    fn enter() -> Result<Self, CheckError> {
        // SAFETY: called on the worker thread that owns this apartment; every
        // successful call is paired with CoUninitialize in Drop.
        unsafe { CoInitializeEx(None, COINIT_MULTITHREADED) }
            .ok()
            .map_err(wua_error("initialising COM"))?;
        Ok(Self)
    }
}

impl Drop for ComApartment {
    fn drop(&mut self) {
        // SAFETY: pairs the successful CoInitializeEx of `enter` on this thread,
        // after every COM object of the search has been released.
        unsafe { CoUninitialize() };
    }
}

/// The whole probe, run on the worker thread.
fn search_on_this_thread() -> Result<WuaSearch, CheckError> {
    // SAFETY: GetCurrentThread returns a pseudo-handle valid on this thread.
    if let Err(err) = unsafe { SetThreadPriority(GetCurrentThread(), THREAD_PRIORITY_BELOW_NORMAL) }
    {
        tracing::debug!(check = super::CHECK_NAME, error = %err, "cannot lower the Windows Update thread's priority");
    }
    if let Some(problem) = wua::service_start_problem(wuauserv_start_type()?) {
        return Err(CheckError::Failed(problem));
    }
    // Declared first so it is dropped last, after every COM object below.
    let _com = ComApartment::enter()?;
    // SAFETY (every COM call in this file): the objects come from
    // CoCreateInstance or from methods of live objects in this thread's
    // apartment, and are used on this thread only.
    let session: IUpdateSession = unsafe { CoCreateInstance(&UpdateSession, None, CLSCTX_ALL) }
        .map_err(wua_error("starting a Windows Update session"))?;
    unsafe { session.SetClientApplicationID(&BSTR::from("Forewarn agent")) }
        .map_err(wua_error("starting a Windows Update session"))?;
    let searcher = unsafe { session.CreateUpdateSearcher() }
        .map_err(wua_error("starting a Windows Update search"))?;
    unsafe { searcher.SetOnline(VARIANT_FALSE) }
        .map_err(wua_error("starting a Windows Update search"))?;
    let result = unsafe { searcher.Search(&BSTR::from(wua::SEARCH_CRITERIA)) }
        .map_err(wua_error("searching for updates"))?;
    let result_code = unsafe { result.ResultCode() }
        .map_err(wua_error("reading the search result"))?
        .0;
    let updates = read_updates(
        &unsafe { result.Updates() }.map_err(wua_error("reading the search result"))?,
    )?;
    let history = read_history(&searcher)?;
    let (last_search_success, last_installation_success) = read_automatic_updates_results()?;
    let system: ISystemInformation =
        unsafe { CoCreateInstance(&SystemInformation, None, CLSCTX_ALL) }
            .map_err(wua_error("reading the reboot flag"))?;
    let reboot_required = unsafe { system.RebootRequired() }
        .map_err(wua_error("reading the reboot flag"))?
        .0
        != 0;
    Ok(WuaSearch {
        result_code,
        updates,
        history,
        last_search_success,
        last_installation_success,
        reboot_required,
    })
}

fn read_updates(found: &IUpdateCollection) -> Result<Vec<UpdateRecord>, CheckError> {
    let failed = wua_error("reading an update");
    let mut updates = Vec::new();
    for index in 0..unsafe { found.Count() }.map_err(&failed)? {
        let update = unsafe { found.get_Item(index) }.map_err(&failed)?;
        let kb_ids = unsafe { update.KBArticleIDs() }.map_err(&failed)?;
        let mut kb_article_ids = Vec::new();
        for kb in 0..unsafe { kb_ids.Count() }.map_err(&failed)? {
            kb_article_ids.push(unsafe { kb_ids.get_Item(kb) }.map_err(&failed)?.to_string());
        }
        updates.push(UpdateRecord {
            title: unsafe { update.Title() }.map_err(&failed)?.to_string(),
            kb_article_ids,
            categories: categories(&unsafe { update.Categories() }.map_err(&failed)?)?,
            msrc_severity: unsafe { update.MsrcSeverity() }
                .map_err(&failed)?
                .to_string(),
        });
    }
    Ok(updates)
}

/// The newest [`HISTORY_ENTRIES`] entries of the update history.
fn read_history(searcher: &IUpdateSearcher) -> Result<Vec<HistoryRecord>, CheckError> {
    let failed = wua_error("reading the update history");
    let total = unsafe { searcher.GetTotalHistoryCount() }.map_err(&failed)?;
    if total <= 0 {
        return Ok(Vec::new());
    }
    let entries =
        unsafe { searcher.QueryHistory(0, total.min(HISTORY_ENTRIES)) }.map_err(&failed)?;
    let mut history = Vec::new();
    for index in 0..unsafe { entries.Count() }.map_err(&failed)? {
        let entry = unsafe { entries.get_Item(index) }.map_err(&failed)?;
        // An entry without a date cannot say when anything was installed.
        let Some(date_unix) = wua::ole_date_to_unix(unsafe { entry.Date() }.map_err(&failed)?)
        else {
            continue;
        };
        // Categories came with WUA 3.0 (IUpdateHistoryEntry2); older entries go by title.
        let categories = match entry.cast::<IUpdateHistoryEntry2>() {
            Ok(entry2) => match unsafe { entry2.Categories() } {
                Ok(list) => categories(&list)?,
                Err(_) => Vec::new(),
            },
            Err(_) => Vec::new(),
        };
        history.push(HistoryRecord {
            operation: unsafe { entry.Operation() }.map_err(&failed)?.0,
            result_code: unsafe { entry.ResultCode() }.map_err(&failed)?.0,
            date_unix,
            title: unsafe { entry.Title() }.map_err(&failed)?.to_string(),
            categories,
        });
    }
    Ok(history)
}

/// Automatic Updates' last successful search and install, Unix seconds.
fn read_automatic_updates_results() -> Result<(Option<i64>, Option<i64>), CheckError> {
    let failed = wua_error("reading the Automatic Updates results");
    let automatic: IAutomaticUpdates2 =
        unsafe { CoCreateInstance(&AutomaticUpdates, None, CLSCTX_ALL) }.map_err(&failed)?;
    let results = unsafe { automatic.Results() }.map_err(&failed)?;
    Ok((
        variant_date(unsafe { results.LastSearchSuccessDate() }.map_err(&failed)?),
        variant_date(unsafe { results.LastInstallationSuccessDate() }.map_err(&failed)?),
    ))
}

fn categories(list: &ICategoryCollection) -> Result<Vec<Category>, CheckError> {
    let failed = wua_error("reading update categories");
    let mut categories = Vec::new();
    for index in 0..unsafe { list.Count() }.map_err(&failed)? {
        let category = unsafe { list.get_Item(index) }.map_err(&failed)?;
        categories.push(Category {
            id: unsafe { category.CategoryID() }
                .map_err(&failed)?
                .to_string(),
            name: unsafe { category.Name() }.map_err(&failed)?.to_string(),
        });
    }
    Ok(categories)
}

/// A `VT_DATE` variant in Unix seconds; none for `VT_EMPTY` ("never").
fn variant_date(value: windows::Win32::System::Variant::VARIANT) -> Option<i64> {
    // SAFETY: the tag is read first and the date only when it says VT_DATE;
    // a date variant owns no memory, so nothing needs clearing.
    unsafe {
        let inner = &value.Anonymous.Anonymous;
        (inner.vt == VT_DATE)
            .then(|| wua::ole_date_to_unix(inner.Anonymous.date))
            .flatten()
    }
}

/// A Service Control Manager handle, closed on drop.
struct ServiceHandle(SC_HANDLE);

impl Drop for ServiceHandle {
    fn drop(&mut self) {
        // SAFETY: the handle came from OpenSCManagerW/OpenServiceW and is closed once.
        let _ = unsafe { CloseServiceHandle(self.0) };
    }
}

/// The start type of `wuauserv` (`SERVICE_DISABLED` when disabled).
fn wuauserv_start_type() -> Result<u32, CheckError> {
    let scm_error = |err: windows::core::Error| {
        CheckError::Failed(format!(
            "cannot read the Windows Update service (wuauserv) settings: {} (0x{:08X})",
            err.message().trim_end(),
            err.code().0 as u32
        ))
    };
    // SAFETY: null machine and database names mean the local, active database.
    let manager = ServiceHandle(
        unsafe { OpenSCManagerW(PCWSTR::null(), PCWSTR::null(), SC_MANAGER_CONNECT) }
            .map_err(scm_error)?,
    );
    // SAFETY: `manager` is an open SCM handle; the name is a static wide string.
    let service = ServiceHandle(
        unsafe { OpenServiceW(manager.0, w!("wuauserv"), SERVICE_QUERY_CONFIG) }
            .map_err(scm_error)?,
    );
    let mut needed = 0u32;
    // SAFETY: a null buffer of size 0 asks for the size needed (the call fails with
    // ERROR_INSUFFICIENT_BUFFER by design, hence the result is ignored).
    let _ = unsafe { QueryServiceConfigW(service.0, None, 0, &mut needed) };
    // u64 elements keep the buffer aligned for QUERY_SERVICE_CONFIGW's pointers.
    let mut buffer = vec![0u64; (needed as usize).div_ceil(8).max(1)];
    let size = u32::try_from(buffer.len() * 8).unwrap_or(u32::MAX);
    // SAFETY: `buffer` is writable for `size` bytes and suitably aligned.
    unsafe {
        QueryServiceConfigW(
            service.0,
            Some(buffer.as_mut_ptr().cast::<QUERY_SERVICE_CONFIGW>()),
            size,
            &mut needed,
        )
    }
    .map_err(scm_error)?;
    // SAFETY: the call succeeded, so the buffer starts with a filled QUERY_SERVICE_CONFIGW.
    let config = unsafe { &*buffer.as_ptr().cast::<QUERY_SERVICE_CONFIGW>() };
    Ok(config.dwStartType.0)
}

/// The keys of [`wua::REBOOT_KEYS`] that exist, with their values.
fn read_reboot_keys() -> wua::RegistrySnapshot {
    wua::RegistrySnapshot {
        keys: wua::REBOOT_KEYS
            .iter()
            .filter_map(|(path, names)| read_key(path, names))
            .collect(),
    }
}

fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16().chain(std::iter::once(0)).collect()
}

/// An open registry key, closed on drop.
struct KeyHandle(HKEY);

impl Drop for KeyHandle {
    fn drop(&mut self) {
        // SAFETY: the key came from RegOpenKeyExW and is closed once.
        let _ = unsafe { RegCloseKey(self.0) };
    }
}

/// The key at `path` under HKLM with the named values that exist; none when
/// the key does not exist (or cannot be read, which is no reboot signal).
fn read_key(path: &str, names: &[&str]) -> Option<wua::RegistryKey> {
    let path_wide = wide(path);
    let mut key = HKEY(std::ptr::null_mut());
    // SAFETY: `path_wide` is NUL-terminated and outlives the call; `key` receives
    // the handle. KEY_WOW64_64KEY: a 32-bit build still reads the 64-bit view,
    // where Windows writes these keys.
    let status = unsafe {
        RegOpenKeyExW(
            HKEY_LOCAL_MACHINE,
            PCWSTR(path_wide.as_ptr()),
            None,
            KEY_READ | KEY_WOW64_64KEY,
            &mut key,
        )
    };
    if status != ERROR_SUCCESS {
        return None;
    }
    let key = KeyHandle(key);
    let values = names
        .iter()
        .filter_map(|name| read_value(&key, name).map(|data| ((*name).to_owned(), data)))
        .collect();
    Some(wua::RegistryKey {
        path: (*path).to_owned(),
        values,
    })
}

fn read_value(key: &KeyHandle, name: &str) -> Option<wua::RegistryData> {
    let name_wide = wide(name);
    let mut kind = REG_VALUE_TYPE::default();
    let mut size = 0u32;
    // SAFETY: a null data pointer asks only for the type and size.
    let status = unsafe {
        RegQueryValueExW(
            key.0,
            PCWSTR(name_wide.as_ptr()),
            None,
            Some(&mut kind),
            None,
            Some(&mut size),
        )
    };
    if status != ERROR_SUCCESS {
        return None;
    }
    let mut data = vec![0u8; size as usize];
    // SAFETY: `data` is writable for `size` bytes; the call updates `size`.
    let status = unsafe {
        RegQueryValueExW(
            key.0,
            PCWSTR(name_wide.as_ptr()),
            None,
            Some(&mut kind),
            Some(data.as_mut_ptr()),
            Some(&mut size),
        )
    };
    if status != ERROR_SUCCESS {
        return None;
    }
    data.truncate(size as usize);
    Some(wua::registry_data(kind.0, &data))
}
