//! The statements of workspaces, tokens, setup codes and invites. A
//! multi-step change runs in one transaction and locks what it reads
//! before it writes, so that two servers on one database take turns.

use deadpool_postgres::GenericClient;
use hearth_shared::api::{Scope, TokenInfo};
use hearth_shared::claims::Role;
use hearth_shared::id::{TokenId, WorkspaceId};
use tokio_postgres::Row;

use super::{col, exec, first, lock_workspace, rows};
use crate::index::{
    ExpirySet, NewInvite, NewToken, Redeemed, Revoked, TokenStatus, WorkspaceSummary, parse_role,
    parse_scope, public_key_text, to_i64, to_u64,
};
use crate::pg::{Client, Failure};

/// The columns [`token_info`] reads, in its order.
macro_rules! token_columns {
    () => {
        "id, label, role, scope, created_at, expires_at, last_seen_at, revoked_at, public_key"
    };
}

/// A token's row as [`TokenInfo`]; `None` if its id is not a token id.
fn token_info(row: &Row) -> Result<Option<TokenInfo>, Failure> {
    let Ok(token_id) = TokenId::parse(col::<&str>(row, 0)?) else {
        return Ok(None);
    };
    Ok(Some(TokenInfo {
        token_id,
        label: col(row, 1)?,
        role: parse_role(col(row, 2)?),
        scope: parse_scope(col(row, 3)?),
        created_at: to_u64(col(row, 4)?),
        expires_at: col::<Option<i64>>(row, 5)?.map(to_u64),
        last_seen_at: col::<Option<i64>>(row, 6)?.map(to_u64),
        revoked_at: col::<Option<i64>>(row, 7)?.map(to_u64),
        public_key: col::<Option<&[u8]>>(row, 8)?.map(public_key_text),
    }))
}

/// Adds a token.
pub async fn insert_token(c: &impl GenericClient, t: &NewToken) -> Result<(), Failure> {
    exec(
        c,
        "INSERT INTO tokens (id, workspace_id, role, scope, label, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &t.id.as_str(),
            &t.workspace.as_str(),
            &t.role.as_str(),
            &t.scope.as_str(),
            &t.label,
            &to_i64(t.created_at),
            &t.expires_at.map(to_i64),
        ],
    )
    .await?;
    Ok(())
}

/// Adds workspace `master.workspace`, unless it exists: whether it was
/// added. A server that loses the race waits for the winner and adds none.
async fn insert_workspace(
    c: &impl GenericClient,
    label: &str,
    master: &NewToken,
) -> Result<bool, Failure> {
    let inserted = exec(
        c,
        "INSERT INTO workspaces (id, label, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO NOTHING",
        &[
            &master.workspace.as_str(),
            &label,
            &to_i64(master.created_at),
        ],
    )
    .await?;
    Ok(inserted > 0)
}

/// Registers a workspace with its master token. `false` if it exists.
pub async fn register_workspace(
    c: &mut Client,
    label: &str,
    master: &NewToken,
) -> Result<bool, Failure> {
    let tx = c.transaction().await?;
    if !insert_workspace(&tx, label, master).await? {
        return Ok(false);
    }
    insert_token(&tx, master).await?;
    tx.commit().await?;
    Ok(true)
}

/// The index's view of a token, if it knows it.
pub async fn token_status(
    c: &impl GenericClient,
    id: &TokenId,
) -> Result<Option<TokenStatus>, Failure> {
    let row = first(
        c,
        "SELECT workspace_id, role, scope, revoked_at, expires_at FROM tokens WHERE id = $1",
        &[&id.as_str()],
    )
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(Some(TokenStatus {
        workspace: col(&row, 0)?,
        role: parse_role(col(&row, 1)?),
        scope: parse_scope(col(&row, 2)?),
        revoked: col::<Option<i64>>(&row, 3)?.is_some(),
        expires_at: col::<Option<i64>>(&row, 4)?.map(to_u64),
    }))
}

