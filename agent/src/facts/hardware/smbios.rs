//! Parsing the raw SMBIOS table Windows returns for
//! `GetSystemFirmwareTable('RSMB', 0, …)`: a `RawSMBIOSData` header
//! (calling method, major, minor, DMI revision, table length as u32 LE)
//! followed by the structure table (DMTF DSP0134).
//!
//! Only type 1 (System Information) is read: manufacturer (offset 4),
//! product name (5), serial number (7), each an index into the strings after
//! the structure, and the 16-byte UUID (8). From SMBIOS 2.6 the UUID's first
//! three fields are little-endian; before, they are stored as written. Linux
//! (`product_uuid`) and dmidecode decode it the same way, so one machine gives
//! one UUID on both.

use super::Hardware;

const HEADER_LEN: usize = 8;
const SYSTEM_INFORMATION: u8 = 1;
const END_OF_TABLE: u8 = 127;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SmbiosError {
    #[error("SMBIOS data is {len} bytes, shorter than its 8-byte header")]
    NoHeader { len: usize },
    #[error("SMBIOS header says the table is {declared} bytes but only {present} follow")]
    TableCut { declared: usize, present: usize },
    #[error("SMBIOS structure at byte {offset} is cut short or has no string end")]
    Truncated { offset: usize },
    #[error("SMBIOS table (version {major}.{minor}) has no System Information (type 1) structure")]
    NoSystemInformation { major: u8, minor: u8 },
}

/// The identity in the type 1 structure of a `RawSMBIOSData` buffer.
pub fn system_information(raw: &[u8]) -> Result<Hardware, SmbiosError> {
    let header = raw
        .get(..HEADER_LEN)
        .ok_or(SmbiosError::NoHeader { len: raw.len() })?;
    let (major, minor) = (header[1], header[2]);
    let declared = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
    let table = &raw[HEADER_LEN..];
    let table = table.get(..declared).ok_or(SmbiosError::TableCut {
        declared,
        present: table.len(),
    })?;
    let mut offset = 0;
    while offset + 4 <= table.len() {
        let structure = Structure::at(table, offset)?;
        match structure.kind {
            SYSTEM_INFORMATION => return Ok(structure.system_information((major, minor))),
            END_OF_TABLE => break,
            _ => offset = structure.next,
        }
    }
    Err(SmbiosError::NoSystemInformation { major, minor })
}

/// One structure: its formatted area, its strings, and where the next starts.
struct Structure<'a> {
    kind: u8,
    formatted: &'a [u8],
    strings: Vec<&'a [u8]>,
    next: usize,
}

impl<'a> Structure<'a> {
    fn at(table: &'a [u8], offset: usize) -> Result<Self, SmbiosError> {
        let truncated = || SmbiosError::Truncated { offset };
        let len = usize::from(table[offset + 1]);
        if len < 4 {
            return Err(truncated());
        }
        let formatted = table.get(offset..offset + len).ok_or_else(truncated)?;
        // The string set ends with two NULs (just two when there are no strings).
        let rest = &table[offset + len..];
        let end = rest
            .windows(2)
            .position(|pair| pair == [0, 0])
            .ok_or_else(truncated)?;
        let strings = rest[..end]
            .split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .collect();
        Ok(Self {
            kind: formatted[0],
            formatted,
            strings,
            next: offset + len + end + 2,
        })
    }

    /// String number `field` refers to; 0 means "none".
    fn string(&self, field: usize) -> String {
        let index = usize::from(self.formatted.get(field).copied().unwrap_or(0));
        index
            .checked_sub(1)
            .and_then(|i| self.strings.get(i))
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .unwrap_or_default()
    }

    fn system_information(&self, version: (u8, u8)) -> Hardware {
        let uuid = self
            .formatted
            .get(8..24)
            .map(|bytes| uuid_text(bytes, version >= (2, 6)))
            .unwrap_or_default();
        Hardware::from_firmware(&self.string(4), &self.string(5), &self.string(7), &uuid)
    }
}

