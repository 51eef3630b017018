//! A folder (or zip) of Markdown files, as Obsidian, Logseq, Bear, iA
//! Writer and most notes apps keep or export them.
//!
//! Each `.md` file is a note titled by its file name (or its front
//! matter's `title`). Front matter `tags` (a list, or words separated by
//! commas or spaces) become tags, and a note in a sub-folder also gets the
//! folder's path as a tag, since Hearth has tags, not folders. Other front
//! matter stays at the top of the body. Wiki links (`[[Other note]]`) stay
//! as text. Every other file is an attachment of the notes that link to it
//! (`![[photo.png]]`, `![](attachments/photo.png)`, by relative path or,
//! as Obsidian resolves them, by name). Hidden folders (`.obsidian`,
//! `.trash`) and the zip's `__MACOSX` are left out.

use std::collections::HashMap;

use crate::{Attachment, Format, ImportError, Imported, ImportedNote, InputFile};

fn hidden(path: &str) -> bool {
    path.split('/')
        .any(|part| part.starts_with('.') || part == "__MACOSX")
}

fn is_markdown(path: &str) -> bool {
    let lower = path.to_lowercase();
    lower.ends_with(".md") || lower.ends_with(".markdown")
}

/// The file name of a path, and its stem.
fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn stem(path: &str) -> &str {
    let name = file_name(path);
    name.rsplit_once('.').map_or(name, |(stem, _)| stem)
}

/// Splits a note into its front matter lines (without the `---` fences)
/// and its body.
pub fn split_front_matter(text: &str) -> (Option<Vec<&str>>, &str) {
    let Some(rest) = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
    else {
        return (None, text);
    };
    let mut lines = Vec::new();
    let mut at = 0;
    for line in rest.split_inclusive('\n') {
        at += line.len();
        let bare = line.trim_end_matches(['\n', '\r']);
        if bare == "---" || bare == "..." {
            return (Some(lines), rest.get(at..).unwrap_or_default());
        }
        lines.push(bare);
    }
    (None, text)
}

/// A YAML scalar without its quotes.
fn unquote(value: &str) -> &str {
    let value = value.trim();
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(value)
}

/// The items of an inline YAML list (`[a, "b c"]`), or of a plain value
/// (`a, b` or `a b`, as Obsidian reads them).
fn inline_list(value: &str) -> Vec<String> {
    let (inner, commas_only) = match value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
        Some(inner) => (inner, true),
        None => (value, value.contains(',')),
    };
    let mut items = Vec::new();
    let mut item = String::new();
    let mut quote = None;
    for c in inner.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => item.push(c),
            (None, '"' | '\'') => quote = Some(c),
            (None, ',') => items.push(std::mem::take(&mut item)),
            (None, ' ') if !commas_only => items.push(std::mem::take(&mut item)),
            (None, c) => item.push(c),
        }
    }
    items.push(item);
    items
        .into_iter()
        .map(|i| i.trim().to_owned())
        .filter(|i| !i.is_empty())
        .collect()
}

/// The parts of front matter Hearth reads: title and tags; the other lines
/// are given back.
struct FrontMatter<'a> {
    title: Option<String>,
    tags: Vec<String>,
    other: Vec<&'a str>,
}

fn read_front_matter<'a>(lines: &[&'a str]) -> FrontMatter<'a> {
    let mut front = FrontMatter {
        title: None,
        tags: Vec::new(),
        other: Vec::new(),
    };
    let mut in_tags = false;
    for &line in lines {
        if in_tags {
            if let Some(item) = line.trim_start().strip_prefix("- ") {
                front.tags.push(unquote(item).to_owned());
                continue;
            }
            in_tags = false;
        }
        let Some((key, value)) = line.split_once(':') else {
            front.other.push(line);
            continue;
        };
        match key.trim() {
            "tags" | "tag" | "keywords" if !line.starts_with(' ') => {
                let value = value.trim();
                if value.is_empty() {
                    in_tags = true;
                } else {
                    front.tags.extend(inline_list(value));
                }
            }
            "title" if !line.starts_with(' ') => {
                front.title = Some(unquote(value).to_owned()).filter(|t| !t.is_empty());
            }
            _ => front.other.push(line),
        }
    }
    for tag in &mut front.tags {
        *tag = tag.trim_start_matches('#').to_owned();
    }
    front.tags.retain(|t| !t.is_empty());
    front
}

