//! Retry delays as a pure function. The engine never sleeps: it tells the
//! host how long to wait, and the host (a browser timer, a tokio sleep, a
//! test's step counter) waits.

/// How retry delays grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failure, in milliseconds.
    pub base_ms: u64,
    /// Largest delay, in milliseconds.
    pub max_ms: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base_ms: 1_000,
            max_ms: 5 * 60 * 1_000,
        }
    }
}

/// The delay before the next attempt after `failures` consecutive failures
/// (0 means none: no delay). The delay doubles with each failure up to
/// `max_ms`; `jitter` (random bytes the host drew) spreads it over the
/// upper half so that devices do not retry in step. A server's
/// `Retry-After` is a floor.
pub fn retry_delay(
    policy: &Backoff,
    failures: u32,
    jitter: u64,
    retry_after_ms: Option<u64>,
) -> u64 {
    if failures == 0 {
        return retry_after_ms.unwrap_or(0);
    }
    let shift = (failures - 1).min(32);
    let full = policy
        .base_ms
        .saturating_mul(1u64 << shift)
        .min(policy.max_ms)
        .max(1);
    let half = full / 2;
    let delay = half + jitter % (full - half + 1);
    delay.max(retry_after_ms.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_table() {
        let p = Backoff {
            base_ms: 1000,
            max_ms: 60_000,
        };
        // (failures, jitter, retry_after, expected)
        let cases: &[(u32, u64, Option<u64>, u64)] = &[
            (0, 123, None, 0),
            (0, 0, Some(5000), 5000),
            (1, 0, None, 500),
            (1, 500, None, 1000),
            (1, 501, None, 500), // jitter wraps
            (2, 0, None, 1000),
            (3, 2000, None, 4000),
            (7, 0, None, 30_000), // capped at max: 64 s -> 60 s
            (7, 30_000, None, 60_000),
            (200, u64::MAX, None, 30_000 + u64::MAX % 30_001),
            (1, 0, Some(10_000), 10_000),
        ];
        for &(failures, jitter, retry_after, want) in cases {
            assert_eq!(
                retry_delay(&p, failures, jitter, retry_after),
                want,
                "{failures} {jitter}"
            );
        }
    }

    #[test]
    fn delays_never_exceed_the_cap() {
        let p = Backoff::default();
        for failures in 0..100 {
            for jitter in [0, 1, 7, u64::MAX / 3, u64::MAX] {
                assert!(retry_delay(&p, failures, jitter, None) <= p.max_ms);
            }
        }
    }
}
