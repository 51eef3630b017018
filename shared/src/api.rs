//! Request and response bodies of the `/v1` HTTP API.
//!
//! Routes (the server's `router.rs` lists them all):
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `GET /v1/health` | | [`Health`] |
//! | `POST /v1/workspaces` | [`RegisterWorkspace`] | 201 [`RegisterResponse`] |
//! | `POST /v1/workspaces/{ws}/tokens` | [`MintToken`] | 201 [`MintTokenResponse`] |
//! | `GET /v1/workspaces/{ws}/tokens` | | [`TokenList`] |
//! | `DELETE /v1/workspaces/{ws}/tokens/{id}` | | 204 |
//! | `POST /v1/workspaces/{ws}/invites` | [`CreateInvite`] | 201 [`InviteResponse`] |
//! | `POST /v1/invites/redeem` | [`RedeemInvite`] | [`RedeemResponse`] |
//! | `POST /v1/workspaces/{ws}/entries` | octet-stream, `Idempotency-Key` | [`PushResponse`] |
//! | `GET /v1/workspaces/{ws}/entries?after=N` | | frames ([`crate::frame`]), `Hearth-Head` |
//! | `PUT /v1/workspaces/{ws}/snapshot?upto=N` | octet-stream | [`SnapshotResponse`] |
//! | `GET /v1/workspaces/{ws}/events` | | `text/event-stream` of [`HeadEvent`] |
//! | `POST /v1/workspaces/{ws}/master` | | [`RegisterResponse`] (a new master token; the old one is revoked) |
//! | `PUT /v1/workspaces/{ws}/tokens/{id}/expiry` | [`SetExpiry`] | [`TokenInfo`] |
//! | `POST /v1/workspaces/{ws}/snapshot/undo` | | [`UndoResponse`] |

use serde::{Deserialize, Serialize};

use crate::access::Role;
pub use crate::access::Scope;
use crate::id::{ChunkName, ShareId, TokenId, WorkspaceId};

/// Response header that carries the workspace's head sequence number.
pub const HEAD_HEADER: &str = "Hearth-Head";
/// Response header that carries the compaction floor (the `upto` of the
/// current snapshot, 0 if none).
pub const FLOOR_HEADER: &str = "Hearth-Floor";
/// Request header of a push: a client-chosen key (1–128 visible ASCII
/// characters) that makes a retried push return the first answer.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// Longest accepted idempotency key.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;
/// Longest accepted label (device or workspace name), in characters.
pub const MAX_LABEL_LEN: usize = 100;

/// `GET /v1/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `"ok"` while the server serves.
    pub status: String,
    /// The server's version.
    pub version: String,
    /// The build id of the PWA the server serves (empty if none).
    pub build: String,
    /// The wire protocol version ([`crate::PROTOCOL_VERSION`]).
    pub protocol: u32,
    /// Who may register a workspace here.
    #[serde(default)]
    pub registration: Registration,
    /// The largest file, in bytes, that devices may attach
    /// (`--max-file-bytes`; [`DEFAULT_MAX_FILE_BYTES`] from a server that
    /// does not say).
    #[serde(default = "default_max_file_bytes")]
    pub max_file_bytes: u64,
}

/// The largest attached file, unless the server says otherwise.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 100 * 1024 * 1024;

fn default_max_file_bytes() -> u64 {
    DEFAULT_MAX_FILE_BYTES
}

/// Most chunk names in one `POST …/chunks/missing` or
/// `POST …/chunks/unreferenced`.
pub const MAX_CHUNK_NAMES: usize = 4096;

/// The largest chunk the server stores, in bytes (a file's chunks are at
/// most 4 MiB of content, plus the chunk header and tag).
pub const MAX_CHUNK_BYTES: u64 = 4 * 1024 * 1024 + 64;

/// `POST /v1/workspaces/{ws}/chunks/missing` and
/// `POST /v1/workspaces/{ws}/chunks/unreferenced`: chunk names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkNames {
    pub names: Vec<ChunkName>,
}

/// The answer to `POST …/chunks/missing`: the names asked for that the
/// server does not hold, in the order asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingChunks {
    pub missing: Vec<ChunkName>,
}

/// The answer to `PUT …/chunks/{name}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutChunkResponse {
    /// `false` when the server already held the chunk (nothing was
    /// written).
    pub created: bool,
}

