//! What a report's sequence number means against the device's last stored one.
//!
//! Pure and backend-neutral, so every store decides the same way. An agent's
//! numbering restarts when its state directory is restored from an older copy
//! or cannot be written at start (it then counts in memory from the spool);
//! such reports carry a new `boot_id` and newer data, and must be stored, not
//! acknowledged as replays — otherwise the device looks offline while it reports.

/// The device's last stored report, as far as sequencing is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredSeq {
    pub seq: u64,
    pub boot_id: u64,
    /// `collected_at` of the stored report; `None` before the first report.
    pub collected_at: Option<i64>,
}

/// The incoming report, as far as sequencing is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncomingSeq {
    pub seq: u64,
    pub boot_id: u64,
    pub collected_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqVerdict {
    /// Above the stored seq: store it.
    Next,
    /// The agent's numbering restarted and this report is newer than the stored
    /// one: store it and continue from its seq.
    Renumbered,
    /// Already stored (same boot, or an agent without boot ids): acknowledge up
    /// to the stored seq, write nothing.
    Replay,
    /// From an earlier boot and older than what is stored (a spooled report of
    /// a restored state directory): acknowledge this seq only, write nothing.
    Stale,
}

pub fn judge(stored: StoredSeq, incoming: IncomingSeq) -> SeqVerdict {
    if incoming.seq > stored.seq {
        return SeqVerdict::Next;
    }
    let newer = |strictly: bool| match stored.collected_at {
        None => true,
        Some(at) if strictly => incoming.collected_at > at,
        Some(at) => incoming.collected_at >= at,
    };
    if incoming.boot_id == 0 && stored.boot_id == 0 {
        // Neither side knows boots: a report strictly newer than the stored one
        // cannot be a replay of it.
        return if newer(true) {
            SeqVerdict::Renumbered
        } else {
            SeqVerdict::Replay
        };
    }
    if incoming.boot_id == stored.boot_id {
        // One boot numbers strictly upwards: this seq was sent before.
        return SeqVerdict::Replay;
    }
    if newer(false) {
        SeqVerdict::Renumbered
    } else {
        SeqVerdict::Stale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STORED: StoredSeq = StoredSeq {
        seq: 10,
        boot_id: 7,
        collected_at: Some(1_000),
    };

    fn incoming(seq: u64, boot_id: u64, collected_at: i64) -> IncomingSeq {
        IncomingSeq {
            seq,
            boot_id,
            collected_at,
        }
    }

    #[test]
    fn higher_seq_is_next_whatever_the_boot() {
        assert_eq!(judge(STORED, incoming(11, 7, 1_100)), SeqVerdict::Next);
        assert_eq!(judge(STORED, incoming(11, 8, 1_100)), SeqVerdict::Next);
    }

    #[test]
    fn lower_seq_from_the_same_boot_is_a_replay() {
        assert_eq!(judge(STORED, incoming(10, 7, 1_000)), SeqVerdict::Replay);
        assert_eq!(judge(STORED, incoming(4, 7, 900)), SeqVerdict::Replay);
    }

    #[test]
    fn restarted_numbering_with_newer_data_is_stored() {
        // In-memory fallback after a full state disk: seq 1 again.
        assert_eq!(judge(STORED, incoming(1, 9, 1_100)), SeqVerdict::Renumbered);
        // Restored state directory: seq 6 from a new boot.
        assert_eq!(judge(STORED, incoming(6, 9, 1_000)), SeqVerdict::Renumbered);
    }

    #[test]
    fn older_report_from_another_boot_is_stale() {
        assert_eq!(judge(STORED, incoming(5, 3, 900)), SeqVerdict::Stale);
    }

    #[test]
    fn agents_without_boot_ids_keep_replays_idempotent_but_are_not_swallowed() {
        let stored = StoredSeq {
            boot_id: 0,
            ..STORED
        };
        assert_eq!(judge(stored, incoming(10, 0, 1_000)), SeqVerdict::Replay);
        assert_eq!(judge(stored, incoming(3, 0, 1_100)), SeqVerdict::Renumbered);
    }
}
