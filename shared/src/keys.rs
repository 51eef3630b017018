//! A workspace's keys as a device holds them: one 256-bit key per key
//! epoch ([`EpochKey`]), and the ring of them with the epoch it writes with
//! ([`Keyring`]). Only data: sealing and opening records is in `sealed`,
//! so that code that only stores keys (the browser's storage contract)
//! links no cipher.

/// A workspace key of one key epoch. Its bytes are never printed, and are
/// wiped when it is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct EpochKey {
    epoch: u32,
    key: [u8; 32],
}

impl EpochKey {
    /// The key of `epoch`: 32 bytes from a cryptographic random source (or
    /// unwrapped from what pairing or the recovery key gave).
    pub fn new(epoch: u32, key: [u8; 32]) -> Self {
        Self { epoch, key }
    }

    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The key's bytes, for wrapping it for another device.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.key
    }
}

/// A dropped key leaves no copy of its bytes in the memory it had (copies
/// made by `Clone` are dropped, and wiped, on their own).
impl Drop for EpochKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.key);
    }
}

impl std::fmt::Debug for EpochKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpochKey")
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

/// This device's X25519 secret key (32 random bytes): a workspace key
/// rotated while the device is away is wrapped for its public key, which
/// the server keeps with the device's token (`devicekey`). Never printed;
/// wiped when dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceSecret([u8; 32]);

impl DeviceSecret {
    pub fn new(random: [u8; 32]) -> Self {
        Self(random)
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl Drop for DeviceSecret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl std::fmt::Debug for DeviceSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeviceSecret(..)")
    }
}

/// What the owner's device keeps of the recovery key, so that a key epoch
/// made later (a rotation) is wrapped for it too: the hash the server
/// already holds and the recovery wrapping key. Neither redeems the
/// recovery key (that takes the credential, which is not kept).
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryWrap {
    pub credential_hash: [u8; 32],
    pub key: [u8; 32],
}

impl Drop for RecoveryWrap {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.key);
    }
}

impl std::fmt::Debug for RecoveryWrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryWrap(..)")
    }
}

/// Every key epoch a device holds of a workspace, and the one it writes
/// with, with this device's X25519 secret and (on the owner's device) what
/// it keeps of the recovery key. Stored and sent as
/// `{"current": 1, "epochs": [{"epoch": 1, "key": "<base64url>"}],
/// "device": "<base64url>", "recovery": {"credential_hash": "…", "key": "…"}}`
/// (the last two may be `null` or absent); a ring without a key for its
/// current epoch does not deserialize.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "RingFile", into = "RingFile")]
pub struct Keyring {
    pub current: u32,
    pub epochs: Vec<EpochKey>,
    pub device: Option<DeviceSecret>,
    pub recovery: Option<RecoveryWrap>,
}

impl Keyring {
    /// A new workspace's first key (epoch 1), from 32 random bytes.
    pub fn first(key: [u8; 32]) -> Self {
        Self::of(vec![EpochKey::new(1, key)])
    }

    /// A ring of `epochs` that writes with the newest (epoch 0 if empty:
    /// such a ring writes nothing).
    pub fn of(epochs: Vec<EpochKey>) -> Self {
        let current = epochs.iter().map(EpochKey::epoch).max().unwrap_or(0);
        Self {
            current,
            epochs,
            device: None,
            recovery: None,
        }
    }

    /// The key the device writes with.
    pub fn writing(&self) -> Option<&EpochKey> {
        key_of(&self.epochs, self.current)
    }

    /// The newest epoch it holds.
    pub fn newest(&self) -> u32 {
        self.epochs.iter().map(EpochKey::epoch).max().unwrap_or(0)
    }

    /// Adds a key of an epoch it lacks (one it has is kept); it then writes
    /// with the newest. Returns whether the ring changed.
    pub fn learn(&mut self, key: EpochKey) -> bool {
        if key_of(&self.epochs, key.epoch()).is_some() {
            return false;
        }
        self.epochs.push(key);
        self.epochs.sort_by_key(EpochKey::epoch);
        self.current = self.newest();
        true
    }

    /// This ring with one more key epoch (the newest plus one) of `key`
    /// (32 random bytes), which it writes with: a rotation's new key.
    pub fn with_new_epoch(&self, key: [u8; 32]) -> Keyring {
        let mut next = self.clone();
        next.learn(EpochKey::new(self.newest() + 1, key));
        next
    }

    /// Takes in what `other` holds and this ring lacks: its epochs, its
    /// device secret if this has none, and its recovery wrap if it has one.
    pub fn merge(&mut self, other: &Keyring) {
        for key in &other.epochs {
            self.learn(key.clone());
        }
        if self.device.is_none() {
            self.device = other.device.clone();
        }
        if other.recovery.is_some() {
            self.recovery = other.recovery.clone();
        }
    }
}

/// (Absent fields are never skipped: the sync worker's messages carry
/// keyrings in a format without field names.)
#[derive(serde::Serialize, serde::Deserialize)]
struct RingFile {
    current: u32,
    epochs: Vec<RingEntry>,
    #[serde(default)]
    device: Option<String>,
    #[serde(default)]
    recovery: Option<RecoveryFile>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct RingEntry {
    epoch: u32,
    key: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct RecoveryFile {
    credential_hash: String,
    key: String,
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn bytes32(text: &str) -> Option<[u8; 32]> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.as_bytes())
        .ok()
        .and_then(|k| k.try_into().ok())
}

impl From<Keyring> for RingFile {
    fn from(ring: Keyring) -> Self {
        RingFile {
            current: ring.current,
            epochs: ring
                .epochs
                .iter()
                .map(|k| RingEntry {
                    epoch: k.epoch,
                    key: b64(&k.key),
                })
                .collect(),
            device: ring.device.as_ref().map(|d| b64(d.bytes())),
            recovery: ring.recovery.as_ref().map(|r| RecoveryFile {
                credential_hash: b64(&r.credential_hash),
                key: b64(&r.key),
            }),
        }
    }
}

impl TryFrom<RingFile> for Keyring {
    type Error = String;

    fn try_from(file: RingFile) -> Result<Self, String> {
        let mut epochs = Vec::with_capacity(file.epochs.len());
        for entry in file.epochs {
            let key = bytes32(&entry.key)
                .ok_or_else(|| format!("the key of epoch {} is damaged", entry.epoch))?;
            epochs.push(EpochKey::new(entry.epoch, key));
        }
        let device = match file.device {
            None => None,
            Some(text) => Some(DeviceSecret::new(
                bytes32(&text).ok_or("this device's secret key is damaged")?,
            )),
        };
        let recovery = match file.recovery {
            None => None,
            Some(r) => Some(RecoveryWrap {
                credential_hash: bytes32(&r.credential_hash)
                    .ok_or("the recovery key's hash is damaged")?,
                key: bytes32(&r.key).ok_or("the recovery wrapping key is damaged")?,
            }),
        };
        let ring = Keyring {
            current: file.current,
            epochs,
            device,
            recovery,
        };
        if ring.writing().is_none() {
            return Err(format!("no key for the current epoch {}", ring.current));
        }
        Ok(ring)
    }
}

/// The key of `epoch` among `keys`.
pub fn key_of(keys: &[EpochKey], epoch: u32) -> Option<&EpochKey> {
    keys.iter().find(|k| k.epoch == epoch)
}
