//! The IndexedDB store in headless Chromium: what is saved survives a
//! reopen, compaction is one atomic step, workspaces do not see each other,
//! and damaged data is reported, not panicked on; attached files' queue and
//! cache (`files_kept`). One test binary: each starts a browser of its own.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hearth_pwa::idb::{self, IdbStore};
use hearth_shared::engine::{Outbox, Store, StoreError, SyncMeta};
use hearth_shared::id::WorkspaceId;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn db_name(test: &str) -> String {
    format!("hearth-test-{test}-{}", js_sys::Math::random())
}

fn id(s: &str) -> WorkspaceId {
    WorkspaceId::parse(s).unwrap()
}

fn meta(cursor: u64) -> SyncMeta {
    let mut meta = SyncMeta::new(42);
    meta.cursor = cursor;
    meta
}

#[wasm_bindgen_test]
async fn saved_updates_survive_a_reopen() {
    let name = db_name("reopen");
    let ws = id("0123456789abcdef0123456789abcdef");
    {
        let store = IdbStore::new(idb::open(&name).await.unwrap(), ws.clone());
        assert_eq!(
            store.load().await.unwrap().meta,
            None,
            "a new workspace is empty"
        );
        store
            .append(&[b"one".to_vec(), vec![7u8; 10_000]], &meta(1))
            .await
            .unwrap();
        store.append(&[b"three".to_vec()], &meta(2)).await.unwrap();
        store.append(&[], &meta(3)).await.unwrap();
    }
    let reopened = IdbStore::new(idb::open(&name).await.unwrap(), ws.clone());
    let loaded = reopened.load().await.unwrap();
    assert_eq!(loaded.meta, Some(meta(3)));
    assert_eq!(loaded.snapshot, None);
    assert_eq!(
        loaded.log,
        vec![b"one".to_vec(), vec![7u8; 10_000], b"three".to_vec()]
    );
    // Stored compressed: 10,000 equal bytes take far less room.
    let (_, log_bytes, count) = reopened.stored_bytes().await.unwrap();
    assert_eq!(count, 3);
    assert!(log_bytes < 1_000, "log takes {log_bytes} bytes");
}

#[wasm_bindgen_test]
async fn compaction_replaces_the_log_with_a_snapshot() {
    let name = db_name("compact");
    let ws = id("00000000000000000000000000000001");
    let store = IdbStore::new(idb::open(&name).await.unwrap(), ws.clone());
    store
        .append(&[b"a".to_vec(), b"b".to_vec()], &meta(1))
        .await
        .unwrap();
    store.compact(b"snapshot-ab", &meta(2)).await.unwrap();
    let loaded = store.load().await.unwrap();
    assert_eq!(loaded.snapshot.as_deref(), Some(&b"snapshot-ab"[..]));
    assert!(loaded.log.is_empty());
    assert_eq!(loaded.meta, Some(meta(2)));
    // The log starts again after the snapshot.
    store.append(&[b"c".to_vec()], &meta(3)).await.unwrap();
    let loaded = store.load().await.unwrap();
    assert_eq!(loaded.log, vec![b"c".to_vec()]);
    assert_eq!(loaded.snapshot.as_deref(), Some(&b"snapshot-ab"[..]));
}

#[wasm_bindgen_test]
async fn a_reader_never_sees_half_a_compaction() {
    let name = db_name("atomic");
    let ws = id("00000000000000000000000000000002");
    let db = idb::open(&name).await.unwrap();
    let store = IdbStore::new(db.clone(), ws.clone());
    let log: Vec<Vec<u8>> = (0..50u8).map(|i| vec![i; 100]).collect();
    store.append(&log, &meta(1)).await.unwrap();
    let reader = IdbStore::new(db, ws.clone());
    // Start the compaction and, at the same time, many reads.
    let after_meta = meta(2);
    let compaction = store.compact(b"folded", &after_meta);
    let reads = futures_join_all((0..10).map(|_| reader.load()));
    let (compacted, reads) = join(compaction, reads).await;
    compacted.unwrap();
    for loaded in reads {
        let loaded = loaded.unwrap();
        let before = loaded.snapshot.is_none() && loaded.log == log && loaded.meta == Some(meta(1));
        let after = loaded.snapshot.as_deref() == Some(&b"folded"[..])
            && loaded.log.is_empty()
            && loaded.meta == Some(meta(2));
        assert!(before || after, "a reader saw a mix of before and after");
    }
}

