//! A model of the server's sync semantics, in memory, and a [`Transport`]
//! to it that injects faults. Tests use it as the server.
//!
//! The model follows the protocol: an ordered log of opaque entries with
//! server-assigned sequence numbers; a push with a known idempotency key
//! returns the first answer (a different body under the same key is a
//! conflict); a pull after a cursor below the floor gets the snapshot
//! first; a snapshot must cover existing entries and be newer than the
//! current one, and swaps in atomically, dropping the entries it covers.
//!
//! [`MemoryTransport`] stands between one device and the model: it can be
//! offline, drop a request before the server sees it, drop the response
//! after the server acted, or deliver a request twice.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

use super::transport::{Pulled, Transport, TransportError};
use crate::error::ErrorCode;
use crate::frame::{FrameKind, encode_frame};
use crate::id::TokenId;

#[path = "memory_attacker.rs"]
mod attacker;

/// The server model. Clones share it.
#[derive(Debug, Clone, Default)]
pub struct MemoryServer {
    inner: Arc<Mutex<ServerState>>,
}

#[derive(Debug, Default)]
struct ServerState {
    /// Entries above the floor, by sequence number.
    entries: BTreeMap<u64, Vec<u8>>,
    head: u64,
    floor: u64,
    snapshot: Option<Vec<u8>>,
    /// Idempotency key -> (sequence number, checksum of the body).
    keys: HashMap<String, (u64, u32)>,
    /// While down (restarting), every request fails.
    down: bool,
    /// Devices waiting for the next head (open event streams).
    waiters: Vec<Waker>,
    /// Bytes of entries and snapshots received.
    bytes_received: u64,
    /// Largest body accepted (0: no limit).
    max_body: usize,
    /// Key epoch -> its key check record.
    epochs: BTreeMap<u32, Vec<u8>>,
    /// Each device's registered public key, by its token.
    device_keys: BTreeMap<TokenId, [u8; 32]>,
    /// Key epochs wrapped for devices: (token, epoch) -> wrapped key.
    wraps: BTreeMap<(TokenId, u32), Vec<u8>>,
    /// Revoked tokens: their requests are refused.
    revoked: Vec<TokenId>,
    /// What it keeps of the recovery key: its hash and the wrapped epochs.
    recovery: Option<([u8; 32], Vec<Vec<u8>>)>,
}

/// The durable state of a [`MemoryServer`] at one instant.
#[derive(Debug, Clone)]
pub struct ServerBackup {
    entries: BTreeMap<u64, Vec<u8>>,
    head: u64,
    floor: u64,
    snapshot: Option<Vec<u8>>,
    keys: HashMap<String, (u64, u32)>,
}

/// Counters of the model, for tests and measurements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerStats {
    pub head: u64,
    pub floor: u64,
    /// Entries above the floor.
    pub entries: usize,
    pub snapshot_bytes: usize,
    pub bytes_received: u64,
}

fn unavailable() -> TransportError {
    TransportError::Offline("the server is restarting".into())
}

impl MemoryServer {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, ServerState> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `POST …/entries`.
    pub fn push(&self, key: &str, body: &[u8]) -> Result<u64, TransportError> {
        let mut s = self.lock();
        if s.down {
            return Err(unavailable());
        }
        if s.max_body > 0 && body.len() > s.max_body {
            return Err(TransportError::server(
                ErrorCode::PayloadTooLarge,
                "entry too large",
            ));
        }
        let crc = crc32fast::hash(body);
        if let Some(&(seq, known)) = s.keys.get(key) {
            if known != crc {
                return Err(TransportError::server(
                    ErrorCode::IdempotencyConflict,
                    "key reused",
                ));
            }
            return Ok(seq);
        }
        s.head += 1;
        let seq = s.head;
        s.entries.insert(seq, body.to_vec());
        s.keys.insert(key.to_owned(), (seq, crc));
        s.bytes_received += body.len() as u64;
        for waker in s.waiters.drain(..) {
            waker.wake();
        }
        Ok(seq)
    }

    /// `GET …/keys`.
    pub fn key_epochs(&self) -> Result<Vec<(u32, Vec<u8>)>, TransportError> {
        let s = self.lock();
        if s.down {
            return Err(unavailable());
        }
        Ok(s.epochs.iter().map(|(e, c)| (*e, c.clone())).collect())
    }

