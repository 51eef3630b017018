//! A workspace key wrapped for a pairing link.
//!
//! The owner's device draws a one-time **pairing secret** (32 random
//! bytes) that travels only in the pairing link's fragment, never to a
//! server. It derives a key-encryption key from it and wraps the workspace
//! key; the server keeps the wrapped bytes with the invite and hands them
//! to the device that redeems it, which unwraps them with the secret from
//! the link. The server, its backups, and anyone who reads them hold
//! bytes they cannot open; the link alone, without the server's copy,
//! holds no key either.
//!
//! ```text
//! kek     = HKDF-SHA256(salt = "hearth pairing v1", ikm = secret, info = workspace id (32 ASCII hex), L = 32)
//! wrapped = b"HRTK" · version 1 · epoch: u32 BE · iv: 12 bytes · AES-256-GCM(kek, iv, aad = bytes 0..21, key) (48 bytes)
//! ```
//!
//! 69 bytes in all. The workspace id in the derivation ties a wrapped key
//! to its workspace: bytes moved to another workspace's invite do not
//! unwrap.

use hkdf::Hkdf;
use sha2::Sha256;

use crate::id::WorkspaceId;
use crate::sealed::{self, EpochKey, IV_LEN};

/// The first four bytes of a wrapped key.
pub const MAGIC: [u8; 4] = *b"HRTK";
/// The wrapped-key format this code writes.
pub const VERSION: u8 = 1;
/// Bytes before the ciphertext (and the associated data).
pub const HEADER_LEN: usize = 21;
/// The length of a wrapped key.
pub const WRAPPED_LEN: usize = HEADER_LEN + 32 + sealed::TAG_LEN;
/// The salt of the pairing derivation.
const PAIRING_SALT: &[u8] = b"hearth pairing v1";

/// Why a wrapped key did not unwrap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnwrapError {
    #[error("the wrapped key is {0} bytes, not {WRAPPED_LEN}")]
    Length(usize),
    #[error("the bytes are not a Hearth wrapped key")]
    BadMagic,
    #[error("wrapped-key version {0} is newer than this app understands; update the app")]
    UnknownVersion(u8),
    #[error(
        "the key does not unwrap: the pairing link is not the one this invite was made with, or the key was altered"
    )]
    Authentication,
    #[error("the server holds no wrapped key of this workspace")]
    NoKeys,
}

/// HKDF-SHA256 (RFC 5869) into `out`. The primitive under [`wrap`],
/// exposed for its test vectors.
pub fn hkdf_sha256(salt: &[u8], ikm: &[u8], info: &[u8], out: &mut [u8]) {
    // `expand` fails only for outputs over 255 hash lengths (8,160
    // bytes); every caller asks for 32 or for a test vector's 42.
    let _ = Hkdf::<Sha256>::new(Some(salt), ikm).expand(info, out);
}

fn pairing_kek(secret: &[u8; 32], workspace: &WorkspaceId) -> EpochKey {
    let mut kek = [0u8; 32];
    hkdf_sha256(
        PAIRING_SALT,
        secret,
        workspace.as_str().as_bytes(),
        &mut kek,
    );
    EpochKey::new(0, kek)
}

/// Wraps `key` for the pairing link whose secret is `secret`; `iv`: 12
/// bytes from a cryptographic random source.
pub fn wrap(
    key: &EpochKey,
    secret: &[u8; 32],
    workspace: &WorkspaceId,
    iv: [u8; IV_LEN],
) -> Vec<u8> {
    wrap_with(&pairing_kek(secret, workspace), key, iv)
}

/// Unwraps a key [`wrap`] made, with the secret from the pairing link.
pub fn unwrap(
    wrapped: &[u8],
    secret: &[u8; 32],
    workspace: &WorkspaceId,
) -> Result<EpochKey, UnwrapError> {
    unwrap_with(&pairing_kek(secret, workspace), wrapped)
}

/// Every key epoch of `ring`, each wrapped for the pairing link whose
/// secret is `secret` ([`wrap`]), one after another: `69 × n` bytes, what
/// an invite carries (a device paired after a rotation needs the earlier
/// epochs to read what was written under them). `iv` draws 12 fresh bytes.
pub fn wrap_ring(
    ring: &crate::keys::Keyring,
    secret: &[u8; 32],
    workspace: &WorkspaceId,
    mut iv: impl FnMut() -> [u8; IV_LEN],
) -> Vec<u8> {
    let kek = pairing_kek(secret, workspace);
    ring.epochs
        .iter()
        .flat_map(|key| wrap_with(&kek, key, iv()))
        .collect()
}

/// The keyring [`wrap_ring`] wrapped (one wrapped key, as earlier versions
/// sent, is a ring of one); it writes with the newest epoch.
pub fn unwrap_ring(
    wrapped: &[u8],
    secret: &[u8; 32],
    workspace: &WorkspaceId,
) -> Result<crate::keys::Keyring, UnwrapError> {
    if wrapped.is_empty() || !wrapped.len().is_multiple_of(WRAPPED_LEN) {
        return Err(UnwrapError::Length(wrapped.len()));
    }
    let kek = pairing_kek(secret, workspace);
    let epochs = wrapped
        .chunks(WRAPPED_LEN)
        .map(|one| unwrap_with(&kek, one))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(crate::keys::Keyring::of(epochs))
}

