//! The wall clock, in one place: seconds since the Unix epoch. Functions
//! that decide by time take `now` as a parameter; only their callers read
//! the clock.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