    /// `PUT …/keys/{epoch}`: once per epoch (the same check again is fine).
    pub fn put_key_check(&self, epoch: u32, check: &[u8]) -> Result<(), TransportError> {
        let mut s = self.lock();
        if s.down {
            return Err(unavailable());
        }
        match s.epochs.get(&epoch) {
            Some(known) if known.as_slice() != check => Err(TransportError::server(
                ErrorCode::KeyEpochExists,
                "another key check is recorded for this epoch",
            )),
            Some(_) => Ok(()),
            None => {
                s.epochs.insert(epoch, check.to_vec());
                Ok(())
            }
        }
    }

    /// Revokes a device's token: its wrapped keys go, and its requests are
    /// refused from now on.
    pub fn revoke(&self, token: &TokenId) {
        let mut s = self.lock();
        s.revoked.push(token.clone());
        s.device_keys.remove(token);
        s.wraps.retain(|(t, _), _| t != token);
    }

    /// What it keeps of the recovery key, if anything.
    pub fn recovery(&self) -> Option<([u8; 32], Vec<Vec<u8>>)> {
        self.lock().recovery.clone()
    }

    /// The wrapped copies of key epoch `epoch` it keeps, by token.
    pub fn wraps_of(&self, epoch: u32) -> Vec<TokenId> {
        let s = self.lock();
        s.wraps
            .keys()
            .filter(|(_, e)| *e == epoch)
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// `GET …/entries?after=N`.
    pub fn pull(&self, after: u64) -> Result<Pulled, TransportError> {
        let s = self.lock();
        if s.down {
            return Err(unavailable());
        }
        let mut body = Vec::new();
        let mut from = after;
        if after < s.floor
            && let Some(snapshot) = &s.snapshot
        {
            encode_frame(&mut body, FrameKind::Snapshot, s.floor, snapshot);
            from = s.floor;
        }
        for (seq, entry) in s.entries.range(from.saturating_add(1)..) {
            encode_frame(&mut body, FrameKind::Entry, *seq, entry);
        }
        Ok(Pulled {
            body,
            head: s.head,
            floor: s.floor,
        })
    }

    /// `PUT …/snapshot?upto=N`.
    pub fn put_snapshot(&self, upto: u64, body: &[u8]) -> Result<u64, TransportError> {
        let mut s = self.lock();
        if s.down {
            return Err(unavailable());
        }
        if s.max_body > 0 && body.len() > s.max_body {
            return Err(TransportError::server(
                ErrorCode::PayloadTooLarge,
                "snapshot too large",
            ));
        }
        // As the server: a snapshot may replace one at the same floor.
        if upto > s.head || upto < s.floor || upto == 0 {
            return Err(TransportError::server(
                ErrorCode::SnapshotConflict,
                format!("upto {upto} is not in [{}, {}]", s.floor.max(1), s.head),
            ));
        }
        s.snapshot = Some(body.to_vec());
        s.floor = upto;
        s.entries = s.entries.split_off(&(upto + 1));
        s.bytes_received += body.len() as u64;
        Ok(upto)
    }

    /// `DELETE …/snapshot/undo`: the model keeps no undo copies, so there
    /// is nothing to delete; it fails only while the server is down.
    pub fn forget_compactions(&self) -> Result<(), TransportError> {
        match self.lock().down {
            true => Err(unavailable()),
            false => Ok(()),
        }
    }

    /// Every record the server holds: its snapshot, then its entries.
    pub fn stored(&self) -> Vec<Vec<u8>> {
        let s = self.lock();
        s.snapshot
            .iter()
            .cloned()
            .chain(s.entries.values().cloned())
            .collect()
    }

    /// Sets the largest request body the model accepts (0: no limit).
    pub fn set_max_body(&self, bytes: usize) {
        self.lock().max_body = bytes;
    }

    /// Takes the server down (every request fails) or brings it back. Going
    /// down closes every event stream; durable state is kept.
    pub fn set_down(&self, down: bool) {
        let mut s = self.lock();
        s.down = down;
        for waker in s.waiters.drain(..) {
            waker.wake();
        }
    }

    /// A copy of the durable state (a backup).
    pub fn backup(&self) -> ServerBackup {
        let s = self.lock();
        ServerBackup {
            entries: s.entries.clone(),
            head: s.head,
            floor: s.floor,
            snapshot: s.snapshot.clone(),
            keys: s.keys.clone(),
        }
    }

    /// Replaces the durable state with a backup (a restore).
    pub fn restore(&self, backup: &ServerBackup) {
        let mut s = self.lock();
        s.entries = backup.entries.clone();
        s.head = backup.head;
        s.floor = backup.floor;
        s.snapshot = backup.snapshot.clone();
        s.keys = backup.keys.clone();
        for waker in s.waiters.drain(..) {
            waker.wake();
        }
    }

    pub fn head(&self) -> u64 {
        self.lock().head
    }

    pub fn stats(&self) -> ServerStats {
        let s = self.lock();
        ServerStats {
            head: s.head,
            floor: s.floor,
            entries: s.entries.len(),
            snapshot_bytes: s.snapshot.as_ref().map_or(0, Vec::len),
            bytes_received: s.bytes_received,
        }
    }

    fn poll_head(&self, known: u64, waker: &Waker) -> Poll<Result<u64, TransportError>> {
        let mut s = self.lock();
        if s.down {
            return Poll::Ready(Err(unavailable()));
        }
        if s.head > known {
            return Poll::Ready(Ok(s.head));
        }
        s.waiters.push(waker.clone());
        Poll::Pending
    }
}

/// The faults a [`MemoryTransport`] injects, in thousandths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Faults {
    /// The request never reaches the server.
    pub drop_request: u32,
    /// The server acts, but the answer is lost.
    pub drop_response: u32,
    /// The request reaches the server twice.
    pub duplicate: u32,
    /// Messages arrive out of order: an earlier push of this device is
    /// delivered again after the current request, and a pull may return
    /// an answer computed earlier (a response overtaken by later ones).
    pub reorder: u32,
}

