//! Fault injection against the real `hearth` binary: the server runs under
//! `strace`, which makes chosen system calls on chosen files fail (a full
//! disk on log writes, EIO on the log's sync, EMFILE when the log is
//! reopened after a compaction, a full disk under the SQLite index).
//! Afterwards the server is started again, without faults, on the same data
//! directory, and everything is pulled back. Whatever the server
//! acknowledged must be there, exactly once, with its bytes, under its
//! sequence number; a request that failed must have failed with a JSON
//! error, and the server must have kept answering throughout.
//!
//! Needs `/usr/bin/strace` (Debian's `strace` package; CI installs it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/mod.rs"]
mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use common::{Api, ServerProcess, new_ws};

/// Where Debian puts `strace`.
const STRACE: &str = "/usr/bin/strace";
/// The longest any one request may take before the test calls it hung.
const REQUEST_LIMIT: Duration = Duration::from_secs(20);
/// Health must answer within this, faults or not.
const HEALTH_LIMIT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------
// Servers: plain (`ServerProcess`) and under strace (`Traced`).

/// Open registration, once the binary knows the flag (it will require a
/// setup code otherwise). `ServerProcess` passes it itself.
fn registration_flags() -> &'static [&'static str] {
    static FLAGS: OnceLock<bool> = OnceLock::new();
    let knows = *FLAGS.get_or_init(|| {
        let out = Command::new(env!("CARGO_BIN_EXE_hearth"))
            .args(["serve", "--help"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).contains("--registration")
    });
    if knows {
        &["--registration", "open"]
    } else {
        &[]
    }
}

/// A plain server on `data_dir`.
fn plain(data_dir: &Path) -> ServerProcess {
    ServerProcess::start(data_dir, &[])
}

fn require_strace() {
    let ok = Command::new(STRACE)
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "these tests need {STRACE} (Debian: `apt-get install strace`) to inject faults \
         into the real binary; it is missing or does not run"
    );
}

/// `hearth serve` run under `strace -f -qq -o OUT <strace_args> -- hearth …`.
struct Traced {
    strace: Child,
    /// The pid of `hearth` itself (strace's child).
    hearth: u32,
    addr: SocketAddr,
    /// The strace invocation, for messages.
    invocation: String,
    /// Holds `strace.out` and `server.log` (the server's stderr).
    scratch: tempfile::TempDir,
}

impl Traced {
    fn start(data_dir: &Path, strace_args: &[String]) -> Traced {
        require_strace();
        let scratch = tempfile::tempdir().unwrap();
        let out = scratch.path().join("strace.out");
        let log = std::fs::File::create(scratch.path().join("server.log")).unwrap();
        let mut cmd = Command::new(STRACE);
        cmd.args(["-f", "-qq", "-o"])
            .arg(&out)
            .args(strace_args)
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_hearth"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args([
                "--rate-limit-per-minute",
                "1000000",
                "--rate-limit-burst",
                "1000000",
                "--backup-interval-secs",
                "0",
            ])
            .args(registration_flags())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(log);
        let invocation = format!(
            "{STRACE} -f -qq -o {} {} -- hearth serve --data-dir {} …",
            out.display(),
            strace_args.join(" "),
            data_dir.display()
        );
        let mut strace = cmd.spawn().unwrap();
        let stdout = strace.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = std::io::BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            // Keep draining, so that the server never blocks on stdout.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
        let Some(addr) = line.trim().strip_prefix("hearth listening on http://") else {
            let _ = strace.kill();
            let _ = strace.wait();
            let log =
                std::fs::read_to_string(scratch.path().join("server.log")).unwrap_or_default();
            panic!("the server under strace did not start ({invocation}): {line:?}\n{log}");
        };
        let addr = addr.parse().unwrap();
        let hearth = child_of(strace.id()).unwrap_or_else(|| panic!("no hearth under strace"));
        Traced {
            strace,
            hearth,
            addr,
            invocation,
            scratch,
        }
    }

    fn api(&self) -> Api {
        Api::new(self.addr)
    }

    /// How many system calls strace has failed on purpose so far.
    fn injected(&self) -> usize {
        std::fs::read_to_string(self.scratch.path().join("strace.out"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("(INJECTED)"))
            .count()
    }

    fn server_log(&self) -> String {
        std::fs::read_to_string(self.scratch.path().join("server.log")).unwrap_or_default()
    }

    /// Kills the server (SIGKILL, as a crash would) and waits for strace.
    fn kill(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", &self.hearth.to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.strace.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.strace.kill();
        let _ = self.strace.wait();
    }
}

