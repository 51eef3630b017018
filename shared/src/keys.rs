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

/// Every key epoch a device holds of a workspace, and the one it writes
/// with. Stored and sent as
/// `{"current": 1, "epochs": [{"epoch": 1, "key": "<base64url>"}]}`; a
/// ring without a key for its current epoch does not deserialize.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "RingFile", into = "RingFile")]
pub struct Keyring {
    pub current: u32,
    pub epochs: Vec<EpochKey>,
}

impl Keyring {
    /// A new workspace's first key (epoch 1), from 32 random bytes.
    pub fn first(key: [u8; 32]) -> Self {
        Self {
            current: 1,
            epochs: vec![EpochKey::new(1, key)],
        }
    }

    /// The key the device writes with.
    pub fn writing(&self) -> Option<&EpochKey> {
        key_of(&self.epochs, self.current)
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct RingFile {
    current: u32,
    epochs: Vec<RingEntry>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct RingEntry {
    epoch: u32,
    key: String,
}

impl From<Keyring> for RingFile {
    fn from(ring: Keyring) -> Self {
        use base64::Engine as _;
        RingFile {
            current: ring.current,
            epochs: ring
                .epochs
                .iter()
                .map(|k| RingEntry {
                    epoch: k.epoch,
                    key: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(k.key),
                })
                .collect(),
        }
    }
}

impl TryFrom<RingFile> for Keyring {
    type Error = String;

    fn try_from(file: RingFile) -> Result<Self, String> {
        use base64::Engine as _;
        let mut epochs = Vec::with_capacity(file.epochs.len());
        for entry in file.epochs {
            let key: [u8; 32] = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(entry.key.as_bytes())
                .ok()
                .and_then(|k| k.try_into().ok())
                .ok_or_else(|| format!("the key of epoch {} is damaged", entry.epoch))?;
            epochs.push(EpochKey::new(entry.epoch, key));
        }
        let ring = Keyring {
            current: file.current,
            epochs,
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
