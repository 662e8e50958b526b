//! Report synthesis: one simulated device and the reports it sends.
//!
//! A device is built once from its index (so every run sends the same fleet)
//! and then sends mostly the same report again, as a real agent does between
//! changes: only `seq` and `collected_at` move. A changing report lets disk
//! usage catch up with a slow drift (a few MB an hour per disk) and, now and
//! then, records a new backup run or a change in pending patches. Sizes follow
//! a typical server: six filesystems, twenty certificates, forty pending
//! updates and four backup jobs make about 12 KB encoded.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use forewarn_proto::pb;

const DISKS: usize = 6;
const CERTIFICATES: usize = 20;
const PENDING_UPDATES: usize = 40;
const BACKUP_JOBS: usize = 4;
const GIB: u64 = 1 << 30;
const DAY: i64 = 86_400;

/// One filesystem whose usage grows at a steady rate.
#[derive(Debug, Clone)]
struct Disk {
    status: pb::DiskStatus,
    /// Bytes used per second on average.
    growth_bytes_per_sec: u64,
}

/// A simulated device: what it reports, and how that drifts.
#[derive(Debug, Clone)]
pub struct Device {
    host: pb::HostFacts,
    disks: Vec<Disk>,
    certificates: pb::CertificateCheck,
    patches: pb::PatchCheck,
    backups: pb::BackupCheck,
    /// When disk usage was last brought up to date.
    drifted_at: i64,
    rng: StdRng,
}

impl Device {
    /// The device numbered `index`, as it stands at `now`: the same index
    /// always gives the same device.
    pub fn new(index: u32, now: i64) -> Self {
        let mut rng = StdRng::seed_from_u64(u64::from(index));
        let host = host_facts(index, now);
        let disks = (0..DISKS).map(|n| disk(n, &mut rng)).collect();
        let certificates = certificates(index, now, &mut rng);
        let patches = patches(now, &mut rng);
        let backups = pb::BackupCheck {
            jobs: (0..BACKUP_JOBS)
                .map(|n| backup_job(n, now, &mut rng))
                .collect(),
        };
        Self {
            host,
            disks,
            certificates,
            patches,
            backups,
            drifted_at: now,
            rng,
        }
    }

    /// The hostname this device reports and enrolls with.
    pub fn hostname(&self) -> &str {
        &self.host.hostname
    }

    pub fn host_facts(&self) -> &pb::HostFacts {
        &self.host
    }

    /// Brings the device's state forward to `now`: disk usage catches up with
    /// its drift, and a backup job may have run or the pending patches moved.
    pub fn change(&mut self, now: i64) {
        let elapsed = u64::try_from(now - self.drifted_at).unwrap_or(0);
        for disk in &mut self.disks {
            let grown = disk.growth_bytes_per_sec.saturating_mul(elapsed);
            let status = &mut disk.status;
            // A disk that fills up is cleaned, as an admin would.
            if status.free_bytes < grown + status.total_bytes / 20 {
                status.free_bytes = status.total_bytes / 2;
            } else {
                status.free_bytes -= grown;
            }
            status.available_bytes = status.free_bytes.saturating_sub(status.total_bytes / 20);
        }
        self.drifted_at = now;
        match self.rng.random_range(0..4) {
            0 => {
                let n = self.rng.random_range(0..BACKUP_JOBS);
                let job = &mut self.backups.jobs[n];
                job.last_run_started_unix_secs = Some(now - 600);
                job.last_run_finished_unix_secs = Some(now - 60);
                job.last_success_unix_secs = Some(now - 60);
                job.snapshot_count = job.snapshot_count.map(|count| count + 1);
            }
            1 => {
                let removed = self.patches.pending.pop();
                if let Some(mut update) = removed {
                    update.candidate_version.push_str(".1");
                    self.patches.pending.insert(0, update);
                }
                self.patches.last_successful_scan_unix_secs = Some(now - 30);
            }
            _ => {}
        }
    }

