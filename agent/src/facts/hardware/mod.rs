//! Hardware identity: model, serial number and SMBIOS system UUID.
//!
//! The collector links a re-imaged machine to its old device record by these
//! (collector/src/fleet/hardware.rs), so the same machine must give the same
//! values whichever OS or method read them: placeholders are dropped here for
//! every OS, and UUIDs are lower-case 8-4-4-4-12.
//!
//! What each OS file provides:
//! - `linux.rs`: DMI under `<root>/sys/class/dmi/id` (serial and UUID need root).
//! - `macos.rs`: nothing of its own; `ioreg -rd1 -c IOPlatformExpertDevice`
//!   runs through [`from_ioreg`] (the command runner), parsed by `ioreg.rs`.
//! - `windows.rs`: the raw SMBIOS table from `GetSystemFirmwareTable('RSMB')`,
//!   no process spawned, parsed by `smbios.rs` (type 1, System Information).
//!
//! The parsers compile and are tested on every OS. Read once per process:
//! firmware facts change only with new hardware, which restarts the agent.

mod ioreg;
#[cfg(target_os = "linux")]
mod linux;
#[cfg_attr(not(windows), allow(dead_code))]
mod smbios;
#[cfg(windows)]
mod windows;

use std::time::Duration;

use tokio::sync::OnceCell;

use crate::command::{CommandRunner, CommandSpec};

/// What the firmware says the machine is; empty strings where unknown.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Hardware {
    pub model: String,
    pub serial_number: String,
    /// Lower-case 8-4-4-4-12.
    pub hardware_uuid: String,
}

impl Hardware {
    /// Builds the identity from raw firmware strings: placeholders become
    /// empty, the model is "vendor product" (once if the product already
    /// names the vendor), the UUID canonical.
    pub fn from_firmware(vendor: &str, product: &str, serial: &str, uuid: &str) -> Self {
        let vendor = meaningful_value(vendor);
        let product = meaningful_value(product);
        let model = match (vendor.is_empty(), product.is_empty()) {
            (false, false) if !product.starts_with(&vendor) => format!("{vendor} {product}"),
            (_, false) => product,
            _ => vendor,
        };
        Self {
            model,
            serial_number: meaningful_value(serial),
            hardware_uuid: canonical_uuid(uuid),
        }
    }
}

/// This machine's identity, read on the first call and kept for the process.
pub async fn this_machine() -> Hardware {
    static HARDWARE: OnceCell<Hardware> = OnceCell::const_new();
    HARDWARE.get_or_init(read).await.clone()
}

#[cfg(target_os = "linux")]
async fn read() -> Hardware {
    let root = std::env::var_os("FOREWARN_AGENT_HOST_ROOT")
        .map_or_else(|| std::path::PathBuf::from("/"), std::path::PathBuf::from);
    linux::read(&root)
}

#[cfg(target_os = "macos")]
async fn read() -> Hardware {
    from_ioreg(&crate::command::SystemCommandRunner).await
}

