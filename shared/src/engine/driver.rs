//! The sync driver's decisions as a pure function: given how the last round
//! ended and what happened since, what should the host do next — run a
//! round, wait for the server's next head, sleep, or stop?
//!
//! Both drivers (the native device's `Device::watch` and the browser
//! worker's `session::drive`) only carry out [`next_action`]'s answers;
//! how they wait (a tokio sleep, a browser timer, the live events stream)
//! is theirs, what they wait for is decided here. No clock, no randomness:
//! the host passes the jitter it drew.

use super::backoff::{Backoff, retry_delay};

/// How long a connected device idles, with no head announced and no local
/// edit, before it runs a round anyway (in case the live events stream
/// missed an announcement).
pub const SAFETY_POLL_MS: u64 = 60_000;

/// How long to wait before a round after the live events stream broke (so
/// that a stream the server keeps refusing does not spin the driver).
pub const EVENTS_RETRY_MS: u64 = 1_000;

/// How the last sync round ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RoundOutcome {
    /// No round has run since the driver started or the device was
    /// (re)connected.
    #[default]
    NotYet,
    /// The round finished: nothing was left to do.
    Done,
    /// The round did work and stopped with more possibly left (its step
    /// limit): run another.
    More,
    /// The round failed.
    Failed,
}

/// Where the device stands with the server, as the engine and the host's
/// profile report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Standing {
    /// Connected with a token that may push.
    #[default]
    ReadWrite,
    /// Connected with a read-only token: it pulls, it has nothing to push.
    ReadOnly,
    /// Not connected to a server (yet): nothing to sync with.
    Unconnected,
    /// The server refused the token for good (revoked, expired, unknown):
    /// syncing stops, the data stays.
    Removed,
}

/// What the driver knows when it decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DriverFacts {
    /// How the last round ended.
    pub last_round: RoundOutcome,
    /// Since the last round, the live events announced a head newer than
    /// what this device has.
    pub head_announced: bool,
    /// Since the last round, the live events stream broke.
    pub events_failed: bool,
    /// Since the last round, local edits were made (and saved).
    pub local_edits: bool,
    /// Since the last round, the user asked for a sync.
    pub sync_requested: bool,
    /// The wait the driver was told to do (a backoff sleep, the safety
    /// poll) is over.
    pub timer_elapsed: bool,
    /// The engine's count of consecutive failed rounds.
    pub failures: u32,
    /// The server's `Retry-After` after the last failure, in milliseconds.
    pub retry_after_ms: Option<u64>,
    /// Where the device stands with the server.
    pub standing: Standing,
}

impl DriverFacts {
    /// The facts after a round that ended with `outcome`: what happened
    /// before it is spent.
    pub fn after_round(self, outcome: RoundOutcome) -> Self {
        Self {
            last_round: outcome,
            ..self.quiet()
        }
    }

    /// The facts with nothing having happened since the last decision (the
    /// host sets what ends its next wait).
    pub fn quiet(self) -> Self {
        Self {
            head_announced: false,
            events_failed: false,
            local_edits: false,
            sync_requested: false,
            timer_elapsed: false,
            ..self
        }
    }
}

/// What the driver does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Run a sync round now.
    SyncNow,
    /// Idle until the live events announce a newer head, a local edit is
    /// made, or `poll_ms` pass (the safety poll), whichever comes first.
    WaitForHead { poll_ms: u64 },
    /// Wait `ms` milliseconds, then decide again. If `edits_wake`, a local
    /// edit ends the wait early (a backoff); if not, edits made meanwhile
    /// are taken after it (the pause after the events stream broke: the
    /// server is likely going away, and a burst of edits made meanwhile
    /// then goes into one batch).
    Sleep { ms: u64, edits_wake: bool },
    /// Do not sync: the device is not connected or was removed. A host that
    /// can be reconnected waits for that; one that cannot, returns.
    Stop,
}

