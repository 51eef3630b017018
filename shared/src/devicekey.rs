//! A workspace key wrapped for one device's X25519 public key.
//!
//! Each device of an encrypted workspace draws an X25519 secret key
//! ([`DeviceSecret`]) and registers its public key with its token
//! (`PUT …/device-key`). When the owner's device rotates the workspace key
//! (after removing a device), it wraps the new epoch's key for every
//! remaining device's public key, and the server keeps one copy per
//! device (`PUT …/keys/{epoch}/devices`); a device that comes back after a
//! rotation fetches its copies (`GET …/device-key`) and unwraps them with
//! its secret. A removed device's token is revoked, so it gets no copy.
//!
//! ```text
//! e       = 32 fresh random bytes (an ephemeral X25519 secret), E = X25519(e, 9)
//! shared  = X25519(e, recipient's public key)      (refused if all zero)
//! kek     = HKDF-SHA256(salt = "hearth device wrap v1", ikm = shared,
//!                       info = workspace id (32 ASCII hex) · E · recipient's public key, L = 32)
//! wrapped = E (32 bytes) · keywrap::wrap_with(kek, key)   (69 bytes: HRTK · 1 · epoch · iv · ct+tag)
//! ```
//!
//! 101 bytes in all.

use x25519_dalek::{PublicKey, StaticSecret};

use crate::id::WorkspaceId;
use crate::keys::{DeviceSecret, EpochKey};
use crate::keywrap::{self, UnwrapError, WRAPPED_LEN, hkdf_sha256};
use crate::sealed::IV_LEN;

/// The length of a key wrapped for a device.
pub const DEVICE_WRAPPED_LEN: usize = 32 + WRAPPED_LEN;
/// The salt of the derivation.
const SALT: &[u8] = b"hearth device wrap v1";

/// The public key of `secret`, which the device registers with its token.
pub fn public_key(secret: &DeviceSecret) -> [u8; 32] {
    PublicKey::from(&StaticSecret::from(*secret.bytes())).to_bytes()
}

fn kek(
    shared: &[u8; 32],
    workspace: &WorkspaceId,
    ephemeral: &[u8; 32],
    recipient: &[u8; 32],
) -> EpochKey {
    let mut info = Vec::with_capacity(96);
    info.extend_from_slice(workspace.as_str().as_bytes());
    info.extend_from_slice(ephemeral);
    info.extend_from_slice(recipient);
    let mut out = [0u8; 32];
    hkdf_sha256(SALT, shared, &info, &mut out);
    EpochKey::new(0, out)
}

/// Wraps `key` for the device whose public key is `recipient`;
/// `ephemeral` (32 bytes) and `iv` (12) come fresh from a cryptographic
/// random source. `None` if `recipient` is not a usable public key (a
/// low-order point, whose shared secret would be all zeros).
pub fn wrap_for(
    recipient: &[u8; 32],
    key: &EpochKey,
    workspace: &WorkspaceId,
    ephemeral: [u8; 32],
    iv: [u8; IV_LEN],
) -> Option<Vec<u8>> {
    let secret = StaticSecret::from(ephemeral);
    let e_pub = PublicKey::from(&secret).to_bytes();
    let shared = secret.diffie_hellman(&PublicKey::from(*recipient));
    if !shared.was_contributory() {
        return None;
    }
    let kek = kek(shared.as_bytes(), workspace, &e_pub, recipient);
    let mut out = Vec::with_capacity(DEVICE_WRAPPED_LEN);
    out.extend_from_slice(&e_pub);
    out.extend_from_slice(&keywrap::wrap_with(&kek, key, iv));
    Some(out)
}

/// Unwraps a key [`wrap_for`] wrapped for this device.
pub fn unwrap_for(
    secret: &DeviceSecret,
    wrapped: &[u8],
    workspace: &WorkspaceId,
) -> Result<EpochKey, UnwrapError> {
    if wrapped.len() != DEVICE_WRAPPED_LEN {
        return Err(UnwrapError::Length(wrapped.len()));
    }
    let (e_pub, inner) = wrapped.split_at(32);
    let mut ephemeral = [0u8; 32];
    ephemeral.copy_from_slice(e_pub);
    let mine = StaticSecret::from(*secret.bytes());
    let recipient = PublicKey::from(&mine).to_bytes();
    let shared = mine.diffie_hellman(&PublicKey::from(ephemeral));
    if !shared.was_contributory() {
        return Err(UnwrapError::Authentication);
    }
    keywrap::unwrap_with(
        &kek(shared.as_bytes(), workspace, &ephemeral, &recipient),
        inner,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sealed::tests::hex;

    fn ws(byte: u8) -> WorkspaceId {
        WorkspaceId::from_random([byte; 16])
    }

    #[test]
    fn a_key_unwraps_only_for_its_device_and_workspace() {
        let phone = DeviceSecret::new([1; 32]);
        let laptop = DeviceSecret::new([2; 32]);
        let key = EpochKey::new(4, [0x77; 32]);
        let wrapped = wrap_for(&public_key(&phone), &key, &ws(1), [9; 32], [3; 12]).unwrap();
        assert_eq!(wrapped.len(), DEVICE_WRAPPED_LEN);
        assert_eq!(unwrap_for(&phone, &wrapped, &ws(1)), Ok(key.clone()));
        assert_eq!(
            unwrap_for(&laptop, &wrapped, &ws(1)),
            Err(UnwrapError::Authentication),
            "another device"
        );
        assert_eq!(
            unwrap_for(&phone, &wrapped, &ws(2)),
            Err(UnwrapError::Authentication),
            "another workspace"
        );
        for at in 0..wrapped.len() {
            let mut altered = wrapped.clone();
            altered[at] ^= 0x01;
            assert!(unwrap_for(&phone, &altered, &ws(1)).is_err(), "byte {at}");
        }
        assert_eq!(
            unwrap_for(&phone, &wrapped[..100], &ws(1)),
            Err(UnwrapError::Length(100))
        );
    }

    #[test]
    fn a_low_order_public_key_gets_no_copy() {
        let key = EpochKey::new(1, [1; 32]);
        assert_eq!(wrap_for(&[0; 32], &key, &ws(1), [9; 32], [3; 12]), None);
    }

    /// RFC 7748, section 6.1: Alice's and Bob's key pairs and their shared
    /// secret pass through the code this module uses.
    #[test]
    fn x25519_passes_the_rfc_7748_vector() {
        let alice: [u8; 32] =
            hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
                .try_into()
                .unwrap();
        let bob: [u8; 32] = hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
            .try_into()
            .unwrap();
        assert_eq!(
            public_key(&DeviceSecret::new(alice)).to_vec(),
            hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
        );
        let bob_pub = public_key(&DeviceSecret::new(bob));
        assert_eq!(
            bob_pub.to_vec(),
            hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
        );
        let shared = StaticSecret::from(alice).diffie_hellman(&PublicKey::from(bob_pub));
        assert_eq!(
            shared.as_bytes().to_vec(),
            hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
        );
    }
}
