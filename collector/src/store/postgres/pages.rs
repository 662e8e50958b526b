//! SQL for the web pages' reads on PostgreSQL ([`PageReads`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use async_trait::async_trait;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::PostgresStore;
use super::alerts::{ALERT_COLUMNS, alert_from_row};
use crate::alerts::AlertRecord;
use crate::rules::forecast::DiskSample;
use crate::store::StoreError;
use crate::store::pages::{
    AlertCounts, ChangeMark, FleetAlerts, PageReads, TicketLink, device_matches, domain_named,
    domain_sql,
};
use crate::tickets::TicketRef;

const LINK_COLUMNS: &str = "a.alert_id, t.device_id, t.connector, t.external_id, t.url, t.opened_at, t.closed_at, t.closed_as";

fn link_from_row(row: &Row) -> TicketLink {
    TicketLink {
        alert_id: row.get(0),
        device_id: row.get(1),
        connector: row.get(2),
        reference: TicketRef {
            id: row.get(3),
            url: row.get(4),
        },
        opened_at: row.get(5),
        closed_at: row.get(6),
        closed_as: row.get(7),
    }
}

/// The `WHERE` of [`FleetAlerts`] over `alerts a`, reading $1 to $8 of
/// [`fleet_params`]. The groups bound the
/// alerts' device ids (a semi-join), not a join's column: the planner then
/// reads the few devices of the groups once instead of a device per alert.
const FLEET_WHERE: &str = "WHERE (NOT $1 OR a.state IN ('firing', 'acknowledged'))
       AND ($2::TEXT IS NULL OR a.state = $2)
       AND ($3::TEXT IS NULL OR a.severity = $3)
       AND a.rule = ANY($4)
       AND ($5::TEXT IS NULL OR a.device_id = $5)
       AND ($6::TEXT[] IS NULL OR a.device_id IN (SELECT id FROM devices WHERE group_name = ANY($6)))
       AND ($7::BIGINT IS NULL OR a.last_seen >= $7)
       AND ($8::BIGINT IS NULL OR a.last_seen < $8)";

/// The values of [`FLEET_WHERE`]'s $1 to $8.
struct FleetParams {
    raised_only: bool,
    state: Option<&'static str>,
    severity: Option<&'static str>,
    rules: Vec<&'static str>,
    device_id: Option<String>,
    groups: Option<Vec<String>>,
    last_seen_from: Option<i64>,
    last_seen_before: Option<i64>,
}

impl FleetParams {
    fn of(which: &FleetAlerts) -> Self {
        Self {
            raised_only: which.raised_only,
            state: which.state.map(|s| s.as_str()),
            severity: which.severity.map(|s| s.as_str()),
            rules: which.rule_names(),
            device_id: which.device_id.clone(),
            groups: which.groups.clone(),
            last_seen_from: which.last_seen_from,
            last_seen_before: which.last_seen_before,
        }
    }

    fn values(&self) -> [&(dyn ToSql + Sync); 8] {
        [
            &self.raised_only,
            &self.state,
            &self.severity,
            &self.rules,
            &self.device_id,
            &self.groups,
            &self.last_seen_from,
            &self.last_seen_before,
        ]
    }
}

/// A count from SQL as a `usize`.
fn count(row: &Row, i: usize) -> usize {
    usize::try_from(row.get::<_, i64>(i)).unwrap_or(0)
}

#[async_trait]
impl PageReads for PostgresStore {
    async fn fleet_alerts(&self, which: FleetAlerts) -> Result<Vec<AlertRecord>, StoreError> {
        let c = self.client().await?;
        let limit = which.limit.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        let offset = i64::try_from(which.offset).unwrap_or(i64::MAX);
        let (after_value, after_id) = which.after.unzip();
        let after = which.after_sql("$11::BIGINT", "$12::BIGINT");
        let fleet = FleetParams::of(&which);
        let mut values: Vec<&(dyn ToSql + Sync)> = fleet.values().to_vec();
        values.extend([&limit as &(dyn ToSql + Sync), &offset]);
        if !after.is_empty() {
            values.extend([&after_value as &(dyn ToSql + Sync), &after_id]);
        }
        let rows = c
            .query(
                // The page is cut from the alerts alone; only its rows meet their device.
                &format!(
                    "SELECT {ALERT_COLUMNS}
                     FROM (SELECT * FROM alerts a {FLEET_WHERE}{after} ORDER BY {order} LIMIT $9 OFFSET $10) a
                     LEFT JOIN devices d ON d.id = a.device_id
                     ORDER BY {order}",
                    order = which.order.sql()
                ),
                &values,
            )
            .await?;
        Ok(rows.iter().filter_map(alert_from_row).collect())
    }

