//! Notes in from other apps and out as Markdown, on the command line
//! (`hearth-device import PATH`, `hearth-device export --markdown OUT`), so
//! that a script can move a vault in and out. The formats are
//! `hearth-interchange`'s; this module reads and writes the files and
//! attaches and fetches the attached files.

use std::path::{Path, PathBuf};

use hearth_interchange::export::{Export, ExportFile, markdown_files, markdown_zip, safe_name};
use hearth_interchange::{InputFile, apply};
use hearth_migrations::new_id;

use crate::device::Device;
use crate::error::DeviceError;
use crate::platform::random16;

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    pub format: &'static str,
    /// The new notes' ids.
    pub notes: Vec<String>,
    pub attached: usize,
    /// Files that could not be attached, each with why.
    pub not_attached: Vec<String>,
    /// What the reader left out.
    pub skipped: Vec<String>,
}

/// What an export wrote.
#[derive(Debug, Clone, Default)]
pub struct ExportReport {
    pub notes: usize,
    pub files: usize,
    /// Attached files that could not be fetched, each with why.
    pub missing: Vec<String>,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> DeviceError + '_ {
    move |e| DeviceError::Io(format!("{}: {e}", path.display()))
}

/// A file, or every file under a folder with paths that start with the
/// folder's name (as a browser's folder picker gives them), for
/// `hearth_interchange::read`.
pub fn read_input(path: &Path) -> Result<Vec<InputFile>, DeviceError> {
    let meta = std::fs::metadata(path).map_err(io(path))?;
    if !meta.is_dir() {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Ok(vec![InputFile {
            path: name,
            bytes: std::fs::read(path).map_err(io(path))?,
        }]);
    }
    let base = path.parent().unwrap_or(path);
    let mut files = Vec::new();
    let mut dirs = vec![path.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let file_type = entry.file_type().map_err(io(&dir))?;
            let child = entry.path();
            if file_type.is_dir() {
                dirs.push(child);
            } else if file_type.is_file() {
                let relative = child.strip_prefix(base).unwrap_or(&child);
                files.push(InputFile {
                    path: relative.to_string_lossy().replace('\\', "/"),
                    bytes: std::fs::read(&child).map_err(io(&child))?,
                });
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

impl Device {
    /// Imports the notes of a file or folder another app wrote (the format
    /// is told from it; see `hearth_interchange::read`), saved locally in
    /// one change; `progress(done, total)` after each batch. Their
    /// attached files are sent and attached when the device is connected
    /// to a server (run `sync` after to send the notes).
    pub async fn import(
        &mut self,
        path: &Path,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<ImportReport, DeviceError> {
        let imported = hearth_interchange::read(read_input(path)?)?;
        let wanted = imported.notes.len()
            + imported
                .task_lists
                .iter()
                .map(|l| 1 + l.items.len())
                .sum::<usize>();
        let mut ids = Vec::with_capacity(wanted);
        for _ in 0..wanted {
            ids.push(new_id(random16()?));
        }
        let mut ids = ids.into_iter();
        let applied = self
            .edit(|ws, now| {
                apply(
                    ws,
                    &imported,
                    &mut || ids.next().unwrap_or_default(),
                    now,
                    progress,
                )
            })
            .await?;
        let mut report = ImportReport {
            format: imported.format.name(),
            notes: applied.note_ids.clone(),
            skipped: imported.skipped.clone(),
            ..ImportReport::default()
        };
        let scratch = tempfile_dir(self.dir())?;
        for (note, note_id) in imported.notes.iter().zip(&applied.note_ids) {
            for attachment in note
                .attachments
                .iter()
                .filter_map(|&at| imported.attachments.get(at))
            {
                // Attaching reads a file, named as the note names it.
                let file = scratch.join(safe_name(&attachment.name));
                std::fs::write(&file, &attachment.bytes).map_err(io(&file))?;
                match self.attach(note_id, &file).await {
                    Ok(_) => report.attached += 1,
                    Err(e) => report
                        .not_attached
                        .push(format!("{}: {e}", attachment.name)),
                }
                let _ = std::fs::remove_file(&file);
            }
        }
        let _ = std::fs::remove_dir(&scratch);
        Ok(report)
    }

    /// Writes the live notes, task lists and attached files as Markdown:
    /// into `out.zip` when `out` ends in `.zip`, else into the folder
    /// `out`, which must not exist or be empty.
    pub async fn export_markdown(&self, out: &Path) -> Result<ExportReport, DeviceError> {
        let zip = out
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
        let folder_in_use =
            !zip && std::fs::read_dir(out).is_ok_and(|mut entries| entries.next().is_some());
        if folder_in_use || (zip && out.exists()) {
            return Err(DeviceError::Export(format!(
                "{} already exists; name a new {}",
                out.display(),
                if zip { "file" } else { "or empty folder" }
            )));
        }
        let mut report = ExportReport::default();
        let mut files = Vec::new();
        let scratch = tempfile_dir(self.dir())?;
        for (note_id, file) in self.attached_files() {
            let path = scratch.join(&file.id);
            match self.fetch(&file.id, &path).await {
                Ok(_) => {
                    let bytes = std::fs::read(&path).map_err(io(&path))?;
                    let _ = std::fs::remove_file(&path);
                    files.push(ExportFile {
                        note_id,
                        name: file.name,
                        bytes,
                    });
                }
                Err(e) => report.missing.push(format!("{}: {e}", file.name)),
            }
        }
        let _ = std::fs::remove_dir(&scratch);
        let export = Export::of(self.workspace(), files);
        report.notes = export.notes.len();
        report.files = export.files.len();
        if zip {
            let bytes = markdown_zip(&export).map_err(|e| DeviceError::Export(e.to_string()))?;
            crate::atomic::write_atomic(out, &bytes, false).map_err(io(out))?;
        } else {
            for (relative, bytes) in markdown_files(&export) {
                let path = out.join(&relative);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(io(parent))?;
                }
                std::fs::write(&path, bytes).map_err(io(&path))?;
            }
        }
        Ok(report)
    }
}

/// A fresh folder for files on their way in or out, inside the device's
/// directory (so on the same disk, and never shared with another run).
fn tempfile_dir(dir: &Path) -> Result<PathBuf, DeviceError> {
    let name = format!("transfer-{}", new_id(random16()?));
    let path = dir.join(name);
    std::fs::create_dir(&path).map_err(io(&path))?;
    Ok(path)
}
