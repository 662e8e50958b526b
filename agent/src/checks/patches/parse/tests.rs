use super::*;

fn fixture(path: &str) -> String {
    crate::fixtures::captured_output(&format!("patches/{path}"))
}

#[test]
fn debian_security_upgrade_is_flagged_security() {
    let pending = apt_simulation(&fixture("linux/apt-get-s-debian-security.txt")).unwrap();
    assert_eq!(pending.len(), 117);
    let gcrypt = pending.iter().find(|p| p.name == "libgcrypt20").unwrap();
    assert_eq!(gcrypt.installed_version, "1.10.1-3");
    assert_eq!(gcrypt.candidate_version, "1.10.1-3+deb12u1");
    assert!(gcrypt.security, "{gcrypt:?}");
    assert_eq!(
        gcrypt.source,
        "Debian:12.15/oldstable, Debian-Security:12/oldstable-security"
    );
    let base = pending.iter().find(|p| p.name == "base-files").unwrap();
    assert!(!base.security, "{base:?}");
    assert_eq!(base.source, "Debian:12.15/oldstable");
    assert_eq!(pending.iter().filter(|p| p.security).count(), 66);
    assert!(pending.iter().all(|p| !p.phased));
}

#[test]
fn ubuntu_phased_updates_are_counted_apart() {
    let pending = apt_simulation(&fixture("linux/apt-get-s-ubuntu-phasing.txt")).unwrap();
    let phased: Vec<&str> = pending
        .iter()
        .filter(|p| p.phased)
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(phased.len(), 10);
    assert_eq!(phased[0], "libnss-systemd");
    assert_eq!(phased[9], "systemd-timesyncd");
    // Kept-back packages are not phased and not listed by an upgrade simulation.
    assert_eq!(pending.len(), 10);
}

#[test]
fn new_package_has_no_installed_version() {
    let pending = apt_simulation(
        "Inst linux-image-6.1.0-21-amd64 (6.1.90-1 Debian-Security:12/stable-security [amd64])\n",
    )
    .unwrap();
    assert_eq!(pending[0].installed_version, "");
    assert_eq!(pending[0].candidate_version, "6.1.90-1");
    assert!(pending[0].security);
}

#[test]
fn release_without_label_is_judged_by_its_suite() {
    assert!(is_security_release("forewarn-security"));
    assert!(!is_security_release("security-tools"));
    assert!(is_security_release("Debian-Security:12/oldstable-security"));
    assert!(!is_security_release("Debian:12.15/oldstable"));
}

#[test]
fn nothing_to_upgrade_is_empty() {
    let pending = apt_simulation(
        "Reading package lists...\nBuilding dependency tree...\nCalculating upgrade...\n0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n",
    )
    .unwrap();
    assert!(pending.is_empty());
}

#[test]
fn malformed_inst_line_is_an_error_naming_the_line() {
    let err = apt_simulation("Inst brokenline\n").unwrap_err();
    assert!(err.to_string().contains("Inst brokenline"), "{err}");
}

#[test]
fn last_install_skips_removals_and_half_installed() {
    let log = fixture("linux/dpkg-log-upgrade.txt");
    let last = dpkg_log_last_install(&log).unwrap();
    assert_eq!(
        last.0,
        time::macros::datetime!(2026-11-23 11:56:17),
        "{last:?}"
    );
    assert_eq!(last.to_unix(3600), last.to_unix(0) - 3600);
    assert!(dpkg_log_last_install("2024-06-10 09:41:12 remove foo:amd64 1 <none>\n").is_none());
    assert!(dpkg_log_last_install("garbage\n").is_none());
}

#[test]
fn utc_offset_is_read_from_last_write() {
    let stamp = LocalTimestamp(time::macros::datetime!(2024-06-10 11:41:12));
    let written = time::macros::datetime!(2024-06-10 09:41:13 UTC).unix_timestamp();
    assert_eq!(utc_offset_from_last_write(stamp, written), 7200);
    assert_eq!(utc_offset_from_last_write(stamp, 0), 0);
}