#[wasm_bindgen_test]
async fn the_pending_batch_is_kept_apart_from_the_sync_state() {
    let name = db_name("outbox");
    let ws = id("00000000000000000000000000000004");
    let store = IdbStore::new(idb::open(&name).await.unwrap(), ws.clone());
    let batch = Outbox {
        key: "k-1".into(),
        from: 0,
        to: 9,
        envelope: vec![3u8; 5_000],
    };
    store.set_outbox(Some(&batch), &meta(1)).await.unwrap();
    // Saving the sync state (every edit, every pull) leaves the batch as it
    // was; a compaction too.
    store.append(&[b"edit".to_vec()], &meta(2)).await.unwrap();
    store.compact(b"snap", &meta(3)).await.unwrap();
    let loaded = store.load().await.unwrap();
    assert_eq!(loaded.outbox, Some(batch.clone()));
    assert_eq!(loaded.meta, Some(meta(3)));
    // The service worker finds it by workspace, as bytes.
    let db = idb::open(&name).await.unwrap();
    assert_eq!(
        hearth_storage::outbox::all(&db).await.unwrap(),
        vec![(ws.clone(), batch)]
    );
    // Acknowledged: cleared in the same step as the meta.
    store.set_outbox(None, &meta(4)).await.unwrap();
    let loaded = store.load().await.unwrap();
    assert_eq!((loaded.outbox, loaded.meta), (None, Some(meta(4))));
    assert!(hearth_storage::outbox::all(&db).await.unwrap().is_empty());
}

