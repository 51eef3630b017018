//! The workspace's devices as its own document records them: each
//! device's public keys, written by the device itself once it holds the
//! workspace key, and each removal, written by the owner's device. The
//! document is sealed under the workspace key and every record is signed,
//! so the server can neither forge an entry nor change one: the owner's
//! device wraps a new key epoch only for keys recorded here, and every
//! device judges each record it pulls against the removals here.
//!
//! In the document's root map `devices`, one map per device, under its
//! token id:
//!
//! ```text
//! x25519        binary(32)  its X25519 public key (key epochs are wrapped for it)
//! ed25519       binary(32)  its Ed25519 public key (it signs every record)
//! peer          i64         its Loro peer id (bit for bit)
//! removed       binary      set by the owner's device at removal: the version
//!                           vector (Loro's encoding) of what the owner held then
//! removed_epoch i64         the newest key epoch the device could hold
//! ```

use loro::{LoroDoc, LoroValue, VersionVector};

use crate::id::TokenId;
use crate::identity::DeviceKeys;
use crate::sealed::Kind;
use crate::signed::Opened;

/// The document's root map of devices.
pub const DEVICES_ROOT: &str = "devices";

/// One device as the document records it.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub token: TokenId,
    pub keys: Option<DeviceKeys>,
    pub peer: Option<u64>,
    pub removal: Option<Removal>,
}

/// What the owner's device recorded when it removed a device.
#[derive(Debug, Clone, PartialEq)]
pub struct Removal {
    /// What the owner held: the device's edits up to here were received.
    pub held: VersionVector,
    /// The newest key epoch the removed device could hold.
    pub epoch: u32,
}

fn binary32(value: Option<&LoroValue>) -> Option<[u8; 32]> {
    match value {
        Some(LoroValue::Binary(bytes)) => bytes.as_slice().try_into().ok(),
        _ => None,
    }
}

/// Every device the document records (entries it cannot read are left out).
pub fn members(doc: &LoroDoc) -> Vec<Member> {
    // Looked up by path, so that reading does not make the root map
    // appear in a document that has none.
    let Some(loro::ValueOrContainer::Container(loro::Container::Map(map))) =
        doc.get_by_str_path(DEVICES_ROOT)
    else {
        return Vec::new();
    };
    let LoroValue::Map(devices) = map.get_deep_value() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (token, entry) in devices.iter() {
        let (Ok(token), LoroValue::Map(entry)) = (TokenId::parse(token), entry) else {
            continue;
        };
        let keys = match (
            binary32(entry.get("x25519")),
            binary32(entry.get("ed25519")),
        ) {
            (Some(x25519), Some(ed25519)) => Some(DeviceKeys { x25519, ed25519 }),
            _ => None,
        };
        let peer = match entry.get("peer") {
            Some(LoroValue::I64(peer)) => Some(*peer as u64),
            _ => None,
        };
        let removal = match (entry.get("removed"), entry.get("removed_epoch")) {
            (Some(LoroValue::Binary(held)), Some(LoroValue::I64(epoch))) => {
                VersionVector::decode(held).ok().map(|held| Removal {
                    held,
                    epoch: u32::try_from(*epoch).unwrap_or(u32::MAX),
                })
            }
            _ => None,
        };
        out.push(Member {
            token,
            keys,
            peer,
            removal,
        });
    }
    out
}

/// Records this device's keys and peer id under its token, unless the
/// document already says exactly that. Returns whether it wrote.
pub fn introduce(
    doc: &LoroDoc,
    token: &TokenId,
    keys: &DeviceKeys,
    peer: u64,
) -> Result<bool, loro::LoroError> {
    let known = members(doc).into_iter().find(|m| &m.token == token);
    if known.as_ref().is_some_and(|m| {
        m.keys.as_ref() == Some(keys) && m.peer == Some(peer) && m.removal.is_none()
    }) {
        return Ok(false);
    }
    let entry = doc
        .get_map(DEVICES_ROOT)
        .insert_container(token.as_str(), loro::LoroMap::new())?;
    entry.insert("x25519", keys.x25519.to_vec())?;
    entry.insert("ed25519", keys.ed25519.to_vec())?;
    entry.insert("peer", peer as i64)?;
    Ok(true)
}

/// Records that the device of `token` was removed: the owner held `held`
/// of its edits, and it could hold key epochs up to `epoch`. A second
/// removal of one device keeps the earlier, smaller, version.
pub fn record_removal(
    doc: &LoroDoc,
    token: &TokenId,
    held: &VersionVector,
    epoch: u32,
) -> Result<(), loro::LoroError> {
    if members(doc)
        .iter()
        .any(|m| &m.token == token && m.removal.is_some())
    {
        return Ok(());
    }
    let devices = doc.get_map(DEVICES_ROOT);
    let entry = match devices.get(token.as_str()) {
        Some(loro::ValueOrContainer::Container(loro::Container::Map(map))) => map,
        _ => devices.insert_container(token.as_str(), loro::LoroMap::new())?,
    };
    entry.insert("removed", held.encode())?;
    entry.insert("removed_epoch", i64::from(epoch))?;
    Ok(())
}

