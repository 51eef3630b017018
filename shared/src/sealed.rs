//! Encrypted records: the blob envelope's version 2, in which a device
//! seals every entry and snapshot it sends once its workspace has a key.
//!
//! A payload is compressed (as in version 1), then encrypted with
//! AES-256-GCM under the workspace key of one key epoch, with a fresh random
//! 96-bit IV per record; the 32-byte plaintext header is the associated
//! data, so that no header field can be altered without the record failing
//! authentication. Layout (all integers big-endian):
//!
//! ```text
//! offset size field
//! 0      4    magic    b"HRTH"
//! 4      1    version  2
//! 5      1    codec    of the plaintext: 0 = stored, 1 = zstd
//! 6      1    flags    bit 0 = 1: encrypted (always set in version 2); other bits 0
//! 7      1    kind     0 = update, 1 = snapshot, 2 = key check
//! 8      4    epoch    the key epoch whose key sealed the record
//! 12     12   iv       the AES-GCM nonce, random per record
//! 24     4    raw_len  length of the payload after decryption and decompression
//! 28     4    ct_len   length of what follows the header: ciphertext and 16-byte tag
//! 32     ..   ct       AES-256-GCM(key, iv, aad = bytes 0..32, plaintext = body)
//! ```
//!
//! `body` is the payload, zstd-compressed when that makes it smaller. The
//! layout follows the record of the `%ELO` profile of the Loro protocol
//! (explicit 12-byte IV, ciphertext with its 16-byte tag, the exact header
//! as AAD) but names the key by a number, and carries no version vector or
//! peer ids: Hearth's server orders entries itself and needs no index, so
//! it learns only sizes and timing.
//!
//! A **key check** record (kind 2) holds [`KEY_CHECK`], sealed like any
//! other record. A device that cannot open its epoch's key check has the
//! wrong key; one that opens it but not another record of the epoch has a
//! corrupt record.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

use crate::envelope::{self, Codec, EnvelopeError, MAGIC};
pub use crate::keys::{EpochKey, Keyring, key_of};

/// The envelope version of an encrypted record.
pub const VERSION: u8 = 2;
/// Bytes before the ciphertext (and the associated data).
pub const HEADER_LEN: usize = 32;
/// The length of an IV.
pub const IV_LEN: usize = 12;
/// The length of the authentication tag at the end of the ciphertext.
pub const TAG_LEN: usize = 16;
/// The flag bit that says a record is encrypted.
pub const FLAG_ENCRYPTED: u8 = 0x01;
/// What a key check record holds.
pub const KEY_CHECK: &[u8; 16] = b"hearth key check";

/// What a record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Loro updates (an entry).
    Update,
    /// A Loro snapshot.
    Snapshot,
    /// [`KEY_CHECK`]: whether a key is the epoch's.
    KeyCheck,
}

impl Kind {
    fn byte(self) -> u8 {
        match self {
            Kind::Update => 0,
            Kind::Snapshot => 1,
            Kind::KeyCheck => 2,
        }
    }
}

/// An encrypted record's plaintext header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub codec: Codec,
    pub kind: Kind,
    pub epoch: u32,
    pub iv: [u8; IV_LEN],
    pub raw_len: u32,
    pub ct_len: u32,
}

impl Header {
    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..4].copy_from_slice(&MAGIC);
        out[4] = VERSION;
        out[5] = self.codec.byte();
        out[6] = FLAG_ENCRYPTED;
        out[7] = self.kind.byte();
        out[8..12].copy_from_slice(&self.epoch.to_be_bytes());
        out[12..24].copy_from_slice(&self.iv);
        out[24..28].copy_from_slice(&self.raw_len.to_be_bytes());
        out[28..32].copy_from_slice(&self.ct_len.to_be_bytes());
        out
    }
}

/// Why a record was not opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error("the blob is not encrypted (envelope version {0})")]
    NotEncrypted(u8),
    #[error("record kind {0} is unknown")]
    UnknownKind(u8),
    #[error("the record says {expected} bytes of ciphertext follow, but {actual} do")]
    CiphertextLength { expected: usize, actual: usize },
    #[error("the record was sealed under key epoch {0}, which this device does not have")]
    UnknownEpoch(u32),
    #[error(
        "the record of key epoch {0} failed authentication: it was altered or damaged, or the key is wrong"
    )]
    Authentication(u32),
    #[error(
        "the record's signature does not verify: it was altered, or not written by the device it names"
    )]
    Signature,
    #[error("the record's inner layout is damaged")]
    Inner,
}

