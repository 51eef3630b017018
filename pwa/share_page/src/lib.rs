//! `hearth-share-page`: the page a public link opens (`/share#{id}.{key}`): no app, no
//! account, no service worker. It reads the link's id and key from the
//! fragment, asks the server for the link (`GET /v1/shares/{id}`) and
//! its chunks, opens them with the key, and shows the note read-only: its
//! Markdown rendered inert by `hearth-markdown` (no HTML of the note
//! reaches the page, links open elsewhere, nothing in it runs), its
//! images shown and its other files offered for download, and when the
//! link ends. Nothing is written with `innerHTML`. A module of its own,
//! so that someone without Hearth downloads this page and nothing of the
//! app.

use hearth_markdown::{Kind, Node};
use hearth_shared::api::ShareInfo;
use hearth_shared::files::ChunkRef;
use hearth_shared::routes::Route;
use hearth_shared::share::{ShareLink, SharedFile, SharedNote};
use js_sys::{Array, Uint8Array};
use wasm_bindgen::JsCast as _;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Document, Element, Response};

/// Shows the link in the page's `#share` element; an error is shown there
/// too, in words for the person who followed the link.
#[wasm_bindgen]
pub async fn show_share() -> Result<(), JsValue> {
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let root = document
        .get_element_by_id("share")
        .ok_or("the page has no #share")?;
    root.set_text_content(None);
    let shown = match open().await {
        Ok((info, link, note)) => render(&document, &root, &info, &link, &note).await,
        Err(why) => Err(why),
    };
    if let Err(why) = shown {
        root.set_text_content(None);
        let p = document.create_element("p")?;
        p.set_id("share-error");
        p.set_attribute("role", "alert")?;
        p.set_text_content(Some(&why));
        root.append_child(&p)?;
    }
    root.set_attribute("data-state", "shown")?;
    Ok(())
}

async fn fetch(path: &str) -> Result<Response, String> {
    let window = web_sys::window().ok_or("no window")?;
    let response: Response = JsFuture::from(window.fetch_with_str(path))
        .await
        .map_err(|_| "The server cannot be reached. Check the connection and reload.".to_owned())?
        .dyn_into()
        .map_err(|_| "an unexpected answer")?;
    if response.ok() {
        return Ok(response);
    }
    let text = JsFuture::from(response.text().map_err(|_| "an unreadable answer")?)
        .await
        .ok()
        .and_then(|t| t.as_string())
        .unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_else(|| format!("the server answered {}", response.status()));
    let mut message = message;
    if let Some(first) = message.get(..1) {
        message = first.to_uppercase() + message.get(1..).unwrap_or_default();
    }
    Err(message)
}

