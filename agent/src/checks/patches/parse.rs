//! Pure parsers for what package managers print and write, compiled on every
//! OS so every platform's parser is tested on Linux with captured real output.

use std::collections::BTreeSet;

use forewarn_proto::pb;

/// A problem with a tool's output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("unexpected line in {tool} output: {line:?}")]
    UnexpectedLine { tool: &'static str, line: String },
    #[error("{tool} failed (exit code {exit_code}): {message}")]
    ToolFailed {
        tool: &'static str,
        exit_code: i32,
        message: String,
    },
}

/// The first line that explains a failure: a line starting with "Error" or
/// "E:" if there is one, else the last non-empty line.
fn failure_message(output: &str) -> String {
    let lines: Vec<&str> = output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines
        .iter()
        .find(|l| l.starts_with("Error") || l.starts_with("E:"))
        .or(lines.last())
        .map_or_else(|| "no output".to_owned(), |l| (*l).to_owned())
}

/// Parses `apt-get -s dist-upgrade` output into pending updates.
///
/// Each `Inst` line is one package that would be installed or upgraded:
/// `Inst name [installed] (candidate Origin:Version/Archive, ... [arch])`;
/// `[installed]` is missing for packages new to the system. A package is a
/// security update when any release it comes from has an archive (suite)
/// ending in `-security` or an origin naming security. Packages listed under
/// "deferred due to phasing" (Ubuntu) are reported with `phased = true` and
/// no candidate version, since apt does not print one for them.
pub fn apt_simulation(output: &str) -> Result<Vec<pb::PendingUpdate>, ParseError> {
    let mut pending = Vec::new();
    let mut in_phasing = false;
    for line in output.lines() {
        if line.starts_with("The following upgrades have been deferred due to phasing") {
            in_phasing = true;
            continue;
        }
        if in_phasing {
            if let Some(names) = line.strip_prefix("  ") {
                pending.extend(names.split_whitespace().map(|name| pb::PendingUpdate {
                    name: name.to_owned(),
                    phased: true,
                    ..Default::default()
                }));
                continue;
            }
            in_phasing = false;
        }
        if let Some(rest) = line.strip_prefix("Inst ") {
            pending.push(
                apt_inst_line(rest).ok_or_else(|| ParseError::UnexpectedLine {
                    tool: "apt-get",
                    line: line.to_owned(),
                })?,
            );
        }
    }
    Ok(pending)
}

fn apt_inst_line(rest: &str) -> Option<pb::PendingUpdate> {
    let (name, rest) = rest.split_once(' ')?;
    let rest = rest.trim_start();
    let (installed, rest) = match rest.strip_prefix('[') {
        Some(bracketed) => {
            let (installed, after) = bracketed.split_once(']')?;
            (installed.to_owned(), after.trim_start())
        }
        None => (String::new(), rest),
    };
    let inner = rest.strip_prefix('(')?;
    let inner = &inner[..inner.find(')')?];
    let (candidate, releases) = inner.split_once(' ').unwrap_or((inner, ""));
    // The architecture closes the parenthesis: "... [amd64]".
    let releases = match releases.rfind(" [") {
        Some(at) => &releases[..at],
        None if releases.starts_with('[') => "",
        None => releases,
    };
    let releases: Vec<&str> = releases
        .split(", ")
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .collect();
    if name.is_empty() || candidate.is_empty() {
        return None;
    }
    Some(pb::PendingUpdate {
        name: name.to_owned(),
        installed_version: installed,
        candidate_version: candidate.to_owned(),
        source: releases.join(", "),
        security: releases.iter().any(|r| is_security_release(r)),
        ..Default::default()
    })
}

/// A release as apt prints it: `[Label:][Version/]Archive`, e.g.
/// `Debian-Security:12/stable-security`, `Ubuntu:22.04/jammy-security`.
fn is_security_release(release: &str) -> bool {
    let archive = release.rsplit('/').next().unwrap_or(release);
    let label = release.split_once(':').map_or("", |(label, _)| label);
    archive.ends_with("-security") || label.to_ascii_lowercase().contains("security")
}

/// A moment written in local time without an offset, as dpkg logs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LocalTimestamp(pub time::PrimitiveDateTime);

