//! A bounded pool of connections that have not proven who they are.
//!
//! When the pool is full, a connection already in it is closed to admit the
//! new one, rather than the new one being refused: the oldest connection of
//! the source address holding the most slots. A real agent comes from an
//! address holding one or two slots and finishes its TLS handshake in
//! milliseconds, so it is never the one closed while a flood's addresses
//! hold more; to push it out, a flood would need more addresses than the
//! pool has slots. A source at its own share (`max_per_source`) only ever
//! pushes out its own oldest. A slot is released when its connection ends.

use std::collections::{BTreeMap, HashMap};
use std::future::Future as _;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tracing::warn;

use super::WarnEvery;

/// How often "the pool is full" is logged while it stays full.
const FULL_WARNING_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct SlotPool {
    /// What the pool holds, for the log ("unauthenticated agent", "web").
    name: &'static str,
    max: usize,
    max_per_source: usize,
    state: Mutex<PoolState>,
    full: WarnEvery,
}

#[derive(Debug, Default)]
struct PoolState {
    next_id: u64,
    /// By admission order: the first entry is the oldest. Dropping the
    /// sender is what tells the connection to close.
    slots: BTreeMap<u64, (IpAddr, oneshot::Sender<()>)>,
    per_source: HashMap<IpAddr, usize>,
}

/// Why a connection had to make room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Full {
    Pool,
    Source,
}

impl PoolState {
    /// The slot to close before admitting one more from `source`, if any.
    fn victim(&self, source: IpAddr, max: usize, max_per_source: usize) -> Option<(u64, Full)> {
        if self.per_source.get(&source).copied().unwrap_or(0) >= max_per_source {
            self.slots
                .iter()
                .find(|(_, (ip, _))| *ip == source)
                .map(|(id, _)| (*id, Full::Source))
        } else if self.slots.len() >= max {
            self.heaviest_oldest().map(|id| (id, Full::Pool))
        } else {
            None
        }
    }

    /// The oldest slot of the source holding the most.
    fn heaviest_oldest(&self) -> Option<u64> {
        let heaviest = self.per_source.values().copied().max()?;
        self.slots
            .iter()
            .find(|(_, (ip, _))| self.per_source.get(ip) == Some(&heaviest))
            .map(|(id, _)| *id)
    }

    fn remove(&mut self, id: u64) -> bool {
        let Some((ip, _closed)) = self.slots.remove(&id) else {
            return false;
        };
        if let Some(count) = self.per_source.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                self.per_source.remove(&ip);
            }
        }
        true
    }
}

