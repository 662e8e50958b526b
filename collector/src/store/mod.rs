//! The fleet's state: devices, enrollment tokens, latest status and history.
//!
//! `Store` is the seam between the collector and its database. SQLite is the
//! embedded default ([`sqlite::SqliteStore`]); PostgreSQL
//! ([`postgres::PostgresStore`]) serves several collectors sharing one
//! database. Both keep the same schema in their own migrations (BIGINT
//! seconds, TEXT ids). A backend decides nothing
//! about alerts: it loads a device's context, calls the alert engine
//! ([`crate::alerts::engine`]) inside its transaction and persists the plan.
//! Only [`open`] names a backend; [`StoreError`] names no driver's types.
//!
//! # Layout
//! - [`outbox`]: the outbox rows and the delivery interface of notifiers.
//! - [`ledger`]: what the ticket worker keeps: tickets per alert, outbox
//!   statistics and retention, the ticketing-failing alert.
//! - [`console`]: the console's users, sessions, API tokens and audit log.
//! - [`history`]: what a report leaves behind (unchanged reports, disk
//!   samples) and how retention thins it, the same for every backend.
//! - [`retention`]: the background job that applies [`history`]'s retention.
//! - [`pages`]: what the web pages read (disk history, ticket links, the
//!   change mark of live updates).
//! - [`seq`]: what a report's sequence number means (replay, restarted
//!   numbering, stale), decided the same way by every backend.
//! - [`sqlite`]: the SQLite backend (the only module that uses its driver).
//! - [`postgres`]: the PostgreSQL backend (likewise).
//! - `conformance` (tests): the suite every backend runs.
//! - `measure` (ignored tests): storage per device per month, ingest with
//!   history, sweep cost; run by hand, the same drivers on every backend.

#[cfg(test)]
pub(crate) mod conformance;
pub mod console;
pub mod history;
pub mod ledger;
#[cfg(test)]
pub(crate) mod measure;
pub mod outbox;
pub mod pages;
pub mod postgres;
pub mod retention;
pub mod seq;
pub mod sqlite;

#[cfg(test)]
pub(crate) use sqlite::tests::store_with_device;

use std::sync::Arc;

use async_trait::async_trait;
use forewarn_secret::{Secret, SecretSource};
use prost::Message;

use forewarn_proto::pb;

use crate::alerts::silence::Silence;
use crate::alerts::{AlertFilter, AlertRecord, AlertTransitionRecord};
use crate::fleet::hardware::{HardwareIdentity, KnownMachine};
use crate::rules::RuleBook;
use crate::store::console::{ConsoleStore, NewAuditEntry};
use crate::store::ledger::TicketLedger;
use crate::store::outbox::OutboxDelivery;
use crate::store::pages::PageReads;

/// Why a store call failed. Backend-neutral: each backend maps its driver's
/// errors into these, keeping the driver's error as the source, so nothing
/// outside a backend's folder names its driver.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("cannot open database {location}: {source}")]
    Open {
        /// The file path or connection address, without credentials.
        location: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("cannot create directory {path}: {source}")]
    CreateDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("database task failed: {0}")]
    Task(String),
}

/// Which backend holds the store, and where.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    /// An SQLite database file; it and its directory are created if missing.
    Sqlite { path: std::path::PathBuf },
    /// A PostgreSQL database (a `postgres://` URL) that several collectors
    /// may share; `password`, if set, is read at open and wins over one in
    /// the URL.
    Postgres {
        url: Secret,
        password: Option<SecretSource>,
        /// The most connections the collector opens to the database at once.
        max_connections: usize,
    },
}

/// Connections to PostgreSQL per collector unless configured
/// (`store_max_connections`): ingest's batches (four at once), the sweeper,
/// the ticket worker and the web page each at once, and room to spare.
pub const DEFAULT_POSTGRES_CONNECTIONS: usize = 16;

/// Opens the configured store and brings its schema up to date. The one
/// place that picks a backend: the rest of the collector sees only [`Store`].
pub async fn open(config: &StoreConfig) -> Result<Arc<dyn Store>, StoreError> {
    match config {
        StoreConfig::Sqlite { path } => Ok(Arc::new(sqlite::SqliteStore::open(path)?)),
        StoreConfig::Postgres {
            url,
            password,
            max_connections,
        } => {
            let password = password
                .as_ref()
                .map(SecretSource::load)
                .transpose()
                .map_err(|err| StoreError::Open {
                    location: "the PostgreSQL store (store_password)".into(),
                    source: Box::new(err),
                })?;
            Ok(Arc::new(
                postgres::PostgresStore::open_with_pool(url, password.as_ref(), *max_connections)
                    .await?,
            ))
        }
    }
}

/// A job that one collector at a time runs for everyone sharing the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Singleton {
    /// The alert sweep and the outbox prune.
    Sweeper,
    /// History retention: old reports deleted, disk samples thinned.
    Retention,
}

