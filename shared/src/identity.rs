//! A device's identity in an encrypted workspace: its X25519 public key
//! (for key epochs wrapped for it) and its Ed25519 signing key (every
//! record it sends is signed), both from the one device secret it keeps.
//!
//! ```text
//! x25519 public  = X25519(device secret, 9)
//! signing seed   = HKDF-SHA256(salt = "hearth device signing v1", ikm = device secret, info = "", L = 32)
//! ed25519 public = Ed25519 public key of the signing seed (RFC 8032)
//! fingerprint    = SHA-256("hearth device fingerprint v1" · x25519 public · ed25519 public),
//!                  its first 10 bytes in Crockford base32, grouped 4-4-4-4
//! ```
//!
//! Deriving the signing key from the device secret means every device
//! that already had a device secret has a signing key with nothing new to
//! store or to pair again.

use ed25519_dalek::{Signer as _, Verifier as _};
use sha2::{Digest, Sha256};

use crate::keys::DeviceSecret;
use crate::keywrap::hkdf_sha256;

/// The length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
const SIGNING_SALT: &[u8] = b"hearth device signing v1";
const FINGERPRINT_DOMAIN: &[u8] = b"hearth device fingerprint v1";

/// What a device holds to sign: derived from its [`DeviceSecret`], wiped
/// when dropped (ed25519-dalek's `zeroize` feature), never printed.
pub struct DeviceSigner {
    key: ed25519_dalek::SigningKey,
}

impl DeviceSigner {
    /// The signer of the device whose secret is `secret`.
    pub fn of(secret: &DeviceSecret) -> Self {
        let mut seed = [0u8; 32];
        hkdf_sha256(SIGNING_SALT, secret.bytes(), b"", &mut seed);
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        zeroize::Zeroize::zeroize(&mut seed);
        Self { key }
    }

    /// The public key that verifies this device's signatures.
    pub fn public(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.key.sign(message).to_bytes()
    }
}

impl std::fmt::Debug for DeviceSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceSigner(..)")
    }
}

/// Whether `signature` is `public`'s over `message` (strict RFC 8032
/// verification: no malleable or small-order keys).
pub fn verify(public: &[u8; 32], message: &[u8], signature: &[u8; SIGNATURE_LEN]) -> bool {
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(public) else {
        return false;
    };
    if key.is_weak() {
        return false;
    }
    let signature = ed25519_dalek::Signature::from_bytes(signature);
    key.verify_strict(message, &signature).is_ok() && key.verify(message, &signature).is_ok()
}

/// A device's two public keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceKeys {
    pub x25519: [u8; 32],
    pub ed25519: [u8; 32],
}

impl DeviceKeys {
    /// The public keys of the device whose secret is `secret`.
    pub fn of(secret: &DeviceSecret) -> Self {
        Self {
            x25519: crate::devicekey::public_key(secret),
            ed25519: DeviceSigner::of(secret).public(),
        }
    }

    /// The short text a person compares between two screens, e.g.
    /// `7K2M-Q9XD-4H1B-ZT0E`: 80 bits of a hash of both public keys.
    pub fn fingerprint(&self) -> String {
        let mut hash = Sha256::new();
        hash.update(FINGERPRINT_DOMAIN);
        hash.update(self.x25519);
        hash.update(self.ed25519);
        let digest = hash.finalize();
        let mut bits = 0u32;
        let mut held = 0u32;
        let mut out = String::with_capacity(19);
        const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        for byte in digest.iter().take(10) {
            bits = (bits << 8) | u32::from(*byte);
            held += 8;
            while held >= 5 {
                held -= 5;
                if !out.is_empty() && out.len() % 5 == 4 {
                    out.push('-');
                }
                out.push(char::from(ALPHABET[((bits >> held) & 31) as usize]));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::sealed::tests::hex;

    #[test]
    fn a_signature_verifies_only_for_its_key_and_message() {
        let phone = DeviceSigner::of(&DeviceSecret::new([1; 32]));
        let laptop = DeviceSigner::of(&DeviceSecret::new([2; 32]));
        let sig = phone.sign(b"a record");
        assert!(verify(&phone.public(), b"a record", &sig));
        assert!(!verify(&laptop.public(), b"a record", &sig));
        assert!(!verify(&phone.public(), b"a recorD", &sig));
        let mut bad = sig;
        bad[10] ^= 1;
        assert!(!verify(&phone.public(), b"a record", &bad));
        // The identity point and other weak keys verify nothing.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(!verify(&identity, b"", &[0; 64]));
    }

    #[test]
    fn the_keys_and_fingerprint_are_stable_and_differ_per_device() {
        let a = DeviceKeys::of(&DeviceSecret::new([1; 32]));
        let b = DeviceKeys::of(&DeviceSecret::new([2; 32]));
        assert_eq!(a, DeviceKeys::of(&DeviceSecret::new([1; 32])));
        assert_ne!(a.fingerprint(), b.fingerprint());
        let text = a.fingerprint();
        assert_eq!(text.len(), 19, "{text}");
        assert_eq!(text.split('-').count(), 4, "{text}");
        assert!(text.chars().all(|c| c == '-' || c.is_ascii_alphanumeric()));
        // Either key changed changes it.
        let swapped = DeviceKeys {
            x25519: b.x25519,
            ..a
        };
        assert_ne!(swapped.fingerprint(), text);
    }

    /// RFC 8032, section 7.1, TEST 2: the one-byte message.
    #[test]
    fn ed25519_passes_the_rfc_8032_vector() {
        let seed: [u8; 32] =
            hex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
                .try_into()
                .unwrap();
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        assert_eq!(
            key.verifying_key().to_bytes().to_vec(),
            hex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
        );
        let sig = key.sign(&[0x72]).to_bytes();
        assert_eq!(
            sig.to_vec(),
            hex(
                "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da\
                 085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
            )
        );
        assert!(verify(&key.verifying_key().to_bytes(), &[0x72], &sig));
    }
}
