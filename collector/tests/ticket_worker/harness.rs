//! The recording ticket system and the store fixture the worker tests share.
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use forewarn_collector::alerts::{AlertFilter, AlertStatus};
use forewarn_collector::rules::{RuleBook, RuleId};
use forewarn_collector::store::ledger::TicketLedger;
use forewarn_collector::store::outbox::{OutboxDelivery, OutboxState};
use forewarn_collector::store::sqlite::SqliteStore;
use forewarn_collector::store::{IncomingReport, NewDevice, NewToken, Store};
use forewarn_collector::tickets::config::TicketsConfig;
use forewarn_collector::tickets::metrics::TicketMetrics;
use forewarn_collector::tickets::worker::TicketWorker;
use forewarn_collector::tickets::{Connector, ConnectorError, TicketRef, TicketRequest};
use forewarn_proto::pb;

pub const T0: i64 = 1_795_000_000;
pub const SYSTEM: &str = "recording";

#[derive(Debug, Clone, PartialEq)]
pub struct FakeTicket {
    pub key: String,
    pub subject: String,
    pub body: String,
    pub priority: String,
    pub comments: Vec<String>,
    pub resolved: bool,
    pub worked_by_human: bool,
}

/// A failure the recording connector answers with instead of doing the operation.
#[derive(Debug, Clone, Copy)]
pub enum Failure {
    Unavailable { retry_after_secs: Option<u64> },
    Forbidden,
}

impl Failure {
    pub fn error(self) -> ConnectorError {
        match self {
            Failure::Unavailable { retry_after_secs } => ConnectorError::Unavailable {
                system: SYSTEM,
                status: 503,
                message: "maintenance".into(),
                retry_after: retry_after_secs.map(Duration::from_secs),
            },
            Failure::Forbidden => ConnectorError::Forbidden {
                system: SYSTEM,
                message: "queue not writable".into(),
            },
        }
    }
}

#[derive(Debug, Default)]
pub struct SystemState {
    pub tickets: BTreeMap<String, FakeTicket>,
    /// Every operation, in order: "find", "open", "comment", "resolve", "worked".
    pub calls: Vec<String>,
    pub fail_next: VecDeque<Failure>,
    pub down: bool,
    /// `open` creates the ticket and then the worker dies (panics) before it
    /// can store the reference.
    pub crash_after_open: bool,
}

#[derive(Debug, Clone, Default)]
pub struct RecordingSystem(pub Arc<Mutex<SystemState>>);

impl RecordingSystem {
    pub fn state(&self) -> std::sync::MutexGuard<'_, SystemState> {
        self.0.lock().unwrap()
    }

    pub fn tickets(&self) -> Vec<FakeTicket> {
        self.state().tickets.values().cloned().collect()
    }

    /// The ticket whose correlation key belongs to `device` (panics when none).
    pub fn ticket_of(&self, device: &str) -> FakeTicket {
        let prefix = format!("{device}/");
        self.tickets()
            .into_iter()
            .find(|t| t.key.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no ticket of {device}"))
    }

    pub fn only_ticket(&self) -> FakeTicket {
        let tickets = self.tickets();
        assert_eq!(tickets.len(), 1, "{tickets:#?}");
        tickets[0].clone()
    }

    pub fn calls(&self) -> Vec<String> {
        self.state().calls.clone()
    }

    pub fn begin(&self, call: &str) -> Result<(), ConnectorError> {
        let mut state = self.state();
        state.calls.push(call.into());
        if state.down {
            return Err(Failure::Unavailable {
                retry_after_secs: None,
            }
            .error());
        }
        match state.fail_next.pop_front() {
            Some(failure) => Err(failure.error()),
            None => Ok(()),
        }
    }

    pub fn with_ticket<T>(&self, id: &str, f: impl FnOnce(&mut FakeTicket) -> T) -> T {
        f(self.state().tickets.get_mut(id).expect("known ticket"))
    }
}

