//! The promise under faults and strangers: who may register, cross-site
//! requests, replacing the master token, expiring a device, undoing a
//! compaction, a full disk, a damaged log, limits the store cannot hold,
//! stream caps, file modes and the page's security headers.

use std::process::Command;
use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::json;

use crate::common::{Api, ServerProcess, TestServer, new_ws};

fn hearth(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    )
}

async fn register_with(api: &Api, ws: &str, code: Option<&str>) -> crate::common::Reply {
    let mut body = json!({"workspace_id": ws, "label": "laptop"});
    if let Some(code) = code {
        body["setup_code"] = json!(code);
    }
    api.json(Method::POST, "/v1/workspaces", None, &body).await
}

#[tokio::test]
async fn registering_needs_a_setup_code_that_works_once() {
    let server = TestServer::start_with(|c| {
        c.registration = hearth::config::RegistrationArg::Code;
    })
    .await;
    let api = server.api();
    let health: hearth_shared::api::Health = api.get("/v1/health").await.json();
    assert_eq!(health.registration, hearth_shared::api::Registration::Code);

    let ws = new_ws();
    for code in [None, Some("AAAA-BBBB-CCCC-DDDD"), Some("")] {
        let reply = register_with(&api, &ws, code).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{code:?}");
        assert_eq!(reply.code(), "setup_code_invalid");
        assert!(
            reply.text().contains("hearth setup-code"),
            "{}",
            reply.text()
        );
    }

    // The operator prints a code on the server (while it runs).
    let data = server.dir.path().to_str().unwrap().to_owned();
    let (ok, code, _) = hearth(&["setup-code", "--data-dir", &data]);
    assert!(ok);
    assert_eq!(code.len(), 19, "{code}");
    // Typed in lower case with spaces, it still works, once.
    let typed = code.to_lowercase().replace('-', " ");
    assert_eq!(
        register_with(&api, &ws, Some(&typed)).await.status,
        StatusCode::CREATED
    );
    let again = register_with(&api, &new_ws(), Some(&code)).await;
    assert_eq!(again.code(), "setup_code_invalid");

    // A code is not spent on a workspace that already exists.
    let (_, code2, _) = hearth(&["setup-code", "--data-dir", &data]);
    assert_eq!(
        register_with(&api, &ws, Some(&code2)).await.code(),
        "workspace_exists"
    );
    assert_eq!(
        register_with(&api, &new_ws(), Some(&code2)).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_closed_server_registers_nothing() {
    let server =
        TestServer::start_with(|c| c.registration = hearth::config::RegistrationArg::Closed).await;
    let reply = register_with(&server.api(), &new_ws(), None).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.code(), "registration_closed");
}

#[tokio::test]
async fn a_cross_site_form_post_cannot_register() {
    let server = TestServer::start().await;
    let api = server.api();
    let ws = new_ws();
    // What a form on another site sends without a preflight.
    let body = json!({"workspace_id": ws, "label": "x"}).to_string();
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/jsonx",
    ] {
        let reply = api
            .request(
                Method::POST,
                "/v1/workspaces",
                &[("content-type", ct), ("origin", "http://evil.example")],
                body.clone(),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct}");
        assert_eq!(reply.code(), "unsupported_media_type");
        assert_eq!(reply.header("access-control-allow-origin"), None);
    }
    // Nothing was registered: the id is still free.
    assert_eq!(
        register_with(&api, &ws, None).await.status,
        StatusCode::CREATED
    );
    // Octet-stream routes match exactly too.
    let master = api.register(&new_ws()).await;
    let reply = api
        .request(
            Method::POST,
            &format!("/v1/workspaces/{}/entries", new_ws()),
            &[
                ("authorization", &format!("Bearer {master}")),
                ("content-type", "application/octet-streamx"),
            ],
            "x",
        )
        .await;
    assert_ne!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn the_master_token_can_be_replaced_and_devices_given_an_expiry() {
    let server = TestServer::start().await;
    let api = server.api();
    let ws = new_ws();
    let old = api.register(&ws).await;
    let device = api.mint(&ws, &old, "rw").await;
    let reply = api
        .json(
            Method::POST,
            &format!("/v1/workspaces/{ws}/master"),
            Some(&old),
            &json!({}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let new: hearth_shared::api::RegisterResponse = reply.json();
    // The old one stops at once; the new one is the owner; devices go on.
    let tokens_path = format!("/v1/workspaces/{ws}/tokens");
    assert_eq!(
        api.get_auth(&tokens_path, &old).await.code(),
        "token_revoked"
    );
    let list: hearth_shared::api::TokenList =
        api.get_auth(&tokens_path, &new.master_token).await.json();
    assert_eq!(
        list.tokens
            .iter()
            .filter(|t| t.revoked_at.is_none() && t.role == hearth_shared::claims::Role::Master)
            .count(),
        1
    );
    api.push_ok(&ws, &device, "k1", b"still works").await;

    // The owner gives the device an expiry; past it, the device is refused.
    let id = list
        .tokens
        .iter()
        .find(|t| t.role == hearth_shared::claims::Role::Access)
        .unwrap()
        .token_id
        .clone();
    let reply = api
        .json(
            Method::PUT,
            &format!("/v1/workspaces/{ws}/tokens/{id}/expiry"),
            Some(&new.master_token),
            &json!({"expires_in": 1}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let info: hearth_shared::api::TokenInfo = reply.json();
    assert!(info.expires_at.is_some());
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let refused = api.push(&ws, &device, Some("k2"), b"too late").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.code(), "token_expired");
    // The master token has no expiry to set.
    let reply = api
        .json(
            Method::PUT,
            &format!("/v1/workspaces/{ws}/tokens/{}/expiry", new.token_id),
            Some(&new.master_token),
            &json!({"expires_in": 60}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_compaction_can_be_undone_keeping_later_entries() {
    let server = TestServer::start().await;
    let api = server.api();
    let ws = new_ws();
    let master = api.register(&ws).await;
    let rw = api.mint(&ws, &master, "rw").await;
    for i in 1..=5u64 {
        api.push_ok(&ws, &rw, &format!("k{i}"), format!("entry {i}").as_bytes())
            .await;
    }
    // A buggy or hostile device replaces the history with garbage.
    assert_eq!(
        api.snapshot(&ws, &rw, 4, b"garbage").await.status,
        StatusCode::OK
    );
    assert_eq!(
        api.pull(&ws, &rw, 0).await.frames[0],
        (true, 4, b"garbage".to_vec())
    );
    api.push_ok(&ws, &rw, "k6", b"entry 6").await;

    // A device that may write, but is not the owner, cannot undo.
    let undo = format!("/v1/workspaces/{ws}/snapshot/undo");
    let reply = api.json(Method::POST, &undo, Some(&rw), &json!({})).await;
    assert_eq!(reply.code(), "master_required");
    let reply = api
        .json(Method::POST, &undo, Some(&master), &json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let undone: hearth_shared::api::UndoResponse = reply.json();
    assert_eq!((undone.floor, undone.head), (0, 6));
    let pulled = api.pull(&ws, &rw, 0).await;
    let want: Vec<(bool, u64, Vec<u8>)> = (1..=6u64)
        .map(|i| (false, i, format!("entry {i}").into_bytes()))
        .collect();
    assert_eq!(pulled.frames, want);
    // The idempotency keys still hold, and pushing goes on after the head.
    assert_eq!(api.push_ok(&ws, &rw, "k2", b"entry 2").await, 2);
    assert_eq!(api.push_ok(&ws, &rw, "k7", b"entry 7").await, 7);
    let reply = api
        .json(Method::POST, &undo, Some(&master), &json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.code(), "nothing_to_undo");
}

#[tokio::test]
async fn a_nearly_full_disk_refuses_writes_and_keeps_reads() {
    let server = TestServer::start().await;
    let api = server.api();
    let ws = new_ws();
    let master = api.register(&ws).await;
    let rw = api.mint(&ws, &master, "rw").await;
    api.push_ok(&ws, &rw, "k1", b"stored before").await;
    let dir = server.stop().await;
    // Now the free space is below the reserve.
    let server = TestServer::start_in(dir, |c| c.min_free_bytes = u64::MAX / 2).await;
    let api = server.api();
    let reply = api.push(&ws, &rw, Some("k2"), b"no room").await;
    assert_eq!(reply.status, StatusCode::INSUFFICIENT_STORAGE);
    assert_eq!(reply.code(), "storage_full");
    assert!(reply.header("retry-after").is_some());
    assert_eq!(
        api.pull(&ws, &rw, 0).await.frames,
        vec![(false, 1, b"stored before".to_vec())]
    );
    let reply = register_with(&api, &new_ws(), None).await;
    assert_eq!(reply.code(), "storage_full");
}

#[tokio::test]
async fn the_server_wide_limit_refuses_writes_beyond_it() {
    let server = TestServer::start_with(|c| c.max_total_bytes = Some(4096)).await;
    let api = server.api();
    let ws = new_ws();
    let master = api.register(&ws).await;
    let rw = api.mint(&ws, &master, "rw").await;
    api.push_ok(&ws, &rw, "k1", &[1u8; 1000]).await;
    let mut refused = None;
    for i in 2..10 {
        let reply = api
            .push(&ws, &rw, Some(&format!("k{i}")), &[i as u8; 1000])
            .await;
        if reply.status != StatusCode::OK {
            refused = Some(reply);
            break;
        }
    }
    let reply = refused.expect("the limit was never reached");
    assert_eq!(reply.code(), "storage_full");
}

#[tokio::test]
async fn event_streams_are_capped_per_token() {
    let server = TestServer::start_with(|c| c.max_streams_per_token = 2).await;
    let ws = new_ws();
    let api = server.api();
    let master = api.register(&ws).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let req = format!(
            "GET /v1/workspaces/{ws}/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {master}\r\n\r\n"
        );
        tokio::io::AsyncWriteExt::write_all(&mut s, req.as_bytes())
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let n = tokio::io::AsyncReadExt::read(&mut s, &mut buf)
            .await
            .unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        held.push(s);
    }
    let third = api
        .get_auth(&format!("/v1/workspaces/{ws}/events"), &master)
        .await;
    assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(third.code(), "too_many_streams");
}

#[tokio::test]
async fn a_flipped_byte_loses_one_entry_and_the_rest_is_kept_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let ws = new_ws();
    let (token, bodies) = {
        let server = ServerProcess::start(dir.path(), &[]);
        let api = Api::new(server.addr);
        let token = api.register(&ws).await;
        let mut bodies = Vec::new();
        for i in 1..=20u64 {
            let body = format!("entry number {i} with some text").into_bytes();
            api.push_ok(&ws, &token, &format!("k{i}"), &body).await;
            bodies.push(body);
        }
        (token, bodies)
    };
    // Flip one byte inside entry 10's payload.
    let log = dir.path().join("workspaces").join(&ws).join("log");
    let mut bytes = std::fs::read(&log).unwrap();
    let at = bytes
        .windows(bodies[9].len())
        .position(|w| w == bodies[9].as_slice())
        .unwrap();
    bytes[at + 3] ^= 0x20;
    std::fs::write(&log, &bytes).unwrap();

    let data = dir.path().to_str().unwrap().to_owned();
    let (ok, report, _) = hearth(&["doctor", "--data-dir", &data]);
    assert!(!ok, "doctor must fail on a damaged log:\n{report}");
    assert!(report.contains("damaged record"), "{report}");

    let server = ServerProcess::start(dir.path(), &[]);
    let api = Api::new(server.addr);
    let pulled = api.pull(&ws, &token, 0).await;
    let seqs: Vec<u64> = pulled.frames.iter().map(|f| f.1).collect();
    let want: Vec<u64> = (1..=20).filter(|s| *s != 10).collect();
    assert_eq!(seqs, want, "every entry after the damage is recovered");
    for (_, seq, payload) in &pulled.frames {
        assert_eq!(payload, &bodies[*seq as usize - 1]);
    }
    // The next push does not reuse a sequence number.
    assert_eq!(api.push_ok(&ws, &token, "k21", b"after").await, 21);
    drop(server);
    // The damaged part was copied aside, and doctor says where.
    let quarantine = dir.path().join("workspaces").join(&ws).join("quarantine");
    assert_eq!(std::fs::read_dir(&quarantine).unwrap().count(), 1);
    let (ok, report, _) = hearth(&["doctor", "--data-dir", &data]);
    assert!(!ok);
    assert!(report.contains("quarantine"), "{report}");
}

#[test]
fn limits_the_store_cannot_hold_refuse_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let (ok, _, err) = hearth(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        &data,
        "--max-body-bytes",
        "1100000000",
    ]);
    assert!(!ok);
    assert!(err.contains("--max-body-bytes"), "{err}");
    let (ok, _, err) = hearth(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        &data,
        "--header-timeout-secs",
        "60",
    ]);
    assert!(!ok);
    assert!(err.contains("--header-timeout-secs"), "{err}");
}

#[tokio::test]
async fn data_files_are_owner_only_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    // Made beforehand, readable by all.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let ws = new_ws();
    {
        let server = ServerProcess::start(dir.path(), &[]);
        let api = Api::new(server.addr);
        let token = api.register(&ws).await;
        api.push_ok(&ws, &token, "k", b"x").await;
        assert_eq!(
            api.snapshot(&ws, &token, 1, b"snap").await.status,
            StatusCode::OK
        );
    }
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(dir.path()), 0o700);
    for rel in [
        "index.sqlite",
        "secret.key",
        &format!("workspaces/{ws}/log"),
        &format!("workspaces/{ws}/snapshot"),
    ] {
        let p = dir.path().join(rel);
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{rel}");
        }
    }
    assert_eq!(mode(&dir.path().join("workspaces").join(&ws)), 0o700);
}

