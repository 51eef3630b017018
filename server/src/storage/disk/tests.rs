//! Tests of the disk store: appends, retries, snapshots, torn tails,
//! budgets and quotas.

use super::*;
use bytes::Bytes;
use hearth_shared::frame::decode_frames;

use crate::storage::payload::Payload;

fn entry(key: Option<&str>, payload: &[u8]) -> NewEntry {
    NewEntry {
        key: key.map(str::to_owned),
        hash: sha256(payload),
        payload: Bytes::copy_from_slice(payload).into(),
    }
}

fn pulled(log: &DiskLog, after: u64) -> Vec<(FrameKind, u64, Vec<u8>)> {
    let p = log.pull(after, u64::MAX).unwrap();
    decode_frames(&p.body)
        .unwrap()
        .into_iter()
        .map(|f| (f.kind, f.seq, f.payload.to_vec()))
        .collect()
}

const Q: u64 = u64::MAX;

#[test]
fn append_dedupe_pull_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let log = DiskLog::open(dir.path()).unwrap();
    let out = log
        .append(
            &[
                entry(Some("a"), b"one"),
                entry(Some("b"), b"two"),
                entry(Some("a"), b"one"),
                entry(Some("a"), b"other"),
            ],
            Q,
        )
        .unwrap();
    assert_eq!(
        out,
        vec![
            Appended::New(1),
            Appended::New(2),
            Appended::Duplicate(1),
            Appended::KeyConflict
        ]
    );
    let out = log
        .append(&[entry(Some("b"), b"two"), entry(None, b"three")], Q)
        .unwrap();
    assert_eq!(out, vec![Appended::Duplicate(2), Appended::New(3)]);
    assert_eq!(
        pulled(&log, 1).iter().map(|f| f.1).collect::<Vec<_>>(),
        vec![2, 3]
    );
    drop(log);
    let log = DiskLog::open(dir.path()).unwrap();
    assert_eq!(log.position().head, 3);
    assert_eq!(
        log.append(&[entry(Some("a"), b"one")], Q).unwrap(),
        vec![Appended::Duplicate(1)]
    );
    assert_eq!(pulled(&log, 0)[2], (FrameKind::Entry, 3, b"three".to_vec()));
}

#[test]
fn snapshots_compact_and_keep_keys() {
    let dir = tempfile::tempdir().unwrap();
    let log = DiskLog::open(dir.path()).unwrap();
    for i in 0..5u8 {
        log.append(&[entry(Some(&format!("k{i}")), &[i; 10])], Q)
            .unwrap();
    }
    assert_eq!(
        log.put_snapshot(6, &Payload::from(b"snap".as_slice()), Q)
            .unwrap(),
        Snapshotted::Conflict { head: 5, floor: 0 }
    );
    assert_eq!(
        log.put_snapshot(3, &Payload::from(b"snap".as_slice()), Q)
            .unwrap(),
        Snapshotted::Done(3)
    );
    assert_eq!(
        log.put_snapshot(2, &Payload::from(b"old".as_slice()), Q)
            .unwrap(),
        Snapshotted::Conflict { head: 5, floor: 3 }
    );
    let all = pulled(&log, 0);
    assert_eq!(all[0], (FrameKind::Snapshot, 3, b"snap".to_vec()));
    assert_eq!(all.iter().map(|f| f.1).collect::<Vec<_>>(), vec![3, 4, 5]);
    assert_eq!(pulled(&log, 3).len(), 2);
    assert_eq!(pulled(&log, 4), vec![(FrameKind::Entry, 5, vec![4; 10])]);
    assert_eq!(
        log.append(&[entry(Some("k0"), &[0; 10])], Q).unwrap(),
        vec![Appended::Duplicate(1)]
    );
    drop(log);
    let log = DiskLog::open(dir.path()).unwrap();
    assert_eq!(
        log.position(),
        Position {
            head: 5,
            floor: 3,
            bytes: log.position().bytes
        }
    );
    assert_eq!(pulled(&log, 0).len(), 3);
    assert_eq!(
        log.append(&[entry(Some("k1"), &[1; 10])], Q).unwrap(),
        vec![Appended::Duplicate(2)]
    );
    assert_eq!(
        log.append(&[entry(None, b"new")], Q).unwrap(),
        vec![Appended::New(6)]
    );
    // Compacting everything leaves an empty log and a head at the floor.
    assert_eq!(
        log.put_snapshot(6, &Payload::from(b"all".as_slice()), Q)
            .unwrap(),
        Snapshotted::Done(6)
    );
    drop(log);
    let log = DiskLog::open(dir.path()).unwrap();
    assert_eq!((log.position().head, log.position().floor), (6, 6));
    assert_eq!(
        log.append(&[entry(None, b"seven")], Q).unwrap(),
        vec![Appended::New(7)]
    );
}

