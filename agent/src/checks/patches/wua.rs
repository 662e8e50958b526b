//! Windows Update, the pure part: what the Windows Update Agent (WUA) and
//! the registry return, as plain records, and how they become the reported
//! status. Compiled on every OS, so it is tested on Linux; `windows.rs`
//! builds the same records from the COM and registry calls.
//!
//! - updates: one [`UpdateRecord`] per `IUpdate` of the search; security when
//!   a classification is "Security Updates" or "Critical Updates" (by
//!   category id, so a localised name does not matter) or when Microsoft's
//!   security response centre rated it (`MsrcSeverity` is only set on
//!   security fixes);
//! - last install: the newest successful installation in the update history
//!   that is not a Defender definition update (those install several times a
//!   day and would make a device that fails every patch look fresh);
//! - reboot: the registry keys Windows writes, each one a reason (see
//!   [`reboot_reasons`]);
//! - errors: a WUA `HRESULT`, a failed search result code or a disabled
//!   `wuauserv` service become a scan error with words a person can act on,
//!   never "0 pending";
//! - [`SearchWorker`]: WUA's search can hang for hours, so it runs on its own
//!   thread with a timeout, and a search that timed out blocks the next one
//!   until it ends.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use forewarn_proto::pb;

use super::Scan;
use crate::checks::CheckError;

/// What `package_manager` says on a Windows device.
pub const MANAGER_NAME: &str = "windows-update";

/// The search: software updates not installed and not hidden, as in the
/// Settings app (drivers are left to the hardware vendor's tooling).
pub const SEARCH_CRITERIA: &str = "IsInstalled=0 and IsHidden=0 and Type='Software'";

/// `OperationResultCode` values (wuapi.h).
pub const ORC_SUCCEEDED: i32 = 2;
const RESULT_CODE_NAMES: [&str; 6] = [
    "not started",
    "in progress",
    "succeeded",
    "succeeded with errors",
    "failed",
    "aborted",
];

/// `UpdateOperation` value of an installation (wuapi.h).
pub const UO_INSTALLATION: i32 = 1;

/// Classification category ids, the same in every Windows language.
const SECURITY_UPDATES: &str = "0fa1201d-4330-4fa8-8ae9-b877473b6441";
const CRITICAL_UPDATES: &str = "e6cf1350-c01b-414d-a61f-263d14d133b4";
const DEFINITION_UPDATES: &str = "e0789628-ce08-4437-be74-2495b842f43b";

/// One category of an update (`ICategory`): a classification or a product.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Category {
    /// `CategoryID`, a GUID; empty when the source only gave the name.
    pub id: String,
    /// `Name`, localised.
    pub name: String,
}

impl Category {
    fn is(&self, id: &str, english_name: &str) -> bool {
        self.id.eq_ignore_ascii_case(id) || self.name.eq_ignore_ascii_case(english_name)
    }
}

/// One pending update as `IUpdate` describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateRecord {
    pub title: String,
    /// `KBArticleIDs`: digits, as WUA gives them ("5034441").
    pub kb_article_ids: Vec<String>,
    pub categories: Vec<Category>,
    /// `MsrcSeverity`: "Critical", "Important", "Moderate", "Low" or empty.
    pub msrc_severity: String,
}

/// One entry of the update history (`IUpdateHistoryEntry`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryRecord {
    /// `Operation`: [`UO_INSTALLATION`] or uninstallation.
    pub operation: i32,
    /// `ResultCode`: [`ORC_SUCCEEDED`], failed, ...
    pub result_code: i32,
    /// `Date` (UTC), Unix seconds.
    pub date_unix: i64,
    pub title: String,
    /// `Categories` (IUpdateHistoryEntry2); may be empty.
    pub categories: Vec<Category>,
}

impl HistoryRecord {
    /// Defender's definition (security intelligence) updates, by category
    /// or, where the history has no categories, by their fixed titles.
    fn is_definition_update(&self) -> bool {
        self.categories
            .iter()
            .any(|c| c.is(DEFINITION_UPDATES, "Definition Updates"))
            || self.title.contains("Definition Update")
            || self.title.contains("Security Intelligence Update")
    }
}