#[tokio::test]
async fn pages_carry_a_content_security_policy_and_the_api_is_uncacheable() {
    let server = TestServer::start().await;
    let api = server.api();
    let page = api.get("/").await;
    let csp = page
        .header("content-security-policy")
        .unwrap_or_default()
        .to_owned();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("script-src 'self' 'unsafe-inline'"), "{csp}");
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    // A revalidated page keeps the same policy (a 304's headers replace the
    // cached ones, the service worker's copy included).
    if let Some(etag) = page.header("etag") {
        let again = api
            .request(Method::GET, "/", &[("if-none-match", etag)], "")
            .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED);
        assert_eq!(again.header("content-security-policy"), Some(csp.as_str()));
    }
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(
        api.get("/v1/health").await.header("cache-control"),
        Some("no-store")
    );
    assert_eq!(
        api.get("/v1/nothing").await.header("cache-control"),
        Some("no-store")
    );
}

#[tokio::test]
async fn a_large_pull_is_streamed_whole_and_in_order() {
    let server = TestServer::start().await;
    let api = server.api();
    let ws = new_ws();
    let token = api.register(&ws).await;
    let bodies: Vec<Vec<u8>> = (0..40u32)
        .map(|i| (0..64 * 1024u32).map(|j| (i * 31 + j) as u8).collect())
        .collect();
    for (i, body) in bodies.iter().enumerate() {
        api.push_ok(&ws, &token, &format!("k{i}"), body).await;
    }
    assert_eq!(
        api.snapshot(&ws, &token, 10, &vec![7u8; 300_000])
            .await
            .status,
        StatusCode::OK
    );
    let pulled = api.pull(&ws, &token, 0).await;
    assert_eq!(pulled.frames.len(), 31, "the snapshot and 30 entries");
    assert_eq!(pulled.frames[0], (true, 10, vec![7u8; 300_000]));
    for (_, seq, payload) in &pulled.frames[1..] {
        assert_eq!(payload, &bodies[*seq as usize - 1], "entry {seq}");
    }
}

