//! The app lock: what a device keeps so that, with the lock on, the keys
//! and tokens it holds at rest open only with the person's passcode (or,
//! if it is forgotten, with a workspace's recovery key).
//!
//! ```text
//! lock key     = 32 random bytes, drawn when the lock is turned on
//! passcode key = PBKDF2-HMAC-SHA256(passcode as UTF-8, salt: 16 random bytes, iterations, 32 bytes)
//! recovery key = HKDF-SHA256(salt = "hearth app lock v1", ikm = the recovery wrapping key, info = workspace id, 32 bytes)
//! device key   = HKDF-SHA256(salt = "hearth app lock device v1", ikm = the WebAuthn PRF output, info = "", 32 bytes)
//! wrapped      = iv: 12 bytes · AES-256-GCM(passcode or recovery key, iv, aad = "hearth app lock v1", lock key)   (60 bytes)
//! sealed       = iv: 12 bytes · AES-256-GCM(lock key, iv, aad = "hearth secrets v1" · workspace id · 0x00 · server, secrets)
//! key id       = HKDF-SHA256(salt = "hearth app lock id v1", ikm = lock key, info = "", 16 bytes)
//! ```
//!
//! The secrets are the JSON text `{"token": …, "keys": …}` of one
//! workspace's device record; the workspace id and the server's address
//! in the associated data keep one workspace's sealed secrets from being
//! moved onto another's record, and the token from being sent to a server
//! written into the record while the app was locked. The key id names the
//! lock key in the clear, so that a context holding another (an old tab)
//! never seals with it. PBKDF2 runs in the browser's Web Crypto (so it is not here);
//! everything after it is. The recovery wrapping key is the one the
//! owner's device keeps of a workspace's recovery key, so the recovery key
//! opens the lock on that device with no server.

use crate::id::WorkspaceId;
use crate::keys::EpochKey;
use crate::keywrap::hkdf_sha256;
use crate::sealed::{self, IV_LEN, TAG_LEN};

/// The associated data of a wrapped lock key, and the HKDF salt of a
/// recovery key's unlock key.
const LOCK_LABEL: &[u8] = b"hearth app lock v1";
/// The HKDF salt of the device's own unlock key.
const DEVICE_LABEL: &[u8] = b"hearth app lock device v1";
/// The HKDF salt of the key id.
const ID_LABEL: &[u8] = b"hearth app lock id v1";
/// The start of the associated data of sealed secrets.
const SECRETS_LABEL: &[u8] = b"hearth secrets v1";
/// The length of a wrapped lock key.
pub const WRAPPED_LEN: usize = IV_LEN + 32 + TAG_LEN;
/// PBKDF2 iterations for a new lock (OWASP's figure for PBKDF2-HMAC-SHA256).
pub const ITERATIONS: u32 = 600_000;
/// The fewest iterations a stored lock may ask for: a lock record edited
/// to ask for fewer is refused rather than made cheap to guess.
pub const MIN_ITERATIONS: u32 = 100_000;
/// The most: a record asking for more would keep the unlock busy for
/// minutes.
pub const MAX_ITERATIONS: u32 = 10_000_000;
/// The shortest passcode accepted, in characters.
pub const MIN_PASSCODE_CHARS: usize = 4;

/// The key that seals a device's secrets while the lock is on. Wiped when
/// dropped (it is an [`EpochKey`]).
#[derive(Clone)]
pub struct LockKey(EpochKey);

impl std::fmt::Debug for LockKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LockKey(…)")
    }
}

impl LockKey {
    /// A lock key from 32 bytes of a cryptographic random source.
    pub fn new(random: [u8; 32]) -> Self {
        LockKey(EpochKey::new(0, random))
    }

    /// Its bytes (to hand to the sync worker, which runs in the same
    /// browser profile).
    pub fn bytes(&self) -> &[u8; 32] {
        self.0.bytes()
    }

    /// Its key id: names it without giving it away.
    pub fn id(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        hkdf_sha256(ID_LABEL, self.bytes(), b"", &mut out);
        out
    }