    /// The report the device sends now, numbered `seq` within `boot_id`.
    pub fn report(
        &self,
        device_id: &str,
        policy_version: &str,
        seq: u64,
        boot_id: u64,
        now: i64,
    ) -> pb::StatusReport {
        pb::StatusReport {
            seq,
            collected_at_unix_secs: now,
            claimed_device_id: device_id.to_owned(),
            policy_version: policy_version.to_owned(),
            host: Some(self.host.clone()),
            disks: Some(pb::DiskCheck {
                filesystems: self.disks.iter().map(|disk| disk.status.clone()).collect(),
            }),
            certificates: Some(self.certificates.clone()),
            patches: Some(self.patches.clone()),
            backups: Some(self.backups.clone()),
            check_runs: ["disks", "certificates", "patches", "backups"]
                .into_iter()
                .map(|check| pb::CheckRun {
                    check: check.to_owned(),
                    duration_ms: 40,
                    ok: true,
                })
                .collect(),
            errors: Vec::new(),
            boot_id,
        }
    }
}

/// The hostname of device `index`: `load-00042`.
pub fn hostname(index: u32) -> String {
    format!("load-{index:05}")
}

fn host_facts(index: u32, now: i64) -> pb::HostFacts {
    pb::HostFacts {
        hostname: hostname(index),
        os_family: "linux".into(),
        os_name: "Ubuntu".into(),
        os_version: "24.04".into(),
        os_build: "6.8.0-49-generic".into(),
        architecture: "x86_64".into(),
        model: "PowerEdge R650".into(),
        serial_number: format!("LG{index:08}"),
        hardware_uuid: format!("4c4c4544-0000-4000-8000-{index:012x}"),
        boot_time_unix_secs: Some(now - 12 * DAY),
        agent_version: env!("CARGO_PKG_VERSION").into(),
        primary_user: String::new(),
    }
}

fn disk(n: usize, rng: &mut StdRng) -> Disk {
    const MOUNTS: [&str; DISKS] = [
        "/",
        "/boot",
        "/var",
        "/home",
        "/srv/data",
        "/var/lib/postgresql",
    ];
    let total = [50, 1, 200, 500, 2000, 1000][n] * GIB;
    let used = total / 100 * rng.random_range(20..80);
    let free = total - used;
    Disk {
        status: pb::DiskStatus {
            mount_point: MOUNTS[n].into(),
            device: format!("/dev/mapper/vg0-lv{n}"),
            filesystem: "ext4".into(),
            total_bytes: total,
            free_bytes: free,
            available_bytes: free.saturating_sub(total / 20),
            inodes_total: Some(total / 16_384),
            inodes_free: Some(free / 32_768),
            removable: false,
            network: false,
            read_only: false,
        },
        // 0 to ~4 MB an hour.
        growth_bytes_per_sec: rng.random_range(0..1_200),
    }
}

fn certificates(index: u32, now: i64, rng: &mut StdRng) -> pb::CertificateCheck {
    let certificates = (0..CERTIFICATES)
        .map(|n| {
            let name = format!("svc{n}.load-{index:05}.example.com");
            pb::CertificateStatus {
                sha256_fingerprint: format!("{:016x}", rng.random::<u64>()).repeat(4),
                subject: format!("CN={name}"),
                issuer: "CN=Example Issuing CA 2,O=Example Corp,C=US".into(),
                subject_alt_names: vec![name.clone(), format!("www.{name}")],
                serial: format!("{:032x}", rng.random::<u128>()),
                not_before_unix_secs: now - rng.random_range(10..300) * DAY,
                not_after_unix_secs: now + rng.random_range(5..400) * DAY,
                self_signed: false,
                is_ca: false,
                key_type: "RSA".into(),
                key_bits: 2048,
                signature_algorithm: "sha256WithRSAEncryption".into(),
                locations: vec![pb::CertificateLocation {
                    source: pb::CertificateSource::File.into(),
                    location: format!("/etc/ssl/private/svc{n}.pem"),
                }],
            }
        })
        .collect();
    pb::CertificateCheck {
        certificates,
        endpoints: Vec::new(),
    }
}

