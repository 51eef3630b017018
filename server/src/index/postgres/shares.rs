//! The statements of public read-only links (migration 4's `shares`).

use deadpool_postgres::GenericClient;
use hearth_shared::id::{ChunkName, ShareId, WorkspaceId};
use tokio_postgres::Row;

use super::{col, exec, first, lock_workspace, rows};
use crate::index::{ShareRow, names_text, parse_names, to_i64, to_u64};
use crate::pg::{Client, Failure};

macro_rules! columns {
    () => {
        "id, workspace_id, document, chunks, created_at, expires_at"
    };
}

/// A row as a [`ShareRow`]; `None` if an id in it does not parse.
fn read(row: &Row) -> Result<Option<ShareRow>, Failure> {
    let (Ok(id), Ok(workspace), Ok(document)) = (
        ShareId::parse(col::<&str>(row, 0)?),
        WorkspaceId::parse(col::<&str>(row, 1)?),
        ChunkName::parse(col::<&str>(row, 2)?),
    ) else {
        return Ok(None);
    };
    Ok(Some(ShareRow {
        id,
        workspace,
        document,
        chunks: parse_names(col(row, 3)?),
        created_at: to_u64(col(row, 4)?),
        expires_at: to_u64(col(row, 5)?),
    }))
}

fn read_all(found: Vec<Row>) -> Result<Vec<ShareRow>, Failure> {
    let mut out = Vec::with_capacity(found.len());
    for row in &found {
        out.extend(read(row)?);
    }
    Ok(out)
}

/// Keeps a link unless its workspace holds `max` live ones; the
/// workspace's row is locked meanwhile, so two nodes count in turn.
pub async fn create(c: &mut Client, share: &ShareRow, max: usize) -> Result<bool, Failure> {
    let tx = c.transaction().await?;
    if !lock_workspace(&tx, &share.workspace).await? {
        return Err(Failure::Other(format!(
            "no workspace {} to share from",
            share.workspace
        )));
    }
    let live = first(
        &tx,
        "SELECT count(*) FROM shares WHERE workspace_id = $1 AND expires_at > $2",
        &[&share.workspace.as_str(), &to_i64(share.created_at)],
    )
    .await?;
    let live: i64 = match &live {
        Some(row) => col(row, 0)?,
        None => 0,
    };
    if to_u64(live) >= max as u64 {
        return Ok(false);
    }
    exec(
        &tx,
        concat!(
            "INSERT INTO shares (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6)"
        ),
        &[
            &share.id.as_str(),
            &share.workspace.as_str(),
            &share.document.to_string(),
            &names_text(&share.chunks),
            &to_i64(share.created_at),
            &to_i64(share.expires_at),
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// The link `id`.
pub async fn get(c: &impl GenericClient, id: &ShareId) -> Result<Option<ShareRow>, Failure> {
    let found = first(
        c,
        concat!("SELECT ", columns!(), " FROM shares WHERE id = $1"),
        &[&id.as_str()],
    )
    .await?;
    match found {
        Some(row) => read(&row),
        None => Ok(None),
    }
}

/// The links of `ws`, newest first.
pub async fn list(c: &impl GenericClient, ws: &WorkspaceId) -> Result<Vec<ShareRow>, Failure> {
    read_all(
        rows(
            c,
            concat!(
                "SELECT ",
                columns!(),
                " FROM shares WHERE workspace_id = $1 ORDER BY created_at DESC, id"
            ),
            &[&ws.as_str()],
        )
        .await?,
    )
}

/// Forgets link `id` of `ws`.
pub async fn delete(
    c: &impl GenericClient,
    ws: &WorkspaceId,
    id: &ShareId,
) -> Result<Option<ShareRow>, Failure> {
    let gone = first(
        c,
        concat!(
            "DELETE FROM shares WHERE id = $1 AND workspace_id = $2 RETURNING ",
            columns!()
        ),
        &[&id.as_str(), &ws.as_str()],
    )
    .await?;
    match gone {
        Some(row) => read(&row),
        None => Ok(None),
    }
}

/// Points live link `id` of `ws` at new chunks; what it was. The row is
/// locked meanwhile, so two updates take turns.
pub async fn replace(
    c: &mut Client,
    ws: &WorkspaceId,
    id: &ShareId,
    document: &ChunkName,
    chunks: &[ChunkName],
    now: u64,
) -> Result<Option<ShareRow>, Failure> {
    let tx = c.transaction().await?;
    let found = first(
        &tx,
        concat!(
            "SELECT ",
            columns!(),
            " FROM shares WHERE id = $1 AND workspace_id = $2 AND expires_at > $3 FOR UPDATE"
        ),
        &[&id.as_str(), &ws.as_str(), &to_i64(now)],
    )
    .await?;
    let old = match &found {
        Some(row) => read(row)?,
        None => None,
    };
    if old.is_some() {
        exec(
            &tx,
            "UPDATE shares SET document = $3, chunks = $4 WHERE id = $1 AND workspace_id = $2",
            &[
                &id.as_str(),
                &ws.as_str(),
                &document.to_string(),
                &names_text(chunks),
            ],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(old)
}

/// Forgets the links that expired at or before `now`.
pub async fn purge(c: &impl GenericClient, now: u64) -> Result<Vec<ShareRow>, Failure> {
    read_all(
        rows(
            c,
            concat!(
                "DELETE FROM shares WHERE expires_at <= $1 RETURNING ",
                columns!()
            ),
            &[&to_i64(now)],
        )
        .await?,
    )
}
