//! Signed records: the blob envelope's version 3, which devices write
//! from this version on. Version 2 (`sealed`) is still read, for records
//! written before; key checks stay version 2 (they hold no content).
//!
//! Against version 2, a record is now bound to its workspace (the
//! workspace id is part of the associated data and of the signature), says
//! which device wrote it (its Ed25519 public key and signature, inside the
//! ciphertext, so the server does not learn who wrote what), and shows
//! the server a size class instead of a length (the plaintext is padded to
//! its Padmé length, and the payload's length is inside). Layout (integers
//! big-endian):
//!
//! ```text
//! offset size field
//! 0      4    magic    b"HRTH"
//! 4      1    version  3
//! 5      1    flags    bit 0 = 1: encrypted (always set); other bits 0
//! 6      1    kind     0 = update, 1 = snapshot (key checks are version 2)
//! 7      1    reserved 0
//! 8      4    epoch    the key epoch whose key sealed the record
//! 12     12   iv       the AES-GCM nonce, random per record
//! 24     4    ct_len   length of what follows the header: ciphertext and 16-byte tag
//! 28     ..   ct       AES-256-GCM(key, iv, aad = bytes 0..28 · workspace id (32 ASCII hex), plaintext)
//!
//! plaintext:
//! 0      1    codec    of the body: 0 = stored, 1 = zstd
//! 1      4    raw_len  length of the payload after decompression
//! 5      4    body_len length of the body
//! 9      32   signer   the writing device's Ed25519 public key
//! 41     64   sig      Ed25519(signer, "hearth record v3" · bytes 0..28 of the record
//!                      · workspace id · plaintext bytes 0..41 · body)
//! 105    ..   body     the payload, zstd-compressed when that makes it smaller
//! ..     ..   padding  zero bytes, up to padme(105 + body_len) bytes of plaintext
//! ```
//!
//! padme(L) (Nikitin et al., "Reducing Metadata Leakage from Encrypted
//! Files and Communication with PURBs", 2019): with E = ⌊log2 L⌋ and
//! S = ⌊log2 E⌋ + 1, L rounded up to a multiple of 2^(E−S); at most 12%
//! more bytes, and a length class of O(log log L) bits.

use crate::envelope::{self, Codec, EnvelopeError, MAGIC};
use crate::id::WorkspaceId;
use crate::identity::{DeviceSigner, SIGNATURE_LEN, verify};
use crate::keys::{EpochKey, key_of};
use crate::sealed::{self, IV_LEN, Kind, OpenError, TAG_LEN};

/// The envelope version of a signed record.
pub const VERSION: u8 = 3;
/// Bytes before the ciphertext.
pub const HEADER_LEN: usize = 28;
/// Bytes of the plaintext before the body.
pub const INNER_LEN: usize = 105;
const DOMAIN: &[u8] = b"hearth record v3";

/// The Padmé length of `len` bytes (see the module's notes).
pub fn padme(len: usize) -> usize {
    if len < 2 {
        return len;
    }
    let e = usize::BITS - 1 - len.leading_zeros();
    let s = u32::BITS - e.leading_zeros();
    let mask = (1usize << (e - s)) - 1;
    (len + mask) & !mask
}

/// What a record's plaintext header says, read without a key (either
/// version).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peek {
    pub version: u8,
    pub kind: Kind,
    pub epoch: u32,
}

/// A record opened: what it holds, under which epoch, and (version 3)
/// which device signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub version: u8,
    pub kind: Kind,
    pub epoch: u32,
    pub signer: Option<[u8; 32]>,
    pub payload: Vec<u8>,
}

/// Reads an encrypted record's header (version 2 or 3) without a key.
pub fn peek(bytes: &[u8]) -> Result<Peek, OpenError> {
    if bytes.get(4) != Some(&VERSION) {
        let header = sealed::read_header(bytes)?;
        return Ok(Peek {
            version: sealed::VERSION,
            kind: header.kind,
            epoch: header.epoch,
        });
    }
    let head = bytes
        .get(..HEADER_LEN)
        .ok_or(EnvelopeError::TooShort(bytes.len()))?;
    if head[..4] != MAGIC {
        return Err(EnvelopeError::BadMagic.into());
    }
    if head[5] != sealed::FLAG_ENCRYPTED || head[7] != 0 {
        return Err(EnvelopeError::UnsupportedFlags(head[5]).into());
    }
    let kind = match head[6] {
        0 => Kind::Update,
        1 => Kind::Snapshot,
        other => return Err(OpenError::UnknownKind(other)),
    };
    let be = |at: usize| u32::from_be_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
    let actual = bytes.len() - HEADER_LEN;
    if be(24) as usize != actual || actual < TAG_LEN + INNER_LEN {
        return Err(OpenError::CiphertextLength {
            expected: be(24) as usize,
            actual,
        });
    }
    Ok(Peek {
        version: VERSION,
        kind,
        epoch: be(8),
    })
}

