//! Host facts: what the device is.
//!
//! Names and versions come from `sysinfo` on every OS. Hardware model and
//! serial come from DMI on Linux (`/sys/class/dmi/id`, read relative to a root
//! so tests can point it at a fixture tree; the serial needs root). macOS
//! (`IOPlatformExpertDevice`) and Windows (WMI `Win32_ComputerSystemProduct`)
//! model/serial are not read yet and are sent empty.

use std::path::Path;

use forewarn_proto::pb;

/// Version of this agent, reported with every message.
pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn host_facts() -> pb::HostFacts {
    let (model, serial_number) = hardware_identity(Path::new("/"));
    pb::HostFacts {
        hostname: sysinfo::System::host_name().unwrap_or_default(),
        os_family: os_family().to_owned(),
        os_name: sysinfo::System::name().unwrap_or_default(),
        os_version: sysinfo::System::os_version().unwrap_or_default(),
        os_build: sysinfo::System::kernel_version().unwrap_or_default(),
        architecture: std::env::consts::ARCH.to_owned(),
        model,
        serial_number,
        boot_time_unix_secs: sysinfo::System::boot_time()
            .ok()
            .and_then(|t| i64::try_from(t).ok())
            .filter(|t| *t > 0),
        agent_version: AGENT_VERSION.to_owned(),
        primary_user: String::new(),
    }
}

fn os_family() -> &'static str {
    match std::env::consts::OS {
        "macos" => "macos",
        "windows" => "windows",
        _ => "linux",
    }
}

/// Model and serial from DMI under `root`; empty strings where unreadable or placeholder.
pub fn hardware_identity(root: &Path) -> (String, String) {
    if !cfg!(target_os = "linux") {
        return (String::new(), String::new());
    }
    let dmi = root.join("sys/class/dmi/id");
    let read = |name: &str| {
        std::fs::read_to_string(dmi.join(name))
            .map(|value| meaningful_dmi_value(&value))
            .unwrap_or_default()
    };
    let vendor = read("sys_vendor");
    let product = read("product_name");
    let model = match (vendor.is_empty(), product.is_empty()) {
        (false, false) if !product.starts_with(&vendor) => format!("{vendor} {product}"),
        (_, false) => product,
        _ => vendor,
    };
    (model, read("product_serial"))
}

/// Firmware often fills unset DMI fields with placeholders; those mean "unknown".
fn meaningful_dmi_value(raw: &str) -> String {
    let value = raw.trim();
    let placeholder = [
        "to be filled by o.e.m.",
        "default string",
        "system serial number",
        "not specified",
        "none",
        "0",
    ]
    .iter()
    .any(|p| value.eq_ignore_ascii_case(p));
    if placeholder {
        String::new()
    } else {
        value.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn dmi_model_and_serial_are_read_and_placeholders_dropped() {
        let root = tempfile::tempdir().unwrap();
        let dmi = root.path().join("sys/class/dmi/id");
        std::fs::create_dir_all(&dmi).unwrap();
        std::fs::write(dmi.join("sys_vendor"), "Dell Inc.\n").unwrap();
        std::fs::write(dmi.join("product_name"), "Latitude 5440\n").unwrap();
        std::fs::write(dmi.join("product_serial"), "To Be Filled By O.E.M.\n").unwrap();
        let (model, serial) = hardware_identity(root.path());
        assert_eq!(model, "Dell Inc. Latitude 5440");
        assert_eq!(serial, "");
    }

    #[test]
    fn facts_name_this_host_and_agent() {
        let facts = host_facts();
        assert!(!facts.hostname.is_empty());
        assert_eq!(facts.agent_version, AGENT_VERSION);
        assert_eq!(facts.architecture, std::env::consts::ARCH);
    }
}
