//! Host facts: what the device is.
//!
//! Names and versions come from `sysinfo` on Linux and macOS, and on Windows
//! from the registry (`windows.rs`, decided by [`windows_version`]: sysinfo
//! reads only a build number there); model, serial number and SMBIOS system
//! UUID from the firmware (see [`hardware`]). The Linux
//! root is `/`, or `$FOREWARN_AGENT_HOST_ROOT` where the host's filesystem is
//! mounted elsewhere (an agent in a container, a test).

pub mod hardware;
#[cfg(windows)]
mod windows;
#[cfg_attr(not(windows), allow(dead_code))]
mod windows_version;

use forewarn_proto::pb;

pub use hardware::Hardware;

/// Version of this agent, reported with every message.
pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// This device's facts. The hardware identity is read once per process.
pub async fn host_facts() -> pb::HostFacts {
    let Hardware {
        model,
        serial_number,
        hardware_uuid,
    } = hardware::this_machine().await;
    let Os {
        name: os_name,
        version: os_version,
        build: os_build,
    } = this_os();
    pb::HostFacts {
        hostname: sysinfo::System::host_name().unwrap_or_default(),
        os_family: os_family().to_owned(),
        os_name,
        os_version,
        os_build,
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

/// The OS's name, version and build as `HostFacts` carries them
/// ("Windows 11 Pro", "23H2", "22631.4037"; "Debian GNU/Linux", "12", "6.1.0-18-amd64").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Os {
    pub name: String,
    pub version: String,
    pub build: String,
}

#[cfg(windows)]
fn this_os() -> Os {
    windows::read()
}

#[cfg(not(windows))]
fn this_os() -> Os {
    Os {
        name: sysinfo::System::name().unwrap_or_default(),
        version: sysinfo::System::os_version().unwrap_or_default(),
        build: sysinfo::System::kernel_version().unwrap_or_default(),
    }
}

fn os_family() -> &'static str {
    match std::env::consts::OS {
        "macos" => "macos",
        "windows" => "windows",
        _ => "linux",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn facts_name_this_host_and_agent() {
        let facts = host_facts().await;
        assert!(!facts.hostname.is_empty());
        assert_eq!(facts.agent_version, AGENT_VERSION);
        assert_eq!(facts.architecture, std::env::consts::ARCH);
    }
}