/// Everything one Windows Update probe gathered, before it is judged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WuaSearch {
    /// `ISearchResult::ResultCode`.
    pub result_code: i32,
    pub updates: Vec<UpdateRecord>,
    pub history: Vec<HistoryRecord>,
    /// `IAutomaticUpdatesResults::LastSearchSuccessDate`, Unix seconds; none
    /// when Windows Update never searched successfully.
    pub last_search_success: Option<i64>,
    /// `IAutomaticUpdatesResults::LastInstallationSuccessDate`, Unix seconds.
    pub last_installation_success: Option<i64>,
    /// `ISystemInformation::RebootRequired`.
    pub reboot_required: bool,
}

/// The status a finished search gives: pending updates, times and the
/// agent's own reboot flag; a search that did not succeed is an error.
pub(super) fn scan_from(search: WuaSearch) -> Result<Scan, CheckError> {
    if search.result_code != ORC_SUCCEEDED {
        let name = usize::try_from(search.result_code)
            .ok()
            .and_then(|code| RESULT_CODE_NAMES.get(code))
            .unwrap_or(&"an unknown result");
        // Even "succeeded with errors" means some updates may be missing from the list.
        return Err(CheckError::Failed(format!(
            "Windows Update search {name} (result code {}); the pending list would not be complete",
            search.result_code
        )));
    }
    let reboot_reasons = search
        .reboot_required
        .then(|| pb::RebootReason {
            source: "Windows Update Agent".to_owned(),
            detail:
                "installed updates finish at the next reboot (ISystemInformation.RebootRequired)"
                    .to_owned(),
            patch_related: true,
            packages: Vec::new(),
        })
        .into_iter()
        .collect();
    Ok(Scan {
        pending: search.updates.iter().map(pending_update).collect(),
        reboot_reasons,
        last_refresh: search.last_search_success,
        last_install: last_successful_install(&search.history).or(search.last_installation_success),
    })
}

/// One pending update as reported.
pub fn pending_update(update: &UpdateRecord) -> pb::PendingUpdate {
    let mut advisories: Vec<String> = Vec::new();
    for id in &update.kb_article_ids {
        let id = id.trim();
        let kb = if id.to_ascii_uppercase().starts_with("KB") {
            id.to_owned()
        } else {
            format!("KB{id}")
        };
        if !id.is_empty() && !advisories.contains(&kb) {
            advisories.push(kb);
        }
    }
    if advisories.is_empty() {
        advisories.extend(kb_in_title(&update.title));
    }
    let classified = update.categories.iter().any(|c| {
        c.is(SECURITY_UPDATES, "Security Updates") || c.is(CRITICAL_UPDATES, "Critical Updates")
    });
    pb::PendingUpdate {
        name: update.title.clone(),
        source: "Windows Update".to_owned(),
        security: classified || !update.msrc_severity.is_empty(),
        severity: update.msrc_severity.clone(),
        advisories,
        ..Default::default()
    }
}

/// "... (KB5034441)" -> "KB5034441", for updates whose KB list is empty.
fn kb_in_title(title: &str) -> Option<String> {
    let start = title.find("KB")?;
    let digits: String = title[start + 2..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (!digits.is_empty()).then(|| format!("KB{digits}"))
}

/// The newest successful installation that is not a definition update.
pub fn last_successful_install(history: &[HistoryRecord]) -> Option<i64> {
    history
        .iter()
        .filter(|entry| {
            entry.operation == UO_INSTALLATION
                && entry.result_code == ORC_SUCCEEDED
                && !entry.is_definition_update()
        })
        .map(|entry| entry.date_unix)
        .max()
}

/// An OLE Automation date (days since 1899-12-30, as COM's `DATE` and
/// `VT_DATE` carry it) in Unix seconds; none for 0 (COM's "no date").
pub fn ole_date_to_unix(days: f64) -> Option<i64> {
    const UNIX_EPOCH_DAYS: f64 = 25_569.0;
    (days.is_finite() && days > 0.0).then(|| ((days - UNIX_EPOCH_DAYS) * 86_400.0).round() as i64)
}

/// What a failed WUA call means for the person reading the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The update server (Windows Update or WSUS) cannot be reached.
    NoNetwork,
    /// The Windows Update service is stopped, disabled or shutting down.
    ServiceUnavailable,
    /// Group Policy or WSUS configuration blocks Windows Update.
    Policy,
    /// Another Windows Update operation holds it; the next scan may succeed.
    Busy,
    Other,
}