async fn bytes(path: &str) -> Result<Vec<u8>, String> {
    let response = fetch(path).await?;
    let buffer = JsFuture::from(
        response
            .array_buffer()
            .map_err(|_| "an unreadable answer")?,
    )
    .await
    .map_err(|_| "The answer broke off; reload to try again.")?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

async fn open() -> Result<(ShareInfo, ShareLink, SharedNote), String> {
    let hash = web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .unwrap_or_default();
    let link = ShareLink::parse(&hash).map_err(|e| e.to_string())?;
    let response = fetch(&Route::GetShare(link.id.clone()).path()).await?;
    let text = JsFuture::from(response.text().map_err(|_| "an unreadable answer")?)
        .await
        .ok()
        .and_then(|t| t.as_string())
        .unwrap_or_default();
    let info: ShareInfo =
        serde_json::from_str(&text).map_err(|_| "The server's answer is not a link.".to_owned())?;
    let path = Route::GetShareChunk {
        share: link.id.clone(),
        name: info.document,
    }
    .path();
    let stored = bytes(&path).await?;
    let note = link
        .open_note(&info.document, &stored)
        .map_err(|e| e.to_string())?;
    Ok((info, link, note))
}

fn element(document: &Document, tag: &str, class: Option<&str>) -> Result<Element, String> {
    let e = document
        .create_element(tag)
        .map_err(|_| format!("cannot make a {tag}"))?;
    if let Some(class) = class {
        e.set_class_name(class);
    }
    Ok(e)
}

fn append(parent: &Element, child: &web_sys::Node) -> Result<(), String> {
    parent
        .append_child(child)
        .map(|_| ())
        .map_err(|_| "cannot build the page".to_owned())
}

fn text(parent: &Element, document: &Document, text: &str) -> Result<(), String> {
    append(parent, &document.create_text_node(text))
}

async fn render(
    document: &Document,
    root: &Element,
    info: &ShareInfo,
    link: &ShareLink,
    note: &SharedNote,
) -> Result<(), String> {
    let title = if note.title.trim().is_empty() {
        "Untitled note"
    } else {
        note.title.as_str()
    };
    document.set_title(&format!("{title} · shared with Hearth"));
    let h1 = element(document, "h1", None)?;
    h1.set_id("share-title");
    text(&h1, document, title)?;
    append(root, &h1)?;
    let meta = element(document, "p", Some("share-meta"))?;
    meta.set_id("share-expiry");
    let ends = js_sys::Date::new(&JsValue::from_f64(info.expires_at as f64 * 1000.0));
    let ends = String::from(ends.to_locale_string("default", &JsValue::UNDEFINED));
    let edited = if note.updated_ms > 0 {
        let at = js_sys::Date::new(&JsValue::from_f64(note.updated_ms as f64));
        let at = String::from(at.to_locale_date_string("default", &JsValue::UNDEFINED));
        format!(", as last edited on {at}")
    } else {
        String::new()
    };
    text(
        &meta,
        document,
        &format!("Shared read-only{edited}. This link works until {ends}."),
    )?;
    append(root, &meta)?;
    if !note.tags.is_empty() {
        let tags = element(document, "p", Some("share-tags"))?;
        text(&tags, document, &note.tags.join(" · "))?;
        append(root, &tags)?;
    }
    let body = element(document, "article", Some("rendered"))?;
    body.set_id("share-body");
    for node in hearth_markdown::parse(&note.body) {
        append(&body, &markdown(document, &node)?)?;
    }
    append(root, &body)?;
    if !note.files.is_empty() {
        let files = element(document, "section", Some("share-files"))?;
        files.set_id("share-files");
        append(root, &files)?;
        for file in &note.files {
            let shown = match file_bytes(link, file).await {
                Ok(bytes) => show_file(document, file, &bytes)?,
                Err(why) => {
                    let p = element(document, "p", Some("share-file-error"))?;
                    text(&p, document, &format!("{}: {why}", file.name))?;
                    p
                }
            };
            append(&files, &shown)?;
        }
    }
    Ok(())
}

async fn file_bytes(link: &ShareLink, file: &SharedFile) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(usize::try_from(file.size).unwrap_or(0));
    for chunk in &file.chunks {
        out.extend(chunk_bytes(link, chunk).await?);
    }
    if out.len() as u64 != file.size {
        return Err("it does not add up to its size".into());
    }
    Ok(out)
}

async fn chunk_bytes(link: &ShareLink, chunk: &ChunkRef) -> Result<Vec<u8>, String> {
    let path = Route::GetShareChunk {
        share: link.id.clone(),
        name: chunk.name,
    }
    .path();
    let stored = bytes(&path).await?;
    link.open_chunk(chunk, &stored).map_err(|e| e.to_string())
}

