//! Human-readable rendering of a report for `check --once`.
//!
//! IT staff run this on a device to see what Forewarn sees, so it favours
//! plain columns and units over completeness; `--json` has everything.

use std::fmt::Write as _;

use forewarn_proto::pb;

pub fn render_table(report: &pb::StatusReport) -> String {
    let mut out = String::new();
    if let Some(host) = &report.host {
        let _ = writeln!(
            out,
            "Host      {} ({} {} {}, {})",
            host.hostname, host.os_name, host.os_version, host.os_build, host.architecture
        );
        if !host.model.is_empty() || !host.serial_number.is_empty() {
            let _ = writeln!(
                out,
                "Hardware  {} serial {}",
                host.model, host.serial_number
            );
        }
        let _ = writeln!(out, "Agent     {}", host.agent_version);
    }
    if let Some(disks) = &report.disks {
        let _ = writeln!(
            out,
            "\n{:<28} {:<10} {:>10} {:>10} {:>6} {:>7}  DEVICE",
            "MOUNT", "TYPE", "SIZE", "AVAIL", "USE%", "INODE%"
        );
        for fs in &disks.filesystems {
            let inode_use = match (fs.inodes_total, fs.inodes_free) {
                (Some(total), Some(free)) if total > 0 => {
                    format!("{:.0}%", percent(total - free, total))
                }
                _ => "-".into(),
            };
            let mut flags = Vec::new();
            if fs.removable {
                flags.push("removable");
            }
            if fs.network {
                flags.push("network");
            }
            if fs.read_only {
                flags.push("read-only");
            }
            let _ = writeln!(
                out,
                "{:<28} {:<10} {:>10} {:>10} {:>5.0}% {:>7}  {}{}",
                fs.mount_point,
                fs.filesystem,
                human_bytes(fs.total_bytes),
                human_bytes(fs.available_bytes),
                percent(
                    fs.total_bytes.saturating_sub(fs.available_bytes),
                    fs.total_bytes
                ),
                inode_use,
                fs.device,
                if flags.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", flags.join(", "))
                }
            );
        }
    }
    if !report.errors.is_empty() {
        let _ = writeln!(out, "\nPROBLEMS");
        for error in &report.errors {
            let _ = writeln!(out, "  {} {} {}", error.check, error.item, error.message);
        }
    }
    let runs: Vec<String> = report
        .check_runs
        .iter()
        .map(|run| {
            format!(
                "{} {} ({} ms)",
                run.check,
                if run.ok { "ok" } else { "FAILED" },
                run.duration_ms
            )
        })
        .collect();
    let _ = writeln!(out, "\nChecks    {}", runs.join(", "));
    out
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

/// Bytes in binary units with one decimal ("931.5 GiB").
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(10 * (1 << 30)), "10.0 GiB");
    }

    #[test]
    fn table_lists_filesystems_and_problems() {
        let report = pb::StatusReport {
            disks: Some(pb::DiskCheck {
                filesystems: vec![pb::DiskStatus {
                    mount_point: "/data".into(),
                    filesystem: "ext4".into(),
                    total_bytes: 100 << 30,
                    available_bytes: 25 << 30,
                    inodes_total: Some(1000),
                    inodes_free: Some(900),
                    removable: true,
                    ..Default::default()
                }],
            }),
            errors: vec![pb::CheckError {
                check: "disks".into(),
                item: "/mnt/nfs".into(),
                message: "timed out".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let table = render_table(&report);
        assert!(table.contains("/data"), "{table}");
        assert!(
            table.contains("75%") && table.contains("10%") && table.contains("[removable]"),
            "{table}"
        );
        assert!(table.contains("/mnt/nfs timed out"), "{table}");
    }
}
