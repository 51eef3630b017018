//! The token index: the workspaces, their tokens, invites, setup codes, key
//! epochs, device keys and wrapped copies, and recovery credentials. It
//! holds token ids only, never a token; secrets only as SHA-256 hashes.
//!
//! [`Index`] is the seam: one async method per operation, with a neutral
//! [`IndexError`]. Handlers see only `dyn Index`.
//!
//! - [`sqlite`]: the single-node backend (SQLite in WAL mode).
//! - [`postgres`]: the cluster's backend (PostgreSQL), for several servers
//!   on one database.
//! - [`cached`]: a wrapper that keeps token statuses in memory and forgets
//!   them on the writes it sees and on invalidations from other nodes.
//! - [`contract`]: the story every backend must tell the same way;
//!   [`memory`]: an in-memory double that tells it too.

pub mod cached;
#[cfg(any(test, feature = "test-support"))]
pub mod contract;
#[cfg(any(test, feature = "test-support"))]
pub mod memory;
pub mod postgres;
#[cfg(any(test, feature = "test-support"))]
pub mod share_contract;
pub mod sqlite;

use hearth_shared::api::{Scope, TokenInfo};
use hearth_shared::claims::Role;
use hearth_shared::id::{ChunkName, ShareId, TokenId, WorkspaceId};

pub use cached::Cached;
pub use postgres::PgIndex;
pub use sqlite::{INDEX_FILE, SqliteIndex};

/// Why an index operation failed, in words that say nothing of the engine.
/// Never shown to clients as it is: [`crate::error::ApiError::index`] turns
/// it into an answer. A failed operation changed nothing.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IndexError {
    /// The index's storage is full; retrying later may succeed.
    #[error("the index's storage is full: {0}")]
    Full(String),
    /// The index cannot be reached or is busy; retrying may succeed.
    #[error("the index is unavailable: {0}")]
    Unavailable(String),
    /// The change conflicts with one made at the same time.
    #[error("the change conflicts with another: {0}")]
    Conflict(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// A new token's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub id: TokenId,
    pub workspace: WorkspaceId,
    pub role: Role,
    pub scope: Scope,
    pub label: String,
    pub created_at: u64,
    pub expires_at: Option<u64>,
}

/// The device that redeems an invite or a recovery key: the token id drawn
/// for it and its label. The index makes the token from it and what the
/// invite (or recovery credential) says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDevice {
    pub id: TokenId,
    pub label: String,
}

/// What a request's token is allowed, according to the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenStatus {
    pub workspace: String,
    pub role: Role,
    pub scope: Scope,
    pub revoked: bool,
    /// When the index says the token stops working (the owner may set it
    /// sooner than the signed `exp`).
    pub expires_at: Option<u64>,
}

/// What revoking a token did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// Revoked now, or it already was.
    Done,
    /// No such token in this workspace.
    NotFound,
    /// It is the master token, which cannot be revoked.
    IsMaster,
}

/// A device's public key, if registered, and the key epochs wrapped for it.
pub type DeviceKeyRow = (Option<Vec<u8>>, Vec<Vec<u8>>);

/// What keeping wrapped copies of a key epoch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WrapsPut {
    /// Kept (a copy already there for the same token and epoch is replaced).
    Kept,
    /// The workspace has no such key epoch.
    NoEpoch,
    /// A copy is for a token that is not a live device of the workspace
    /// with a public key; nothing was kept.
    NotADevice(TokenId),
}

/// What setting a token's expiry did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpirySet {
    Done(TokenInfo),
    NotFound,
    IsMaster,
}

/// What recording a key epoch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEpochPut {
    Created,
    /// The epoch was already recorded with the same check.
    Unchanged,
    /// The epoch is recorded with another check; nothing changed.
    Conflict,
    /// The workspace has as many epochs as it may.
    TooMany,
}

