//! The pure patch parsers and the Windows Update mapping, reachable from the
//! `fuzz/` crate. Compiled only with the `fuzzing` feature: the agent itself
//! never needs them public.

use forewarn_proto::pb;

pub use super::parse::*;
pub use super::wua::{
    Category, HistoryRecord, ORC_SUCCEEDED, REBOOT_KEYS, RegistryData, RegistryKey,
    RegistrySnapshot, UO_INSTALLATION, UpdateRecord, WuaSearch, error_message,
    last_successful_install, ole_date_to_unix, pending_update, reboot_reasons, registry_data,
    service_start_problem,
};

/// What a finished Windows Update search becomes, as the patch check keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct WuaScan {
    pub pending: Vec<pb::PendingUpdate>,
    pub reboot_reasons: Vec<pb::RebootReason>,
    pub last_refresh: Option<i64>,
    pub last_install: Option<i64>,
}

/// `scan_from`: a search's records to the check's scan, or its error message.
pub fn wua_scan(search: WuaSearch) -> Result<WuaScan, String> {
    super::wua::scan_from(search)
        .map(|scan| WuaScan {
            pending: scan.pending,
            reboot_reasons: scan.reboot_reasons,
            last_refresh: scan.last_refresh,
            last_install: scan.last_install,
        })
        .map_err(|err| err.to_string())
}
