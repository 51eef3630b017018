//! Joplin's exports: JEX (a tar archive) and RAW (a folder), both one
//! Markdown file per item (`<id>.md`), the item's text followed by its
//! properties as `key: value` lines, and attached files under
//! `resources/`.
//!
//! Items by `type_`: 1 note (first line its title, then its body), 2
//! notebook, 4 resource (an attached file), 5 tag, 6 a note's tag. A
//! note's notebook path becomes a tag (`Work/Projects`), as a Markdown
//! folder does. A to-do (`is_todo: 1`) starts with a checklist line of its
//! title, ticked when it is done. Links to resources (`:/<id>`) are
//! rewritten to `attachments/<file name>`, where the export puts them.

use std::collections::HashMap;

use crate::date::iso8601_ms;
use crate::{Attachment, Format, ImportError, Imported, ImportedNote, InputFile};

const WHAT: &str = "Joplin export";

/// One item: its text and its properties.
struct Item<'a> {
    text: &'a str,
    props: HashMap<&'a str, &'a str>,
}

fn is_prop_line(line: &str) -> Option<(&str, &str)> {
    let (key, value) = line.split_once(':')?;
    (!key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        .then(|| (key, value.strip_prefix(' ').unwrap_or(value)))
}

/// Splits an item file into its text and the properties after it.
fn parse_item(text: &str) -> Option<Item<'_>> {
    let lines: Vec<&str> = text.lines().collect();
    let mut start = lines.len();
    while start > 0 && lines.get(start - 1).and_then(|l| is_prop_line(l)).is_some() {
        start -= 1;
    }
    let props: HashMap<&str, &str> = lines
        .get(start..)
        .unwrap_or_default()
        .iter()
        .filter_map(|l| is_prop_line(l))
        .collect();
    if !props.contains_key("type_") || !props.contains_key("id") {
        return None;
    }
    // The text is everything before the properties' line.
    let offset: usize = lines
        .get(..start)
        .unwrap_or_default()
        .iter()
        .map(|l| l.len() + 1)
        .sum();
    let text = text.get(..offset.min(text.len())).unwrap_or_default();
    Some(Item {
        text: text.trim_end(),
        props,
    })
}

fn kind<'a>(item: &Item<'a>) -> &'a str {
    item.props.get("type_").copied().unwrap_or_default()
}

fn id<'a>(item: &Item<'a>) -> &'a str {
    item.props.get("id").copied().unwrap_or_default()
}

/// A notebook's path of titles (`Travel/Portugal`).
fn folder_path<'a>(folders: &HashMap<&'a str, (&'a str, &'a str)>, mut at: &'a str) -> String {
    let mut names = Vec::new();
    while let Some((name, parent)) = folders.get(at) {
        if names.len() > 32 {
            break;
        }
        names.push(name.trim());
        at = parent;
    }
    names.reverse();
    names.join("/")
}

