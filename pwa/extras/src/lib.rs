//! `hearth-extras`: what few visits need, kept out of the app's first
//! download. The page loads this module the first time it is needed
//! (`pwa/src/page/extras.rs`), and the service worker keeps it for offline
//! use from then on.
//!
//! - [`read_import`]: the files a person picked (a zip, an `.enex`, a
//!   Standard Notes backup, a Joplin export, a folder's files) read into
//!   notes, with `hearth-interchange`'s readers;
//! - [`markdown_zip`]: a workspace's notes, task lists and files as a zip
//!   of Markdown another app opens;
//! - [`qr_svg`]: a pairing link or recovery key as a QR code (shown on
//!   the owner's device now and then, so not worth the first download).
//!
//! Only plain values cross: JSON text (`hearth_interchange::Imported`,
//! `hearth_interchange::export::Export`, which leave bytes out) and byte
//! arrays beside it. This module links no Loro: the page applies what was
//! read to its own document.

use hearth_interchange::export::{Export, markdown_zip as zip_of};
use hearth_interchange::{InputFile, read};
use js_sys::{Array, Uint8Array};
use wasm_bindgen::prelude::*;

/// Reads picked files (`paths[i]` is `files[i]`'s path or name). Returns
/// `[json, attachments]`: the `Imported` as JSON, and an array of each
/// attachment's bytes in the same order as its `attachments`. Throws the
/// reason, in words a person can act on, when the files cannot be read.
#[wasm_bindgen]
pub fn read_import(paths: Vec<String>, files: Vec<Uint8Array>) -> Result<Array, JsError> {
    let inputs: Vec<InputFile> = paths
        .into_iter()
        .zip(files)
        .map(|(path, bytes)| InputFile {
            path,
            bytes: bytes.to_vec(),
        })
        .collect();
    let imported = read(inputs).map_err(|e| JsError::new(&e.to_string()))?;
    let json = serde_json::to_string(&imported).map_err(|e| JsError::new(&e.to_string()))?;
    let attachments: Array = imported
        .attachments
        .iter()
        .map(|a| JsValue::from(Uint8Array::from(a.bytes.as_slice())))
        .collect();
    Ok(Array::of2(&json.into(), &attachments))
}

/// A zip of Markdown files from an `Export` as JSON and the bytes of its
/// `files`, in order.
#[wasm_bindgen]
pub fn markdown_zip(export: &str, files: Vec<Uint8Array>) -> Result<Uint8Array, JsError> {
    let mut export: Export =
        serde_json::from_str(export).map_err(|e| JsError::new(&e.to_string()))?;
    for (file, bytes) in export.files.iter_mut().zip(files) {
        file.bytes = bytes.to_vec();
    }
    let zip = zip_of(&export).map_err(|e| JsError::new(&e.to_string()))?;
    Ok(Uint8Array::from(zip.as_slice()))
}

/// The QR code of `text`, as an SVG document (the shape `index.html`'s
/// Trusted Types policy lets into the page).
#[wasm_bindgen]
pub fn qr_svg(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(240, 240)
            .quiet_zone(true)
            .build(),
    )
}