/// The answer to `GET /v1/workspaces/{ws}/chunks` (master): every chunk
/// the workspace stores that is not set aside and that no public link
/// reads, for the owner's device to find those no file names; and how
/// long a set-aside chunk waits before it is deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredChunks {
    pub names: Vec<ChunkName>,
    pub grace_secs: u64,
}

/// The answer to `POST …/chunks/unreferenced`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreferencedResponse {
    /// Chunks newly set aside for deletion.
    pub marked: u64,
    /// Seconds until they are deleted (a chunk put or asked for again in
    /// that time is kept).
    pub grace_secs: u64,
}

/// The shortest life of a public read-only link, in seconds.
pub const MIN_SHARE_SECS: u64 = 60;
/// The longest life of a public read-only link, in seconds (a year and a
/// day): every link ends.
pub const MAX_SHARE_SECS: u64 = 366 * 24 * 60 * 60;
/// Most public links a workspace holds at once.
pub const MAX_SHARES: usize = 1000;

/// `POST /v1/workspaces/{ws}/shares`: a public read-only link to chunks
/// already stored in the workspace. `document` is the sealed note; `chunks`
/// are the other chunks the link may read (its files). The server sees
/// names only: the key is in the link's fragment, which it never gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateShare {
    pub document: ChunkName,
    #[serde(default)]
    pub chunks: Vec<ChunkName>,
    /// Seconds from now until the link ends, from [`MIN_SHARE_SECS`] to
    /// [`MAX_SHARE_SECS`].
    pub expires_in: u64,
}

/// `PUT /v1/workspaces/{ws}/shares/{share}`: the link shows the note as it
/// is now: a new document and files, under the same key, at the same
/// address, until the same end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateShare {
    pub document: ChunkName,
    #[serde(default)]
    pub chunks: Vec<ChunkName>,
}

/// A public link as the server keeps it: the answer to
/// `POST …/shares`, an item of `GET …/shares`, and the answer to
/// `GET /v1/shares/{share}` (which names no workspace).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareInfo {
    pub share_id: ShareId,
    pub document: ChunkName,
    /// Unix seconds.
    pub created: u64,
    /// Unix seconds; from then on the link reads nothing.
    pub expires_at: u64,
}

/// The answer to `GET /v1/workspaces/{ws}/shares`: the workspace's live
/// links, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareList {
    pub shares: Vec<ShareInfo>,
}

/// Who may register a workspace on a server (`hearth serve --registration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Registration {
    /// Whoever sends a valid one-time setup code (the default).
    #[default]
    Code,
    /// Anyone who can reach the server (rate limits and quotas still apply).
    Open,
    /// Nobody: the server keeps the workspaces it has.
    Closed,
}

impl Registration {
    pub fn as_str(self) -> &'static str {
        match self {
            Registration::Code => "code",
            Registration::Open => "open",
            Registration::Closed => "closed",
        }
    }
}

/// `POST /v1/workspaces`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterWorkspace {
    pub workspace_id: WorkspaceId,
    /// A name for the registering (master) device.
    pub label: String,
    /// The server's one-time setup code, when it asks for one
    /// ([`Registration::Code`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterResponse {
    pub master_token: String,
    pub token_id: TokenId,
}

/// `POST /v1/workspaces/{ws}/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MintToken {
    pub label: String,
    pub scope: Scope,
    /// Lifetime in seconds; `None` for a token that does not expire by time.
    #[serde(default)]
    pub expires_in: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MintTokenResponse {
    pub token: String,
    pub token_id: TokenId,
}

/// One row of `GET /v1/workspaces/{ws}/tokens`. Never carries the token
/// itself. Times are seconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub token_id: TokenId,
    pub label: String,
    pub role: Role,
    pub scope: Scope,
    pub created_at: u64,
    pub expires_at: Option<u64>,
    pub last_seen_at: Option<u64>,
    pub revoked_at: Option<u64>,
    /// The device's X25519 public key (base64url, 32 bytes), once it has
    /// registered one (`PUT …/device-key`): a rotated workspace key is
    /// wrapped for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
}