impl ErrorKind {
    fn summary(self) -> &'static str {
        match self {
            Self::NoNetwork => "Windows Update cannot reach its update server",
            Self::ServiceUnavailable => "the Windows Update service is not available",
            Self::Policy => "Windows Update is blocked by policy",
            Self::Busy => "Windows Update is busy with another operation",
            Self::Other => "Windows Update failed",
        }
    }
}

/// Documented WUA error codes (Microsoft's "Windows Update error codes by
/// component" and wuerror.h) and the Win32 ones WUA passes through
/// (winerror.h), with how each is read.
const KNOWN_ERRORS: &[(u32, &str, &str, ErrorKind)] = &[
    (
        0x8024402C,
        "WU_E_PT_WINHTTP_NAME_NOT_RESOLVED",
        "the proxy server or target server name cannot be resolved",
        ErrorKind::NoNetwork,
    ),
    (
        0x80240438,
        "WU_E_PT_ENDPOINT_UNREACHABLE",
        "there is no route or network connectivity to the endpoint",
        ErrorKind::NoNetwork,
    ),
    (
        0x8024001F,
        "WU_E_NO_CONNECTION",
        "operation did not complete because the network connection was unavailable",
        ErrorKind::NoNetwork,
    ),
    (
        0x80244004,
        "WU_E_PT_SOAPCLIENT_CONNECT",
        "SOAP client failed to connect to the server",
        ErrorKind::NoNetwork,
    ),
    (
        0x8024401B,
        "WU_E_PT_HTTP_STATUS_PROXY_AUTH_REQ",
        "proxy authentication is required",
        ErrorKind::NoNetwork,
    ),
    (
        0x8024401C,
        "WU_E_PT_HTTP_STATUS_REQUEST_TIMEOUT",
        "the server timed out waiting for the request",
        ErrorKind::NoNetwork,
    ),
    (
        0x80244022,
        "WU_E_PT_HTTP_STATUS_SERVICE_UNAVAIL",
        "the service is temporarily overloaded",
        ErrorKind::NoNetwork,
    ),
    (
        0x80246005,
        "WU_E_DM_NONETWORK",
        "the network connection was unavailable",
        ErrorKind::NoNetwork,
    ),
    (
        0x80072EE2,
        "ERROR_WINHTTP_TIMEOUT",
        "the request to the update server timed out",
        ErrorKind::NoNetwork,
    ),
    (
        0x80072EE7,
        "ERROR_WINHTTP_NAME_NOT_RESOLVED",
        "the server name or address could not be resolved",
        ErrorKind::NoNetwork,
    ),
    (
        0x80072EFD,
        "ERROR_WINHTTP_CANNOT_CONNECT",
        "the connection to the server could not be established",
        ErrorKind::NoNetwork,
    ),
    (
        0x8024001E,
        "WU_E_SERVICE_STOP",
        "operation did not complete because the service or system was being shut down",
        ErrorKind::ServiceUnavailable,
    ),
    (
        0x80240001,
        "WU_E_NO_SERVICE",
        "Windows Update Agent was unable to provide the service",
        ErrorKind::ServiceUnavailable,
    ),
    (
        0x8024A000,
        "WU_E_AU_NOSERVICE",
        "Automatic Updates was unable to service incoming requests",
        ErrorKind::ServiceUnavailable,
    ),
    (
        0x80248000,
        "WU_E_DS_SHUTDOWN",
        "an operation failed because Windows Update Agent is shutting down",
        ErrorKind::ServiceUnavailable,
    ),
    (
        0x80240041,
        "WU_E_SYSPREP_IN_PROGRESS",
        "service is not available while sysprep is running",
        ErrorKind::ServiceUnavailable,
    ),
    (
        0x80070422,
        "ERROR_SERVICE_DISABLED",
        "the service cannot be started because it is disabled",
        ErrorKind::ServiceUnavailable,
    ),
    (
        0x8024002E,
        "WU_E_WU_DISABLED",
        "access to an unmanaged server is not allowed",
        ErrorKind::Policy,
    ),
    (
        0x8024002F,
        "WU_E_CALL_CANCELLED_BY_POLICY",
        "operation did not complete because the DisableWindowsUpdateAccess policy was set",
        ErrorKind::Policy,
    ),
    (
        0x80240025,
        "WU_E_USER_ACCESS_DISABLED",
        "Group Policy settings prevented access to Windows Update",
        ErrorKind::Policy,
    ),
    (
        0x80244011,
        "WU_E_PT_SUS_SERVER_NOT_SET",
        "WUServer policy value is missing in the registry",
        ErrorKind::Policy,
    ),
    (
        0x80240009,
        "WU_E_OPERATIONINPROGRESS",
        "another conflicting operation was in progress",
        ErrorKind::Busy,
    ),
    (
        0x8024001B,
        "WU_E_SELFUPDATE_IN_PROGRESS",
        "the operation could not be performed because the Windows Update Agent is self-updating",
        ErrorKind::Busy,
    ),
    (
        0x8024800C,
        "WU_E_DS_LOCKTIMEOUTEXPIRED",
        "the data store section could not be locked within the allotted time",
        ErrorKind::Busy,
    ),
    (
        0x8024000B,
        "WU_E_CALL_CANCELLED",
        "operation was canceled",
        ErrorKind::Other,
    ),
    (
        0x80240021,
        "WU_E_TIME_OUT",
        "operation did not complete because it timed out",
        ErrorKind::Other,
    ),
    (
        0x80240032,
        "WU_E_INVALID_CRITERIA",
        "the search criteria string was invalid",
        ErrorKind::Other,
    ),
    (
        0x80248007,
        "WU_E_DS_NODATA",
        "the information requested is not in the data store",
        ErrorKind::Other,
    ),
    (
        0x80240FFF,
        "WU_E_UNEXPECTED",
        "an operation failed due to reasons not covered by another error code",
        ErrorKind::Other,
    ),
];