/// Wraps `key` under the key-encryption key `kek` (from a pairing secret,
/// or from a recovery key: see `recovery`).
pub fn wrap_with(kek: &EpochKey, key: &EpochKey, iv: [u8; IV_LEN]) -> Vec<u8> {
    let mut header = Vec::with_capacity(WRAPPED_LEN);
    header.extend_from_slice(&MAGIC);
    header.push(VERSION);
    header.extend_from_slice(&key.epoch().to_be_bytes());
    header.extend_from_slice(&iv);
    let ct = sealed::encrypt(kek, &iv, &header, key.bytes());
    header.extend_from_slice(&ct);
    header
}

/// Unwraps a key [`wrap_with`] wrapped under `kek`.
pub fn unwrap_with(kek: &EpochKey, wrapped: &[u8]) -> Result<EpochKey, UnwrapError> {
    if wrapped.len() != WRAPPED_LEN {
        return Err(UnwrapError::Length(wrapped.len()));
    }
    let (header, ct) = wrapped.split_at(HEADER_LEN);
    if header[0..4] != MAGIC {
        return Err(UnwrapError::BadMagic);
    }
    if header[4] != VERSION {
        return Err(UnwrapError::UnknownVersion(header[4]));
    }
    let epoch = u32::from_be_bytes([header[5], header[6], header[7], header[8]]);
    let mut iv = [0u8; IV_LEN];
    iv.copy_from_slice(&header[9..21]);
    let plain = sealed::decrypt(kek, &iv, header, ct).ok_or(UnwrapError::Authentication)?;
    let key: [u8; 32] = plain.try_into().map_err(|_| UnwrapError::Authentication)?;
    Ok(EpochKey::new(epoch, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sealed::tests::hex;

    fn ws(byte: u8) -> WorkspaceId {
        WorkspaceId::from_random([byte; 16])
    }

    #[test]
    fn a_key_unwraps_with_its_links_secret_and_workspace_only() {
        let key = EpochKey::new(7, [0x5a; 32]);
        let secret = [3u8; 32];
        let wrapped = wrap(&key, &secret, &ws(1), [9; 12]);
        assert_eq!(wrapped.len(), WRAPPED_LEN);
        assert_eq!(unwrap(&wrapped, &secret, &ws(1)), Ok(key.clone()));
        assert_eq!(
            unwrap(&wrapped, &[4u8; 32], &ws(1)),
            Err(UnwrapError::Authentication),
            "another link's secret"
        );
        assert_eq!(
            unwrap(&wrapped, &secret, &ws(2)),
            Err(UnwrapError::Authentication),
            "moved to another workspace's invite"
        );
        assert!(
            !wrapped.windows(8).any(|w| w == [0x5a; 8]),
            "the key itself is not in the wrapped bytes"
        );
    }

    #[test]
    fn every_altered_or_missing_byte_fails() {
        let key = EpochKey::new(1, [0x11; 32]);
        let secret = [8u8; 32];
        let wrapped = wrap(&key, &secret, &ws(1), [2; 12]);
        for at in 0..wrapped.len() {
            let mut altered = wrapped.clone();
            altered[at] ^= 0x01;
            assert!(unwrap(&altered, &secret, &ws(1)).is_err(), "byte {at}");
        }
        for cut in 0..wrapped.len() {
            assert_eq!(
                unwrap(&wrapped[..cut], &secret, &ws(1)),
                Err(UnwrapError::Length(cut))
            );
        }
    }

    #[test]
    fn a_whole_keyring_travels_in_one_invite() {
        let ring = crate::keys::Keyring::of(vec![
            EpochKey::new(1, [1; 32]),
            EpochKey::new(2, [2; 32]),
            EpochKey::new(3, [3; 32]),
        ]);
        let secret = [5u8; 32];
        let mut n = 0u8;
        let wrapped = wrap_ring(&ring, &secret, &ws(1), || {
            n += 1;
            [n; 12]
        });
        assert_eq!(wrapped.len(), 3 * WRAPPED_LEN);
        let back = unwrap_ring(&wrapped, &secret, &ws(1)).unwrap();
        assert_eq!(back.current, 3);
        assert_eq!(back.epochs, ring.epochs);
        let one = wrap(&EpochKey::new(1, [1; 32]), &secret, &ws(1), [7; 12]);
        assert_eq!(unwrap_ring(&one, &secret, &ws(1)).unwrap().current, 1);
        assert_eq!(
            unwrap_ring(&wrapped[..100], &secret, &ws(1)),
            Err(UnwrapError::Length(100))
        );
        assert!(unwrap_ring(&wrapped, &[6u8; 32], &ws(1)).is_err());
    }

    /// RFC 5869, test case 1.
    #[test]
    fn hkdf_passes_the_rfc_5869_vector() {
        let mut okm = [0u8; 42];
        hkdf_sha256(
            &hex("000102030405060708090a0b0c"),
            &hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"),
            &hex("f0f1f2f3f4f5f6f7f8f9"),
            &mut okm,
        );
        assert_eq!(
            okm.to_vec(),
            hex(
                "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
            )
        );
    }
}
