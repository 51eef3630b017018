//! Tests of the disk chunk store.
use super::*;
use sha2::{Digest as _, Sha256};

fn name(data: &[u8]) -> ChunkName {
    ChunkName::from_digest(Sha256::digest(data).into())
}

#[test]
fn chunks_are_stored_once_checked_set_aside_revived_and_swept() {
    let dir = tempfile::tempdir().unwrap();
    let store = DiskChunks::new(dir.path(), 60);
    let ws = WorkspaceId::from_random([1; 16]);
    let (a, b) = (b"chunk a".to_vec(), b"chunk b!".to_vec());
    assert_eq!(
        store.put(&ws, &name(&a), &a, |_, _| true).unwrap(),
        (Put::Created, 7)
    );
    assert_eq!(
        store.put(&ws, &name(&a), &a, |_, _| true).unwrap(),
        (Put::Existed, 0)
    );
    assert_eq!(
        store.put(&ws, &name(&a), &b, |_, _| true).unwrap(),
        (Put::Mismatch, 0)
    );
    assert_eq!(
        store.put(&ws, &name(&b), &b, |_, _| false).unwrap(),
        (Put::Refused, 0)
    );
    assert_eq!(
        store.missing(&ws, &[name(&b), name(&a)]).unwrap(),
        vec![name(&b)]
    );
    assert_eq!(
        store
            .put(&ws, &name(&b), &b, |used, _| used == 7)
            .unwrap()
            .0,
        Put::Created
    );
    assert_eq!(store.bytes(&ws).unwrap(), 15);
    assert_eq!(store.get(&ws, &name(&a)).unwrap(), Some(a.clone()));

    let t0 = SystemTime::now();
    assert_eq!(store.set_aside(&ws, &[name(&a), name(&b)], t0).unwrap(), 2);
    assert_eq!(store.pending(), vec![ws.clone()]);
    // Asking for one brings it back; the other goes after the grace period.
    assert!(store.missing(&ws, &[name(&a)]).unwrap().is_empty());
    assert_eq!(store.sweep(&ws, t0 + Duration::from_secs(59)).unwrap(), 0);
    assert_eq!(store.sweep(&ws, t0 + Duration::from_secs(61)).unwrap(), 8);
    assert_eq!(store.get(&ws, &name(&b)).unwrap(), None);
    assert_eq!(store.get(&ws, &name(&a)).unwrap(), Some(a.clone()));
    assert_eq!(store.bytes(&ws).unwrap(), 7);
    assert!(store.pending().is_empty());

    // A fresh store counts what is on disk, and clears a crash's leftovers.
    let tmp = chunks_dir(dir.path(), &ws).join(TMP_DIR);
    fs::create_dir_all(&tmp).unwrap();
    fs::write(tmp.join("half"), b"half a chunk").unwrap();
    let again = DiskChunks::new(dir.path(), 60);
    assert_eq!(again.bytes(&ws).unwrap(), 7);
    assert!(!tmp.exists());
    assert_eq!(stored_chunk_bytes(dir.path()).unwrap(), 7);
}
