//! Connection admission: a global cap, a cap per client address, and a
//! reserve. Past `max - reserve` open connections, an address that already
//! holds more than [`FEW`] is refused further ones, so that a flood from a
//! few addresses never takes the last places from everyone else (a health
//! check, a device that syncs). A refused connection gets a short `503`
//! and is closed at once, so it costs no task and no timer.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Connections an address may always open while the reserve is in use.
pub const FEW: usize = 4;

/// The limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max: usize,
    pub per_ip: usize,
    pub reserve: usize,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// Open connections, counted.
#[derive(Clone)]
pub struct ConnLimit {
    limits: Limits,
    counts: Arc<Mutex<Counts>>,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The server holds `max` connections.
    Full,
    /// This address holds `per_ip`.
    PerIp,
    /// The reserve is in use, and this address already holds more than a few.
    Reserve,
}

impl ConnLimit {
    pub fn new(limits: Limits) -> ConnLimit {
        ConnLimit {
            limits,
            counts: Arc::default(),
        }
    }

    /// Admits a connection from `ip`, or says why not.
    #[cfg(test)]
    pub fn admit(&self, ip: IpAddr) -> Result<ConnGuard, Refused> {
        self.admit_as(ip, false)
    }

    /// Admits a connection from `ip`; a trusted proxy (which carries many
    /// clients) is held to the global cap only.
    pub fn admit_as(&self, ip: IpAddr, proxy: bool) -> Result<ConnGuard, Refused> {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let mine = c.per_ip.get(&ip).copied().unwrap_or(0);
        if c.total >= self.limits.max {
            return Err(Refused::Full);
        }
        if !proxy && mine >= self.limits.per_ip {
            return Err(Refused::PerIp);
        }
        if !proxy && c.total >= self.limits.max.saturating_sub(self.limits.reserve) && mine >= FEW {
            return Err(Refused::Reserve);
        }
        c.total += 1;
        *c.per_ip.entry(ip).or_default() += 1;
        Ok(ConnGuard {
            limit: self.clone(),
            ip,
        })
    }

    /// Open connections in all.
    pub fn open(&self) -> usize {
        self.counts.lock().map(|c| c.total).unwrap_or(0)
    }
}

/// One admitted connection; dropping it frees its place.
pub struct ConnGuard {
    limit: ConnLimit,
    ip: IpAddr,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut c = self.limit.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_ip.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.per_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_from_one_address_leaves_room_for_others() {
        let limit = ConnLimit::new(Limits {
            max: 20,
            per_ip: 12,
            reserve: 10,
        });
        let flood: IpAddr = [127, 0, 0, 2].into();
        let mut held = Vec::new();
        while let Ok(g) = limit.admit(flood) {
            held.push(g);
        }
        // Ten are below the reserve line; the eleventh would enter it.
        assert_eq!(held.len(), 10);
        assert_eq!(limit.admit(flood).err(), Some(Refused::Reserve));
        // Others still get in, a few each, until the server is full.
        for i in 3..=12u8 {
            let ip: IpAddr = [127, 0, 0, i].into();
            held.push(limit.admit(ip).unwrap());
        }
        assert_eq!(
            limit.admit([127, 0, 0, 99].into()).err(),
            Some(Refused::Full)
        );
        held.truncate(5);
        assert_eq!(limit.open(), 5);
        let loose = ConnLimit::new(Limits {
            max: 100,
            per_ip: 3,
            reserve: 0,
        });
        let _a = (loose.admit(flood), loose.admit(flood), loose.admit(flood));
        assert_eq!(loose.admit(flood).err(), Some(Refused::PerIp));
    }
}
