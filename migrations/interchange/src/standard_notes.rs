//! A Standard Notes backup: the decrypted JSON its apps write
//! (`{"items": [...]}`, each item `{uuid, content_type, content,
//! created_at, updated_at}`). Notes keep their title, text and times;
//! tags are `Tag` items whose references name notes. "Super" notes keep
//! their text as a Lexical editor state: its text is read out, paragraph
//! by paragraph. Trashed notes are left out. An encrypted backup (items'
//! content a `004:…` string) is refused with what to do instead.

use std::collections::HashMap;

use serde_json::Value;

use crate::date::iso8601_ms;
use crate::{Format, ImportError, Imported, ImportedNote};

const WHAT: &str = "Standard Notes backup";

/// The text of a Lexical editor state (a "Super" note), one line per
/// block.
fn lexical_text(state: &Value, out: &mut String) {
    if let Some(text) = state.get("text").and_then(Value::as_str) {
        out.push_str(text);
    }
    let kind = state
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if kind == "listitem" {
        let checked = state.get("checked").and_then(Value::as_bool);
        match checked {
            Some(true) => out.push_str("- [x] "),
            Some(false) => out.push_str("- [ ] "),
            None => out.push_str("- "),
        }
    }
    if let Some(children) = state.get("children").and_then(Value::as_array) {
        for child in children {
            lexical_text(child, out);
        }
    }
    if matches!(
        kind,
        "paragraph" | "heading" | "listitem" | "quote" | "code"
    ) {
        out.push('\n');
    }
}

fn text_of(content: &Value) -> String {
    let text = content
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let super_note = content.get("noteType").and_then(Value::as_str) == Some("super");
    if super_note && let Ok(state) = serde_json::from_str::<Value>(text) {
        let mut out = String::new();
        lexical_text(state.get("root").unwrap_or(&state), &mut out);
        return out.trim_end().to_owned();
    }
    text.to_owned()
}

pub fn read(bytes: &[u8]) -> Result<Imported, ImportError> {
    let backup: Value = serde_json::from_slice(bytes).map_err(|e| {
        if bytes.trim_ascii_start().starts_with(b"{") {
            ImportError::malformed(WHAT, e)
        } else {
            ImportError::UnknownFormat
        }
    })?;
    let items = backup
        .get("items")
        .and_then(Value::as_array)
        .ok_or(ImportError::UnknownFormat)?;
    let mut imported = Imported::new(Format::StandardNotes);
    let mut tags: HashMap<&str, Vec<String>> = HashMap::new();
    for item in items {
        let kind = item.get("content_type").and_then(Value::as_str);
        let content = item.get("content");
        if matches!(kind, Some("Note" | "Tag")) && content.is_some_and(Value::is_string) {
            return Err(ImportError::Encrypted);
        }
        if kind == Some("Tag")
            && let Some(content) = content
        {
            let title = content
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or_default();
            for reference in content
                .get("references")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(uuid) = reference.get("uuid").and_then(Value::as_str)
                    && !title.is_empty()
                {
                    tags.entry(uuid).or_default().push(title.to_owned());
                }
            }
        }
    }
    let mut trashed = 0;
    for item in items {
        if item.get("content_type").and_then(Value::as_str) != Some("Note") {
            continue;
        }
        let Some(content) = item.get("content") else {
            continue;
        };
        if content.get("trashed").and_then(Value::as_bool) == Some(true) {
            trashed += 1;
            continue;
        }
        let uuid = item.get("uuid").and_then(Value::as_str).unwrap_or_default();
        let time = |key: &str| item.get(key).and_then(Value::as_str).and_then(iso8601_ms);
        let mut note_tags = tags.get(uuid).cloned().unwrap_or_default();
        note_tags.sort();
        note_tags.dedup();
        imported.notes.push(ImportedNote {
            title: content
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            body: text_of(content),
            tags: note_tags,
            created_ms: time("created_at"),
            updated_ms: time("updated_at"),
            attachments: Vec::new(),
        });
    }
    if trashed > 0 {
        imported
            .skipped
            .push(format!("{trashed} note(s) in Standard Notes' trash"));
    }
    if imported.notes.is_empty() {
        return Err(ImportError::Empty(WHAT));
    }
    Ok(imported)
}