#[async_trait]
impl Connector for RecordingSystem {
    fn system(&self) -> &'static str {
        SYSTEM
    }

    async fn find_open(&self, key: &str) -> Result<Option<TicketRef>, ConnectorError> {
        self.begin("find")?;
        Ok(self
            .state()
            .tickets
            .iter()
            .find(|(_, t)| t.key == key && !t.resolved)
            .map(|(id, _)| TicketRef {
                id: id.clone(),
                url: None,
            }))
    }

    async fn open(&self, request: &TicketRequest) -> Result<TicketRef, ConnectorError> {
        self.begin("open")?;
        let (id, crash) = {
            let mut state = self.state();
            let id = (state.tickets.len() + 1).to_string();
            state.tickets.insert(
                id.clone(),
                FakeTicket {
                    key: request.correlation_key.clone(),
                    subject: request.subject.clone(),
                    body: request.body.clone(),
                    priority: request.priority.clone(),
                    comments: Vec::new(),
                    resolved: false,
                    worked_by_human: false,
                },
            );
            (id, std::mem::take(&mut state.crash_after_open))
        };
        assert!(!crash, "simulated crash after the ticket was created");
        Ok(TicketRef { id, url: None })
    }

    async fn comment(&self, ticket: &TicketRef, text: &str) -> Result<(), ConnectorError> {
        self.begin("comment")?;
        self.with_ticket(&ticket.id, |t| t.comments.push(text.into()));
        Ok(())
    }

    async fn resolve(&self, ticket: &TicketRef, text: &str) -> Result<(), ConnectorError> {
        self.begin("resolve")?;
        self.with_ticket(&ticket.id, |t| {
            t.comments.push(text.into());
            t.resolved = true;
        });
        Ok(())
    }

    async fn worked_by_human(&self, ticket: &TicketRef) -> Result<bool, ConnectorError> {
        self.begin("worked")?;
        Ok(self.with_ticket(&ticket.id, |t| t.worked_by_human))
    }

    async fn check_access(&self) -> Vec<String> {
        Vec::new()
    }
}

pub struct Fixture {
    pub _dir: tempfile::TempDir,
    pub store: Arc<SqliteStore>,
    pub system: RecordingSystem,
    pub metrics: Arc<TicketMetrics>,
    pub config: Arc<TicketsConfig>,
    pub seq: u64,
}

pub const BASE_CONFIG: &str = r#"
dashboard_url = "https://forewarn.example.com"
min_retry_secs = 10
max_retry_secs = 300
max_delivery_age_secs = 600
[connectors.rt]
kind = "request_tracker"
url = "https://rt.example.com/rt"
token = { env = "UNUSED_BY_THE_RECORDING_CONNECTOR" }
queue = "Endpoint Alerts"
"#;

impl Fixture {
    /// A store with devices d1 and d2 and the base config plus `policies`.
    pub async fn new(policies: &str) -> Self {
        Self::with_config("", policies).await
    }

