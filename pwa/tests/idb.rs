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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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

        // What the service worker looks for: files neither sent nor
        // stopped for good, by workspace.
        let mut failed = upload("third", 30);
        failed.failed = Some("over the server's limit".to_owned());
        files::enqueue(&db, WS_B, &failed, &blob(b"3").into(), None)
            .await
            .unwrap();
        assert_eq!(files::unsent(&db).await.unwrap(), [(WS_A.to_owned(), 1)]);
        files::enqueue(&db, WS_B, &upload("fourth", 40), &blob(b"4").into(), None)
            .await
            .unwrap();
        assert_eq!(
            files::unsent(&db).await.unwrap(),
            [(WS_A.to_owned(), 1), (WS_B.to_owned(), 1)]
        );
        files::remove_upload(&db, WS_B, "fourth").await.unwrap();

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

/// The app lock at rest: with it on, every device record keeps its token
/// and keys sealed under the lock key, a context without the key reads
/// records with neither and may not write them in the clear, the passcode
/// opens the key (PBKDF2 by the browser, checked against RFC 7914's
/// vectors) and a wrong one does not, and turning the lock off or
/// forgetting it leaves nothing sealed behind.
mod app_lock {
    use hearth_pwa::device::{self, DeviceRecord};
    use hearth_pwa::{idb, lock};
    use hearth_shared::applock::LockKey;
    use hearth_shared::id::WorkspaceId;
    use hearth_shared::recovery::RecoveryKey;
    use hearth_storage::lock as stored_lock;
    use wasm_bindgen_test::*;

    use super::db_name;

    fn record(ws: &str, token: &str) -> DeviceRecord {
        let mut record =
            DeviceRecord::encrypted(WorkspaceId::parse(ws).unwrap(), "Laptop", [7; 32]);
        record.server = Some("https://home.example".into());
        record.token = Some(token.into());
        record
    }

