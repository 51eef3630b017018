use hearth_shared::engine::Outbox;

use super::*;

fn meta(cursor: u64) -> SyncMeta {
    let mut m = SyncMeta::new(42);
    m.cursor = cursor;
    m
}

fn outbox(key: &str) -> Outbox {
    Outbox {
        key: key.into(),
        from: 0,
        to: 3,
        envelope: key.as_bytes().repeat(10),
    }
}

#[tokio::test]
async fn what_was_stored_comes_back_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::open(dir.path()).unwrap();
    assert_eq!(store.load().await.unwrap(), Loaded::default());
    store
        .append(&[b"one".to_vec(), b"two".to_vec()], &meta(1))
        .await
        .unwrap();
    store
        .set_outbox(Some(&outbox("k1")), &meta(1))
        .await
        .unwrap();
    store.append(&[b"three".to_vec()], &meta(2)).await.unwrap();
    drop(store);
    let store = FsStore::open(dir.path()).unwrap();
    let loaded = store.load().await.unwrap();
    assert_eq!(
        loaded.log,
        vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
    );
    assert_eq!(loaded.meta, Some(meta(2)));
    assert_eq!(loaded.outbox, Some(outbox("k1")));

    store.compact(b"snapshot", &meta(3)).await.unwrap();
    assert_eq!(store.load().await.unwrap().outbox, Some(outbox("k1")));
    store.set_outbox(None, &meta(3)).await.unwrap();
    store.append(&[b"four".to_vec()], &meta(4)).await.unwrap();
    let store = FsStore::open(dir.path()).unwrap();
    let loaded = store.load().await.unwrap();
    assert_eq!(loaded.snapshot.as_deref(), Some(&b"snapshot"[..]));
    assert_eq!(loaded.log, vec![b"four".to_vec()]);
    assert_eq!(loaded.meta, Some(meta(4)));
    assert_eq!(loaded.outbox, None);
    // Only live files remain: state, snapshot, the journal.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 3);
}

#[tokio::test]
async fn a_store_written_by_an_earlier_version_opens_with_its_pending_batch() {
    let dir = tempfile::tempdir().unwrap();
    // Earlier versions kept the batch header inside the meta, with its
    // bytes in `out-N.bin`.
    fs::write(dir.path().join("out-0.bin"), b"batch bytes").unwrap();
    let state = r#"{"meta":{"peer_id":42,"cursor":7,"acked_counter":2,
        "outbox":{"key":"k-old","from":2,"to":5,"envelope":[]},"last_ack":null,
        "floor":0,"server_log_bytes":0,"server_snapshot_bytes":0},
        "snapshot":null,"log":[],"outbox":"out-0.bin","next_file":1}"#;
    fs::write(dir.path().join(STATE), state).unwrap();
    let store = FsStore::open(dir.path()).unwrap();
    let loaded = store.load().await.unwrap();
    assert_eq!(
        loaded.meta.map(|m| (m.cursor, m.acked_counter)),
        Some((7, 2))
    );
    let outbox = loaded.outbox.unwrap();
    assert_eq!(
        (outbox.key.as_str(), outbox.from, outbox.to),
        ("k-old", 2, 5)
    );
    assert_eq!(outbox.envelope, b"batch bytes");
    // Saving the meta keeps the batch and does not write it again.
    store.append(&[], &meta(8)).await.unwrap();
    assert_eq!(
        store.load().await.unwrap().outbox.unwrap().envelope,
        b"batch bytes"
    );
    assert!(dir.path().join("out-0.bin").exists());
}

#[tokio::test]
async fn files_a_crash_left_behind_are_ignored_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::open(dir.path()).unwrap();
    store.append(&[b"kept".to_vec()], &meta(1)).await.unwrap();
    // A crash after writing an update file, before the state commit.
    fs::write(dir.path().join("upd-99.hz"), b"half").unwrap();
    fs::write(dir.path().join(".state.json.tmp"), b"{").unwrap();
    let store = FsStore::open(dir.path()).unwrap();
    assert_eq!(store.load().await.unwrap().log, vec![b"kept".to_vec()]);
    assert!(!dir.path().join("upd-99.hz").exists());
    assert!(!dir.path().join(".state.json.tmp").exists());
}

/// The one journal file of the store in `dir`.
fn journal_path(dir: &Path) -> PathBuf {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("journal-")
        })
        .unwrap()
}

#[tokio::test]
async fn a_damaged_update_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::open(dir.path()).unwrap();
    store.append(&[vec![7u8; 1000]], &meta(1)).await.unwrap();
    let path = journal_path(dir.path());
    let mut bytes = fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&path, bytes).unwrap();
    assert!(matches!(store.load().await, Err(StoreError::Corrupt(_))));
}