impl TokenInfo {
    /// The registered public key's bytes, if it has a sound one.
    pub fn public_key_bytes(&self) -> Option<[u8; 32]> {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(self.public_key.as_deref()?.as_bytes())
            .ok()?
            .try_into()
            .ok()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenList {
    pub tokens: Vec<TokenInfo>,
}

impl TokenList {
    /// The devices a rotated key is wrapped for: each token not revoked
    /// that registered a sound public key.
    pub fn device_keys(&self) -> Vec<(TokenId, [u8; 32])> {
        self.tokens
            .iter()
            .filter(|t| t.revoked_at.is_none())
            .filter_map(|t| Some((t.token_id.clone(), t.public_key_bytes()?)))
            .collect()
    }
}

/// `PUT /v1/workspaces/{ws}/tokens/{id}/expiry`: the token stops working
/// `expires_in` seconds from now (`None`: it no longer expires by time,
/// within the lifetime it was signed with).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetExpiry {
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// `POST /v1/workspaces/{ws}/snapshot/undo`: the last compaction was undone;
/// the log stands at this floor and head again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UndoResponse {
    pub floor: u64,
    pub head: u64,
}

/// `POST /v1/workspaces/{ws}/invites`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateInvite {
    pub scope: Scope,
    /// Lifetime in seconds (the server caps it; default 10 minutes).
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// The workspace key, wrapped by the owner's device under a key derived
    /// from the pairing link's own secret (which never reaches a server):
    /// base64url without padding, at most [`MAX_WRAPPED_RING_BYTES`] bytes
    /// (every key epoch, 69 bytes each: `keywrap::wrap_ring`).
    /// The server keeps it with the invite, hands it out once, to the
    /// device that redeems the invite, and deletes it then or when the
    /// invite expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrapped_key: Option<String>,
}

/// `GET /v1/workspaces/{ws}/keys`: the key epochs of an end-to-end
/// encrypted workspace, each with its key check record (empty for a
/// workspace that is not encrypted). Any token of the workspace may read
/// them: a check record tells a device whether the key it holds is the
/// workspace's, and opens nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEpochs {
    pub epochs: Vec<KeyEpoch>,
}

/// One key epoch and its key check record (base64url without padding).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEpoch {
    pub epoch: u32,
    pub check: String,
}

/// `PUT /v1/workspaces/{ws}/keys/{epoch}`: the owner's device records a key
/// epoch with its key check record. An epoch is recorded once: the same
/// record again is accepted, another is refused (`key_epoch_exists`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutKeyCheck {
    /// base64url without padding, at most [`MAX_KEY_CHECK_BYTES`] bytes.
    pub check: String,
}

impl KeyEpochs {
    /// Each epoch with its key check record's bytes.
    pub fn decoded(&self) -> Result<Vec<(u32, Vec<u8>)>, String> {
        use base64::Engine as _;
        self.epochs
            .iter()
            .map(|e| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(e.check.as_bytes())
                    .map(|check| (e.epoch, check))
                    .map_err(|_| format!("the key check of epoch {} is not base64url", e.epoch))
            })
            .collect()
    }
}

impl PutKeyCheck {
    pub fn new(check: &[u8]) -> Self {
        Self { check: b64(check) }
    }
}

/// The most bytes a key check record may have (Hearth's are 64).
pub const MAX_KEY_CHECK_BYTES: usize = 256;

/// The most key epochs a workspace may have (one more at each rotation).
pub const MAX_KEY_EPOCHS: usize = 1024;

/// The most bytes a wrapped key may have (an AES-GCM-wrapped 32-byte key
/// with its IV, tag and a header is under 100; one wrapped for a device
/// adds a 32-byte public key).
pub const MAX_WRAPPED_KEY_BYTES: usize = 512;

/// The most bytes an invite's wrapped keys may have: every key epoch of a
/// workspace, 69 bytes each.
pub const MAX_WRAPPED_RING_BYTES: usize = 69 * MAX_KEY_EPOCHS;

/// `PUT /v1/workspaces/{ws}/device-key` (any token): the calling device's
/// X25519 public key, kept with its token. The same key again changes
/// nothing; another replaces it and drops the keys wrapped for the old one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutDeviceKey {
    /// base64url, 32 bytes.
    pub public_key: String,
}

impl PutDeviceKey {
    pub fn new(public_key: &[u8; 32]) -> Self {
        Self {
            public_key: b64(public_key),
        }
    }
}

/// `GET /v1/workspaces/{ws}/device-key` (any token): the calling device's
/// public key as registered, and every key epoch wrapped for it (each 101
/// bytes, base64url; see `devicekey`), oldest epoch first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceKey {
    pub public_key: Option<String>,
    pub wrapped: Vec<String>,
}

