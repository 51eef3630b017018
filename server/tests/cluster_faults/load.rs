//! The load: devices push entries of varied sizes (every fourth larger
//! than 64 KiB, so an object), each under an idempotency key of its own,
//! through the nodes of a cluster. A device whose request fails does what
//! a device does: after a 503 it waits as `Retry-After` says and sends the
//! same entry under the same key again; when its node is gone it sends it
//! to another node. Every answer is recorded; afterwards [`check`] pulls
//! everything back and holds it against what was acknowledged.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::StatusCode;
use tokio::task::JoinHandle;

use crate::common::Api;

/// The longest one request may take before the test calls it hung.
pub const REQUEST_LIMIT: Duration = Duration::from_secs(60);
/// The longest one entry may take, retries included, before the test
/// calls it lost.
const ENTRY_LIMIT: Duration = Duration::from_secs(240);
/// The longest `Retry-After` a device here waits.
const MOST_BACKOFF: Duration = Duration::from_secs(5);

/// The idempotency key of client `c`'s entry `i`.
pub fn key(c: usize, i: usize) -> String {
    format!("c{c}-{i}")
}

/// Client `c`'s entry `i`: its key, then bytes of its own. Every fourth
/// is larger than the 64 KiB a row holds, so it is stored as an object.
pub fn payload(c: usize, i: usize) -> Vec<u8> {
    let len = if i % 4 == 3 {
        64 * 1024 + 1 + (c * 7919 + i * 104_729) % (96 * 1024)
    } else {
        40 + (c * 131 + i * 17) % 4000
    };
    let mut out = format!("{}:", key(c, i)).into_bytes();
    let mut seed = ((c as u64) << 32 | i as u64) ^ 0x9e37_79b9_7f4a_7c15;
    while out.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend_from_slice(&seed.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A node the devices push to.
pub struct Target {
    pub name: String,
    pub api: Api,
    /// Set by the test just before it kills the node: only then may a
    /// request to it fail without an answer.
    gone: AtomicBool,
}

/// One acknowledged entry.
#[derive(Debug, Clone)]
pub struct Ack {
    pub client: usize,
    pub i: usize,
    pub seq: u64,
    /// The node that acknowledged it.
    pub node: String,
    pub attempts: u32,
}

/// Everything the devices saw.
#[derive(Default, Debug)]
pub struct Record {
    pub acks: Vec<Ack>,
    /// 503 answers (each with `Retry-After`).
    pub unavailable: usize,
    /// Requests to a node that was gone: refused or cut off.
    pub cut_off: usize,
    /// What a device must never see: an answer other than 200 or 503, a
    /// 503 without `Retry-After`, a request that hung, a live node that
    /// dropped a connection, an entry never acknowledged.
    pub surprises: Vec<String>,
    /// The slowest single request.
    pub slowest: Duration,
}

/// Devices pushing, in the background.
pub struct Load {
    pub total: usize,
    targets: Arc<Vec<Target>>,
    acked: Arc<AtomicUsize>,
    record: Arc<Mutex<Record>>,
    clients: Vec<JoinHandle<()>>,
    pub started: Instant,
}

impl Load {
    /// Starts `clients` devices, each pushing `per_client` entries to
    /// workspace `ws` with `token`; device `c` starts on node
    /// `c % nodes.len()`.
    pub fn start(
        ws: &str,
        token: &str,
        nodes: Vec<(&str, Api)>,
        clients: usize,
        per_client: usize,
    ) -> Load {
        let targets: Arc<Vec<Target>> = Arc::new(
            nodes
                .into_iter()
                .map(|(name, api)| Target {
                    name: name.to_owned(),
                    api,
                    gone: AtomicBool::new(false),
                })
                .collect(),
        );
        let acked = Arc::new(AtomicUsize::new(0));
        let record = Arc::new(Mutex::new(Record::default()));
        let clients = (0..clients)
            .map(|c| {
                let device = Device {
                    c,
                    ws: ws.to_owned(),
                    token: token.to_owned(),
                    targets: targets.clone(),
                    acked: acked.clone(),
                    record: record.clone(),
                };
                tokio::spawn(device.run(per_client))
            })
            .collect::<Vec<_>>();
        Load {
            total: clients.len() * per_client,
            targets,
            acked,
            record,
            clients,
            started: Instant::now(),
        }
    }

    /// Entries acknowledged so far.
    pub fn acked(&self) -> usize {
        self.acked.load(Ordering::SeqCst)
    }

    /// 503 answers so far.
    pub fn unavailable(&self) -> usize {
        self.record.lock().unwrap().unavailable
    }

    /// Waits until `n` entries are acknowledged.
    pub async fn wait_acked(&self, n: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.acked() < n {
            assert!(
                Instant::now() < deadline,
                "only {} of {n} entries were acknowledged in {limit:?}: {:?}",
                self.acked(),
                self.record.lock().unwrap().surprises
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Says that node `name` is about to be killed: requests to it may
    /// fail from now on, and its devices move to another node.
    pub fn going(&self, name: &str) {
        let target = self.targets.iter().find(|t| t.name == name).unwrap();
        target.gone.store(true, Ordering::SeqCst);
    }

    /// Waits for every device to finish; returns what they saw.
    pub async fn finish(self) -> Record {
        for client in self.clients {
            client.await.unwrap();
        }
        std::mem::take(&mut *self.record.lock().unwrap())
    }
}

/// One device's loop.
struct Device {
    c: usize,
    ws: String,
    token: String,
    targets: Arc<Vec<Target>>,
    acked: Arc<AtomicUsize>,
    record: Arc<Mutex<Record>>,
}

impl Device {
    fn surprise(&self, what: String) {
        self.record.lock().unwrap().surprises.push(what);
    }

    async fn run(self, per_client: usize) {
        let mut node = self.c % self.targets.len();
        for i in 0..per_client {
            let (key, body) = (key(self.c, i), payload(self.c, i));
            let began = Instant::now();
            let mut attempts = 0;
            loop {
                if began.elapsed() > ENTRY_LIMIT {
                    self.surprise(format!("{key} was never acknowledged in {ENTRY_LIMIT:?}"));
                    break;
                }
                attempts += 1;
                let target = &self.targets[node];
                let sent = Instant::now();
                let answer = tokio::time::timeout(
                    REQUEST_LIMIT,
                    target.api.try_push(&self.ws, &self.token, &key, &body),
                )
                .await;
                {
                    let mut record = self.record.lock().unwrap();
                    record.slowest = record.slowest.max(sent.elapsed());
                }
                let reply = match answer {
                    Err(_) => {
                        self.surprise(format!(
                            "{key}: node {} did not answer in {REQUEST_LIMIT:?}",
                            target.name
                        ));
                        continue;
                    }
                    Ok(Err(e)) => {
                        if target.gone.load(Ordering::SeqCst) {
                            self.record.lock().unwrap().cut_off += 1;
                            // Another node that is still there.
                            node = (0..self.targets.len())
                                .map(|k| (node + 1 + k) % self.targets.len())
                                .find(|&n| !self.targets[n].gone.load(Ordering::SeqCst))
                                .expect("every node is gone");
                        } else {
                            self.surprise(format!(
                                "{key}: node {} dropped the request: {e}",
                                target.name
                            ));
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                        continue;
                    }
                    Ok(Ok(reply)) => reply,
                };
                if reply.status == StatusCode::OK {
                    let seq = reply.json::<hearth_shared::api::PushResponse>().seq;
                    self.record.lock().unwrap().acks.push(Ack {
                        client: self.c,
                        i,
                        seq,
                        node: target.name.clone(),
                        attempts,
                    });
                    self.acked.fetch_add(1, Ordering::SeqCst);
                    break;
                }
                let retry_after = reply
                    .header("retry-after")
                    .and_then(|v| v.parse::<u64>().ok());
                if reply.status == StatusCode::SERVICE_UNAVAILABLE && retry_after.is_some() {
                    self.record.lock().unwrap().unavailable += 1;
                } else {
                    self.surprise(format!(
                        "{key}: node {} answered {} (Retry-After {retry_after:?}): {}",
                        target.name,
                        reply.status,
                        reply.text()
                    ));
                }
                // As a device does: wait as told, then the same entry again.
                let wait = Duration::from_secs(retry_after.unwrap_or(1)).min(MOST_BACKOFF);
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Every entry of `ws` after the floor, page by page: (seq, payload).
pub async fn pull_all(api: &Api, ws: &str, token: &str) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = api.pull(ws, token, after).await;
        assert_eq!(page.floor, 0, "nothing here compacts");
        let before = after;
        for (snapshot, seq, payload) in page.frames {
            assert!(!snapshot, "a snapshot nobody uploaded, at {seq}");
            out.push((seq, payload));
            after = seq;
        }
        if after >= page.head {
            return out;
        }
        assert!(
            after > before,
            "a pull after {after} brought nothing below head {}",
            page.head
        );
    }
}

/// Holds what was pulled against what the devices were told: no
/// surprise on the way; every entry acknowledged, each under one number,
/// present once with its bytes; numbers strictly increasing, with no gap
/// (in a cluster a number is taken only in the transaction that commits
/// it); each device's entries in the order it pushed them.
pub fn check(pulled: &[(u64, Vec<u8>)], record: &Record, total: usize) {
    assert!(
        record.surprises.is_empty(),
        "{} surprise(s) a device should never see:\n{}",
        record.surprises.len(),
        record.surprises.join("\n")
    );
    assert_eq!(record.acks.len(), total, "every entry was acknowledged");
    for pair in pulled.windows(2) {
        assert!(
            pair[0].0 < pair[1].0,
            "sequence numbers go {} then {}",
            pair[0].0,
            pair[1].0
        );
    }
    let seqs: Vec<u64> = pulled.iter().map(|(s, _)| *s).collect();
    let expected: Vec<u64> = (1..=pulled.len() as u64).collect();
    assert!(seqs == expected, "gaps in the log: {seqs:?}");
    let mut once: HashMap<&[u8], u64> = HashMap::new();
    for (seq, bytes) in pulled {
        if let Some(first) = once.insert(bytes, *seq) {
            panic!(
                "an entry is stored twice, at {first} and {seq}: {:?}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(16)])
            );
        }
    }
    let by_seq: HashMap<u64, &[u8]> = pulled.iter().map(|(s, b)| (*s, b.as_slice())).collect();
    for ack in &record.acks {
        let want = payload(ack.client, ack.i);
        match by_seq.get(&ack.seq) {
            Some(got) if *got == want.as_slice() => {}
            Some(got) => panic!(
                "{} was acknowledged by {} as {} but {} holds {:?}…",
                key(ack.client, ack.i),
                ack.node,
                ack.seq,
                ack.seq,
                String::from_utf8_lossy(&got[..got.len().min(16)])
            ),
            None => panic!(
                "{} was acknowledged by {} as {}, which is missing",
                key(ack.client, ack.i),
                ack.node,
                ack.seq
            ),
        }
    }
    assert_eq!(
        pulled.len(),
        total,
        "the log holds exactly the entries pushed"
    );
    let mut order: HashMap<usize, Vec<(usize, u64)>> = HashMap::new();
    for ack in &record.acks {
        order.entry(ack.client).or_default().push((ack.i, ack.seq));
    }
    for (client, mut acks) in order {
        acks.sort_unstable();
        assert!(
            acks.windows(2).all(|w| w[0].1 < w[1].1),
            "device {client}'s entries are out of its order: {acks:?}"
        );
    }
}

/// A line for the report: how long, how many 503s, how many requests cut
/// off, how many retries, the slowest request.
pub fn summary(record: &Record, took: Duration) -> String {
    let retried = record.acks.iter().filter(|a| a.attempts > 1).count();
    format!(
        "{} entries in {took:.1?}: {} answered 503, {} cut off, {retried} needed a retry, slowest request {:.1?}",
        record.acks.len(),
        record.unavailable,
        record.cut_off,
        record.slowest
    )
}
