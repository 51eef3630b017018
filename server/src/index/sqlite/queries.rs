//! The statements of the token index, as plain blocking functions on a
//! connection. Multi-step changes (register, redeem) run in one transaction.

use hearth_shared::api::{Scope, TokenInfo};
use hearth_shared::id::{TokenId, WorkspaceId};
use rusqlite::{Connection, OptionalExtension as _, params};

use super::SqlError as IndexError;
use crate::index::{
    ExpirySet, NewToken, Redeemed, Revoked, TokenStatus, parse_role, parse_scope, public_key_text,
    to_i64, to_u64,
};

pub(super) fn insert_token(conn: &Connection, t: &NewToken) -> Result<(), IndexError> {
    conn.execute(
        "INSERT INTO tokens (id, workspace_id, role, scope, label, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            t.id.as_str(),
            t.workspace.as_str(),
            t.role.as_str(),
            t.scope.as_str(),
            t.label,
            to_i64(t.created_at),
            t.expires_at.map(to_i64),
        ],
    )?;
    Ok(())
}

/// Registers a workspace with its master token. `false` if it exists.
pub fn register_workspace(
    conn: &mut Connection,
    label: &str,
    master: &NewToken,
) -> Result<bool, IndexError> {
    let tx = conn.transaction()?;
    let inserted = tx.execute(
        "INSERT INTO workspaces (id, label, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (id) DO NOTHING",
        params![master.workspace.as_str(), label, to_i64(master.created_at)],
    )?;
    if inserted == 0 {
        return Ok(false);
    }
    insert_token(&tx, master)?;
    tx.commit()?;
    Ok(true)
}

/// Adds an access token.
pub fn mint_token(conn: &mut Connection, token: &NewToken) -> Result<(), IndexError> {
    insert_token(conn, token)
}

/// The index's view of a token, if it knows it.
pub fn token_status(
    conn: &mut Connection,
    id: &TokenId,
) -> Result<Option<TokenStatus>, IndexError> {
    let row = conn
        .prepare_cached(
            "SELECT workspace_id, role, scope, revoked_at, expires_at FROM tokens WHERE id = ?1",
        )?
        .query_row(params![id.as_str()], |row| {
            Ok(TokenStatus {
                workspace: row.get(0)?,
                role: parse_role(&row.get::<_, String>(1)?),
                scope: parse_scope(&row.get::<_, String>(2)?),
                revoked: row.get::<_, Option<i64>>(3)?.is_some(),
                expires_at: row.get::<_, Option<i64>>(4)?.map(to_u64),
            })
        })
        .optional()?;
    Ok(row)
}

/// Records that a token was used at `now`.
pub fn touch_token(conn: &mut Connection, id: &TokenId, now: u64) -> Result<(), IndexError> {
    conn.prepare_cached("UPDATE tokens SET last_seen_at = ?2 WHERE id = ?1")?
        .execute(params![id.as_str(), to_i64(now)])?;
    Ok(())
}

/// Every token of a workspace, oldest first.
pub fn list_tokens(conn: &mut Connection, ws: &WorkspaceId) -> Result<Vec<TokenInfo>, IndexError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, label, role, scope, created_at, expires_at, last_seen_at, revoked_at, public_key
         FROM tokens WHERE workspace_id = ?1 ORDER BY created_at, id",
    )?;
    let rows = stmt.query_map(params![ws.as_str()], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, String>(3)?,
            row.get::<_, i64>(4)?,
            row.get::<_, Option<i64>>(5)?,
            row.get::<_, Option<i64>>(6)?,
            row.get::<_, Option<i64>>(7)?,
            row.get::<_, Option<Vec<u8>>>(8)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, label, role, scope, created, expires, seen, revoked, public_key) = row?;
        let Ok(token_id) = TokenId::parse(&id) else {
            continue;
        };
        out.push(TokenInfo {
            token_id,
            label,
            role: parse_role(&role),
            scope: parse_scope(&scope),
            created_at: to_u64(created),
            expires_at: expires.map(to_u64),
            last_seen_at: seen.map(to_u64),
            revoked_at: revoked.map(to_u64),
            public_key: public_key.as_deref().map(public_key_text),
        });
    }
    Ok(out)
}