#[tokio::test]
async fn a_record_a_crash_tore_is_cut_off_and_the_store_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::open(dir.path()).unwrap();
    store.append(&[b"one".to_vec()], &meta(1)).await.unwrap();
    store
        .set_outbox(Some(&outbox("k1")), &meta(1))
        .await
        .unwrap();
    store.append(&[b"two".to_vec()], &meta(2)).await.unwrap();
    let path = journal_path(dir.path());
    let good = fs::read(&path).unwrap();
    // Half of a third record, then (another crash) a size that grew
    // with no bytes behind it.
    let (frame, _) = journal::encode(journal::APPEND, b"{}", &[&[9u8; 64]]);
    for tail in [&frame[..frame.len() / 2], &[0u8; 100][..]] {
        let mut torn = good.clone();
        torn.extend_from_slice(tail);
        fs::write(&path, &torn).unwrap();
        let store = FsStore::open(dir.path()).unwrap();
        assert_eq!(
            fs::read(&path).unwrap(),
            good,
            "cut back to the last whole record"
        );
        let loaded = store.load().await.unwrap();
        assert_eq!(loaded.log, vec![b"one".to_vec(), b"two".to_vec()]);
        assert_eq!(loaded.meta, Some(meta(2)));
        assert_eq!(loaded.outbox, Some(outbox("k1")));
    }
    let store = FsStore::open(dir.path()).unwrap();
    store.append(&[b"three".to_vec()], &meta(3)).await.unwrap();
    let store = FsStore::open(dir.path()).unwrap();
    assert_eq!(store.load().await.unwrap().log.len(), 3);
}

#[tokio::test]
async fn damage_before_the_last_record_stops_the_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::open(dir.path()).unwrap();
    store.append(&[b"one".to_vec()], &meta(1)).await.unwrap();
    store.append(&[b"two".to_vec()], &meta(2)).await.unwrap();
    let path = journal_path(dir.path());
    let mut bytes = fs::read(&path).unwrap();
    bytes[journal::MAGIC.len() + 20] ^= 1;
    fs::write(&path, bytes).unwrap();
    let err = FsStore::open(dir.path()).unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt(ref m) if m.contains("damaged")),
        "{err}"
    );
}

#[tokio::test]
async fn a_store_with_update_files_goes_on_through_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    // Earlier versions wrote each update to a file of its own.
    let sealed = envelope::seal(b"old update", LEVEL).unwrap();
    fs::write(dir.path().join("upd-0.hz"), sealed).unwrap();
    let state = r#"{"meta":{"peer_id":42,"cursor":7,"acked_counter":2,"last_ack":null,
        "floor":0,"server_log_bytes":0,"server_snapshot_bytes":0},
        "snapshot":null,"log":["upd-0.hz"],"outbox":null,"next_file":1}"#;
    fs::write(dir.path().join(STATE), state).unwrap();
    let store = FsStore::open(dir.path()).unwrap();
    store
        .append(&[b"new update".to_vec()], &meta(8))
        .await
        .unwrap();
    let store = FsStore::open(dir.path()).unwrap();
    let loaded = store.load().await.unwrap();
    assert_eq!(
        loaded.log,
        vec![b"old update".to_vec(), b"new update".to_vec()]
    );
    assert_eq!(loaded.meta, Some(meta(8)));
    store.compact(b"snapshot", &meta(9)).await.unwrap();
    assert!(!dir.path().join("upd-0.hz").exists());
    let loaded = FsStore::open(dir.path()).unwrap().load().await.unwrap();
    assert!(loaded.log.is_empty());
    assert_eq!(loaded.snapshot.as_deref(), Some(&b"snapshot"[..]));
}

#[tokio::test]
async fn a_journal_of_sent_batches_is_rewritten_small() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::open(dir.path()).unwrap();
    store.append(&[b"kept".to_vec()], &meta(1)).await.unwrap();
    // Batches of 1 MB each sent and cleared: what they took is slack.
    for i in 0..6 {
        let mut batch = outbox(&format!("k{i}"));
        batch.envelope = vec![i as u8; 1 << 20];
        store.set_outbox(Some(&batch), &meta(2)).await.unwrap();
        store.set_outbox(None, &meta(3)).await.unwrap();
    }
    let last = outbox("last");
    store.set_outbox(Some(&last), &meta(4)).await.unwrap();
    let size = fs::metadata(journal_path(dir.path())).unwrap().len();
    assert!(size < JOURNAL_SLACK, "the journal holds {size} bytes");
    let loaded = FsStore::open(dir.path()).unwrap().load().await.unwrap();
    assert_eq!(loaded.log, vec![b"kept".to_vec()]);
    assert_eq!(loaded.outbox, Some(last));
    assert_eq!(loaded.meta, Some(meta(4)));
    // One journal, one state file.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[tokio::test]
async fn a_rewritten_journal_keeps_what_came_after_the_last_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::open(dir.path()).unwrap();
    // The checkpoint holds meta(1) and no pending batch.
    store.compact(b"snapshot", &meta(1)).await.unwrap();
    store.append(&[b"after".to_vec()], &meta(2)).await.unwrap();
    // Each batch replaces the last, which becomes slack: the fifth call
    // finds 4 MiB of it and rewrites the journal.
    let mut last = None;
    for i in 0..5 {
        let mut batch = outbox(&format!("k{i}"));
        batch.envelope = vec![i as u8; 1 << 20];
        store.set_outbox(Some(&batch), &meta(3 + i)).await.unwrap();
        last = Some(batch);
    }
    let size = fs::metadata(journal_path(dir.path())).unwrap().len();
    assert!(
        size < 2 << 20,
        "the journal was not rewritten: {size} bytes"
    );
    for loaded in [
        store.load().await.unwrap(),
        FsStore::open(dir.path()).unwrap().load().await.unwrap(),
    ] {
        assert_eq!(loaded.snapshot.as_deref(), Some(&b"snapshot"[..]));
        assert_eq!(loaded.log, vec![b"after".to_vec()]);
        assert_eq!(loaded.meta, Some(meta(7)));
        assert_eq!(loaded.outbox, last);
    }
}
