//! The recovery key: what a person writes down (or prints as a QR code)
//! to get a workspace back after losing every device.
//!
//! It is 32 random bytes (256 bits, the full entropy of a workspace key),
//! followed by a 16-bit check (the first two bytes of their SHA-256), in
//! Crockford's base32: 55 characters in 11 groups of five,
//! `7QX2M-…`. Reading is forgiving: case, spaces and dashes do not
//! matter, `O` reads as `0`, `I` and `L` as `1`; a mistyped character is
//! caught by the check (all but one in 65,536 mistakes are).
//!
//! From it (HKDF-SHA256, `ikm` = the 32 bytes, `L` = 32):
//! - the **recovery credential** (salt = "hearth recovery credential v1",
//!   info empty), which the device sends the server to recover; the server
//!   keeps only its SHA-256 and finds the workspace by it, so a person
//!   needs nothing but the server's address and the recovery key;
//! - the **recovery wrapping key** (salt = "hearth recovery wrap v1",
//!   info = the workspace id, 32 ASCII hex), under which the owner's device
//!   wraps every key epoch (`keywrap::wrap_with`) for the server to keep.
//!
//! Each workspace gets a recovery key of its own. The server never has
//! the recovery key itself, so the wrapped keys it keeps open nothing for
//! it, and its copy of the credential's hash lets no one recover.

use sha2::{Digest as _, Sha256};

use crate::id::WorkspaceId;
use crate::keys::Keyring;
use crate::keywrap::{self, UnwrapError, hkdf_sha256};
use crate::sealed::{EpochKey, IV_LEN};

/// Crockford's base32 alphabet (no I, L, O, U).
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters in a recovery key (272 bits at 5 per character).
pub const CHARS: usize = 55;
/// Characters per group as shown.
const GROUP: usize = 5;

/// A recovery key. Its bytes are never printed by `Debug`, and are wiped
/// when it is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryKey([u8; 32]);

impl Drop for RecoveryKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl std::fmt::Debug for RecoveryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryKey(…)")
    }
}

/// Why a text is not a recovery key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecoveryKeyError {
    #[error("a recovery key has {CHARS} letters and digits; this has {0}")]
    Length(usize),
    #[error("“{0}” is not in a recovery key (they use digits and the letters A–Z but U)")]
    BadCharacter(char),
    #[error("a character is mistyped: the recovery key does not check out")]
    Check,
}

fn check(key: &[u8; 32]) -> [u8; 2] {
    let digest = Sha256::digest(key);
    [digest[0], digest[1]]
}

impl RecoveryKey {
    /// A recovery key from 32 bytes of a cryptographic random source.
    pub fn new(random: [u8; 32]) -> Self {
        Self(random)
    }