    async fn count_alerts(&self, which: FleetAlerts) -> Result<usize, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_one(
                &format!("SELECT COUNT(*) FROM alerts a {FLEET_WHERE}"),
                &FleetParams::of(&which).values(),
            )
            .await?;
        Ok(count(&row, 0))
    }

    async fn alert_counts(
        &self,
        groups: Option<Vec<String>>,
    ) -> Result<Vec<AlertCounts>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT a.device_id, {} AS domain,
                            COUNT(*) FILTER (WHERE a.state = 'pending'),
                            COUNT(*) FILTER (WHERE a.state = 'firing'),
                            COUNT(*) FILTER (WHERE a.state = 'acknowledged'),
                            COUNT(*) FILTER (WHERE a.state <> 'pending' AND a.severity = 'critical')
                     FROM alerts a
                     WHERE a.state IN ('pending', 'firing', 'acknowledged')
                       AND ($1::TEXT[] IS NULL
                            OR a.device_id IN (SELECT id FROM devices WHERE group_name = ANY($1)))
                     GROUP BY a.device_id, domain",
                    domain_sql()
                ),
                &[&groups],
            )
            .await?;
        // Sorted here, in byte order: a sort in SQL would compare every
        // device id under the database's collation, the larger part of the
        // read's time with thousands of devices.
        let mut counts: Vec<AlertCounts> = rows
            .iter()
            .filter_map(|row| {
                Some(AlertCounts {
                    device_id: row.get(0),
                    domain: domain_named(row.get::<_, Option<&str>>(1)?)?,
                    pending: count(row, 2),
                    firing: count(row, 3),
                    acknowledged: count(row, 4),
                    critical: count(row, 5),
                })
            })
            .collect();
        counts.sort();
        Ok(counts)
    }

    async fn ack_notes(&self, alert_ids: &[i64]) -> Result<HashMap<i64, String>, StoreError> {
        if alert_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT t.alert_id, t.note FROM alert_transitions t
                 WHERE t.id IN (SELECT MAX(id) FROM alert_transitions
                                WHERE event = 'acknowledged' AND alert_id = ANY($1)
                                GROUP BY alert_id)
                   AND t.note IS NOT NULL",
                &[&alert_ids],
            )
            .await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    async fn disk_history(
        &self,
        device_id: &str,
        since: i64,
    ) -> Result<BTreeMap<String, Vec<DiskSample>>, StoreError> {
        let c = self.client().await?;
        Ok(super::alerts::disk_history(&c, device_id, since).await?)
    }

    async fn device_tickets(&self, device_id: &str) -> Result<Vec<TicketLink>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {LINK_COLUMNS} FROM alert_tickets a JOIN tickets t ON t.id = a.ticket_id
                     WHERE t.device_id = $1 ORDER BY t.opened_at DESC, a.alert_id DESC"
                ),
                &[&device_id],
            )
            .await?;
        Ok(rows.iter().map(link_from_row).collect())
    }

    async fn alert_tickets(&self, alert_ids: &[i64]) -> Result<Vec<TicketLink>, StoreError> {
        if alert_ids.is_empty() {
            return Ok(Vec::new());
        }
        let c = self.client().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {LINK_COLUMNS} FROM alert_tickets a JOIN tickets t ON t.id = a.ticket_id
                     WHERE a.alert_id = ANY($1) ORDER BY a.alert_id"
                ),
                &[&alert_ids],
            )
            .await?;
        Ok(rows.iter().map(link_from_row).collect())
    }

    async fn change_mark(&self) -> Result<ChangeMark, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_one(
                "SELECT
                    (SELECT COUNT(*) FROM devices),
                    (SELECT COALESCE(SUM(last_seq), 0)::BIGINT FROM devices),
                    (SELECT COALESCE(MAX(last_seen_at), 0) FROM devices),
                    (SELECT COUNT(retired_at) FROM devices),
                    (SELECT COALESCE(MAX(id), 0) FROM alert_transitions),
                    (SELECT COUNT(*) + COUNT(expired_at) FROM silences),
                    (SELECT COALESCE(MAX(id), 0) FROM console_audit)",
                &[],
            )
            .await?;
        Ok(ChangeMark {
            devices: row.get(0),
            reports: row.get(1),
            last_seen_at: row.get(2),
            retired: row.get(3),
            alert_changes: row.get(4),
            silences: row.get(5),
            audited: row.get(6),
        })
    }

    async fn search_devices(&self, text: &str) -> Result<HashSet<String>, StoreError> {
        let needle = text.trim().to_lowercase();
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT d.id, d.hostname, d.group_name, d.serial_number, s.report
                 FROM devices d LEFT JOIN device_status s ON s.device_id = d.id",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .filter(|row| {
                device_matches(
                    &needle,
                    row.get(0),
                    row.get(1),
                    row.get(2),
                    row.get(3),
                    row.get::<_, Option<&[u8]>>(4),
                )
            })
            .map(|row| row.get(0))
            .collect())
    }
}
