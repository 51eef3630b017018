//! Push, pull, idempotent retries, compaction, read-only tokens, limits,
//! restarts.

use hyper::{Method, StatusCode};

use crate::common::{TestServer, new_ws};

#[tokio::test]
async fn push_pull_and_retry() {
    let server = TestServer::start().await;
    let api = server.api();
    let ws = new_ws();
    let master = api.register(&ws).await;
    let rw = api.mint(&ws, &master, "rw").await;

    let empty = api.pull(&ws, &rw, 0).await;
    assert_eq!((empty.head, empty.floor, empty.frames.len()), (0, 0, 0));

    assert_eq!(api.push_ok(&ws, &rw, "k1", b"first").await, 1);
    assert_eq!(api.push_ok(&ws, &master, "k2", b"second").await, 2);
    // A retry gets the same number and stores nothing twice.
    assert_eq!(api.push_ok(&ws, &rw, "k1", b"first").await, 1);
    let conflict = api.push(&ws, &rw, Some("k1"), b"different").await;
    assert_eq!(
        (conflict.status, conflict.code().as_str()),
        (StatusCode::CONFLICT, "idempotency_conflict")
    );
    // No key: stored each time.
    let third = api.push(&ws, &rw, None, b"third").await;
    assert_eq!(third.status, StatusCode::OK);
    assert_eq!(third.header("hearth-head"), Some("3"));

    let all = api.pull(&ws, &rw, 0).await;
    assert_eq!(all.head, 3);
    let got: Vec<(u64, &[u8])> = all
        .frames
        .iter()
        .map(|(_, s, p)| (*s, p.as_slice()))
        .collect();
    assert_eq!(
        got,
        vec![(1, &b"first"[..]), (2, &b"second"[..]), (3, &b"third"[..])]
    );
    let tail = api.pull(&ws, &rw, 2).await;
    assert_eq!(tail.frames.len(), 1);
    assert_eq!(api.pull(&ws, &rw, 99).await.frames.len(), 0);

    let bad_after = api
        .get_auth(&format!("/v1/workspaces/{ws}/entries?after=x"), &rw)
        .await;
    assert_eq!(bad_after.code(), "bad_request");
    let bad_key = api.push(&ws, &rw, Some(&"k".repeat(129)), b"x").await;
    assert_eq!(bad_key.code(), "bad_request");
    let auth = format!("Bearer {rw}");
    let wrong_type = api
        .request(
            Method::POST,
            &format!("/v1/workspaces/{ws}/entries"),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            "{}",
        )
        .await;
    assert_eq!(wrong_type.code(), "unsupported_media_type");
}

#[tokio::test]
async fn read_only_tokens_read_but_never_write() {
    let server = TestServer::start().await;
    let api = server.api();
    let ws = new_ws();
    let master = api.register(&ws).await;
    let ro = api.mint(&ws, &master, "ro").await;
    api.push_ok(&ws, &master, "a", b"entry").await;
    let denied = api.push(&ws, &ro, Some("b"), b"nope").await;
    assert_eq!(
        (denied.status, denied.code().as_str()),
        (StatusCode::FORBIDDEN, "read_only")
    );
    let denied = api.snapshot(&ws, &ro, 1, b"snap").await;
    assert_eq!(denied.code(), "read_only");
    assert_eq!(api.pull(&ws, &ro, 0).await.frames.len(), 1);

    // Tokens of another workspace open nothing here.
    let other = new_ws();
    let other_master = api.register(&other).await;
    let reply = api.push(&ws, &other_master, Some("c"), b"x").await;
    assert_eq!(reply.code(), "wrong_workspace");
    let reply = api
        .get_auth(
            &format!("/v1/workspaces/{ws}/entries?after=0"),
            &other_master,
        )
        .await;
    assert_eq!(reply.code(), "wrong_workspace");
    let reply = api.push(&ws, "", Some("c"), b"x").await;
    assert_eq!(reply.code(), "missing_token");
}

