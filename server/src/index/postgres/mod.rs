//! The cluster's token index: the tables of `pg/migrations/0001_index.sql`
//! in the PostgreSQL database that every server of the cluster shares.
//! It tells the same story as the SQLite index, and stays right when
//! several servers change it at once.
//!
//! - [`queries`]: the statements of workspaces, tokens, setup codes and
//!   invites;
//! - [`keys`]: those of device keys, key epochs and recovery credentials.
//!
//! Every multi-step change is one transaction, at the database's default
//! isolation (read committed). What a change reads before it writes is
//! locked first (`FOR UPDATE`, `FOR SHARE`), or the read is the write (a
//! `DELETE` or `UPDATE` that counts its rows), so that of two servers
//! racing for one invite or one setup code exactly one wins. Changes that
//! read several rows of one workspace (its master tokens, key epochs,
//! recovery) first lock the workspace's row, so they take turns.
//!
//! Unlike SQLite with `secure_delete`, PostgreSQL keeps a deleted wrapped
//! key in a dead row version until `VACUUM` reclaims it, and in its
//! write-ahead log; the keys are wrapped, so that copy opens nothing alone.

pub mod keys;
pub mod queries;
pub mod shares;

use deadpool_postgres::GenericClient;
use hearth_shared::api::{Scope, TokenInfo};
use hearth_shared::claims::Role;
use hearth_shared::id::{ChunkName, ShareId, TokenId, WorkspaceId};
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, ToSql};

use super::{
    DeviceKeyRow, ExpirySet, Index, IndexError, KeyEpochPut, NewDevice, NewInvite, NewToken,
    Recovered, Redeemed, Revoked, ShareRow, TokenStatus, WorkspaceSummary, WrapsPut,
};
use crate::pg::{self, Client, Failure, Pool};

/// A handle on the PostgreSQL index; cheap to clone.
#[derive(Clone)]
pub struct PgIndex {
    pool: Pool,
}

impl PgIndex {
    /// The index in the database `pool` reaches, which the caller has
    /// migrated already.
    pub fn new(pool: Pool) -> PgIndex {
        PgIndex { pool }
    }

    /// A pooled connection, or why there is none.
    async fn client(&self) -> Result<Client, Failure> {
        pg::client(&self.pool).await
    }
}

/// The parameters of a statement.
type Params<'a> = [&'a (dyn ToSql + Sync)];

/// Runs a statement, prepared once per connection; how many rows it
/// changed.
async fn exec(c: &impl GenericClient, sql: &str, params: &Params<'_>) -> Result<u64, Failure> {
    let stmt = c.prepare_cached(sql).await?;
    Ok(c.execute(&stmt, params).await?)
}

/// The rows a statement returns, prepared once per connection.
async fn rows(c: &impl GenericClient, sql: &str, params: &Params<'_>) -> Result<Vec<Row>, Failure> {
    let stmt = c.prepare_cached(sql).await?;
    Ok(c.query(&stmt, params).await?)
}

/// The first row a statement returns, if any (every caller looks a row up
/// by a unique key).
async fn first(
    c: &impl GenericClient,
    sql: &str,
    params: &Params<'_>,
) -> Result<Option<Row>, Failure> {
    Ok(rows(c, sql, params).await?.into_iter().next())
}

/// Column `i` of `row`. A value of another type than the schema says is a
/// defect, not an unreachable database.
fn col<'a, T: FromSql<'a>>(row: &'a Row, i: usize) -> Result<T, Failure> {
    row.try_get(i)
        .map_err(|e| Failure::Other(format!("reading column {i}: {e}")))
}

/// Locks the row of workspace `ws` until the transaction ends, so that
/// the changes that read and then write several rows of one workspace take
/// turns across servers. `NO KEY UPDATE` still lets tokens and invites be
/// added meanwhile. `false` if there is no such workspace.
async fn lock_workspace(c: &impl GenericClient, ws: &WorkspaceId) -> Result<bool, Failure> {
    let found = first(
        c,
        "SELECT 1 FROM workspaces WHERE id = $1 FOR NO KEY UPDATE",
        &[&ws.as_str()],
    )
    .await?;
    Ok(found.is_some())
}