impl Drop for Traced {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let log = self.server_log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!(
                "--- {}\n--- injected faults: {}\n--- last lines of the server's log:\n{}",
                self.invocation,
                self.injected(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }
}

/// The pid of a child of `parent` (strace has exactly one: hearth).
fn child_of(parent: u32) -> Option<u32> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let ppid = status
            .lines()
            .find_map(|l| l.strip_prefix("PPid:"))
            .and_then(|v| v.trim().parse::<u32>().ok());
        if ppid == Some(parent) {
            return Some(pid);
        }
    }
    None
}

/// A path inside the data directory, as the server names it.
fn ws_file(data: &Path, ws: &str, name: &str) -> String {
    data.join("workspaces")
        .join(ws)
        .join(name)
        .display()
        .to_string()
}

/// A fresh data directory, by its canonical path (strace's `-P` compares
/// the names the server uses).
fn data_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().canonicalize().unwrap();
    (dir, path)
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

// ---------------------------------------------------------------------------
// Requests that report failures instead of panicking.

struct Answer {
    status: StatusCode,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// A `{code, message}` error body.
    fn is_json_error(&self) -> bool {
        self.json()
            .is_some_and(|v| v["code"].is_string() && v["message"].is_string())
    }

    fn describe(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let text: String = text.chars().take(200).collect();
        format!("{} {text}", self.status)
    }
}

async fn call(
    api: &Api,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
    limit: Duration,
) -> Result<Answer, String> {
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(format!("{}{path}", api.base));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(http_body_util::Full::new(Bytes::from(body)))
        .unwrap();
    let exchange = async {
        let res = api
            .client
            .request(req)
            .await
            .map_err(|e| format!("request failed: {e:?}"))?;
        let status = res.status();
        let body = res
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the answer failed: {e}"))?
            .to_bytes();
        Ok(Answer { status, body })
    };
    tokio::time::timeout(limit, exchange)
        .await
        .map_err(|_| format!("no answer within {limit:?}"))?
}

async fn push(api: &Api, ws: &str, token: &str, key: &str, body: &[u8]) -> Result<Answer, String> {
    let auth = format!("Bearer {token}");
    call(
        api,
        Method::POST,
        &format!("/v1/workspaces/{ws}/entries"),
        &[
            ("authorization", &auth),
            ("content-type", "application/octet-stream"),
            ("idempotency-key", key),
        ],
        body.to_vec(),
        REQUEST_LIMIT,
    )
    .await
}

async fn post_json(
    api: &Api,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> Result<Answer, String> {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("authorization", a));
    }
    call(
        api,
        Method::POST,
        path,
        &headers,
        serde_json::to_vec(body).unwrap(),
        REQUEST_LIMIT,
    )
    .await
}

/// Polls `GET /v1/health` every 100 ms until stopped; returns what went wrong.
struct HealthWatch {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<(usize, Vec<String>)>,
}

impl HealthWatch {
    fn start(addr: SocketAddr) -> HealthWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let api = Api::new(addr);
            let mut problems = Vec::new();
            let mut polls = 0;
            while !flag.load(Ordering::Relaxed) {
                polls += 1;
                match call(
                    &api,
                    Method::GET,
                    "/v1/health",
                    &[],
                    Vec::new(),
                    HEALTH_LIMIT,
                )
                .await
                {
                    Ok(a) if a.status == StatusCode::OK => {}
                    Ok(a) => problems.push(format!("health answered {}", a.describe())),
                    Err(e) => problems.push(format!("health: {e}")),
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (polls, problems)
        });
        HealthWatch { stop, task }
    }

    async fn finish(self, problems: &mut Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let (polls, found) = self.task.await.unwrap();
        assert!(polls > 0);
        problems.extend(found);
    }
}