#[wasm_bindgen_test]
async fn workspaces_are_kept_apart() {
    let db = idb::open(&db_name("apart")).await.unwrap();
    let a = IdbStore::new(db.clone(), id("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    let b = IdbStore::new(db, id("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"));
    a.append(&[b"for a".to_vec()], &meta(1)).await.unwrap();
    b.append(&[b"for b".to_vec()], &meta(5)).await.unwrap();
    a.compact(b"snap a", &meta(2)).await.unwrap();
    let loaded_b = b.load().await.unwrap();
    assert_eq!(
        loaded_b.log,
        vec![b"for b".to_vec()],
        "compacting a left b's log alone"
    );
    assert_eq!(loaded_b.snapshot, None);
}

#[wasm_bindgen_test]
async fn damaged_local_data_is_reported() {
    let name = db_name("damaged");
    let ws = id("00000000000000000000000000000003");
    let db = idb::open(&name).await.unwrap();
    let store = IdbStore::new(db.clone(), ws.clone());
    store.compact(b"good snapshot", &meta(1)).await.unwrap();
    // Overwrite the snapshot with bytes that are not an envelope.
    let tx = db
        .transaction(&["snapshots"], rexie::TransactionMode::ReadWrite)
        .unwrap();
    let snapshots = tx.store("snapshots").unwrap();
    let garbage: wasm_bindgen::JsValue =
        js_sys::Uint8Array::from(&b"not an envelope at all"[..]).into();
    snapshots
        .put(&garbage, Some(&ws.as_str().into()))
        .await
        .unwrap();
    tx.done().await.unwrap();
    match store.load().await {
        Err(StoreError::Corrupt(message)) => assert!(message.contains("snapshot"), "{message}"),
        other => panic!("expected a corruption report, got {other:?}"),
    }
}

// Tiny join helpers, so the test needs no extra crate.
async fn join<A: std::future::Future, B: std::future::Future>(
    a: A,
    b: B,
) -> (A::Output, B::Output) {
    use std::pin::pin;
    use std::task::Poll;
    let (mut a, mut b) = (pin!(a), pin!(b));
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none()
            && let Poll::Ready(v) = a.as_mut().poll(cx)
        {
            ra = Some(v);
        }
        if rb.is_none()
            && let Poll::Ready(v) = b.as_mut().poll(cx)
        {
            rb = Some(v);
        }
        if ra.is_some() && rb.is_some() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    (ra.unwrap(), rb.unwrap())
}

async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    use std::task::Poll;
    let mut futures: Vec<_> = futures.map(Box::pin).collect();
    let mut results: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (f, r) in futures.iter_mut().zip(results.iter_mut()) {
            if r.is_none()
                && let Poll::Ready(v) = f.as_mut().poll(cx)
            {
                *r = Some(v);
            }
        }
        if results.iter().all(Option::is_some) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    results.into_iter().map(|r| r.unwrap()).collect()
}

#[wasm_bindgen_test]
fn a_full_disk_is_reported_in_words_a_person_can_act_on() {
    let quota = web_sys::DomException::new_with_message_and_name(
        "The quota has been exceeded.",
        "QuotaExceededError",
    )
    .unwrap();
    let error = hearth_storage::io(
        "save your change",
        rexie::Error::IdbError(idb_crate::Error::DomException(quota)),
    );
    let message = error.to_string();
    assert!(
        message.contains("no room left to save your change"),
        "{message}"
    );
    assert!(
        message.contains("nothing saved before was lost"),
        "{message}"
    );
    // Other failures keep their cause.
    let other =
        web_sys::DomException::new_with_message_and_name("gone", "InvalidStateError").unwrap();
    let message = hearth_storage::io(
        "read",
        rexie::Error::IdbError(idb_crate::Error::DomException(other)),
    )
    .to_string();
    assert!(message.contains("InvalidStateError"), "{message}");
}

/// Attached files kept in IndexedDB: the queue of files to send keeps the
/// picked file's bytes across a reopen, the cache evicts the least recently
/// used chunks beyond its cap but never those a note kept offline needs, and
/// leaving a workspace takes its files along and no other's.
mod files_kept {
    use std::collections::BTreeSet;

    use hearth_pwa::idb;
    use hearth_shared::id::WorkspaceId;
    use hearth_storage::files::{self, Upload};
    use wasm_bindgen::{JsCast as _, JsValue};
    use wasm_bindgen_test::*;

    use super::db_name;

    const WS_A: &str = "0123456789abcdef0123456789abcdef";
    const WS_B: &str = "fedcba9876543210fedcba9876543210";

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
            files::enqueue(&db, WS_A, &upload("second", 20), &blob(b"two").into(), None)
                .await
                .unwrap();
            files::enqueue(
                &db,
                WS_A,
                &upload("first", 10),
                &blob(b"one").into(),
                Some(b"jpeg"),
            )
            .await
            .unwrap();
        }
        let db = idb::open(&name).await.unwrap();
        let queue = files::uploads(&db, WS_A).await.unwrap();
        let ids: Vec<&str> = queue.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(ids, ["first", "second"], "oldest first");
        assert!(files::uploads(&db, WS_B).await.unwrap().is_empty());

        // Recording how sending went keeps the bytes.
        let mut meta = upload("first", 10);
        meta.stored = Some("{\"id\":\"x\"}".to_owned());
        files::update_upload(&db, WS_A, &meta).await.unwrap();
        let item = files::upload(&db, WS_A, "first").await.unwrap().unwrap();
        assert_eq!(item.meta, meta);
        assert_eq!(blob_bytes(&item.file).await, b"one");
        assert_eq!(item.thumb.as_deref(), Some(&b"jpeg"[..]));

        files::remove_upload(&db, WS_A, "first").await.unwrap();
        assert!(files::upload(&db, WS_A, "first").await.unwrap().is_none());
        // Recording a removed one does not bring it back.
        files::update_upload(&db, WS_A, &meta).await.unwrap();
        assert!(files::upload(&db, WS_A, "first").await.unwrap().is_none());
        assert_eq!(files::uploads(&db, WS_A).await.unwrap().len(), 1);
    }

    #[wasm_bindgen_test]
    async fn the_cache_evicts_the_least_recently_used_but_never_what_is_kept() {
        let db = idb::open(&db_name("evict")).await.unwrap();
        for (i, name) in ["c1", "c2", "c3", "c4", "c5"].iter().enumerate() {
            files::write_chunk(&db, WS_A, name, &[i as u8; 100], false, i as f64)
                .await
                .unwrap();
        }
        files::write_chunk(&db, WS_B, "c1", &[9; 100], false, 0.0)
            .await
            .unwrap();
        // c2 is kept offline; c3 is read again, so c4 is older now.
        files::set_kept(&db, WS_A, &BTreeSet::from(["c2".to_owned()]))
            .await
            .unwrap();
        let read = files::read_chunks(&db, WS_A, &["c3".to_owned(), "nope".to_owned()], 10.0)
            .await
            .unwrap();
        assert_eq!(read, vec![Some(vec![2u8; 100]), None]);

        let left = files::evict(&db, WS_A, 250).await.unwrap();
        assert_eq!((left.total, left.kept, left.chunks), (300, 100, 3));
        let all: Vec<String> = ["c1", "c2", "c3", "c4", "c5"].map(String::from).to_vec();
        let held = files::cached_names(&db, WS_A, &all).await.unwrap();
        assert_eq!(
            held,
            BTreeSet::from(["c2", "c3", "c5"].map(String::from)),
            "c1 and c4 were the least recently used"
        );
        // WS_A cap of nothing leaves only what is kept; the other workspace's
        // cache is its own.
        let left = files::evict(&db, WS_A, 0).await.unwrap();
        assert_eq!((left.total, left.kept), (100, 100));
        assert_eq!(
            files::read_chunks(&db, WS_B, &["c1".to_owned()], 1.0)
                .await
                .unwrap(),
            vec![Some(vec![9u8; 100])]
        );
        // No longer kept: evicted like the others.
        files::set_kept(&db, WS_A, &BTreeSet::new()).await.unwrap();
        assert_eq!(files::evict(&db, WS_A, 0).await.unwrap().total, 0);
    }

    #[wasm_bindgen_test]
    async fn leaving_a_workspace_takes_its_files_and_no_other() {
        let db = idb::open(&db_name("leave")).await.unwrap();
        for ws in [WS_A, WS_B] {
            files::enqueue(&db, ws, &upload("u", 1), &blob(b"one").into(), None)
                .await
                .unwrap();
            files::write_chunk(&db, ws, "c", b"bytes", true, 1.0)
                .await
                .unwrap();
            files::pin(&db, ws, "note", true).await.unwrap();
        }
        hearth_storage::leave(&db, &WorkspaceId::parse(WS_A).unwrap())
            .await
            .unwrap();
        assert!(files::uploads(&db, WS_A).await.unwrap().is_empty());
        assert!(
            files::cached_names(&db, WS_A, &["c".to_owned()])
                .await
                .unwrap()
                .is_empty()
        );
        assert!(files::pins(&db, WS_A).await.unwrap().is_empty());
        assert_eq!(files::uploads(&db, WS_B).await.unwrap().len(), 1);
        assert_eq!(
            files::cached_names(&db, WS_B, &["c".to_owned()])
                .await
                .unwrap(),
            BTreeSet::from(["c".to_owned()])
        );
        assert_eq!(
            files::pins(&db, WS_B).await.unwrap(),
            BTreeSet::from(["note".to_owned()])
        );
    }
}
