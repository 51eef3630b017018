//! The `extras` module (`hearth-extras`: reading imports, writing Markdown
//! exports, drawing QR codes), loaded the first time the page needs it and kept by the
//! service worker from then on, so that the first visit does not download
//! it. Its file names are in `index.html`'s `hearth-extras` meta tag,
//! filled in by `cargo xtask dist`.

use std::cell::RefCell;

use hearth_interchange::Imported;
use hearth_interchange::export::Export;
use js_sys::{Array, Function, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = "export async function load_module(js, wasm) {
    const module = await import(js);
    await module.default({ module_or_path: wasm });
    return module;
}")]
extern "C" {
    #[wasm_bindgen(catch)]
    async fn load_module(js: &str, wasm: &str) -> Result<JsValue, JsValue>;
}

thread_local! {
    static LOADED: RefCell<Option<JsValue>> = const { RefCell::new(None) };
}

/// The words of a thrown error.
fn reason(error: &JsValue) -> String {
    Reflect::get(error, &"message".into())
        .ok()
        .and_then(|m| m.as_string())
        .or_else(|| error.as_string())
        .unwrap_or_else(|| "an unknown error".into())
}

/// The loaded module, loading it the first time.
async fn module() -> Result<JsValue, String> {
    if let Some(module) = LOADED.with(|m| m.borrow().clone()) {
        return Ok(module);
    }
    let names = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.query_selector("meta[name=hearth-extras]").ok().flatten())
        .and_then(|meta| meta.get_attribute("content"))
        .ok_or("this copy of the app has no import module")?;
    let mut parts = names.split(' ');
    let (Some(js), Some(wasm)) = (parts.next(), parts.next()) else {
        return Err("this copy of the app names no import module".into());
    };
    let module = load_module(js, wasm).await.map_err(|e| {
        format!(
            "the part of the app that reads and writes other apps' files could not be loaded ({}). It is downloaded once, the first time it is used: connect to the internet and try again.",
            reason(&e)
        )
    })?;
    LOADED.with(|m| *m.borrow_mut() = Some(module.clone()));
    Ok(module)
}

fn function(module: &JsValue, name: &str) -> Result<Function, String> {
    Reflect::get(module, &name.into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
        .ok_or_else(|| format!("the import module has no {name}"))
}

/// Reads picked files, each `(path, bytes)`: what they hold, and each
/// attachment's bytes in the order of `Imported::attachments`.
pub async fn read_import(files: Vec<(String, Uint8Array)>) -> Result<Imported, String> {
    let module = module().await?;
    let paths: Array = files
        .iter()
        .map(|(p, _)| JsValue::from(p.as_str()))
        .collect();
    let bytes: Array = files.into_iter().map(|(_, b)| JsValue::from(b)).collect();
    let result = function(&module, "read_import")?
        .call2(&JsValue::NULL, &paths, &bytes)
        .map_err(|e| reason(&e))?;
    let result: Array = result.dyn_into().map_err(|_| "an unexpected answer")?;
    let json = result.get(0).as_string().ok_or("an unexpected answer")?;
    let mut imported: Imported =
        serde_json::from_str(&json).map_err(|e| format!("an unexpected answer: {e}"))?;
    let attachments: Array = result
        .get(1)
        .dyn_into()
        .map_err(|_| "an unexpected answer")?;
    for (at, attachment) in imported.attachments.iter_mut().enumerate() {
        if let Ok(bytes) = attachments.get(at as u32).dyn_into::<Uint8Array>() {
            attachment.bytes = bytes.to_vec();
        }
    }
    Ok(imported)
}

/// A zip of Markdown files of `export` (its files' bytes included).
pub async fn markdown_zip(export: &Export) -> Result<Uint8Array, String> {
    let module = module().await?;
    let json = serde_json::to_string(export).map_err(|e| e.to_string())?;
    let files: Array = export
        .files
        .iter()
        .map(|f| JsValue::from(Uint8Array::from(f.bytes.as_slice())))
        .collect();
    function(&module, "markdown_zip")?
        .call2(&JsValue::NULL, &json.into(), &files)
        .map_err(|e| reason(&e))?
        .dyn_into::<Uint8Array>()
        .map_err(|_| "an unexpected answer".into())
}

/// The QR code of `text` as an SVG document; `None` if the module cannot
/// load (offline before its first use), when the text alone is shown.
pub async fn qr_svg(text: &str) -> Option<String> {
    let module = module().await.ok()?;
    function(&module, "qr_svg")
        .ok()?
        .call1(&JsValue::NULL, &text.into())
        .ok()?
        .as_string()
}
