//! The statements of device keys, key epochs and recovery credentials.

use hearth_shared::id::{TokenId, WorkspaceId};
use rusqlite::{Connection, OptionalExtension as _, params};

use super::SqlError as IndexError;
use super::queries::{insert_token, revoke_masters};
use crate::index::{DeviceKeyRow, KeyEpochPut, NewToken, Recovered, WrapsPut, to_i64};

/// Registers `public_key` as the X25519 public key of token `token` of
/// `ws`; another key than the one it had drops what was wrapped for the
/// old one. Returns whether the token is there.
pub fn set_public_key(
    conn: &mut Connection,
    ws: &WorkspaceId,
    token: &TokenId,
    public_key: &[u8],
) -> Result<bool, IndexError> {
    let tx = conn.transaction()?;
    let known: Option<Option<Vec<u8>>> = tx
        .query_row(
            "SELECT public_key FROM tokens WHERE id = ?1 AND workspace_id = ?2",
            params![token.as_str(), ws.as_str()],
            |row| row.get(0),
        )
        .optional()?;
    let Some(known) = known else {
        return Ok(false);
    };
    if known.as_deref() != Some(public_key) {
        tx.execute(
            "UPDATE tokens SET public_key = ?2 WHERE id = ?1",
            params![token.as_str(), public_key],
        )?;
        tx.execute(
            "DELETE FROM device_wraps WHERE token_id = ?1",
            params![token.as_str()],
        )?;
    }
    tx.commit()?;
    Ok(true)
}