impl LocalTimestamp {
    /// Seconds since the epoch, given the offset of the local time zone.
    pub fn to_unix(self, utc_offset_secs: i64) -> i64 {
        self.0.assume_utc().unix_timestamp() - utc_offset_secs
    }
}

/// The last time dpkg finished installing or upgrading a package, from `dpkg.log`.
///
/// dpkg writes `YYYY-MM-DD HH:MM:SS status installed name:arch version` when a
/// package reaches the installed state; removals and half-done states do not count.
pub fn dpkg_log_last_install(log: &str) -> Option<LocalTimestamp> {
    log.lines()
        .filter(|line| {
            let mut words = line.split_whitespace().skip(2);
            words.next() == Some("status") && words.next() == Some("installed")
        })
        .filter_map(dpkg_log_timestamp)
        .max()
}

/// The timestamp at the start of the last dated line of `dpkg.log`.
pub fn dpkg_log_last_entry(log: &str) -> Option<LocalTimestamp> {
    log.lines().rev().find_map(dpkg_log_timestamp)
}

fn dpkg_log_timestamp(line: &str) -> Option<LocalTimestamp> {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let stamp = line.get(..19)?;
    time::PrimitiveDateTime::parse(stamp, &format)
        .ok()
        .map(LocalTimestamp)
}

/// The local time zone's offset, from a file's modification time and the
/// local-time stamp of the last line written to it at that moment, rounded
/// to a quarter hour (every real zone offset is a multiple of 15 minutes).
pub fn utc_offset_from_last_write(last_entry: LocalTimestamp, modified_unix: i64) -> i64 {
    let naive = last_entry.0.assume_utc().unix_timestamp();
    let quarter: i64 = 15 * 60;
    let offset = (naive - modified_unix + quarter / 2).div_euclid(quarter) * quarter;
    // No zone is further than 14 h from UTC; anything else means the stamp is not the last write.
    if offset.abs() > 14 * 3600 { 0 } else { offset }
}

/// The reboot reason for Debian/Ubuntu's `/run/reboot-required`, naming the
/// packages from `reboot-required.pkgs` (one per line, often repeated).
pub fn reboot_required_reason(source: &str, pkgs: Option<&str>) -> pb::RebootReason {
    let packages: BTreeSet<String> = pkgs
        .unwrap_or("")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let packages: Vec<String> = packages.into_iter().collect();
    let detail = if packages.is_empty() {
        "a package asked for a reboot".to_owned()
    } else {
        format!("packages asked for a reboot: {}", packages.join(", "))
    };
    pb::RebootReason {
        source: source.to_owned(),
        detail,
        patch_related: true,
        packages,
    }
}

/// Parses `dnf -C check-update` (also yum's): exit 100 means updates are
/// listed, 0 means none, anything else is a failure such as a missing cache.
///
/// Each update is `name.arch  version  repository`; dnf wraps a long name
/// onto its own line, and the "Obsoleting Packages" section that may follow
/// repeats packages already listed, so parsing stops there.
pub fn dnf_check_update(
    exit_code: i32,
    stdout: &str,
    stderr: &str,
) -> Result<Vec<pb::PendingUpdate>, ParseError> {
    match exit_code {
        0 | 100 => {}
        _ => {
            return Err(ParseError::ToolFailed {
                tool: "dnf check-update",
                exit_code,
                message: failure_message(&format!("{stdout}\n{stderr}")),
            });
        }
    }
    let mut pending = Vec::new();
    let mut carried = String::new();
    for line in stdout.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("Obsoleting Packages") {
            break;
        }
        if trimmed.is_empty()
            || trimmed.starts_with("Last metadata expiration check")
            || trimmed.starts_with("Security:")
        {
            continue;
        }
        let joined = if carried.is_empty() {
            trimmed.to_owned()
        } else {
            format!("{} {trimmed}", std::mem::take(&mut carried))
        };
        let fields: Vec<&str> = joined.split_whitespace().collect();
        match fields.as_slice() {
            [_] => carried = joined.clone(),
            [name_arch, version, repo] => {
                let name = name_arch.rsplit_once('.').map_or(*name_arch, |(n, _)| n);
                // ".x86_64 1.0 repo" names no package: not a line dnf writes.
                if name.is_empty() {
                    return Err(ParseError::UnexpectedLine {
                        tool: "dnf check-update",
                        line: joined.clone(),
                    });
                }
                pending.push(pb::PendingUpdate {
                    name: name.to_owned(),
                    candidate_version: (*version).to_owned(),
                    source: (*repo).to_owned(),
                    ..Default::default()
                });
            }
            _ => {
                return Err(ParseError::UnexpectedLine {
                    tool: "dnf check-update",
                    line: line.to_owned(),
                });
            }
        }
    }
    if !carried.is_empty() {
        return Err(ParseError::UnexpectedLine {
            tool: "dnf check-update",
            line: carried,
        });
    }
    Ok(pending)
}

