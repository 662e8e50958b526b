//! Live updates: `GET /events` is a server-sent event stream that says
//! `change` whenever the store's [`ChangeMark`] moves (a report stored, an
//! alert changed or acknowledged, a silence added or ended, a device moved,
//! retired, restored or deleted). The page then
//! fetches itself again and swaps its content; the event carries no data,
//! so what a person sees is still decided by the page, within their groups.
//!
//! The mark is read every [`POLL`] from the store rather than pushed from
//! ingest, so a change made by any collector sharing a PostgreSQL store
//! reaches every browser. A stream ends after [`MAX_STREAM`]; the browser
//! reconnects on its own, signing-in again being checked then.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;

use super::SignedIn;
use crate::console::state::ConsoleState;

/// How often the change mark is read, per open page.
pub const POLL: Duration = Duration::from_millis(500);
/// How long one stream lasts before the browser reconnects.
pub const MAX_STREAM: Duration = Duration::from_secs(15 * 60);

pub async fn stream(
    State(state): State<ConsoleState>,
    SignedIn(_caller): SignedIn,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        let started = tokio::time::Instant::now();
        let mut last = state.store.change_mark().await.ok();
        let mut ticks = tokio::time::interval(POLL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while started.elapsed() < MAX_STREAM {
            ticks.tick().await;
            if tx.is_closed() {
                return;
            }
            let Ok(mark) = state.store.change_mark().await else {
                continue;
            };
            if last != Some(mark) {
                last = Some(mark);
                if tx
                    .send(Ok(Event::default().event("change").data("1")))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    });
    Sse::new(ReceiverStream::new(rx)).keep_alive(KeepAlive::default())
}