#[test]
fn reboot_reason_lists_each_package_once() {
    let reason = reboot_required_reason(
        "/run/reboot-required",
        Some(&fixture("linux/reboot-required-pkgs.txt")),
    );
    assert_eq!(
        reason.detail,
        "packages asked for a reboot: linux-base, linux-image-4.4.0-98-generic"
    );
    assert!(reason.patch_related);
    assert_eq!(
        reason.packages,
        ["linux-base", "linux-image-4.4.0-98-generic"]
    );
    assert_eq!(
        reboot_required_reason("/run/reboot-required", None).detail,
        "a package asked for a reboot"
    );
}

#[test]
fn dnf_updates_are_marked_with_their_security_advisories() {
    let mut pending = dnf_check_update(
        100,
        &fixture("rhel/dnf-check-update-security-fedora34.txt"),
        "",
    )
    .unwrap();
    assert_eq!(pending.len(), 6);
    let advisories =
        dnf_security_advisories(&fixture("rhel/dnf-updateinfo-list-security-fedora34.txt"))
            .unwrap();
    assert_eq!(advisories.len(), 11);
    apply_dnf_advisories(&mut pending, &advisories);
    let perl = pending.iter().find(|p| p.name == "perl-Encode").unwrap();
    assert_eq!(perl.candidate_version, "4:3.12-460.fc34");
    assert_eq!(perl.source, "updates");
    assert!(perl.security);
    assert_eq!(perl.severity, "Important");
    assert_eq!(perl.advisories, ["FEDORA-2021-92e07de1dd"]);
    assert!(pending.iter().all(|p| p.security));
}

#[test]
fn dnf_wrapped_name_and_obsoletes_section_are_handled() {
    let out = "Last metadata expiration check: 0:10:02 ago on Mon 10 Jun 2024.\n\n\
               a-very-long-package-name-that-wraps.x86_64\n\
               \x20                     1.2-3.el9                  appstream\n\
               bash.x86_64   5.1.8-9.el9   baseos\n\n\
               Obsoleting Packages\n\
               grub2-tools.x86_64  1:2.06-80.el9  baseos\n";
    let pending = dnf_check_update(100, out, "").unwrap();
    let names: Vec<&str> = pending.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["a-very-long-package-name-that-wraps", "bash"]);
}

#[test]
fn dnf_without_cache_is_a_failure_not_zero_updates() {
    let err = dnf_check_update(1, "", &fixture("rhel/dnf-check-update-no-cache.txt")).unwrap_err();
    assert!(
        err.to_string()
            .contains("Cache-only enabled but no cache for 'ol9_baseos_latest'"),
        "{err}"
    );
    assert!(dnf_check_update(0, "", "").unwrap().is_empty());
}

#[test]
fn dnf_malformed_output_is_an_error() {
    assert!(dnf_check_update(100, "bash.x86_64 5.1 baseos extra words\n", "").is_err());
    assert!(dnf_security_advisories("RHSA-2024:1 bugfix foo-1-1.x86_64\n").is_err());
}

/// Found by the `dnf` fuzz target: ".8c34" split at its last dot left an
/// empty package name, reported as a nameless pending update.
#[test]
fn dnf_line_without_a_package_name_is_an_error_not_a_nameless_update() {
    let err = dnf_check_update(100, ".8c34\nliby:avaii 0A.8\n", "").unwrap_err();
    assert!(err.to_string().contains(".8c34"), "{err}");
    assert!(dnf_check_update(100, ".x86_64 1.0-1 updates\n", "").is_err());
}