    /// The key as a person writes it: 11 groups of five, joined by `-`.
    pub fn to_text(&self) -> String {
        let mut bytes = self.0.to_vec();
        bytes.extend_from_slice(&check(&self.0));
        let mut chars = String::with_capacity(CHARS + CHARS / GROUP);
        let (mut acc, mut bits, mut written) = (0u32, 0u32, 0usize);
        let mut push = |value: u32, chars: &mut String| {
            if written > 0 && written % GROUP == 0 {
                chars.push('-');
            }
            chars.push(char::from(ALPHABET[(value & 31) as usize]));
            written += 1;
        };
        for byte in bytes {
            acc = (acc << 8) | u32::from(byte);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                push(acc >> bits, &mut chars);
            }
        }
        if bits > 0 {
            push(acc << (5 - bits), &mut chars);
        }
        chars
    }

    /// Reads a recovery key as a person typed it.
    pub fn parse(text: &str) -> Result<Self, RecoveryKeyError> {
        let mut values = Vec::with_capacity(CHARS);
        for c in text.chars() {
            let c = match c.to_ascii_uppercase() {
                ' ' | '-' | '\t' | '\n' | '\r' => continue,
                'O' => '0',
                'I' | 'L' => '1',
                c => c,
            };
            let value = ALPHABET
                .iter()
                .position(|&a| char::from(a) == c)
                .ok_or(RecoveryKeyError::BadCharacter(c))?;
            values.push(value as u32);
        }
        if values.len() != CHARS {
            return Err(RecoveryKeyError::Length(values.len()));
        }
        let mut bytes = Vec::with_capacity(34);
        let (mut acc, mut bits) = (0u32, 0u32);
        for value in values {
            acc = (acc << 5) | value;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                bytes.push((acc >> bits) as u8);
            }
        }
        // The last character's spare bits are zero in a key this code wrote.
        if acc & ((1 << bits) - 1) != 0 {
            return Err(RecoveryKeyError::Check);
        }
        let (key, sum) = bytes.split_at(32);
        let key: [u8; 32] = key.try_into().map_err(|_| RecoveryKeyError::Check)?;
        if sum != check(&key) {
            return Err(RecoveryKeyError::Check);
        }
        Ok(Self(key))
    }

    /// What the device sends the server to prove it holds the recovery key
    /// (the server keeps only [`credential_hash`] of it, and finds the
    /// workspace by that).
    pub fn credential(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        hkdf_sha256(b"hearth recovery credential v1", &self.0, b"", &mut out);
        out
    }

    /// Every key epoch of `ring`, wrapped under the recovery wrapping key
    /// of `workspace`, for the server to keep; `iv` draws a fresh 12-byte
    /// IV from a cryptographic random source for each.
    pub fn wrap_keys(
        &self,
        ring: &Keyring,
        workspace: &WorkspaceId,
        iv: impl FnMut() -> [u8; IV_LEN],
    ) -> Vec<Vec<u8>> {
        wrap_epochs(&self.wrapping_key(workspace), ring, iv)
    }

    /// The keyring [`RecoveryKey::wrap_keys`] wrapped: the newest epoch is
    /// the one to write with.
    pub fn unwrap_keys(
        &self,
        wrapped: &[Vec<u8>],
        workspace: &WorkspaceId,
    ) -> Result<Keyring, UnwrapError> {
        let kek = self.wrapping_key(workspace);
        let epochs = wrapped
            .iter()
            .map(|w| keywrap::unwrap_with(&kek, w))
            .collect::<Result<Vec<_>, _>>()?;
        if epochs.is_empty() {
            return Err(UnwrapError::NoKeys);
        }
        Ok(Keyring::of(epochs))
    }

    /// What the owner's device keeps of this key to wrap later key epochs
    /// for it (see [`crate::keys::RecoveryWrap`]).
    pub fn keep(&self, workspace: &WorkspaceId) -> crate::keys::RecoveryWrap {
        crate::keys::RecoveryWrap {
            credential_hash: credential_hash(&self.credential()),
            key: *self.wrapping_key(workspace).bytes(),
        }
    }

    /// The key under which the owner's device wraps every key epoch of
    /// `workspace` for the server to keep.
    pub fn wrapping_key(&self, workspace: &WorkspaceId) -> EpochKey {
        let mut out = [0u8; 32];
        hkdf_sha256(
            b"hearth recovery wrap v1",
            &self.0,
            workspace.as_str().as_bytes(),
            &mut out,
        );
        EpochKey::new(0, out)
    }
}

impl crate::keys::RecoveryWrap {
    /// The recovery wrapping key it keeps.
    pub fn wrapping_key(&self) -> EpochKey {
        EpochKey::new(0, self.key)
    }

    /// Every key epoch of `ring` wrapped for the recovery key, as
    /// [`RecoveryKey::wrap_keys`] wraps them, without the key itself.
    pub fn wrap_keys(&self, ring: &Keyring, iv: impl FnMut() -> [u8; IV_LEN]) -> Vec<Vec<u8>> {
        wrap_epochs(&self.wrapping_key(), ring, iv)
    }
}

/// Every epoch of `ring` wrapped under `kek`, a fresh IV each.
fn wrap_epochs(
    kek: &EpochKey,
    ring: &Keyring,
    mut iv: impl FnMut() -> [u8; IV_LEN],
) -> Vec<Vec<u8>> {
    ring.epochs
        .iter()
        .map(|key| keywrap::wrap_with(kek, key, iv()))
        .collect()
}

