//! The single-node token index: one SQLite file (WAL) in the data
//! directory. Every operation runs its statements on a blocking thread, so
//! SQLite never stalls the async workers.
//!
//! - [`schema`]: versioned migrations (`PRAGMA user_version`).
//! - [`queries`]: the statements of workspaces, tokens, setup codes and
//!   invites, as plain functions on a connection;
//! - [`keys`]: those of device keys, key epochs and recovery credentials.

pub mod keys;
pub mod queries;
pub mod schema;
pub mod shares;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hearth_shared::api::{Scope, TokenInfo};
use hearth_shared::claims::Role;
use hearth_shared::id::{ChunkName, ShareId, TokenId, WorkspaceId};
use rusqlite::Connection;

use super::{
    DeviceKeyRow, ExpirySet, Index, IndexError, KeyEpochPut, NewDevice, NewInvite, NewToken,
    Recovered, Redeemed, Revoked, ShareRow, TokenStatus, WrapsPut,
};

/// The index's file name in the data directory.
pub const INDEX_FILE: &str = "index.sqlite";

/// Why a statement failed, as SQLite says it. Turned into the neutral
/// [`IndexError`] at the trait's edge.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the index was made by a newer hearth (schema {found}, this one knows {known})")]
    TooNew { found: i64, known: i64 },
    #[error("a blocking task failed: {0}")]
    Task(String),
    #[error("the index lock is poisoned")]
    Poisoned,
}

impl From<SqlError> for IndexError {
    fn from(err: SqlError) -> IndexError {
        use rusqlite::ErrorCode as C;
        let text = err.to_string();
        match &err {
            SqlError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => match e.code {
                C::DiskFull => IndexError::Full(text),
                C::DatabaseBusy | C::DatabaseLocked | C::CannotOpen | C::SystemIoFailure => {
                    IndexError::Unavailable(text)
                }
                C::ConstraintViolation => IndexError::Conflict(text),
                _ => IndexError::Other(text),
            },
            _ => IndexError::Other(text),
        }
    }
}

/// A handle on the SQLite index; cheap to clone.
#[derive(Clone)]
pub struct SqliteIndex {
    /// One connection: SQLite serialises writers anyway, and the statements
    /// are small. The mutex is only ever taken on blocking threads.
    conn: Arc<Mutex<Connection>>,
}

impl SqliteIndex {
    /// Opens (creating if need be) and migrates the index. Blocking.
    pub fn open(path: &Path) -> Result<SqliteIndex, SqlError> {
        let mut conn = Connection::open(path)?;
        configure(&conn)?;
        schema::migrate(&mut conn)?;
        Ok(SqliteIndex {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on a blocking thread.
    async fn call<R, F>(&self, f: F) -> Result<R, IndexError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<R, SqlError> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().map_err(|_| SqlError::Poisoned)?;
            f(&mut guard)
        })
        .await
        .map_err(|e| IndexError::Other(format!("a blocking task failed: {e}")))?
        .map_err(IndexError::from)
    }
}

/// WAL for concurrent readers, FULL sync so that a token handed out is never
/// forgotten, foreign keys on, and deleted content overwritten (a wrapped
/// key that was handed out or expired leaves no copy in a free page).
fn configure(conn: &Connection) -> Result<(), SqlError> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    Ok(())
}

#[async_trait::async_trait]
impl Index for SqliteIndex {
    async fn register_workspace(
        &self,
        label: String,
        master: NewToken,
    ) -> Result<bool, IndexError> {
        self.call(move |c| queries::register_workspace(c, &label, &master))
            .await
    }

    async fn register_with_code(
        &self,
        code_hash: Vec<u8>,
        now: u64,
        label: String,
        master: NewToken,
    ) -> Result<Option<bool>, IndexError> {
        self.call(move |c| queries::register_with_code(c, &code_hash, now, &label, &master))
            .await
    }

    async fn add_setup_code(
        &self,
        code_hash: Vec<u8>,
        now: u64,
        expires_at: u64,
    ) -> Result<(), IndexError> {
        self.call(move |c| {
            queries::purge_setup_codes(c, now)?;
            queries::add_setup_code(c, &code_hash, now, expires_at)
        })
        .await
    }

    async fn mint_token(&self, token: NewToken) -> Result<(), IndexError> {
        self.call(move |c| queries::mint_token(c, &token)).await
    }

    async fn token_status(&self, id: TokenId) -> Result<Option<TokenStatus>, IndexError> {
        self.call(move |c| queries::token_status(c, &id)).await
    }

    async fn touch_token(&self, id: TokenId, now: u64) -> Result<(), IndexError> {
        self.call(move |c| queries::touch_token(c, &id, now)).await
    }

    async fn list_tokens(&self, ws: WorkspaceId) -> Result<Vec<TokenInfo>, IndexError> {
        self.call(move |c| queries::list_tokens(c, &ws)).await
    }

    async fn revoke_token(
        &self,
        ws: WorkspaceId,
        id: TokenId,
        now: u64,
    ) -> Result<Revoked, IndexError> {
        self.call(move |c| queries::revoke_token(c, &ws, &id, now))
            .await
    }

    async fn replace_master(&self, new: NewToken, now: u64) -> Result<(), IndexError> {
        self.call(move |c| queries::replace_master(c, &new, now))
            .await
    }