#[test]
fn rpm_query_gives_installed_versions_with_epoch_and_skips_unknown_names() {
    let mut pending = dnf_check_update(
        100,
        &fixture("rhel/dnf-check-update-security-fedora34.txt"),
        "",
    )
    .unwrap();
    let installed = rpm_installed_versions(&fixture("rhel/rpm-q-qf-installed.txt")).unwrap();
    assert_eq!(installed.len(), 5, "nettle is not installed: {installed:?}");
    apply_installed_versions(&mut pending, &installed);
    let perl = pending.iter().find(|p| p.name == "perl-Encode").unwrap();
    assert_eq!(perl.installed_version, "4:3.12-459.fc34");
    assert_eq!(perl.candidate_version, "4:3.12-460.fc34");
    let curl = pending.iter().find(|p| p.name == "curl").unwrap();
    assert_eq!(curl.installed_version, "7.76.1-3.fc34");
    let nettle = pending.iter().find(|p| p.name == "nettle").unwrap();
    assert_eq!(nettle.installed_version, "");
}

#[test]
fn several_installed_versions_are_listed_together() {
    let mut pending = vec![pb::PendingUpdate {
        name: "kernel".into(),
        ..Default::default()
    }];
    let installed = rpm_installed_versions(
        "kernel 5.14.0-362.el9\nkernel 5.14.0-427.el9\nkernel 5.14.0-427.el9\n",
    )
    .unwrap();
    apply_installed_versions(&mut pending, &installed);
    assert_eq!(
        pending[0].installed_version,
        "5.14.0-362.el9, 5.14.0-427.el9"
    );
}

#[test]
fn rpm_malformed_line_is_an_error() {
    let err = rpm_installed_versions("error: rpmdb: BDB0113 Thread/process failed\n").unwrap_err();
    assert!(err.to_string().contains("rpmdb"), "{err}");
}

#[test]
fn needs_restarting_lists_the_packages() {
    let reason = needs_restarting(1, &fixture("rhel/needs-restarting-r-reboot.txt"))
        .unwrap()
        .unwrap();
    assert_eq!(reason.packages, ["glibc", "kernel", "kernel-core"]);
    assert!(reason.patch_related);
    assert!(
        needs_restarting(0, "No core libraries or services have been updated since boot-up.\nReboot should not be necessary.\n")
            .unwrap()
            .is_none()
    );
    // dnf without the plugin exits 1 too, but says nothing about a reboot.
    assert!(needs_restarting(1, "No such command: needs-restarting.\n").is_err());
}

