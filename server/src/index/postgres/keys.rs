//! The statements of device keys, key epochs and recovery credentials.

use deadpool_postgres::GenericClient;
use hearth_shared::id::{TokenId, WorkspaceId};

use super::queries::{insert_token, revoke_masters};
use super::{col, exec, first, lock_workspace, rows};
use crate::index::{DeviceKeyRow, KeyEpochPut, NewToken, Recovered, WrapsPut, to_i64};
use crate::pg::{Client, Failure};

/// Registers `public_key` as the X25519 public key of token `token` of
/// `ws`; another key than the one it had drops what was wrapped for the
/// old one, in one transaction. Returns whether the token is there.
pub async fn set_public_key(
    c: &mut Client,
    ws: &WorkspaceId,
    token: &TokenId,
    public_key: &[u8],
) -> Result<bool, Failure> {
    let tx = c.transaction().await?;
    let found = first(
        &tx,
        "SELECT public_key FROM tokens WHERE id = $1 AND workspace_id = $2 FOR UPDATE",
        &[&token.as_str(), &ws.as_str()],
    )
    .await?;
    let Some(row) = found else {
        return Ok(false);
    };
    let known: Option<&[u8]> = col(&row, 0)?;
    if known != Some(public_key) {
        exec(
            &tx,
            "UPDATE tokens SET public_key = $2 WHERE id = $1",
            &[&token.as_str(), &public_key],
        )
        .await?;
        exec(
            &tx,
            "DELETE FROM device_wraps WHERE token_id = $1",
            &[&token.as_str()],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Token `token`'s public key and the key epochs wrapped for it, oldest
/// epoch first, read at one moment. Nothing for a token of another
/// workspace.
pub async fn device_key(
    c: &impl GenericClient,
    ws: &WorkspaceId,
    token: &TokenId,
) -> Result<DeviceKeyRow, Failure> {
    let found = rows(
        c,
        "SELECT t.public_key, w.wrapped FROM tokens t
         LEFT JOIN device_wraps w ON w.token_id = t.id
         WHERE t.id = $1 AND t.workspace_id = $2
         ORDER BY w.epoch",
        &[&token.as_str(), &ws.as_str()],
    )
    .await?;
    let public_key = match found.first() {
        Some(row) => col(row, 0)?,
        None => None,
    };
    let mut wraps = Vec::with_capacity(found.len());
    for row in &found {
        wraps.extend(col::<Option<Vec<u8>>>(row, 1)?);
    }
    Ok((public_key, wraps))
}

/// Keeps key epoch `epoch` of `ws` wrapped for each device in `copies`,
/// all or none, in one transaction. Every device's row stays shared-locked
/// until then, so a revocation or a new public key made at the same time
/// comes before (and the copy is refused) or after (and drops it).
pub async fn put_device_wraps(
    c: &mut Client,
    ws: &WorkspaceId,
    epoch: u32,
    copies: &[(TokenId, Vec<u8>)],
    now: u64,
) -> Result<WrapsPut, Failure> {
    let tx = c.transaction().await?;
    let known = first(
        &tx,
        "SELECT 1 FROM key_epochs WHERE workspace_id = $1 AND epoch = $2",
        &[&ws.as_str(), &i64::from(epoch)],
    )
    .await?;
    if known.is_none() {
        return Ok(WrapsPut::NoEpoch);
    }
    for (token, _) in copies {
        let live = first(
            &tx,
            "SELECT 1 FROM tokens WHERE id = $1 AND workspace_id = $2
               AND revoked_at IS NULL AND public_key IS NOT NULL
             FOR SHARE",
            &[&token.as_str(), &ws.as_str()],
        )
        .await?;
        if live.is_none() {
            return Ok(WrapsPut::NotADevice(token.clone()));
        }
    }
    // In token order, so that two owners' devices keeping copies for the
    // same devices at once never wait for each other in a circle. The sort
    // is stable: of two copies for one device, the later still wins.
    let mut sorted: Vec<&(TokenId, Vec<u8>)> = copies.iter().collect();
    sorted.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    for (token, wrapped) in sorted {
        exec(
            &tx,
            "INSERT INTO device_wraps (token_id, epoch, wrapped, created_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (token_id, epoch) DO UPDATE SET
               wrapped = excluded.wrapped, created_at = excluded.created_at",
            &[&token.as_str(), &i64::from(epoch), wrapped, &to_i64(now)],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(WrapsPut::Kept)
}

/// The key epochs of `ws` and their key check records, oldest first.
pub async fn key_epochs(
    c: &impl GenericClient,
    ws: &WorkspaceId,
) -> Result<Vec<(u32, Vec<u8>)>, Failure> {
    let found = rows(
        c,
        "SELECT epoch, key_check FROM key_epochs WHERE workspace_id = $1 ORDER BY epoch",
        &[&ws.as_str()],
    )
    .await?;
    let mut out = Vec::with_capacity(found.len());
    for row in &found {
        let epoch: i64 = col(row, 0)?;
        out.push((u32::try_from(epoch).unwrap_or(0), col(row, 1)?));
    }
    Ok(out)
}

/// Records key epoch `epoch` of `ws` with its check, once, if the
/// workspace has fewer than `max_epochs`. The workspace stays locked until
/// the end, so two servers never both add the last epoch allowed.
pub async fn put_key_epoch(
    c: &mut Client,
    ws: &WorkspaceId,
    epoch: u32,
    check: &[u8],
    now: u64,
    max_epochs: usize,
) -> Result<KeyEpochPut, Failure> {
    let tx = c.transaction().await?;
    lock_workspace(&tx, ws).await?;
    let known = first(
        &tx,
        "SELECT key_check FROM key_epochs WHERE workspace_id = $1 AND epoch = $2",
        &[&ws.as_str(), &i64::from(epoch)],
    )
    .await?;
    let outcome = match known {
        Some(row) if col::<&[u8]>(&row, 0)? == check => KeyEpochPut::Unchanged,
        Some(_) => KeyEpochPut::Conflict,
        None => {
            let count = first(
                &tx,
                "SELECT COUNT(*) FROM key_epochs WHERE workspace_id = $1",
                &[&ws.as_str()],
            )
            .await?;
            let count: i64 = match &count {
                Some(row) => col(row, 0)?,
                None => 0,
            };
            if usize::try_from(count).unwrap_or(usize::MAX) >= max_epochs {
                KeyEpochPut::TooMany
            } else {
                exec(
                    &tx,
                    "INSERT INTO key_epochs (workspace_id, epoch, key_check, created_at)
                     VALUES ($1, $2, $3, $4)",
                    &[&ws.as_str(), &i64::from(epoch), &check, &to_i64(now)],
                )
                .await?;
                KeyEpochPut::Created
            }
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

/// Keeps `credential_hash` and `wrapped_keys` (a JSON array) as the
/// recovery key of `ws`, replacing the one before (which stops working at
/// once), in one transaction under the workspace's lock. `true` if there
/// was one before.
pub async fn put_recovery(
    c: &mut Client,
    ws: &WorkspaceId,
    credential_hash: &[u8],
    wrapped_keys: &str,
    now: u64,
) -> Result<bool, Failure> {
    let tx = c.transaction().await?;
    lock_workspace(&tx, ws).await?;
    let replaced = first(
        &tx,
        "SELECT 1 FROM recovery WHERE workspace_id = $1",
        &[&ws.as_str()],
    )
    .await?
    .is_some();
    exec(
        &tx,
        "INSERT INTO recovery (workspace_id, credential_hash, wrapped_keys, updated_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (workspace_id) DO UPDATE SET
           credential_hash = excluded.credential_hash,
           wrapped_keys = excluded.wrapped_keys,
           updated_at = excluded.updated_at",
        &[&ws.as_str(), &credential_hash, &wrapped_keys, &to_i64(now)],
    )
    .await?;
    tx.commit().await?;
    Ok(replaced)
}

/// Recovers the workspace whose recovery credential hashes to
/// `credential_hash`: revokes every master token it has (a lost owner
/// device is locked out) and creates the one `make_token` makes, in one
/// transaction. The workspace is found, then locked, then its credential
/// read again (it may have been replaced meanwhile): the lock is taken in
/// the same order as [`put_recovery`] takes it. `None` if no workspace has
/// that recovery key.
pub async fn redeem_recovery(
    c: &mut Client,
    credential_hash: &[u8],
    now: u64,
    make_token: impl FnOnce(WorkspaceId) -> NewToken,
) -> Result<Option<Recovered>, Failure> {
    let tx = c.transaction().await?;
    let found = first(
        &tx,
        "SELECT workspace_id FROM recovery WHERE credential_hash = $1",
        &[&credential_hash],
    )
    .await?;
    let Some(row) = found else {
        return Ok(None);
    };
    let Ok(ws) = WorkspaceId::parse(col::<&str>(&row, 0)?) else {
        return Ok(None);
    };
    lock_workspace(&tx, &ws).await?;
    let still = first(
        &tx,
        "SELECT wrapped_keys FROM recovery WHERE credential_hash = $1 AND workspace_id = $2",
        &[&credential_hash, &ws.as_str()],
    )
    .await?;
    let Some(row) = still else {
        return Ok(None);
    };
    let wrapped_keys: String = col(&row, 0)?;
    let token = make_token(ws);
    revoke_masters(&tx, &token.workspace, now).await?;
    insert_token(&tx, &token).await?;
    tx.commit().await?;
    Ok(Some((token, wrapped_keys)))
}
