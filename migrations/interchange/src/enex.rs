//! Evernote's export, `.enex`: XML with one `<note>` per note (title,
//! content, created, updated, tags, resources). The content is ENML, an
//! XHTML dialect, turned into Markdown here: blocks become lines, lists
//! `- ` and `1. `, check boxes (`<en-todo>`) Markdown checklists, links and
//! emphasis their Markdown, tables rows of cells, and `<en-media>` a link
//! to the attachment whose bytes have its MD5 hash (`attachments/<name>`,
//! where the export puts them).

use std::collections::HashMap;

use base64::Engine as _;
use md5::{Digest, Md5};
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::date::enex_ms;
use crate::{Attachment, Format, ImportError, Imported, ImportedNote};

const WHAT: &str = "Evernote export (.enex)";

fn bad(detail: impl std::fmt::Display) -> ImportError {
    ImportError::malformed(WHAT, detail)
}

/// A note as read from the XML, before its content is converted.
#[derive(Default)]
struct RawNote {
    title: String,
    content: String,
    created: Option<i64>,
    updated: Option<i64>,
    tags: Vec<String>,
    /// (MD5 hex of the bytes, attachment position).
    resources: Vec<(String, usize)>,
}

/// A resource being read.
#[derive(Default)]
struct RawResource {
    data: String,
    mime: Option<String>,
    file_name: Option<String>,
}

fn attribute(e: &BytesStart<'_>, name: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .map(|a| String::from_utf8_lossy(&a.value).into_owned())
}

/// The character an entity stands for, for the entities ENML uses.
fn entity(name: &str) -> Option<String> {
    let text = match name {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        "nbsp" => " ",
        "ndash" => "–",
        "mdash" => "—",
        "hellip" => "…",
        "lsquo" => "‘",
        "rsquo" => "’",
        "ldquo" => "“",
        "rdquo" => "”",
        "copy" => "©",
        "euro" => "€",
        "bull" => "•",
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            return char::from_u32(code).map(String::from);
        }
    };
    Some(text.to_owned())
}

