//! Attached files on this device.
//!
//! - In the sync worker: sending a queued file ([`send`]: cut into
//!   content-defined chunks, sealed with the workspace key, only the chunks
//!   the server lacks sent, the reference returned once every one is
//!   stored) and bringing chunks into the local cache ([`fetch_into_cache`],
//!   each checked against its name).
//! - On the page: the thumbnail of a picked image ([`thumbnail_of`], drawn
//!   on a canvas), opening a file from the cache with the workspace's keys
//!   ([`open_cached`]), and offering it to the browser ([`object_url`]).

use std::collections::BTreeSet;

use hearth_shared::api::{ChunkNames, Health, MAX_CHUNK_NAMES, MissingChunks, PutChunkResponse};
use hearth_shared::engine::TransportError;
use hearth_shared::files::{
    ChunkRef, ChunkSealer, FileRef, Thumbnail, content_digest, cut_points, human_size, name_of,
    open_chunk,
};
use hearth_shared::id::ChunkName;
use hearth_shared::routes::Route;
use hearth_storage::files::UploadData;
use rexie::Rexie;
use wasm_bindgen::{JsCast as _, JsValue};

use crate::device::DeviceRecord;
use crate::fetch::{Connection, get_bytes, get_public_json, post_json, put_octets};

/// Cached chunks not kept offline take at most this many bytes unless the
/// person chose otherwise (Data → Files on this device); the least
/// recently used go first.
pub const CACHE_CAP_BYTES: u64 = 256 * 1000 * 1000;

/// The most cached chunks not kept offline may take on this device.
pub async fn cache_cap(db: &Rexie) -> u64 {
    hearth_storage::files::cache_cap(db)
        .await
        .ok()
        .flatten()
        .unwrap_or(CACHE_CAP_BYTES)
}

/// Files up to this size stay in the cache after they are sent, so that
/// the device that attached them shows them without fetching them back.
const CACHE_SENT_BYTES: u64 = 25 * 1000 * 1000;

/// Why a queued file was not sent.
#[derive(Debug, Clone, PartialEq)]
pub enum SendError {
    /// For now (offline, the server busy or restarting): it is sent again
    /// when the server can be reached.
    Wait(String),
    /// For good (too large, over quota, refused), until the person tries
    /// again.
    Fail(String),
}

impl SendError {
    fn of(name: &str, e: TransportError) -> Self {
        match &e {
            TransportError::Offline(_) | TransportError::Protocol(_) => {
                SendError::Wait(format!("the server cannot be reached ({e})"))
            }
            TransportError::Server { status, .. }
                if *status == 408 || *status == 429 || (*status >= 500 && *status != 507) =>
            {
                SendError::Wait(format!("the server is busy ({e})"))
            }
            TransportError::Server { .. } => SendError::Fail(format!("{name} was not sent: {e}")),
        }
    }
}

/// The media type the browser gave, or else one by the file's extension.
pub fn mime_of(name: &str, given: &str) -> String {
    if given.is_empty() {
        hearth_shared::files::mime_of(name).to_owned()
    } else {
        given.to_owned()
    }
}

