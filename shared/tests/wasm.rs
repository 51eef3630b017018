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