/// One device's connection to a [`MemoryServer`].
#[derive(Debug)]
pub struct MemoryTransport {
    server: MemoryServer,
    online: Cell<bool>,
    faults: Cell<Faults>,
    rng: Cell<u64>,
    pushed_bytes: Cell<u64>,
    /// The last push sent, for late redelivery.
    last_push: std::cell::RefCell<Option<(String, Vec<u8>)>>,
    /// The last pull answer, for late delivery.
    last_pull: std::cell::RefCell<Option<Pulled>>,
    /// The token this device holds (drawn from the seed).
    token: TokenId,
    /// Whether the token is the workspace's master token.
    owner: Cell<bool>,
}

impl MemoryTransport {
    /// A connection whose faults are drawn from `seed`.
    pub fn new(server: MemoryServer, seed: u64) -> Self {
        Self {
            server,
            online: Cell::new(true),
            faults: Cell::new(Faults::default()),
            rng: Cell::new(seed | 1),
            pushed_bytes: Cell::new(0),
            last_push: std::cell::RefCell::new(None),
            last_pull: std::cell::RefCell::new(None),
            token: TokenId::from_random((seed as u128).to_le_bytes()),
            owner: Cell::new(true),
        }
    }

    /// The token this device holds.
    pub fn token(&self) -> &TokenId {
        &self.token
    }

    /// Holds an access token (false) or the master token (true, the
    /// default): only the owner records key epochs and wraps keys.
    pub fn set_owner(&self, owner: bool) {
        self.owner.set(owner);
    }

    fn require_owner(&self) -> Result<(), TransportError> {
        match self.owner.get() {
            true => Ok(()),
            false => Err(TransportError::server(
                ErrorCode::MasterRequired,
                "only the workspace's master token may do this",
            )),
        }
    }

    pub fn set_online(&self, online: bool) {
        self.online.set(online);
    }

    pub fn is_online(&self) -> bool {
        self.online.get()
    }

    pub fn set_faults(&self, faults: Faults) {
        self.faults.set(faults);
    }

    /// Bytes of the entries this device pushed (each attempt counts).
    pub fn pushed_bytes(&self) -> u64 {
        self.pushed_bytes.get()
    }

    pub fn server(&self) -> &MemoryServer {
        &self.server
    }

    fn roll(&self, permille: u32) -> bool {
        if permille == 0 {
            return false;
        }
        // xorshift64
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        (x % 1000) < u64::from(permille)
    }

    fn before(&self) -> Result<(), TransportError> {
        if !self.online.get() {
            return Err(TransportError::Offline("no network".into()));
        }
        if self.server.lock().revoked.contains(&self.token) {
            return Err(TransportError::server(
                ErrorCode::TokenRevoked,
                "this token was revoked",
            ));
        }
        if self.roll(self.faults.get().drop_request) {
            return Err(TransportError::Offline("request lost".into()));
        }
        Ok(())
    }

    fn after<R>(&self, result: Result<R, TransportError>) -> Result<R, TransportError> {
        if self.roll(self.faults.get().drop_response) {
            return Err(TransportError::Offline("response lost".into()));
        }
        result
    }
}