/// Sends queued file `item` as chunks, only those the server lacks;
/// `progress(bytes sent or found)`. Returns the reference to write into
/// the note, once every chunk is stored.
pub async fn send(
    db: &Rexie,
    record: &DeviceRecord,
    item: &UploadData,
    progress: impl FnMut(u64),
) -> Result<FileRef, SendError> {
    let meta = &item.meta;
    let name = meta.name.as_str();
    let conn = Connection::of(record).ok_or_else(|| {
        SendError::Wait("waiting until this device is connected to a server".into())
    })?;
    if !record.can_write() {
        return Err(SendError::Fail(format!(
            "{name} was not sent: this device may only read this workspace."
        )));
    }
    let health: Health = get_public_json(&conn.server, &Route::Health.path())
        .await
        .map_err(|e| SendError::of(name, e))?;
    if meta.size > health.max_file_bytes {
        return Err(SendError::Fail(format!(
            "{name} is {}, over this server's limit of {} per file.",
            human_size(meta.size),
            human_size(health.max_file_bytes)
        )));
    }
    let bytes = read_blob(&item.file).await.ok_or_else(|| {
        SendError::Fail(format!(
            "{name} could not be read back from this browser's storage; attach it again."
        ))
    })?;
    if bytes.len() as u64 != meta.size {
        return Err(SendError::Fail(format!(
            "{name} changed size since it was attached; attach it again."
        )));
    }
    let sealer = ChunkSealer::new(record.keys.as_ref().and_then(|k| k.writing()));
    let ws = conn.workspace.as_str();
    // The thumbnail first (small, so that every device's note shows the
    // photo without fetching it whole), kept in the cache too.
    let thumbnail = match (&item.thumb, meta.thumb_size) {
        (Some(thumb), Some((width, height))) => Some(Thumbnail {
            mime: "image/jpeg".into(),
            width,
            height,
            chunks: store_chunks(&conn, &sealer, name, thumb, Some(db), |_| {}).await?,
        }),
        _ => None,
    };
    let keep = (meta.size <= CACHE_SENT_BYTES).then_some(db);
    let chunks = store_chunks(&conn, &sealer, name, &bytes, keep, progress).await?;
    let _ = hearth_storage::files::evict(db, ws, cache_cap(db).await).await;
    Ok(FileRef {
        id: sealer.file_id(&content_digest(&bytes)),
        name: meta.name.clone(),
        mime: meta.mime.clone(),
        size: meta.size,
        chunks,
        thumbnail,
        added_at: meta.added_at,
    })
}

