//! What the device reads from the machine it runs on: the clock and the
//! operating system's random source (ids, key material, retry jitter).
//! The lowest layer of the crate: the device and its keyring both draw
//! from it.

use std::time::{SystemTime, UNIX_EPOCH};

use hearth_shared::engine::jitter_from_random;

use super::error::DeviceError;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `N` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], DeviceError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| DeviceError::Io(format!("no randomness: {e}")))?;
    Ok(bytes)
}

/// 16 random bytes from the operating system.
pub fn random16() -> Result<[u8; 16], DeviceError> {
    random_bytes()
}

/// 8 random bytes from the operating system.
pub(crate) fn random8() -> Result<[u8; 8], DeviceError> {
    random_bytes()
}

/// Retry jitter: a full-range random `u64`.
pub(crate) fn jitter() -> Result<u64, DeviceError> {
    Ok(jitter_from_random(random8()?))
}

#[cfg(test)]
mod tests {
    use hearth_shared::engine::{
        Action, Backoff, DriverFacts, RoundOutcome, next_action, peer_id_from_random,
    };

    use super::*;

    /// The device's jitter, from the operating system's random source,
    /// spreads its retries over the whole upper half of the backoff delay.
    #[test]
    fn retries_spread_over_the_backoff_range() {
        let policy = Backoff::default();
        let failed = DriverFacts {
            last_round: RoundOutcome::Failed,
            failures: 6,
            ..DriverFacts::default()
        };
        let (full, half) = (32_000u64, 16_000u64); // after 6 failures
        let mut hits = [0u32; 8];
        for _ in 0..2_000 {
            let Action::Sleep { ms, .. } = next_action(&failed, &policy, jitter().unwrap()) else {
                panic!("a failed round sleeps");
            };
            assert!((half..=full).contains(&ms), "{ms}");
            hits[((ms - half) * 8 / (full - half + 1)) as usize] += 1;
        }
        // 250 expected in each eighth; the old one-byte jitter put every
        // retry in the first one.
        for (i, &n) in hits.iter().enumerate() {
            assert!(n > 150, "eighth {i} got {n} of 2000");
        }
    }

    #[test]
    fn new_devices_get_distinct_valid_peer_ids() {
        let ids: std::collections::HashSet<u64> = (0..1_000)
            .map(|_| peer_id_from_random(random8().unwrap()))
            .collect();
        assert_eq!(ids.len(), 1_000);
        assert!(ids.iter().all(|&id| id < 1 << 63));
    }
}
