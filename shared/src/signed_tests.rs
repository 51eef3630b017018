#![allow(clippy::unwrap_used)]

use super::*;
use crate::keys::DeviceSecret;
use crate::sealed::tests::hex;

fn ws(byte: u8) -> WorkspaceId {
    WorkspaceId::from_random([byte; 16])
}

fn key(epoch: u32, byte: u8) -> EpochKey {
    EpochKey::new(epoch, [byte; 32])
}

fn phone() -> DeviceSigner {
    DeviceSigner::of(&DeviceSecret::new([5; 32]))
}

const IV: [u8; IV_LEN] = [7; IV_LEN];

#[test]
fn a_record_opens_in_its_workspace_and_names_its_writer() {
    let k = key(3, 0x42);
    for kind in [Kind::Update, Kind::Snapshot] {
        for payload in [vec![], b"x".to_vec(), vec![b'a'; 100_000]] {
            let record = seal(&k, kind, &payload, 3, IV, &ws(1), &phone()).unwrap();
            assert_eq!(
                peek(&record).unwrap(),
                Peek {
                    version: 3,
                    kind,
                    epoch: 3
                }
            );
            let opened = open(&[key(1, 1), k.clone()], &record, &ws(1), 1 << 20).unwrap();
            assert_eq!(opened.payload, payload);
            assert_eq!(opened.kind, kind);
            assert_eq!(opened.signer, Some(phone().public()));
        }
    }
}

#[test]
fn a_record_moved_to_another_workspace_does_not_open() {
    let k = key(1, 9);
    let record = seal(&k, Kind::Update, b"note", 0, IV, &ws(1), &phone()).unwrap();
    assert_eq!(
        open(std::slice::from_ref(&k), &record, &ws(2), 1 << 20),
        Err(OpenError::Authentication(1))
    );
}

#[test]
fn a_snapshot_cannot_pass_as_an_update() {
    let k = key(1, 9);
    let mut record = seal(&k, Kind::Snapshot, b"doc", 0, IV, &ws(1), &phone()).unwrap();
    record[6] = 0;
    assert_eq!(
        open(std::slice::from_ref(&k), &record, &ws(1), 1 << 20),
        Err(OpenError::Authentication(1))
    );
}

#[test]
fn every_altered_byte_fails_and_no_cut_panics() {
    let k = key(5, 0x11);
    let record = seal(&k, Kind::Update, b"a note's text", 3, IV, &ws(1), &phone()).unwrap();
    for at in 0..record.len() {
        let mut altered = record.clone();
        altered[at] ^= 0x01;
        assert!(
            open(std::slice::from_ref(&k), &altered, &ws(1), 1 << 20).is_err(),
            "byte {at}"
        );
    }
    for cut in 0..record.len() {
        assert!(open(std::slice::from_ref(&k), &record[..cut], &ws(1), 1 << 20).is_err());
    }
}

/// Someone who holds the epoch key (a removed device) re-seals another
/// device's signed plaintext with an edited body: the signature no longer
/// verifies. Re-signed with its own key, it names its own key.
#[test]
fn a_key_holder_cannot_write_in_another_devices_name() {
    let k = key(1, 9);
    let laptop = DeviceSigner::of(&DeviceSecret::new([6; 32]));
    let record = seal(&k, Kind::Update, b"milk", 0, IV, &ws(1), &laptop).unwrap();
    let (header, ct) = record.split_at(HEADER_LEN);
    let mut plain = sealed::decrypt(&k, &IV, &aad(header, &ws(1)), ct).unwrap();
    plain[INNER_LEN] = b'M';
    let mut forged = header.to_vec();
    forged.extend(sealed::encrypt(&k, &IV, &aad(header, &ws(1)), &plain));
    assert_eq!(
        open(std::slice::from_ref(&k), &forged, &ws(1), 1 << 20),
        Err(OpenError::Signature)
    );
    let own = seal(&k, Kind::Update, b"Milk", 0, IV, &ws(1), &phone()).unwrap();
    let opened = open(std::slice::from_ref(&k), &own, &ws(1), 1 << 20).unwrap();
    assert_eq!(opened.signer, Some(phone().public()));
    assert_ne!(opened.signer, Some(laptop.public()));
}

#[test]
fn sizes_fall_in_padme_classes() {
    assert_eq!(
        (0..8).map(padme).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4, 5, 6, 7]
    );
    assert_eq!(padme(9), 10);
    assert_eq!(padme(1000), 1024);
    assert_eq!(padme(1025), 1088);
    for len in 2..100_000usize {
        let p = padme(len);
        assert!(p >= len && (p - len) * 100 <= len * 12, "{len} → {p}");
    }
    // Two notes of different lengths in one class give records of one size.
    let k = key(1, 1);
    let a = seal(&k, Kind::Update, &[1u8; 1000], 0, IV, &ws(1), &phone()).unwrap();
    let b = seal(&k, Kind::Update, &[1u8; 1010], 0, IV, &ws(1), &phone()).unwrap();
    assert_eq!(a.len(), b.len());
}

#[test]
fn version_2_records_still_open_without_a_signer() {
    let k = key(2, 3);
    let old = sealed::seal(&k, Kind::Update, b"old", 0, IV).unwrap();
    let opened = open(std::slice::from_ref(&k), &old, &ws(1), 64).unwrap();
    assert_eq!((opened.version, opened.signer), (2, None));
    assert_eq!(opened.payload, b"old");
}

#[test]
fn a_lying_length_cannot_blow_up_memory() {
    let k = key(1, 3);
    let record = seal(&k, Kind::Update, &[0u8; 5000], 3, IV, &ws(1), &phone()).unwrap();
    assert!(matches!(
        open(std::slice::from_ref(&k), &record, &ws(1), 1024),
        Err(OpenError::Envelope(EnvelopeError::TooLarge { .. }))
    ));
}

/// The format vector in `docs/formats.md`: key 00..1f, epoch 1, IV
/// 00..0b, workspace 000102…0f, device secret 20..3f, the update
/// "hearth", stored. Ed25519 signatures are deterministic, so the whole
/// record is.
#[test]
fn the_format_vector_is_stable() {
    let k = EpochKey::new(1, std::array::from_fn(|i| i as u8));
    let iv: [u8; 12] = std::array::from_fn(|i| i as u8);
    let workspace = WorkspaceId::from_random(std::array::from_fn(|i| i as u8));
    let signer = DeviceSigner::of(&DeviceSecret::new(std::array::from_fn(|i| 0x20 + i as u8)));
    let record = seal(&k, Kind::Update, b"hearth", 0, iv, &workspace, &signer).unwrap();
    assert_eq!(record.len(), HEADER_LEN + padme(INNER_LEN + 6) + TAG_LEN);
    assert_eq!(
        record[..HEADER_LEN].to_vec(),
        hex("48525448030100000000000100010203040506070809 0a0b00000080"
            .replace(' ', "")
            .as_str())
    );
    let opened = open(&[k], &record, &workspace, 64).unwrap();
    assert_eq!(opened.payload, b"hearth");
    assert_eq!(opened.signer, Some(signer.public()));
}