    /// Seals the secrets of one workspace on `server` (`""` if none).
    pub fn seal(
        &self,
        workspace: &WorkspaceId,
        server: &str,
        secrets: &[u8],
        iv: [u8; IV_LEN],
    ) -> Vec<u8> {
        let mut out = iv.to_vec();
        let aad = secrets_aad(workspace, server);
        out.extend(sealed::encrypt(&self.0, &iv, &aad, secrets));
        out
    }

    /// Opens what [`LockKey::seal`] sealed for `workspace` on `server`;
    /// `None` if it was sealed under another key, for another workspace or
    /// server, or altered.
    pub fn open(&self, workspace: &WorkspaceId, server: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        let (iv, ct) = split_iv(sealed)?;
        sealed::decrypt(&self.0, &iv, &secrets_aad(workspace, server), ct)
    }

    /// The lock key wrapped under `kek` (a passcode's or a recovery key's).
    pub fn wrap(&self, kek: &UnlockKey, iv: [u8; IV_LEN]) -> Vec<u8> {
        let mut out = iv.to_vec();
        out.extend(sealed::encrypt(&kek.0, &iv, LOCK_LABEL, self.bytes()));
        out
    }

    /// The lock key in `wrapped`, if `kek` opens it.
    pub fn unwrap(kek: &UnlockKey, wrapped: &[u8]) -> Option<LockKey> {
        if wrapped.len() != WRAPPED_LEN {
            return None;
        }
        let (iv, ct) = split_iv(wrapped)?;
        let plain = sealed::decrypt(&kek.0, &iv, LOCK_LABEL, ct)?;
        let bytes: [u8; 32] = plain.as_slice().try_into().ok()?;
        Some(LockKey::new(bytes))
    }
}

/// A key that opens a wrapped lock key: derived from the passcode, or
/// from a workspace's recovery key.
pub struct UnlockKey(EpochKey);

impl UnlockKey {
    /// The passcode key, as PBKDF2 (run by the browser) derived it.
    pub fn from_passcode_key(derived: [u8; 32]) -> Self {
        UnlockKey(EpochKey::new(0, derived))
    }

    /// The unlock key of the device's own unlock, from the PRF output of
    /// its WebAuthn credential.
    pub fn from_device(prf: &[u8; 32]) -> Self {
        let mut out = [0u8; 32];
        hkdf_sha256(DEVICE_LABEL, prf, b"", &mut out);
        UnlockKey(EpochKey::new(0, out))
    }

    /// The unlock key of `workspace`'s recovery key, from the recovery
    /// wrapping key (kept by the owner's device, or derived from the
    /// recovery key as typed).
    pub fn from_recovery(wrapping: &EpochKey, workspace: &WorkspaceId) -> Self {
        let mut out = [0u8; 32];
        hkdf_sha256(
            LOCK_LABEL,
            wrapping.bytes(),
            workspace.as_str().as_bytes(),
            &mut out,
        );
        UnlockKey(EpochKey::new(0, out))
    }
}

/// Whether a passcode is long enough; the reason if not.
pub fn check_passcode(passcode: &str) -> Result<(), String> {
    let chars = passcode.chars().count();
    if chars < MIN_PASSCODE_CHARS {
        return Err(format!(
            "A passcode has at least {MIN_PASSCODE_CHARS} characters (this one has {chars})."
        ));
    }
    Ok(())
}

fn secrets_aad(workspace: &WorkspaceId, server: &str) -> Vec<u8> {
    let mut aad = SECRETS_LABEL.to_vec();
    aad.extend_from_slice(workspace.as_str().as_bytes());
    aad.push(0);
    aad.extend_from_slice(server.as_bytes());
    aad
}