/// Reads an encrypted record's header without the key. Every field is
/// checked; the ciphertext's length must be the one the header says.
pub fn read_header(bytes: &[u8]) -> Result<Header, OpenError> {
    if bytes.get(..4).is_some_and(|magic| magic != MAGIC) {
        return Err(EnvelopeError::BadMagic.into());
    }
    match bytes.get(4) {
        Some(&VERSION) | None => {}
        Some(&envelope::VERSION) => return Err(OpenError::NotEncrypted(envelope::VERSION)),
        Some(&other) => return Err(EnvelopeError::UnknownVersion(other).into()),
    }
    let Some(head) = bytes.get(..HEADER_LEN) else {
        return Err(EnvelopeError::TooShort(bytes.len()).into());
    };
    let codec = Codec::of_byte(head[5])?;
    if head[6] != FLAG_ENCRYPTED {
        return Err(EnvelopeError::UnsupportedFlags(head[6]).into());
    }
    let kind = match head[7] {
        0 => Kind::Update,
        1 => Kind::Snapshot,
        2 => Kind::KeyCheck,
        other => return Err(OpenError::UnknownKind(other)),
    };
    let be = |at: usize| u32::from_be_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
    let mut iv = [0u8; IV_LEN];
    iv.copy_from_slice(&head[12..24]);
    let header = Header {
        codec,
        kind,
        epoch: be(8),
        iv,
        raw_len: be(24),
        ct_len: be(28),
    };
    let actual = bytes.len() - HEADER_LEN;
    if header.ct_len as usize != actual || actual < TAG_LEN {
        return Err(OpenError::CiphertextLength {
            expected: header.ct_len as usize,
            actual,
        });
    }
    Ok(header)
}

