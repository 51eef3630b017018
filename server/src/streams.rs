//! Counts of open event streams per client address, token and workspace,
//! so that one client (or one leaked token) cannot hold the server's
//! connections open with streams. [`Streams::open`] hands out a
//! [`StreamGuard`] that gives its places back when the stream ends.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use hearth_shared::id::{TokenId, WorkspaceId};

/// The caps that apply to one new stream.
#[derive(Debug, Clone, Copy)]
pub struct StreamCaps {
    pub per_ip: usize,
    pub per_token: usize,
    pub per_workspace: usize,
}

#[derive(Default)]
struct Counts {
    ip: HashMap<IpAddr, usize>,
    token: HashMap<TokenId, usize>,
    workspace: HashMap<WorkspaceId, usize>,
}

/// Open event streams, counted.
#[derive(Default, Clone)]
pub struct Streams {
    counts: Arc<Mutex<Counts>>,
}

/// Which cap a refused stream hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Over {
    Ip,
    Token,
    Workspace,
}

fn up<K: Hash + Eq + Clone>(map: &mut HashMap<K, usize>, key: &K) {
    *map.entry(key.clone()).or_default() += 1;
}

fn down<K: Hash + Eq>(map: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = map.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(key);
        }
    }
}

impl Streams {
    /// Takes a place for a new stream, or says which cap it would exceed.
    pub fn open(
        &self,
        caps: StreamCaps,
        ip: IpAddr,
        token: &TokenId,
        workspace: &WorkspaceId,
    ) -> Result<StreamGuard, Over> {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let count = |n: Option<&usize>| n.copied().unwrap_or(0);
        if count(c.ip.get(&ip)) >= caps.per_ip {
            return Err(Over::Ip);
        }
        if count(c.token.get(token)) >= caps.per_token {
            return Err(Over::Token);
        }
        if count(c.workspace.get(workspace)) >= caps.per_workspace {
            return Err(Over::Workspace);
        }
        up(&mut c.ip, &ip);
        up(&mut c.token, token);
        up(&mut c.workspace, workspace);
        Ok(StreamGuard {
            streams: self.clone(),
            ip,
            token: token.clone(),
            workspace: workspace.clone(),
        })
    }

    /// Streams open in all.
    pub fn open_count(&self) -> usize {
        let c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.ip.values().sum()
    }
}

/// One open stream's places; dropping it gives them back.
pub struct StreamGuard {
    streams: Streams,
    ip: IpAddr,
    token: TokenId,
    workspace: WorkspaceId,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let mut c = self
            .streams
            .counts
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        down(&mut c.ip, &self.ip);
        down(&mut c.token, &self.token);
        down(&mut c.workspace, &self.workspace);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cap_holds_and_places_come_back() {
        let streams = Streams::default();
        let caps = StreamCaps {
            per_ip: 3,
            per_token: 2,
            per_workspace: 4,
        };
        let ip: IpAddr = [127, 0, 0, 2].into();
        let other_ip: IpAddr = [127, 0, 0, 3].into();
        let (t1, t2, t3) = (
            TokenId::from_random([1; 16]),
            TokenId::from_random([2; 16]),
            TokenId::from_random([3; 16]),
        );
        let ws = WorkspaceId::from_random([9; 16]);
        let a = streams.open(caps, ip, &t1, &ws).unwrap();
        let _b = streams.open(caps, ip, &t1, &ws).unwrap();
        assert_eq!(
            streams.open(caps, other_ip, &t1, &ws).err(),
            Some(Over::Token)
        );
        let _c = streams.open(caps, ip, &t2, &ws).unwrap();
        assert_eq!(streams.open(caps, ip, &t3, &ws).err(), Some(Over::Ip));
        let _d = streams.open(caps, other_ip, &t3, &ws).unwrap();
        assert_eq!(
            streams.open(caps, other_ip, &t3, &ws).err(),
            Some(Over::Workspace)
        );
        drop(a);
        assert_eq!(streams.open_count(), 3);
        assert!(streams.open(caps, other_ip, &t3, &ws).is_ok());
    }
}