impl Singleton {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sweeper => "sweeper",
            Self::Retention => "retention",
        }
    }
}

/// Which devices a sweep plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepScope {
    /// Those whose next sweep time has come (see
    /// [`crate::alerts::engine::next_sweep_at`]): the sweeper's every tick.
    Due,
    /// Every active device that has reported: once when the sweeper starts,
    /// since the rules (and so each device's next sweep time) may have
    /// changed with the config.
    All,
}

/// A token to insert; `token_hash` is the SHA-256 of the secret, never the secret.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub id: String,
    pub token_hash: String,
    pub group: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub max_uses: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: String,
    pub group: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub max_uses: Option<u32>,
    pub uses: u32,
    pub revoked_at: Option<i64>,
}

/// Why a token did not enroll a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefusal {
    #[error("enrollment token is not known")]
    Unknown,
    #[error("enrollment token has expired")]
    Expired,
    #[error("enrollment token has been revoked")]
    Revoked,
    #[error("enrollment token has no uses left")]
    UsedUp,
}

#[derive(Debug, Clone)]
pub struct NewDevice {
    pub id: String,
    pub hostname: String,
    pub os: String,
    pub agent_version: String,
    pub enrolled_at: i64,
    pub cert_serial: String,
    pub cert_not_after: i64,
    /// Serial and system UUID, junk already dropped; kept to recognise the
    /// machine when it enrolls again after a re-image.
    pub hardware: HardwareIdentity,
}

/// What the store knows about a device's current certificate, for
/// [`crate::fleet::certificate::superseded`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentCertificate {
    pub serial: String,
    /// Not-before of the certificate issued when the machine last enrolled
    /// again; `None` if it never did.
    pub reenrolled_not_before: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    pub id: String,
    pub group: String,
    pub hostname: String,
    pub os: String,
    pub agent_version: String,
    pub enrolled_at: i64,
    pub retired_at: Option<i64>,
    pub cert_serial: String,
    pub cert_not_after: i64,
    pub last_seen_at: Option<i64>,
    pub last_seq: u64,
}

/// The disk-full forecast of one filesystem as of the device's last disk report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskForecastRecord {
    pub mount_point: String,
    /// "full in ~5 days", "needs 3 more days of history", "no trend".
    pub description: String,
    pub computed_at: i64,
}

/// A validated report from an authenticated device.
#[derive(Debug, Clone)]
pub struct IncomingReport {
    pub device_id: String,
    pub seq: u64,
    /// `StatusReport.boot_id`: tells a restarted numbering from a replay.
    pub boot_id: u64,
    pub collected_at: i64,
    pub received_at: i64,
    pub hostname: String,
    pub os: String,
    pub agent_version: String,
    /// The `forewarn.v1.StatusReport` itself.
    pub body: ReportBody,
    /// The client certificate the report came with, checked against the
    /// device's current one in the same call (a re-enrollment replaced it:
    /// [`IngestOutcome::SupersededCertificate`]). `None`: the caller has
    /// no certificate to check (tests, and callers that checked it).
    pub certificate: Option<PresentedCertificate>,
}

/// A report's content as it reaches the store.
#[derive(Debug, Clone, PartialEq)]
pub enum ReportBody {
    /// As the ingest handler decoded it: the store neither decodes it again
    /// nor encodes it, unless it is stored (it changed something).
    Decoded(Box<pb::StatusReport>),
    /// Encoded; decoded by the store (a body that does not decode is stored
    /// as it is, and only device-wide rules run).
    Encoded(Vec<u8>),
}

impl From<pb::StatusReport> for ReportBody {
    fn from(report: pb::StatusReport) -> Self {
        Self::Decoded(Box::new(report))
    }
}

impl From<Vec<u8>> for ReportBody {
    fn from(encoded: Vec<u8>) -> Self {
        Self::Encoded(encoded)
    }
}

impl ReportBody {
    /// The report decoded (`None`, with a warning, if it does not decode),
    /// keeping the bytes it came as.
    pub fn open(self, device_id: &str) -> OpenedReport {
        match self {
            Self::Decoded(report) => OpenedReport {
                status: Some(*report),
                encoded: None,
            },
            Self::Encoded(bytes) => OpenedReport {
                status: match pb::StatusReport::decode(bytes.as_slice()) {
                    Ok(report) => Some(report),
                    Err(err) => {
                        tracing::warn!(device_id = %device_id, error = %err, "stored report does not decode; only device-wide rules run");
                        None
                    }
                },
                encoded: Some(bytes),
            },
        }
    }
}

/// A report body as the store works with it.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenedReport {
    pub status: Option<pb::StatusReport>,
    /// The bytes it came as, if it came encoded.
    encoded: Option<Vec<u8>>,
}

