//! The statements of public read-only links (migration 8's `shares`).

use hearth_shared::id::{ChunkName, ShareId, WorkspaceId};
use rusqlite::{Connection, OptionalExtension as _, Row, params};

use super::SqlError as IndexError;
use crate::index::{ShareRow, names_text, parse_names, to_i64, to_u64};

const COLUMNS: &str = "id, workspace_id, document, chunks, created_at, expires_at";

/// A row as a [`ShareRow`]; `None` if an id in it does not parse (the
/// schema holds only what [`create`] wrote).
fn read(row: &Row<'_>) -> rusqlite::Result<Option<ShareRow>> {
    let id: String = row.get(0)?;
    let ws: String = row.get(1)?;
    let document: String = row.get(2)?;
    let chunks: String = row.get(3)?;
    let (Ok(id), Ok(workspace), Ok(document)) = (
        ShareId::parse(&id),
        WorkspaceId::parse(&ws),
        ChunkName::parse(&document),
    ) else {
        return Ok(None);
    };
    Ok(Some(ShareRow {
        id,
        workspace,
        document,
        chunks: parse_names(&chunks),
        created_at: to_u64(row.get(4)?),
        expires_at: to_u64(row.get(5)?),
    }))
}

/// Keeps a link unless its workspace holds `max` live ones.
pub fn create(conn: &mut Connection, share: &ShareRow, max: usize) -> Result<bool, IndexError> {
    let tx = conn.transaction()?;
    let live: i64 = tx.query_row(
        "SELECT count(*) FROM shares WHERE workspace_id = ?1 AND expires_at > ?2",
        params![share.workspace.as_str(), to_i64(share.created_at)],
        |r| r.get(0),
    )?;
    if to_u64(live) >= max as u64 {
        return Ok(false);
    }
    tx.execute(
        &format!("INSERT INTO shares ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
        params![
            share.id.as_str(),
            share.workspace.as_str(),
            share.document.to_string(),
            names_text(&share.chunks),
            to_i64(share.created_at),
            to_i64(share.expires_at),
        ],
    )?;
    tx.commit()?;
    Ok(true)
}

/// The link `id`.
pub fn get(conn: &mut Connection, id: &ShareId) -> Result<Option<ShareRow>, IndexError> {
    let found = conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM shares WHERE id = ?1"),
            params![id.as_str()],
            read,
        )
        .optional()?;
    Ok(found.flatten())
}

/// The links of `ws`, newest first.
pub fn list(conn: &mut Connection, ws: &WorkspaceId) -> Result<Vec<ShareRow>, IndexError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM shares WHERE workspace_id = ?1 ORDER BY created_at DESC, id"
    ))?;
    let rows = stmt.query_map(params![ws.as_str()], read)?;
    let mut out = Vec::new();
    for row in rows {
        out.extend(row?);
    }
    Ok(out)
}

/// Forgets link `id` of `ws`.
pub fn delete(
    conn: &mut Connection,
    ws: &WorkspaceId,
    id: &ShareId,
) -> Result<Option<ShareRow>, IndexError> {
    let gone = conn
        .query_row(
            &format!("DELETE FROM shares WHERE id = ?1 AND workspace_id = ?2 RETURNING {COLUMNS}"),
            params![id.as_str(), ws.as_str()],
            read,
        )
        .optional()?;
    Ok(gone.flatten())
}

/// Points live link `id` of `ws` at new chunks; what it was.
pub fn replace(
    conn: &mut Connection,
    ws: &WorkspaceId,
    id: &ShareId,
    document: &ChunkName,
    chunks: &[ChunkName],
    now: u64,
) -> Result<Option<ShareRow>, IndexError> {
    let tx = conn.transaction()?;
    let found = tx
        .query_row(
            &format!(
                "SELECT {COLUMNS} FROM shares WHERE id = ?1 AND workspace_id = ?2 AND expires_at > ?3"
            ),
            params![id.as_str(), ws.as_str(), to_i64(now)],
            read,
        )
        .optional()?
        .flatten();
    if found.is_some() {
        tx.execute(
            "UPDATE shares SET document = ?3, chunks = ?4 WHERE id = ?1 AND workspace_id = ?2",
            params![
                id.as_str(),
                ws.as_str(),
                document.to_string(),
                names_text(chunks)
            ],
        )?;
    }
    tx.commit()?;
    Ok(found)
}

/// Forgets the links that expired at or before `now`.
pub fn purge(conn: &mut Connection, now: u64) -> Result<Vec<ShareRow>, IndexError> {
    let mut stmt = conn.prepare_cached(&format!(
        "DELETE FROM shares WHERE expires_at <= ?1 RETURNING {COLUMNS}"
    ))?;
    let mut gone = Vec::new();
    for row in stmt.query_map(params![to_i64(now)], read)? {
        gone.extend(row?);
    }
    Ok(gone)
}