fn show_file(document: &Document, file: &SharedFile, bytes: &[u8]) -> Result<Element, String> {
    let parts = Array::of1(&Uint8Array::from(bytes).into());
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(&file.mime);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options)
        .map_err(|_| "the browser could not hold a file")?;
    let url = web_sys::Url::create_object_url_with_blob(&blob)
        .map_err(|_| "the browser could not hold a file")?;
    if hearth_shared::files::is_image_mime(&file.mime) {
        let figure = element(document, "figure", Some("share-image"))?;
        let img = element(document, "img", None)?;
        let _ = img.set_attribute("src", &url);
        let _ = img.set_attribute("alt", &file.name);
        append(&figure, &img)?;
        let caption = element(document, "figcaption", None)?;
        text(&caption, document, &file.name)?;
        append(&figure, &caption)?;
        Ok(figure)
    } else {
        let a = element(document, "a", Some("share-download"))?;
        let _ = a.set_attribute("href", &url);
        let _ = a.set_attribute("download", &file.name);
        text(
            &a,
            document,
            &format!(
                "{} ({})",
                file.name,
                hearth_shared::files::human_size(file.size)
            ),
        )?;
        Ok(a)
    }
}

/// One node of the note's Markdown as elements; text only as text.
fn markdown(document: &Document, node: &Node) -> Result<web_sys::Node, String> {
    let (kind, children) = match node {
        Node::Text(t) => return Ok(document.create_text_node(t).into()),
        Node::Code(t) => {
            let code = element(document, "code", None)?;
            text(&code, document, t)?;
            return Ok(code.into());
        }
        Node::Checkbox { checked, .. } => {
            let input = element(document, "input", None)?;
            let _ = input.set_attribute("type", "checkbox");
            let _ = input.set_attribute("disabled", "");
            if *checked {
                let _ = input.set_attribute("checked", "");
            }
            return Ok(input.into());
        }
        Node::SoftBreak => return Ok(document.create_text_node(" ").into()),
        Node::HardBreak => return Ok(element(document, "br", None)?.into()),
        Node::Rule => return Ok(element(document, "hr", None)?.into()),
        Node::Element { kind, children } => (kind, children),
    };
    let tag = match kind {
        Kind::Paragraph => "p",
        Kind::Heading(1) => "h2",
        Kind::Heading(2) => "h3",
        Kind::Heading(3) => "h4",
        Kind::Heading(4) => "h5",
        Kind::Heading(_) => "h6",
        Kind::Quote => "blockquote",
        Kind::CodeBlock(_) => "pre",
        Kind::List(Some(_)) => "ol",
        Kind::List(None) => "ul",
        Kind::Item => "li",
        Kind::Emphasis => "em",
        Kind::Strong => "strong",
        Kind::Strikethrough => "del",
        Kind::Link { href: Some(_), .. } => "a",
        Kind::Link { href: None, .. } | Kind::Image { .. } => "span",
        Kind::Table => "table",
        Kind::TableHead => "thead",
        Kind::TableRow => "tr",
        Kind::TableCell => "td",
        Kind::Other => "div",
    };
    let e = element(document, tag, None)?;
    match kind {
        Kind::List(Some(start)) => {
            let _ = e.set_attribute("start", &start.to_string());
        }
        Kind::Link {
            href: Some(href),
            target,
        } => {
            let _ = e.set_attribute("href", href);
            let _ = e.set_attribute("title", target);
            let _ = e.set_attribute("target", "_blank");
            let _ = e.set_attribute("rel", "noopener noreferrer nofollow");
        }
        Kind::Link { href: None, target } => {
            e.set_class_name("unsafe-link");
            let _ = e.set_attribute("title", &format!("Not opened: {target}"));
        }
        Kind::Image { src } => {
            e.set_class_name("image-ref");
            let _ = e.set_attribute("title", src);
            text(&e, document, "Image: ")?;
        }
        _ => {}
    }
    let inside = if matches!(kind, Kind::CodeBlock(_)) {
        let code = element(document, "code", None)?;
        append(&e, &code)?;
        code
    } else if matches!(kind, Kind::TableHead) {
        let row = element(document, "tr", None)?;
        append(&e, &row)?;
        row
    } else {
        e.clone()
    };
    for child in children {
        append(&inside, &markdown(document, child)?)?;
    }
    Ok(e.into())
}
