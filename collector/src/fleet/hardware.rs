//! Whether an enrolling machine is one the collector already knows: a
//! re-imaged laptop (new state directory, new key, same hardware) links to
//! its device record instead of leaving a ghost behind.
//!
//! Identity comes from two firmware facts the agent sends: the hardware
//! serial number and the SMBIOS system UUID. Both survive re-imaging (unlike
//! `/etc/machine-id` or Windows' `MachineGuid`), and both are often junk:
//! boards ship "To be filled by O.E.M.", "0", an all-zero UUID. Junk counts
//! as unknown. The rule (documented in docs/deploy.md):
//!
//! - only devices of the group the token enrolls into, not retired;
//! - UUID and serial both known and both equal: the same machine;
//! - only one of them known on both sides and equal: the same machine only
//!   if the hostname is the same too (any case);
//! - any known fact that differs: another machine;
//! - several records fit (ghosts from before this rule): the one seen last.
//!
//! Pure: the store hands in the candidates.

use crate::store::DeviceRecord;

/// Serial numbers firmware writes when nobody set one.
const JUNK_SERIALS: &[&str] = &[
    "to be filled by o.e.m.",
    "to be filled by oem",
    "default string",
    "system serial number",
    "not specified",
    "not applicable",
    "none",
    "n/a",
    "na",
    "invalid",
    "unknown",
    "0",
    "00000000",
    "0123456789",
    "123456789",
    "chassis serial number",
    "serial number",
];

/// System UUIDs that many boards share.
const JUNK_UUIDS: &[&str] = &[
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "03000200-0400-0500-0006-000700080009",
    "00020003-0004-0005-0006-000700080009",
];

/// The firmware facts of one machine, junk already dropped (empty = unknown).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HardwareIdentity {
    pub serial_number: String,
    /// Lowercase.
    pub hardware_uuid: String,
}

impl HardwareIdentity {
    /// From what the agent sent; placeholders become unknown.
    pub fn from_facts(serial_number: &str, hardware_uuid: &str) -> Self {
        let serial = serial_number.trim();
        let serial = if JUNK_SERIALS
            .iter()
            .any(|junk| serial.eq_ignore_ascii_case(junk))
            || serial.chars().all(|c| c == '0' || c == ' ' || c == '-')
        {
            ""
        } else {
            serial
        };
        let uuid = hardware_uuid.trim().to_ascii_lowercase();
        let uuid =
            if JUNK_UUIDS.contains(&uuid.as_str()) || uuid.chars().all(|c| c == '0' || c == '-') {
                String::new()
            } else {
                uuid
            };
        Self {
            serial_number: serial.to_owned(),
            hardware_uuid: uuid,
        }
    }

    pub fn is_unknown(&self) -> bool {
        self.serial_number.is_empty() && self.hardware_uuid.is_empty()
    }
}

/// A device the store found with a serial or UUID in common.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownMachine {
    pub device: DeviceRecord,
    pub hardware: HardwareIdentity,
}

/// Why an enrolling machine was taken for a known device; logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchBasis {
    UuidAndSerial,
    UuidAndHostname,
    SerialAndHostname,
}

impl MatchBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchBasis::UuidAndSerial => "hardware UUID and serial",
            MatchBasis::UuidAndHostname => "hardware UUID and hostname",
            MatchBasis::SerialAndHostname => "serial and hostname",
        }
    }
}

/// Whether `known` is the machine now enrolling as `hostname` with `hardware`.
pub fn same_machine(
    hardware: &HardwareIdentity,
    hostname: &str,
    known: &KnownMachine,
) -> Option<MatchBasis> {
    let fact = |new: &str, old: &str| match (new.is_empty(), old.is_empty()) {
        (false, false) if new == old => Some(true),
        (false, false) => Some(false),
        _ => None,
    };
    let uuid = fact(&hardware.hardware_uuid, &known.hardware.hardware_uuid);
    let serial = fact(&hardware.serial_number, &known.hardware.serial_number);
    let same_host =
        || !hostname.is_empty() && hostname.eq_ignore_ascii_case(&known.device.hostname);
    match (uuid, serial) {
        (Some(false), _) | (_, Some(false)) => None,
        (Some(true), Some(true)) => Some(MatchBasis::UuidAndSerial),
        (Some(true), None) if same_host() => Some(MatchBasis::UuidAndHostname),
        (None, Some(true)) if same_host() => Some(MatchBasis::SerialAndHostname),
        _ => None,
    }
}