#[test]
fn a_torn_tail_is_cut_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let log = DiskLog::open(dir.path()).unwrap();
    log.append(&[entry(None, b"kept"), entry(None, b"also kept")], Q)
        .unwrap();
    drop(log);
    let path = dir.path().join(LOG_FILE);
    let whole = fs::read(&path).unwrap();
    let mut torn = whole.clone();
    record::encode(&mut torn, Kind::Entry, 3, &[0; 32], None, b"torn record");
    torn.truncate(torn.len() - 3);
    fs::write(&path, &torn).unwrap();
    let log = DiskLog::open(dir.path()).unwrap();
    assert_eq!(fs::read(&path).unwrap(), whole);
    // The cut record claimed seq 3: that number is never given out again
    // (it might have been acknowledged), and its bytes are kept aside.
    assert_eq!(log.position().head, 3);
    assert_eq!(
        log.append(&[entry(None, b"four")], Q).unwrap(),
        vec![Appended::New(4)]
    );
    let kept: Vec<_> = fs::read_dir(dir.path().join(QUARANTINE_DIR))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(kept.len(), 1);
    assert!(kept[0].starts_with("torn-"), "{kept:?}");
}

#[test]
fn a_corrupted_length_claiming_the_rest_of_the_file_loses_one_record() {
    let dir = tempfile::tempdir().unwrap();
    let log = DiskLog::open(dir.path()).unwrap();
    for i in 1..=6u8 {
        log.append(&[entry(None, &[i; 40])], Q).unwrap();
    }
    drop(log);
    let path = dir.path().join(LOG_FILE);
    let mut bytes = fs::read(&path).unwrap();
    // Record 3's length field now claims far more than the file holds.
    let third = LOG_MAGIC.len() + 2 * record::encoded_len(None, 40) as usize;
    bytes[third + 3] = 0x20;
    fs::write(&path, &bytes).unwrap();
    let log = DiskLog::open(dir.path()).unwrap();
    let seqs: Vec<u64> = pulled(&log, 0).iter().map(|f| f.1).collect();
    assert_eq!(seqs, vec![1, 2, 4, 5, 6]);
    assert_eq!(log.position().head, 6);
}

#[test]
fn a_pull_stops_at_its_byte_budget_but_always_moves() {
    let dir = tempfile::tempdir().unwrap();
    let log = DiskLog::open(dir.path()).unwrap();
    for i in 0..5u8 {
        log.append(&[entry(None, &[i; 100])], Q).unwrap();
    }
    let seqs = |after, max| {
        let p = log.pull(after, max).unwrap();
        assert_eq!(p.position.head, 5);
        decode_frames(&p.body)
            .unwrap()
            .iter()
            .map(|f| f.seq)
            .collect::<Vec<_>>()
    };
    assert_eq!(seqs(0, 250), vec![1, 2]);
    assert_eq!(seqs(2, 250), vec![3, 4]);
    assert_eq!(seqs(0, 1), vec![1], "one frame even over budget");
    assert_eq!(seqs(4, 1), vec![5]);
    assert_eq!(seqs(5, 1), Vec::<u64>::new());
    log.put_snapshot(2, &Payload::from(vec![9; 300]), Q)
        .unwrap();
    assert_eq!(seqs(0, 1), vec![2], "the snapshot alone");
    assert_eq!(seqs(0, 500), vec![2, 3]);
}

#[test]
fn a_crash_at_any_byte_recovers_a_whole_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let bodies: Vec<Vec<u8>> = (1..=4u8).map(|i| vec![i; usize::from(i) * 7]).collect();
    {
        let log = DiskLog::open(dir.path()).unwrap();
        for (i, b) in bodies.iter().enumerate() {
            log.append(&[entry(Some(&format!("k{i}")), b)], Q).unwrap();
        }
    }
    let whole = fs::read(dir.path().join(LOG_FILE)).unwrap();
    for cut in 0..=whole.len() {
        let case = tempfile::tempdir().unwrap();
        fs::write(case.path().join(LOG_FILE), &whole[..cut]).unwrap();
        let log = DiskLog::open(case.path()).unwrap();
        let got = pulled(&log, 0);
        for (i, (kind, seq, payload)) in got.iter().enumerate() {
            assert_eq!(
                (*kind, *seq, payload),
                (FrameKind::Entry, i as u64 + 1, &bodies[i]),
                "cut {cut}"
            );
        }
        // The recovered log takes new entries after the prefix (and after
        // the number a cut record claimed, which is never given again).
        let head = log.position().head;
        let whole_records = got.len() as u64;
        assert!(
            head == whole_records || head == whole_records + 1,
            "cut {cut}"
        );
        let next = head + 1;
        assert_eq!(
            log.append(&[entry(None, b"after")], Q).unwrap(),
            vec![Appended::New(next)],
            "cut {cut}"
        );
        drop(log);
        let log = DiskLog::open(case.path()).unwrap();
        assert_eq!(log.position().head, next, "cut {cut}");
    }
}

#[test]
fn quota_refuses_what_does_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    let log = DiskLog::open(dir.path()).unwrap();
    let quota = 8 + record::encoded_len(None, 100);
    let out = log
        .append(&[entry(None, &[1; 100]), entry(None, &[2; 1])], quota)
        .unwrap();
    assert_eq!(out, vec![Appended::New(1), Appended::OverQuota]);
}
