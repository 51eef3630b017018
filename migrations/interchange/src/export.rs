//! A workspace as files another app opens: one Markdown file per note
//! (named by its title; tags in YAML front matter, the note's own front
//! matter kept), each task list as a Markdown checklist under
//! `Task lists/`, and attached files under `attachments/`, linked from
//! their notes. Obsidian, Logseq, Joplin and most editors open the folder
//! or zip as it is, and [`crate::markdown`] reads it back.

use std::collections::HashSet;
use std::io::Write;

use hearth_migrations::{NoteFilter, Workspace};
use serde::{Deserialize, Serialize};

use crate::ImportedTaskList;
use crate::markdown::split_front_matter;

/// An attached file's bytes, which the host fetched, for the note holding
/// it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportFile {
    pub note_id: String,
    pub name: String,
    /// Not in the JSON form: hosts move bytes apart from it.
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

/// A note as exported.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportNote {
    pub id: String,
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
}

/// What an export holds: the live notes (oldest first), the live task
/// lists, and the attached files the host could fetch.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Export {
    pub notes: Vec<ExportNote>,
    pub task_lists: Vec<ImportedTaskList>,
    pub files: Vec<ExportFile>,
}

impl Export {
    /// The workspace's live notes and task lists, and `files`.
    pub fn of(workspace: &Workspace, files: Vec<ExportFile>) -> Self {
        let mut notes = workspace.list_notes(NoteFilter::Live);
        notes.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Self {
            notes: notes
                .into_iter()
                .map(|n| ExportNote {
                    id: n.id,
                    title: n.title,
                    body: n.body,
                    tags: n.tags,
                })
                .collect(),
            task_lists: workspace
                .list_task_lists()
                .into_iter()
                .filter(|l| l.deleted_at.is_none())
                .map(|l| ImportedTaskList {
                    title: l.title,
                    items: l.items.into_iter().map(|t| (t.text, t.done)).collect(),
                })
                .collect(),
            files,
        }
    }
}

/// A file name from a title: no path separators or characters Windows
/// refuses, no leading dot, at most 100 characters.
pub fn safe_name(title: &str) -> String {
    let cleaned: String = title
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '-',
            c if c.is_control() => ' ',
            c => c,
        })
        .take(100)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    if cleaned.is_empty() {
        "Untitled".to_owned()
    } else {
        cleaned.to_owned()
    }
}

/// Picks `stem.ext`, or `stem (2).ext` and so on, unused so far (ignoring
/// case, as macOS and Windows do).
fn unique(used: &mut HashSet<String>, folder: &str, stem: &str, ext: &str) -> String {
    let mut n = 1;
    loop {
        let name = if n == 1 {
            format!("{folder}{stem}{ext}")
        } else {
            format!("{folder}{stem} ({n}){ext}")
        };
        if used.insert(name.to_lowercase()) {
            return name;
        }
        n += 1;
    }
}

/// A YAML scalar, quoted when it must be.
fn yaml(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '/' | '.' | ' '))
        && !value.starts_with([' ', '-'])
        && !value.ends_with(' ');
    if plain {
        value.to_owned()
    } else {
        format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// One note as a Markdown file's text.
pub fn note_markdown(tags: &[String], body: &str, links: &[String]) -> String {
    let (front, rest) = split_front_matter(body);
    let mut out = String::new();
    if !tags.is_empty() || front.is_some() {
        out.push_str("---\n");
        if !tags.is_empty() {
            out.push_str("tags:\n");
            for tag in tags {
                out.push_str(&format!("  - {}\n", yaml(tag)));
            }
        }
        for line in front.unwrap_or_default() {
            out.push_str(line);
            out.push('\n');
        }
        out.push_str("---\n");
    }
    out.push_str(rest);
    for link in links {
        if !out.ends_with('\n') && !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!(
            "\n![{link}](attachments/{})\n",
            link.replace(' ', "%20")
        ));
    }
    out
}

/// The files of the export, as (path, bytes), in a stable order.
pub fn markdown_files(export: &Export) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut used = HashSet::new();
    // Attachments first, so that notes link to the names they got.
    let mut attachment_names: Vec<(&str, String)> = Vec::new();
    for file in &export.files {
        let (stem, ext) = match file.name.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() => (safe_name(stem), format!(".{ext}")),
            _ => (safe_name(&file.name), String::new()),
        };
        let path = unique(&mut used, "attachments/", &stem, &ext);
        let name = path.trim_start_matches("attachments/").to_owned();
        attachment_names.push((file.note_id.as_str(), name));
        out.push((path, file.bytes.clone()));
    }
    for note in &export.notes {
        let path = unique(&mut used, "", &safe_name(&note.title), ".md");
        let links: Vec<String> = attachment_names
            .iter()
            .filter(|(id, name)| {
                *id == note.id
                    && !note.body.contains(name.as_str())
                    && !note.body.contains(&name.replace(' ', "%20"))
            })
            .map(|(_, name)| name.clone())
            .collect();
        let text = note_markdown(&note.tags, &note.body, &links);
        out.push((path, text.into_bytes()));
    }
    for list in &export.task_lists {
        let path = unique(&mut used, "Task lists/", &safe_name(&list.title), ".md");
        let mut text = String::new();
        for (task, done) in &list.items {
            let mark = if *done { "x" } else { " " };
            text.push_str(&format!("- [{mark}] {}\n", task.replace('\n', " ")));
        }
        out.push((path, text.into_bytes()));
    }
    out
}

/// The export as one zip file (deflated).
pub fn markdown_zip(export: &Export) -> std::io::Result<Vec<u8>> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (path, bytes) in markdown_files(export) {
        zip.start_file(path, options)
            .map_err(std::io::Error::other)?;
        zip.write_all(&bytes)?;
    }
    Ok(zip.finish().map_err(std::io::Error::other)?.into_inner())
}