fn uuid_text(bytes: &[u8], little_endian_fields: bool) -> String {
    let mut ordered = bytes.to_vec();
    if little_endian_fields {
        ordered[..4].reverse();
        ordered[4..6].reverse();
        ordered[6..8].reverse();
    }
    ordered.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::captured_output;

    /// A `RawSMBIOSData` buffer of SMBIOS `major.minor` around `structures`.
    fn rsmb(major: u8, minor: u8, structures: &[&[u8]]) -> Vec<u8> {
        let table: Vec<u8> = structures.concat();
        let mut raw = vec![0, major, minor, 0];
        raw.extend_from_slice(&u32::try_from(table.len()).unwrap().to_le_bytes());
        raw.extend(table);
        raw
    }

    fn thinkstation_type1() -> Vec<u8> {
        captured_output("facts/windows/smbios-type1-thinkstation-p520.hex")
            .split_whitespace()
            .map(|byte| u8::from_str_radix(byte, 16).unwrap())
            .collect()
    }

    /// A BIOS Information (type 0) structure with one string, as firmware puts first.
    const BIOS: &[u8] =
        b"\x00\x12\x00\x00\x01\x02\x00\xf0\x03\x07\x80\x98\x8b\x3f\x01\x00\x00\x00Award\0\0";
    const END: &[u8] = b"\x7f\x04\xff\xff\0\0";

    /// A type 1 structure with the given UUID bytes and strings.
    fn type1(uuid: [u8; 16], strings: &[u8]) -> Vec<u8> {
        let mut structure = vec![1, 0x1b, 1, 0, 1, 2, 0, 3];
        structure.extend(uuid);
        structure.extend([6, 0, 0]);
        structure.extend(strings);
        structure
    }

    #[test]
    fn captured_thinkstation_structure_gives_dmidecode_identity() {
        // A current version, and 2.6: the first with little-endian UUID fields.
        for (major, minor) in [(3, 2), (2, 6)] {
            let raw = rsmb(major, minor, &[BIOS, &thinkstation_type1(), END]);
            assert_eq!(
                system_information(&raw).unwrap(),
                Hardware {
                    model: "LENOVO 30BFS07500".into(),
                    serial_number: "MN06PQRS".into(),
                    hardware_uuid: "3e2501d2-e648-e811-bad3-7020840f9d47".into(),
                },
                "SMBIOS {major}.{minor}"
            );
        }
    }

    #[test]
    fn before_smbios_2_6_the_uuid_is_read_as_stored() {
        let raw = rsmb(2, 5, &[&thinkstation_type1(), END]);
        assert_eq!(
            system_information(&raw).unwrap().hardware_uuid,
            "d201253e-48e6-11e8-bad3-7020840f9d47"
        );
    }

    #[test]
    fn missing_strings_and_placeholders_are_unknown() {
        // Serial string index 3 points past the two strings present.
        let structure = type1([0x11; 16], b"Default string\0Virtual Machine\0\0");
        let hardware = system_information(&rsmb(3, 0, &[&structure, END])).unwrap();
        assert_eq!(hardware.model, "Virtual Machine");
        assert_eq!(hardware.serial_number, "");
        assert_eq!(
            hardware.hardware_uuid,
            "11111111-1111-1111-1111-111111111111"
        );
        // No strings at all: the string set is just two NULs.
        let structure = type1([0x22; 16], b"\0\0");
        let hardware = system_information(&rsmb(3, 0, &[&structure, END])).unwrap();
        assert_eq!(
            (hardware.model.as_str(), hardware.serial_number.as_str()),
            ("", "")
        );
    }

    #[test]
    fn placeholder_serials_and_unset_uuids_are_unknown() {
        for (uuid, serial) in [
            ([0x00; 16], "To Be Filled By O.E.M."),
            ([0xff; 16], "System Serial Number"),
            ([0x00; 16], "0"),
        ] {
            let strings = format!("Acme\0Box\0{serial}\0\0");
            let structure = type1(uuid, strings.as_bytes());
            let hardware = system_information(&rsmb(3, 4, &[&structure, END])).unwrap();
            assert_eq!(hardware.model, "Acme Box");
            assert_eq!(hardware.serial_number, "", "{serial:?}");
            assert_eq!(hardware.hardware_uuid, "", "{uuid:?}");
        }
    }

    #[test]
    fn smbios_2_0_type1_without_uuid_still_gives_strings() {
        let structure: &[u8] = b"\x01\x08\x01\x00\x01\x02\x00\x03Acme\0Box\0SN-42\0\0";
        let hardware = system_information(&rsmb(2, 0, &[structure, END])).unwrap();
        assert_eq!(hardware.serial_number, "SN-42");
        assert_eq!(hardware.hardware_uuid, "");
    }

    #[test]
    fn broken_tables_are_errors_that_say_where() {
        assert_eq!(
            system_information(&[0, 3, 0]),
            Err(SmbiosError::NoHeader { len: 3 })
        );
        let mut cut = rsmb(3, 2, &[&thinkstation_type1()]);
        cut.truncate(cut.len() - 10);
        assert!(matches!(
            system_information(&cut),
            Err(SmbiosError::TableCut { .. })
        ));
        // The header agrees with the bytes, but the structure's strings never end.
        let type1 = thinkstation_type1();
        let unterminated = &type1[..type1.len() - 2];
        assert_eq!(
            system_information(&rsmb(3, 2, &[BIOS, unterminated])),
            Err(SmbiosError::Truncated { offset: BIOS.len() })
        );
        // A structure whose length runs past the table.
        assert_eq!(
            system_information(&rsmb(3, 2, &[&type1[..20]])),
            Err(SmbiosError::Truncated { offset: 0 })
        );
        assert_eq!(
            system_information(&rsmb(3, 2, &[BIOS, END])),
            Err(SmbiosError::NoSystemInformation { major: 3, minor: 2 })
        );
    }
}