impl Transport for MemoryTransport {
    async fn push(&self, idempotency_key: &str, entry: &[u8]) -> Result<u64, TransportError> {
        self.before()?;
        self.pushed_bytes
            .set(self.pushed_bytes.get() + entry.len() as u64);
        let result = self.server.push(idempotency_key, entry);
        let earlier = self
            .last_push
            .replace(Some((idempotency_key.to_owned(), entry.to_vec())));
        if let Some((key, body)) = earlier
            && self.roll(self.faults.get().reorder)
        {
            // An earlier push, delayed in the network, arrives now.
            let _ = self.server.push(&key, &body);
        }
        if self.roll(self.faults.get().duplicate) {
            let again = self.server.push(idempotency_key, entry);
            if let (Ok(a), Ok(b)) = (&result, &again) {
                assert_eq!(a, b, "a duplicated push must get the same sequence number");
            }
        }
        self.after(result)
    }

    async fn pull(&self, after: u64) -> Result<Pulled, TransportError> {
        self.before()?;
        let result = self.server.pull(after);
        if let Ok(fresh) = &result {
            let stale = self.last_pull.replace(Some(fresh.clone()));
            if let Some(stale) = stale
                && self.roll(self.faults.get().reorder)
            {
                // An answer to an earlier pull arrives instead.
                return self.after(Ok(stale));
            }
        }
        self.after(result)
    }

    async fn put_snapshot(&self, upto: u64, snapshot: &[u8]) -> Result<u64, TransportError> {
        self.before()?;
        let result = self.server.put_snapshot(upto, snapshot);
        if self.roll(self.faults.get().duplicate) {
            // A second delivery is refused as not newer; the first stands.
            let _ = self.server.put_snapshot(upto, snapshot);
        }
        self.after(result)
    }

    async fn next_head(&self, known: u64) -> Result<u64, TransportError> {
        if !self.online.get() {
            return Err(TransportError::Offline("no network".into()));
        }
        poll_fn(|cx| self.server.poll_head(known, cx.waker())).await
    }

    async fn key_epochs(&self) -> Result<Vec<(u32, Vec<u8>)>, TransportError> {
        self.before()?;
        let result = self.server.key_epochs();
        self.after(result)
    }

    async fn put_key_check(&self, epoch: u32, check: &[u8]) -> Result<(), TransportError> {
        self.before()?;
        self.require_owner()?;
        let result = self.server.put_key_check(epoch, check);
        self.after(result)
    }

    fn token_id(&self) -> Option<TokenId> {
        Some(self.token.clone())
    }

    async fn put_device_key(&self, public_key: &[u8; 32]) -> Result<(), TransportError> {
        self.before()?;
        let mut s = self.server.lock();
        if s.device_keys.insert(self.token.clone(), *public_key) != Some(*public_key) {
            let token = self.token.clone();
            s.wraps.retain(|(t, _), _| *t != token);
        }
        drop(s);
        self.after(Ok(()))
    }

    async fn device_wraps(&self) -> Result<Vec<Vec<u8>>, TransportError> {
        self.before()?;
        let s = self.server.lock();
        let mine = s
            .wraps
            .iter()
            .filter(|((t, _), _)| *t == self.token)
            .map(|(_, w)| w.clone())
            .collect();
        drop(s);
        self.after(Ok(mine))
    }

    async fn device_public_keys(&self) -> Result<Vec<(TokenId, [u8; 32])>, TransportError> {
        self.before()?;
        self.require_owner()?;
        let s = self.server.lock();
        let keys = s.device_keys.iter().map(|(t, k)| (t.clone(), *k)).collect();
        drop(s);
        self.after(Ok(keys))
    }

    async fn put_device_wraps(
        &self,
        epoch: u32,
        copies: &[(TokenId, Vec<u8>)],
    ) -> Result<(), TransportError> {
        self.before()?;
        self.require_owner()?;
        let mut s = self.server.lock();
        if !s.epochs.contains_key(&epoch) {
            return Err(TransportError::server(
                ErrorCode::NotFound,
                "no such key epoch",
            ));
        }
        for (token, wrapped) in copies {
            if s.revoked.contains(token) {
                return Err(TransportError::server(
                    ErrorCode::TokenRevoked,
                    "a copy for a revoked device",
                ));
            }
            s.wraps.insert((token.clone(), epoch), wrapped.clone());
        }
        drop(s);
        self.after(Ok(()))
    }

    async fn put_recovery(
        &self,
        credential_hash: &[u8; 32],
        wrapped: &[Vec<u8>],
    ) -> Result<(), TransportError> {
        self.before()?;
        self.require_owner()?;
        self.server.lock().recovery = Some((*credential_hash, wrapped.to_vec()));
        self.after(Ok(()))
    }

    async fn forget_compactions(&self) -> Result<(), TransportError> {
        self.before()?;
        let result = self.server.forget_compactions();
        self.after(result)
    }
}