/// What the server keeps of a recovery credential.
pub fn credential_hash(credential: &[u8; 32]) -> [u8; 32] {
    Sha256::digest(credential).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keywrap;

    fn ws() -> WorkspaceId {
        WorkspaceId::from_random([4; 16])
    }

    #[test]
    fn a_recovery_key_is_written_in_eleven_groups_and_read_back() {
        for seed in 0..50u8 {
            let key =
                RecoveryKey::new(std::array::from_fn(|i| (i as u8).wrapping_mul(seed) ^ seed));
            let text = key.to_text();
            assert_eq!(text.len(), CHARS + 10, "{text}");
            assert_eq!(text.split('-').count(), 11, "{text}");
            assert!(text.split('-').all(|g| g.len() == 5), "{text}");
            assert_eq!(RecoveryKey::parse(&text), Ok(key.clone()));
            // As a person might type it.
            let typed = text
                .to_lowercase()
                .replace('-', " ")
                .replace('0', "o")
                .replace('1', "l");
            assert_eq!(RecoveryKey::parse(&typed), Ok(key));
        }
    }

    #[test]
    fn a_mistyped_character_is_caught() {
        let text = RecoveryKey::new([0x3c; 32]).to_text();
        let chars: Vec<char> = text.chars().collect();
        for (at, &c) in chars.iter().enumerate() {
            if c == '-' {
                continue;
            }
            for &other in ALPHABET {
                let other = char::from(other);
                if other == c {
                    continue;
                }
                let mut typo = chars.clone();
                typo[at] = other;
                let typo: String = typo.into_iter().collect();
                assert!(RecoveryKey::parse(&typo).is_err(), "{typo} was taken");
            }
        }
        assert_eq!(
            RecoveryKey::parse(&text[..20]),
            Err(RecoveryKeyError::Length(17))
        );
        assert_eq!(
            RecoveryKey::parse(&text.replace(&text[0..1], "U")),
            Err(RecoveryKeyError::BadCharacter('U'))
        );
    }

    #[test]
    fn the_credential_and_the_wrapping_key_differ_and_the_key_is_per_workspace() {
        let key = RecoveryKey::new([9; 32]);
        let other = WorkspaceId::from_random([5; 16]);
        assert_ne!(key.wrapping_key(&ws()), key.wrapping_key(&other));
        assert_ne!(&key.credential(), key.wrapping_key(&ws()).bytes());
        assert_ne!(credential_hash(&key.credential()), key.credential());
        assert_ne!(RecoveryKey::new([8; 32]).credential(), key.credential());
        // Every key epoch comes back with the recovery key alone.
        let epoch = EpochKey::new(3, [0x77; 32]);
        let wrapped = keywrap::wrap_with(&key.wrapping_key(&ws()), &epoch, [1; 12]);
        let again = RecoveryKey::parse(&key.to_text()).unwrap();
        assert_eq!(
            keywrap::unwrap_with(&again.wrapping_key(&ws()), &wrapped),
            Ok(epoch)
        );
        assert!(
            keywrap::unwrap_with(&RecoveryKey::new([8; 32]).wrapping_key(&ws()), &wrapped).is_err()
        );
    }

    #[test]
    fn every_epoch_of_a_keyring_comes_back_and_the_newest_writes() {
        let key = RecoveryKey::new([6; 32]);
        let ring = Keyring::of(vec![EpochKey::new(1, [1; 32]), EpochKey::new(2, [2; 32])]);
        let mut n = 0u8;
        let wrapped = key.wrap_keys(&ring, &ws(), || {
            n += 1;
            [n; 12]
        });
        assert_eq!(wrapped.len(), 2);
        assert_ne!(wrapped[0][9..21], wrapped[1][9..21], "a fresh IV each");
        assert_eq!(key.unwrap_keys(&wrapped, &ws()), Ok(ring));
        assert!(
            key.unwrap_keys(&wrapped, &WorkspaceId::from_random([5; 16]))
                .is_err(),
            "another workspace's"
        );
        assert!(key.unwrap_keys(&[], &ws()).is_err());
    }
}
