//! The store conformance suite: one set of behaviours, written against the
//! [`Store`] trait only, that every backend must pass. A backend runs it with
//! [`store_conformance_suite!`], giving an expression that makes a fresh,
//! empty store; each case becomes one `#[tokio::test]` of that backend.
//!
//! ```ignore
//! async fn fresh() -> (tempfile::TempDir, SqliteStore) { ... }
//! crate::store::conformance::store_conformance_suite!(fresh());
//! ```
//!
//! Tests of one backend's own mechanics (its migrations, its locking) stay
//! in that backend's folder.

mod alerts;
mod console;
mod console_changes;
mod devices;
mod history;
mod pages;
mod reenroll;
mod sweep;

pub(crate) use alerts::*;
pub(crate) use console::*;
pub(crate) use console_changes::*;
pub(crate) use devices::*;
pub(crate) use history::*;
pub(crate) use pages::*;
pub(crate) use reenroll::*;
pub(crate) use sweep::*;

use super::{NewDevice, NewToken, Store};

/// Enrolls device `d1` (host LAPTOP-042) in `group`, with token `t1`.
pub(crate) async fn enroll_d1(store: &dyn Store, group: &str) {
    enroll_with_token(store, ("t1", "aa"), "d1", "LAPTOP-042", group, "01").await;
}

/// `device` (host `host`) enrolled in `group` with a token of its own.
pub(crate) async fn enroll_in(store: &dyn Store, device: &str, host: &str, group: &str) {
    let (id, hash) = (format!("t-{device}"), format!("hash-{device}"));
    enroll_with_token(store, (&id, &hash), device, host, group, device).await;
}

/// Creates the token `(id, hash)` for `group` and enrolls `device` with it
/// at time 10, its certificate serial `serial`.
async fn enroll_with_token(
    store: &dyn Store,
    (token_id, token_hash): (&str, &str),
    device: &str,
    host: &str,
    group: &str,
    serial: &str,
) {
    store
        .create_token(
            NewToken {
                id: token_id.into(),
                token_hash: token_hash.into(),
                group: group.into(),
                created_at: 0,
                expires_at: i64::MAX,
                max_uses: None,
            },
            entry(0, "enrollment_token.create", token_id),
        )
        .await
        .unwrap();
    store
        .enroll_device(
            token_hash,
            NewDevice {
                id: device.into(),
                hostname: host.into(),
                os: "linux".into(),
                agent_version: "0.1.0".into(),
                enrolled_at: 10,
                cert_serial: serial.into(),
                cert_not_after: i64::MAX,
                hardware: Default::default(),
            },
            10,
        )
        .await
        .unwrap()
        .unwrap();
}

/// Defines one `#[tokio::test]` per conformance case, each on a store made
/// by `$fresh` (an expression giving a future of `(guard, store)`; the guard
/// keeps what the store lives in, a temp dir or a schema, until the end).
macro_rules! store_conformance_suite {
    ($fresh:expr) => {
        $crate::store::conformance::store_conformance_suite!(@cases $fresh;
            single_use_token_enrolls_once,
            expired_and_revoked_tokens_are_refused,
            replayed_seq_is_acknowledged_without_writing,
            restarted_numbering_is_stored_and_stale_reports_are_not,
            retired_and_unknown_devices_write_nothing,
            ingest_opens_escalates_and_resolves_with_outbox_rows,
            outbox_claim_keeps_alert_order_retries_and_lease_expiry,
            silence_suppresses_notification_not_state_and_sweep_notifies_after,
            silences_are_listed_and_expired,
            acknowledgement_is_recorded_and_cleared_by_a_new_episode,
            sweep_raises_offline_for_servers_and_a_report_resolves_it,
            disk_history_feeds_the_forecast,
            ticketing_failing_alert_opens_updates_and_resolves,
            known_machines_are_found_by_serial_or_uuid,
            reenrolling_keeps_the_id_and_marks_the_old_certificate,
            reenrolling_is_refused_for_a_spent_token_or_a_retired_device,
            users_are_kept_and_a_new_password_ends_their_sessions,
            api_tokens_are_found_by_hash_used_and_revoked,
            audit_rows_list_newest_first_with_filters,
            devices_move_between_groups_and_are_restored,
            sweep_plans_due_devices_and_leaves_the_others_untouched,
            offline_escalates_at_the_first_sweep_after_its_minute,
            a_sweep_at_exactly_the_offline_level_raises_it,
            ending_a_silence_early_notifies_what_it_held_at_the_next_sweep,
            an_unchanged_report_keeps_the_plan_until_something_can_change,
            an_unchanged_report_is_a_line_without_a_body,
            retention_bounds_history_and_keeps_the_forecast,
            forecast_from_day_rows_matches_every_sample_as_the_window_moves,
            the_newest_sample_the_forecast_reads_is_the_newest_stored,
            a_sample_from_a_clock_ahead_is_not_the_forecasts_newest_yet,
            alert_note_and_its_audit_row_are_written_together,
            a_failed_delivery_is_retried_once_with_its_audit_row,
            deleting_a_device_removes_what_is_kept_about_it,
            an_acknowledgement_and_its_audit_row_are_written_together,
            silences_are_added_and_ended_with_their_audit_rows,
            retiring_a_device_writes_its_audit_row_with_it,
            enrollment_tokens_are_made_and_revoked_with_their_audit_rows,
            disk_history_is_read_per_mount_point_oldest_first,
            ticket_links_are_read_by_device_and_by_alert,
            change_mark_moves_on_reports_acks_silences_and_device_changes,
            devices_are_found_by_name_group_serial_model_and_user,
            fleet_alerts_are_filtered_ordered_and_cut_in_the_store,
            alerts_are_counted_per_device_and_domain_within_groups,
            ack_notes_are_the_last_acknowledgements,
            skipped_notifications_are_not_counted_as_delivered
        );
    };
    (@cases $fresh:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let (_guard, store) = $fresh.await;
                $crate::store::conformance::$case(&store).await;
            }
        )*
    };
}

pub(crate) use store_conformance_suite;
