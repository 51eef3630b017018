//! The blob envelope: how a client wraps every entry and snapshot it sends.
//!
//! The server stores envelopes as opaque bytes and never opens one. Layout
//! (all integers big-endian):
//!
//! ```text
//! offset size field
//! 0      4    magic    b"HRTH"
//! 4      1    version  1
//! 5      1    codec    0 = stored, 1 = zstd
//! 6      1    flags    bit 0: payload is encrypted (reserved; must be 0 in version 1)
//! 7      1    reserved 0
//! 8      4    raw_len  length of the payload after decompression
//! 12     4    crc32    CRC-32 (IEEE) of the bytes after the header
//! 16     ..   body     the (compressed) payload
//! ```
//!
//! Opening checks every field before it decompresses, caps decompression at
//! `raw_len` (itself capped by the caller's limit) and returns an error,
//! never a panic, on any input.

/// The first four bytes of every envelope.
pub const MAGIC: [u8; 4] = *b"HRTH";
/// The envelope format this code writes.
pub const VERSION: u8 = 1;
/// Bytes before the body.
pub const HEADER_LEN: usize = 16;
/// Default cap on a decompressed payload (256 MiB).
pub const DEFAULT_MAX_RAW_LEN: usize = 256 * 1024 * 1024;

/// How the body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Stored,
    Zstd,
}

/// Why bytes are not a valid envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("blob is {0} bytes, shorter than an envelope header")]
    TooShort(usize),
    #[error("blob does not start with the Hearth envelope magic")]
    BadMagic,
    #[error("envelope version {0} is newer than this app understands; update the app")]
    UnknownVersion(u8),
    #[error("envelope codec {0} is unknown")]
    UnknownCodec(u8),
    #[error("envelope is encrypted or has unknown flags {0:#04x}")]
    UnsupportedFlags(u8),
    #[error("envelope checksum mismatch: the blob is corrupt")]
    ChecksumMismatch,
    #[error("envelope payload of {raw_len} bytes is over the limit of {limit} bytes")]
    TooLarge { raw_len: usize, limit: usize },
    #[error("envelope payload does not decompress: {0}")]
    Corrupt(String),
    #[error("envelope payload is {actual} bytes, header says {expected}")]
    LengthMismatch { expected: usize, actual: usize },
    #[error("payload of {0} bytes is too large for an envelope")]
    PayloadTooLarge(usize),
}

/// Wraps `payload` in an envelope, zstd-compressed at `level` unless
/// compression would not make it smaller.
pub fn seal(payload: &[u8], level: i32) -> Result<Vec<u8>, EnvelopeError> {
    let (codec, raw_len, body) = pack(payload, level)?;
    let body: &[u8] = &body;
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(codec.byte());
    out.push(0);
    out.push(0);
    out.extend_from_slice(&raw_len.to_be_bytes());
    out.extend_from_slice(&crc32fast::hash(body).to_be_bytes());
    out.extend_from_slice(body);
    Ok(out)
}

impl Codec {
    /// The codec's byte in a header.
    pub(crate) fn byte(self) -> u8 {
        match self {
            Codec::Stored => 0,
            Codec::Zstd => 1,
        }
    }

    pub(crate) fn of_byte(byte: u8) -> Result<Codec, EnvelopeError> {
        match byte {
            0 => Ok(Codec::Stored),
            1 => Ok(Codec::Zstd),
            other => Err(EnvelopeError::UnknownCodec(other)),
        }
    }
}

/// Compresses `payload` at `level` unless that would not make it smaller:
/// the codec, the payload's length, and the body.
pub(crate) fn pack(
    payload: &[u8],
    level: i32,
) -> Result<(Codec, u32, std::borrow::Cow<'_, [u8]>), EnvelopeError> {
    let raw_len =
        u32::try_from(payload.len()).map_err(|_| EnvelopeError::PayloadTooLarge(payload.len()))?;
    Ok(match zstd::bulk::compress(payload, level) {
        Ok(c) if c.len() < payload.len() => (Codec::Zstd, raw_len, c.into()),
        _ => (Codec::Stored, raw_len, payload.into()),
    })
}