/// Records that a token was used at `now`.
pub async fn touch_token(c: &impl GenericClient, id: &TokenId, now: u64) -> Result<(), Failure> {
    exec(
        c,
        "UPDATE tokens SET last_seen_at = $2 WHERE id = $1",
        &[&id.as_str(), &to_i64(now)],
    )
    .await?;
    Ok(())
}

/// Every token of a workspace, oldest first (ties by id, byte order as in
/// SQLite, whatever the database's collation).
pub async fn list_tokens(
    c: &impl GenericClient,
    ws: &WorkspaceId,
) -> Result<Vec<TokenInfo>, Failure> {
    let found = rows(
        c,
        concat!(
            "SELECT ",
            token_columns!(),
            " FROM tokens WHERE workspace_id = $1 ORDER BY created_at, id COLLATE \"C\""
        ),
        &[&ws.as_str()],
    )
    .await?;
    let mut out = Vec::with_capacity(found.len());
    for row in &found {
        out.extend(token_info(row)?);
    }
    Ok(out)
}

/// The role of token `id` of workspace `ws`, if the index knows it; its
/// row stays locked until the transaction ends.
async fn lock_token_role(
    c: &impl GenericClient,
    ws: &WorkspaceId,
    id: &TokenId,
) -> Result<Option<Role>, Failure> {
    let row = first(
        c,
        "SELECT role FROM tokens WHERE id = $1 AND workspace_id = $2 FOR UPDATE",
        &[&id.as_str(), &ws.as_str()],
    )
    .await?;
    match row {
        Some(row) => Ok(Some(parse_role(col(&row, 0)?))),
        None => Ok(None),
    }
}

/// Revokes a token of workspace `ws` (idempotent), and deletes what was
/// wrapped for it, in one transaction.
pub async fn revoke_token(
    c: &mut Client,
    ws: &WorkspaceId,
    id: &TokenId,
    now: u64,
) -> Result<Revoked, Failure> {
    let tx = c.transaction().await?;
    match lock_token_role(&tx, ws, id).await? {
        None => return Ok(Revoked::NotFound),
        Some(Role::Master) => return Ok(Revoked::IsMaster),
        Some(Role::Access) => {}
    }
    exec(
        &tx,
        "UPDATE tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        &[&id.as_str(), &to_i64(now)],
    )
    .await?;
    // A removed device gets no key, and none waits for it.
    exec(
        &tx,
        "DELETE FROM device_wraps WHERE token_id = $1",
        &[&id.as_str()],
    )
    .await?;
    tx.commit().await?;
    Ok(Revoked::Done)
}

/// Revokes, at `now`, every master token of `ws` not revoked yet, and
/// deletes what was wrapped for the workspace's revoked tokens. The caller
/// holds the workspace's lock, so a master token added by a change that
/// went first is revoked too.
pub(super) async fn revoke_masters(
    c: &impl GenericClient,
    ws: &WorkspaceId,
    now: u64,
) -> Result<(), Failure> {
    exec(
        c,
        "UPDATE tokens SET revoked_at = $2
         WHERE workspace_id = $1 AND role = 'master' AND revoked_at IS NULL",
        &[&ws.as_str(), &to_i64(now)],
    )
    .await?;
    exec(
        c,
        "DELETE FROM device_wraps WHERE token_id IN
           (SELECT id FROM tokens WHERE workspace_id = $1 AND revoked_at IS NOT NULL)",
        &[&ws.as_str()],
    )
    .await?;
    Ok(())
}

/// Replaces a workspace's master token: revokes every live master token of
/// `new.workspace` and adds `new`, in one transaction.
pub async fn replace_master(c: &mut Client, new: &NewToken, now: u64) -> Result<(), Failure> {
    let tx = c.transaction().await?;
    lock_workspace(&tx, &new.workspace).await?;
    revoke_masters(&tx, &new.workspace, now).await?;
    insert_token(&tx, new).await?;
    tx.commit().await?;
    Ok(())
}