/// A redeemed invite: the new device's token, and the wrapped key the
/// invite carried, if any.
pub type Redeemed = (NewToken, Option<Vec<u8>>);

/// A recovery: the new owner's token and the wrapped keys (a JSON array).
pub type Recovered = (NewToken, String);

/// A workspace as the operator sees it in the index.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WorkspaceSummary {
    pub id: WorkspaceId,
    pub label: String,
    pub created_at: u64,
    /// Tokens not revoked (the owner's device among them).
    pub devices: u64,
    /// When a token of it was last used, if ever.
    pub last_seen_at: Option<u64>,
    /// The operator's quota for it (`None`: the server's default).
    pub quota: Option<u64>,
}

/// A public read-only link to one note, as the index keeps it: which
/// chunks of which workspace it may read, and until when. The key that
/// opens them is in the link alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareRow {
    pub id: ShareId,
    pub workspace: WorkspaceId,
    /// The sealed note.
    pub document: ChunkName,
    /// The other chunks it may read (its files).
    pub chunks: Vec<ChunkName>,
    pub created_at: u64,
    pub expires_at: u64,
}

impl ShareRow {
    /// The document and every other chunk.
    pub fn all_chunks(&self) -> impl Iterator<Item = ChunkName> + '_ {
        std::iter::once(self.document).chain(self.chunks.iter().copied())
    }
}

/// Chunk names as the SQL backends keep a list of them: space-separated.
pub(crate) fn names_text(names: &[ChunkName]) -> String {
    names
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A list of chunk names read back; a word that is not a name is skipped
/// (the schemas hold only what [`names_text`] wrote).
pub(crate) fn parse_names(text: &str) -> Vec<ChunkName> {
    text.split(' ')
        .filter_map(|n| ChunkName::parse(n).ok())
        .collect()
}

/// A new invite, as the index keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvite {
    /// SHA-256 of the invite's secret.
    pub secret_hash: Vec<u8>,
    pub workspace: WorkspaceId,
    pub scope: Scope,
    pub created_at: u64,
    pub expires_at: u64,
    /// The workspace's keys wrapped under the invite's secret, handed out
    /// once and then forgotten.
    pub wrapped_key: Option<Vec<u8>>,
}

/// A role as the SQL backends store it: anything but `master` reads as an
/// access token, the lesser (the schemas allow only the two).
pub(crate) fn parse_role(s: &str) -> Role {
    if s == Role::Master.as_str() {
        Role::Master
    } else {
        Role::Access
    }
}

/// A scope as the SQL backends store it: an unknown one reads as
/// read-only, the lesser.
pub(crate) fn parse_scope(s: &str) -> Scope {
    Scope::parse(s).unwrap_or(Scope::ReadOnly)
}

/// A time for a signed 64-bit column: one past `i64::MAX` is kept as
/// `i64::MAX` (far beyond any real time), never a panic.
pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A time or a count read back from a signed column: a negative one, which
/// this code never writes, reads as 0.
pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A device's public key as [`TokenInfo`] shows it (base64url, no padding).
pub(crate) fn public_key_text(key: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
}