impl OpenedReport {
    /// The bytes to store: as received, or the decoded report encoded.
    pub fn encoded(&self) -> std::borrow::Cow<'_, [u8]> {
        match (&self.encoded, &self.status) {
            (Some(bytes), _) => std::borrow::Cow::Borrowed(bytes),
            (None, Some(status)) => std::borrow::Cow::Owned(status.encode_to_vec()),
            (None, None) => std::borrow::Cow::Borrowed(&[]),
        }
    }
}

/// An [`IncomingReport`] made ready for a store's transaction: its body
/// decoded and fingerprinted before the transaction, so that work holds
/// neither SQLite's one writer nor a PostgreSQL device row lock.
#[derive(Debug)]
pub(crate) struct ReadyReport {
    /// The report; its `body` was moved to [`Self::body`] and is left empty.
    pub report: IncomingReport,
    pub body: OpenedReport,
    /// The body's [`history::fingerprints`]; `None` if it does not decode.
    pub fingerprints: Option<history::Fingerprints>,
}

impl IncomingReport {
    pub(crate) fn ready(mut self) -> ReadyReport {
        let body = std::mem::replace(&mut self.body, ReportBody::Encoded(Vec::new()));
        let mut body = body.open(&self.device_id);
        let fingerprints = body.status.as_mut().map(history::fingerprints);
        ReadyReport {
            report: self,
            body,
            fingerprints,
        }
    }
}

/// The certificate a device presented, as far as telling a replaced one
/// goes (see [`crate::fleet::certificate::superseded`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedCertificate {
    /// Lowercase hex.
    pub serial_hex: String,
    pub not_before: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestOutcome {
    /// Written as the device's latest status and appended to history;
    /// `notifications`: outbox rows its alert changes queued.
    Stored { group: String, notifications: usize },
    /// The agent's numbering restarted (see [`seq`]) and the report was newer
    /// than the stored one: written like `Stored`, the seq continues from it.
    Renumbered {
        group: String,
        previous_seq: u64,
        notifications: usize,
    },
    /// A seq at or below one already stored from the same boot: acknowledged
    /// up to the stored seq, nothing written.
    Replay { group: String, acked_seq: u64 },
    /// A report from an earlier boot, older than the stored one: acknowledged
    /// (only its own seq), nothing written.
    Stale { group: String },
    /// No device with that id.
    UnknownDevice,
    /// The device was retired; its reports are refused.
    Retired,
    /// The report came with a certificate that a re-enrollment of the
    /// device replaced; refused, nothing written.
    SupersededCertificate,
}

/// What one batch of history retention did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionBatch {
    /// The last device of the batch (by id); `None`: no devices were left,
    /// the round is over.
    pub last_device: Option<String>,
    pub reports_deleted: u64,
    pub samples_deleted: u64,
}

/// What history holds for one device (for `device show` and tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistorySummary {
    /// History lines, one per stored report.
    pub reports: u64,
    /// Lines that carry a body (the report changed something).
    pub bodies: u64,
    /// Disk samples, raw and thinned, of every filesystem.
    pub disk_samples: u64,
}

/// The device's latest report: `seq` and the times are the last report's,
/// `encoded` is the body of the last report that changed something (an
/// unchanged report is not written again).
#[derive(Debug, Clone)]
pub struct LatestStatus {
    pub seq: u64,
    pub collected_at: i64,
    pub received_at: i64,
    pub encoded: Vec<u8>,
}

