//! The workspace's keys on this device, for an encrypted workspace:
//! `keys.json` beside the profile, readable by its owner only, written
//! crash-safely: `{"current": 1, "epochs": [{"epoch": 1, "key": "<base64url>"}],
//! "device": "<base64url>"}` (the keyring as `hearth_shared::keys` writes it,
//! with this device's X25519 secret).

use std::path::Path;

use hearth_shared::sealed::IV_LEN;

use super::atomic::write_atomic;
use super::error::DeviceError;
use super::platform::random_bytes;

const FILE: &str = "keys.json";

pub use hearth_shared::sealed::Keyring;

/// A new workspace's first key, from the operating system's random source.
pub fn fresh() -> Result<Keyring, DeviceError> {
    let mut ring = Keyring::first(random_bytes()?);
    with_device_secret(&mut ring)?;
    Ok(ring)
}

/// The keys in `dir`, if the workspace is encrypted.
pub fn load(dir: &Path) -> Result<Option<Keyring>, DeviceError> {
    let bytes = match std::fs::read(dir.join(FILE)) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(DeviceError::Io(format!("{FILE}: {e}"))),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| DeviceError::Corrupt(format!("{FILE}: {e}")))
}

/// Writes the keys into `dir`, crash-safely, readable by the owner only.
pub fn save(ring: &Keyring, dir: &Path) -> Result<(), DeviceError> {
    let json = serde_json::to_vec_pretty(ring).map_err(|e| DeviceError::Io(e.to_string()))?;
    write_atomic(&dir.join(FILE), &json, true).map_err(|e| DeviceError::Io(format!("{FILE}: {e}")))
}

/// The engine's keys: these epochs of `workspace`, with IVs and
/// ephemeral secrets from the operating system's random source.
pub fn engine_keys(
    ring: &Keyring,
    workspace: &hearth_shared::id::WorkspaceId,
) -> hearth_shared::engine::Keys {
    hearth_shared::engine::Keys {
        ring: ring.clone(),
        workspace: workspace.clone(),
        iv: Box::new(random_iv),
        random: Box::new(random32),
    }
}

/// Gives `ring` this device's X25519 secret if it has none yet (a keyring
/// from before device keys, or one just unwrapped from a pairing link).
/// Returns whether it did.
pub fn with_device_secret(ring: &mut Keyring) -> Result<bool, DeviceError> {
    if ring.device.is_some() {
        return Ok(false);
    }
    ring.device = Some(hearth_shared::keys::DeviceSecret::new(random_bytes()?));
    Ok(true)
}

/// 32 bytes from the operating system's random source (an ephemeral
/// X25519 secret). If it ever fails, IVs (see [`random_iv`]) stand in.
fn random32() -> [u8; 32] {
    let mut out = [0u8; 32];
    if getrandom::fill(&mut out).is_ok() {
        return out;
    }
    for chunk in out.chunks_mut(IV_LEN) {
        let iv = random_iv();
        chunk.copy_from_slice(&iv[..chunk.len()]);
    }
    out
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