// ---------------------------------------------------------------------------
// What the server told its clients, and checking the data against it.

#[derive(Default)]
struct Ledger {
    /// seq -> (key, body) of every acknowledged push (the first, if the
    /// server gave a seq twice).
    acked: BTreeMap<u64, (String, Vec<u8>)>,
    /// Every acknowledgement: (seq, key, body).
    acks: Vec<(u64, String, Vec<u8>)>,
    /// key -> seq of every acknowledged push.
    by_key: HashMap<String, u64>,
    /// Pushes never acknowledged (all attempts failed).
    unacked: usize,
    /// Answers other than 200, by status.
    failures: BTreeMap<u16, usize>,
    /// upto -> payloads of every snapshot sent.
    snapshots_sent: BTreeMap<u64, Vec<Vec<u8>>>,
    /// The highest acknowledged snapshot.
    floor: u64,
    /// Broken promises seen while running.
    problems: Vec<String>,
}

type Shared = Arc<Mutex<Ledger>>;

impl Ledger {
    fn ack(&mut self, key: &str, body: &[u8], seq: u64) {
        self.acks.push((seq, key.to_owned(), body.to_vec()));
        if let Some((k, b)) = self.acked.get(&seq)
            && (k != key || b != body)
        {
            self.problems.push(format!(
                "seq {seq} was acknowledged twice: for key {k} and for key {key}"
            ));
            return;
        }
        if let Some(&before) = self.by_key.get(key)
            && before != seq
        {
            self.problems.push(format!(
                "key {key} was acknowledged as seq {before} and again as seq {seq}"
            ));
        }
        self.by_key.insert(key.to_owned(), seq);
        self.acked.insert(seq, (key.to_owned(), body.to_vec()));
    }

    /// Files a push's answer; true if it was acknowledged.
    fn file_push(&mut self, key: &str, body: &[u8], answer: Result<Answer, String>) -> bool {
        match answer {
            Ok(a) if a.status == StatusCode::OK => match a.json().and_then(|v| v["seq"].as_u64()) {
                Some(seq) => {
                    self.ack(key, body, seq);
                    true
                }
                None => {
                    self.problems
                        .push(format!("push {key}: 200 without a seq: {}", a.describe()));
                    false
                }
            },
            Ok(a) => {
                *self.failures.entry(a.status.as_u16()).or_default() += 1;
                if !a.status.is_server_error() || !a.is_json_error() {
                    self.problems.push(format!(
                        "push {key} failed with {} (wanted a 5xx JSON error)",
                        a.describe()
                    ));
                }
                false
            }
            Err(e) => {
                self.problems.push(format!("push {key}: {e}"));
                false
            }
        }
    }
}

/// Pushes one entry, retrying a failed push with the same key (and body) up
/// to `attempts` times.
async fn push_with_retries(
    api: &Api,
    ws: &str,
    token: &str,
    ledger: &Shared,
    key: &str,
    body: &[u8],
    attempts: usize,
) -> bool {
    for attempt in 0..attempts {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let answer = push(api, ws, token, key, body).await;
        if ledger.lock().unwrap().file_push(key, body, answer) {
            return true;
        }
    }
    false
}