impl DeviceKey {
    /// The wrapped keys' bytes.
    pub fn decoded(&self) -> Result<Vec<Vec<u8>>, String> {
        decode_all(&self.wrapped)
    }
}

/// `PUT /v1/workspaces/{ws}/keys/{epoch}/devices` (master): key epoch
/// `epoch` (recorded before with its key check) wrapped for devices of the
/// workspace, one copy each, by token id. A copy for a token that is
/// revoked or of another workspace is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutDeviceWraps {
    pub wrapped: Vec<DeviceWrap>,
}

/// One device's copy of a key epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceWrap {
    pub token_id: TokenId,
    /// base64url, at most [`MAX_WRAPPED_KEY_BYTES`] bytes.
    pub key: String,
}

impl PutDeviceWraps {
    pub fn new(copies: &[(TokenId, Vec<u8>)]) -> Self {
        Self {
            wrapped: copies
                .iter()
                .map(|(token_id, key)| DeviceWrap {
                    token_id: token_id.clone(),
                    key: b64(key),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteResponse {
    /// The single-use invite secret, to be carried in a share link's fragment.
    pub invite: String,
    pub expires_at: u64,
}

/// `POST /v1/invites/redeem`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedeemInvite {
    pub invite: String,
    /// A name for the redeeming device.
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedeemResponse {
    pub workspace_id: WorkspaceId,
    pub token: String,
    pub token_id: TokenId,
    pub scope: Scope,
    /// The wrapped key the invite carried (see [`CreateInvite`]), given
    /// this once; the server no longer has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrapped_key: Option<String>,
}

/// `PUT /v1/workspaces/{ws}/recovery` (master): what the server keeps of
/// the workspace's recovery key (see `recovery`). It replaces what was
/// there: the previous recovery key stops working.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutRecovery {
    /// base64url of the SHA-256 of the recovery credential (32 bytes).
    pub credential_hash: String,
    /// base64url of each key epoch wrapped under the recovery wrapping
    /// key, at most [`MAX_KEY_EPOCHS`] of at most
    /// [`MAX_WRAPPED_KEY_BYTES`] each.
    pub wrapped_keys: Vec<String>,
}

impl PutRecovery {
    /// The body for `credential_hash` and the wrapped keys' bytes.
    pub fn new(credential_hash: &[u8; 32], wrapped_keys: &[Vec<u8>]) -> Self {
        Self {
            credential_hash: b64(credential_hash),
            wrapped_keys: wrapped_keys.iter().map(|w| b64(w)).collect(),
        }
    }
}

/// `POST /v1/recovery/redeem` (anyone, rate-limited): a device that holds a
/// workspace's recovery key becomes its owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedeemRecovery {
    /// base64url of the recovery credential (32 bytes).
    pub credential: String,
    /// The recovering device's name.
    pub label: String,
}

impl RedeemRecovery {
    /// The body for `credential` and the device's name.
    pub fn new(credential: &[u8; 32], label: impl Into<String>) -> Self {
        Self {
            credential: b64(credential),
            label: label.into(),
        }
    }
}

/// The answer to [`RedeemRecovery`]: a new master token (every earlier
/// one of the workspace stops working: a lost owner device is locked out)
/// and every key epoch, wrapped for the recovery key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryResponse {
    pub workspace_id: WorkspaceId,
    pub master_token: String,
    pub token_id: TokenId,
    /// base64url of each wrapped key epoch.
    pub wrapped_keys: Vec<String>,
}

impl RecoveryResponse {
    /// The wrapped keys' bytes.
    pub fn decoded_keys(&self) -> Result<Vec<Vec<u8>>, String> {
        decode_all(&self.wrapped_keys)
    }
}

fn decode_all(texts: &[String]) -> Result<Vec<Vec<u8>>, String> {
    use base64::Engine as _;
    texts
        .iter()
        .map(|w| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(w)
                .map_err(|e| format!("a wrapped key is not base64url: {e}"))
        })
        .collect()
}

/// base64url without padding, as every binary field of the API is sent.
fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `POST /v1/workspaces/{ws}/entries`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushResponse {
    /// The sequence number the server gave the entry.
    pub seq: u64,
}

/// `PUT /v1/workspaces/{ws}/snapshot?upto=N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotResponse {
    /// The new compaction floor.
    pub floor: u64,
}

/// The `data` of an event on `GET /v1/workspaces/{ws}/events`
/// (`event: head`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadEvent {
    pub head: u64,
}
