//! Cluster mode: two `hearth` nodes on one PostgreSQL database and one
//! S3-compatible store (Garage, started by `cargo xtask test`), serving
//! the same workspaces with no affinity.

use std::time::Duration;

use http_body_util::BodyExt as _;
use hyper::{Method, StatusCode};
use serde_json::json;

use crate::common::cluster::Storage;
use crate::common::new_ws;

#[tokio::test]
async fn two_nodes_serve_one_workspace_with_no_affinity() {
    let storage = Storage::fresh().await;
    let (a, b) = (storage.node().await, storage.node().await);
    let (a, b) = (a.api(), b.api());
    let ws = new_ws();
    let master = a.register(&ws).await;

    // Pushed through A, pulled through B; a retry through B lands once.
    let one = a.push_ok(&ws, &master, "k1", b"one").await;
    let two = b.push_ok(&ws, &master, "k2", b"two").await;
    assert_eq!((one, two), (1, 2), "one order across the nodes");
    assert_eq!(
        b.push_ok(&ws, &master, "k1", b"one").await,
        1,
        "a retry is not stored twice"
    );
    let conflict = b.push(&ws, &master, Some("k1"), b"other").await;
    assert_eq!(conflict.status, StatusCode::CONFLICT, "{}", conflict.text());
    let pulled = b.pull(&ws, &master, 0).await;
    assert_eq!(pulled.head, 2);
    let bodies: Vec<&[u8]> = pulled.frames.iter().map(|f| f.2.as_slice()).collect();
    assert_eq!(bodies, [b"one".as_slice(), b"two"]);

    // A large entry (an object, not a row) and a snapshot, across nodes.
    let large: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let three = a.push_ok(&ws, &master, "k3", &large).await;
    let pulled = b.pull(&ws, &master, 2).await;
    assert_eq!(pulled.frames, [(false, three, large.clone())]);
    let snap = b.snapshot(&ws, &master, 2, b"state up to two").await;
    assert_eq!(snap.status, StatusCode::OK, "{}", snap.text());
    let pulled = a.pull(&ws, &master, 0).await;
    assert_eq!(pulled.floor, 2);
    assert_eq!(
        pulled.frames,
        [
            (true, 2, b"state up to two".to_vec()),
            (false, three, large)
        ]
    );

    // A token revoked through A is refused by B at once.
    let minted = a
        .json(
            Method::POST,
            &format!("/v1/workspaces/{ws}/tokens"),
            Some(&master),
            &json!({"label": "phone", "scope": "rw"}),
        )
        .await;
    let minted: serde_json::Value = minted.json();
    let (phone, phone_id) = (
        minted["token"].as_str().unwrap().to_owned(),
        minted["token_id"].as_str().unwrap().to_owned(),
    );
    assert_eq!(
        b.pull(&ws, &phone, 0).await.head,
        three,
        "B knows the new token"
    );
    let revoked = a
        .request(
            Method::DELETE,
            &format!("/v1/workspaces/{ws}/tokens/{phone_id}"),
            &[("authorization", &format!("Bearer {master}"))],
            "",
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let refused = b.push(&ws, &phone, Some("k4"), b"after").await;
    assert_eq!(
        refused.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        refused.text()
    );
    assert_eq!(refused.code(), "token_revoked");
}

#[tokio::test]
async fn a_head_pushed_through_one_node_reaches_streams_on_the_other() {
    let storage = Storage::fresh().await;
    let (a, b) = (storage.node().await, storage.node().await);
    let (a, b) = (a.api(), b.api());
    let ws = new_ws();
    let master = a.register(&ws).await;
    a.push_ok(&ws, &master, "k1", b"one").await;
    let res = b
        .send(
            Method::GET,
            &format!("/v1/workspaces/{ws}/events"),
            &[("authorization", &format!("Bearer {master}"))],
            "",
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let mut body = res.into_body();
    let mut seen = String::new();
    // The stream starts at the current head, then hears A's pushes.
    let mut pushed = 1;
    let heard = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if seen.contains(&format!("\"head\":{pushed}")) && pushed >= 3 {
                return;
            }
            if seen.contains(&format!("\"head\":{pushed}")) {
                pushed += 1;
                a.push_ok(&ws, &master, &format!("k{pushed}"), b"more")
                    .await;
            }
            let frame = body.frame().await.unwrap().unwrap();
            if let Ok(data) = frame.into_data() {
                seen.push_str(std::str::from_utf8(&data).unwrap());
            }
        }
    })
    .await;
    assert!(heard.is_ok(), "B's stream heard only {seen:?}");
}
