//! Which Windows this is, as people name it: "Windows 11 Pro", version
//! "23H2", build "22631.4037" (what `winver` and Settings > About show).
//!
//! Read from the values under `HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion`
//! (`windows.rs` reads them; this file decides, and is tested on every OS
//! with captured `reg query` output). The registry, not `GetVersionEx`: that
//! API answers 6.2 to a program without a compatibility manifest, and the
//! registry also has what no version API gives (the feature release such as
//! "23H2", the monthly update revision, the edition).
//!
//! What each value means, and its traps:
//! - `ProductName` names edition and product, but Windows 11 kept Windows 10's
//!   ("Windows 10 Pro" on 11 Pro): a client build of 22000 or later is Windows 11.
//!   Wine and Windows before 8 put "Microsoft " in front.
//! - `DisplayVersion` ("22H2", since Windows 10 20H2), else `ReleaseId` ("1909";
//!   frozen at "2009" since then), else the service pack (`CSDVersion`, Windows 7
//!   and older), else the kernel version (`CurrentMajorVersionNumber`.
//!   `CurrentMinorVersionNumber` on 10 and later, `CurrentVersion` before; the
//!   latter says "6.3" on Windows 10 and 11 for old programs' sake).
//! - `CurrentBuild` is the real build; `CurrentBuildNumber` is faked for a
//!   program in compatibility mode, so it is only the fallback. `UBR` (a DWORD)
//!   is the revision the monthly cumulative update sets.

use super::Os;

/// The values of `HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion` that name
/// the running Windows; `None` where the value is missing or of another type.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CurrentVersionKey {
    pub product_name: Option<String>,
    pub display_version: Option<String>,
    pub release_id: Option<String>,
    pub csd_version: Option<String>,
    pub current_major_version_number: Option<u32>,
    pub current_minor_version_number: Option<u32>,
    pub current_version: Option<String>,
    pub current_build: Option<String>,
    pub current_build_number: Option<String>,
    pub ubr: Option<u32>,
}

impl CurrentVersionKey {
    /// The string values this reads, by their registry names.
    pub const STRING_VALUES: [&'static str; 7] = [
        "ProductName",
        "DisplayVersion",
        "ReleaseId",
        "CSDVersion",
        "CurrentVersion",
        "CurrentBuild",
        "CurrentBuildNumber",
    ];
    /// The DWORD values this reads, by their registry names.
    pub const DWORD_VALUES: [&'static str; 3] = [
        "CurrentMajorVersionNumber",
        "CurrentMinorVersionNumber",
        "UBR",
    ];

    /// Sets the string value `name` (one of [`Self::STRING_VALUES`]; others are ignored).
    pub fn set_string(&mut self, name: &str, value: String) {
        let slot = match name {
            "ProductName" => &mut self.product_name,
            "DisplayVersion" => &mut self.display_version,
            "ReleaseId" => &mut self.release_id,
            "CSDVersion" => &mut self.csd_version,
            "CurrentVersion" => &mut self.current_version,
            "CurrentBuild" => &mut self.current_build,
            "CurrentBuildNumber" => &mut self.current_build_number,
            _ => return,
        };
        *slot = Some(value);
    }

    /// Sets the DWORD value `name` (one of [`Self::DWORD_VALUES`]; others are ignored).
    pub fn set_dword(&mut self, name: &str, value: u32) {
        let slot = match name {
            "CurrentMajorVersionNumber" => &mut self.current_major_version_number,
            "CurrentMinorVersionNumber" => &mut self.current_minor_version_number,
            "UBR" => &mut self.ubr,
            _ => return,
        };
        *slot = Some(value);
    }
}

/// First build of Windows 11 (21H2); Windows 10's last feature release is 19045.
const FIRST_WINDOWS_11_BUILD: u32 = 22000;

/// Name: "Windows 11 Pro", "Windows Server 2022 Standard"; "Windows" when the
/// key says nothing. Version: the feature release ("23H2", "1909"), the
/// service pack ("SP1") or the kernel version ("6.3"). Build: "22631.4037"
/// (build and update revision), "19045" without `UBR`. Empty when unknown.
pub fn windows_version(key: &CurrentVersionKey) -> Os {
    let build = [&key.current_build, &key.current_build_number]
        .into_iter()
        .filter_map(|value| non_empty(value.as_deref()))
        .find_map(|value| value.parse::<u32>().ok());
    Os {
        name: product_name(non_empty(key.product_name.as_deref()), build),
        version: release(key),
        build: match (build, key.ubr) {
            (Some(build), Some(ubr)) => format!("{build}.{ubr}"),
            (Some(build), None) => build.to_string(),
            (None, _) => String::new(),
        },
    }
}

fn product_name(product_name: Option<&str>, build: Option<u32>) -> String {
    let Some(name) = product_name else {
        return "Windows".to_owned();
    };
    let name = name.strip_prefix("Microsoft ").unwrap_or(name);
    match name.strip_prefix("Windows 10") {
        Some(edition) if build.is_some_and(|build| build >= FIRST_WINDOWS_11_BUILD) => {
            format!("Windows 11{edition}")
        }
        _ => name.to_owned(),
    }
}