    async fn set_expiry(
        &self,
        ws: WorkspaceId,
        id: TokenId,
        expires_at: Option<u64>,
    ) -> Result<ExpirySet, IndexError> {
        self.call(move |c| queries::set_expiry(c, &ws, &id, expires_at))
            .await
    }

    async fn set_public_key(
        &self,
        ws: WorkspaceId,
        token: TokenId,
        public_key: Vec<u8>,
    ) -> Result<bool, IndexError> {
        self.call(move |c| keys::set_public_key(c, &ws, &token, &public_key))
            .await
    }

    async fn device_key(
        &self,
        ws: WorkspaceId,
        token: TokenId,
    ) -> Result<DeviceKeyRow, IndexError> {
        self.call(move |c| keys::device_key(c, &ws, &token)).await
    }

    async fn put_device_wraps(
        &self,
        ws: WorkspaceId,
        epoch: u32,
        copies: Vec<(TokenId, Vec<u8>)>,
        now: u64,
    ) -> Result<WrapsPut, IndexError> {
        self.call(move |c| keys::put_device_wraps(c, &ws, epoch, &copies, now))
            .await
    }

    async fn create_invite(&self, invite: NewInvite) -> Result<(), IndexError> {
        self.call(move |c| {
            queries::create_invite(
                c,
                &invite.secret_hash,
                &invite.workspace,
                invite.scope,
                invite.created_at,
                invite.expires_at,
                invite.wrapped_key.as_deref(),
            )
        })
        .await
    }

    async fn redeem_invite(
        &self,
        secret_hash: Vec<u8>,
        now: u64,
        device: NewDevice,
    ) -> Result<Option<Redeemed>, IndexError> {
        self.call(move |c| {
            queries::redeem_invite(c, &secret_hash, now, |workspace, scope| NewToken {
                id: device.id,
                workspace,
                role: Role::Access,
                scope,
                label: device.label,
                created_at: now,
                expires_at: None,
            })
        })
        .await
    }

    async fn purge_invites(&self, now: u64, before: u64) -> Result<usize, IndexError> {
        self.call(move |c| queries::purge_invites(c, now, before))
            .await
    }

    async fn key_epochs(&self, ws: WorkspaceId) -> Result<Vec<(u32, Vec<u8>)>, IndexError> {
        self.call(move |c| keys::key_epochs(c, &ws)).await
    }

    async fn put_key_epoch(
        &self,
        ws: WorkspaceId,
        epoch: u32,
        check: Vec<u8>,
        now: u64,
        max_epochs: usize,
    ) -> Result<KeyEpochPut, IndexError> {
        self.call(move |c| keys::put_key_epoch(c, &ws, epoch, &check, now, max_epochs))
            .await
    }

    async fn put_recovery(
        &self,
        ws: WorkspaceId,
        credential_hash: Vec<u8>,
        wrapped_keys: String,
        now: u64,
    ) -> Result<bool, IndexError> {
        self.call(move |c| keys::put_recovery(c, &ws, &credential_hash, &wrapped_keys, now))
            .await
    }

    async fn list_workspaces(&self) -> Result<Vec<crate::index::WorkspaceSummary>, IndexError> {
        self.call(queries::list_workspaces).await
    }

    async fn set_quota(&self, ws: WorkspaceId, quota: Option<u64>) -> Result<bool, IndexError> {
        self.call(move |c| queries::set_quota(c, &ws, quota)).await
    }

    async fn delete_workspace(&self, ws: WorkspaceId) -> Result<bool, IndexError> {
        self.call(move |c| queries::delete_workspace(c, &ws)).await
    }

    async fn create_share(&self, share: ShareRow, max: usize) -> Result<bool, IndexError> {
        self.call(move |c| shares::create(c, &share, max)).await
    }

    async fn share(&self, id: ShareId) -> Result<Option<ShareRow>, IndexError> {
        self.call(move |c| shares::get(c, &id)).await
    }

    async fn list_shares(&self, ws: WorkspaceId) -> Result<Vec<ShareRow>, IndexError> {
        self.call(move |c| shares::list(c, &ws)).await
    }

    async fn delete_share(
        &self,
        ws: WorkspaceId,
        id: ShareId,
    ) -> Result<Option<ShareRow>, IndexError> {
        self.call(move |c| shares::delete(c, &ws, &id)).await
    }

    async fn replace_share(
        &self,
        ws: WorkspaceId,
        id: ShareId,
        document: ChunkName,
        chunks: Vec<ChunkName>,
        now: u64,
    ) -> Result<Option<ShareRow>, IndexError> {
        self.call(move |c| shares::replace(c, &ws, &id, &document, &chunks, now))
            .await
    }

    async fn purge_shares(&self, now: u64) -> Result<Vec<ShareRow>, IndexError> {
        self.call(move |c| shares::purge(c, now)).await
    }

    async fn redeem_recovery(
        &self,
        credential_hash: Vec<u8>,
        now: u64,
        device: NewDevice,
    ) -> Result<Option<Recovered>, IndexError> {
        self.call(move |c| {
            keys::redeem_recovery(c, &credential_hash, now, |workspace| NewToken {
                id: device.id,
                workspace,
                role: Role::Master,
                scope: Scope::ReadWrite,
                label: device.label,
                created_at: now,
                expires_at: None,
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_disk_is_full_and_not_anything_else() {
        let err = SqlError::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        ));
        assert!(matches!(IndexError::from(err), IndexError::Full(_)));
        let busy = SqlError::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        ));
        assert!(matches!(IndexError::from(busy), IndexError::Unavailable(_)));
    }
}
