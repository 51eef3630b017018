//! Public read-only links to one note, made and revoked from the owner's
//! devices (see `hearth_shared::share` for the link and what it seals).
//!
//! Making a link: a fresh 32-byte key; each attached file opened from the
//! local cache (fetched first if needed) and cut, sealed under that key
//! and sent as new chunks; the note sealed as the link's document and
//! sent; then `POST …/shares` names them and gets the link's id. The link
//! (id and key) is kept in the workspace document, so every device of
//! the owner lists it and can revoke it.

use dioxus::prelude::*;
use hearth_migrations::shares::ShareRecord;
use hearth_shared::api::{CreateShare, PutChunkResponse, ShareInfo, ShareList, UpdateShare};
use hearth_shared::engine::TransportError;
use hearth_shared::error::ErrorCode;
use hearth_shared::files::FileRef;
use hearth_shared::id::{ChunkName, ShareId};
use hearth_shared::routes::Route;
use hearth_shared::share::{ShareLink, SharedFile, SharedNote};

use crate::fetch::{Connection, delete, get_json, post_json, put_json, put_octets};
use crate::files::{SendError, fetch_into_cache, open_cached, store_chunks};
use crate::page::state::AppState;
use crate::platform::{now_ms, secure_random};

fn words(e: TransportError) -> String {
    match e {
        TransportError::Offline(_) => {
            "The server cannot be reached; links are made and revoked online.".into()
        }
        TransportError::Server { message, .. } => format!("The server refused: {message}"),
        e => e.to_string(),
    }
}

fn connection(state: &AppState) -> Result<Connection, String> {
    Connection::of(&state.record.peek())
        .ok_or_else(|| "This device is not connected to a server.".to_owned())
}

/// Seals note `note_id` as it is now under `key` and sends it: its files
/// first, then the document. The document's name and the files' chunks.
async fn seal_and_send(
    state: &AppState,
    conn: &Connection,
    note_id: &str,
    key: [u8; 32],
    mut progress: impl FnMut(String),
) -> Result<(ChunkName, Vec<ChunkName>), String> {
    let (note, files) = {
        let ws = state.workspace.peek();
        let note = ws
            .get_note(note_id)
            .ok_or("The note is gone (deleted on another device?).")?;
        let files: Vec<FileRef> = ws
            .note_files(note_id)
            .into_iter()
            .filter_map(|(_, json)| FileRef::from_json(&json))
            .collect();
        (note, files)
    };
    // The id is the server's to choose; the key alone seals.
    let sealing = ShareLink {
        id: ShareId::from_random([0; 16]),
        key,
    };
    let sealer = sealing.sealer();
    let mut shared = SharedNote::new(note.title, note.body, note.tags, note.updated_at);
    let record = state.record.peek().clone();
    for (i, file) in files.iter().enumerate() {
        progress(format!(
            "Sealing {} ({} of {})…",
            file.name,
            i + 1,
            files.len()
        ));
        let kept = Default::default();
        fetch_into_cache(&state.db, &record, &file.name, &file.chunks, &kept, |_| {}).await?;
        let bytes = open_cached(&state.db, &record, &file.name, &file.chunks, file.size).await?;
        let chunks = store_chunks(conn, &sealer, &file.name, &bytes, None, |_| {})
            .await
            .map_err(|e| match e {
                SendError::Wait(why) | SendError::Fail(why) => why,
            })?;
        shared.files.push(SharedFile {
            name: file.name.clone(),
            mime: file.mime.clone(),
            size: file.size,
            chunks,
        });
    }
    progress("Sealing the note…".into());
    let (document, stored) = sealing.seal_note(&shared).map_err(|e| e.to_string())?;
    let path = Route::PutChunk {
        ws: conn.workspace.clone(),
        name: document,
    }
    .path();
    let _: PutChunkResponse = put_octets(&conn.server, &path, &conn.token, &stored)
        .await
        .map_err(words)?;
    Ok((document, shared.chunk_names()))
}

