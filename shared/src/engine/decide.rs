//! The sync decisions as a pure function: given what the engine knows, what
//! is the next step of a sync round? The engine executes the step, updates
//! the facts, and asks again until the answer is [`Step::Done`].

/// What the engine knows when it decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Facts {
    /// The token may push and compact.
    pub can_write: bool,
    /// A batch is in flight (sent, not yet acknowledged).
    pub has_outbox: bool,
    /// Saved local operations that are in no batch yet.
    pub unbatched_ops: u32,
    /// The document has local edits not yet saved to the store.
    pub unsaved: bool,
    /// A pull has completed in this round.
    pub pulled: bool,
    /// The last pull moved the cursor (or there was none yet).
    pub pull_progressed: bool,
    /// The last sequence number imported.
    pub cursor: u64,
    /// The highest head the server has announced.
    pub known_head: u64,
    /// Bytes of server entries above its floor, as far as the device knows.
    pub server_log_bytes: u64,
    /// Bytes of the server's snapshot, as far as the device knows.
    pub server_snapshot_bytes: u64,
    /// Bytes of the store's update log.
    pub local_log_bytes: u64,
    /// Bytes of the store's snapshot.
    pub local_snapshot_bytes: u64,
    /// A server compaction was tried in this round.
    pub server_compaction_tried: bool,
    /// A local compaction was done in this round.
    pub local_compaction_done: bool,
}

/// Thresholds of the decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// The server log is compacted once it is larger than the snapshot and
    /// at least this large.
    pub server_compact_min_bytes: u64,
    /// The local log is folded once it is larger than the local snapshot
    /// and at least this large.
    pub local_compact_min_bytes: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            server_compact_min_bytes: 1 << 20,
            local_compact_min_bytes: 256 << 10,
        }
    }
}

/// The next thing to do in a sync round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Save the document's unsaved edits to the store.
    Save,
    /// Send the in-flight batch, or form one from the saved operations.
    Push,
    /// Fetch and import what the server has after the cursor.
    Pull,
    /// Upload a snapshot covering everything up to the cursor, then fold
    /// the local log into it.
    CompactServer,
    /// Fold the local log into a new local snapshot.
    CompactLocal,
    /// Nothing left to do in this round.
    Done,
}

/// Decides the next step.
pub fn next_step(f: &Facts, t: &Thresholds) -> Step {
    if f.unsaved {
        return Step::Save;
    }
    if f.can_write && (f.has_outbox || f.unbatched_ops > 0) {
        return Step::Push;
    }
    if !f.pulled || (f.cursor < f.known_head && f.pull_progressed) {
        return Step::Pull;
    }
    let caught_up = f.cursor >= f.known_head;
    if f.can_write
        && caught_up
        && !f.server_compaction_tried
        && f.server_log_bytes >= t.server_compact_min_bytes
        && f.server_log_bytes > f.server_snapshot_bytes
    {
        return Step::CompactServer;
    }
    if !f.local_compaction_done
        && f.local_log_bytes >= t.local_compact_min_bytes
        && f.local_log_bytes > f.local_snapshot_bytes
    {
        return Step::CompactLocal;
    }
    Step::Done
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idle() -> Facts {
        Facts {
            can_write: true,
            pulled: true,
            pull_progressed: true,
            ..Facts::default()
        }
    }

    #[test]
    fn decisions_table() {
        let t = Thresholds {
            server_compact_min_bytes: 1000,
            local_compact_min_bytes: 500,
        };
        let cases: Vec<(&str, Facts, Step)> = vec![
            ("nothing to do", idle(), Step::Done),
            (
                "unsaved edits are saved first",
                Facts {
                    unsaved: true,
                    has_outbox: true,
                    ..idle()
                },
                Step::Save,
            ),
            (
                "a round starts with a pull",
                Facts {
                    pulled: false,
                    ..idle()
                },
                Step::Pull,
            ),
            (
                "saved ops are pushed",
                Facts {
                    unbatched_ops: 3,
                    ..idle()
                },
                Step::Push,
            ),
            (
                "an in-flight batch is resent",
                Facts {
                    has_outbox: true,
                    ..idle()
                },
                Step::Push,
            ),
            (
                "push goes before the pull",
                Facts {
                    unbatched_ops: 1,
                    pulled: false,
                    ..idle()
                },
                Step::Push,
            ),
            (
                "read-only tokens never push",
                Facts {
                    can_write: false,
                    unbatched_ops: 3,
                    pulled: false,
                    ..idle()
                },
                Step::Pull,
            ),
            (
                "behind the head: pull again",
                Facts {
                    cursor: 3,
                    known_head: 9,
                    ..idle()
                },
                Step::Pull,
            ),
            (
                "a pull that made no progress is not repeated",
                Facts {
                    cursor: 3,
                    known_head: 9,
                    pull_progressed: false,
                    ..idle()
                },
                Step::Done,
            ),
            (
                "large server log: compact",
                Facts {
                    server_log_bytes: 5000,
                    server_snapshot_bytes: 4000,
                    ..idle()
                },
                Step::CompactServer,
            ),
            (
                "server log smaller than its snapshot: keep it",
                Facts {
                    server_log_bytes: 5000,
                    server_snapshot_bytes: 6000,
                    ..idle()
                },
                Step::Done,
            ),
            (
                "small server log: keep it",
                Facts {
                    server_log_bytes: 999,
                    ..idle()
                },
                Step::Done,
            ),
            (
                "not caught up: no server compaction",
                Facts {
                    server_log_bytes: 5000,
                    cursor: 1,
                    known_head: 2,
                    pull_progressed: false,
                    ..idle()
                },
                Step::Done,
            ),
            (
                "read-only: no server compaction, but local folding",
                Facts {
                    can_write: false,
                    server_log_bytes: 5000,
                    local_log_bytes: 600,
                    ..idle()
                },
                Step::CompactLocal,
            ),
            (
                "server compaction is tried once per round",
                Facts {
                    server_log_bytes: 5000,
                    server_compaction_tried: true,
                    ..idle()
                },
                Step::Done,
            ),
            (
                "large local log: fold it",
                Facts {
                    local_log_bytes: 600,
                    ..idle()
                },
                Step::CompactLocal,
            ),
            (
                "local log smaller than the snapshot: keep it",
                Facts {
                    local_log_bytes: 600,
                    local_snapshot_bytes: 900,
                    ..idle()
                },
                Step::Done,
            ),
            (
                "local folding once per round",
                Facts {
                    local_log_bytes: 600,
                    local_compaction_done: true,
                    ..idle()
                },
                Step::Done,
            ),
        ];
        for (name, facts, want) in cases {
            assert_eq!(next_step(&facts, &t), want, "{name}");
        }
    }
}