#[tokio::test]
async fn a_pull_across_the_compaction_floor_starts_with_the_snapshot() {
    let server = TestServer::start().await;
    let api = server.api();
    let ws = new_ws();
    let token = api.register(&ws).await;
    for i in 1..=5u64 {
        assert_eq!(
            api.push_ok(&ws, &token, &format!("k{i}"), format!("e{i}").as_bytes())
                .await,
            i
        );
    }
    let too_far = api.snapshot(&ws, &token, 6, b"snap").await;
    assert_eq!(
        (too_far.status, too_far.code().as_str()),
        (StatusCode::CONFLICT, "snapshot_conflict")
    );
    let done = api.snapshot(&ws, &token, 3, b"snapshot-upto-3").await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text());
    assert_eq!(done.json::<hearth_shared::api::SnapshotResponse>().floor, 3);
    let older = api.snapshot(&ws, &token, 2, b"older").await;
    assert_eq!(older.code(), "snapshot_conflict");

    let pull = api.pull(&ws, &token, 1).await;
    assert_eq!((pull.head, pull.floor), (5, 3));
    assert_eq!(pull.frames[0], (true, 3, b"snapshot-upto-3".to_vec()));
    let seqs: Vec<u64> = pull.frames.iter().skip(1).map(|f| f.1).collect();
    assert_eq!(seqs, vec![4, 5]);
    // At or above the floor: no snapshot.
    let pull = api.pull(&ws, &token, 3).await;
    assert_eq!(
        pull.frames.iter().map(|f| (f.0, f.1)).collect::<Vec<_>>(),
        vec![(false, 4), (false, 5)]
    );
    // A retried push of a compacted entry still gets its number.
    assert_eq!(api.push_ok(&ws, &token, "k2", b"e2").await, 2);
    assert_eq!(api.push_ok(&ws, &token, "k6", b"e6").await, 6);
}

