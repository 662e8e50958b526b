//! Linux: DMI under `<root>/sys/class/dmi/id`. `product_serial` and
//! `product_uuid` are readable by root only.

use std::path::Path;

use super::Hardware;

/// The identity from DMI under `root`; empty where unreadable.
pub fn read(root: &Path) -> Hardware {
    let dmi = root.join("sys/class/dmi/id");
    let read = |name: &str| std::fs::read_to_string(dmi.join(name)).unwrap_or_default();
    Hardware::from_firmware(
        &read("sys_vendor"),
        &read("product_name"),
        &read("product_serial"),
        &read("product_uuid"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
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
        let hardware = read(root.path());
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
        assert_eq!(read(root.path()).hardware_uuid, "");
    }
}