/// The known device an enrolling machine is, if any: the last seen of those
/// that fit (see the module's rule).
pub fn existing_device<'a>(
    hardware: &HardwareIdentity,
    hostname: &str,
    group: &str,
    known: &'a [KnownMachine],
) -> Option<(&'a KnownMachine, MatchBasis)> {
    if hardware.is_unknown() {
        return None;
    }
    known
        .iter()
        .filter(|machine| machine.device.group == group && machine.device.retired_at.is_none())
        .filter_map(|machine| {
            same_machine(hardware, hostname, machine).map(|basis| (machine, basis))
        })
        .max_by_key(|(machine, _)| {
            (
                machine.device.last_seen_at.unwrap_or(i64::MIN),
                machine.device.enrolled_at,
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "4c4c4544-0042-3510-8052-b4c04f4e3332";

    fn known(id: &str, hostname: &str, serial: &str, uuid: &str) -> KnownMachine {
        KnownMachine {
            device: DeviceRecord {
                id: id.into(),
                group: "laptops".into(),
                hostname: hostname.into(),
                os: "Debian 12".into(),
                agent_version: "0.1.0".into(),
                enrolled_at: 100,
                retired_at: None,
                cert_serial: "01".into(),
                cert_not_after: 1_000,
                last_seen_at: Some(500),
                last_seq: 3,
            },
            hardware: HardwareIdentity::from_facts(serial, uuid),
        }
    }

    #[test]
    fn placeholder_serials_and_uuids_are_unknown() {
        for serial in [
            "To be filled by O.E.M.",
            "0",
            "System Serial Number",
            " Default string ",
            "0000000000",
            "",
        ] {
            assert_eq!(
                HardwareIdentity::from_facts(serial, "").serial_number,
                "",
                "{serial:?}"
            );
        }
        for uuid in [
            "00000000-0000-0000-0000-000000000000",
            "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
            "03000200-0400-0500-0006-000700080009",
        ] {
            assert_eq!(
                HardwareIdentity::from_facts("", uuid).hardware_uuid,
                "",
                "{uuid}"
            );
        }
        let real = HardwareIdentity::from_facts(" 5CG1234XYZ ", &UUID.to_uppercase());
        assert_eq!(real.serial_number, "5CG1234XYZ");
        assert_eq!(real.hardware_uuid, UUID);
    }

    #[test]
    fn the_same_hardware_is_matched_as_the_rule_says() {
        let cases = [
            // (new serial, new uuid, new hostname, known serial, known uuid, known hostname, match)
            (
                "SN1",
                UUID,
                "renamed",
                "SN1",
                UUID,
                "laptop-1",
                Some(MatchBasis::UuidAndSerial),
            ),
            (
                "",
                UUID,
                "LAPTOP-1",
                "SN1",
                UUID,
                "laptop-1",
                Some(MatchBasis::UuidAndHostname),
            ),
            ("", UUID, "renamed", "SN1", UUID, "laptop-1", None),
            (
                "SN1",
                "",
                "laptop-1",
                "SN1",
                UUID,
                "laptop-1",
                Some(MatchBasis::SerialAndHostname),
            ),
            ("SN1", "", "renamed", "SN1", "", "laptop-1", None),
            ("SN2", UUID, "laptop-1", "SN1", UUID, "laptop-1", None),
            (
                "SN1",
                "11111111-2222-3333-4444-555555555555",
                "laptop-1",
                "SN1",
                UUID,
                "laptop-1",
                None,
            ),
            (
                "0",
                "00000000-0000-0000-0000-000000000000",
                "laptop-1",
                "0",
                "00000000-0000-0000-0000-000000000000",
                "laptop-1",
                None,
            ),
            (
                "To be filled by O.E.M.",
                UUID,
                "vm",
                "To be filled by O.E.M.",
                UUID,
                "VM",
                Some(MatchBasis::UuidAndHostname),
            ),
        ];
        for (serial, uuid, hostname, old_serial, old_uuid, old_hostname, expected) in cases {
            let hardware = HardwareIdentity::from_facts(serial, uuid);
            let machine = known("d1", old_hostname, old_serial, old_uuid);
            assert_eq!(
                existing_device(
                    &hardware,
                    hostname,
                    "laptops",
                    std::slice::from_ref(&machine)
                )
                .map(|(_, basis)| basis),
                expected,
                "{serial} {uuid} {hostname} vs {old_serial} {old_uuid} {old_hostname}"
            );
        }
    }

    #[test]
    fn another_group_or_a_retired_device_is_never_taken() {
        let hardware = HardwareIdentity::from_facts("SN1", UUID);
        let mut other_group = known("d1", "laptop-1", "SN1", UUID);
        other_group.device.group = "servers".into();
        let mut retired = known("d2", "laptop-1", "SN1", UUID);
        retired.device.retired_at = Some(400);
        assert_eq!(
            existing_device(&hardware, "laptop-1", "laptops", &[other_group, retired]),
            None
        );
    }

    #[test]
    fn among_ghosts_the_device_seen_last_is_taken() {
        let hardware = HardwareIdentity::from_facts("SN1", UUID);
        let mut ghost = known("ghost", "laptop-1", "SN1", UUID);
        ghost.device.last_seen_at = None;
        let live = known("live", "laptop-1", "SN1", UUID);
        let known = [ghost, live];
        let found = existing_device(&hardware, "laptop-1", "laptops", &known);
        assert_eq!(found.map(|(m, _)| m.device.id.as_str()), Some("live"));
    }
}