/// The scan error for a failed WUA call: what was being done, what the
/// code means, and the code itself for a search engine; `system_message`
/// (Windows' own text for the code) is used for codes not in the table.
pub fn error_message(doing: &str, hresult: u32, system_message: &str) -> String {
    match KNOWN_ERRORS.iter().find(|(code, ..)| *code == hresult) {
        Some((_, name, description, kind)) => format!(
            "{} while {doing}: {description} (0x{hresult:08X} {name})",
            kind.summary()
        ),
        None if system_message.trim().is_empty() => {
            format!("Windows Update failed while {doing} (0x{hresult:08X})")
        }
        None => format!(
            "Windows Update failed while {doing}: {} (0x{hresult:08X})",
            system_message.trim().trim_end_matches('.')
        ),
    }
}

/// `SERVICE_DISABLED`, the start type the Service Control Manager reports
/// for a disabled service.
pub const SERVICE_DISABLED: u32 = 4;

/// Why a scan cannot be trusted given the start type of `wuauserv`, if so:
/// a disabled service gets no updates, however empty the last list was.
pub fn service_start_problem(start_type: u32) -> Option<String> {
    (start_type == SERVICE_DISABLED).then(|| {
        "the Windows Update service (wuauserv) is disabled in the Service Control Manager, so this device gets no updates"
            .to_owned()
    })
}

/// A registry value as the reboot signals need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryData {
    Dword(u32),
    Text(String),
    /// `REG_MULTI_SZ`, with empty entries kept (PendingFileRenameOperations
    /// writes an empty target for "delete").
    MultiText(Vec<String>),
    Other,
}

/// Registry value types (winnt.h) that [`registry_data`] decodes.
const REG_SZ: u32 = 1;
const REG_EXPAND_SZ: u32 = 2;
const REG_DWORD: u32 = 4;
const REG_MULTI_SZ: u32 = 7;

/// Decodes a value's raw bytes as `RegQueryValueExW` returns them
/// (little-endian UTF-16 strings).
pub fn registry_data(kind: u32, bytes: &[u8]) -> RegistryData {
    let utf16: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
        .collect();
    match kind {
        REG_DWORD => bytes.get(..4).map_or(RegistryData::Other, |b| {
            RegistryData::Dword(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        }),
        REG_SZ | REG_EXPAND_SZ => {
            let end = utf16.iter().position(|&c| c == 0).unwrap_or(utf16.len());
            RegistryData::Text(String::from_utf16_lossy(&utf16[..end]))
        }
        REG_MULTI_SZ => {
            // The list ends with an empty string; empty entries before it are data.
            let mut entries: Vec<String> = utf16
                .split(|&c| c == 0)
                .map(String::from_utf16_lossy)
                .collect();
            while entries.last().is_some_and(String::is_empty) {
                entries.pop();
            }
            RegistryData::MultiText(entries)
        }
        _ => RegistryData::Other,
    }
}

/// One existing registry key under HKEY_LOCAL_MACHINE.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryKey {
    /// Path below HKLM, e.g. `SOFTWARE\Microsoft\Updates`.
    pub path: String,
    /// The values of [`REBOOT_KEYS`] that exist under it.
    pub values: Vec<(String, RegistryData)>,
}