/// The role of token `id` of workspace `ws`, if the index knows it.
fn token_role(
    conn: &Connection,
    ws: &WorkspaceId,
    id: &TokenId,
) -> Result<Option<String>, IndexError> {
    Ok(conn
        .query_row(
            "SELECT role FROM tokens WHERE id = ?1 AND workspace_id = ?2",
            params![id.as_str(), ws.as_str()],
            |row| row.get(0),
        )
        .optional()?)
}

/// Revokes a token of workspace `ws` (idempotent).
pub fn revoke_token(
    conn: &mut Connection,
    ws: &WorkspaceId,
    id: &TokenId,
    now: u64,
) -> Result<Revoked, IndexError> {
    let tx = conn.transaction()?;
    let role = token_role(&tx, ws, id)?;
    let outcome = match role.as_deref() {
        None => Revoked::NotFound,
        Some("master") => Revoked::IsMaster,
        Some(_) => {
            tx.execute(
                "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![id.as_str(), to_i64(now)],
            )?;
            drop_revoked_wraps(&tx)?;
            Revoked::Done
        }
    };
    tx.commit()?;
    if outcome == Revoked::Done {
        // The removed device's wrapped keys leave the write-ahead log too.
        forget_deleted(conn)?;
    }
    Ok(outcome)
}

/// Revokes, at `now`, every master token of `ws` not revoked yet.
pub(super) fn revoke_masters(
    conn: &Connection,
    ws: &WorkspaceId,
    now: u64,
) -> Result<(), IndexError> {
    conn.execute(
        "UPDATE tokens SET revoked_at = ?2
         WHERE workspace_id = ?1 AND role = 'master' AND revoked_at IS NULL",
        params![ws.as_str(), to_i64(now)],
    )?;
    drop_revoked_wraps(conn)?;
    Ok(())
}

/// Deletes the key epochs wrapped for tokens that are revoked: a removed
/// device gets no key, and none waits for it on disk.
fn drop_revoked_wraps(conn: &Connection) -> Result<(), IndexError> {
    conn.execute(
        "DELETE FROM device_wraps WHERE token_id IN
           (SELECT id FROM tokens WHERE revoked_at IS NOT NULL)",
        [],
    )?;
    Ok(())
}
/// Replaces a workspace's master token: revokes every live master token of
/// `new.workspace` and adds `new`, in one transaction.
pub fn replace_master(conn: &mut Connection, new: &NewToken, now: u64) -> Result<(), IndexError> {
    let tx = conn.transaction()?;
    revoke_masters(&tx, &new.workspace, now)?;
    insert_token(&tx, new)?;
    tx.commit()?;
    Ok(())
}

/// Sets when an access token of `ws` stops working (`None`: no time limit
/// beyond the one it was signed with).
pub fn set_expiry(
    conn: &mut Connection,
    ws: &WorkspaceId,
    id: &TokenId,
    expires_at: Option<u64>,
) -> Result<ExpirySet, IndexError> {
    let tx = conn.transaction()?;
    let role = token_role(&tx, ws, id)?;
    match role.as_deref() {
        None => return Ok(ExpirySet::NotFound),
        Some("master") => return Ok(ExpirySet::IsMaster),
        Some(_) => {}
    }
    tx.execute(
        "UPDATE tokens SET expires_at = ?2 WHERE id = ?1",
        params![id.as_str(), expires_at.map(to_i64)],
    )?;
    tx.commit()?;
    let info = list_tokens(conn, ws)?
        .into_iter()
        .find(|t| &t.token_id == id);
    Ok(info.map_or(ExpirySet::NotFound, ExpirySet::Done))
}

