//! What the engine makes of the random bytes a host draws: a device's Loro
//! peer id and the jitter of its retries. The host draws the bytes (the
//! operating system's or the browser's cryptographic source); these
//! functions only shape them, so that every platform shapes them alike.

/// A new device's Loro peer id from 8 random bytes.
///
/// Loro refuses the largest peer id (`u64::MAX`) and uses ids just below it
/// internally as placeholders, so the id keeps 63 of the random bits and
/// stays below 2^63, clear of that range. Two devices get the same id with
/// a chance of about one in 2^63 per pair.
pub fn peer_id_from_random(bytes: [u8; 8]) -> u64 {
    u64::from_le_bytes(bytes) >> 1
}

/// Retry jitter from 8 random bytes: all 64 bits, as
/// [`retry_delay`](super::backoff::retry_delay) expects (fewer bits would
/// bunch the retries of many devices near the shortest delay).
pub fn jitter_from_random(bytes: [u8; 8]) -> u64 {
    u64::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn peer_ids_are_valid_for_loro() {
        let doc = loro::LoroDoc::new();
        for bytes in [
            [0xFF; 8],
            [0; 8],
            [0x7F; 8],
            [0x80; 8],
            [1, 2, 3, 4, 5, 6, 7, 8],
        ] {
            let peer = peer_id_from_random(bytes);
            assert_ne!(peer, u64::MAX);
            assert!(peer < 1 << 63, "{peer:#x}");
            doc.set_peer_id(peer).expect("Loro takes the id");
        }
    }

    #[test]
    fn distinct_random_bytes_give_distinct_peer_ids() {
        // Distinct inputs (a counter spread over all bytes by a bijective
        // mix, so every byte varies) must not collapse to fewer ids.
        let mut seen = HashSet::new();
        for i in 0..20_000u64 {
            let mixed = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ 0xA5A5_A5A5;
            assert!(seen.insert(peer_id_from_random(mixed.to_le_bytes())), "{i}");
        }
        // Inputs that differ in one byte only give different ids.
        let base = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x08];
        let mut ids = HashSet::from([peer_id_from_random(base)]);
        for i in 0..8 {
            let mut other = base;
            other[i] ^= 0x3C;
            assert!(ids.insert(peer_id_from_random(other)), "byte {i}");
        }
    }

    #[test]
    fn jitter_keeps_every_bit() {
        assert_eq!(jitter_from_random([0xFF; 8]), u64::MAX);
        assert_eq!(jitter_from_random([0, 0, 0, 0, 0, 0, 0, 0x80]), 1 << 63);
        assert_eq!(jitter_from_random([1, 0, 0, 0, 0, 0, 0, 0]), 1);
    }
}