/// One line of `dnf updateinfo list --security`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnfAdvisory {
    pub id: String,
    /// "Critical", "Important", "Moderate", "Low", or empty when not given.
    pub severity: String,
    /// Package name, from the NEVRA dnf prints.
    pub package: String,
}

/// Parses `dnf -C updateinfo list --security`: `ID Severity/Sec. NEVRA`.
pub fn dnf_security_advisories(stdout: &str) -> Result<Vec<DnfAdvisory>, ParseError> {
    let mut advisories = Vec::new();
    for line in stdout.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with("Last metadata expiration check") {
            continue;
        }
        let fields: Vec<&str> = trimmed.split_whitespace().collect();
        let parsed = match fields.as_slice() {
            [id, kind, nevra] => {
                let severity = match kind.strip_suffix("/Sec.") {
                    Some(severity) => Some(severity),
                    None if kind.eq_ignore_ascii_case("security") => Some(""),
                    None => None,
                };
                severity
                    .zip(nevra_name(nevra))
                    .map(|(severity, package)| DnfAdvisory {
                        id: (*id).to_owned(),
                        severity: severity.to_owned(),
                        package: package.to_owned(),
                    })
            }
            _ => None,
        };
        advisories.push(parsed.ok_or_else(|| ParseError::UnexpectedLine {
            tool: "dnf updateinfo",
            line: line.to_owned(),
        })?);
    }
    Ok(advisories)
}

/// `perl-Encode-4:3.12-460.fc34.x86_64` -> `perl-Encode`.
fn nevra_name(nevra: &str) -> Option<&str> {
    let (nevr, _arch) = nevra.rsplit_once('.')?;
    let mut parts = nevr.rsplitn(3, '-');
    let (_release, _version, name) = (parts.next()?, parts.next()?, parts.next()?);
    (!name.is_empty()).then_some(name)
}

/// Marks pending updates that a security advisory covers, with its id and severity.
pub fn apply_dnf_advisories(pending: &mut [pb::PendingUpdate], advisories: &[DnfAdvisory]) {
    for update in pending {
        for advisory in advisories.iter().filter(|a| a.package == update.name) {
            update.security = true;
            if update.severity.is_empty() {
                update.severity.clone_from(&advisory.severity);
            }
            if !update.advisories.contains(&advisory.id) {
                update.advisories.push(advisory.id.clone());
            }
        }
    }
}

/// The `rpm -q --queryformat` that [`rpm_installed_versions`] reads: name and
/// `[epoch:]version-release`, the form dnf prints candidate versions in.
pub const RPM_VERSION_FORMAT: &str = "%{NAME} %|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\n";

/// Parses `rpm -q --queryformat RPM_VERSION_FORMAT name...` (the local rpm
/// database only) into (name, installed version) pairs; a name rpm does not
/// know prints "package NAME is not installed" and is left out.
pub fn rpm_installed_versions(stdout: &str) -> Result<Vec<(String, String)>, ParseError> {
    let mut versions = Vec::new();
    for line in stdout.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.starts_with("package ") && line.ends_with(" is not installed") {
            continue;
        }
        match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            [name, version] => versions.push(((*name).to_owned(), (*version).to_owned())),
            _ => {
                return Err(ParseError::UnexpectedLine {
                    tool: "rpm -q",
                    line: line.to_owned(),
                });
            }
        }
    }
    Ok(versions)
}

/// Fills in the installed version of each pending update rpm knows; with
/// several installed (multilib, kernels) they are listed together.
pub fn apply_installed_versions(pending: &mut [pb::PendingUpdate], installed: &[(String, String)]) {
    for update in pending {
        let mut versions: Vec<&str> = Vec::new();
        for (_, version) in installed.iter().filter(|(name, _)| *name == update.name) {
            if !versions.contains(&version.as_str()) {
                versions.push(version);
            }
        }
        update.installed_version = versions.join(", ");
    }
}