/// The payload of a `body` packed by [`pack`], refusing payloads larger
/// than `max_raw_len`, and any whose length is not `raw_len`.
pub(crate) fn unpack(
    codec: Codec,
    body: &[u8],
    raw_len: usize,
    max_raw_len: usize,
) -> Result<Vec<u8>, EnvelopeError> {
    if raw_len > max_raw_len {
        return Err(EnvelopeError::TooLarge {
            raw_len,
            limit: max_raw_len,
        });
    }
    let payload = match codec {
        Codec::Stored => body.to_vec(),
        Codec::Zstd => zstd::bulk::decompress(body, raw_len)
            .map_err(|e| EnvelopeError::Corrupt(e.to_string()))?,
    };
    if payload.len() != raw_len {
        return Err(EnvelopeError::LengthMismatch {
            expected: raw_len,
            actual: payload.len(),
        });
    }
    Ok(payload)
}

/// Reads the header of an envelope without opening the body.
pub fn codec_of(bytes: &[u8]) -> Result<Codec, EnvelopeError> {
    Ok(parse_header(bytes)?.0)
}

fn parse_header(bytes: &[u8]) -> Result<(Codec, usize, u32), EnvelopeError> {
    if bytes.len() < HEADER_LEN {
        return Err(EnvelopeError::TooShort(bytes.len()));
    }
    if bytes[0..4] != MAGIC {
        return Err(EnvelopeError::BadMagic);
    }
    if bytes[4] != VERSION {
        return Err(EnvelopeError::UnknownVersion(bytes[4]));
    }
    let codec = Codec::of_byte(bytes[5])?;
    if bytes[6] != 0 {
        return Err(EnvelopeError::UnsupportedFlags(bytes[6]));
    }
    let raw_len = u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
    let crc = u32::from_be_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    Ok((codec, raw_len, crc))
}

/// Opens an envelope: checks it and returns the payload, refusing payloads
/// larger than `max_raw_len`.
pub fn open(bytes: &[u8], max_raw_len: usize) -> Result<Vec<u8>, EnvelopeError> {
    let (codec, raw_len, crc) = parse_header(bytes)?;
    let body = &bytes[HEADER_LEN..];
    if crc32fast::hash(body) != crc {
        return Err(EnvelopeError::ChecksumMismatch);
    }
    unpack(codec, body, raw_len, max_raw_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_open_gives_the_payload_back() {
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            b"x".to_vec(),
            vec![0u8; 100_000],
            (0..5000u32).flat_map(|i| i.to_le_bytes()).collect(),
        ];
        for payload in cases {
            let sealed = seal(&payload, 3).unwrap();
            assert_eq!(open(&sealed, DEFAULT_MAX_RAW_LEN).unwrap(), payload);
        }
    }

    #[test]
    fn compressible_payloads_are_compressed() {
        let sealed = seal(&vec![b'a'; 100_000], 3).unwrap();
        assert_eq!(codec_of(&sealed).unwrap(), Codec::Zstd);
        assert!(sealed.len() < 1_000, "{} bytes", sealed.len());
        let tiny = seal(b"ab", 3).unwrap();
        assert_eq!(codec_of(&tiny).unwrap(), Codec::Stored);
    }

    #[test]
    fn damaged_envelopes_are_reported() {
        let sealed = seal(&vec![b'z'; 10_000], 3).unwrap();
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x40;
        assert_eq!(
            open(&flipped, DEFAULT_MAX_RAW_LEN),
            Err(EnvelopeError::ChecksumMismatch)
        );
        let mut magic = sealed.clone();
        magic[0] = b'X';
        assert_eq!(
            open(&magic, DEFAULT_MAX_RAW_LEN),
            Err(EnvelopeError::BadMagic)
        );
        let mut version = sealed.clone();
        version[4] = 2;
        assert_eq!(
            open(&version, DEFAULT_MAX_RAW_LEN),
            Err(EnvelopeError::UnknownVersion(2))
        );
        assert_eq!(
            open(&sealed, 100),
            Err(EnvelopeError::TooLarge {
                raw_len: 10_000,
                limit: 100
            })
        );
        for cut in 0..sealed.len() {
            assert!(
                open(&sealed[..cut], DEFAULT_MAX_RAW_LEN).is_err(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn a_lying_length_cannot_blow_up_memory() {
        // A valid checksum over garbage with a huge claimed length.
        let mut evil = Vec::new();
        evil.extend_from_slice(&MAGIC);
        evil.extend_from_slice(&[VERSION, 1, 0, 0]);
        evil.extend_from_slice(&u32::MAX.to_be_bytes());
        let body = [0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0];
        evil.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
        evil.extend_from_slice(&body);
        assert!(matches!(
            open(&evil, 1024),
            Err(EnvelopeError::TooLarge { .. })
        ));
        assert!(open(&evil, DEFAULT_MAX_RAW_LEN).is_err());
    }
}