#[async_trait::async_trait]
impl Index for PgIndex {
    async fn register_workspace(
        &self,
        label: String,
        master: NewToken,
    ) -> Result<bool, IndexError> {
        let mut c = self.client().await?;
        Ok(queries::register_workspace(&mut c, &label, &master).await?)
    }

    async fn register_with_code(
        &self,
        code_hash: Vec<u8>,
        now: u64,
        label: String,
        master: NewToken,
    ) -> Result<Option<bool>, IndexError> {
        let mut c = self.client().await?;
        Ok(queries::register_with_code(&mut c, &code_hash, now, &label, &master).await?)
    }

    async fn add_setup_code(
        &self,
        code_hash: Vec<u8>,
        now: u64,
        expires_at: u64,
    ) -> Result<(), IndexError> {
        let mut c = self.client().await?;
        Ok(queries::add_setup_code(&mut c, &code_hash, now, expires_at).await?)
    }

    async fn mint_token(&self, token: NewToken) -> Result<(), IndexError> {
        let c = self.client().await?;
        Ok(queries::insert_token(&c, &token).await?)
    }

    async fn token_status(&self, id: TokenId) -> Result<Option<TokenStatus>, IndexError> {
        let c = self.client().await?;
        Ok(queries::token_status(&c, &id).await?)
    }

    async fn touch_token(&self, id: TokenId, now: u64) -> Result<(), IndexError> {
        let c = self.client().await?;
        Ok(queries::touch_token(&c, &id, now).await?)
    }

    async fn list_tokens(&self, ws: WorkspaceId) -> Result<Vec<TokenInfo>, IndexError> {
        let c = self.client().await?;
        Ok(queries::list_tokens(&c, &ws).await?)
    }

    async fn revoke_token(
        &self,
        ws: WorkspaceId,
        id: TokenId,
        now: u64,
    ) -> Result<Revoked, IndexError> {
        let mut c = self.client().await?;
        Ok(queries::revoke_token(&mut c, &ws, &id, now).await?)
    }

    async fn replace_master(&self, new: NewToken, now: u64) -> Result<(), IndexError> {
        let mut c = self.client().await?;
        Ok(queries::replace_master(&mut c, &new, now).await?)
    }

    async fn set_expiry(
        &self,
        ws: WorkspaceId,
        id: TokenId,
        expires_at: Option<u64>,
    ) -> Result<ExpirySet, IndexError> {
        let mut c = self.client().await?;
        Ok(queries::set_expiry(&mut c, &ws, &id, expires_at).await?)
    }

    async fn set_public_key(
        &self,
        ws: WorkspaceId,
        token: TokenId,
        public_key: Vec<u8>,
    ) -> Result<bool, IndexError> {
        let mut c = self.client().await?;
        Ok(keys::set_public_key(&mut c, &ws, &token, &public_key).await?)
    }

    async fn device_key(
        &self,
        ws: WorkspaceId,
        token: TokenId,
    ) -> Result<DeviceKeyRow, IndexError> {
        let c = self.client().await?;
        Ok(keys::device_key(&c, &ws, &token).await?)
    }

    async fn put_device_wraps(
        &self,
        ws: WorkspaceId,
        epoch: u32,
        copies: Vec<(TokenId, Vec<u8>)>,
        now: u64,
    ) -> Result<WrapsPut, IndexError> {
        let mut c = self.client().await?;
        Ok(keys::put_device_wraps(&mut c, &ws, epoch, &copies, now).await?)
    }

    async fn create_invite(&self, invite: NewInvite) -> Result<(), IndexError> {
        let c = self.client().await?;
        Ok(queries::create_invite(&c, &invite).await?)
    }

    async fn redeem_invite(
        &self,
        secret_hash: Vec<u8>,
        now: u64,
        device: NewDevice,
    ) -> Result<Option<Redeemed>, IndexError> {
        let mut c = self.client().await?;
        let redeemed =
            queries::redeem_invite(&mut c, &secret_hash, now, |workspace, scope| NewToken {
                id: device.id,
                workspace,
                role: Role::Access,
                scope,
                label: device.label,
                created_at: now,
                expires_at: None,
            })
            .await?;
        Ok(redeemed)
    }

