//! The cluster's faults, as a user would notice them. Nodes of one cluster
//! (one PostgreSQL database, one three-node Garage store) serve 16 devices
//! pushing at once while something breaks: a `hearth` node is killed, a
//! Garage node freezes or a gateway is dead, PostgreSQL restarts, the
//! database cuts connections off mid-transaction. Through all of it a
//! device may be told to retry (503 with `Retry-After`) or find its node
//! gone, and then retries the same entry under the same key, elsewhere if
//! need be; it must never see a 500, a request that hangs, or a live node
//! dropping its connection. Afterwards every entry acknowledged is in the
//! log once, with its bytes, under the number it was given, and heads go
//! on reaching event streams on the other node. Last, devices spread
//! over two nodes edit at random while one node is killed and started
//! again, and converge ([`convergence`]).
//!
//! Needs the engines: `cargo xtask engines -- cargo test -p hearth --test
//! cluster_faults` (or `cargo xtask test`). The scenarios stop and restart
//! engines the other cluster tests share, so they live in a test binary
//! of their own, and run one at a time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/mod.rs"]
mod common;
#[path = "cluster_faults/convergence.rs"]
mod convergence;
#[path = "cluster_faults/engines.rs"]
mod engines;
#[path = "cluster_faults/load.rs"]
mod load;

use std::future::Future;
use std::time::{Duration, Instant};

use common::cluster::{Storage, var};
use common::{Api, new_ws};
use engines::{Frozen, Stream, Terminator, garage_pids, restart_postgres};
use load::{Load, check, pull_all, summary};

/// Devices pushing at once.
const CLIENTS: usize = 16;
/// Entries each pushes.
const PER_CLIENT: usize = 16;
/// The longest a wait for progress may take on a busy machine.
const PROGRESS: Duration = Duration::from_secs(180);
/// The longest a head may take to reach a stream on the other node.
const HEARD: Duration = Duration::from_secs(60);
/// The longest a scenario may take before the test calls it hung.
const SCENARIO: Duration = Duration::from_secs(900);

/// Two real nodes of a fresh cluster, a stream held on B (keep-alives each
/// second, each checking the token again), and the devices pushing
/// through both.
struct Busy {
    storage: Storage,
    a: common::cluster::Node,
    b: common::cluster::Node,
    ws: String,
    master: String,
    held: Stream,
    load: Load,
}

impl Busy {
    async fn start() -> Busy {
        let storage = Storage::fresh().await;
        let a = storage.process(&[]);
        let b = storage.process(&["--sse-keepalive-secs", "1"]);
        let ws = new_ws();
        let master = a.api().register(&ws).await;
        let held = Stream::open(&b.api(), &ws, &master).await;
        held.wait_head(0, HEARD).await.unwrap();
        let nodes = vec![("A", a.api()), ("B", b.api())];
        let load = Load::start(&ws, &master, nodes, CLIENTS, PER_CLIENT);
        Busy {
            storage,
            a,
            b,
            ws,
            master,
            held,
            load,
        }
    }
}

/// One scenario at a time: they stop the engines every one of them uses.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs `scenario` alone, within [`SCENARIO`], and says how long it took.
async fn alone(name: &str, scenario: impl Future<Output = ()>) {
    let _alone = ONE_AT_A_TIME.lock().await;
    let began = Instant::now();
    tokio::time::timeout(SCENARIO, scenario)
        .await
        .unwrap_or_else(|_| panic!("{name}: still running after {SCENARIO:?}"));
    eprintln!("{name}: passed in {:.1?}", began.elapsed());
}

