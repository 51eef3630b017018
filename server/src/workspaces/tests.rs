use super::*;
use crate::storage::disk::DiskStore;

fn heads() -> Arc<dyn Heads> {
    Arc::new(crate::heads::LocalHeads::default())
}

fn test_room() -> Arc<dyn Room> {
    Arc::new(crate::storage::disk::room::DiskRoom::new(
        std::env::temp_dir(),
        u64::MAX,
        0,
        u64::MAX,
        0,
    ))
}

fn entry(body: &'static [u8], key: &str) -> NewEntry {
    use sha2::Digest as _;
    NewEntry {
        key: Some(key.to_owned()),
        hash: sha2::Sha256::digest(body).into(),
        payload: body.into(),
    }
}

#[tokio::test]
async fn workspaces_open_lazily_and_close_when_idle() {
    let dir = tempfile::tempdir().unwrap();
    let spaces = Workspaces::new(
        Arc::new(DiskStore::new(dir.path())),
        heads(),
        test_room(),
        1000,
    );
    for i in 0..50u8 {
        let ws = spaces
            .get(&WorkspaceId::from_random([i; 16]))
            .await
            .unwrap();
        assert_eq!(ws.append(entry(b"x", "k")).await.unwrap(), Appended::New(1));
    }
    assert_eq!(spaces.open_count(), 50);
    let held = spaces
        .get(&WorkspaceId::from_random([0; 16]))
        .await
        .unwrap();
    let mut listener = spaces
        .get(&WorkspaceId::from_random([1; 16]))
        .await
        .unwrap()
        .subscribe();
    assert_eq!(*listener.borrow_and_update(), Some(1));
    assert_eq!(spaces.close_idle(unix_now()), 0, "nothing is idle yet");
    assert_eq!(spaces.close_idle(unix_now() + IDLE_SECS + 1), 49);
    assert_eq!(
        spaces.open_count(),
        1,
        "held workspaces stay open; a listener does not keep a log open"
    );
    // A listener hears the heads of a log closed and opened again.
    let reopened = spaces
        .get(&WorkspaceId::from_random([1; 16]))
        .await
        .unwrap();
    reopened.append(entry(b"y", "k2")).await.unwrap();
    listener.changed().await.unwrap();
    assert_eq!(*listener.borrow_and_update(), Some(2));
    drop((held, listener, reopened));
    // Reopened from disk with its state.
    spaces.close_all().await;
    let ws = spaces
        .get(&WorkspaceId::from_random([7; 16]))
        .await
        .unwrap();
    assert_eq!(ws.position().head, 1);
    assert_eq!(
        ws.append(entry(b"x", "k")).await.unwrap(),
        Appended::Duplicate(1)
    );
}

#[tokio::test]
async fn concurrent_appends_get_distinct_numbers_and_announce_the_head() {
    let dir = tempfile::tempdir().unwrap();
    for store in [
        Arc::new(crate::storage::memory::MemoryStore::default()) as Arc<dyn LogStore>,
        Arc::new(DiskStore::new(dir.path())),
    ] {
        concurrent_appends(store).await;
    }
}

async fn concurrent_appends(store: Arc<dyn LogStore>) {
    let spaces = Arc::new(Workspaces::new(store, heads(), test_room(), 1000));
    let ws = spaces
        .get(&WorkspaceId::from_random([3; 16]))
        .await
        .unwrap();
    let mut heads = ws.subscribe();
    let mut tasks = Vec::new();
    for i in 0..64 {
        let ws = ws.clone();
        tasks.push(tokio::spawn(async move {
            let key = format!("k{i}");
            ws.append(NewEntry {
                key: Some(key),
                hash: [i as u8; 32],
                payload: vec![i as u8; 8].into(),
            })
            .await
            .unwrap()
        }));
    }
    let mut seqs = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Appended::New(seq) => seqs.push(seq),
            other => panic!("{other:?}"),
        }
    }
    seqs.sort();
    assert_eq!(seqs, (1..=64).collect::<Vec<_>>());
    heads.changed().await.unwrap();
    assert_eq!(*heads.borrow(), Some(64));
}