/// Decides the driver's next action. `jitter` is a random `u64` the host
/// drew (all 64 bits: [`retry_delay`] spreads it over the upper half of the
/// backoff delay).
pub fn next_action(f: &DriverFacts, backoff: &Backoff, jitter: u64) -> Action {
    if matches!(f.standing, Standing::Unconnected | Standing::Removed) {
        return Action::Stop;
    }
    if f.last_round == RoundOutcome::NotYet || f.sync_requested || f.timer_elapsed {
        return Action::SyncNow;
    }
    // A read-only device has nothing to push: its edits stay local.
    if f.local_edits && f.standing == Standing::ReadWrite {
        return Action::SyncNow;
    }
    if f.last_round == RoundOutcome::Failed {
        // A failed round counts as a failure even if the engine's own
        // round succeeded (the host's work after it failed).
        let ms = retry_delay(backoff, f.failures.max(1), jitter, f.retry_after_ms);
        return Action::Sleep {
            ms,
            edits_wake: true,
        };
    }
    if f.events_failed {
        return Action::Sleep {
            ms: EVENTS_RETRY_MS,
            edits_wake: false,
        };
    }
    if f.head_announced || f.last_round == RoundOutcome::More {
        return Action::SyncNow;
    }
    Action::WaitForHead {
        poll_ms: SAFETY_POLL_MS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::random::jitter_from_random;

    fn synced() -> DriverFacts {
        DriverFacts {
            last_round: RoundOutcome::Done,
            ..DriverFacts::default()
        }
    }

    fn backing_off(ms: u64) -> Action {
        Action::Sleep {
            ms,
            edits_wake: true,
        }
    }

    fn failed(failures: u32) -> DriverFacts {
        DriverFacts {
            last_round: RoundOutcome::Failed,
            failures,
            ..DriverFacts::default()
        }
    }

    /// A small deterministic generator of random-looking bytes (splitmix64),
    /// standing in for a platform's random source.
    fn random_bytes(state: &mut u64) -> [u8; 8] {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)).to_le_bytes()
    }

    #[test]
    fn actions_table() {
        let backoff = Backoff {
            base_ms: 1_000,
            max_ms: 30_000,
        };
        let wait = Action::WaitForHead {
            poll_ms: SAFETY_POLL_MS,
        };
        // (name, facts, jitter, expected)
        let cases: Vec<(&str, DriverFacts, u64, Action)> = vec![
            (
                "a driver starts with a round",
                DriverFacts::default(),
                0,
                Action::SyncNow,
            ),
            ("synced and quiet: wait for the head", synced(), 0, wait),
            (
                "a newer head was announced",
                DriverFacts {
                    head_announced: true,
                    ..synced()
                },
                0,
                Action::SyncNow,
            ),
            (
                "a local edit is pushed at once",
                DriverFacts {
                    local_edits: true,
                    ..synced()
                },
                0,
                Action::SyncNow,
            ),
            (
                "a read-only device keeps its edits local",
                DriverFacts {
                    local_edits: true,
                    standing: Standing::ReadOnly,
                    ..synced()
                },
                0,
                wait,
            ),
            (
                "a read-only device still pulls announced heads",
                DriverFacts {
                    head_announced: true,
                    standing: Standing::ReadOnly,
                    ..synced()
                },
                0,
                Action::SyncNow,
            ),
            (
                "the user asked for a sync",
                DriverFacts {
                    sync_requested: true,
                    standing: Standing::ReadOnly,
                    ..synced()
                },
                0,
                Action::SyncNow,
            ),
            (
                "the safety poll ran out",
                DriverFacts {
                    timer_elapsed: true,
                    ..synced()
                },
                0,
                Action::SyncNow,
            ),
            (
                "a round that stopped with more to do is followed by another",
                DriverFacts {
                    last_round: RoundOutcome::More,
                    ..DriverFacts::default()
                },
                0,
                Action::SyncNow,
            ),
            (
                "the events stream broke: a short pause, then a round",
                DriverFacts {
                    events_failed: true,
                    ..synced()
                },
                0,
                Action::Sleep {
                    ms: EVENTS_RETRY_MS,
                    edits_wake: false,
                },
            ),
            (
                "a failed round: back off (first failure, lowest jitter)",
                failed(1),
                0,
                backing_off(500),
            ),
            (
                "a failed round: back off (third failure, highest jitter)",
                failed(3),
                2_000,
                backing_off(4_000),
            ),
            ("backoff is capped", failed(40), 0, backing_off(15_000)),
            (
                "the server's Retry-After is a floor",
                DriverFacts {
                    retry_after_ms: Some(20_000),
                    ..failed(1)
                },
                0,
                backing_off(20_000),
            ),
            (
                "a failure the engine did not count still backs off",
                failed(0),
                0,
                backing_off(500),
            ),
            (
                "a head announced while failing does not cut the backoff",
                DriverFacts {
                    head_announced: true,
                    ..failed(2)
                },
                0,
                backing_off(1_000),
            ),
            (
                "the backoff sleep is over: retry",
                DriverFacts {
                    timer_elapsed: true,
                    ..failed(5)
                },
                0,
                Action::SyncNow,
            ),
            (
                "a local edit retries at once, backoff or not",
                DriverFacts {
                    local_edits: true,
                    ..failed(5)
                },
                0,
                Action::SyncNow,
            ),
            (
                "token revoked: stop",
                DriverFacts {
                    standing: Standing::Removed,
                    ..failed(1)
                },
                0,
                Action::Stop,
            ),
            (
                "removed: edits and requests do not restart syncing",
                DriverFacts {
                    standing: Standing::Removed,
                    local_edits: true,
                    sync_requested: true,
                    ..synced()
                },
                0,
                Action::Stop,
            ),
            (
                "not connected: nothing to sync with",
                DriverFacts {
                    standing: Standing::Unconnected,
                    ..DriverFacts::default()
                },
                0,
                Action::Stop,
            ),
        ];
        for (name, facts, jitter, want) in cases {
            assert_eq!(next_action(&facts, &backoff, jitter), want, "{name}");
        }
    }

    #[test]
    fn after_a_round_what_happened_before_is_spent() {
        let busy = DriverFacts {
            head_announced: true,
            events_failed: true,
            local_edits: true,
            sync_requested: true,
            timer_elapsed: true,
            failures: 2,
            retry_after_ms: Some(5),
            standing: Standing::ReadOnly,
            last_round: RoundOutcome::Failed,
        };
        let after = busy.after_round(RoundOutcome::Done);
        assert_eq!(
            after,
            DriverFacts {
                last_round: RoundOutcome::Done,
                failures: 2,
                retry_after_ms: Some(5),
                standing: Standing::ReadOnly,
                ..DriverFacts::default()
            }
        );
    }

    /// Random jitter spreads retries over the whole upper half of the
    /// backoff delay, so that devices that failed together do not retry
    /// together.
    #[test]
    fn jitter_spreads_over_the_backoff_range() {
        let backoff = Backoff::default();
        let failures = 6; // full delay: 32 s
        let full = 32_000u64;
        let half = full / 2;
        let buckets = 16u64;
        let mut hits = [0u32; 16];
        let mut state = 7;
        for _ in 0..4_000 {
            let jitter = jitter_from_random(random_bytes(&mut state));
            let Action::Sleep { ms, .. } = next_action(&failed(failures), &backoff, jitter) else {
                panic!("a failed round sleeps");
            };
            assert!((half..=full).contains(&ms), "{ms}");
            let bucket = ((ms - half) * buckets / (full - half + 1)) as usize;
            hits[bucket] += 1;
        }
        // Every sixteenth of [full/2, full] gets its share (250 expected).
        for (i, &n) in hits.iter().enumerate() {
            assert!(n > 150, "bucket {i} of the backoff range got {n} of 4000");
        }
    }
}
