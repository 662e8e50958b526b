//! Parsing `ioreg -rd1 -c IOPlatformExpertDevice` (macOS).
//!
//! Each property is one line `"key" = value`; strings are `"text"`, data
//! properties holding text are `<"text">` (`model`, `manufacturer`).

use super::Hardware;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IoregError {
    #[error(
        "ioreg output has neither IOPlatformSerialNumber nor IOPlatformUUID (first line: {first_line:?})"
    )]
    NoPlatformExpert { first_line: String },
}

/// Serial number, platform UUID and model ("manufacturer model") of the
/// platform expert device.
pub fn platform_expert(output: &str) -> Result<Hardware, IoregError> {
    let value = |key: &str| {
        output
            .lines()
            .find_map(|line| property(line, key))
            .unwrap_or_default()
    };
    let serial = value("IOPlatformSerialNumber");
    let uuid = value("IOPlatformUUID");
    if serial.is_empty() && uuid.is_empty() {
        return Err(IoregError::NoPlatformExpert {
            first_line: output.lines().next().unwrap_or_default().to_owned(),
        });
    }
    Ok(Hardware::from_firmware(
        &value("manufacturer"),
        &value("model"),
        &serial,
        &uuid,
    ))
}

/// The text of property `key` on `line`, if the line is that property and
/// its value is text.
fn property(line: &str, key: &str) -> Option<String> {
    let line = line.trim_start_matches([' ', '|', '\t']);
    let rest = line
        .strip_prefix('"')?
        .strip_prefix(key)?
        .strip_prefix('"')?;
    let value = rest.trim_start().strip_prefix('=')?.trim();
    let value = value
        .strip_prefix("<\"")
        .and_then(|v| v.strip_suffix("\">"))
        .or_else(|| value.strip_prefix('"').and_then(|v| v.strip_suffix('"')))?;
    Some(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::captured_output;

    #[test]
    fn apple_silicon_output_gives_serial_uuid_and_model() {
        let hardware =
            platform_expert(&captured_output("facts/macos/ioreg-apple-silicon.txt")).unwrap();
        assert_eq!(hardware.serial_number, "A01BC3QFQ05D");
        assert_eq!(
            hardware.hardware_uuid,
            "1ab2345c-03e4-57d4-a375-1234d48de123"
        );
        assert_eq!(hardware.model, "Apple Inc. MacBookPro17,1");
    }

    #[test]
    fn tree_prefixes_and_keys_that_only_start_alike_are_handled() {
        let output = "  | |   \"IOPlatformUUIDX\" = \"nope\"\n  | |   \"IOPlatformUUID\" = \"0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9\"\n";
        let hardware = platform_expert(output).unwrap();
        assert_eq!(
            hardware.hardware_uuid,
            "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"
        );
        assert_eq!(hardware.serial_number, "");
        assert_eq!(hardware.model, "");
    }

    #[test]
    fn output_without_the_platform_expert_is_an_error_naming_it() {
        let err =
            platform_expert("+-o Root  <class IORegistryEntry, id 0x100000100>\n").unwrap_err();
        assert!(err.to_string().contains("IOPlatformSerialNumber"), "{err}");
        assert!(err.to_string().contains("IORegistryEntry"), "{err}");
    }
}