/// `clients` tasks each push `per_client` entries (distinct keys, bodies
/// unique per push); failed pushes are retried later with the same key.
async fn push_storm(
    api: &Api,
    ws: &str,
    token: &str,
    ledger: &Shared,
    clients: usize,
    per_client: usize,
    tag: &str,
) {
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (api, ws, token, ledger) =
            (api.clone(), ws.to_owned(), token.to_owned(), ledger.clone());
        let tag = tag.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut failed = Vec::new();
            for i in 0..per_client {
                let key = format!("{tag}-c{c}-p{i}");
                let body = format!("{key} {}", "x".repeat((c * 31 + i * 7) % 300)).into_bytes();
                if !push_with_retries(&api, &ws, &token, &ledger, &key, &body, 1).await {
                    failed.push((key, body));
                }
            }
            // Later, the same pushes again, with the same keys.
            for (key, body) in failed {
                if !push_with_retries(&api, &ws, &token, &ledger, &key, &body, 4).await {
                    ledger.lock().unwrap().unacked += 1;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// Everything a workspace holds, pulled page by page.
struct Contents {
    head: u64,
    floor: u64,
    snapshot: Option<(u64, Vec<u8>)>,
    entries: BTreeMap<u64, Vec<u8>>,
}

async fn pull_all(api: &Api, ws: &str, token: &str, problems: &mut Vec<String>) -> Contents {
    let mut after = 0;
    let mut contents = Contents {
        head: 0,
        floor: 0,
        snapshot: None,
        entries: BTreeMap::new(),
    };
    for page in 0.. {
        assert!(page < 100_000, "pulling never reached the head");
        let pull = api.pull(ws, token, after).await;
        if page == 0 {
            contents.head = pull.head;
            contents.floor = pull.floor;
        }
        let Some(&(_, last, _)) = pull.frames.last() else {
            break;
        };
        for (is_snapshot, seq, payload) in pull.frames {
            if is_snapshot {
                if page != 0 || contents.snapshot.is_some() {
                    problems.push(format!("a second snapshot frame ({seq}) on page {page}"));
                }
                contents.snapshot = Some((seq, payload));
            } else if seq <= after || contents.entries.insert(seq, payload).is_some() {
                problems.push(format!("entry {seq} pulled twice"));
            }
        }
        after = last;
        if after >= pull.head {
            break;
        }
    }
    contents
}

/// Checks the restarted server against the ledger: every acknowledged
/// entry above the floor is there once, with its bytes, under its seq; no
/// body is stored twice; the acknowledged snapshot is there; and a new push
/// gets a number never given before.
async fn check_against(
    api: &Api,
    ws: &str,
    token: &str,
    ledger: &Shared,
    problems: &mut Vec<String>,
) {
    let got = pull_all(api, ws, token, problems).await;
    {
        let l = ledger.lock().unwrap();
        if got.floor < l.floor {
            problems.push(format!(
                "the floor is {} but a snapshot up to {} was acknowledged",
                got.floor, l.floor
            ));
        }
        match &got.snapshot {
            None if got.floor > 0 => {
                problems.push(format!("floor {} but no snapshot frame", got.floor))
            }
            Some((upto, payload)) => {
                if *upto != got.floor {
                    problems.push(format!("snapshot frame {upto} but floor {}", got.floor));
                }
                if !l
                    .snapshots_sent
                    .get(upto)
                    .is_some_and(|sent| sent.contains(payload))
                {
                    problems.push(format!(
                        "the snapshot up to {upto} holds bytes never sent for it"
                    ));
                }
            }
            None => {}
        }
        let mut missing = Vec::new();
        for (seq, key, body) in l.acks.iter().filter(|(seq, ..)| *seq > got.floor) {
            match got.entries.get(seq) {
                None => missing.push(*seq),
                Some(stored) if stored != body => problems.push(format!(
                    "entry {seq} (acknowledged for key {key}) holds other bytes: {:?}",
                    String::from_utf8_lossy(&stored[..stored.len().min(40)])
                )),
                Some(_) => {}
            }
        }
        missing.sort_unstable();
        missing.dedup();
        if !missing.is_empty() {
            problems.push(format!(
                "{} acknowledged entries are missing after the restart: seqs {}",
                missing.len(),
                summarize(&missing)
            ));
        }
        let mut by_body: HashMap<&[u8], Vec<u64>> = HashMap::new();
        for (seq, body) in &got.entries {
            by_body.entry(body.as_slice()).or_default().push(*seq);
        }
        let mut twice: Vec<String> = by_body
            .iter()
            .filter(|(_, seqs)| seqs.len() > 1)
            .map(|(body, seqs)| {
                let key = String::from_utf8_lossy(body)
                    .split(' ')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                format!("{key} at {seqs:?}")
            })
            .collect();
        twice.sort();
        if !twice.is_empty() {
            problems.push(format!(
                "{} entries are stored more than once: {}",
                twice.len(),
                twice
                    .iter()
                    .take(10)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let max_acked = l.acked.keys().next_back().copied().unwrap_or(0);
        if got.head < max_acked {
            problems.push(format!(
                "the head is {} after the restart, below the acknowledged seq {max_acked}",
                got.head
            ));
        }
    }

    // A new push must get a number nobody was given before.
    let key = format!("after-restart-{}", new_ws());
    let answer = push(api, ws, token, &key, key.as_bytes()).await;
    match answer
        .as_ref()
        .ok()
        .filter(|a| a.status == StatusCode::OK)
        .and_then(Answer::json)
    {
        Some(v) => {
            let seq = v["seq"].as_u64().unwrap_or(0);
            if let Some((k, _)) = ledger.lock().unwrap().acked.get(&seq) {
                problems.push(format!(
                    "after the restart a new push got seq {seq}, already acknowledged for key {k}"
                ));
            }
        }
        None => problems.push(format!(
            "a push after the restart failed: {}",
            answer.map_or_else(|e| e, |a| a.describe())
        )),
    }
}

/// `1-5, 9, 12-40` for a sorted list.
fn summarize(seqs: &[u64]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < seqs.len() {
        let mut j = i;
        while j + 1 < seqs.len() && seqs[j + 1] == seqs[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            seqs[i].to_string()
        } else {
            format!("{}-{}", seqs[i], seqs[j])
        });
        i = j + 1;
    }
    let n = parts.len();
    let mut s = parts.into_iter().take(12).collect::<Vec<_>>().join(", ");
    if n > 12 {
        s.push_str(", …");
    }
    s
}

fn report(
    name: &str,
    started: Instant,
    ledger: &Shared,
    injected: usize,
    invocations: &[String],
    running: &[String],
    after: &[String],
) {
    let l = ledger.lock().unwrap();
    eprintln!(
        "{name}: {} pushes acknowledged, {} never acknowledged, failed answers by status {:?}, \
         {injected} faults injected, {:.1} s\n  under: {}",
        l.acks.len(),
        l.unacked,
        l.failures,
        started.elapsed().as_secs_f64(),
        invocations.join("\n  and: ")
    );
    let section = |title: &str, list: &[String], keep: usize| {
        let mut s = format!("\n{title} ({}):", list.len());
        for p in list.iter().take(keep) {
            s.push_str("\n  ");
            s.push_str(p);
        }
        if list.len() > keep {
            s.push_str(&format!("\n  … and {} more", list.len() - keep));
        }
        s
    };
    assert!(
        running.is_empty() && after.is_empty(),
        "{name}: broken promises{}{}",
        section("while the faults were injected", running, 12),
        section("after a restart without faults", after, 20),
    );
}

/// Registers a workspace on a plain server and pushes one entry, so that
/// its log exists (strace's `-P` then names real files). Returns the
/// master token.
async fn seed(data: &Path, ws: &str, ledger: &Shared) -> String {
    let server = plain(data);
    let api = Api::new(server.addr);
    let token = api.register(ws).await;
    let answer = push(&api, ws, &token, "seed", b"seed entry").await;
    assert!(
        ledger
            .lock()
            .unwrap()
            .file_push("seed", b"seed entry", answer)
    );
    drop(server);
    token
}

/// The common shape of the two log-write tests: seed, run 16 pushing
/// clients under `strace_args`, restart, check.
async fn storm_under(name: &str, strace_args: impl FnOnce(&Path, &str) -> Vec<String>) {
    let started = Instant::now();
    let (_dir, data) = data_dir();
    let ws = new_ws();
    let ledger: Shared = Arc::default();
    let token = seed(&data, &ws, &ledger).await;

    let mut problems = Vec::new();
    let mut traced = Traced::start(&data, &strace_args(&data, &ws));
    let api = traced.api();
    let health = HealthWatch::start(traced.addr);
    push_storm(&api, &ws, &token, &ledger, 16, 40, name).await;
    health.finish(&mut problems).await;
    let injected = traced.injected();
    assert!(
        injected > 0,
        "{name}: no fault was injected ({}); the test proves nothing",
        traced.invocation
    );
    traced.kill();
    problems.append(&mut ledger.lock().unwrap().problems);

    let server = plain(&data);
    let api = Api::new(server.addr);
    let mut after = Vec::new();
    check_against(&api, &ws, &token, &ledger, &mut after).await;
    let invocation = traced.invocation.clone();
    drop(traced);
    report(
        name,
        started,
        &ledger,
        injected,
        &[invocation],
        &problems,
        &after,
    );
}

// ---------------------------------------------------------------------------
// The tests.

/// A full disk under the log while 16 clients push: each failed write is a
/// 5xx, the log is cut back, and nothing acknowledged is lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn enospc_on_log_writes_loses_and_doubles_nothing() {
    storm_under("enospc", |data, ws| {
        args(&[
            "-P",
            &ws_file(data, ws, "log"),
            "-e",
            "trace=pwrite64",
            "-e",
            "inject=pwrite64:error=ENOSPC:when=5+10",
        ])
    })
    .await;
}

/// EIO from the log's sync while 16 clients push: nothing that failed to
/// sync is acknowledged, nothing acknowledged is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eio_on_log_sync_loses_and_doubles_nothing() {
    storm_under("eio", |data, ws| {
        args(&[
            "-P",
            &ws_file(data, ws, "log"),
            "-e",
            "trace=fdatasync,fsync",
            "-e",
            "inject=fdatasync,fsync:error=EIO:when=5+10",
        ])
    })
    .await;
}

/// Pushes `n` entries one by one; all must be acknowledged.
async fn push_n(api: &Api, ws: &str, token: &str, ledger: &Shared, tag: &str, n: usize) {
    for i in 0..n {
        let key = format!("{tag}-{i}");
        let body = format!("{key} compaction test entry").into_bytes();
        push_with_retries(api, ws, token, ledger, &key, &body, 1).await;
    }
}

/// Sends a snapshot up to the highest acknowledged entry; returns its status.
async fn compact(
    api: &Api,
    ws: &str,
    token: &str,
    ledger: &Shared,
    tag: &str,
) -> Option<StatusCode> {
    let (upto, payload) = {
        let mut l = ledger.lock().unwrap();
        let upto = *l.acked.keys().next_back()?;
        let payload = format!("snapshot {tag} up to {upto}").into_bytes();
        l.snapshots_sent
            .entry(upto)
            .or_default()
            .push(payload.clone());
        (upto, payload)
    };
    let auth = format!("Bearer {token}");
    let answer = call(
        api,
        Method::PUT,
        &format!("/v1/workspaces/{ws}/snapshot?upto={upto}"),
        &[
            ("authorization", &auth),
            ("content-type", "application/octet-stream"),
        ],
        payload,
        REQUEST_LIMIT,
    )
    .await;
    let mut l = ledger.lock().unwrap();
    match answer {
        Ok(a) if a.status == StatusCode::OK => {
            l.floor = l.floor.max(upto);
            Some(a.status)
        }
        Ok(a) => {
            *l.failures.entry(a.status.as_u16()).or_default() += 1;
            if !a.status.is_server_error() || !a.is_json_error() {
                l.problems
                    .push(format!("snapshot {upto} failed with {}", a.describe()));
            }
            Some(a.status)
        }
        Err(e) => {
            l.problems.push(format!("snapshot {upto}: {e}"));
            None
        }
    }
}

/// EMFILE when files are opened around a compaction: first on `log.tmp`
/// (the rewrite cannot start), then on `log` itself when it is reopened
/// after the rewrite. Entries pushed afterwards must not be lost, and no
/// sequence number may be given twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn emfile_around_a_compaction_loses_nothing_and_reuses_no_seq() {
    let started = Instant::now();
    let (_dir, data) = data_dir();
    let ws = new_ws();
    let ledger: Shared = Arc::default();
    let token = seed(&data, &ws, &ledger).await;
    let mut problems = Vec::new();
    let mut injected = 0;
    let mut invocations = Vec::new();

    // 1. Every open of log.tmp fails: compactions cannot rewrite the log.
    {
        let mut traced = Traced::start(
            &data,
            &args(&[
                "-P",
                &ws_file(&data, &ws, "log.tmp"),
                "-e",
                "trace=openat",
                "-e",
                "inject=openat:error=EMFILE",
            ]),
        );
        let api = traced.api();
        let health = HealthWatch::start(traced.addr);
        push_n(&api, &ws, &token, &ledger, "tmp-a", 5).await;
        compact(&api, &ws, &token, &ledger, "tmp").await;
        push_n(&api, &ws, &token, &ledger, "tmp-b", 5).await;
        health.finish(&mut problems).await;
        let n = traced.injected();
        if n == 0 {
            eprintln!(
                "note: the compaction never opened log.tmp ({})",
                traced.invocation
            );
        }
        injected += n;
        invocations.push(traced.invocation.clone());
        traced.kill();
    }

    // 2. The log opens once (when the workspace is loaded); every later
    //    open of it on that thread fails, as when it is reopened after a
    //    compaction's rename. Compact until that happens, then push more.
    {
        let mut traced = Traced::start(
            &data,
            &args(&[
                "-P",
                &ws_file(&data, &ws, "log"),
                "-e",
                "trace=openat",
                "-e",
                "inject=openat:error=EMFILE:when=2+",
            ]),
        );
        let api = traced.api();
        let health = HealthWatch::start(traced.addr);
        let mut scratch = Vec::new();
        pull_all(&api, &ws, &token, &mut scratch).await;
        for round in 0..8 {
            push_n(&api, &ws, &token, &ledger, &format!("log-r{round}-a"), 5).await;
            compact(&api, &ws, &token, &ledger, &format!("round {round}")).await;
            if traced.injected() > 0 {
                break;
            }
        }
        // A server that never opens the log again after loading it has
        // nothing to fault here.
        let n = traced.injected();
        if n == 0 {
            eprintln!(
                "note: the log was never opened again after a compaction ({})",
                traced.invocation
            );
        }
        injected += n;
        invocations.push(traced.invocation.clone());
        push_n(&api, &ws, &token, &ledger, "log-after", 10).await;
        health.finish(&mut problems).await;
        traced.kill();
    }
    assert!(
        injected > 0,
        "no open around a compaction was ever failed; the test proves nothing:\n  {}",
        invocations.join("\n  ")
    );
    problems.append(&mut ledger.lock().unwrap().problems);

    let server = plain(&data);
    let api = Api::new(server.addr);
    let mut after = Vec::new();
    check_against(&api, &ws, &token, &ledger, &mut after).await;
    report(
        "emfile",
        started,
        &ledger,
        injected,
        &invocations,
        &problems,
        &after,
    );
}

/// A full disk under the SQLite index (its WAL and main file): registering
/// and minting fail with a JSON 5xx, never a 201 for something not stored;
/// once the fault window has passed the same operations succeed, and after
/// a restart every token that was handed out works.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn enospc_on_the_index_fails_cleanly_and_recovers() {
    let started = Instant::now();
    let (_dir, data) = data_dir();
    let ws = new_ws();
    let ledger: Shared = Arc::default();
    let master = seed(&data, &ws, &ledger).await;
    let mut problems = Vec::new();

    /// A token handed out, and whether it is a master token.
    struct Issued {
        ws: String,
        token: String,
        master: bool,
    }
    let mut issued: Vec<Issued> = vec![Issued {
        ws: ws.clone(),
        token: master.clone(),
        master: true,
    }];
    let mut failed_answers = 0usize;

    let index = data.join("index.sqlite").display().to_string();
    let wal = format!("{index}-wal");
    let mut traced = Traced::start(
        &data,
        &args(&[
            "-P",
            &index,
            "-P",
            &wal,
            "-e",
            "trace=pwrite64",
            "-e",
            "inject=pwrite64:error=ENOSPC:when=1..8",
        ]),
    );
    let api = traced.api();
    let health = HealthWatch::start(traced.addr);

    // Each operation is tried until it succeeds (at most 40 times); every
    // failure on the way must be a clean JSON 5xx.
    let mut check_failure =
        |what: &str, answer: &Result<Answer, String>, problems: &mut Vec<String>| match answer {
            Ok(a) if a.status.is_server_error() && a.is_json_error() => failed_answers += 1,
            Ok(a) => problems.push(format!("{what}: {}", a.describe())),
            Err(e) => problems.push(format!("{what}: {e}")),
        };
    for i in 0..8 {
        // Register a new workspace.
        let new = new_ws();
        let body = json!({"workspace_id": new, "label": format!("device {i}")});
        let mut done = false;
        for attempt in 0..40 {
            let answer = post_json(&api, "/v1/workspaces", None, &body).await;
            if let Ok(a) = &answer
                && a.status == StatusCode::CREATED
            {
                match a
                    .json()
                    .and_then(|v| v["master_token"].as_str().map(str::to_owned))
                {
                    Some(token) => issued.push(Issued {
                        ws: new.clone(),
                        token,
                        master: true,
                    }),
                    None => {
                        problems.push(format!("register: 201 without a token: {}", a.describe()))
                    }
                }
                done = true;
                break;
            }
            if let Ok(a) = &answer
                && a.status == StatusCode::CONFLICT
                && attempt > 0
            {
                problems.push(format!(
                    "register {new}: an earlier attempt failed, yet the workspace exists now ({})",
                    a.describe()
                ));
                done = true;
                break;
            }
            check_failure(
                &format!("register {new} (attempt {attempt})"),
                &answer,
                &mut problems,
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if !done {
            problems.push(format!(
                "register {new} never succeeded after the fault window"
            ));
        }

        // Mint a token in the seeded workspace.
        let body = json!({"label": format!("token {i}"), "scope": "rw"});
        let mut done = false;
        for attempt in 0..40 {
            let answer = post_json(
                &api,
                &format!("/v1/workspaces/{ws}/tokens"),
                Some(&master),
                &body,
            )
            .await;
            if let Ok(a) = &answer
                && a.status == StatusCode::CREATED
            {
                match a
                    .json()
                    .and_then(|v| v["token"].as_str().map(str::to_owned))
                {
                    Some(token) => issued.push(Issued {
                        ws: ws.clone(),
                        token,
                        master: false,
                    }),
                    None => problems.push(format!("mint: 201 without a token: {}", a.describe())),
                }
                done = true;
                break;
            }
            check_failure(
                &format!("mint {i} (attempt {attempt})"),
                &answer,
                &mut problems,
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if !done {
            problems.push(format!("mint {i} never succeeded after the fault window"));
        }
    }
    // What was handed out works while the server still runs.
    for t in &issued {
        if !token_works(&api, t.ws.as_str(), &t.token, t.master).await {
            problems.push(format!(
                "a token of {} does not work before the restart",
                t.ws
            ));
        }
    }
    health.finish(&mut problems).await;
    let injected = traced.injected();
    assert!(
        injected > 0,
        "no fault was injected ({})",
        traced.invocation
    );
    assert!(
        failed_answers > 0,
        "{injected} faults were injected but no request failed ({})",
        traced.invocation
    );
    traced.kill();

    let server = plain(&data);
    let api = Api::new(server.addr);
    for t in &issued {
        if !token_works(&api, t.ws.as_str(), &t.token, t.master).await {
            problems.push(format!(
                "a {} token of {} handed out under the fault does not work after the restart",
                if t.master { "master" } else { "minted" },
                t.ws
            ));
        }
    }
    drop(traced);
    eprintln!(
        "index: {} tokens handed out, {failed_answers} clean failures, {injected} faults injected, {:.1} s",
        issued.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        problems.is_empty(),
        "{} problems:\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

/// A token works: it can pull its workspace (and a master can list tokens).
async fn token_works(api: &Api, ws: &str, token: &str, master: bool) -> bool {
    let auth = format!("Bearer {token}");
    let path = if master {
        format!("/v1/workspaces/{ws}/tokens")
    } else {
        format!("/v1/workspaces/{ws}/entries?after=0")
    };
    matches!(
        call(api, Method::GET, &path, &[("authorization", &auth)], Vec::new(), REQUEST_LIMIT).await,
        Ok(a) if a.status == StatusCode::OK
    )
}