    /// Every record as IndexedDB holds it, as text.
    async fn raw_devices(db: &rexie::Rexie) -> String {
        let tx = db
            .transaction(&["devices"], rexie::TransactionMode::ReadOnly)
            .unwrap();
        let values = tx
            .store("devices")
            .unwrap()
            .get_all(None, None)
            .await
            .unwrap();
        values
            .into_iter()
            .map(|v| v.as_string().unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[wasm_bindgen_test]
    async fn the_browser_derives_passcode_keys_as_pbkdf2_does() {
        let one = lock::passcode_key("password", b"salt", 1).await.unwrap();
        assert_eq!(
            super::hex(&one),
            "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b"
        );
        let two = lock::passcode_key("password", b"salt", 2).await.unwrap();
        assert_eq!(
            super::hex(&two),
            "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43"
        );
    }

    #[wasm_bindgen_test]
    async fn with_the_lock_on_records_keep_their_secrets_sealed() {
        let db = idb::open(&db_name("lock")).await.unwrap();
        let mut a = record("0123456789abcdef0123456789abcdef", "token-of-a");
        let b = record("fedcba9876543210fedcba9876543210", "token-of-b");
        // This device keeps `a`'s recovery key (it is its owner).
        let recovery = RecoveryKey::new([5; 32]);
        a.keys.as_mut().unwrap().recovery = Some(recovery.keep(&a.workspace_id));
        device::save_current(&db, &a).await.unwrap();
        device::save(&db, &b).await.unwrap();
        let key = LockKey::new([3; 32]);
        let lock_record = lock::new_record("2468", 5, &key, &[a.clone(), b.clone()])
            .await
            .unwrap();
        stored_lock::turn_on(&db, &lock_record, lock::sealer(&key))
            .await
            .unwrap();

        let raw = raw_devices(&db).await;
        assert!(!raw.contains("token-of-"), "{raw}");
        let key_text = serde_json::to_string(&a.keys).unwrap();
        assert!(
            !raw.contains(&key_text[10..40]),
            "a key is in the clear: {raw}"
        );
        assert_eq!(raw.matches("\"sealed\":\"").count(), 2, "{raw}");

        // With the key, records read whole.
        let read = device::current(&db).await.unwrap().unwrap();
        assert_eq!(read, a);

        // Without it: no token, no keys, and no write in the clear.
        stored_lock::forget_key();
        let locked = device::current(&db).await.unwrap().unwrap();
        assert!(locked.token.is_none() && locked.keys.is_none());
        assert!(locked.sealed.is_some());
        let refused = device::save(&db, &a).await.unwrap_err().to_string();
        assert!(refused.contains("locked"), "{refused}");
        // A record saved as read keeps its sealed secrets.
        device::save(&db, &locked).await.unwrap();

        // The passcode opens the key; another does not.
        let wrong = lock::open_with_passcode(&lock_record, "1357")
            .await
            .unwrap_err();
        assert!(wrong.contains("does not open"), "{wrong}");
        let opened = lock::open_with_passcode(&lock_record, "2468")
            .await
            .unwrap();
        assert_eq!(opened.bytes(), key.bytes());
        // So does the recovery key this device keeps; no other does.
        assert_eq!(lock_record.recovery.len(), 1);
        let by_recovery = lock::open_with_recovery(&lock_record, &recovery.to_text()).unwrap();
        assert_eq!(by_recovery.bytes(), key.bytes());
        let other = RecoveryKey::new([6; 32]).to_text();
        let refused = lock::open_with_recovery(&lock_record, &other).unwrap_err();
        assert!(refused.contains("does not open"), "{refused}");
        lock::install(&opened);
        assert_eq!(
            device::load(&db, &b.workspace_id).await.unwrap().unwrap(),
            b
        );

        // Off: the secrets are back in the clear and the lock is gone.
        stored_lock::turn_off(&db).await.unwrap();
        assert!(stored_lock::load(&db).await.unwrap().is_none());
        let raw = raw_devices(&db).await;
        assert!(
            raw.contains("token-of-a") && !raw.contains("\"sealed\":\""),
            "{raw}"
        );
        assert_eq!(device::current(&db).await.unwrap().unwrap(), a);
    }

    #[wasm_bindgen_test]
    async fn a_forgotten_lock_takes_every_workspace_with_it() {
        let db = idb::open(&db_name("forget")).await.unwrap();
        let a = record("0123456789abcdef0123456789abcdef", "token-of-a");
        device::save_current(&db, &a).await.unwrap();
        let key = LockKey::new([4; 32]);
        let lock_record = lock::new_record("2468", 1, &key, std::slice::from_ref(&a))
            .await
            .unwrap();
        // No recovery key is kept for this workspace: none opens the lock.
        assert!(lock_record.recovery.is_empty());
        stored_lock::turn_on(&db, &lock_record, lock::sealer(&key))
            .await
            .unwrap();
        // Turned on again (another tab, a new key): refused, nothing changed.
        let other = LockKey::new([5; 32]);
        let second = lock::new_record("1357", 1, &other, &[]).await.unwrap();
        let refused = stored_lock::turn_on(&db, &second, lock::sealer(&other))
            .await
            .unwrap_err()
            .to_string();
        assert!(refused.contains("on already"), "{refused}");
        // A context holding that other key writes nothing.
        lock::install(&other);
        let refused = device::save(&db, &a).await.unwrap_err().to_string();
        assert!(refused.contains("another tab"), "{refused}");
        lock::install(&key);
        assert_eq!(device::current(&db).await.unwrap().unwrap(), a);

        stored_lock::forget_key();
        stored_lock::forget(&db).await.unwrap();
        assert!(device::current(&db).await.unwrap().is_none());
        assert!(device::all(&db).await.unwrap().0.is_empty());
        assert!(stored_lock::load(&db).await.unwrap().is_none());
        // The device starts over: a record is written in the clear again.
        device::save_current(&db, &a).await.unwrap();
        assert_eq!(device::current(&db).await.unwrap().unwrap(), a);

        // A lock record someone damaged reads as damaged, and can still be
        // removed, with everything.
        let tx = db
            .transaction(&["app"], rexie::TransactionMode::ReadWrite)
            .unwrap();
        tx.store("app")
            .unwrap()
            .put(&"{not json".into(), Some(&"lock".into()))
            .await
            .unwrap();
        tx.done().await.unwrap();
        let damaged = stored_lock::load(&db).await.unwrap_err();
        assert!(
            matches!(damaged, hearth_shared::store::StoreError::Corrupt(_)),
            "{damaged}"
        );
        stored_lock::forget(&db).await.unwrap();
        assert!(stored_lock::load(&db).await.unwrap().is_none());
        assert!(device::current(&db).await.unwrap().is_none());
    }
}