/// Everything the collector keeps; the outbox, the ticket links and the
/// console's users and audit log are part of it, so one store object serves ingest, the ticket worker and the readers.
#[async_trait]
pub trait Store:
    OutboxDelivery + TicketLedger + ConsoleStore + PageReads + Send + Sync + std::fmt::Debug
{
    /// Answers when the database does (`SELECT 1`), for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Inserts an enrollment token and writes `audit`, in one transaction;
    /// false (and no audit row) if its id is taken.
    async fn create_token(&self, token: NewToken, audit: NewAuditEntry)
    -> Result<bool, StoreError>;
    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;
    /// Revokes an enrollment token at `audit.at` (a revoked one keeps its
    /// first time) and writes `audit`, in one transaction; false (and no
    /// audit row) if no such token.
    async fn revoke_token(&self, id: &str, audit: NewAuditEntry) -> Result<bool, StoreError>;
    /// Spends one use of the token and inserts the device, in one transaction.
    async fn enroll_device(
        &self,
        token_hash: &str,
        device: NewDevice,
        now: i64,
    ) -> Result<Result<DeviceRecord, TokenRefusal>, StoreError>;
    /// The group a token would enroll into, without spending it; `None`
    /// for a token that does not exist.
    async fn token_group(&self, token_hash: &str) -> Result<Option<String>, StoreError>;
    /// Devices (any group, retired too) sharing a known serial or system
    /// UUID with `hardware`: the candidates for
    /// [`crate::fleet::hardware::existing_device`].
    async fn known_machines(
        &self,
        hardware: &HardwareIdentity,
    ) -> Result<Vec<KnownMachine>, StoreError>;
    /// Spends one use of the token and gives the existing device `device.id`
    /// the new certificate and facts, in one transaction. Certificates
    /// issued up to `cert_not_before`, other than the new one, are refused
    /// from then on. Refused like [`Store::enroll_device`]; an error if the
    /// device was retired or removed meanwhile.
    async fn reenroll_device(
        &self,
        token_hash: &str,
        device: NewDevice,
        cert_not_before: i64,
        now: i64,
    ) -> Result<Result<DeviceRecord, TokenRefusal>, StoreError>;
    /// The device's current certificate, `None` for an unknown device.
    async fn current_certificate(
        &self,
        device_id: &str,
    ) -> Result<Option<CurrentCertificate>, StoreError>;
    async fn device(&self, id: &str) -> Result<Option<DeviceRecord>, StoreError>;
    async fn list_devices(&self) -> Result<Vec<DeviceRecord>, StoreError>;
    /// Retires a device at `audit.at` (a retired one keeps its first time)
    /// and writes `audit`, in one transaction; false (and no audit row) if
    /// no such device.
    async fn retire_device(&self, id: &str, audit: NewAuditEntry) -> Result<bool, StoreError>;
    /// Records a renewed device certificate.
    async fn record_certificate(
        &self,
        device_id: &str,
        serial: &str,
        not_after: i64,
    ) -> Result<(), StoreError>;
    /// Stores a report, its disk samples, and the alert changes and
    /// notifications the device's rules call for, in one transaction; or
    /// explains why it was not stored.
    async fn ingest_report(
        &self,
        report: IncomingReport,
        rules: Arc<RuleBook>,
    ) -> Result<IngestOutcome, StoreError>;
    async fn latest_status(&self, device_id: &str) -> Result<Option<LatestStatus>, StoreError>;
    /// The disk-full forecast of each of the device's judged filesystems.
    async fn disk_forecasts(&self, device_id: &str) -> Result<Vec<DiskForecastRecord>, StoreError>;
    /// Re-plans at `now` the alerts of the devices in `scope`, for what time
    /// alone changes (offline, `for`, dead-man, silences ending), each
    /// device's plan in its own transaction, and records when each is next
    /// due. Returns the number of notifications written.
    async fn sweep_alerts(
        &self,
        rules: Arc<RuleBook>,
        now: i64,
        scope: SweepScope,
    ) -> Result<usize, StoreError>;
    async fn list_alerts(&self, filter: AlertFilter) -> Result<Vec<AlertRecord>, StoreError>;
    async fn alert(
        &self,
        id: i64,
    ) -> Result<Option<(AlertRecord, Vec<AlertTransitionRecord>)>, StoreError>;
    /// Acknowledges a firing alert at `audit.at` and writes `audit`, in one
    /// transaction; false (and no audit row) if no firing alert has that id.
    async fn ack_alert(
        &self,
        id: i64,
        by: &str,
        note: &str,
        audit: NewAuditEntry,
    ) -> Result<bool, StoreError>;
    /// Stores a silence and writes `audit`, in one transaction.
    async fn add_silence(&self, silence: Silence, audit: NewAuditEntry) -> Result<(), StoreError>;
    async fn list_silences(&self) -> Result<Vec<Silence>, StoreError>;
    /// Ends a silence at `audit.at` and writes `audit`, in one transaction;
    /// false (and no audit row) if no such silence is in force or scheduled.
    async fn expire_silence(&self, id: &str, audit: NewAuditEntry) -> Result<bool, StoreError>;
    /// What history holds for `device_id`.
    async fn history_summary(&self, device_id: &str) -> Result<HistorySummary, StoreError>;
    /// One batch of history retention at `cutoffs` (see [`history`]): for up
    /// to `devices` devices whose id sorts after `after`, deletes old reports
    /// and thins old disk samples, in one transaction.
    async fn retain_history(
        &self,
        cutoffs: history::Cutoffs,
        after: &str,
        devices: usize,
    ) -> Result<RetentionBatch, StoreError>;
    /// Gives back the space thinning leaves unusable, once a day of
    /// retention (see [`retention::Compaction`]): nothing to do where the
    /// database merges emptied pages itself (SQLite).
    async fn compact_history(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Whether this collector runs `job` now, of all collectors sharing the
    /// store: takes the job if no one holds it, and keeps it until this
    /// store is dropped or its hold breaks. Ask before each run; a `false`
    /// may become `true` later (the holder died).
    async fn hold_singleton(&self, job: Singleton) -> Result<bool, StoreError>;
}
