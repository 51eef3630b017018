//! The chunk routes of attached files, against a real server: a chunk is
//! checked against its name, stored once, durable across a restart,
//! counted in the quota, refused to read-only tokens, and in backups.

use hearth_shared::api::{ChunkNames, MissingChunks, PutChunkResponse, UnreferencedResponse};
use hearth_shared::id::ChunkName;
use hearth_shared::routes::Route;
use hyper::StatusCode;
use sha2::{Digest as _, Sha256};

use crate::common::{TestServer, id, new_ws};

fn name_of(body: &[u8]) -> ChunkName {
    ChunkName::from_digest(Sha256::digest(body).into())
}

fn put(ws: &str, name: ChunkName) -> Route {
    Route::PutChunk { ws: id(ws), name }
}

fn get(ws: &str, name: ChunkName) -> Route {
    Route::GetChunk { ws: id(ws), name }
}

fn names(list: &[ChunkName]) -> Vec<u8> {
    serde_json::to_vec(&ChunkNames {
        names: list.to_vec(),
    })
    .unwrap()
}

#[tokio::test]
async fn a_chunk_is_checked_against_its_name_stored_once_and_kept_across_a_restart() {
    let server = TestServer::start().await;
    let api = server.api();
    let ws = new_ws();
    let master = api.register(&ws).await;
    let rw = api.mint(&ws, &master, "rw").await;
    let ro = api.mint(&ws, &master, "ro").await;
    let body = b"sealed chunk bytes".to_vec();
    let name = name_of(&body);

    // A body that does not match its name.
    let wrong = api
        .call(&put(&ws, name_of(b"other")), Some(&rw), body.clone())
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST, "{}", wrong.text());
    assert_eq!(wrong.code(), "chunk_mismatch");
    // A name that is not one.
    let bad = api
        .request(
            hyper::Method::PUT,
            &format!("/v1/workspaces/{ws}/chunks/NOT-A-NAME"),
            &[("authorization", &format!("Bearer {rw}"))],
            body.clone(),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text());
    // A read-only token cannot upload, nor ask what is missing.
    let refused = api.call(&put(&ws, name), Some(&ro), body.clone()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.code(), "read_only");
    let asked = api
        .call(&Route::MissingChunks(id(&ws)), Some(&ro), names(&[name]))
        .await;
    assert_eq!(asked.status, StatusCode::FORBIDDEN);
    // Not there yet.
    let absent = api.call(&get(&ws, name), Some(&ro), Vec::new()).await;
    assert_eq!(absent.status, StatusCode::NOT_FOUND);
    assert_eq!(absent.code(), "chunk_not_found");

    // Stored once: 201, then 200 with created false.
    let first = api.call(&put(&ws, name), Some(&rw), body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text());
    assert!(first.json::<PutChunkResponse>().created);
    let again = api.call(&put(&ws, name), Some(&rw), body.clone()).await;
    assert_eq!(again.status, StatusCode::OK);
    assert!(!again.json::<PutChunkResponse>().created);
    let other = name_of(b"never sent");
    let missing = api
        .call(
            &Route::MissingChunks(id(&ws)),
            Some(&rw),
            names(&[name, other]),
        )
        .await;
    assert_eq!(missing.json::<MissingChunks>().missing, vec![other]);
    // Another workspace does not see it.
    let ws2 = new_ws();
    let master2 = api.register(&ws2).await;
    let elsewhere = api.call(&get(&ws2, name), Some(&master2), Vec::new()).await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND);
    // Only the master may say what is unreferenced.
    let not_master = api
        .call(
            &Route::UnreferencedChunks(id(&ws)),
            Some(&rw),
            names(&[name]),
        )
        .await;
    assert_eq!(not_master.status, StatusCode::FORBIDDEN);

    // Durable across a restart, and in a backup.
    let addr = server.addr;
    let data = server.stop().await;
    let server = TestServer::start_in(data, |c| c.listen = addr).await;
    let read = server
        .api()
        .call(&get(&ws, name), Some(&ro), Vec::new())
        .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body.as_ref(), body.as_slice());
    let backups = tempfile::tempdir().unwrap();
    let made = hearth::backup::backup(server.dir.path(), backups.path()).unwrap();
    let manifest = hearth::backup::verify(&made).unwrap();
    assert!(
        manifest
            .files
            .iter()
            .any(|f| f.path.ends_with(&name.to_string()) && f.sha256 == name.to_string()),
        "{:?}",
        manifest.files
    );
}

#[tokio::test]
async fn chunks_count_toward_the_quota_and_unreferenced_ones_go_after_the_grace_period() {
    let server = TestServer::start_with(|c| {
        c.workspace_quota_bytes = 64 * 1024;
        c.chunk_grace_secs = 1;
    })
    .await;
    let api = server.api();
    let ws = new_ws();
    let master = api.register(&ws).await;
    let big = vec![7u8; 40 * 1024];
    let bigger = vec![8u8; 40 * 1024];
    let first = api
        .call(&put(&ws, name_of(&big)), Some(&master), big.clone())
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let over = api
        .call(&put(&ws, name_of(&bigger)), Some(&master), bigger.clone())
        .await;
    assert_eq!(
        over.status,
        StatusCode::INSUFFICIENT_STORAGE,
        "{}",
        over.text()
    );
    assert_eq!(over.code(), "quota_exceeded");

    // Set aside, then deleted after the grace period: room again.
    let marked = api
        .call(
            &Route::UnreferencedChunks(id(&ws)),
            Some(&master),
            names(&[name_of(&big)]),
        )
        .await;
    assert_eq!(marked.status, StatusCode::OK, "{}", marked.text());
    let marked: UnreferencedResponse = marked.json();
    assert_eq!((marked.marked, marked.grace_secs), (1, 1));
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let sweep = api
        .call(
            &Route::UnreferencedChunks(id(&ws)),
            Some(&master),
            names(&[]),
        )
        .await;
    assert_eq!(sweep.status, StatusCode::OK);
    let gone = api
        .call(&get(&ws, name_of(&big)), Some(&master), Vec::new())
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let now_fits = api
        .call(&put(&ws, name_of(&bigger)), Some(&master), bigger)
        .await;
    assert_eq!(now_fits.status, StatusCode::CREATED, "{}", now_fits.text());
}
