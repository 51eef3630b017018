//! Attached files in the app: attaching one (cut into content-defined
//! chunks, sealed with the workspace key, the chunks the server lacks sent,
//! and only then the reference written into the note), downloading one on
//! demand (every chunk fetched, checked against its name and opened with
//! the workspace's keys, on the page: the keys are in the device record),
//! and offering it to the browser as an object URL.

use hearth_shared::api::{ChunkNames, Health, MAX_CHUNK_NAMES, MissingChunks, PutChunkResponse};
use hearth_shared::files::{
    ChunkRef, ChunkSealer, FileRef, content_digest, cut_points, human_size, open_chunk,
};
use hearth_shared::id::ChunkName;
use hearth_shared::routes::Route;
use wasm_bindgen::JsValue;

use crate::device::DeviceRecord;
use crate::fetch::{Connection, get_bytes, get_public_json, post_json, put_octets};

/// The media type of a file the browser did not type, by its extension.
fn mime_of(name: &str, given: &str) -> String {
    if !given.is_empty() {
        return given.to_owned();
    }
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "pdf" => "application/pdf",
        "txt" | "md" => "text/plain",
        _ => "application/octet-stream",
    }
    .to_owned()
}

/// Uploads `bytes` (a file named `name` of type `mime`) as chunks, sending
/// only those the server lacks; `progress(bytes sent or found, of all)`.
/// Returns the reference to write into a note, once every chunk is stored.
pub async fn upload(
    record: &DeviceRecord,
    name: &str,
    mime: &str,
    bytes: &[u8],
    now: i64,
    mut progress: impl FnMut(u64, u64),
) -> Result<FileRef, String> {
    let conn = Connection::of(record)
        .ok_or("Connect this device to a server first: attached files are kept there.")?;
    if !record.can_write() {
        return Err("This device may only read this workspace, so it cannot attach files.".into());
    }
    let size = bytes.len() as u64;
    let health: Health = get_public_json(&conn.server, &Route::Health.path())
        .await
        .map_err(|e| format!("{name} was not attached: {e}"))?;
    if size > health.max_file_bytes {
        return Err(format!(
            "{name} is {}, over this server's limit of {} per file.",
            human_size(size),
            human_size(health.max_file_bytes)
        ));
    }
    let sealer = ChunkSealer::new(record.keys.as_ref().and_then(|k| k.writing()));
    let mut refs = Vec::new();
    for (offset, len) in cut_points(bytes) {
        let content = bytes
            .get(offset..offset + len)
            .ok_or("the file's cut points fell outside it")?;
        refs.push(ChunkRef {
            name: sealer.seal(content).0,
            len: len as u32,
        });
    }
    let names: Vec<ChunkName> = refs.iter().map(|c| c.name).collect();
    let mut missing = std::collections::BTreeSet::new();
    let missing_path = Route::MissingChunks(conn.workspace.clone()).path();
    for batch in names.chunks(MAX_CHUNK_NAMES) {
        let answer: MissingChunks = post_json(
            &conn.server,
            &missing_path,
            Some(&conn.token),
            &ChunkNames {
                names: batch.to_vec(),
            },
        )
        .await
        .map_err(|e| format!("{name} was not attached: {e}"))?;
        missing.extend(answer.missing);
    }
    let mut done = 0u64;
    let mut offset = 0usize;
    for chunk in &refs {
        let len = chunk.len as usize;
        if missing.remove(&chunk.name) {
            let content = bytes
                .get(offset..offset + len)
                .ok_or("the file's cut points fell outside it")?;
            let (chunk_name, stored) = sealer.seal(content);
            let path = Route::PutChunk {
                ws: conn.workspace.clone(),
                name: chunk_name,
            }
            .path();
            let _: PutChunkResponse = put_octets(&conn.server, &path, &conn.token, &stored)
                .await
                .map_err(|e| format!("{name} was not attached: {e}"))?;
        }
        offset += len;
        done += chunk.len as u64;
        progress(done, size);
    }
    Ok(FileRef {
        id: sealer.file_id(&content_digest(bytes)),
        name: name.to_owned(),
        mime: mime_of(name, mime),
        size,
        chunks: refs,
        thumbnail: None,
        added_at: now,
    })
}

/// Fetches and opens every chunk of `file`; `progress(bytes so far)` after
/// each. The error is a sentence for the person.
pub async fn download(
    record: &DeviceRecord,
    file: &FileRef,
    mut progress: impl FnMut(u64),
) -> Result<Vec<u8>, String> {
    let conn = Connection::of(record)
        .ok_or("This device is not connected to a server, which keeps the file.")?;
    let keys = record
        .keys
        .as_ref()
        .map(|k| k.epochs.clone())
        .unwrap_or_default();
    let capacity = usize::try_from(file.size).unwrap_or(0).min(1 << 30);
    let mut out = Vec::with_capacity(capacity);
    for chunk in &file.chunks {
        let path = Route::GetChunk {
            ws: conn.workspace.clone(),
            name: chunk.name,
        }
        .path();
        let stored = get_bytes(&conn.server, &path, &conn.token)
            .await
            .map_err(|e| format!("{} could not be downloaded: {e}", file.name))?;
        let content = open_chunk(&keys, chunk, &stored)
            .map_err(|e| format!("{} is damaged on the server: {e}", file.name))?;
        out.extend_from_slice(&content);
        progress(out.len() as u64);
    }
    if out.len() as u64 != file.size {
        return Err(format!(
            "{} arrived with {} bytes instead of {}.",
            file.name,
            out.len(),
            file.size
        ));
    }
    Ok(out)
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