/// The bytes of a `Blob`.
async fn read_blob(blob: &JsValue) -> Option<Vec<u8>> {
    let blob: &web_sys::Blob = blob.dyn_ref()?;
    let buffer = wasm_bindgen_futures::JsFuture::from(blob.array_buffer())
        .await
        .ok()?;
    Some(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// Chunks sealed and asked about at once: their sealed bytes are held
/// until the server has those it lacks (about 8 MiB).
const BATCH: usize = 8;
/// Chunks sent at once, so that sealing, the network and the server's
/// writes overlap.
const IN_FLIGHT: usize = 4;

/// Cuts `bytes` into chunks and, a batch at a time, seals them, asks the
/// server which it lacks and sends those, [`IN_FLIGHT`] at once (keeping
/// them in the cache of `cache`, if given); `progress(bytes sent or
/// found)`. Each chunk is sealed once. Returns the chunk list.
pub(crate) async fn store_chunks(
    conn: &Connection,
    sealer: &ChunkSealer,
    name: &str,
    bytes: &[u8],
    cache: Option<&Rexie>,
    mut progress: impl FnMut(u64),
) -> Result<Vec<ChunkRef>, SendError> {
    let outside = || SendError::Fail(format!("{name}: its cut points fell outside it"));
    let missing_path = Route::MissingChunks(conn.workspace.clone()).path();
    let cuts = cut_points(bytes);
    let mut refs = Vec::with_capacity(cuts.len());
    let mut done = 0u64;
    for batch in cuts.chunks(BATCH.min(MAX_CHUNK_NAMES)) {
        let mut sealed = Vec::with_capacity(batch.len());
        for &(offset, len) in batch {
            let content = bytes.get(offset..offset + len).ok_or_else(outside)?;
            let (chunk_name, stored) = sealer.seal(content);
            sealed.push((chunk_name, len, stored));
        }
        let body = ChunkNames {
            names: sealed.iter().map(|(n, ..)| *n).collect(),
        };
        let answer: MissingChunks =
            post_json(&conn.server, &missing_path, Some(&conn.token), &body)
                .await
                .map_err(|e| SendError::of(name, e))?;
        // A chunk the file holds twice is sent once.
        let mut missing: BTreeSet<ChunkName> = answer.missing.into_iter().collect();
        let to_send: Vec<&(ChunkName, usize, Vec<u8>)> =
            sealed.iter().filter(|(n, ..)| missing.remove(n)).collect();
        for group in to_send.chunks(IN_FLIGHT) {
            let sends = group
                .iter()
                .map(|(chunk_name, _, stored)| send_chunk(conn, name, *chunk_name, stored, cache));
            futures::future::try_join_all(sends).await?;
        }
        for (chunk_name, len, _) in &sealed {
            refs.push(ChunkRef {
                name: *chunk_name,
                len: *len as u32,
            });
            done += *len as u64;
            progress(done);
        }
    }
    Ok(refs)
}

/// Sends one sealed chunk, and keeps it in the cache of `cache`, if given.
async fn send_chunk(
    conn: &Connection,
    name: &str,
    chunk_name: ChunkName,
    stored: &[u8],
    cache: Option<&Rexie>,
) -> Result<(), SendError> {
    let path = Route::PutChunk {
        ws: conn.workspace.clone(),
        name: chunk_name,
    }
    .path();
    let _: PutChunkResponse = put_octets(&conn.server, &path, &conn.token, stored)
        .await
        .map_err(|e| SendError::of(name, e))?;
    if let Some(db) = cache {
        let now = crate::platform::now_ms() as f64;
        let ws = conn.workspace.as_str();
        let _ =
            hearth_storage::files::write_chunk(db, ws, &chunk_name.to_string(), stored, false, now)
                .await;
    }
    Ok(())
}

/// Brings `chunks` into the cache: those it lacks are fetched from the
/// server and checked against their names (kept offline if in `kept`);
/// `progress(bytes here)`. The error is a sentence for the person.
pub async fn fetch_into_cache(
    db: &Rexie,
    record: &DeviceRecord,
    name: &str,
    chunks: &[ChunkRef],
    kept: &BTreeSet<String>,
    mut progress: impl FnMut(u64),
) -> Result<(), String> {
    let ws = record.workspace_id.as_str();
    let names: Vec<String> = chunks.iter().map(|c| c.name.to_string()).collect();
    let now = crate::platform::now_ms() as f64;
    let held = hearth_storage::files::touch_cached(db, ws, &names, now)
        .await
        .map_err(|e| e.to_string())?;
    let mut here = 0u64;
    let mut wanted = Vec::new();
    for (chunk, text) in chunks.iter().zip(&names) {
        if held.contains(text) {
            here += u64::from(chunk.len);
        } else {
            wanted.push((chunk, text));
        }
    }
    progress(here);
    if wanted.is_empty() {
        return Ok(());
    }
    let conn = Connection::of(record).ok_or_else(|| {
        format!("{name} is not on this device, and this device is not connected to a server.")
    })?;
    let mut seen = BTreeSet::new();
    for (chunk, text) in wanted {
        if !seen.insert(text.clone()) {
            here += u64::from(chunk.len);
            continue;
        }
        let path = Route::GetChunk {
            ws: conn.workspace.clone(),
            name: chunk.name,
        }
        .path();
        let stored = get_bytes(&conn.server, &path, &conn.token)
            .await
            .map_err(|e| match e {
                TransportError::Offline(_) => format!(
                    "{name} is not on this device yet, and the server cannot be reached. \
                     It arrives when the device is back online."
                ),
                e => format!("{name} could not be fetched: {e}"),
            })?;
        if name_of(&stored) != chunk.name {
            return Err(format!(
                "{name} is damaged on the server: a piece of it does not match its name."
            ));
        }
        let now = crate::platform::now_ms() as f64;
        hearth_storage::files::write_chunk(db, ws, text, &stored, kept.contains(text), now)
            .await
            .map_err(|e| e.to_string())?;
        here += u64::from(chunk.len);
        progress(here);
    }
    Ok(())
}

/// Opens a file (or thumbnail) of `size` bytes made of `chunks`, every one
/// of them in the cache, with the workspace's keys.
pub async fn open_cached(
    db: &Rexie,
    record: &DeviceRecord,
    name: &str,
    chunks: &[ChunkRef],
    size: u64,
) -> Result<Vec<u8>, String> {
    let keys = record
        .keys
        .as_ref()
        .map(|k| k.epochs.clone())
        .unwrap_or_default();
    let names: Vec<String> = chunks.iter().map(|c| c.name.to_string()).collect();
    let now = crate::platform::now_ms() as f64;
    let stored = hearth_storage::files::read_chunks(db, record.workspace_id.as_str(), &names, now)
        .await
        .map_err(|e| e.to_string())?;
    let capacity = usize::try_from(size).unwrap_or(0).min(1 << 30);
    let mut out = Vec::with_capacity(capacity);
    for (chunk, bytes) in chunks.iter().zip(stored) {
        let bytes = bytes.ok_or_else(|| {
            format!("{name} is no longer on this device (it made room for others); open it again.")
        })?;
        let content = open_chunk(&keys, chunk, &bytes)
            .map_err(|e| format!("{name} could not be opened: {e}"))?;
        out.extend_from_slice(&content);
    }
    if out.len() as u64 != size {
        return Err(format!("{name} has {} bytes instead of {size}.", out.len()));
    }
    Ok(out)
}

/// The longest side of a thumbnail, in pixels.
const THUMBNAIL_SIDE: f64 = 320.0;

/// A JPEG of the image `blob`, at most 320 pixels on its longest side, and
/// its size; `None` if the browser cannot decode the image.
pub async fn thumbnail_of(blob: &web_sys::Blob) -> Option<(Vec<u8>, u32, u32)> {
    use base64::Engine as _;
    let url = web_sys::Url::create_object_url_with_blob(blob).ok()?;
    let made = async {
        let document = web_sys::window()?.document()?;
        let img: web_sys::HtmlImageElement =
            document.create_element("img").ok()?.dyn_into().ok()?;
        let loaded = js_sys::Promise::new(&mut |resolve, reject| {
            img.set_onload(Some(&resolve));
            img.set_onerror(Some(&reject));
        });
        img.set_src(&url);
        wasm_bindgen_futures::JsFuture::from(loaded).await.ok()?;
        let (w, h) = (
            f64::from(img.natural_width()),
            f64::from(img.natural_height()),
        );
        if w < 1.0 || h < 1.0 {
            return None;
        }
        let scale = (THUMBNAIL_SIDE / w.max(h)).min(1.0);
        let (tw, th) = ((w * scale).round().max(1.0), (h * scale).round().max(1.0));
        let canvas: web_sys::HtmlCanvasElement =
            document.create_element("canvas").ok()?.dyn_into().ok()?;
        canvas.set_width(tw as u32);
        canvas.set_height(th as u32);
        let context: web_sys::CanvasRenderingContext2d =
            canvas.get_context("2d").ok()??.dyn_into().ok()?;
        // JPEG has no transparency: a white ground, as on paper.
        context.set_fill_style_str("#fff");
        context.fill_rect(0.0, 0.0, tw, th);
        context
            .draw_image_with_html_image_element_and_dw_and_dh(&img, 0.0, 0.0, tw, th)
            .ok()?;
        let data = canvas
            .to_data_url_with_type_and_encoder_options("image/jpeg", &JsValue::from_f64(0.8))
            .ok()?;
        let (_, encoded) = data.split_once(',')?;
        let jpeg = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()?;
        Some((jpeg, tw as u32, th as u32))
    }
    .await;
    let _ = web_sys::Url::revoke_object_url(&url);
    made
}

/// An object URL for `bytes` of type `mime` (revoke it when done).
pub fn object_url(bytes: &[u8], mime: &str) -> Option<String> {
    let array = js_sys::Uint8Array::from(bytes);
    let parts = js_sys::Array::of1(&JsValue::from(array));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options).ok()?;
    web_sys::Url::create_object_url_with_blob(&blob).ok()
}