#[tokio::test]
async fn oversize_bodies_and_quotas_are_refused() {
    let server = TestServer::start_with(|c| {
        c.max_body_bytes = 1024;
        c.workspace_quota_bytes = 4096;
    })
    .await;
    let api = server.api();
    let ws = new_ws();
    let token = api.register(&ws).await;
    let big = api.push(&ws, &token, Some("big"), &[0u8; 1025]).await;
    assert_eq!(
        (big.status, big.code().as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    let mut last = StatusCode::OK;
    for i in 0..10 {
        let reply = api
            .push(&ws, &token, Some(&format!("q{i}")), &[1u8; 1000])
            .await;
        last = reply.status;
        if reply.status != StatusCode::OK {
            assert_eq!(reply.code(), "quota_exceeded");
            break;
        }
    }
    assert_eq!(last, StatusCode::INSUFFICIENT_STORAGE);
    // A pull still works and compaction frees space.
    let head = api.pull(&ws, &token, 0).await.head;
    assert_eq!(
        api.snapshot(&ws, &token, head, b"small").await.status,
        StatusCode::OK
    );
    assert_eq!(
        api.push(&ws, &token, Some("after"), &[2u8; 1000])
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn restart_keeps_everything() {
    let server = TestServer::start().await;
    let api = server.api();
    let ws = new_ws();
    let master = api.register(&ws).await;
    let rw = api.mint(&ws, &master, "rw").await;
    for i in 1..=4u64 {
        api.push_ok(&ws, &rw, &format!("k{i}"), format!("e{i}").as_bytes())
            .await;
    }
    assert_eq!(
        api.snapshot(&ws, &rw, 2, b"snap2").await.status,
        StatusCode::OK
    );
    let before = api.pull(&ws, &rw, 0).await;
    let dir = server.stop().await;

    let server = TestServer::start_in(dir, |_| {}).await;
    let api = server.api();
    let after = api.pull(&ws, &rw, 0).await;
    assert_eq!((after.head, after.floor), (before.head, before.floor));
    assert_eq!(after.frames, before.frames);
    // Idempotency keys survive the restart; tokens too.
    assert_eq!(api.push_ok(&ws, &rw, "k4", b"e4").await, 4);
    assert_eq!(api.push_ok(&ws, &rw, "k5", b"e5").await, 5);
    let list = api
        .get_auth(&format!("/v1/workspaces/{ws}/tokens"), &master)
        .await;
    assert_eq!(list.status, StatusCode::OK);
}

#[tokio::test]
async fn concurrent_pushes_all_land_once() {
    let server = TestServer::start().await;
    let api = server.api();
    let ws = new_ws();
    let token = api.register(&ws).await;
    let mut tasks = Vec::new();
    for c in 0..8 {
        let (api, ws, token) = (api.clone(), ws.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..25 {
                let body = format!("client {c} entry {i}");
                seqs.push((
                    api.push_ok(&ws, &token, &format!("{c}-{i}"), body.as_bytes())
                        .await,
                    body,
                ));
            }
            seqs
        }));
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    acked.sort();
    let seqs: Vec<u64> = acked.iter().map(|a| a.0).collect();
    assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
    let pull = api.pull(&ws, &token, 0).await;
    for ((_, seq, payload), (want_seq, body)) in pull.frames.iter().zip(&acked) {
        assert_eq!((seq, payload.as_slice()), (want_seq, body.as_bytes()));
    }
}

#[tokio::test]
async fn large_pulls_come_in_pages_up_to_the_head() {
    let server = TestServer::start_with(|c| c.max_pull_bytes = 2048).await;
    let api = server.api();
    let ws = new_ws();
    let token = api.register(&ws).await;
    for i in 1..=10u64 {
        api.push_ok(&ws, &token, &format!("k{i}"), &[i as u8; 700])
            .await;
    }
    let mut cursor = 0;
    let mut pages = 0;
    let mut seen = Vec::new();
    loop {
        let page = api.pull(&ws, &token, cursor).await;
        assert_eq!(page.head, 10);
        let Some(last) = page.frames.last() else {
            break;
        };
        cursor = last.1;
        seen.extend(page.frames.iter().map(|f| f.1));
        pages += 1;
    }
    assert_eq!(seen, (1..=10).collect::<Vec<_>>());
    assert!(pages >= 4, "{pages} pages");
}

#[tokio::test]
async fn the_api_answers_cors_preflights_of_allowed_origins_only() {
    let server = TestServer::start_with(|c| c.cors_origins = vec!["http://elsewhere".into()]).await;
    let api = server.api();
    let reply = api
        .request(
            Method::OPTIONS,
            "/v1/workspaces/x/entries",
            &[("origin", "http://elsewhere")],
            "",
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("http://elsewhere")
    );
    // A page of any other origin is not allowed to call the API.
    let stranger = api
        .request(
            Method::OPTIONS,
            "/v1/workspaces",
            &[("origin", "http://evil.example")],
            "",
        )
        .await;
    assert_eq!(stranger.header("access-control-allow-origin"), None);
    assert!(
        reply
            .header("access-control-allow-headers")
            .unwrap()
            .contains("idempotency-key")
    );
    assert!(
        api.request(
            Method::GET,
            "/v1/health",
            &[("origin", "http://elsewhere")],
            ""
        )
        .await
        .header("access-control-expose-headers")
        .unwrap()
        .contains("hearth-head")
    );
    assert_eq!(
        api.get("/").await.header("access-control-allow-origin"),
        None
    );
}

/// The peak resident memory of process `pid`, in bytes (`VmHWM`).
fn peak_memory(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib * 1024
}

/// Four 16 MiB entries pushed at once, a 16 MiB snapshot, and eight 4 MiB
/// chunks at once are stored whole and read back to the byte, while the
/// server's peak memory grows by less than one entry: bodies go to a spool
/// file as they arrive and into the log or chunk file in pieces, and
/// pulls are streamed.
#[tokio::test]
async fn sixteen_mib_uploads_cost_the_server_no_sixteen_mib_buffer() {
    const MIB: usize = 1 << 20;
    let dir = tempfile::tempdir().unwrap();
    let server = crate::common::ServerProcess::start(dir.path(), &[]);
    let pid = server.child.id();
    let api = crate::common::Api::new(server.addr);
    let ws = new_ws();
    let token = api.register(&ws).await;
    api.push_ok(&ws, &token, "warm", b"a small entry first")
        .await;
    let before = peak_memory(pid);

    let bodies: Vec<Vec<u8>> = (0..4u8)
        .map(|n| {
            (0..16 * MIB)
                .map(|i| (i as u8) ^ n ^ (i >> 13) as u8)
                .collect()
        })
        .collect();
    let pushes = bodies.iter().enumerate().map(|(n, body)| {
        let (api, ws, token) = (api.clone(), ws.clone(), token.clone());
        async move { api.push_ok(&ws, &token, &format!("big{n}"), body).await }
    });
    let mut seqs = futures::future::join_all(pushes).await;
    seqs.sort_unstable();
    assert_eq!(seqs, [2, 3, 4, 5]);

    // Pulled back page by page (a page holds at most 32 MiB).
    let mut got: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut after = 1;
    while after < 5 {
        let page = api.pull(&ws, &token, after).await;
        let last = page.frames.last().map(|f| f.1).unwrap();
        got.extend(page.frames.into_iter().map(|(_, seq, p)| (seq, p)));
        after = last;
    }
    assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), [2, 3, 4, 5]);
    let mut found: Vec<usize> = got
        .iter()
        .map(|(seq, p)| {
            let at = bodies.iter().position(|b| b == p);
            at.unwrap_or_else(|| panic!("entry {seq} is none of the bodies pushed"))
        })
        .collect();
    found.sort_unstable();
    assert_eq!(found, [0, 1, 2, 3], "each body is stored once");

    let snapshot = &bodies[0];
    let reply = api.snapshot(&ws, &token, 5, snapshot).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let page = api.pull(&ws, &token, 0).await;
    assert!(
        page.frames
            .first()
            .is_some_and(|f| f.0 && f.1 == 5 && &f.2 == snapshot)
    );

    // Eight 4 MiB chunks (an attached file's largest) at once, each read
    // back to the byte.
    let chunks: Vec<Vec<u8>> = (0..8u8)
        .map(|n| {
            (0..4 * MIB)
                .map(|i| (i as u8) ^ n.wrapping_mul(31) ^ (i >> 11) as u8)
                .collect()
        })
        .collect();
    let name = |body: &[u8]| {
        use sha2::Digest as _;
        hearth_shared::id::ChunkName::from_digest(sha2::Sha256::digest(body).into())
    };
    let ws_id = hearth_shared::id::WorkspaceId::parse(&ws).unwrap();
    let puts = chunks.iter().map(|body| {
        let (api, token, ws_id) = (api.clone(), token.clone(), ws_id.clone());
        async move {
            let route = hearth_shared::routes::Route::PutChunk {
                ws: ws_id,
                name: name(body),
            };
            api.call(&route, Some(&token), body.clone()).await
        }
    });
    for reply in futures::future::join_all(puts).await {
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    }
    let grew = peak_memory(pid).saturating_sub(before);
    assert!(
        grew < 24 * MIB as u64,
        "the server's peak memory grew by {} MiB for 16 MiB uploads and 4 MiB chunks",
        grew / MIB as u64
    );
    // (A chunk is read back whole: 4 MiB per download.)
    for body in &chunks {
        let route = hearth_shared::routes::Route::GetChunk {
            ws: ws_id.clone(),
            name: name(body),
        };
        let got = api.call(&route, Some(&token), Vec::new()).await;
        assert!(got.status == StatusCode::OK && got.body[..] == body[..]);
    }
}