/// Token `token`'s public key and the key epochs wrapped for it, oldest
/// epoch first.
pub fn device_key(
    conn: &mut Connection,
    ws: &WorkspaceId,
    token: &TokenId,
) -> Result<DeviceKeyRow, IndexError> {
    let public_key: Option<Vec<u8>> = conn
        .query_row(
            "SELECT public_key FROM tokens WHERE id = ?1 AND workspace_id = ?2",
            params![token.as_str(), ws.as_str()],
            |row| row.get(0),
        )
        .optional()?
        .flatten();
    let mut stmt =
        conn.prepare("SELECT wrapped FROM device_wraps WHERE token_id = ?1 ORDER BY epoch")?;
    let wraps = stmt
        .query_map(params![token.as_str()], |row| row.get::<_, Vec<u8>>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok((public_key, wraps))
}

/// Keeps key epoch `epoch` of `ws` wrapped for each device in `copies`,
/// all or none.
pub fn put_device_wraps(
    conn: &mut Connection,
    ws: &WorkspaceId,
    epoch: u32,
    copies: &[(TokenId, Vec<u8>)],
    now: u64,
) -> Result<WrapsPut, IndexError> {
    let tx = conn.transaction()?;
    let known = tx
        .query_row(
            "SELECT 1 FROM key_epochs WHERE workspace_id = ?1 AND epoch = ?2",
            params![ws.as_str(), i64::from(epoch)],
            |_| Ok(()),
        )
        .optional()?;
    if known.is_none() {
        return Ok(WrapsPut::NoEpoch);
    }
    for (token, wrapped) in copies {
        let live = tx
            .query_row(
                "SELECT 1 FROM tokens WHERE id = ?1 AND workspace_id = ?2
                   AND revoked_at IS NULL AND public_key IS NOT NULL",
                params![token.as_str(), ws.as_str()],
                |_| Ok(()),
            )
            .optional()?;
        if live.is_none() {
            return Ok(WrapsPut::NotADevice(token.clone()));
        }
        tx.execute(
            "INSERT INTO device_wraps (token_id, epoch, wrapped, created_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (token_id, epoch) DO UPDATE SET
               wrapped = excluded.wrapped, created_at = excluded.created_at",
            params![token.as_str(), i64::from(epoch), wrapped, to_i64(now)],
        )?;
    }
    tx.commit()?;
    Ok(WrapsPut::Kept)
}

/// The key epochs of `ws` and their key check records, oldest first.
pub fn key_epochs(
    conn: &mut Connection,
    ws: &WorkspaceId,
) -> Result<Vec<(u32, Vec<u8>)>, IndexError> {
    let mut stmt = conn.prepare(
        "SELECT epoch, key_check FROM key_epochs WHERE workspace_id = ?1 ORDER BY epoch",
    )?;
    let rows = stmt.query_map(params![ws.as_str()], |row| {
        Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (epoch, check) = row?;
        out.push((u32::try_from(epoch).unwrap_or(0), check));
    }
    Ok(out)
}

/// Records key epoch `epoch` of `ws` with its check, once.
pub fn put_key_epoch(
    conn: &mut Connection,
    ws: &WorkspaceId,
    epoch: u32,
    check: &[u8],
    now: u64,
    max_epochs: usize,
) -> Result<KeyEpochPut, IndexError> {
    let tx = conn.transaction()?;
    let known: Option<Vec<u8>> = tx
        .query_row(
            "SELECT key_check FROM key_epochs WHERE workspace_id = ?1 AND epoch = ?2",
            params![ws.as_str(), i64::from(epoch)],
            |row| row.get(0),
        )
        .optional()?;
    let outcome = match known {
        Some(known) if known == check => KeyEpochPut::Unchanged,
        Some(_) => KeyEpochPut::Conflict,
        None => {
            let count: i64 = tx.query_row(
                "SELECT COUNT(*) FROM key_epochs WHERE workspace_id = ?1",
                params![ws.as_str()],
                |row| row.get(0),
            )?;
            if usize::try_from(count).unwrap_or(usize::MAX) >= max_epochs {
                KeyEpochPut::TooMany
            } else {
                tx.execute(
                    "INSERT INTO key_epochs (workspace_id, epoch, key_check, created_at)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![ws.as_str(), i64::from(epoch), check, to_i64(now)],
                )?;
                KeyEpochPut::Created
            }
        }
    };
    tx.commit()?;
    Ok(outcome)
}

/// Keeps `credential_hash` and `wrapped_keys` (a JSON array) as the
/// recovery key of `ws`, replacing the one before (which stops working at
/// once). `true` if there was one before.
pub fn put_recovery(
    conn: &mut Connection,
    ws: &WorkspaceId,
    credential_hash: &[u8],
    wrapped_keys: &str,
    now: u64,
) -> Result<bool, IndexError> {
    let tx = conn.transaction()?;
    let replaced = tx
        .query_row(
            "SELECT 1 FROM recovery WHERE workspace_id = ?1",
            params![ws.as_str()],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    tx.execute(
        "INSERT INTO recovery (workspace_id, credential_hash, wrapped_keys, updated_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (workspace_id) DO UPDATE SET
           credential_hash = excluded.credential_hash,
           wrapped_keys = excluded.wrapped_keys,
           updated_at = excluded.updated_at",
        params![ws.as_str(), credential_hash, wrapped_keys, to_i64(now)],
    )?;
    tx.commit()?;
    Ok(replaced)
}

/// Recovers the workspace whose recovery credential hashes to
/// `credential_hash`: revokes every master token it has (a lost owner
/// device is locked out) and creates the one `make_token` makes, in one
/// transaction. `None` if no workspace has that recovery key.
pub fn redeem_recovery(
    conn: &mut Connection,
    credential_hash: &[u8],
    now: u64,
    make_token: impl FnOnce(WorkspaceId) -> NewToken,
) -> Result<Option<Recovered>, IndexError> {
    let tx = conn.transaction()?;
    let found: Option<(String, String)> = tx
        .query_row(
            "SELECT workspace_id, wrapped_keys FROM recovery WHERE credential_hash = ?1",
            params![credential_hash],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    let Some((ws, wrapped_keys)) = found else {
        return Ok(None);
    };
    let Ok(ws) = WorkspaceId::parse(&ws) else {
        return Ok(None);
    };
    let token = make_token(ws);
    revoke_masters(&tx, &token.workspace, now)?;
    insert_token(&tx, &token)?;
    tx.commit()?;
    Ok(Some((token, wrapped_keys)))
}