/// Sets when an access token of `ws` stops working (`None`: no time limit
/// beyond the one it was signed with).
pub async fn set_expiry(
    c: &mut Client,
    ws: &WorkspaceId,
    id: &TokenId,
    expires_at: Option<u64>,
) -> Result<ExpirySet, Failure> {
    let tx = c.transaction().await?;
    match lock_token_role(&tx, ws, id).await? {
        None => return Ok(ExpirySet::NotFound),
        Some(Role::Master) => return Ok(ExpirySet::IsMaster),
        Some(Role::Access) => {}
    }
    let row = first(
        &tx,
        concat!(
            "UPDATE tokens SET expires_at = $2 WHERE id = $1 RETURNING ",
            token_columns!()
        ),
        &[&id.as_str(), &expires_at.map(to_i64)],
    )
    .await?;
    tx.commit().await?;
    let info = match &row {
        Some(row) => token_info(row)?,
        None => None,
    };
    Ok(info.map_or(ExpirySet::NotFound, ExpirySet::Done))
}

/// Deletes the setup codes that expired by `now` and keeps a new one (by
/// its hash), valid until `expires_at`, in one transaction.
pub async fn add_setup_code(
    c: &mut Client,
    code_hash: &[u8],
    now: u64,
    expires_at: u64,
) -> Result<(), Failure> {
    let tx = c.transaction().await?;
    exec(
        &tx,
        "DELETE FROM setup_codes WHERE expires_at <= $1",
        &[&to_i64(now)],
    )
    .await?;
    exec(
        &tx,
        "INSERT INTO setup_codes (code_hash, created_at, expires_at) VALUES ($1, $2, $3)",
        &[&code_hash, &to_i64(now), &to_i64(expires_at)],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Registers a workspace with a setup code: if the code is known and
/// unexpired at `now`, it is used up and the workspace registered, in one
/// transaction. The `DELETE` that spends the code is its lock too: a
/// server racing for the same code waits, then finds it gone. `None` if
/// the code opens nothing; otherwise as [`register_workspace`].
pub async fn register_with_code(
    c: &mut Client,
    code_hash: &[u8],
    now: u64,
    label: &str,
    master: &NewToken,
) -> Result<Option<bool>, Failure> {
    let tx = c.transaction().await?;
    let used = exec(
        &tx,
        "DELETE FROM setup_codes WHERE code_hash = $1 AND expires_at > $2",
        &[&code_hash, &to_i64(now)],
    )
    .await?;
    if used == 0 {
        return Ok(None);
    }
    if !insert_workspace(&tx, label, master).await? {
        // The code is not spent on a workspace that exists: roll back.
        return Ok(Some(false));
    }
    insert_token(&tx, master).await?;
    tx.commit().await?;
    Ok(Some(true))
}

/// Every workspace with its live tokens and last use, oldest first.
pub async fn list_workspaces(c: &impl GenericClient) -> Result<Vec<WorkspaceSummary>, Failure> {
    let found = rows(
        c,
        "SELECT w.id, w.label, w.created_at,
                (SELECT COUNT(*) FROM tokens t WHERE t.workspace_id = w.id AND t.revoked_at IS NULL),
                (SELECT MAX(t.last_seen_at) FROM tokens t WHERE t.workspace_id = w.id),
                w.quota_bytes
         FROM workspaces w ORDER BY w.created_at, w.id COLLATE \"C\"",
        &[],
    )
    .await?;
    let mut out = Vec::with_capacity(found.len());
    for row in &found {
        let Ok(id) = WorkspaceId::parse(col::<&str>(row, 0)?) else {
            continue;
        };
        out.push(WorkspaceSummary {
            id,
            label: col(row, 1)?,
            created_at: to_u64(col(row, 2)?),
            devices: to_u64(col(row, 3)?),
            last_seen_at: col::<Option<i64>>(row, 4)?.map(to_u64),
            quota: col::<Option<i64>>(row, 5)?.map(to_u64),
        });
    }
    Ok(out)
}

/// Sets or clears a workspace's quota. `false` if there is no such workspace.
pub async fn set_quota(
    c: &impl GenericClient,
    ws: &WorkspaceId,
    quota: Option<u64>,
) -> Result<bool, Failure> {
    let changed = exec(
        c,
        "UPDATE workspaces SET quota_bytes = $2 WHERE id = $1",
        &[&ws.as_str(), &quota.map(to_i64)],
    )
    .await?;
    Ok(changed > 0)
}

/// Deletes a workspace and every row of it (tokens, the keys wrapped for
/// them, invites, key epochs, recovery: the schema's cascades), in one
/// statement. `false` if there was none.
pub async fn delete_workspace(c: &impl GenericClient, ws: &WorkspaceId) -> Result<bool, Failure> {
    let gone = exec(c, "DELETE FROM workspaces WHERE id = $1", &[&ws.as_str()]).await?;
    Ok(gone > 0)
}

/// Keeps a new invite (by the hash of its secret).
pub async fn create_invite(c: &impl GenericClient, invite: &NewInvite) -> Result<(), Failure> {
    exec(
        c,
        "INSERT INTO invites (secret_hash, workspace_id, scope, created_at, expires_at, wrapped_key)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &invite.secret_hash,
            &invite.workspace.as_str(),
            &invite.scope.as_str(),
            &to_i64(invite.created_at),
            &to_i64(invite.expires_at),
            &invite.wrapped_key,
        ],
    )
    .await?;
    Ok(())
}

/// Redeems an invite: if it exists, is unused and unexpired at `now`, marks
/// it used, takes its wrapped key away and creates the device's token, in
/// one transaction. The invite's row is locked as it is read: a server
/// racing for it waits, then finds it used. `make_token` gets the workspace
/// and scope. `None` if the invite opens nothing; else the token and the
/// wrapped key, if the invite carried one.
pub async fn redeem_invite(
    c: &mut Client,
    secret_hash: &[u8],
    now: u64,
    make_token: impl FnOnce(WorkspaceId, Scope) -> NewToken,
) -> Result<Option<Redeemed>, Failure> {
    let tx = c.transaction().await?;
    let found = first(
        &tx,
        "SELECT workspace_id, scope, wrapped_key FROM invites
         WHERE secret_hash = $1 AND used_at IS NULL AND expires_at > $2
         FOR UPDATE",
        &[&secret_hash, &to_i64(now)],
    )
    .await?;
    let Some(row) = found else {
        return Ok(None);
    };
    let Ok(ws) = WorkspaceId::parse(col::<&str>(&row, 0)?) else {
        return Ok(None);
    };
    let scope = parse_scope(col(&row, 1)?);
    let wrapped_key: Option<Vec<u8>> = col(&row, 2)?;
    let token = make_token(ws, scope);
    exec(
        &tx,
        "UPDATE invites SET used_at = $2, token_id = $3, wrapped_key = NULL WHERE secret_hash = $1",
        &[&secret_hash, &to_i64(now), &token.id.as_str()],
    )
    .await?;
    insert_token(&tx, &token).await?;
    tx.commit().await?;
    Ok(Some((token, wrapped_key)))
}

/// Takes the wrapped keys away from invites that expired by `now`, and
/// deletes invites that expired before `before` (used or not), in one
/// transaction; they open nothing and only take space. Returns how many
/// invites went.
pub async fn purge_invites(c: &mut Client, now: u64, before: u64) -> Result<usize, Failure> {
    let tx = c.transaction().await?;
    exec(
        &tx,
        "UPDATE invites SET wrapped_key = NULL WHERE expires_at <= $1 AND wrapped_key IS NOT NULL",
        &[&to_i64(now)],
    )
    .await?;
    let gone = exec(
        &tx,
        "DELETE FROM invites WHERE expires_at < $1",
        &[&to_i64(before)],
    )
    .await?;
    tx.commit().await?;
    Ok(usize::try_from(gone).unwrap_or(usize::MAX))
}