fn patches(now: i64, rng: &mut StdRng) -> pb::PatchCheck {
    let pending = (0..PENDING_UPDATES)
        .map(|n| pb::PendingUpdate {
            name: format!("lib-package-{n}"),
            installed_version: format!("2.{n}.{}-1ubuntu0.1", rng.random_range(0..9)),
            candidate_version: format!("2.{n}.{}-1ubuntu0.2", rng.random_range(0..9)),
            source: "noble-updates".into(),
            security: n % 5 == 0,
            severity: if n % 5 == 0 { "high" } else { "" }.into(),
            advisories: if n % 5 == 0 {
                vec![format!("USN-{}-1", 7000 + n)]
            } else {
                Vec::new()
            },
            phased: false,
        })
        .collect();
    pb::PatchCheck {
        package_manager: "apt".into(),
        scan_state: pb::ScanState::Ok.into(),
        scan_error: String::new(),
        last_successful_scan_unix_secs: Some(now - 3_600),
        last_successful_install_unix_secs: Some(now - 6 * DAY),
        pending,
        reboot_required: false,
        reboot_reasons: Vec::new(),
    }
}

fn backup_job(n: usize, now: i64, rng: &mut StdRng) -> pb::BackupJobStatus {
    const KINDS: [&str; BACKUP_JOBS] = ["restic", "borg", "veeam", "restic"];
    let finished = now - rng.random_range(600..20_000);
    pb::BackupJobStatus {
        name: format!("nightly-{n}"),
        kind: KINDS[n].into(),
        destination: format!("s3:https://backup.example.com/bucket-{n}"),
        last_run_started_unix_secs: Some(finished - 900),
        last_run_finished_unix_secs: Some(finished),
        result: pb::BackupResult::Success.into(),
        last_success_unix_secs: Some(finished),
        message: String::new(),
        duration_secs: Some(900),
        bytes: Some(rng.random_range(1..500) * GIB),
        files: Some(rng.random_range(10_000..2_000_000)),
        snapshot_count: Some(rng.random_range(10..90)),
        probe_error: String::new(),
        restore_verified_unix_secs: None,
        restore_verification_error: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    const NOW: i64 = 1_780_000_000;

    fn free_bytes(report: &pb::StatusReport) -> Vec<u64> {
        report
            .disks
            .as_ref()
            .unwrap()
            .filesystems
            .iter()
            .map(|d| d.free_bytes)
            .collect()
    }

    #[test]
    fn a_report_is_about_twelve_kilobytes() {
        let device = Device::new(7, NOW);
        let size = device.report("dev-7", "v1", 1, 9, NOW).encoded_len();
        assert!((10_000..14_000).contains(&size), "{size} bytes");
    }

    #[test]
    fn the_same_index_gives_the_same_device_and_others_differ() {
        let a = Device::new(3, NOW).report("d", "v1", 1, 9, NOW);
        let b = Device::new(3, NOW).report("d", "v1", 1, 9, NOW);
        let c = Device::new(4, NOW).report("d", "v1", 1, 9, NOW);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(c.host.unwrap().hostname, "load-00004");
    }

    #[test]
    fn an_unchanged_report_differs_only_in_seq_and_time() {
        let device = Device::new(1, NOW);
        let first = device.report("d", "v1", 1, 9, NOW);
        let mut second = device.report("d", "v1", 2, 9, NOW + 300);
        assert_eq!((second.seq, second.collected_at_unix_secs), (2, NOW + 300));
        second.seq = 1;
        second.collected_at_unix_secs = NOW;
        assert_eq!(first, second);
    }

    #[test]
    fn disk_usage_drifts_slowly_and_never_past_full() {
        let mut device = Device::new(2, NOW);
        let before = free_bytes(&device.report("d", "v1", 1, 9, NOW));
        device.change(NOW + 3_600);
        let after = free_bytes(&device.report("d", "v1", 2, 9, NOW + 3_600));
        for (b, a) in before.iter().zip(&after) {
            assert!(a <= b, "free space grew: {b} -> {a}");
            assert!(b - a < 5_000_000, "more than 5 MB in an hour: {b} -> {a}");
        }
        assert_ne!(before, after, "no disk moved in an hour");
        for hour in 2..24 * 365 {
            device.change(NOW + hour * 3_600);
        }
        let report = device.report("d", "v1", 3, 9, NOW);
        for disk in report.disks.unwrap().filesystems {
            assert!(disk.free_bytes <= disk.total_bytes, "{disk:?}");
            assert!(disk.available_bytes <= disk.free_bytes, "{disk:?}");
        }
    }
}