/// Stores a new setup code (by its hash), valid until `expires_at`.
pub fn add_setup_code(
    conn: &mut Connection,
    code_hash: &[u8],
    now: u64,
    expires_at: u64,
) -> Result<(), IndexError> {
    conn.execute(
        "INSERT INTO setup_codes (code_hash, created_at, expires_at) VALUES (?1, ?2, ?3)",
        params![code_hash, to_i64(now), to_i64(expires_at)],
    )?;
    Ok(())
}

/// Registers a workspace with a setup code: if the code is known and
/// unexpired at `now`, it is used up and the workspace registered, in one
/// transaction. `None` if the code opens nothing; otherwise as
/// [`register_workspace`].
pub fn register_with_code(
    conn: &mut Connection,
    code_hash: &[u8],
    now: u64,
    label: &str,
    master: &NewToken,
) -> Result<Option<bool>, IndexError> {
    let tx = conn.transaction()?;
    let used = tx.execute(
        "DELETE FROM setup_codes WHERE code_hash = ?1 AND expires_at > ?2",
        params![code_hash, to_i64(now)],
    )?;
    if used == 0 {
        return Ok(None);
    }
    let inserted = tx.execute(
        "INSERT INTO workspaces (id, label, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (id) DO NOTHING",
        params![master.workspace.as_str(), label, to_i64(master.created_at)],
    )?;
    if inserted == 0 {
        // The code is not spent on a workspace that exists: roll back.
        return Ok(Some(false));
    }
    insert_token(&tx, master)?;
    tx.commit()?;
    Ok(Some(true))
}

/// Every workspace with its live tokens and last use, oldest first.
pub fn list_workspaces(
    conn: &mut Connection,
) -> Result<Vec<crate::index::WorkspaceSummary>, IndexError> {
    let mut stmt = conn.prepare(
        "SELECT w.id, w.label, w.created_at,
                (SELECT COUNT(*) FROM tokens t WHERE t.workspace_id = w.id AND t.revoked_at IS NULL),
                (SELECT MAX(t.last_seen_at) FROM tokens t WHERE t.workspace_id = w.id),
                w.quota_bytes
         FROM workspaces w ORDER BY w.created_at, w.id",
    )?;
    let rows = stmt.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, i64>(2)?,
            row.get::<_, i64>(3)?,
            row.get::<_, Option<i64>>(4)?,
            row.get::<_, Option<i64>>(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, label, created, devices, seen, quota) = row?;
        let Ok(id) = WorkspaceId::parse(&id) else {
            continue;
        };
        out.push(crate::index::WorkspaceSummary {
            id,
            label,
            created_at: to_u64(created),
            devices: to_u64(devices),
            last_seen_at: seen.map(to_u64),
            quota: quota.map(to_u64),
        });
    }
    Ok(out)
}

/// Sets or clears a workspace's quota. `false` if there is no such workspace.
pub fn set_quota(
    conn: &mut Connection,
    ws: &WorkspaceId,
    quota: Option<u64>,
) -> Result<bool, IndexError> {
    let changed = conn.execute(
        "UPDATE workspaces SET quota_bytes = ?2 WHERE id = ?1",
        rusqlite::params![ws.as_str(), quota.map(to_i64)],
    )?;
    Ok(changed > 0)
}

/// Deletes a workspace and every row of it, in one transaction; its
/// wrapped keys leave the write-ahead log too. `false` if there was none.
pub fn delete_workspace(conn: &mut Connection, ws: &WorkspaceId) -> Result<bool, IndexError> {
    let tx = conn.transaction()?;
    let id = ws.as_str();
    tx.execute(
        "DELETE FROM device_wraps WHERE token_id IN (SELECT id FROM tokens WHERE workspace_id = ?1)",
        params![id],
    )?;
    for table in ["tokens", "invites", "key_epochs", "recovery", "shares"] {
        tx.execute(
            &format!("DELETE FROM {table} WHERE workspace_id = ?1"),
            params![id],
        )?;
    }
    let gone = tx.execute("DELETE FROM workspaces WHERE id = ?1", params![id])?;
    tx.commit()?;
    forget_deleted(conn)?;
    Ok(gone > 0)
}

