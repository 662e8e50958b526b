//! Host facts: what the device is.
//!
//! Names and versions come from `sysinfo` on every OS; model, serial number
//! and SMBIOS system UUID from the firmware (see [`hardware`]). The Linux
//! root is `/`, or `$FOREWARN_AGENT_HOST_ROOT` where the host's filesystem is
//! mounted elsewhere (an agent in a container, a test).

pub mod hardware;

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
