//! Attached files kept in IndexedDB, in headless Chromium: the queue of
//! files to send keeps the picked file's bytes across a reopen, the cache
//! evicts the least recently used chunks beyond its cap but never those a
//! note kept offline needs, and leaving a workspace takes its files along
//! and no other's.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use hearth_pwa::idb;
use hearth_shared::id::WorkspaceId;
use hearth_storage::files::{self, Upload};
use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn db_name(test: &str) -> String {
    format!("hearth-test-{test}-{}", js_sys::Math::random())
}

const A: &str = "0123456789abcdef0123456789abcdef";
const B: &str = "fedcba9876543210fedcba9876543210";

fn blob(bytes: &[u8]) -> web_sys::Blob {
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes).into());
    web_sys::Blob::new_with_u8_array_sequence(&parts).unwrap()
}

async fn blob_bytes(value: &JsValue) -> Vec<u8> {
    let blob: &web_sys::Blob = value.dyn_ref().expect("a Blob");
    let buffer = wasm_bindgen_futures::JsFuture::from(blob.array_buffer())
        .await
        .unwrap();
    js_sys::Uint8Array::new(&buffer).to_vec()
}

fn upload(id: &str, added_at: i64) -> Upload {
    Upload {
        id: id.to_owned(),
        note: "note".to_owned(),
        name: format!("{id}.png"),
        mime: "image/png".to_owned(),
        size: 3,
        added_at,
        thumb_size: Some((2, 1)),
        stored: None,
        failed: None,
    }
}

#[wasm_bindgen_test]
async fn a_queued_file_keeps_its_bytes_across_a_reopen() {
    let name = db_name("queue");
    {
        let db = idb::open(&name).await.unwrap();
        files::enqueue(&db, A, &upload("second", 20), &blob(b"two").into(), None)
            .await
            .unwrap();
        files::enqueue(
            &db,
            A,
            &upload("first", 10),
            &blob(b"one").into(),
            Some(b"jpeg"),
        )
        .await
        .unwrap();
    }
    let db = idb::open(&name).await.unwrap();
    let queue = files::uploads(&db, A).await.unwrap();
    let ids: Vec<&str> = queue.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, ["first", "second"], "oldest first");
    assert!(files::uploads(&db, B).await.unwrap().is_empty());

    // Recording how sending went keeps the bytes.
    let mut meta = upload("first", 10);
    meta.stored = Some("{\"id\":\"x\"}".to_owned());
    files::update_upload(&db, A, &meta).await.unwrap();
    let item = files::upload(&db, A, "first").await.unwrap().unwrap();
    assert_eq!(item.meta, meta);
    assert_eq!(blob_bytes(&item.file).await, b"one");
    assert_eq!(item.thumb.as_deref(), Some(&b"jpeg"[..]));

    files::remove_upload(&db, A, "first").await.unwrap();
    assert!(files::upload(&db, A, "first").await.unwrap().is_none());
    // Recording a removed one does not bring it back.
    files::update_upload(&db, A, &meta).await.unwrap();
    assert!(files::upload(&db, A, "first").await.unwrap().is_none());
    assert_eq!(files::uploads(&db, A).await.unwrap().len(), 1);
}

#[wasm_bindgen_test]
async fn the_cache_evicts_the_least_recently_used_but_never_what_is_kept() {
    let db = idb::open(&db_name("evict")).await.unwrap();
    for (i, name) in ["c1", "c2", "c3", "c4", "c5"].iter().enumerate() {
        files::write_chunk(&db, A, name, &[i as u8; 100], false, i as f64)
            .await
            .unwrap();
    }
    files::write_chunk(&db, B, "c1", &[9; 100], false, 0.0)
        .await
        .unwrap();
    // c2 is kept offline; c3 is read again, so c4 is older now.
    files::set_kept(&db, A, &BTreeSet::from(["c2".to_owned()]))
        .await
        .unwrap();
    let read = files::read_chunks(&db, A, &["c3".to_owned(), "nope".to_owned()], 10.0)
        .await
        .unwrap();
    assert_eq!(read, vec![Some(vec![2u8; 100]), None]);

    let left = files::evict(&db, A, 250).await.unwrap();
    assert_eq!((left.total, left.kept, left.chunks), (300, 100, 3));
    let all: Vec<String> = ["c1", "c2", "c3", "c4", "c5"].map(String::from).to_vec();
    let held = files::cached_names(&db, A, &all).await.unwrap();
    assert_eq!(
        held,
        BTreeSet::from(["c2", "c3", "c5"].map(String::from)),
        "c1 and c4 were the least recently used"
    );
    // A cap of nothing leaves only what is kept; the other workspace's
    // cache is its own.
    let left = files::evict(&db, A, 0).await.unwrap();
    assert_eq!((left.total, left.kept), (100, 100));
    assert_eq!(
        files::read_chunks(&db, B, &["c1".to_owned()], 1.0)
            .await
            .unwrap(),
        vec![Some(vec![9u8; 100])]
    );
    // No longer kept: evicted like the others.
    files::set_kept(&db, A, &BTreeSet::new()).await.unwrap();
    assert_eq!(files::evict(&db, A, 0).await.unwrap().total, 0);
}

#[wasm_bindgen_test]
async fn leaving_a_workspace_takes_its_files_and_no_other() {
    let db = idb::open(&db_name("leave")).await.unwrap();
    for ws in [A, B] {
        files::enqueue(&db, ws, &upload("u", 1), &blob(b"one").into(), None)
            .await
            .unwrap();
        files::write_chunk(&db, ws, "c", b"bytes", true, 1.0)
            .await
            .unwrap();
        files::pin(&db, ws, "note", true).await.unwrap();
    }
    hearth_storage::leave(&db, &WorkspaceId::parse(A).unwrap())
        .await
        .unwrap();
    assert!(files::uploads(&db, A).await.unwrap().is_empty());
    assert!(
        files::cached_names(&db, A, &["c".to_owned()])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(files::pins(&db, A).await.unwrap().is_empty());
    assert_eq!(files::uploads(&db, B).await.unwrap().len(), 1);
    assert_eq!(
        files::cached_names(&db, B, &["c".to_owned()])
            .await
            .unwrap(),
        BTreeSet::from(["c".to_owned()])
    );
    assert_eq!(
        files::pins(&db, B).await.unwrap(),
        BTreeSet::from(["note".to_owned()])
    );
}
