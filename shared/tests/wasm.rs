//! `hearth-shared` in a browser: the envelope (zstd compiled to wasm with
//! clang) and the frame codec run in headless Chromium.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hearth_shared::envelope;
use hearth_shared::frame::{FrameKind, decode_frames, encode_frame};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn envelope_round_trips_in_the_browser() {
    let payload: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    let sealed = envelope::seal(&payload, 3).expect("seal");
    assert_eq!(
        envelope::codec_of(&sealed).expect("header"),
        envelope::Codec::Zstd
    );
    assert!(sealed.len() < payload.len());
    assert_eq!(
        envelope::open(&sealed, envelope::DEFAULT_MAX_RAW_LEN).expect("open"),
        payload
    );
}

#[wasm_bindgen_test]
fn frames_decode_in_the_browser() {
    let mut body = Vec::new();
    encode_frame(&mut body, FrameKind::Snapshot, 3, b"snapshot");
    encode_frame(&mut body, FrameKind::Entry, 4, b"entry");
    let frames = decode_frames(&body).expect("frames");
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[1].payload, b"entry");
}

#[wasm_bindgen_test]
fn an_encrypted_record_made_natively_opens_in_the_browser() {
    use hearth_shared::sealed::{self, EpochKey, Kind};
    // The format vector of `sealed`'s tests, sealed natively.
    let record = [
        0x48, 0x52, 0x54, 0x48, 0x02, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x02,
        0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00,
        0x00, 0x16, 0x2f, 0x67, 0xb7, 0x69, 0xb1, 0x8d, 0x30, 0xb8, 0x35, 0xb2, 0xff, 0x3a, 0x68,
        0x40, 0x3a, 0x4a, 0x8b, 0x3b, 0x13, 0x0b, 0x64, 0x4c,
    ];
    let key = EpochKey::new(1, std::array::from_fn(|i| i as u8));
    assert_eq!(
        sealed::open(std::slice::from_ref(&key), &record, 64).expect("open"),
        (Kind::Update, b"hearth".to_vec())
    );
    let again = sealed::seal(&key, Kind::Snapshot, &[7u8; 10_000], 3, [1; 12]).expect("seal");
    assert_eq!(
        sealed::open(&[key], &again, 10_000).expect("open").1,
        vec![7u8; 10_000]
    );
}