/// Whether a record may be imported, given the devices the document
/// records: `Err` says why not.
///
/// - Signed by a removed device: only edits of its own peer that the
///   owner held at the removal (nothing new, nothing in another's name),
///   and never a snapshot.
/// - Signed by a device the document records and has not removed: yes.
/// - Not signed (version 2) or by a key the document does not record,
///   under an epoch a removed device could hold: only what the owner held
///   at that removal (a removed device can make a new signing key, but not
///   a new epoch's key).
pub fn judge(members: &[Member], opened: &Opened) -> Result<(), String> {
    let removals: Vec<&Member> = members.iter().filter(|m| m.removal.is_some()).collect();
    if removals.is_empty() {
        return Ok(());
    }
    let signer = opened.signer.and_then(|s| {
        members
            .iter()
            .find(|m| m.keys.is_some_and(|k| k.ed25519 == s))
    });
    let within = |held: &VersionVector, only_peer: Option<u64>| -> Result<(), String> {
        let meta = LoroDoc::decode_import_blob_meta(&opened.payload, false)
            .map_err(|e| format!("its edits could not be read ({e})"))?;
        for (peer, end) in meta.partial_end_vv.iter() {
            if only_peer.is_some_and(|own| own != *peer) {
                return Err("it carries edits in another device's name".into());
            }
            if *end > held.get(peer).copied().unwrap_or(0) {
                return Err("it carries edits made after the removal".into());
            }
        }
        Ok(())
    };
    match signer {
        Some(member) => match &member.removal {
            None => Ok(()),
            Some(_) if opened.kind == Kind::Snapshot => Err(format!(
                "a snapshot written by device {} after it was removed",
                member.token
            )),
            Some(removal) => within(&removal.held, member.peer)
                .map_err(|why| format!("written by removed device {}: {why}", member.token)),
        },
        None => {
            for member in removals {
                let Some(removal) = &member.removal else {
                    continue;
                };
                if opened.epoch <= removal.epoch {
                    within(&removal.held, None).map_err(|why| {
                        format!(
                            "sealed under key epoch {}, which removed device {} holds, by no device this workspace knows: {why}",
                            opened.epoch, member.token
                        )
                    })?;
                }
            }
            Ok(())
        }
    }
}

/// The end version of the edits a blob carries (partial: only the peers
/// it holds edits of).
pub fn end_version(payload: &[u8]) -> Option<VersionVector> {
    LoroDoc::decode_import_blob_meta(payload, false)
        .ok()
        .map(|meta| meta.partial_end_vv)
}

/// Edits a device has seen announced (carried by records it imported)
/// that its document still lacks: Loro keeps an edit whose causal past is
/// missing aside until the past arrives, so a gap here means the server
/// left out a record in between. Each as (who, how many), `who` being the
/// device's token id where the document records its peer id.
pub fn withheld(
    doc: &LoroDoc,
    announced: &VersionVector,
    members: &[Member],
) -> Vec<(String, u64)> {
    let have = doc.oplog_vv();
    let mut out = Vec::new();
    for (peer, end) in announced.iter() {
        let held = have.get(peer).copied().unwrap_or(0);
        if *end > held {
            let who = members
                .iter()
                .find(|m| m.peer == Some(*peer))
                .map_or_else(|| format!("peer {peer:016x}"), |m| m.token.to_string());
            out.push((who, u64::try_from(*end - held).unwrap_or(0)));
        }
    }
    out
}

/// Edits of removed devices that the document holds beyond what the owner
/// held at their removal, by device (token id) and how many. A device can
/// take such edits only before it learns of the removal, which a server
/// that lies arranges by serving devices different logs; they cannot be
/// taken back from a merged document, so they are reported.
pub fn taken_after_removal(doc: &LoroDoc, members: &[Member]) -> Vec<(String, u64)> {
    let have = doc.oplog_vv();
    members
        .iter()
        .filter_map(|m| {
            let (removal, peer) = (m.removal.as_ref()?, m.peer?);
            let held = removal.held.get(&peer).copied().unwrap_or(0);
            let now = have.get(&peer).copied().unwrap_or(0);
            (now > held).then(|| (m.token.to_string(), u64::try_from(now - held).unwrap_or(0)))
        })
        .collect()
}