/// A store whose logs fail every `fail_every`-th append, and which
/// checks that no two of its logs ever write at once.
struct FlakyStore {
    inner: crate::storage::memory::MemoryStore,
    fail_every: u64,
    /// Failures are outages (the storage unreachable), not broken logs.
    outage: bool,
    appends: Arc<AtomicU64>,
    writing: Arc<AtomicUsize>,
    overlaps: Arc<AtomicUsize>,
    opens: Arc<AtomicUsize>,
}

struct FlakyLog {
    inner: Arc<dyn WorkspaceLog>,
    fail_every: u64,
    outage: bool,
    appends: Arc<AtomicU64>,
    writing: Arc<AtomicUsize>,
    overlaps: Arc<AtomicUsize>,
    poisoned: AtomicBool,
}

#[async_trait::async_trait]
impl LogStore for FlakyStore {
    async fn open(&self, ws: &WorkspaceId) -> Result<Arc<dyn WorkspaceLog>, StoreError> {
        self.opens.fetch_add(1, Ordering::SeqCst);
        Ok(Arc::new(FlakyLog {
            inner: self.inner.open(ws).await?,
            fail_every: self.fail_every,
            outage: self.outage,
            appends: self.appends.clone(),
            writing: self.writing.clone(),
            overlaps: self.overlaps.clone(),
            poisoned: AtomicBool::new(false),
        }))
    }

    fn max_entry_len(&self) -> u64 {
        self.inner.max_entry_len()
    }

    async fn stored_bytes(&self, ws: &WorkspaceId) -> Result<u64, StoreError> {
        self.inner.stored_bytes(ws).await
    }

    async fn delete(&self, ws: &WorkspaceId) -> Result<(), StoreError> {
        self.inner.delete(ws).await
    }

    async fn load(
        &self,
        ws: &WorkspaceId,
        dump: crate::storage::LogDump,
    ) -> Result<(), StoreError> {
        self.inner.load(ws, dump).await
    }
}

impl FlakyLog {
    fn failure(&self) -> StoreError {
        if self.outage {
            StoreError::Unavailable {
                at: "the database".into(),
                detail: "restarting".into(),
            }
        } else {
            StoreError::Poisoned
        }
    }
}