    /// As [`Fixture::new`], with `top` level `[tickets]` keys first.
    pub async fn with_config(top: &str, policies: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("db.sqlite3")).unwrap());
        store
            .create_token(
                NewToken {
                    id: "t1".into(),
                    token_hash: "aa".into(),
                    group: "laptops".into(),
                    created_at: 0,
                    expires_at: i64::MAX,
                    max_uses: None,
                },
                forewarn_collector::console::auth::audit_entry(
                    "test",
                    "enrollment_token.create",
                    "",
                    "",
                    "test",
                ),
            )
            .await
            .unwrap();
        for id in ["d1", "d2"] {
            store
                .enroll_device(
                    "aa",
                    NewDevice {
                        id: id.into(),
                        hostname: format!("LAPTOP-{id}"),
                        os: "linux".into(),
                        agent_version: "0.1.0".into(),
                        enrolled_at: 10,
                        cert_serial: "01".into(),
                        cert_not_after: i64::MAX,
                        hardware: Default::default(),
                    },
                    10,
                )
                .await
                .unwrap()
                .unwrap();
        }
        let config: TicketsConfig =
            toml::from_str(&format!("{top}{BASE_CONFIG}{policies}")).unwrap();
        assert_eq!(config.problems(), Vec::<String>::new());
        Self {
            _dir: dir,
            store,
            system: RecordingSystem::default(),
            metrics: Arc::new(TicketMetrics::default()),
            config: Arc::new(config),
            seq: 0,
        }
    }

    /// A worker as after a (re)start: same store, same ticket system.
    pub fn worker(&self) -> Arc<TicketWorker> {
        let mut connectors: BTreeMap<String, Arc<dyn Connector>> = BTreeMap::new();
        connectors.insert("rt".into(), Arc::new(self.system.clone()));
        Arc::new(
            TicketWorker::with_connectors(
                Arc::clone(&self.config),
                self.store.clone(),
                connectors,
                Arc::clone(&self.metrics),
            )
            .with_jitter(|| 0.0),
        )
    }

    /// Ingests a report of `device` at `at` with the given backup jobs
    /// (name, failed) and, if given, the root filesystem's free GiB of 100.
    pub async fn report(
        &mut self,
        device: &str,
        at: i64,
        jobs: &[(&str, bool)],
        free_gib: Option<u64>,
    ) {
        const GIB: u64 = 1 << 30;
        self.seq += 1;
        let status = pb::StatusReport {
            seq: self.seq,
            collected_at_unix_secs: at,
            host: Some(pb::HostFacts {
                hostname: format!("LAPTOP-{device}"),
                os_family: "linux".into(),
                os_name: "Debian GNU/Linux".into(),
                os_version: "12".into(),
                model: "ThinkPad T14".into(),
                serial_number: "PF3XYZ".into(),
                primary_user: "alice".into(),
                ..Default::default()
            }),
            backups: Some(pb::BackupCheck {
                jobs: jobs
                    .iter()
                    .map(|(name, failed)| pb::BackupJobStatus {
                        name: (*name).into(),
                        kind: "restic".into(),
                        result: if *failed {
                            pb::BackupResult::Failed as i32
                        } else {
                            pb::BackupResult::Success as i32
                        },
                        last_run_finished_unix_secs: Some(at - 60),
                        last_success_unix_secs: Some(at - 3600),
                        message: if *failed {
                            "Fatal: unable to open repository".into()
                        } else {
                            String::new()
                        },
                        ..Default::default()
                    })
                    .collect(),
            }),
            disks: free_gib.map(|free| pb::DiskCheck {
                filesystems: vec![pb::DiskStatus {
                    mount_point: "/".into(),
                    total_bytes: 100 * GIB,
                    free_bytes: free * GIB,
                    available_bytes: free * GIB,
                    ..Default::default()
                }],
            }),
            ..Default::default()
        };
        let mut rules = RuleBook::default();
        rules.default.disk_free_bytes.enabled = false;
        self.store
            .ingest_report(
                IncomingReport {
                    device_id: device.into(),
                    seq: self.seq,
                    boot_id: 0,
                    collected_at: at,
                    received_at: at,
                    hostname: format!("LAPTOP-{device}"),
                    os: "linux".into(),
                    agent_version: "0.1.0".into(),
                    body: status.into(),
                    certificate: None,
                },
                Arc::new(rules),
            )
            .await
            .unwrap();
    }

    pub async fn alert_id(&self, device: &str, rule: RuleId, subject: &str) -> i64 {
        self.store
            .list_alerts(AlertFilter::default())
            .await
            .unwrap()
            .into_iter()
            .find(|a| a.device_id == device && a.rule == rule && a.subject == subject)
            .expect("alert exists")
            .id
    }

    pub async fn stored_ticket(&self, alert_id: i64) -> Option<String> {
        self.store
            .alert_ticket(alert_id)
            .await
            .unwrap()
            .map(|l| l.reference.id)
    }

    pub async fn rows(&self, state: OutboxState) -> usize {
        self.store.outbox_in_state(state).await.unwrap().len()
    }

    pub async fn ticketing_alert(&self) -> Option<AlertStatus> {
        self.store
            .list_alerts(AlertFilter::default())
            .await
            .unwrap()
            .into_iter()
            .find(|a| a.rule == RuleId::TicketingFailing)
            .map(|a| a.status)
    }

    pub async fn metrics_text(&self, now: i64) -> String {
        forewarn_collector::web::metrics::render(self.store.as_ref(), &self.metrics, now)
            .await
            .unwrap()
    }
}