pub fn read(bytes: &[u8]) -> Result<Imported, ImportError> {
    let text = std::str::from_utf8(bytes).map_err(|_| bad("it is not UTF-8"))?;
    if !text.contains("<en-export") {
        return Err(ImportError::UnknownFormat);
    }
    let mut reader = Reader::from_str(text);
    let mut imported = Imported::new(Format::Evernote);
    let mut note: Option<RawNote> = None;
    let mut resource: Option<RawResource> = None;
    // The element whose text is being read.
    let mut field: Vec<u8> = Vec::new();
    loop {
        match reader.read_event().map_err(bad)? {
            Event::Start(e) => {
                let name = e.name().as_ref().to_vec();
                match name.as_slice() {
                    b"note" => note = Some(RawNote::default()),
                    b"resource" => resource = Some(RawResource::default()),
                    _ => {}
                }
                field = name;
            }
            Event::End(e) => {
                match e.name().as_ref() {
                    b"resource" => {
                        if let (Some(res), Some(note)) = (resource.take(), note.as_mut()) {
                            let cleaned: String =
                                res.data.chars().filter(|c| !c.is_whitespace()).collect();
                            let data = base64::engine::general_purpose::STANDARD
                                .decode(cleaned)
                                .map_err(|e| bad(format!("an attachment is not base64: {e}")))?;
                            let hash: String = Md5::digest(&data)
                                .iter()
                                .map(|b| format!("{b:02x}"))
                                .collect();
                            let at = imported.attachments.len();
                            let name = res.file_name.filter(|n| !n.trim().is_empty());
                            imported.attachments.push(Attachment {
                                name: name.unwrap_or_else(|| format!("attachment-{}", at + 1)),
                                mime: res.mime,
                                bytes: data,
                            });
                            note.resources.push((hash, at));
                        }
                    }
                    b"note" => {
                        if let Some(raw) = note.take() {
                            imported.notes.push(convert(raw, &imported.attachments)?);
                        }
                    }
                    _ => {}
                }
                field.clear();
            }
            Event::Text(t) => {
                let value = t.decode().map_err(bad)?;
                take_text(&field, &value, note.as_mut(), resource.as_mut());
            }
            Event::GeneralRef(r) => {
                let name = r.decode().map_err(bad)?;
                let value = entity(&name).unwrap_or_else(|| format!("&{name};"));
                take_text(&field, &value, note.as_mut(), resource.as_mut());
            }
            Event::CData(c) => {
                let value = c.decode().map_err(bad)?;
                take_text(&field, &value, note.as_mut(), resource.as_mut());
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if note.is_some() {
        return Err(bad("it ends inside a note"));
    }
    if imported.notes.is_empty() {
        return Err(ImportError::Empty(WHAT));
    }
    Ok(imported)
}

/// Text inside an element of a note or resource.
fn take_text(
    field: &[u8],
    value: &str,
    note: Option<&mut RawNote>,
    resource: Option<&mut RawResource>,
) {
    if let Some(resource) = resource {
        match field {
            b"data" => resource.data.push_str(value),
            b"mime" => resource.mime = Some(value.trim().to_owned()),
            b"file-name" => {
                let name = resource.file_name.get_or_insert_with(String::new);
                name.push_str(value);
            }
            _ => {}
        }
        return;
    }
    let Some(note) = note else { return };
    match field {
        b"title" => note.title.push_str(value),
        b"content" => note.content.push_str(value),
        b"created" => note.created = enex_ms(value),
        b"updated" => note.updated = enex_ms(value),
        b"tag" => note.tags.push(value.trim().to_owned()),
        _ => {}
    }
}

fn convert(raw: RawNote, attachments: &[Attachment]) -> Result<ImportedNote, ImportError> {
    let by_hash: HashMap<&str, usize> = raw
        .resources
        .iter()
        .map(|(hash, at)| (hash.as_str(), *at))
        .collect();
    let body = enml_to_markdown(raw.content.trim(), &|hash| {
        let at = by_hash.get(hash)?;
        attachments.get(*at).map(|a| a.name.clone())
    })?;
    let mut tags = raw.tags;
    tags.retain(|t| !t.is_empty());
    Ok(ImportedNote {
        title: raw.title.trim().to_owned(),
        body,
        tags,
        created_ms: raw.created,
        updated_ms: raw.updated,
        attachments: raw.resources.iter().map(|(_, at)| *at).collect(),
    })
}

/// ENML as Markdown. `media` names the attachment with an MD5 hash.
pub fn enml_to_markdown(
    enml: &str,
    media: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ImportError> {
    let mut reader = Reader::from_str(enml);
    let mut out = String::new();
    // Open lists: `None` for bullets, `Some(n)` for the next number.
    let mut lists: Vec<Option<u32>> = Vec::new();
    let mut links: Vec<String> = Vec::new();
    let mut in_note = false;
    // Ends the current line, unless it holds only a list item's marker
    // (`<li><div>text</div></li>`).
    let line_break = |out: &mut String| {
        let line = out.rsplit('\n').next().unwrap_or_default().trim_start();
        let marker = line == "- "
            || line
                .strip_suffix(". ")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if marker {
            return;
        }
        let trimmed = out.trim_end_matches(' ').len();
        out.truncate(trimmed);
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
    };
    loop {
        let event = reader
            .read_event()
            .map_err(|e| bad(format!("a note's content: {e}")))?;
        let (start, empty) = match &event {
            Event::Start(e) => (Some(e.clone()), false),
            Event::Empty(e) => (Some(e.clone()), true),
            _ => (None, false),
        };
        if let Some(e) = start {
            let name = e.name().as_ref().to_ascii_lowercase();
            match name.as_slice() {
                b"en-note" => in_note = true,
                b"div" | b"p" | b"tr" | b"blockquote" | b"pre" => line_break(&mut out),
                b"br" => out.push('\n'),
                b"hr" => {
                    line_break(&mut out);
                    out.push_str("---\n");
                }
                b"h1" | b"h2" | b"h3" | b"h4" | b"h5" | b"h6" => {
                    line_break(&mut out);
                    let level = usize::from(name.get(1).copied().unwrap_or(b'1') - b'0');
                    out.push_str(&"#".repeat(level.clamp(1, 6)));
                    out.push(' ');
                }
                b"ul" if !empty => lists.push(None),
                b"ol" if !empty => lists.push(Some(1)),
                b"li" => {
                    line_break(&mut out);
                    out.push_str(&"  ".repeat(lists.len().saturating_sub(1)));
                    match lists.last_mut() {
                        Some(Some(n)) => {
                            out.push_str(&format!("{n}. "));
                            *n += 1;
                        }
                        _ => out.push_str("- "),
                    }
                }
                b"td" | b"th" => out.push_str("| "),
                b"b" | b"strong" if !empty => out.push_str("**"),
                b"i" | b"em" if !empty => out.push('*'),
                b"code" if !empty => out.push('`'),
                b"a" if !empty => {
                    links.push(attribute(&e, b"href").unwrap_or_default());
                    out.push('[');
                }
                b"en-todo" => {
                    let checked = attribute(&e, b"checked").is_some_and(|c| c == "true");
                    // A box inside a list item or at a line's start.
                    if !out.ends_with("- ") {
                        line_break(&mut out);
                        out.push_str("- ");
                    }
                    out.push_str(if checked { "[x] " } else { "[ ] " });
                }
                b"en-media" => {
                    let hash = attribute(&e, b"hash").unwrap_or_default();
                    match media(&hash) {
                        Some(name) => out.push_str(&format!(
                            "![{name}](attachments/{})",
                            name.replace(' ', "%20")
                        )),
                        None => out.push_str("(an attachment missing from the export)"),
                    }
                }
                _ => {}
            }
            continue;
        }
        match event {
            Event::End(e) => match e.name().as_ref().to_ascii_lowercase().as_slice() {
                b"div" | b"p" | b"h1" | b"h2" | b"h3" | b"h4" | b"h5" | b"h6" | b"tr"
                | b"blockquote" | b"pre" | b"li" => line_break(&mut out),
                b"ul" | b"ol" => {
                    lists.pop();
                    line_break(&mut out);
                }
                b"td" | b"th" => out.push(' '),
                b"b" | b"strong" => out.push_str("**"),
                b"i" | b"em" => out.push('*'),
                b"code" => out.push('`'),
                b"a" => {
                    let href = links.pop().unwrap_or_default();
                    out.push_str(&format!("]({href})"));
                }
                b"en-note" => in_note = false,
                _ => {}
            },
            Event::Text(t) if in_note => {
                let text = t.decode().map_err(bad)?;
                // Line breaks in the source are layout, not content.
                out.push_str(&text.replace(['\n', '\r'], " "));
            }
            Event::GeneralRef(r) if in_note => {
                let name = r.decode().map_err(bad)?;
                out.push_str(&entity(&name).unwrap_or_else(|| format!("&{name};")));
            }
            Event::CData(c) if in_note => out.push_str(&c.decode().map_err(bad)?),
            Event::Eof => break,
            _ => {}
        }
    }
    // At most one blank line in a row.
    let mut tidy = String::with_capacity(out.len());
    let mut blank = 0;
    for line in out.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        tidy.push_str(line);
        tidy.push('\n');
    }
    Ok(tidy.trim().to_owned())
}