/// The keys of [`REBOOT_KEYS`] that exist, with their values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistrySnapshot {
    pub keys: Vec<RegistryKey>,
}

impl RegistrySnapshot {
    fn key(&self, path: &str) -> Option<&RegistryKey> {
        self.keys.iter().find(|k| k.path.eq_ignore_ascii_case(path))
    }

    fn value(&self, path: &str, name: &str) -> Option<&RegistryData> {
        self.key(path)?
            .values
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, data)| data)
    }
}

const WU_REBOOT_REQUIRED: &str =
    r"SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired";
const CBS_REBOOT_PENDING: &str =
    r"SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending";
const CBS_REBOOT_IN_PROGRESS: &str =
    r"SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootInProgress";
const CBS_PACKAGES_PENDING: &str =
    r"SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\PackagesPending";
const UPDATES: &str = r"SOFTWARE\Microsoft\Updates";
const UPDATE_EXE_VOLATILE: &str = r"SOFTWARE\Microsoft\Updates\UpdateExeVolatile";
const SESSION_MANAGER: &str = r"SYSTEM\CurrentControlSet\Control\Session Manager";
const ACTIVE_COMPUTER_NAME: &str =
    r"SYSTEM\CurrentControlSet\Control\ComputerName\ActiveComputerName";
const COMPUTER_NAME: &str = r"SYSTEM\CurrentControlSet\Control\ComputerName\ComputerName";
const NETLOGON: &str = r"SYSTEM\CurrentControlSet\Services\Netlogon";

/// The HKLM keys whose existence, and the values under them, that
/// [`reboot_reasons`] reads.
///
/// Left out on purpose, as the usual false positives:
/// `Auto Update\PostRebootReporting` (set after the reboot, until reported),
/// `WindowsUpdate\Services\Pending` (a service registration, not an update)
/// and `RunOnce\DVDRebootSignal` (a setup program's marker).
pub const REBOOT_KEYS: [(&str, &[&str]); 10] = [
    (WU_REBOOT_REQUIRED, &[]),
    (CBS_REBOOT_PENDING, &[]),
    (CBS_REBOOT_IN_PROGRESS, &[]),
    (CBS_PACKAGES_PENDING, &[]),
    (UPDATES, &["UpdateExeVolatile"]),
    (UPDATE_EXE_VOLATILE, &["Flags"]),
    (
        SESSION_MANAGER,
        &[
            "PendingFileRenameOperations",
            "PendingFileRenameOperations2",
        ],
    ),
    (ACTIVE_COMPUTER_NAME, &["ComputerName"]),
    (COMPUTER_NAME, &["ComputerName"]),
    (NETLOGON, &["JoinDomain", "AvoidSpnSet"]),
];

fn reason(source: String, detail: &str, patch_related: bool) -> pb::RebootReason {
    pb::RebootReason {
        source,
        detail: detail.to_owned(),
        patch_related,
        packages: Vec::new(),
    }
}