/// A large entry (an object) of its own for `tag`.
fn large(tag: &str, n: usize) -> Vec<u8> {
    let mut out = format!("{tag}-{n}:").into_bytes();
    out.extend((0..200_000 + n * 1000).map(|i| ((i * 31 + n * 7) % 251) as u8));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_under_load_loses_nothing_its_devices_were_told() {
    alone("kill -9 a node under load", async {
        let storage = Storage::fresh().await;
        let mut a = storage.process(&[]);
        let b = storage.process(&[]);
        let ws = new_ws();
        let master = a.api().register(&ws).await;
        let nodes = vec![("A", a.api()), ("B", b.api())];
        let load = Load::start(&ws, &master, nodes, CLIENTS, PER_CLIENT);
        load.wait_acked(load.total / 3, PROGRESS).await;
        load.going("A");
        a.kill();
        let killed_at = load.acked();
        let started = load.started;
        let total = load.total;
        let record = load.finish().await;
        eprintln!(
            "kill -9 A after {killed_at} entries; {}",
            summary(&record, started.elapsed())
        );
        assert!(record.cut_off > 0, "A's devices found it gone");
        assert!(
            record
                .acks
                .iter()
                .any(|a| a.node == "B" && a.client % 2 == 0),
            "A's devices went on through B"
        );
        let pulled = pull_all(&b.api(), &ws, &master).await;
        check(&pulled, &record, total);
        // B goes on serving as before.
        let seq = b
            .api()
            .push_ok(&ws, &master, "after", b"after A died")
            .await;
        assert_eq!(seq, total as u64 + 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_are_stored_and_read_with_a_garage_node_frozen_or_a_gateway_dead() {
    alone("one Garage node stopped; a dead gateway", async {
        let storage = Storage::fresh().await;
        let (first, second) = (storage.node().await, storage.node().await);
        let (api, other) = (first.api(), second.api());
        let ws = new_ws();
        let master = api.register(&ws).await;
        let before = api.push_ok(&ws, &master, "before", &large("before", 0)).await;
        let third = *garage_pids().last().unwrap();
        let mut expected = vec![(before, large("before", 0))];
        {
            // The last gateway of the list, and a replica of every object.
            let _frozen = Frozen::new(third);
            let (began, mut slowest) = (Instant::now(), Duration::ZERO);
            for n in 0..6 {
                let node = if n % 2 == 0 { &api } else { &other };
                let key = format!("frozen-{n}");
                let sent = Instant::now();
                let seq = within(node.push_ok(&ws, &master, &key, &large("frozen", n))).await;
                slowest = slowest.max(sent.elapsed());
                expected.push((seq, large("frozen", n)));
            }
            let pushed = began.elapsed();
            for node in [&api, &other] {
                assert_eq!(within(pull_all(node, &ws, &master)).await, expected);
            }
            eprintln!(
                "Garage node 3 stopped: 6 large entries pushed in {pushed:.1?} (the slowest in {slowest:.1?}), all read back through both nodes in {:.1?}",
                began.elapsed() - pushed
            );
        }
        // Thawed, it serves again (and catches up by itself).
        let seq = within(api.push_ok(&ws, &master, "thawed", &large("thawed", 0))).await;
        expected.push((seq, large("thawed", 0)));
        assert_eq!(within(pull_all(&other, &ws, &master)).await, expected);

        // A node whose first gateway is a closed port stores and reads.
        let real = var("HEARTH_TEST_OBJECTS_ENDPOINTS");
        let dead_first = storage.through(&format!("http://127.0.0.1:1,{real}"));
        let node = dead_first.node().await;
        let lame = node.api();
        let began = Instant::now();
        for n in 0..4 {
            let seq = within(lame.push_ok(&ws, &master, &format!("lame-{n}"), &large("lame", n))).await;
            expected.push((seq, large("lame", n)));
        }
        assert_eq!(within(pull_all(&lame, &ws, &master)).await, expected);
        assert_eq!(within(pull_all(&api, &ws, &master)).await, expected);
        eprintln!(
            "a dead first gateway: 4 large entries pushed and everything read back in {:.1?}",
            began.elapsed()
        );
        // The same with nothing but dead gateways is a 503, not a 500.
        let nowhere = storage.through("http://127.0.0.1:1,http://127.0.0.1:2");
        let node = nowhere.node().await;
        let reply = within(node.api().push(&ws, &master, Some("nowhere"), &large("x", 0))).await;
        assert_eq!(reply.status, hyper::StatusCode::SERVICE_UNAVAILABLE, "{}", reply.text());
        assert!(reply.header("retry-after").is_some());
    })
    .await;
}

/// `request`, which must answer within [`load::REQUEST_LIMIT`].
async fn within<T>(request: impl Future<Output = T>) -> T {
    tokio::time::timeout(load::REQUEST_LIMIT, request)
        .await
        .unwrap_or_else(|_| panic!("a request hung for {:?}", load::REQUEST_LIMIT))
}

/// After a database fault: a push through each node succeeds at once, and
/// heads pushed through A reach B's stream held across the fault and a
/// stream opened on B since.
async fn after_the_fault(a: &Api, b: &Api, ws: &str, token: &str, held: &Stream) {
    let through_b = within(b.push_ok(ws, token, "after-b", b"through B, after")).await;
    let through_a = within(a.push_ok(ws, token, "after-a", b"through A, after")).await;
    assert!(through_a > through_b);
    let took = held.wait_head(through_a, HEARD).await.unwrap_or_else(|e| {
        panic!("B's stream, held across the fault, did not hear A's head: {e}")
    });
    eprintln!("A's head reached B's held stream in {took:.1?}");
    let fresh = Stream::open(b, ws, token).await;
    fresh.wait_head(through_a, HEARD).await.unwrap();
    let again = within(a.push_ok(ws, token, "after-a-2", b"through A, again")).await;
    let took = fresh
        .wait_head(again, HEARD)
        .await
        .unwrap_or_else(|e| panic!("a stream opened on B after the fault did not hear A: {e}"));
    eprintln!("A's next head reached a new stream on B in {took:.1?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load_loses_nothing_and_the_nodes_recover() {
    alone("PostgreSQL restarted under load", async {
        let Busy {
            storage: _storage,
            a,
            b,
            ws,
            master,
            held,
            load,
        } = Busy::start().await;
        load.wait_acked(load.total / 4, PROGRESS).await;
        let at = load.acked();
        let down = restart_postgres().await;
        let (started, total) = (load.started, load.total);
        let unavailable_by_then = load.unavailable();
        let record = load.finish().await;
        eprintln!(
            "PostgreSQL restarted after {at} entries, in {down:.1?} ({unavailable_by_then} 503s by then); {}",
            summary(&record, started.elapsed())
        );
        assert!(record.unavailable > 0, "the restart reached the devices");
        let pulled = pull_all(&b.api(), &ws, &master).await;
        check(&pulled, &record, total);
        after_the_fault(&a.api(), &b.api(), &ws, &master, &held).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_cut_off_mid_transaction_lose_nothing() {
    alone("connections cut off mid-transaction", async {
        let Busy {
            storage,
            a,
            b,
            ws,
            master,
            held,
            load,
        } = Busy::start().await;
        load.wait_acked(load.total / 8, PROGRESS).await;
        let terminator =
            Terminator::start(storage.database_name(), Duration::from_millis(200)).await;
        // Cut off until most entries are in, and at least a few times.
        load.wait_acked(load.total * 3 / 4, PROGRESS).await;
        let deadline = Instant::now() + PROGRESS;
        while terminator.rounds() < 10 {
            assert!(Instant::now() < deadline, "the terminator is stuck");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (cut, rounds) = terminator.stop().await;
        let (started, total) = (load.started, load.total);
        let record = load.finish().await;
        eprintln!(
            "{cut} connections cut off in {rounds} rounds; {}",
            summary(&record, started.elapsed())
        );
        assert!(cut > 0, "connections were cut off");
        let pulled = pull_all(&b.api(), &ws, &master).await;
        check(&pulled, &record, total);
        after_the_fault(&a.api(), &b.api(), &ws, &master, &held).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_spread_over_two_nodes_converge_across_a_node_restart() {
    alone("seeded devices over two nodes", async {
        let storage = Storage::fresh().await;
        for seed in convergence::seeds() {
            convergence::run(seed, &storage).await;
        }
    })
    .await;
}