/// Seals `payload` as a record of `kind` under `key`, compressed at `level`
/// when that makes it smaller, with `iv`: 12 bytes from a cryptographic
/// random source, never used twice with a key.
pub fn seal(
    key: &EpochKey,
    kind: Kind,
    payload: &[u8],
    level: i32,
    iv: [u8; IV_LEN],
) -> Result<Vec<u8>, EnvelopeError> {
    let (codec, raw_len, body) = envelope::pack(payload, level)?;
    let ct_len = body.len() + TAG_LEN;
    let header = Header {
        codec,
        kind,
        epoch: key.epoch(),
        iv,
        raw_len,
        ct_len: u32::try_from(ct_len).map_err(|_| EnvelopeError::PayloadTooLarge(ct_len))?,
    }
    .encode();
    let ct = encrypt(key, &iv, &header, &body);
    let mut out = Vec::with_capacity(HEADER_LEN + ct.len());
    out.extend_from_slice(&header);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens a record with the key of its epoch among `keys`: authenticates
/// header and ciphertext, then decompresses (refusing payloads larger than
/// `max_raw_len`). Returns what it holds and its payload.
pub fn open(
    keys: &[EpochKey],
    bytes: &[u8],
    max_raw_len: usize,
) -> Result<(Kind, Vec<u8>), OpenError> {
    let header = read_header(bytes)?;
    let key = key_of(keys, header.epoch).ok_or(OpenError::UnknownEpoch(header.epoch))?;
    let (aad, ct) = bytes.split_at(HEADER_LEN);
    let body = decrypt(key, &header.iv, aad, ct).ok_or(OpenError::Authentication(header.epoch))?;
    let payload = envelope::unpack(header.codec, &body, header.raw_len as usize, max_raw_len)?;
    Ok((header.kind, payload))
}

/// A key check record for `key` (see the module's notes).
pub fn key_check(key: &EpochKey, iv: [u8; IV_LEN]) -> Vec<u8> {
    // A 16-byte payload always fits.
    seal(key, Kind::KeyCheck, KEY_CHECK, 0, iv).unwrap_or_default()
}

/// Whether `key` is the key of the epoch that sealed the key check `record`.
pub fn key_matches(key: &EpochKey, record: &[u8]) -> bool {
    matches!(
        open(std::slice::from_ref(key), record, KEY_CHECK.len()),
        Ok((Kind::KeyCheck, payload)) if payload == KEY_CHECK
    )
}

fn cipher(key: &EpochKey) -> Aes256Gcm {
    Aes256Gcm::new(key.bytes().into())
}

/// AES-256-GCM: the ciphertext of `plaintext` followed by its 16-byte tag.
/// The primitive under [`seal`], exposed for its test vectors.
pub fn encrypt(key: &EpochKey, iv: &[u8; IV_LEN], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    cipher(key)
        .encrypt(
            Nonce::from_slice(iv),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        // AES-GCM fails only for plaintexts over 64 GiB, which no record is.
        .unwrap_or_default()
}

/// AES-256-GCM decryption of `ct` (ciphertext and tag); `None` when it
/// fails authentication.
pub fn decrypt(key: &EpochKey, iv: &[u8; IV_LEN], aad: &[u8], ct: &[u8]) -> Option<Vec<u8>> {
    cipher(key)
        .decrypt(Nonce::from_slice(iv), Payload { msg: ct, aad })
        .ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Bytes from hex digits (test vectors).
    pub(crate) fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn key(epoch: u32, byte: u8) -> EpochKey {
        EpochKey::new(epoch, [byte; 32])
    }

    const IV: [u8; IV_LEN] = [7; IV_LEN];

    #[test]
    fn a_record_opens_with_its_key_and_gives_the_payload_back() {
        let k = key(3, 0x42);
        let payloads: Vec<Vec<u8>> = vec![
            vec![],
            b"x".to_vec(),
            vec![b'a'; 100_000],
            (0..5000u32).flat_map(|i| i.to_le_bytes()).collect(),
        ];
        for kind in [Kind::Update, Kind::Snapshot] {
            for payload in &payloads {
                let sealed = seal(&k, kind, payload, 3, IV).unwrap();
                let header = read_header(&sealed).unwrap();
                assert_eq!((header.kind, header.epoch), (kind, 3));
                assert_eq!(header.raw_len as usize, payload.len());
                assert_eq!(
                    open(&[key(1, 1), k.clone()], &sealed, 1 << 20).unwrap(),
                    (kind, payload.clone())
                );
            }
        }
        let compressible = seal(&k, Kind::Update, &vec![b'a'; 100_000], 3, IV).unwrap();
        assert!(compressible.len() < 1_000, "compressed before encryption");
    }

    #[test]
    fn no_plaintext_is_left_in_a_record() {
        let text = b"the boiler valve is behind the blue door";
        let sealed = seal(&key(1, 9), Kind::Update, text, 0, IV).unwrap();
        assert!(!sealed.windows(10).any(|w| text.windows(10).any(|t| t == w)));
    }

    #[test]
    fn every_altered_header_byte_and_ciphertext_byte_fails() {
        let k = key(5, 0x11);
        let sealed = seal(
            &k,
            Kind::Snapshot,
            b"a note's text, compressed or not",
            3,
            IV,
        )
        .unwrap();
        for at in 0..sealed.len() {
            for bit in [0x01u8, 0x80] {
                let mut altered = sealed.clone();
                altered[at] ^= bit;
                let opened = open(std::slice::from_ref(&k), &altered, 1 << 20);
                assert!(opened.is_err(), "byte {at} bit {bit:#x} went unnoticed");
            }
        }
        // A header that parses but differs is caught by authentication.
        let mut kind = sealed.clone();
        kind[7] = 0;
        assert_eq!(
            open(std::slice::from_ref(&k), &kind, 1 << 20),
            Err(OpenError::Authentication(5))
        );
        let mut iv = sealed.clone();
        iv[12] ^= 1;
        assert_eq!(
            open(std::slice::from_ref(&k), &iv, 1 << 20),
            Err(OpenError::Authentication(5))
        );
        for cut in 0..sealed.len() {
            assert!(open(std::slice::from_ref(&k), &sealed[..cut], 1 << 20).is_err());
        }
    }

    #[test]
    fn a_wrong_key_an_unknown_epoch_and_a_plain_envelope_are_told_apart() {
        let right = key(2, 0xaa);
        let sealed = seal(&right, Kind::Update, b"hello", 0, IV).unwrap();
        assert_eq!(
            open(&[key(2, 0xab)], &sealed, 1 << 20),
            Err(OpenError::Authentication(2))
        );
        assert_eq!(
            open(&[key(1, 0xaa)], &sealed, 1 << 20),
            Err(OpenError::UnknownEpoch(2))
        );
        let plain = envelope::seal(b"hello", 0).unwrap();
        assert_eq!(
            open(&[right], &plain, 1 << 20),
            Err(OpenError::NotEncrypted(1))
        );
        // And version 1 refuses an encrypted record rather than misread it.
        assert!(envelope::open(&sealed, 1 << 20).is_err());
    }

    #[test]
    fn the_key_check_tells_the_right_key_from_a_wrong_one() {
        let right = key(4, 0x01);
        let check = key_check(&right, [9; IV_LEN]);
        assert!(key_matches(&right, &check));
        assert!(!key_matches(&key(4, 0x02), &check));
        assert!(!key_matches(&key(5, 0x01), &check));
        let update = seal(&right, Kind::Update, KEY_CHECK, 0, IV).unwrap();
        assert!(!key_matches(&right, &update), "only a key check counts");
    }

    #[test]
    fn a_lying_length_cannot_blow_up_memory() {
        let k = key(1, 3);
        let mut header = Header {
            codec: Codec::Zstd,
            kind: Kind::Update,
            epoch: 1,
            iv: IV,
            raw_len: u32::MAX,
            ct_len: 0,
        };
        let body = [0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0];
        header.ct_len = (body.len() + TAG_LEN) as u32;
        let aad = header.encode();
        let mut evil = aad.to_vec();
        evil.extend_from_slice(&encrypt(&k, &IV, &aad, &body));
        assert!(matches!(
            open(std::slice::from_ref(&k), &evil, 1024),
            Err(OpenError::Envelope(EnvelopeError::TooLarge { .. }))
        ));
    }

    /// Hearth's own format vector (in ARCHITECTURE.md, and opened there
    /// with another AES-GCM library): key 00..1f, epoch 1, IV 00..0b, the
    /// update "hearth", stored.
    #[test]
    fn the_format_vector_is_stable() {
        let k = EpochKey::new(1, std::array::from_fn(|i| i as u8));
        let iv: [u8; 12] = std::array::from_fn(|i| i as u8);
        let record = seal(&k, Kind::Update, b"hearth", 0, iv).unwrap();
        assert_eq!(
            record,
            hex("4852544802000100000000010001020304050607\
                 08090a0b00000006000000162f67b769b18d30b8\
                 35b2ff3a68403a4a8b3b130b644c")
        );
        assert_eq!(
            open(&[k], &record, 64).unwrap(),
            (Kind::Update, b"hearth".to_vec())
        );
    }

    /// The AES-GCM test case 16 of McGrew and Viega, "The Galois/Counter
    /// Mode of Operation" (the GCM specification submitted to NIST): a
    /// 256-bit key, a 96-bit IV, associated data.
    #[test]
    fn a_published_aes_256_gcm_vector_passes() {
        let k: [u8; 32] = hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
            .try_into()
            .unwrap();
        let k = EpochKey::new(0, k);
        let iv: [u8; 12] = hex("cafebabefacedbaddecaf888").try_into().unwrap();
        let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let plaintext = hex(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
             1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        );
        let expected = hex(
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
             8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662\
             76fc6ece0f4e1768cddf8853bb2d551b",
        );
        assert_eq!(encrypt(&k, &iv, &aad, &plaintext), expected);
        assert_eq!(decrypt(&k, &iv, &aad, &expected), Some(plaintext));
    }

    /// The normative vector of the `%ELO` profile (loro-dev/protocol,
    /// `protocol-e2ee.md`): the same primitive, with a record header as AAD.
    #[test]
    fn the_elo_profile_vector_passes() {
        let k: [u8; 32] = hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
            .try_into()
            .unwrap();
        let k = EpochKey::new(0, k);
        let iv: [u8; 12] = hex("86bcad09d5e7e3d70503a57e").try_into().unwrap();
        let aad = hex("0004010203040103026b310c86bcad09d5e7e3d70503a57e");
        assert_eq!(
            encrypt(&k, &iv, &aad, &hex("01026869")),
            hex("6930a8fbe96cc5f30b67f4bc7f53262e01b62852")
        );
    }
}