/// Each registry signal that a reboot is pending, as its own reason.
///
/// Windows Update and Component Based Servicing keys are patch reboots; a
/// pending file rename, computer rename or domain join also needs a reboot
/// but is not one (`patch_related = false`), so alone it raises no patch
/// alert.
pub fn reboot_reasons(registry: &RegistrySnapshot) -> Vec<pb::RebootReason> {
    let hklm = |path: &str| format!(r"HKLM\{path}");
    let mut reasons = Vec::new();
    let keys: [(&str, &str); 4] = [
        (
            WU_REBOOT_REQUIRED,
            "Windows Update installed updates that finish at the next reboot",
        ),
        (
            CBS_REBOOT_PENDING,
            "Windows servicing (CBS) has installed packages that finish at the next reboot",
        ),
        (
            CBS_REBOOT_IN_PROGRESS,
            "Windows servicing (CBS) is in the middle of a reboot-bound operation",
        ),
        (
            CBS_PACKAGES_PENDING,
            "Windows servicing (CBS) has packages waiting for a reboot",
        ),
    ];
    for (path, detail) in keys {
        if registry.key(path).is_some() {
            reasons.push(reason(hklm(path), detail, true));
        }
    }
    let nonzero =
        |data: Option<&RegistryData>| matches!(data, Some(RegistryData::Dword(n)) if *n != 0);
    if nonzero(registry.value(UPDATES, "UpdateExeVolatile"))
        || nonzero(registry.value(UPDATE_EXE_VOLATILE, "Flags"))
    {
        reasons.push(reason(
            hklm(UPDATE_EXE_VOLATILE),
            "an update installer (Update.exe) asked for a reboot",
            true,
        ));
    }
    for name in [
        "PendingFileRenameOperations",
        "PendingFileRenameOperations2",
    ] {
        let Some(RegistryData::MultiText(entries)) = registry.value(SESSION_MANAGER, name) else {
            continue;
        };
        // Entries come in pairs: the file, then its new name (empty: delete it).
        let files = entries
            .chunks(2)
            .filter(|pair| !pair[0].trim().is_empty())
            .count();
        if files > 0 {
            reasons.push(reason(
                format!(r"{}\{name}", hklm(SESSION_MANAGER)),
                &format!(
                    "{files} file operation(s) wait for the next reboot; programs write these too, so alone it is not a patch reboot"
                ),
                false,
            ));
        }
    }
    let name_of = |path| match registry.value(path, "ComputerName") {
        Some(RegistryData::Text(name)) => Some(name.as_str()),
        _ => None,
    };
    if let (Some(active), Some(next)) = (name_of(ACTIVE_COMPUTER_NAME), name_of(COMPUTER_NAME))
        && !active.eq_ignore_ascii_case(next)
    {
        reasons.push(reason(
            hklm(COMPUTER_NAME),
            &format!("the computer is renamed from {active} to {next} at the next reboot"),
            false,
        ));
    }
    if ["JoinDomain", "AvoidSpnSet"]
        .iter()
        .any(|name| registry.value(NETLOGON, name).is_some())
    {
        reasons.push(reason(
            hklm(NETLOGON),
            "a domain join completes at the next reboot",
            false,
        ));
    }
    reasons
}

/// Why a Windows Update job did not deliver a result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkerError {
    #[error(
        "the Windows Update search did not finish within {0} s; it is left running and no new search starts until it ends"
    )]
    TimedOut(u64),
    #[error(
        "the Windows Update search started {0} s ago has not finished (Windows Update may be hung); no second search is started"
    )]
    StillRunning(u64),
    #[error("the Windows Update search thread ended without a result")]
    Lost,
    #[error("cannot start the Windows Update search thread: {0}")]
    Spawn(String),
}

impl From<WorkerError> for CheckError {
    fn from(err: WorkerError) -> Self {
        match err {
            WorkerError::TimedOut(secs) => Self::Timeout(secs),
            other => Self::Failed(other.to_string()),
        }
    }
}

/// Runs Windows Update jobs on their own OS thread, one at a time.
///
/// A hung WUA call cannot be cancelled, so after a timeout the thread is
/// left to finish on its own; until it does, new jobs are refused rather
/// than stacked up behind it.
#[derive(Debug)]
pub struct SearchWorker {
    /// When the running job started; none when idle.
    started: Mutex<Option<Instant>>,
}

impl SearchWorker {
    pub const fn new() -> Self {
        Self {
            started: Mutex::new(None),
        }
    }

    /// Runs `job` on a new thread and waits up to `timeout` for its result.
    pub async fn run<T: Send + 'static>(
        &'static self,
        timeout: Duration,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, WorkerError> {
        {
            let mut started = self.started.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(since) = *started {
                return Err(WorkerError::StillRunning(since.elapsed().as_secs()));
            }
            *started = Some(Instant::now());
        }
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("forewarn-windows-update".to_owned())
            .spawn(move || {
                // Marks the worker idle when the job ends, even by a panic,
                // and before the result is sent, so the receiver finds it idle.
                let idle = IdleOnDrop(self);
                let result = job();
                drop(idle);
                let _ = sender.send(result);
            });
        if let Err(err) = spawned {
            self.mark_idle();
            return Err(WorkerError::Spawn(err.to_string()));
        }
        match tokio::time::timeout(timeout, receiver).await {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(_)) => Err(WorkerError::Lost),
            Err(_) => Err(WorkerError::TimedOut(timeout.as_secs())),
        }
    }

    fn mark_idle(&self) {
        *self.started.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

struct IdleOnDrop(&'static SearchWorker);

impl Drop for IdleOnDrop {
    fn drop(&mut self) {
        self.0.mark_idle();
    }
}

#[cfg(test)]
mod tests;