/// Deletes setup codes that expired before `now`.
pub fn purge_setup_codes(conn: &mut Connection, now: u64) -> Result<usize, IndexError> {
    let n = conn.execute(
        "DELETE FROM setup_codes WHERE expires_at <= ?1",
        params![to_i64(now)],
    )?;
    Ok(n)
}

/// Stores a new invite (by the hash of its secret).
pub fn create_invite(
    conn: &mut Connection,
    secret_hash: &[u8],
    ws: &WorkspaceId,
    scope: Scope,
    now: u64,
    expires_at: u64,
    wrapped_key: Option<&[u8]>,
) -> Result<(), IndexError> {
    conn.execute(
        "INSERT INTO invites (secret_hash, workspace_id, scope, created_at, expires_at, wrapped_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            secret_hash,
            ws.as_str(),
            scope.as_str(),
            to_i64(now),
            to_i64(expires_at),
            wrapped_key
        ],
    )?;
    Ok(())
}

/// Rewrites the write-ahead log into the database and empties it, so that
/// content just deleted (a wrapped key) is gone from the WAL file too.
pub(super) fn forget_deleted(conn: &Connection) -> Result<(), IndexError> {
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(())
}

/// Redeems an invite: if it exists, is unused and unexpired at `now`, marks
/// it used, takes its wrapped key away and creates the device's token, in
/// one transaction. `make_token` gets the workspace and scope. `None` if
/// the invite opens nothing; else the token and the wrapped key, if the
/// invite carried one.
pub fn redeem_invite(
    conn: &mut Connection,
    secret_hash: &[u8],
    now: u64,
    make_token: impl FnOnce(WorkspaceId, Scope) -> NewToken,
) -> Result<Option<Redeemed>, IndexError> {
    let tx = conn.transaction()?;
    let found: Option<(String, String, Option<Vec<u8>>)> = tx
        .query_row(
            "SELECT workspace_id, scope, wrapped_key FROM invites
             WHERE secret_hash = ?1 AND used_at IS NULL AND expires_at > ?2",
            params![secret_hash, to_i64(now)],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()?;
    let Some((ws, scope, wrapped_key)) = found else {
        return Ok(None);
    };
    let Ok(ws) = WorkspaceId::parse(&ws) else {
        return Ok(None);
    };
    let token = make_token(ws, parse_scope(&scope));
    tx.execute(
        "UPDATE invites SET used_at = ?2, token_id = ?3, wrapped_key = NULL WHERE secret_hash = ?1",
        params![secret_hash, to_i64(now), token.id.as_str()],
    )?;
    insert_token(&tx, &token)?;
    tx.commit()?;
    if wrapped_key.is_some() {
        forget_deleted(conn)?;
    }
    Ok(Some((token, wrapped_key)))
}

/// Takes the wrapped keys away from invites that expired by `now`, and
/// deletes invites that expired before `before` (used or not); they open
/// nothing and only take space. Returns how many invites went.
pub fn purge_invites(conn: &mut Connection, now: u64, before: u64) -> Result<usize, IndexError> {
    let keys = conn.execute(
        "UPDATE invites SET wrapped_key = NULL WHERE expires_at <= ?1 AND wrapped_key IS NOT NULL",
        params![to_i64(now)],
    )?;
    let gone = conn.execute(
        "DELETE FROM invites WHERE expires_at < ?1",
        params![to_i64(before)],
    )?;
    if keys > 0 {
        forget_deleted(conn)?;
    }
    Ok(gone)
}

#[cfg(test)]
#[path = "queries_tests.rs"]
mod tests;