fn writable(state: &AppState) -> Result<Connection, String> {
    let conn = connection(state)?;
    if !state.record.peek().can_write() {
        return Err("This device may only read this workspace.".into());
    }
    Ok(conn)
}

/// Makes a link to note `note_id` that lasts `expires_in` seconds;
/// `progress` gets a sentence at each step. The link is kept in the
/// document before this returns.
pub async fn make_link(
    state: &AppState,
    note_id: &str,
    expires_in: u64,
    progress: impl FnMut(String),
) -> Result<ShareRecord, String> {
    let conn = writable(state)?;
    let key: [u8; 32] = secure_random()?;
    let (document, chunks) = seal_and_send(state, &conn, note_id, key, progress).await?;
    let ask = CreateShare {
        document,
        chunks,
        expires_in,
    };
    let path = Route::CreateShare(conn.workspace.clone()).path();
    let made: ShareInfo = post_json(&conn.server, &path, Some(&conn.token), &ask)
        .await
        .map_err(words)?;
    let link = ShareLink {
        id: made.share_id.clone(),
        key,
    };
    let kept = ShareRecord {
        id: made.share_id.to_string(),
        note: note_id.to_owned(),
        url: link.url(&conn.server),
        created_ms: now_ms(),
        expires_ms: i64::try_from(made.expires_at.saturating_mul(1000)).unwrap_or(i64::MAX),
    };
    state
        .write(|ws| ws.add_share(&kept))
        .ok_or("The link was made, but this device could not keep it.")?;
    Ok(kept)
}

/// Updates link `record` to its note as it is now: the same link, key and
/// end; its files sealed again (only what changed is sent).
pub async fn update_link(
    state: &AppState,
    record: &ShareRecord,
    progress: impl FnMut(String),
) -> Result<(), String> {
    let conn = writable(state)?;
    let link = ShareLink::parse(&record.url).map_err(|e| e.to_string())?;
    let (document, chunks) = seal_and_send(state, &conn, &record.note, link.key, progress).await?;
    let path = Route::UpdateShare(conn.workspace.clone(), link.id.clone()).path();
    let _: ShareInfo = put_json(
        &conn.server,
        &path,
        &conn.token,
        &UpdateShare { document, chunks },
    )
    .await
    .map_err(words)?;
    Ok(())
}

/// Revokes link `id`: the server forgets it at once (a link it had
/// forgotten already counts as revoked), then the document does.
pub async fn revoke(state: &AppState, id: &str) -> Result<(), String> {
    let conn = connection(state)?;
    let share = ShareId::parse(id).map_err(|e| e.to_string())?;
    let path = Route::RevokeShare(conn.workspace.clone(), share).path();
    match delete(&conn.server, &path, &conn.token).await {
        Ok(()) => {}
        Err(TransportError::Server {
            code: Some(ErrorCode::ShareNotFound),
            ..
        }) => {}
        Err(e) => return Err(words(e)),
    }
    state.write(|ws| ws.remove_share(id));
    Ok(())
}

/// Drops from the document the links the server no longer keeps (they
/// expired, or another device revoked them). Offline, nothing changes.
pub async fn forget_gone(state: &AppState) {
    let Ok(conn) = connection(state) else {
        return;
    };
    // A link made here while the list is on its way is not in it.
    let asked_ms = now_ms();
    let path = Route::ListShares(conn.workspace.clone()).path();
    let Ok(live) = get_json::<ShareList>(&conn.server, &path, &conn.token).await else {
        return;
    };
    let live: std::collections::BTreeSet<String> =
        live.shares.iter().map(|s| s.share_id.to_string()).collect();
    let gone: Vec<String> = state
        .workspace
        .peek()
        .shares(None)
        .into_iter()
        .filter(|r| r.created_ms < asked_ms && !live.contains(&r.id))
        .map(|r| r.id)
        .collect();
    if !gone.is_empty() {
        // One edit for them all.
        state.write(|ws| {
            for id in &gone {
                ws.remove_share(id)?;
            }
            Ok(())
        });
    }
}
