//! What the device list says of each device's keys: its fingerprint as the
//! workspace's own document records it (the device wrote it there, sealed
//! and signed), and a warning where the server's copy of its key differs
//! or the device never recorded one, so that a person can compare the
//! fingerprint with the one the device shows of itself, and knows which
//! devices the next key change will leave out.

use hearth_shared::api::TokenInfo;
use hearth_shared::engine::roster::Member;
use hearth_shared::identity::DeviceKeys;

/// The line shown under one device.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyLine {
    /// The fingerprint the document records for the device.
    pub fingerprint: Option<String>,
    /// What is wrong, in words, if anything.
    pub warning: Option<String>,
}

/// The key line of `device`, given what the document records (`members`).
/// Only an encrypted workspace has keys to speak of.
pub fn key_line(device: &TokenInfo, members: &[Member], encrypted: bool) -> KeyLine {
    if !encrypted || device.revoked_at.is_some() {
        return KeyLine::default();
    }
    let recorded = members
        .iter()
        .find(|m| m.token == device.token_id)
        .and_then(|m| m.keys);
    let offered = device.public_key_bytes();
    let label = &device.label;
    match (recorded, offered) {
        (Some(keys), Some(offered)) if keys.x25519 != offered => KeyLine {
            fingerprint: Some(keys.fingerprint()),
            warning: Some(format!(
                "The server offered a different key for “{label}” from the one it recorded in the workspace. It will not be given the next workspace key; if “{label}” was not set up again, the server may be trying to read your notes."
            )),
        },
        (Some(keys), _) => KeyLine {
            fingerprint: Some(keys.fingerprint()),
            warning: None,
        },
        (None, Some(_)) => KeyLine {
            fingerprint: None,
            warning: Some(format!(
                "“{label}” has not recorded its key in the workspace yet (it was paired before this version, or has not synced since). Until it does, it will not be given a new workspace key: open Hearth on it, or pair it again."
            )),
        },
        (None, None) => KeyLine::default(),
    }
}

/// The fingerprint this device shows of itself, from its own keyring.
pub fn own_fingerprint(ring: Option<&hearth_shared::keys::Keyring>) -> Option<String> {
    ring?
        .device
        .as_ref()
        .map(|secret| DeviceKeys::of(secret).fingerprint())
}