#[cfg(windows)]
async fn read() -> Hardware {
    windows::read()
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
async fn read() -> Hardware {
    Hardware::default()
}

/// How long `ioreg` may take; it answers in milliseconds on a healthy Mac.
const IOREG_TIMEOUT: Duration = Duration::from_secs(15);

/// The identity from `ioreg -rd1 -c IOPlatformExpertDevice`; empty (with a
/// warning saying why) when it cannot be run or read.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
async fn from_ioreg(runner: &dyn CommandRunner) -> Hardware {
    let spec = CommandSpec::new("/usr/sbin/ioreg", ["-rd1", "-c", "IOPlatformExpertDevice"])
        .timeout(IOREG_TIMEOUT)
        .low_priority();
    let output = match runner.run(&spec).await {
        Ok(output) if output.success() => output,
        Ok(output) => {
            tracing::debug!(stderr = %output.stderr_text().trim(), "ioreg error output");
            tracing::warn!(
                exit_code = ?output.exit_code,
                "ioreg failed; this Mac's serial number and hardware UUID are not sent, so a re-install will not be linked to its device record"
            );
            return Hardware::default();
        }
        Err(err) => {
            tracing::warn!(error = %err, "cannot read this Mac's serial number and hardware UUID; a re-install will not be linked to its device record");
            return Hardware::default();
        }
    };
    match ioreg::platform_expert(&output.stdout_text()) {
        Ok(hardware) => hardware,
        Err(err) => {
            tracing::warn!(error = %err, "cannot read this Mac's serial number and hardware UUID; a re-install will not be linked to its device record");
            Hardware::default()
        }
    }
}

/// Firmware often fills unset fields with placeholders; those mean "unknown".
fn meaningful_value(raw: &str) -> String {
    let value = raw.trim();
    let placeholder = [
        "to be filled by o.e.m.",
        "default string",
        "system serial number",
        "system product name",
        "system manufacturer",
        "not specified",
        "not applicable",
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

/// The UUID as lower-case 8-4-4-4-12, or empty when it is not a UUID or is
/// all zeros / all F (SMBIOS: "not set" / "not present").
fn canonical_uuid(raw: &str) -> String {
    let digits: String = raw
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .chars()
        .filter(|c| *c != '-')
        .collect::<String>()
        .to_ascii_lowercase();
    let unknown = digits.len() != 32
        || !digits.chars().all(|c| c.is_ascii_hexdigit())
        || digits.chars().all(|c| c == '0')
        || digits.chars().all(|c| c == 'f');
    if unknown {
        return String::new();
    }
    format!(
        "{}-{}-{}-{}-{}",
        &digits[..8],
        &digits[8..12],
        &digits[12..16],
        &digits[16..20],
        &digits[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::scripted::ScriptedCommandRunner;
    use crate::fixtures::captured_output;

    const IOREG: [&str; 4] = ["/usr/sbin/ioreg", "-rd1", "-c", "IOPlatformExpertDevice"];

    #[test]
    fn placeholders_are_unknown_on_every_os() {
        for junk in [
            "To be filled by O.E.M.",
            "Default string",
            "0",
            "System Serial Number",
            "None",
            "  not specified \n",
        ] {
            let hardware = Hardware::from_firmware(junk, junk, junk, junk);
            assert_eq!(hardware, Hardware::default(), "{junk:?}");
        }
        for uuid in [
            "00000000-0000-0000-0000-000000000000",
            "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
            "not-a-uuid",
            "4C4C4544-0042-3510-8052-B4C04F4E33",
        ] {
            assert_eq!(canonical_uuid(uuid), "", "{uuid:?}");
        }
    }

    #[test]
    fn uuids_are_canonical_whatever_the_spelling() {
        for (spelling, expected) in [
            (
                "4C4C4544-0042-3510-8052-B4C04F4E3332",
                "4c4c4544-0042-3510-8052-b4c04f4e3332",
            ),
            (
                "{4c4c4544-0042-3510-8052-b4c04f4e3332}",
                "4c4c4544-0042-3510-8052-b4c04f4e3332",
            ),
            (
                "4C4C4544004235108052B4C04F4E3332\n",
                "4c4c4544-0042-3510-8052-b4c04f4e3332",
            ),
            ("4C4C454400423510 8052B4C04F4E3332", ""),
        ] {
            assert_eq!(canonical_uuid(spelling), expected, "{spelling:?}");
        }
    }

    #[test]
    fn model_names_the_vendor_once() {
        assert_eq!(
            Hardware::from_firmware("Dell Inc.", "Latitude 5440", "", "").model,
            "Dell Inc. Latitude 5440"
        );
        assert_eq!(
            Hardware::from_firmware("HP", "HP EliteBook 840 G8", "", "").model,
            "HP EliteBook 840 G8"
        );
        assert_eq!(
            Hardware::from_firmware("LENOVO", "Default string", "", "").model,
            "LENOVO"
        );
    }

    #[tokio::test]
    async fn ioreg_run_through_the_runner_gives_the_mac_identity() {
        let runner = ScriptedCommandRunner::default();
        runner.answer(
            &IOREG,
            0,
            &captured_output("facts/macos/ioreg-apple-silicon.txt"),
            "",
        );
        assert_eq!(
            from_ioreg(&runner).await,
            Hardware {
                model: "Apple Inc. MacBookPro17,1".into(),
                serial_number: "A01BC3QFQ05D".into(),
                hardware_uuid: "1ab2345c-03e4-57d4-a375-1234d48de123".into(),
            }
        );
    }

    #[tokio::test]
    async fn ioreg_missing_or_failing_gives_an_empty_identity() {
        let runner = ScriptedCommandRunner::default();
        assert_eq!(from_ioreg(&runner).await, Hardware::default());
        runner.answer(&IOREG, 1, "", "ioreg: error");
        assert_eq!(from_ioreg(&runner).await, Hardware::default());
    }
}
