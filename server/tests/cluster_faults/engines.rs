//! The faults, done to the engines `cargo xtask engines` started: a Garage
//! node frozen (SIGSTOP, always thawed by a guard), PostgreSQL restarted
//! through its `ctl` script, the test database's connections cut off by
//! `pg_terminate_backend`; and an event stream watched as a device
//! watches it.

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::BodyExt as _;
use hyper::{Method, StatusCode};
use tokio::task::JoinHandle;

use crate::common::Api;
use crate::common::cluster::var;

/// Sends `signal` (`STOP`, `CONT`) to `pid` through kill(1).
fn signal(pid: u32, signal: &str) -> Result<(), String> {
    let out = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .output()
        .map_err(|e| format!("kill: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The Garage nodes' pids, in the order of their endpoints.
pub fn garage_pids() -> Vec<u32> {
    let pids: Vec<u32> = var("HEARTH_TEST_GARAGE_PIDS")
        .split(',')
        .map(|p| p.trim().parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 3, "three Garage nodes");
    pids
}

/// A process stopped (SIGSTOP) for as long as this lives; continued
/// (SIGCONT) on drop, on a panic too.
pub struct Frozen(u32);

impl Frozen {
    pub fn new(pid: u32) -> Frozen {
        signal(pid, "STOP").unwrap_or_else(|e| panic!("cannot stop {pid}: {e}"));
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        if let Err(e) = signal(self.0, "CONT") {
            eprintln!("could not continue process {}: {e}", self.0);
        }
    }
}

/// Restarts the tests' PostgreSQL (a fast shutdown, then a start; the
/// script waits for both) and says how long it took.
pub async fn restart_postgres() -> Duration {
    let ctl = var("HEARTH_TEST_POSTGRES_CTL");
    let began = Instant::now();
    let out = tokio::process::Command::new(&ctl)
        .arg("restart")
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {ctl}: {e}"));
    assert!(
        out.status.success(),
        "{ctl} restart failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    began.elapsed()
}

/// Cuts off every connection to one database, again and again, from a
/// connection to another.
pub struct Terminator {
    stop: Arc<AtomicBool>,
    /// Connections cut off so far.
    pub cut: Arc<AtomicUsize>,
    rounds: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Terminator {
    /// Starts cutting off the connections to `database` every `every`.
    pub async fn start(database: &str, every: Duration) -> Terminator {
        let server = var("HEARTH_TEST_DATABASE");
        let (client, connection) = tokio_postgres::connect(&server, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let (stop, cut, rounds) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let database = database.to_owned();
        let task = tokio::spawn({
            let (stop, cut, rounds) = (stop.clone(), cut.clone(), rounds.clone());
            async move {
                while !stop.load(Ordering::SeqCst) {
                    let rows = client
                        .query(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                             WHERE datname = $1 AND pid <> pg_backend_pid()",
                            &[&database],
                        )
                        .await
                        .unwrap();
                    let n = rows.iter().filter(|r| r.get::<_, bool>(0)).count();
                    cut.fetch_add(n, Ordering::SeqCst);
                    rounds.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(every).await;
                }
            }
        });
        Terminator {
            stop,
            cut,
            rounds,
            task,
        }
    }

    pub fn rounds(&self) -> usize {
        self.rounds.load(Ordering::SeqCst)
    }

    /// Stops; returns how many connections it cut off in how many rounds.
    pub async fn stop(self) -> (usize, usize) {
        self.stop.store(true, Ordering::SeqCst);
        let rounds = self.rounds.clone();
        self.task.await.unwrap();
        (
            self.cut.load(Ordering::SeqCst),
            rounds.load(Ordering::SeqCst),
        )
    }
}

/// An event stream held open as a device holds it, read in the
/// background.
pub struct Stream {
    text: Arc<Mutex<String>>,
    /// Why the stream ended, if it did.
    ended: Arc<Mutex<Option<String>>>,
    task: JoinHandle<()>,
}

impl Stream {
    pub async fn open(api: &Api, ws: &str, token: &str) -> Stream {
        let res = api
            .send(
                Method::GET,
                &format!("/v1/workspaces/{ws}/events"),
                &[("authorization", &format!("Bearer {token}"))],
                "",
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let (text, ended) = (
            Arc::new(Mutex::new(String::new())),
            Arc::new(Mutex::new(None)),
        );
        let task = tokio::spawn({
            let (text, ended) = (text.clone(), ended.clone());
            let mut body = res.into_body();
            async move {
                let why = loop {
                    match body.frame().await {
                        None => break String::from("the server ended it"),
                        Some(Err(e)) => break format!("it broke: {e}"),
                        Some(Ok(frame)) => {
                            if let Ok(data) = frame.into_data() {
                                text.lock()
                                    .unwrap()
                                    .push_str(&String::from_utf8_lossy(&data));
                            }
                        }
                    }
                };
                *ended.lock().unwrap() = Some(why);
            }
        });
        Stream { text, ended, task }
    }

    /// The highest head the stream has announced.
    pub fn head(&self) -> Option<u64> {
        let text = self.text.lock().unwrap();
        text.match_indices("\"head\":")
            .filter_map(|(at, tag)| {
                let digits: String = text[at + tag.len()..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                digits.parse().ok()
            })
            .max()
    }

    /// Why the stream ended, if it did.
    pub fn ended(&self) -> Option<String> {
        self.ended.lock().unwrap().clone()
    }

    /// Waits until the stream has announced `head` or more; says what it
    /// heard if it does not within `limit` (or ends).
    pub async fn wait_head(&self, head: u64, limit: Duration) -> Result<Duration, String> {
        let began = Instant::now();
        loop {
            if self.head().is_some_and(|h| h >= head) {
                return Ok(began.elapsed());
            }
            if let Some(why) = self.ended() {
                return Err(format!(
                    "the stream ended before head {head} ({why}); it said {:?}",
                    self.text.lock().unwrap()
                ));
            }
            if began.elapsed() > limit {
                return Err(format!(
                    "no head {head} in {limit:?}; the stream said {:?}",
                    self.text.lock().unwrap()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.task.abort();
    }
}
