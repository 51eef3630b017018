//! Opening any bytes as an envelope returns a payload or an error, never a
//! panic, and never more than the cap. Whatever opens, seals back to an
//! envelope that opens to the same payload (the model: seal/open are
//! inverse). Each input is also tried with its checksum made right, so
//! that the fuzzer reaches the decompressor, not only the checksum.
#![no_main]

use hearth_shared::envelope::{DEFAULT_MAX_RAW_LEN, HEADER_LEN, open, seal};
use libfuzzer_sys::fuzz_target;

const CAP: usize = 1 << 20;

fn check(bytes: &[u8]) {
    if let Ok(payload) = open(bytes, CAP) {
        assert!(payload.len() <= CAP);
        let again = seal(&payload, 1).expect("a payload under the cap seals");
        assert_eq!(
            open(&again, DEFAULT_MAX_RAW_LEN).expect("a fresh envelope opens"),
            payload
        );
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if data.len() >= HEADER_LEN {
        let mut fixed = data.to_vec();
        fixed[0..4].copy_from_slice(b"HRTH");
        fixed[4] = 1;
        fixed[5] &= 1;
        fixed[6] = 0;
        let crc = crc32fast_hash(&fixed[HEADER_LEN..]);
        fixed[12..16].copy_from_slice(&crc.to_be_bytes());
        check(&fixed);
    }
});

/// CRC-32 (IEEE), bitwise: the fuzz crate keeps its dependencies minimal.
fn crc32fast_hash(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