impl SlotPool {
    pub fn new(name: &'static str, max: usize, max_per_source: usize) -> Arc<Self> {
        Arc::new(Self {
            name,
            max: max.max(1),
            max_per_source: max_per_source.clamp(1, max.max(1)),
            state: Mutex::new(PoolState::default()),
            full: WarnEvery::new(FULL_WARNING_EVERY),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot for a new connection from `source`, first closing one if the
    /// pool is full (the oldest of the source holding the most) or `source`
    /// holds its share (its own oldest).
    pub fn admit(self: &Arc<Self>, source: IpAddr) -> Slot {
        let (closed_tx, closed) = oneshot::channel();
        let (id, made_room) = {
            let mut state = self.state();
            let made_room = state
                .victim(source, self.max, self.max_per_source)
                .inspect(|(victim, _)| {
                    state.remove(*victim);
                })
                .map(|(_, full)| full);
            let id = state.next_id;
            state.next_id += 1;
            state.slots.insert(id, (source, closed_tx));
            *state.per_source.entry(source).or_default() += 1;
            (id, made_room)
        };
        if let Some(full) = made_room
            && let Some(count) = self.full.event(Instant::now())
        {
            match full {
                Full::Pool => warn!(
                    pool = self.name,
                    max = self.max,
                    closed = count,
                    "too many {} connections at once: closing the oldest of the address \
                     holding the most to make room (a flood of idle or slow connections?)",
                    self.name
                ),
                Full::Source => warn!(
                    pool = self.name,
                    source = %source,
                    max_per_source = self.max_per_source,
                    closed = count,
                    "too many {} connections from {source}: closing its oldest to make room",
                    self.name
                ),
            }
        }
        Slot {
            pool: Arc::clone(self),
            id,
            closed,
        }
    }

    /// Closes one connection (the oldest of the source holding the most), to
    /// free a descriptor when they ran out.
    pub fn close_one(&self) -> bool {
        let mut state = self.state();
        let victim = state.heaviest_oldest();
        victim.is_some_and(|id| state.remove(id))
    }

    /// Connections holding a slot now.
    pub fn len(&self) -> usize {
        self.state().slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One connection's place in a [`SlotPool`]; released on drop.
#[derive(Debug)]
pub struct Slot {
    pool: Arc<SlotPool>,
    id: u64,
    closed: oneshot::Receiver<()>,
}

impl Slot {
    /// Ready once the pool took this slot back to make room.
    pub fn poll_taken(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        std::pin::Pin::new(&mut self.closed).poll(cx).map(|_| ())
    }

    /// Completes once the pool took this slot back to make room.
    pub async fn taken(&mut self) {
        std::future::poll_fn(|cx| self.poll_taken(cx)).await;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.pool.state().remove(self.id);
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    fn taken(slot: &mut Slot) -> bool {
        slot.poll_taken(&mut Context::from_waker(Waker::noop()))
            .is_ready()
    }

    #[test]
    fn a_full_pool_closes_its_oldest_connection_to_admit_a_new_one() {
        let pool = SlotPool::new("test", 3, 3);
        let mut slots: Vec<Slot> = (1..=3).map(|n| pool.admit(ip(n))).collect();
        assert!(slots.iter_mut().all(|slot| !taken(slot)));
        let mut newest = pool.admit(ip(4));
        assert!(taken(&mut slots[0]), "the oldest makes room");
        assert!(!taken(&mut slots[1]) && !taken(&mut slots[2]) && !taken(&mut newest));
        assert_eq!(pool.len(), 3);
    }

    #[test]
    fn a_full_pool_closes_a_connection_of_the_address_holding_the_most() {
        let pool = SlotPool::new("test", 4, 4);
        let mut agent = pool.admit(ip(1));
        let mut flood: Vec<Slot> = (0..3).map(|_| pool.admit(ip(9))).collect();
        let mut newcomer = pool.admit(ip(2));
        assert!(
            !taken(&mut agent),
            "the oldest, but its address holds one slot"
        );
        assert!(taken(&mut flood[0]), "the flood's oldest makes room");
        assert!(!taken(&mut flood[1]) && !taken(&mut flood[2]) && !taken(&mut newcomer));
    }

    #[test]
    fn one_source_at_its_share_only_pushes_out_its_own_oldest() {
        let pool = SlotPool::new("test", 10, 2);
        let mut other = pool.admit(ip(9));
        let mut first = pool.admit(ip(1));
        let mut second = pool.admit(ip(1));
        let mut third = pool.admit(ip(1));
        assert!(taken(&mut first));
        assert!(!taken(&mut second) && !taken(&mut third));
        assert!(!taken(&mut other), "another source keeps its slot");
        assert_eq!(pool.len(), 3);
    }

    #[test]
    fn an_ended_connection_frees_its_slot_and_taking_one_back_is_counted_once() {
        let pool = SlotPool::new("test", 2, 2);
        let first = pool.admit(ip(1));
        let mut second = pool.admit(ip(2));
        drop(first);
        assert_eq!(pool.len(), 1);
        let _third = pool.admit(ip(3));
        assert!(!taken(&mut second), "there was room: nobody is closed");
        assert!(pool.close_one());
        assert!(taken(&mut second));
        drop(second);
        assert_eq!(pool.len(), 1);
    }
}