/// The token index's operations. Every method is durable when it returns
/// `Ok`, and multi-step changes (register, redeem, recover, replace the
/// master token) happen all or nothing, even with several servers on one
/// index.
#[async_trait::async_trait]
pub trait Index: Send + Sync + 'static {
    /// Registers a workspace with its master token. `false` if it exists.
    async fn register_workspace(&self, label: String, master: NewToken)
    -> Result<bool, IndexError>;

    /// Registers a workspace with a setup code (by its hash): if the code
    /// is known and unexpired at `now`, it is used up and the workspace
    /// registered, at once. `None` if the code opens nothing; otherwise as
    /// [`Index::register_workspace`] (a code is not spent on a workspace
    /// that exists).
    async fn register_with_code(
        &self,
        code_hash: Vec<u8>,
        now: u64,
        label: String,
        master: NewToken,
    ) -> Result<Option<bool>, IndexError>;

    /// Keeps a new setup code (by its hash) valid until `expires_at`, and
    /// deletes the codes that expired before `now`.
    async fn add_setup_code(
        &self,
        code_hash: Vec<u8>,
        now: u64,
        expires_at: u64,
    ) -> Result<(), IndexError>;

    /// Adds an access token.
    async fn mint_token(&self, token: NewToken) -> Result<(), IndexError>;

    /// The index's view of a token, if it knows it.
    async fn token_status(&self, id: TokenId) -> Result<Option<TokenStatus>, IndexError>;

    /// Records that a token was used at `now`.
    async fn touch_token(&self, id: TokenId, now: u64) -> Result<(), IndexError>;

    /// Every token of a workspace, oldest first.
    async fn list_tokens(&self, ws: WorkspaceId) -> Result<Vec<TokenInfo>, IndexError>;

    /// Revokes an access token of `ws` (idempotent); what was wrapped for
    /// it goes with it.
    async fn revoke_token(
        &self,
        ws: WorkspaceId,
        id: TokenId,
        now: u64,
    ) -> Result<Revoked, IndexError>;

    /// Revokes every live master token of `new.workspace` and adds `new`,
    /// at once.
    async fn replace_master(&self, new: NewToken, now: u64) -> Result<(), IndexError>;

    /// Sets when an access token of `ws` stops working.
    async fn set_expiry(
        &self,
        ws: WorkspaceId,
        id: TokenId,
        expires_at: Option<u64>,
    ) -> Result<ExpirySet, IndexError>;

    /// Registers a token's X25519 public key; another key than the one it
    /// had drops what was wrapped for the old one. `false` if the token is
    /// not a token of `ws`.
    async fn set_public_key(
        &self,
        ws: WorkspaceId,
        token: TokenId,
        public_key: Vec<u8>,
    ) -> Result<bool, IndexError>;

    /// A token's public key and the key epochs wrapped for it, oldest epoch
    /// first.
    async fn device_key(&self, ws: WorkspaceId, token: TokenId)
    -> Result<DeviceKeyRow, IndexError>;

    /// Keeps key epoch `epoch` of `ws` wrapped for each device in `copies`,
    /// all or none.
    async fn put_device_wraps(
        &self,
        ws: WorkspaceId,
        epoch: u32,
        copies: Vec<(TokenId, Vec<u8>)>,
        now: u64,
    ) -> Result<WrapsPut, IndexError>;

    /// Keeps a new invite.
    async fn create_invite(&self, invite: NewInvite) -> Result<(), IndexError>;

    /// Redeems an invite (by its secret's hash): if it exists, is unused
    /// and unexpired at `now`, marks it used, takes its wrapped key away
    /// and makes `device` an access token with the invite's scope, at once.
    /// `None` if the invite opens nothing.
    async fn redeem_invite(
        &self,
        secret_hash: Vec<u8>,
        now: u64,
        device: NewDevice,
    ) -> Result<Option<Redeemed>, IndexError>;

    /// Takes the wrapped keys away from invites that expired by `now`, and
    /// deletes invites that expired before `before`. How many went.
    async fn purge_invites(&self, now: u64, before: u64) -> Result<usize, IndexError>;

    /// The key epochs of `ws` and their key check records, oldest first.
    async fn key_epochs(&self, ws: WorkspaceId) -> Result<Vec<(u32, Vec<u8>)>, IndexError>;

    /// Records key epoch `epoch` of `ws` with its check, once, if the
    /// workspace has fewer than `max_epochs`.
    async fn put_key_epoch(
        &self,
        ws: WorkspaceId,
        epoch: u32,
        check: Vec<u8>,
        now: u64,
        max_epochs: usize,
    ) -> Result<KeyEpochPut, IndexError>;

    /// Keeps a recovery credential's hash and the wrapped keys (a JSON
    /// array) for `ws`, replacing the one before. `true` if there was one.
    async fn put_recovery(
        &self,
        ws: WorkspaceId,
        credential_hash: Vec<u8>,
        wrapped_keys: String,
        now: u64,
    ) -> Result<bool, IndexError>;

    /// Every workspace, oldest first.
    async fn list_workspaces(&self) -> Result<Vec<WorkspaceSummary>, IndexError>;

    /// Sets (or, with `None`, clears) the operator's quota of `ws`.
    /// `false` if there is no such workspace.
    async fn set_quota(&self, ws: WorkspaceId, quota: Option<u64>) -> Result<bool, IndexError>;

    /// Forgets a workspace and everything of it (tokens, invites, key
    /// epochs, wrapped keys, recovery), at once. `false` if there was none.
    async fn delete_workspace(&self, ws: WorkspaceId) -> Result<bool, IndexError>;

    /// Keeps a public link, unless its workspace holds `max` live ones
    /// already (`false`) or does not exist (an error).
    async fn create_share(&self, share: ShareRow, max: usize) -> Result<bool, IndexError>;

    /// The link `id`, expired or not.
    async fn share(&self, id: ShareId) -> Result<Option<ShareRow>, IndexError>;

    /// The links of `ws`, newest first.
    async fn list_shares(&self, ws: WorkspaceId) -> Result<Vec<ShareRow>, IndexError>;

    /// Forgets link `id` of `ws`; what it was, if it was there.
    async fn delete_share(
        &self,
        ws: WorkspaceId,
        id: ShareId,
    ) -> Result<Option<ShareRow>, IndexError>;

    /// Points live link `id` of `ws` (unexpired at `now`) at new chunks;
    /// what it was, if it was there.
    async fn replace_share(
        &self,
        ws: WorkspaceId,
        id: ShareId,
        document: ChunkName,
        chunks: Vec<ChunkName>,
        now: u64,
    ) -> Result<Option<ShareRow>, IndexError>;

    /// Forgets every link that expired at or before `now`; what they were.
    async fn purge_shares(&self, now: u64) -> Result<Vec<ShareRow>, IndexError>;

    /// Recovers the workspace whose recovery credential hashes to
    /// `credential_hash`: revokes every master token it has and makes
    /// `device` its master token, at once. `None` if no workspace has it.
    async fn redeem_recovery(
        &self,
        credential_hash: Vec<u8>,
        now: u64,
        device: NewDevice,
    ) -> Result<Option<Recovered>, IndexError>;
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// The indexes to tell the story: `HEARTH_TEST_INDEXES` (comma-separated:
    /// `sqlite`, `cached`, `memory`, `postgres`, `cached-postgres`), or
    /// every backend this crate has (`postgres` needs `HEARTH_TEST_DATABASE`).
    fn indexes() -> Vec<String> {
        crate::storage::backends_named("HEARTH_TEST_INDEXES", "sqlite,cached,memory,postgres")
    }

    #[tokio::test]
    async fn every_index_tells_the_story() {
        for name in indexes() {
            let dir = tempfile::tempdir().unwrap();
            let sqlite = || Arc::new(SqliteIndex::open(&dir.path().join(INDEX_FILE)).unwrap());
            let index: Box<dyn Index> = match name.as_str() {
                "sqlite" => Box::new(SqliteIndex::clone(&sqlite())),
                "cached" => Box::new(Cached::new(sqlite())),
                "memory" => Box::new(memory::MemoryIndex::default()),
                "postgres" => Box::new(PgIndex::new(crate::pg::testing::fresh_pool().await)),
                "cached-postgres" => Box::new(Cached::new(Arc::new(PgIndex::new(
                    crate::pg::testing::fresh_pool().await,
                )))),
                other => panic!("no index called {other} (HEARTH_TEST_INDEXES)"),
            };
            contract::story(index.as_ref()).await;
        }
    }
}
