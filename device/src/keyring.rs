//! The workspace's keys on this device, for an encrypted workspace:
//! `keys.json` beside the profile, readable by its owner only, written
//! crash-safely: `{"current": 1, "epochs": [{"epoch": 1, "key": "<base64url>"}]}`.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hearth_shared::sealed::{EpochKey, IV_LEN};

use super::atomic::write_atomic;
use super::error::DeviceError;

const FILE: &str = "keys.json";

/// Every key epoch this device holds, and the one it writes with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keyring {
    pub current: u32,
    pub epochs: Vec<EpochKey>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct KeyFile {
    current: u32,
    epochs: Vec<KeyEntry>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct KeyEntry {
    epoch: u32,
    key: String,
}

impl Keyring {
    /// A new workspace's first key, from the operating system's random source.
    pub fn fresh() -> Result<Self, DeviceError> {
        Ok(Self {
            current: 1,
            epochs: vec![EpochKey::new(1, super::device::random_bytes()?)],
        })
    }

    /// The key the device writes with.
    pub fn writing(&self) -> Option<&EpochKey> {
        hearth_shared::sealed::key_of(&self.epochs, self.current)
    }

    /// The keys in `dir`, if the workspace is encrypted.
    pub fn load(dir: &Path) -> Result<Option<Self>, DeviceError> {
        let bytes = match std::fs::read(dir.join(FILE)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(DeviceError::Io(format!("{FILE}: {e}"))),
        };
        let file: KeyFile = serde_json::from_slice(&bytes)
            .map_err(|e| DeviceError::Corrupt(format!("{FILE}: {e}")))?;
        let mut epochs = Vec::with_capacity(file.epochs.len());
        for entry in file.epochs {
            let key: [u8; 32] = URL_SAFE_NO_PAD
                .decode(entry.key.as_bytes())
                .ok()
                .and_then(|k| k.try_into().ok())
                .ok_or_else(|| {
                    DeviceError::Corrupt(format!(
                        "{FILE}: the key of epoch {} is damaged",
                        entry.epoch
                    ))
                })?;
            epochs.push(EpochKey::new(entry.epoch, key));
        }
        let ring = Self {
            current: file.current,
            epochs,
        };
        if ring.writing().is_none() {
            return Err(DeviceError::Corrupt(format!(
                "{FILE}: no key for the current epoch {}",
                ring.current
            )));
        }
        Ok(Some(ring))
    }

    /// Writes the keys into `dir`, crash-safely, readable by the owner only.
    pub fn save(&self, dir: &Path) -> Result<(), DeviceError> {
        let file = KeyFile {
            current: self.current,
            epochs: self
                .epochs
                .iter()
                .map(|k| KeyEntry {
                    epoch: k.epoch(),
                    key: URL_SAFE_NO_PAD.encode(k.bytes()),
                })
                .collect(),
        };
        let json = serde_json::to_vec_pretty(&file).map_err(|e| DeviceError::Io(e.to_string()))?;
        write_atomic(&dir.join(FILE), &json, true)
            .map_err(|e| DeviceError::Io(format!("{FILE}: {e}")))
    }

    /// The engine's keys: these epochs, with IVs from the operating
    /// system's random source.
    pub fn engine_keys(&self) -> hearth_shared::engine::Keys {
        hearth_shared::engine::Keys {
            epochs: self.epochs.clone(),
            current: self.current,
            iv: Box::new(random_iv),
        }
    }
}

/// 12 bytes from the operating system's random source. If it ever fails,
/// a process-wide random prefix and counter stand in, so that no IV
/// repeats.
pub fn random_iv() -> [u8; IV_LEN] {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut iv = [0u8; IV_LEN];
    if getrandom::fill(&mut iv).is_ok() {
        return iv;
    }
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u32);
    iv[..4].copy_from_slice(&nanos.to_be_bytes());
    iv[4..].copy_from_slice(&n.to_be_bytes());
    iv
}
