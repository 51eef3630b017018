//! A data directory written by an earlier release (index schema 2, that
//! release's log, snapshot and undo files; see
//! `tests/fixtures/data-2026-12-01/README.md`) opens with today's server:
//! every entry is served byte for byte, its tokens, revocations and
//! idempotency keys hold, the compaction can still be undone, and new
//! pushes are taken.

use std::path::Path;

use hyper::StatusCode;
use sha2::{Digest as _, Sha256};

use crate::common::TestServer;

const FIXTURE: &str = "tests/fixtures/data-2026-12-01";

/// What `make.py` pushed as entry `n`.
fn payload(n: u64) -> Vec<u8> {
    if n == 7 {
        return (0..200_000u64)
            .map(|i| ((i * 31 + 7) % 251) as u8)
            .collect();
    }
    format!("entry {n} ")
        .repeat(usize::try_from(n + 1).unwrap())
        .into_bytes()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

struct Fixture {
    ws: String,
    master: String,
    phone: String,
    revoked: String,
    snapshot_sha256: String,
}

fn fixture() -> Fixture {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE);
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("fixture.json")).unwrap()).unwrap();
    let text = |k: &str| meta[k].as_str().unwrap().to_owned();
    Fixture {
        ws: text("workspace"),
        master: text("master_token"),
        phone: text("phone_token"),
        revoked: text("revoked_token"),
        snapshot_sha256: text("snapshot_sha256"),
    }
}

async fn start_on_a_copy() -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(FIXTURE)
            .join("data"),
        dir.path(),
    );
    // The fixture's compaction must stay undoable however old it grows.
    TestServer::start_in(dir, |c| c.compaction_undo_secs = 100 * 365 * 24 * 60 * 60).await
}

#[tokio::test]
async fn a_data_directory_from_an_earlier_release_opens_and_serves_every_entry() {
    let f = fixture();
    let server = start_on_a_copy().await;
    let api = server.api();

    // The snapshot and every entry after it, byte for byte, to either token.
    for token in [&f.master, &f.phone] {
        let pull = api.pull(&f.ws, token, 0).await;
        assert_eq!((pull.head, pull.floor), (35, 10));
        let (is_snapshot, seq, snapshot) = &pull.frames[0];
        assert!(is_snapshot);
        assert_eq!(*seq, 10);
        assert_eq!(hex(&Sha256::digest(snapshot)), f.snapshot_sha256);
        let entries: Vec<(u64, Vec<u8>)> = pull.frames[1..]
            .iter()
            .map(|(_, s, p)| (*s, p.clone()))
            .collect();
        let expected: Vec<(u64, Vec<u8>)> = (11..=35).map(|n| (n, payload(n))).collect();
        assert_eq!(entries, expected);
    }

    // A token revoked then is refused now.
    let refused = api
        .call(
            &hearth_shared::routes::Route::Pull {
                ws: crate::common::id(&f.ws),
                after: 0,
            },
            Some(&f.revoked),
            Vec::new(),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        refused.text()
    );
    assert_eq!(refused.code(), "token_revoked");

    // Idempotency keys kept then still answer a retry with the first number.
    let retried = api
        .push(&f.ws, &f.phone, Some("key-35"), &payload(35))
        .await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.text());
    assert_eq!(retried.json::<hearth_shared::api::PushResponse>().seq, 35);

    // New pushes are taken, and survive a restart.
    assert_eq!(
        api.push_ok(&f.ws, &f.phone, "new-1", b"written today")
            .await,
        36
    );
    let dir = server.stop().await;
    let server =
        TestServer::start_in(dir, |c| c.compaction_undo_secs = 100 * 365 * 24 * 60 * 60).await;
    let api = server.api();
    let pull = api.pull(&f.ws, &f.master, 35).await;
    assert_eq!(pull.frames, vec![(false, 36, b"written today".to_vec())]);

    // The earlier release's compaction can still be undone: entries 1..=10 come back.
    let undo = api
        .call(
            &hearth_shared::routes::Route::UndoCompaction(crate::common::id(&f.ws)),
            Some(&f.master),
            Vec::new(),
        )
        .await;
    assert_eq!(undo.status, StatusCode::OK, "{}", undo.text());
    let pull = api.pull(&f.ws, &f.master, 0).await;
    assert_eq!(pull.floor, 0);
    let first: Vec<(u64, Vec<u8>)> = pull.frames[..10]
        .iter()
        .map(|(_, s, p)| (*s, p.clone()))
        .collect();
    assert_eq!(first, (1..=10).map(|n| (n, payload(n))).collect::<Vec<_>>());
    assert_eq!(pull.head, 36);
}

#[tokio::test]
async fn an_earlier_releases_index_takes_todays_operations() {
    let f = fixture();
    let server = start_on_a_copy().await;
    let api = server.api();
    // Tables added since (key epochs, device keys) work on the migrated index.
    let ws = crate::common::id(&f.ws);
    let check = serde_json::json!({"check": "AAAA"});
    let put = api
        .call(
            &hearth_shared::routes::Route::PutKeyCheck {
                ws: ws.clone(),
                epoch: 1,
            },
            Some(&f.master),
            serde_json::to_vec(&check).unwrap(),
        )
        .await;
    assert_eq!(put.status, StatusCode::CREATED, "{}", put.text());
    let list = api
        .call(
            &hearth_shared::routes::Route::ListTokens(ws),
            Some(&f.master),
            Vec::new(),
        )
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text());
    let tokens: hearth_shared::api::TokenList = list.json();
    let mut labels: Vec<(&str, bool)> = tokens
        .tokens
        .iter()
        .map(|t| (t.label.as_str(), t.revoked_at.is_some()))
        .collect();
    labels.sort();
    assert_eq!(
        labels,
        [("laptop", false), ("old tablet", true), ("phone", false)]
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