/// Reads `needs-restarting -r`: exit 1 with the package list means a reboot
/// is needed, exit 0 means none; anything else (no such plugin) is a failure.
pub fn needs_restarting(
    exit_code: i32,
    stdout: &str,
) -> Result<Option<pb::RebootReason>, ParseError> {
    let says_reboot = stdout.contains("Reboot is required");
    match (exit_code, says_reboot) {
        (0, false) => Ok(None),
        (1, true) => {
            let packages: Vec<String> = stdout
                .lines()
                .filter_map(|l| l.trim().strip_prefix("* "))
                .map(|p| p.trim().to_owned())
                .collect();
            Ok(Some(pb::RebootReason {
                source: "needs-restarting".to_owned(),
                detail: if packages.is_empty() {
                    "core libraries or services were updated since boot".to_owned()
                } else {
                    format!("updated since boot: {}", packages.join(", "))
                },
                patch_related: true,
                packages,
            }))
        }
        _ => Err(ParseError::ToolFailed {
            tool: "needs-restarting",
            exit_code,
            message: failure_message(stdout),
        }),
    }
}

/// Reads `zypper --xmlout list-updates` and `list-patches`: exit 0, or
/// 100/101 (updates / security updates needed), carry a list; anything else
/// (7: another program holds the zypp lock, 6: no repositories, 106: some
/// repositories skipped for lack of cached metadata) is a failure.
///
/// Packages are reported as they are; patches (SUSE's advisories) only when
/// `status="needed"`, under their patch id, with category and severity.
pub fn zypper_updates(
    exit_code: i32,
    stdout: &str,
    stderr: &str,
) -> Result<Vec<pb::PendingUpdate>, ParseError> {
    let document = zypper_document(stdout)?;
    if !matches!(exit_code, 0 | 100 | 101) {
        let message = document.errors.first().cloned().unwrap_or_else(|| {
            // zypper's messages span lines ("... locked by pid N.\nClose this ...").
            let lines: Vec<&str> = stderr
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            if lines.is_empty() {
                failure_message(stdout)
            } else {
                lines.join(" ")
            }
        });
        return Err(ParseError::ToolFailed {
            tool: "zypper",
            exit_code,
            message,
        });
    }
    Ok(document.updates)
}

#[derive(Debug, Default)]
struct ZypperDocument {
    updates: Vec<pb::PendingUpdate>,
    errors: Vec<String>,
}