fn release(key: &CurrentVersionKey) -> String {
    if let Some(release) =
        non_empty(key.display_version.as_deref()).or_else(|| non_empty(key.release_id.as_deref()))
    {
        return release.to_owned();
    }
    if let Some(service_pack) = non_empty(key.csd_version.as_deref()) {
        return match service_pack.strip_prefix("Service Pack ") {
            Some(number) => format!("SP{number}"),
            None => service_pack.to_owned(),
        };
    }
    match (
        key.current_major_version_number,
        key.current_minor_version_number,
    ) {
        (Some(major), minor) => format!("{major}.{}", minor.unwrap_or(0)),
        (None, _) => non_empty(key.current_version.as_deref())
            .unwrap_or_default()
            .to_owned(),
    }
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::captured_output;

    /// The key from `reg query` output: `    Name    REG_TYPE    data` lines.
    fn reg_query(output: &str) -> CurrentVersionKey {
        let mut key = CurrentVersionKey::default();
        for line in output.lines().filter(|line| line.starts_with("    ")) {
            let mut fields = line.trim_start().splitn(3, "    ");
            let (Some(name), Some(kind)) = (fields.next(), fields.next()) else {
                continue;
            };
            let data = fields.next().unwrap_or_default().to_owned();
            match kind.trim() {
                "REG_SZ" => key.set_string(name, data),
                "REG_DWORD" => {
                    let hex = data.trim_start_matches("0x");
                    key.set_dword(name, u32::from_str_radix(hex, 16).unwrap());
                }
                _ => {}
            }
        }
        key
    }

    fn fixture(name: &str) -> Os {
        windows_version(&reg_query(&captured_output(&format!(
            "facts/windows/{name}"
        ))))
    }

    #[test]
    fn windows_11_is_named_11_though_its_product_name_says_10() {
        assert_eq!(
            fixture("reg-query-currentversion-win11-23h2.txt"),
            Os {
                name: "Windows 11 Pro".into(),
                version: "23H2".into(),
                build: "22631".into(),
            }
        );
    }

    #[test]
    fn windows_10_keeps_its_name_and_its_display_version_wins_over_release_id() {
        assert_eq!(
            fixture("reg-query-currentversion-win10-22h2.txt"),
            Os {
                name: "Windows 10 Enterprise".into(),
                version: "22H2".into(),
                build: "19045".into(),
            }
        );
    }

    #[test]
    fn wine_reads_as_the_windows_it_imitates() {
        assert_eq!(
            fixture("reg-query-currentversion-wine8.txt"),
            Os {
                name: "Windows 7".into(),
                version: "SP1".into(),
                build: "7601".into(),
            }
        );
    }

    #[test]
    fn the_update_revision_follows_the_build() {
        let mut key = reg_query(&captured_output(
            "facts/windows/reg-query-currentversion-win11-23h2.txt",
        ));
        key.set_dword("UBR", 0x10dd);
        assert_eq!(windows_version(&key).build, "22631.4317");
    }

    #[test]
    fn the_real_build_wins_over_the_compatibility_mode_one() {
        let key = CurrentVersionKey {
            current_build: Some("22631".into()),
            current_build_number: Some("7601".into()),
            product_name: Some("Windows 10 Pro".into()),
            ..CurrentVersionKey::default()
        };
        let version = windows_version(&key);
        assert_eq!(
            (version.name.as_str(), version.build.as_str()),
            ("Windows 11 Pro", "22631")
        );
    }

    #[test]
    fn server_names_are_kept_whatever_the_build() {
        let key = CurrentVersionKey {
            product_name: Some("Windows Server 2025 Datacenter".into()),
            display_version: Some("24H2".into()),
            current_build: Some("26100".into()),
            ubr: Some(1742),
            ..CurrentVersionKey::default()
        };
        assert_eq!(
            windows_version(&key),
            Os {
                name: "Windows Server 2025 Datacenter".into(),
                version: "24H2".into(),
                build: "26100.1742".into(),
            }
        );
    }

    #[test]
    fn without_a_release_name_the_kernel_version_is_the_version() {
        let ten = CurrentVersionKey {
            current_major_version_number: Some(10),
            current_minor_version_number: Some(0),
            current_version: Some("6.3".into()),
            ..CurrentVersionKey::default()
        };
        assert_eq!(windows_version(&ten).version, "10.0");
        let eight_one = CurrentVersionKey {
            current_version: Some("6.3".into()),
            ..CurrentVersionKey::default()
        };
        assert_eq!(windows_version(&eight_one).version, "6.3");
    }

    #[test]
    fn an_unreadable_key_gives_windows_and_nothing_made_up() {
        let empty = CurrentVersionKey {
            product_name: Some("  ".into()),
            current_build: Some("not a number".into()),
            ubr: Some(5),
            ..CurrentVersionKey::default()
        };
        assert_eq!(
            windows_version(&empty),
            Os {
                name: "Windows".into(),
                version: String::new(),
                build: String::new(),
            }
        );
    }
}
