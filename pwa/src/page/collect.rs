//! Collecting attached files from the owner's app: the files no note has
//! held for [`WINDOW_MS`] and the chunks of uploads that never finished,
//! by `hearth_shared::collect`'s plan (the same as `hearth-device
//! collect-files`). It runs by itself at most once a day, a minute after
//! the owner's app opens ([`collect_when_due`]), and from Data → "Files on
//! this device" on demand. Its ledger is kept per workspace in
//! `hearth_storage::collect`.

use dioxus::prelude::*;
use hearth_shared::api::{
    ChunkNames, MAX_CHUNK_NAMES, MissingChunks, StoredChunks, UnreferencedResponse,
};
use hearth_shared::collect::{Files, plan};
use hearth_shared::engine::TransportError;
use hearth_shared::routes::Route;
use hearth_storage::collect::{Collection, load, save};

use crate::fetch::{Connection, get_json, post_json};
use crate::page::state::AppState;
use crate::platform::{now_ms, sleep_ms};

/// How long a file must have been held by no note before it is collected:
/// a note's history can bring it back meanwhile.
pub const WINDOW_MS: u64 = 30 * 24 * 3600 * 1000;
/// How often the collection runs by itself (well inside the server's grace
/// period, so that a chunk set aside while its upload finished is asked
/// for again in time).
const EVERY_MS: u64 = 24 * 3600 * 1000;

/// What one collection did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Collected {
    pub referenced: usize,
    pub waiting: usize,
    pub collected: usize,
    pub abandoned: usize,
    pub marked: u64,
    /// Chunks of held files the server lacks (should be 0).
    pub lost: usize,
    pub grace_secs: u64,
}

fn words(e: TransportError) -> String {
    match e {
        TransportError::Offline(_) => "the server cannot be reached".into(),
        e => e.to_string(),
    }
}

/// Collects now. Only the owner's device may.
pub async fn collect(state: &AppState) -> Result<Collected, String> {
    let record = state.record.peek().clone();
    if !record.is_owner() {
        return Err("only the device that owns the workspace collects its files".into());
    }
    let conn = Connection::of(&record).ok_or("this device is not connected to a server")?;
    let ws = conn.workspace.clone();
    let stored: StoredChunks = get_json(
        &conn.server,
        &Route::ListChunks(ws.clone()).path(),
        &conn.token,
    )
    .await
    .map_err(words)?;
    let mut kept = load(&state.db, ws.as_str())
        .await
        .map_err(|e| e.to_string())?;
    let now = now_ms().max(0) as u64;
    let the_plan = {
        let workspace = state.workspace.peek();
        let (attached, held) = (workspace.files(), workspace.held_files());
        plan(
            Files {
                attached: &attached,
                held: &held,
            },
            &kept.ledger,
            now,
            WINDOW_MS,
            Some((&stored.names, stored.grace_secs)),
        )
    };
    let mut done = Collected {
        referenced: the_plan.referenced,
        waiting: the_plan.waiting,
        abandoned: the_plan.abandoned,
        grace_secs: stored.grace_secs,
        ..Collected::default()
    };
    let missing_path = Route::MissingChunks(ws.clone()).path();
    for batch in the_plan.keep.chunks(MAX_CHUNK_NAMES) {
        let body = ChunkNames {
            names: batch.to_vec(),
        };
        let answer: MissingChunks =
            post_json(&conn.server, &missing_path, Some(&conn.token), &body)
                .await
                .map_err(words)?;
        done.lost += answer.missing.len();
    }
    let path = Route::UnreferencedChunks(ws.clone()).path();
    for batch in the_plan.mark_batches() {
        let body = ChunkNames {
            names: batch.to_vec(),
        };
        let answer: UnreferencedResponse = post_json(&conn.server, &path, Some(&conn.token), &body)
            .await
            .map_err(words)?;
        done.marked += answer.marked;
    }
    if !the_plan.due.is_empty() {
        // One edit for them all.
        state.write(|w| {
            for id in &the_plan.due {
                w.forget_file(id)?;
            }
            Ok(())
        });
    }
    done.collected = the_plan.due.len();
    kept.ledger = the_plan.ledger;
    kept.ran_ms = now;
    save(&state.db, ws.as_str(), &kept)
        .await
        .map_err(|e| e.to_string())?;
    Ok(done)
}

/// A minute after the owner's app opens, collects if the last collection
/// is a day old; a failure waits for the next start.
pub fn collect_when_due(state: &AppState) {
    let state = state.clone();
    use_hook(move || {
        if state.follower || !state.record.peek().is_owner() {
            return;
        }
        spawn(async move {
            sleep_ms(60_000).await;
            let ws = state.record.peek().workspace_id.as_str().to_owned();
            let last = load(&state.db, &ws).await.map(|c: Collection| c.ran_ms);
            let now = now_ms().max(0) as u64;
            if last.is_ok_and(|ran| now.saturating_sub(ran) >= EVERY_MS)
                && let Err(why) = collect(&state).await
            {
                crate::platform::log(&format!("files were not collected: {why}"));
            }
        });
    });
}