fn zypper_document(xml: &str) -> Result<ZypperDocument, ParseError> {
    use quick_xml::XmlVersion;
    use quick_xml::events::{BytesStart, Event};

    fn attributes(element: &BytesStart<'_>) -> Vec<(String, String)> {
        element
            .attributes()
            .filter_map(Result::ok)
            .map(|a| {
                (
                    a.key.0.to_owned(),
                    a.normalized_value(XmlVersion::Implicit1_0)
                        .map(|v| v.into_owned())
                        .unwrap_or_default(),
                )
            })
            .collect()
    }
    fn get<'a>(attrs: &'a [(String, String)], key: &str) -> &'a str {
        attrs
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }

    let mut document = ZypperDocument::default();
    if xml.trim().is_empty() {
        return Ok(document);
    }
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut current: Option<(Vec<(String, String)>, String)> = None;
    // Text of the `<message type="error">` being read, if any.
    let mut error_text: Option<String> = None;
    let invalid = |err: &dyn std::fmt::Display| ParseError::UnexpectedLine {
        tool: "zypper",
        line: format!("invalid XML: {err}"),
    };
    loop {
        let event = reader.read_event().map_err(|e| invalid(&e))?;
        match &event {
            Event::Start(e) | Event::Empty(e) => {
                let attrs = attributes(e);
                match e.name().0 {
                    "update" => current = Some((attrs, String::new())),
                    "source" => {
                        if let Some((_, alias)) = &mut current {
                            get(&attrs, "alias").clone_into(alias);
                        }
                    }
                    "message" if get(&attrs, "type") == "error" => {
                        error_text = Some(String::new());
                    }
                    _ => {}
                }
                if matches!(event, Event::Empty(_)) && e.name().0 == "update" {
                    document
                        .updates
                        .extend(current.take().map(zypper_update).transpose()?.flatten());
                }
            }
            Event::Text(text) => {
                if let Some(error) = &mut error_text {
                    error.push_str(&text.xml_content(XmlVersion::Implicit1_0));
                }
            }
            Event::End(e) => match e.name().0 {
                "update" => document
                    .updates
                    .extend(current.take().map(zypper_update).transpose()?.flatten()),
                "message" => {
                    if let Some(error) = error_text.take() {
                        document.errors.push(error.trim().replace('\n', " "));
                    }
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(document)
}

/// One `<update>` element: a package or a needed patch; other kinds are not
/// pending updates (`None`). One without a name is not something zypper
/// writes, so it is an error rather than a nameless entry in the report.
fn zypper_update(
    (attrs, alias): (Vec<(String, String)>, String),
) -> Result<Option<pb::PendingUpdate>, ParseError> {
    let get = |key: &str| {
        attrs
            .iter()
            .find(|(k, _)| k == key)
            .map_or(String::new(), |(_, v)| v.clone())
    };
    let name = get("name");
    let kind = get("kind");
    let update = match kind.as_str() {
        "package" => Some(pb::PendingUpdate {
            name,
            installed_version: get("edition-old"),
            candidate_version: get("edition"),
            source: alias,
            ..Default::default()
        }),
        "patch" if matches!(get("status").as_str(), "needed" | "") => Some(pb::PendingUpdate {
            advisories: vec![name.clone()],
            name,
            candidate_version: get("edition"),
            source: alias,
            security: get("category") == "security",
            severity: capitalized(&get("severity")),
            ..Default::default()
        }),
        _ => None,
    };
    if update.as_ref().is_some_and(|u| u.name.is_empty()) {
        return Err(ParseError::UnexpectedLine {
            tool: "zypper",
            line: format!("<update kind={kind:?}> without a name"),
        });
    }
    Ok(update)
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Merges entries that name the same update twice (one package listed for
/// two architectures, or by two repositories carrying the same version, or
/// one patch listed by two repositories): one entry per name and candidate
/// version, security if any copy is, with every source and advisory kept.
pub fn dedupe_updates(pending: Vec<pb::PendingUpdate>) -> Vec<pb::PendingUpdate> {
    let mut merged: Vec<pb::PendingUpdate> = Vec::with_capacity(pending.len());
    for update in pending {
        let Some(kept) = merged.iter_mut().find(|kept| {
            kept.name == update.name && kept.candidate_version == update.candidate_version
        }) else {
            merged.push(update);
            continue;
        };
        kept.security |= update.security;
        if kept.severity.is_empty() {
            kept.severity = update.severity;
        }
        if kept.installed_version.is_empty() {
            kept.installed_version = update.installed_version;
        }
        if !update.source.is_empty() && !kept.source.split(", ").any(|s| s == update.source) {
            kept.source = if kept.source.is_empty() {
                update.source
            } else {
                format!("{}, {}", kept.source, update.source)
            };
        }
        for advisory in update.advisories {
            if !kept.advisories.contains(&advisory) {
                kept.advisories.push(advisory);
            }
        }
    }
    merged
}

/// Reads `zypper needs-rebooting`: exit 102 means the reboot-needed flag is
/// set (a patch asked for it), 0 means not; anything else is a failure.
pub fn zypper_needs_rebooting(
    exit_code: i32,
    stdout: &str,
) -> Result<Option<pb::RebootReason>, ParseError> {
    match exit_code {
        0 => Ok(None),
        102 => Ok(Some(pb::RebootReason {
            source: "zypper needs-rebooting".to_owned(),
            detail: "an installed patch or core package asked for a reboot".to_owned(),
            patch_related: true,
            packages: Vec::new(),
        })),
        _ => Err(ParseError::ToolFailed {
            tool: "zypper needs-rebooting",
            exit_code,
            message: failure_message(stdout),
        }),
    }
}

/// Parses `softwareupdate --list` (macOS 10.15 and later):
/// `* Label: <label>` then a tab-indented
/// `Title: <title>, Version: <version>, Size: <size>, Recommended: YES, Action: restart,`.
///
/// With nothing pending the tool prints only its banner on stdout and
/// "No new software available." on stderr; output with neither updates nor
/// that sentence is not read as "up to date". macOS does not classify
/// updates as security or not, so `security` stays false.
pub fn softwareupdate_list(
    exit_code: i32,
    stdout: &str,
    stderr: &str,
) -> Result<Vec<pb::PendingUpdate>, ParseError> {
    if exit_code != 0 {
        return Err(ParseError::ToolFailed {
            tool: "softwareupdate",
            exit_code,
            message: failure_message(&format!("{stdout}\n{stderr}")),
        });
    }
    let mut pending = Vec::new();
    let mut label: Option<&str> = None;
    for line in stdout.lines() {
        if let Some(rest) = line.trim_start().strip_prefix("* Label: ") {
            label = Some(rest.trim());
            continue;
        }
        let Some(details) = line.trim_start().strip_prefix("Title: ") else {
            continue;
        };
        let label = label.take().ok_or_else(|| ParseError::UnexpectedLine {
            tool: "softwareupdate",
            line: line.to_owned(),
        })?;
        let mut fields = details.split(", ");
        let title = fields.next().unwrap_or(label);
        let version = fields
            .find_map(|f| f.strip_prefix("Version: "))
            .unwrap_or("");
        pending.push(pb::PendingUpdate {
            name: title.to_owned(),
            candidate_version: version.to_owned(),
            source: "Apple Software Update".to_owned(),
            advisories: vec![label.to_owned()],
            ..Default::default()
        });
    }
    if let Some(label) = label {
        return Err(ParseError::UnexpectedLine {
            tool: "softwareupdate",
            line: format!("* Label: {label} (no Title line follows)"),
        });
    }
    let all_clear = format!("{stdout}\n{stderr}").contains("No new software available");
    if pending.is_empty() && !all_clear {
        return Err(ParseError::UnexpectedLine {
            tool: "softwareupdate",
            line: "neither updates nor \"No new software available.\"".to_owned(),
        });
    }
    Ok(pending)
}

/// What macOS's SoftwareUpdate preferences say about the last check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftwareUpdatePreferences {
    /// `LastSuccessfulDate`: the last successful check with Apple, Unix seconds.
    pub last_successful_check: Option<i64>,
    /// `RecommendedUpdates`: what that check found.
    pub recommended: Vec<pb::PendingUpdate>,
}

/// Reads `/Library/Preferences/com.apple.SoftwareUpdate.plist` (binary or XML).
pub fn softwareupdate_preferences(bytes: &[u8]) -> Result<SoftwareUpdatePreferences, ParseError> {
    let invalid = |why: String| ParseError::UnexpectedLine {
        tool: "SoftwareUpdate preferences",
        line: why,
    };
    let value = plist::Value::from_reader(std::io::Cursor::new(bytes))
        .map_err(|err| invalid(format!("not a property list: {err}")))?;
    let dict = value
        .as_dictionary()
        .ok_or_else(|| invalid("top level is not a dictionary".into()))?;
    let last_successful_check = dict
        .get("LastSuccessfulDate")
        .and_then(plist::Value::as_date)
        .and_then(|date| {
            std::time::SystemTime::from(date)
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
        })
        .map(|d| d.as_secs() as i64);
    let text = |update: &plist::Dictionary, key: &str| {
        update
            .get(key)
            .and_then(plist::Value::as_string)
            .unwrap_or("")
            .to_owned()
    };
    let recommended = dict
        .get("RecommendedUpdates")
        .and_then(plist::Value::as_array)
        .map(|updates| {
            updates
                .iter()
                .filter_map(plist::Value::as_dictionary)
                .map(|update| pb::PendingUpdate {
                    name: text(update, "Display Name"),
                    candidate_version: text(update, "Display Version"),
                    source: "Apple Software Update".to_owned(),
                    advisories: [text(update, "Product Key"), text(update, "Identifier")]
                        .into_iter()
                        .filter(|id| !id.is_empty())
                        .take(1)
                        .collect(),
                    ..Default::default()
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(SoftwareUpdatePreferences {
        last_successful_check,
        recommended,
    })
}

#[cfg(test)]
mod tests;
