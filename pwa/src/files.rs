//! Attached files in the app: attaching one (cut into content-defined
//! chunks, sealed with the workspace key, the chunks the server lacks sent,
//! and only then the reference written into the note), downloading one on
//! demand (every chunk fetched, checked against its name and opened with
//! the workspace's keys, on the page: the keys are in the device record),
//! and offering it to the browser as an object URL.

use hearth_shared::api::{ChunkNames, Health, MAX_CHUNK_NAMES, MissingChunks, PutChunkResponse};
use hearth_shared::files::{
    ChunkRef, ChunkSealer, FileRef, Thumbnail, content_digest, cut_points, human_size, open_chunk,
};
use hearth_shared::id::ChunkName;
use hearth_shared::routes::Route;
use wasm_bindgen::{JsCast as _, JsValue};

use crate::device::DeviceRecord;
use crate::fetch::{Connection, get_bytes, get_public_json, post_json, put_octets};

/// The media type the browser gave, or else one by the file's extension.
fn mime_of(name: &str, given: &str) -> String {
    if given.is_empty() {
        hearth_shared::files::mime_of(name).to_owned()
    } else {
        given.to_owned()
    }
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
    let mime = mime_of(name, mime);
    // A thumbnail first (small, so that every device's note shows the
    // photo without downloading it whole).
    let thumbnail = if hearth_shared::files::is_image_mime(&mime) {
        match thumbnail_of(bytes, &mime).await {
            Some((thumb, width, height)) => Some(Thumbnail {
                mime: "image/jpeg".into(),
                width,
                height,
                chunks: store_chunks(&conn, &sealer, name, &thumb, |_, _| {}).await?,
            }),
            None => None,
        }
    } else {
        None
    };
    let chunks = store_chunks(&conn, &sealer, name, bytes, &mut progress).await?;
    Ok(FileRef {
        id: sealer.file_id(&content_digest(bytes)),
        name: name.to_owned(),
        mime,
        size,
        chunks,
        thumbnail,
        added_at: now,
    })
}

/// Cuts `bytes` into chunks, asks the server which it lacks, and sends
/// those; `progress(bytes sent or found, of all)`. Returns the chunk list.
async fn store_chunks(
    conn: &Connection,
    sealer: &ChunkSealer,
    name: &str,
    bytes: &[u8],
    mut progress: impl FnMut(u64, u64),
) -> Result<Vec<ChunkRef>, String> {
    let failed = |e: hearth_shared::engine::TransportError| format!("{name} was not attached: {e}");
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
        let body = ChunkNames {
            names: batch.to_vec(),
        };
        let answer: MissingChunks =
            post_json(&conn.server, &missing_path, Some(&conn.token), &body)
                .await
                .map_err(failed)?;
        missing.extend(answer.missing);
    }
    let total = bytes.len() as u64;
    let (mut done, mut offset) = (0u64, 0usize);
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
                .map_err(failed)?;
        }
        offset += len;
        done += chunk.len as u64;
        progress(done, total);
    }
    Ok(refs)
}

/// The longest side of a thumbnail, in pixels.
const THUMBNAIL_SIDE: f64 = 320.0;

/// A JPEG of the image `bytes`, at most 320 pixels on its longest side,
/// and its size; `None` if the browser cannot decode the image.
async fn thumbnail_of(bytes: &[u8], mime: &str) -> Option<(Vec<u8>, u32, u32)> {
    use base64::Engine as _;
    let url = object_url(bytes, mime)?;
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

/// Fetches and opens every chunk of `file`; `progress(bytes so far)` after
/// each. The error is a sentence for the person.
pub async fn download(
    record: &DeviceRecord,
    file: &FileRef,
    progress: impl FnMut(u64),
) -> Result<Vec<u8>, String> {
    download_chunks(record, &file.name, &file.chunks, file.size, progress).await
}

/// Fetches and opens a file's thumbnail.
pub async fn download_thumbnail(record: &DeviceRecord, file: &FileRef) -> Result<Vec<u8>, String> {
    let thumb = file.thumbnail.as_ref().ok_or("no thumbnail")?;
    let size = thumb.chunks.iter().map(|c| u64::from(c.len)).sum();
    download_chunks(record, &file.name, &thumb.chunks, size, |_| {}).await
}

async fn download_chunks(
    record: &DeviceRecord,
    name: &str,
    chunks: &[ChunkRef],
    size: u64,
    mut progress: impl FnMut(u64),
) -> Result<Vec<u8>, String> {
    let conn = Connection::of(record)
        .ok_or("This device is not connected to a server, which keeps the file.")?;
    let keys = record
        .keys
        .as_ref()
        .map(|k| k.epochs.clone())
        .unwrap_or_default();
    let capacity = usize::try_from(size).unwrap_or(0).min(1 << 30);
    let mut out = Vec::with_capacity(capacity);
    for chunk in chunks {
        let path = Route::GetChunk {
            ws: conn.workspace.clone(),
            name: chunk.name,
        }
        .path();
        let stored = get_bytes(&conn.server, &path, &conn.token)
            .await
            .map_err(|e| format!("{name} could not be downloaded: {e}"))?;
        let content = open_chunk(&keys, chunk, &stored)
            .map_err(|e| format!("{name} is damaged on the server: {e}"))?;
        out.extend_from_slice(&content);
        progress(out.len() as u64);
    }
    if out.len() as u64 != size {
        return Err(format!(
            "{name} arrived with {} bytes instead of {size}.",
            out.len()
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
