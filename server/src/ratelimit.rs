//! Per-client-IP rate limiting of the endpoints that anyone may call and
//! that create things: register, invite, redeem. GCRA via `governor`; over
//! the limit is 429 `rate_limited` with `Retry-After`.
//!
//! IPv6 clients are limited per /64, since one host usually owns a whole /64.

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;

use governor::clock::Clock as _;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;

/// The limiter, keyed by client address.
pub struct RateLimit {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl RateLimit {
    /// `per_minute` requests per minute with bursts of `burst` (both at least 1).
    pub fn new(per_minute: u32, burst: u32) -> RateLimit {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        RateLimit {
            limiter: RateLimiter::keyed(quota),
        }
    }

    /// Counts one request from `ip`; 429 if it is over the limit.
    pub fn check(&self, ip: IpAddr) -> Result<(), ApiError> {
        match self.limiter.check_key(&key(ip)) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.limiter.clock().now());
                Err(ApiError::rate_limited(wait.as_secs().saturating_add(1)))
            }
        }
    }

    /// Forgets clients whose limits have fully recovered (bounds memory).
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_429_with_retry_after_per_client() {
        let limit = RateLimit::new(1, 3);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            limit.check(a).unwrap();
        }
        let err = limit.check(a).unwrap_err();
        assert_eq!(err.code, hearth_shared::error::ErrorCode::RateLimited);
        assert!(err.retry_after.unwrap() >= 1);
        limit.check(b).unwrap();
        // Same /64: same bucket.
        let c: IpAddr = "2001:db8::1".parse().unwrap();
        let d: IpAddr = "2001:db8::2".parse().unwrap();
        for _ in 0..3 {
            limit.check(c).unwrap();
        }
        assert!(limit.check(d).is_err());
    }
}