fn signed_message(header: &[u8], workspace: &WorkspaceId, inner: &[u8], body: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(DOMAIN.len() + HEADER_LEN + 32 + 41 + body.len());
    message.extend_from_slice(DOMAIN);
    message.extend_from_slice(header);
    message.extend_from_slice(workspace.as_str().as_bytes());
    message.extend_from_slice(inner);
    message.extend_from_slice(body);
    message
}

fn aad(header: &[u8], workspace: &WorkspaceId) -> Vec<u8> {
    let mut aad = Vec::with_capacity(HEADER_LEN + 32);
    aad.extend_from_slice(header);
    aad.extend_from_slice(workspace.as_str().as_bytes());
    aad
}

/// Seals `payload` as a signed record of `kind` (an update or a snapshot)
/// of `workspace` under `key`, signed by `signer`, compressed at `level`
/// when that makes it smaller, with `iv`: 12 bytes from a cryptographic
/// random source, never used twice with a key.
pub fn seal(
    key: &EpochKey,
    kind: Kind,
    payload: &[u8],
    level: i32,
    iv: [u8; IV_LEN],
    workspace: &WorkspaceId,
    signer: &DeviceSigner,
) -> Result<Vec<u8>, EnvelopeError> {
    let (codec, raw_len, body) = envelope::pack(payload, level)?;
    let plain_len = padme(INNER_LEN + body.len());
    let ct_len = plain_len + TAG_LEN;
    let too_large = |_| EnvelopeError::PayloadTooLarge(ct_len);
    let mut header = [0u8; HEADER_LEN];
    header[..4].copy_from_slice(&MAGIC);
    header[4] = VERSION;
    header[5] = sealed::FLAG_ENCRYPTED;
    header[6] = match kind {
        Kind::Snapshot => 1,
        _ => 0,
    };
    header[8..12].copy_from_slice(&key.epoch().to_be_bytes());
    header[12..24].copy_from_slice(&iv);
    header[24..28].copy_from_slice(&u32::try_from(ct_len).map_err(too_large)?.to_be_bytes());
    let mut plain = Vec::with_capacity(plain_len);
    plain.push(codec.byte());
    plain.extend_from_slice(&raw_len.to_be_bytes());
    let body_len = u32::try_from(body.len()).map_err(too_large)?;
    plain.extend_from_slice(&body_len.to_be_bytes());
    plain.extend_from_slice(&signer.public());
    let signature = signer.sign(&signed_message(&header, workspace, &plain, &body));
    plain.extend_from_slice(&signature);
    plain.extend_from_slice(&body);
    plain.resize(plain_len, 0);
    let ct = sealed::encrypt(key, &iv, &aad(&header, workspace), &plain);
    zeroize::Zeroize::zeroize(&mut plain);
    let mut out = Vec::with_capacity(HEADER_LEN + ct.len());
    out.extend_from_slice(&header);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens a record of either version with the key of its epoch among
/// `keys`. A version 3 record must be of `workspace` and carry a valid
/// signature; version 2 records carry neither (the caller decides whether
/// to trust one). Payloads larger than `max_raw_len` are refused.
pub fn open(
    keys: &[EpochKey],
    bytes: &[u8],
    workspace: &WorkspaceId,
    max_raw_len: usize,
) -> Result<Opened, OpenError> {
    let peek = peek(bytes)?;
    if peek.version != VERSION {
        let (kind, payload) = sealed::open(keys, bytes, max_raw_len)?;
        return Ok(Opened {
            version: peek.version,
            kind,
            epoch: peek.epoch,
            signer: None,
            payload,
        });
    }
    let key = key_of(keys, peek.epoch).ok_or(OpenError::UnknownEpoch(peek.epoch))?;
    let (header, ct) = bytes.split_at(HEADER_LEN);
    let mut iv = [0u8; IV_LEN];
    iv.copy_from_slice(&header[12..24]);
    let plain = sealed::decrypt(key, &iv, &aad(header, workspace), ct)
        .ok_or(OpenError::Authentication(peek.epoch))?;
    let inner = plain.get(..INNER_LEN).ok_or(OpenError::Inner)?;
    let be =
        |at: usize| u32::from_be_bytes([inner[at], inner[at + 1], inner[at + 2], inner[at + 3]]);
    let codec = Codec::of_byte(inner[0])?;
    let raw_len = be(1) as usize;
    let body_len = be(5) as usize;
    let body = plain
        .get(INNER_LEN..INNER_LEN.saturating_add(body_len))
        .ok_or(OpenError::Inner)?;
    let mut signer = [0u8; 32];
    signer.copy_from_slice(&inner[9..41]);
    let mut signature = [0u8; SIGNATURE_LEN];
    signature.copy_from_slice(&inner[41..INNER_LEN]);
    if !verify(
        &signer,
        &signed_message(header, workspace, &inner[..41], body),
        &signature,
    ) {
        return Err(OpenError::Signature);
    }
    let payload = envelope::unpack(codec, body, raw_len, max_raw_len)?;
    Ok(Opened {
        version: VERSION,
        kind: peek.kind,
        epoch: peek.epoch,
        signer: Some(signer),
        payload,
    })
}

#[cfg(test)]
#[path = "signed_tests.rs"]
mod tests;