#[async_trait::async_trait]
impl WorkspaceLog for FlakyLog {
    fn position(&self) -> Position {
        self.inner.position()
    }
    async fn append(
        &self,
        entries: Vec<NewEntry>,
        quota: u64,
    ) -> Result<Vec<Appended>, StoreError> {
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(self.failure());
        }
        if self.writing.fetch_add(1, Ordering::SeqCst) != 0 {
            self.overlaps.fetch_add(1, Ordering::SeqCst);
        }
        // A write that takes a while, so that overlaps would show.
        tokio::time::sleep(std::time::Duration::from_micros(200)).await;
        let n = self.appends.fetch_add(1, Ordering::SeqCst) + 1;
        let result = if n.is_multiple_of(self.fail_every) {
            self.poisoned.store(true, Ordering::SeqCst);
            Err(self.failure())
        } else {
            self.inner.append(entries, quota).await
        };
        self.writing.fetch_sub(1, Ordering::SeqCst);
        result
    }
    async fn pull(&self, after: u64, max: u64) -> Result<crate::storage::PullPlan, StoreError> {
        self.inner.pull(after, max).await
    }
    async fn put_snapshot(
        &self,
        upto: u64,
        data: crate::storage::payload::Payload,
        quota: u64,
    ) -> Result<Snapshotted, StoreError> {
        self.inner.put_snapshot(upto, data, quota).await
    }
    async fn keys(&self) -> Result<Vec<crate::storage::KeyRow>, StoreError> {
        self.inner.keys().await
    }
    async fn undo_compaction(&self) -> Result<Option<Undone>, StoreError> {
        self.inner.undo_compaction().await
    }
    async fn forget_compactions(&self) -> Result<usize, StoreError> {
        self.inner.forget_compactions().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_log_is_reopened_only_after_its_writer_is_gone() {
    let store = Arc::new(FlakyStore {
        inner: crate::storage::memory::MemoryStore::default(),
        fail_every: 7,
        outage: false,
        appends: Arc::default(),
        writing: Arc::default(),
        overlaps: Arc::default(),
        opens: Arc::default(),
    });
    let spaces = Arc::new(Workspaces::new(store.clone(), heads(), test_room(), 1000));
    let ws = WorkspaceId::from_random([5; 16]);
    let mut tasks = Vec::new();
    for client in 0..16u8 {
        let spaces = spaces.clone();
        let ws = ws.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..40u8 {
                let key = format!("c{client}-{i}");
                let body = vec![client, i];
                // Retry a failed push with the same key, as a client does.
                for _ in 0..50 {
                    let Ok(w) = spaces.get(&ws).await else {
                        continue;
                    };
                    use sha2::Digest as _;
                    let entry = NewEntry {
                        key: Some(key.clone()),
                        hash: sha2::Sha256::digest(&body).into(),
                        payload: body.clone().into(),
                    };
                    match w.append(entry).await {
                        Ok(Appended::New(seq) | Appended::Duplicate(seq)) => {
                            acked.push((seq, body.clone()));
                            break;
                        }
                        Ok(other) => panic!("{other:?}"),
                        Err(_) => tokio::task::yield_now().await,
                    }
                }
            }
            acked
        }));
    }
    let mut by_seq = std::collections::HashMap::new();
    for t in tasks {
        for (seq, body) in t.await.unwrap() {
            if let Some(other) = by_seq.insert(seq, body.clone()) {
                assert_eq!(other, body, "seq {seq} acknowledged for two bodies");
            }
        }
    }
    assert_eq!(by_seq.len(), 16 * 40, "every push was acknowledged once");
    assert_eq!(
        store.overlaps.load(Ordering::SeqCst),
        0,
        "two writers wrote at once"
    );
    assert!(
        store.opens.load(Ordering::SeqCst) > 5,
        "failures reopened the log"
    );
    let pulled = spaces
        .get(&ws)
        .await
        .unwrap()
        .log
        .pull(0, u64::MAX)
        .await
        .unwrap()
        .read_all()
        .await
        .unwrap();
    let frames = hearth_shared::frame::decode_frames(&pulled.body).unwrap();
    for f in frames {
        assert_eq!(by_seq.get(&f.seq).map(Vec::as_slice), Some(f.payload));
    }
}

/// Writes queued behind one that met an outage (a database restarting)
/// never reached the storage: they are told to retry shortly (503), as
/// the one that failed is, never that the server failed (500).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_queued_behind_an_outage_are_told_to_retry() {
    let store = Arc::new(FlakyStore {
        inner: crate::storage::memory::MemoryStore::default(),
        fail_every: 3,
        outage: true,
        appends: Arc::default(),
        writing: Arc::default(),
        overlaps: Arc::default(),
        opens: Arc::default(),
    });
    let spaces = Arc::new(Workspaces::new(store.clone(), heads(), test_room(), 1000));
    let ws = WorkspaceId::from_random([6; 16]);
    let tasks: Vec<_> = (0..16u8)
        .map(|client| {
            let (spaces, ws) = (spaces.clone(), ws.clone());
            tokio::spawn(async move {
                let mut refusals = Vec::new();
                for i in 0..20u8 {
                    let Ok(w) = spaces.get(&ws).await else {
                        continue;
                    };
                    if let Err(e) = w.append(entry(b"x", &format!("c{client}-{i}"))).await {
                        refusals.push(e);
                    }
                }
                refusals
            })
        })
        .collect();
    let mut refusals = Vec::new();
    for t in tasks {
        refusals.extend(t.await.unwrap());
    }
    assert!(!refusals.is_empty(), "the outage refused writes");
    for e in refusals {
        let what = format!("{e:?}");
        assert_eq!(
            crate::error::write_error(e).status(),
            hyper::StatusCode::SERVICE_UNAVAILABLE,
            "a write behind an outage was refused with {what}"
        );
    }
}
