//! Attached files in the app: downloading one on demand (every chunk
//! fetched from the server, checked against its name and opened with the
//! workspace's keys, on the page: the keys are in the device record) and
//! offering it to the browser as an object URL.

use hearth_shared::files::{FileRef, open_chunk};
use hearth_shared::routes::Route;
use wasm_bindgen::JsValue;

use crate::device::DeviceRecord;
use crate::fetch::{Connection, get_bytes};

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
