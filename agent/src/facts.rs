//! Host facts: what the device is.
//!
//! Names and versions come from `sysinfo` on every OS. Hardware model,
//! serial and system UUID come from DMI on Linux (`/sys/class/dmi/id`, read
//! relative to a root so tests can point it at a fixture tree; serial and
//! UUID need root). The root is `/`, or `$FOREWARN_AGENT_HOST_ROOT` where the
//! host's filesystem is mounted elsewhere (an agent in a container, a test).
//! macOS (`IOPlatformExpertDevice`) and Windows (WMI
//! `Win32_ComputerSystemProduct`) model/serial/UUID are not read yet and are
//! sent empty.

use std::path::Path;

use forewarn_proto::pb;

/// Version of this agent, reported with every message.
pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn host_facts() -> pb::HostFacts {
    let root = std::env::var_os("FOREWARN_AGENT_HOST_ROOT")
        .map_or_else(|| std::path::PathBuf::from("/"), std::path::PathBuf::from);
    let Hardware {
        model,
        serial_number,
        hardware_uuid,
    } = hardware_identity(&root);
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
        hardware_uuid,
    }
}

fn os_family() -> &'static str {
    match std::env::consts::OS {
        "macos" => "macos",
        "windows" => "windows",
        _ => "linux",
    }
}

/// What the firmware says the machine is; empty strings where unknown.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Hardware {
    pub model: String,
    pub serial_number: String,
    /// Lowercase.
    pub hardware_uuid: String,
}

/// Model, serial and system UUID from DMI under `root`; empty strings where
/// unreadable or placeholder.
pub fn hardware_identity(root: &Path) -> Hardware {
    if !cfg!(target_os = "linux") {
        return Hardware::default();
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
    Hardware {
        model,
        serial_number: read("product_serial"),
        hardware_uuid: read("product_uuid").to_ascii_lowercase(),
    }
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
        "00000000-0000-0000-0000-000000000000",
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
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
        std::fs::write(
            dmi.join("product_uuid"),
            "4C4C4544-0042-3510-8052-B4C04F4E3332\n",
        )
        .unwrap();
        let hardware = hardware_identity(root.path());
        assert_eq!(hardware.model, "Dell Inc. Latitude 5440");
        assert_eq!(hardware.serial_number, "");
        assert_eq!(
            hardware.hardware_uuid,
            "4c4c4544-0042-3510-8052-b4c04f4e3332"
        );
        std::fs::write(
            dmi.join("product_uuid"),
            "00000000-0000-0000-0000-000000000000\n",
        )
        .unwrap();
        assert_eq!(hardware_identity(root.path()).hardware_uuid, "");
    }

    #[test]
    fn facts_name_this_host_and_agent() {
        let facts = host_facts();
        assert!(!facts.hostname.is_empty());
        assert_eq!(facts.agent_version, AGENT_VERSION);
        assert_eq!(facts.architecture, std::env::consts::ARCH);
    }
}