/// `DELETE …/snapshot/undo`: the owner deletes what compactions kept for
/// undo (as after encrypting a workspace); nothing is left to undo and
/// no replaced bytes stay in the data directory.
#[tokio::test]
async fn the_owner_deletes_what_compactions_kept_for_undo() {
    let server = TestServer::start().await;
    let api = server.api();
    let ws = new_ws();
    let master = api.register(&ws).await;
    let rw = api.mint(&ws, &master, "rw").await;
    for i in 1..=3u64 {
        api.push_ok(
            &ws,
            &rw,
            &format!("k{i}"),
            format!("plain entry {i}").as_bytes(),
        )
        .await;
    }
    assert_eq!(
        api.snapshot(&ws, &rw, 3, b"sealed snapshot").await.status,
        StatusCode::OK
    );
    let held = |needle: &[u8]| {
        crate::common::files_under(server.dir.path())
            .into_iter()
            .any(|(_, bytes)| bytes.windows(needle.len()).any(|w| w == needle))
    };
    assert!(held(b"plain entry 2"), "kept for undo");

    let undo = format!("/v1/workspaces/{ws}/snapshot/undo");
    let reply = api.json(Method::DELETE, &undo, Some(&rw), &json!({})).await;
    assert_eq!(reply.code(), "master_required");
    let reply = api
        .json(Method::DELETE, &undo, Some(&master), &json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json::<serde_json::Value>()["forgotten"], 1);
    assert!(!held(b"plain entry 2"), "no replaced entry stays on disk");
    assert!(held(b"sealed snapshot"));
    let reply = api
        .json(Method::POST, &undo, Some(&master), &json!({}))
        .await;
    assert_eq!(reply.code(), "nothing_to_undo");
    assert_eq!(
        api.pull(&ws, &rw, 0).await.frames,
        vec![(true, 3, b"sealed snapshot".to_vec())]
    );
    // Again: nothing to delete, still fine.
    let reply = api
        .json(Method::DELETE, &undo, Some(&master), &json!({}))
        .await;
    assert_eq!(reply.json::<serde_json::Value>()["forgotten"], 0);
}