/// The targets of a note's links and embeds: `[[target|alias]]`,
/// `[[target#heading]]`, `[text](target)`, `![alt](target "title")`.
fn link_targets(body: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest = body;
    while let Some(open) = rest.find("[[") {
        let after = rest.get(open + 2..).unwrap_or_default();
        let Some(close) = after.find("]]") else { break };
        let inner = after.get(..close).unwrap_or_default();
        let target = inner.split(['|', '#']).next().unwrap_or_default().trim();
        if !target.is_empty() {
            targets.push(target.to_owned());
        }
        rest = after.get(close + 2..).unwrap_or_default();
    }
    let mut rest = body;
    while let Some(open) = rest.find("](") {
        let after = rest.get(open + 2..).unwrap_or_default();
        let Some(close) = after.find(')') else { break };
        let inner = after.get(..close).unwrap_or_default().trim();
        let inner = inner
            .strip_prefix('<')
            .and_then(|i| i.strip_suffix('>'))
            .unwrap_or_else(|| inner.split(' ').next().unwrap_or_default());
        if !inner.is_empty() && !inner.contains("://") {
            targets.push(percent_decode(inner));
        }
        rest = after.get(close + 1..).unwrap_or_default();
    }
    targets
}

/// `%20` and friends in a Markdown link's path.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%'
            && let Some(hex) = bytes.get(i + 1..i + 3)
            && let Ok(hex) = std::str::from_utf8(hex)
            && let Ok(value) = u8::from_str_radix(hex, 16)
        {
            out.push(value);
            i += 3;
            continue;
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Joins a link's relative path to the folder of the note holding it.
fn resolve(folder: &str, target: &str) -> String {
    let mut parts: Vec<&str> = if target.starts_with('/') {
        Vec::new()
    } else {
        folder.split('/').filter(|p| !p.is_empty()).collect()
    };
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    parts.join("/")
}

/// The folder every file is in, when there is one (a zipped vault's own
/// folder): not a tag.
fn common_root(files: &[InputFile]) -> Option<String> {
    let first = files.first()?.path.split_once('/')?.0.to_owned();
    files
        .iter()
        .all(|f| {
            f.path
                .split_once('/')
                .is_some_and(|(root, _)| root == first)
        })
        .then_some(first)
}

pub fn read(files: Vec<InputFile>) -> Result<Imported, ImportError> {
    let files: Vec<InputFile> = files.into_iter().filter(|f| !hidden(&f.path)).collect();
    let root = common_root(&files);
    let relative = |path: &str| -> String {
        match &root {
            Some(root) => path
                .strip_prefix(root.as_str())
                .and_then(|p| p.strip_prefix('/'))
                .unwrap_or(path)
                .to_owned(),
            None => path.trim_start_matches('/').to_owned(),
        }
    };
    let mut imported = Imported::new(Format::Markdown);
    let mut notes: Vec<(String, String)> = Vec::new();
    let mut by_path: HashMap<String, usize> = HashMap::new();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for file in files {
        let path = relative(&file.path);
        if is_markdown(&path) {
            let Ok(text) = String::from_utf8(file.bytes) else {
                imported
                    .skipped
                    .push(format!("{path}: not UTF-8 text, left out"));
                continue;
            };
            notes.push((path, text));
        } else {
            let at = imported.attachments.len();
            by_path.insert(path.clone(), at);
            by_name.entry(file_name(&path).to_owned()).or_insert(at);
            imported.attachments.push(Attachment {
                name: file_name(&path).to_owned(),
                mime: None,
                bytes: file.bytes,
            });
        }
    }
    if notes.is_empty() {
        return Err(ImportError::Empty("folder"));
    }
    notes.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, text) in notes {
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let (front, body) = split_front_matter(text);
        let front = read_front_matter(&front.unwrap_or_default());
        let mut note_body = String::new();
        if !front.other.is_empty() {
            note_body.push_str("---\n");
            for line in &front.other {
                note_body.push_str(line);
                note_body.push('\n');
            }
            note_body.push_str("---\n");
        }
        note_body.push_str(body);
        let folder = path.rsplit_once('/').map_or("", |(folder, _)| folder);
        let mut tags = front.tags;
        if !folder.is_empty() {
            tags.push(folder.to_owned());
        }
        let mut attachments: Vec<usize> = link_targets(&note_body)
            .iter()
            .filter_map(|target| {
                by_path
                    .get(&resolve(folder, target))
                    .or_else(|| by_path.get(&resolve("", target)))
                    .or_else(|| by_name.get(file_name(target)))
                    .copied()
            })
            .collect();
        attachments.sort_unstable();
        attachments.dedup();
        imported.notes.push(ImportedNote {
            title: front.title.unwrap_or_else(|| stem(&path).to_owned()),
            body: note_body,
            tags,
            created_ms: None,
            updated_ms: None,
            attachments,
        });
    }
    let linked: std::collections::HashSet<usize> = imported
        .notes
        .iter()
        .flat_map(|n| n.attachments.iter().copied())
        .collect();
    let unlinked = imported.attachments.len() - linked.len();
    if unlinked > 0 {
        imported
            .skipped
            .push(format!("{unlinked} file(s) no note links to were left out"));
    }
    Ok(imported)
}