fn is_id(stem: &str) -> bool {
    stem.len() == 32 && stem.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether a folder's files are a Joplin RAW export.
pub fn is_raw(files: &[InputFile]) -> bool {
    files.iter().any(|f| {
        let name = f.path.rsplit('/').next().unwrap_or_default();
        name.strip_suffix(".md").is_some_and(is_id)
            && std::str::from_utf8(&f.bytes)
                .ok()
                .and_then(parse_item)
                .is_some()
    })
}

/// A note's title and body: the first line, then what follows the blank
/// line after it.
fn title_and_body(text: &str) -> (String, String) {
    match text.split_once('\n') {
        Some((title, body)) => (
            title.trim().to_owned(),
            body.strip_prefix('\n').unwrap_or(body).to_owned(),
        ),
        None => (text.trim().to_owned(), String::new()),
    }
}

pub fn read(files: Vec<InputFile>) -> Result<Imported, ImportError> {
    let mut imported = Imported::new(Format::Joplin);
    let mut blobs: HashMap<String, Vec<u8>> = HashMap::new();
    let mut texts: Vec<String> = Vec::new();
    for file in files {
        let path = file.path.trim_start_matches("./");
        let name = path.rsplit('/').next().unwrap_or_default();
        let stem = name.split('.').next().unwrap_or_default();
        if path.contains("resources/") {
            if is_id(stem) {
                blobs.insert(stem.to_owned(), file.bytes);
            }
        } else if name.ends_with(".md") && is_id(stem) {
            let text = String::from_utf8(file.bytes)
                .map_err(|_| ImportError::malformed(WHAT, format!("{name} is not UTF-8")))?;
            texts.push(text);
        }
    }
    let items: Vec<Item<'_>> = texts.iter().filter_map(|t| parse_item(t)).collect();
    if items.is_empty() {
        return Err(ImportError::Empty(WHAT));
    }

    // Notebooks: their titles and parents, for the path.
    let folders: HashMap<&str, (&str, &str)> = items
        .iter()
        .filter(|i| kind(i) == "2")
        .map(|i| {
            let parent = i.props.get("parent_id").copied().unwrap_or_default();
            (id(i), (i.text.lines().next().unwrap_or_default(), parent))
        })
        .collect();
    let tag_names: HashMap<&str, &str> = items
        .iter()
        .filter(|i| kind(i) == "5")
        .map(|i| (id(i), i.text.lines().next().unwrap_or_default().trim()))
        .collect();
    let mut note_tags: HashMap<&str, Vec<String>> = HashMap::new();
    for link in items.iter().filter(|i| kind(i) == "6") {
        if let (Some(note), Some(tag)) = (link.props.get("note_id"), link.props.get("tag_id"))
            && let Some(name) = tag_names.get(tag)
        {
            note_tags.entry(note).or_default().push((*name).to_owned());
        }
    }
    // Resources: attachments, by id.
    let mut resources: HashMap<&str, usize> = HashMap::new();
    for resource in items.iter().filter(|i| kind(i) == "4") {
        let Some(bytes) = blobs.remove(id(resource)) else {
            imported.skipped.push(format!(
                "the file {} is missing from the export",
                resource.text.lines().next().unwrap_or_default()
            ));
            continue;
        };
        let title = resource.text.lines().next().unwrap_or_default().trim();
        let file_name = resource
            .props
            .get("filename")
            .copied()
            .filter(|f| !f.is_empty())
            .unwrap_or(title);
        let name = if file_name.is_empty() {
            format!(
                "{}.{}",
                id(resource),
                resource
                    .props
                    .get("file_extension")
                    .copied()
                    .unwrap_or("bin")
            )
        } else {
            file_name.to_owned()
        };
        resources.insert(id(resource), imported.attachments.len());
        imported.attachments.push(Attachment {
            name,
            mime: resource
                .props
                .get("mime")
                .map(|m| (*m).to_owned())
                .filter(|m| !m.is_empty()),
            bytes,
        });
    }
    let mut notes: Vec<&Item<'_>> = items.iter().filter(|i| kind(i) == "1").collect();
    notes.sort_by_key(|i| i.props.get("created_time").copied().unwrap_or_default());
    let mut conflicts = 0;
    for item in notes {
        if item.props.get("is_conflict") == Some(&"1") {
            conflicts += 1;
            continue;
        }
        let (title, mut body) = title_and_body(item.text);
        let mut attachments = Vec::new();
        for (resource, &at) in &resources {
            let link = format!(":/{resource}");
            if body.contains(&link) {
                if let Some(file) = imported.attachments.get(at) {
                    body = body.replace(&link, &format!("attachments/{}", file.name));
                }
                attachments.push(at);
            }
        }
        attachments.sort_unstable();
        if item.props.get("is_todo") == Some(&"1") {
            let done = item
                .props
                .get("todo_completed")
                .is_some_and(|t| !t.is_empty() && *t != "0");
            let mark = if done { "x" } else { " " };
            body = format!("- [{mark}] {title}\n\n{body}");
        }
        let mut tags = note_tags.remove(id(item)).unwrap_or_default();
        if let Some(parent) = item.props.get("parent_id") {
            let path = folder_path(&folders, parent);
            if !path.is_empty() {
                tags.push(path);
            }
        }
        tags.sort();
        tags.dedup();
        let time = |key: &str| item.props.get(key).and_then(|t| iso8601_ms(t));
        imported.notes.push(ImportedNote {
            title,
            body: body.trim_end().to_owned(),
            tags,
            created_ms: time("user_created_time").or_else(|| time("created_time")),
            updated_ms: time("user_updated_time").or_else(|| time("updated_time")),
            attachments,
        });
    }
    if conflicts > 0 {
        imported
            .skipped
            .push(format!("{conflicts} conflicting copy(ies) of notes"));
    }
    if imported.notes.is_empty() {
        return Err(ImportError::Empty(WHAT));
    }
    Ok(imported)
}