    async fn purge_invites(&self, now: u64, before: u64) -> Result<usize, IndexError> {
        let mut c = self.client().await?;
        Ok(queries::purge_invites(&mut c, now, before).await?)
    }

    async fn key_epochs(&self, ws: WorkspaceId) -> Result<Vec<(u32, Vec<u8>)>, IndexError> {
        let c = self.client().await?;
        Ok(keys::key_epochs(&c, &ws).await?)
    }

    async fn put_key_epoch(
        &self,
        ws: WorkspaceId,
        epoch: u32,
        check: Vec<u8>,
        now: u64,
        max_epochs: usize,
    ) -> Result<KeyEpochPut, IndexError> {
        let mut c = self.client().await?;
        Ok(keys::put_key_epoch(&mut c, &ws, epoch, &check, now, max_epochs).await?)
    }

    async fn put_recovery(
        &self,
        ws: WorkspaceId,
        credential_hash: Vec<u8>,
        wrapped_keys: String,
        now: u64,
    ) -> Result<bool, IndexError> {
        let mut c = self.client().await?;
        Ok(keys::put_recovery(&mut c, &ws, &credential_hash, &wrapped_keys, now).await?)
    }

    async fn list_workspaces(&self) -> Result<Vec<WorkspaceSummary>, IndexError> {
        let c = self.client().await?;
        Ok(queries::list_workspaces(&c).await?)
    }

    async fn set_quota(&self, ws: WorkspaceId, quota: Option<u64>) -> Result<bool, IndexError> {
        let c = self.client().await?;
        Ok(queries::set_quota(&c, &ws, quota).await?)
    }

    async fn delete_workspace(&self, ws: WorkspaceId) -> Result<bool, IndexError> {
        let c = self.client().await?;
        Ok(queries::delete_workspace(&c, &ws).await?)
    }

    async fn create_share(&self, share: ShareRow, max: usize) -> Result<bool, IndexError> {
        let mut c = self.client().await?;
        Ok(shares::create(&mut c, &share, max).await?)
    }

    async fn share(&self, id: ShareId) -> Result<Option<ShareRow>, IndexError> {
        let c = self.client().await?;
        Ok(shares::get(&c, &id).await?)
    }

    async fn list_shares(&self, ws: WorkspaceId) -> Result<Vec<ShareRow>, IndexError> {
        let c = self.client().await?;
        Ok(shares::list(&c, &ws).await?)
    }

    async fn delete_share(
        &self,
        ws: WorkspaceId,
        id: ShareId,
    ) -> Result<Option<ShareRow>, IndexError> {
        let c = self.client().await?;
        Ok(shares::delete(&c, &ws, &id).await?)
    }

    async fn replace_share(
        &self,
        ws: WorkspaceId,
        id: ShareId,
        document: ChunkName,
        chunks: Vec<ChunkName>,
        now: u64,
    ) -> Result<Option<ShareRow>, IndexError> {
        let mut c = self.client().await?;
        Ok(shares::replace(&mut c, &ws, &id, &document, &chunks, now).await?)
    }

    async fn purge_shares(&self, now: u64) -> Result<Vec<ShareRow>, IndexError> {
        let c = self.client().await?;
        Ok(shares::purge(&c, now).await?)
    }

    async fn redeem_recovery(
        &self,
        credential_hash: Vec<u8>,
        now: u64,
        device: NewDevice,
    ) -> Result<Option<Recovered>, IndexError> {
        let mut c = self.client().await?;
        let recovered =
            keys::redeem_recovery(&mut c, &credential_hash, now, |workspace| NewToken {
                id: device.id,
                workspace,
                role: Role::Master,
                scope: Scope::ReadWrite,
                label: device.label,
                created_at: now,
                expires_at: None,
            })
            .await?;
        Ok(recovered)
    }
}

#[cfg(test)]
mod tests;