#[test]
fn zypper_package_update_has_both_versions_and_repository() {
    let pending = zypper_updates(100, &fixture("suse/zypper-list-updates-one.txt"), "").unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].name, "libopenh264-8");
    assert_eq!(pending[0].installed_version, "2.6.0~noopenh264-1.5");
    assert_eq!(pending[0].candidate_version, "2.6.0-2.suse1699.10");
    assert_eq!(pending[0].source, "repo-openh264");
    assert!(!pending[0].security);
    assert!(
        zypper_updates(0, &fixture("suse/zypper-list-updates-none.txt"), "")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn zypper_security_patches_carry_id_and_severity() {
    let pending = zypper_updates(
        101,
        &fixture("suse/zypper-list-patches-security-leap16.txt"),
        "",
    )
    .unwrap();
    assert_eq!(pending.len(), 2);
    assert!(
        pending
            .iter()
            .all(|p| p.security && p.severity == "Important")
    );
    assert_eq!(pending[0].advisories, ["openSUSE-Leap-16.0-112"]);
    assert_eq!(pending[0].source, "https-download.opensuse.org-4bc031d9");
}

#[test]
fn zypper_update_listed_twice_is_reported_once_with_both_sources() {
    let one = zypper_updates(100, &fixture("suse/zypper-list-updates-one.txt"), "").unwrap();
    let mut mirrored = one[0].clone();
    mirrored.source = "repo-openh264-mirror".into();
    let patches = zypper_updates(
        101,
        &fixture("suse/zypper-list-patches-security-leap16.txt"),
        "",
    )
    .unwrap();
    let mut listed = vec![one[0].clone(), mirrored, one[0].clone()];
    listed.extend(patches.iter().cloned());
    listed.extend(patches.iter().cloned());
    let merged = dedupe_updates(listed);
    assert_eq!(merged.len(), 3, "{merged:?}");
    assert_eq!(merged[0].source, "repo-openh264, repo-openh264-mirror");
    assert_eq!(merged[1].advisories, ["openSUSE-Leap-16.0-112"]);
    assert!(merged[1].security);
    // Different versions of one name stay apart.
    let mut newer = one[0].clone();
    newer.candidate_version = "2.6.1-1.1".into();
    assert_eq!(dedupe_updates(vec![one[0].clone(), newer]).len(), 2);
}

#[test]
fn zypper_lock_and_broken_xml_are_errors() {
    let err = zypper_updates(7, "", &fixture("suse/zypper-locked.txt")).unwrap_err();
    assert!(
        err.to_string()
            .contains("locked by the application with pid 4242"),
        "{err}"
    );
    let xml_error = "<?xml version='1.0'?>\n<stream>\n<message type=\"error\">System management is locked by the application with pid 15950 (zypper).\nClose this application before trying again.</message>\n</stream>\n";
    let err = zypper_updates(7, xml_error, "").unwrap_err();
    assert!(err.to_string().contains("pid 15950"), "{err}");
    assert!(
        zypper_updates(
            0,
            "<stream><update-list><update kind=\"package\"></stream>",
            ""
        )
        .is_err()
    );
}

/// Found by the `zypper` fuzz target: an `<update>` without a `name`
/// attribute became a pending update with an empty name.
#[test]
fn zypper_update_without_a_name_is_an_error_not_a_nameless_update() {
    for update in [
        "<update kind=\"package\" edition=\"1\"/>",
        "<update kind=\"patch\" status=\"needed\" edition=\"1\"></update>",
    ] {
        let xml = format!(
            "<stream><update-status><update-list>{update}</update-list></update-status></stream>"
        );
        let err = zypper_updates(100, &xml, "").unwrap_err();
        assert!(err.to_string().contains("without a name"), "{err}");
    }
    let not_needed = "<stream><update-list><update kind=\"patch\" status=\"not-needed\"/></update-list></stream>";
    assert_eq!(zypper_updates(0, not_needed, "").unwrap(), Vec::new());
}

#[test]
fn zypper_reboot_flag_is_exit_102() {
    assert!(zypper_needs_rebooting(102, "").unwrap().is_some());
    assert!(zypper_needs_rebooting(0, "").unwrap().is_none());
    assert!(zypper_needs_rebooting(1, "Unknown command 'needs-rebooting'").is_err());
}

#[test]
fn softwareupdate_lists_title_version_and_label() {
    let pending =
        softwareupdate_list(0, &fixture("macos/softwareupdate-list-tahoe.txt"), "").unwrap();
    assert_eq!(pending.len(), 3);
    assert_eq!(pending[2].name, "macOS Tahoe 26.5.2");
    assert_eq!(pending[2].candidate_version, "26.5.2");
    assert_eq!(pending[2].advisories, ["macOS Tahoe 26.5.2-25F84"]);
}

#[test]
fn softwareupdate_banner_alone_is_not_up_to_date() {
    let banner = fixture("macos/softwareupdate-list-none-stdout.txt");
    assert!(
        softwareupdate_list(0, &banner, "No new software available.\n")
            .unwrap()
            .is_empty()
    );
    assert!(softwareupdate_list(0, &banner, "").is_err());
    assert!(softwareupdate_list(0, "* Label: Orphan-1.0\n", "").is_err());
    assert!(
        softwareupdate_list(
            1,
            "",
            "Can't connect to the Apple Software Update server.\n"
        )
        .is_err()
    );
}

#[test]
fn softwareupdate_preferences_give_last_check_and_recommended() {
    let prefs = softwareupdate_preferences(
        fixture("macos/com.apple.SoftwareUpdate-no-updates.plist.txt").as_bytes(),
    )
    .unwrap();
    assert_eq!(
        prefs.last_successful_check,
        Some(time::macros::datetime!(2023-05-04 21:40:12 UTC).unix_timestamp())
    );
    assert!(prefs.recommended.is_empty());
    assert!(softwareupdate_preferences(b"not a plist").is_err());
}
