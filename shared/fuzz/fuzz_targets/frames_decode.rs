//! Decoding any bytes as an `entries` body returns frames or an error,
//! never a panic; frames that decode encode back to the same bytes.
#![no_main]

use hearth_shared::frame::{decode_frames, encode_frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(frames) = decode_frames(data) {
        let mut again = Vec::new();
        for f in &frames {
            encode_frame(&mut again, f.kind, f.seq, f.payload);
        }
        assert_eq!(again, data);
    }
});