fn split_iv(bytes: &[u8]) -> Option<([u8; IV_LEN], &[u8])> {
    if bytes.len() < IV_LEN + TAG_LEN {
        return None;
    }
    let (iv, ct) = bytes.split_at(IV_LEN);
    Some((iv.try_into().ok()?, ct))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws(c: char) -> WorkspaceId {
        WorkspaceId::parse(&c.to_string().repeat(32)).unwrap()
    }

    #[test]
    fn secrets_open_with_their_key_workspace_and_server_only() {
        let key = LockKey::new([1; 32]);
        let home = "https://home.example";
        let sealed = key.seal(&ws('a'), home, b"{\"token\":\"t\"}", [2; IV_LEN]);
        assert_eq!(
            key.open(&ws('a'), home, &sealed).unwrap(),
            b"{\"token\":\"t\"}"
        );
        assert!(
            key.open(&ws('b'), home, &sealed).is_none(),
            "moved to another workspace"
        );
        assert!(
            key.open(&ws('a'), "https://elsewhere.example", &sealed)
                .is_none(),
            "pointed at another server"
        );
        assert!(
            LockKey::new([3; 32])
                .open(&ws('a'), home, &sealed)
                .is_none()
        );
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(key.open(&ws('a'), home, &altered).is_none());
        assert!(
            key.open(&ws('a'), home, &sealed[..IV_LEN]).is_none(),
            "cut short"
        );
        assert!(
            !sealed.windows(5).any(|w| w == b"token"),
            "not in the clear"
        );
        assert_eq!(key.id(), LockKey::new([1; 32]).id());
        assert_ne!(key.id(), LockKey::new([3; 32]).id());
        assert_ne!(&key.id()[..], &key.bytes()[..16], "the id is not the key");
    }

    #[test]
    fn a_wrapped_lock_key_opens_with_its_passcode_key_or_its_recovery_key() {
        let key = LockKey::new([9; 32]);
        let passcode = UnlockKey::from_passcode_key([4; 32]);
        let wrapped = key.wrap(&passcode, [5; IV_LEN]);
        assert_eq!(wrapped.len(), WRAPPED_LEN);
        assert_eq!(
            LockKey::unwrap(&passcode, &wrapped).unwrap().bytes(),
            &[9; 32]
        );
        let wrong = UnlockKey::from_passcode_key([6; 32]);
        assert!(LockKey::unwrap(&wrong, &wrapped).is_none());
        assert!(LockKey::unwrap(&passcode, &wrapped[1..]).is_none());

        let wrapping = EpochKey::new(1, [7; 32]);
        let recovery = UnlockKey::from_recovery(&wrapping, &ws('c'));
        let by_recovery = key.wrap(&recovery, [8; IV_LEN]);
        let again = UnlockKey::from_recovery(&wrapping, &ws('c'));
        assert_eq!(
            LockKey::unwrap(&again, &by_recovery).unwrap().bytes(),
            &[9; 32]
        );
        // The same recovery wrapping key for another workspace opens nothing.
        let other = UnlockKey::from_recovery(&wrapping, &ws('d'));
        assert!(LockKey::unwrap(&other, &by_recovery).is_none());
        // A recovery unlock key is not the wrapping key itself.
        let raw = UnlockKey(EpochKey::new(0, [7; 32]));
        assert!(LockKey::unwrap(&raw, &by_recovery).is_none());

        let device = UnlockKey::from_device(&[8; 32]);
        let by_device = key.wrap(&device, [9; IV_LEN]);
        assert_eq!(
            LockKey::unwrap(&UnlockKey::from_device(&[8; 32]), &by_device)
                .unwrap()
                .bytes(),
            &[9; 32]
        );
        assert!(LockKey::unwrap(&UnlockKey::from_device(&[1; 32]), &by_device).is_none());
        assert!(LockKey::unwrap(&UnlockKey(EpochKey::new(0, [8; 32])), &by_device).is_none());
    }

    #[test]
    fn short_passcodes_are_refused_with_the_reason() {
        assert!(check_passcode("1234").is_ok());
        assert!(check_passcode("été!").is_ok(), "characters, not bytes");
        let why = check_passcode("123").unwrap_err();
        assert!(why.contains("at least 4"), "{why}");
    }
}
