//! `hearth doctor`: reads a data directory without changing it and reports
//! what needs attention: damaged log records (and what the next start will
//! do about them), parts of logs quarantined earlier, snapshots that fail
//! their checks, compactions that can still be undone, and the token
//! index's own integrity check.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{BufReader, Read as _};
use std::path::Path;

use crate::index::INDEX_FILE;
use crate::storage::disk::record::{self, LOG_MAGIC, Stop};
use crate::storage::disk::snapshot_file::open_snapshot;
use crate::storage::disk::{LOG_FILE, QUARANTINE_DIR, SNAPSHOT_FILE, UNDO_DIR, WORKSPACES_DIR};

/// What the check found.
#[derive(Debug, Default)]
pub struct Report {
    /// One line per finding, for a person.
    pub lines: Vec<String>,
    /// Findings that need attention (damage, quarantined data).
    pub problems: usize,
    /// Workspaces looked at.
    pub workspaces: usize,
}

impl Report {
    fn note(&mut self, line: String) {
        self.lines.push(line);
    }

    fn problem(&mut self, line: String) {
        self.problems += 1;
        self.lines.push(line);
    }
}

/// Checks `data_dir`. Errors only when the directory cannot be read at all.
pub fn check(data_dir: &Path) -> std::io::Result<Report> {
    let mut report = Report::default();
    check_index(data_dir, &mut report);
    let root = data_dir.join(WORKSPACES_DIR);
    let mut dirs: Vec<_> = match fs::read_dir(&root) {
        Ok(read) => read.filter_map(Result::ok).map(|e| e.path()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    dirs.sort();
    for dir in dirs {
        report.workspaces += 1;
        check_workspace(&dir, &mut report);
    }
    Ok(report)
}

fn check_index(data_dir: &Path, report: &mut Report) {
    let path = data_dir.join(INDEX_FILE);
    if !path.exists() {
        report.note(format!("{}: no token index yet", path.display()));
        return;
    }
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let result = rusqlite::Connection::open_with_flags(&path, flags)
        .and_then(|c| c.query_row("PRAGMA integrity_check", [], |row| row.get::<_, String>(0)));
    match result {
        Ok(ok) if ok == "ok" => report.note(format!("{}: ok", path.display())),
        Ok(found) => report.problem(format!("{}: integrity check says {found}", path.display())),
        Err(err) => report.problem(format!("{}: cannot be read: {err}", path.display())),
    }
}

fn check_workspace(dir: &Path, report: &mut Report) {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut line = format!("workspace {name}:");
    let snapshot = match open_snapshot(&dir.join(SNAPSHOT_FILE)) {
        Ok(Some(s)) => {
            let _ = write!(line, " snapshot up to {} ({} bytes),", s.upto, s.len);
            Some(s.upto)
        }
        Ok(None) => None,
        Err(err) => {
            report.problem(format!("workspace {name}: the snapshot is damaged: {err}"));
            None
        }
    };
    let log_path = dir.join(LOG_FILE);
    match scan_log(&log_path) {
        Ok((scan, len)) => {
            let head = scan
                .records
                .last()
                .map_or(0, |r| r.seq)
                .max(snapshot.unwrap_or(0));
            let _ = write!(line, " {} log records, head {head}", scan.records.len());
            report.note(line);
            match scan.stop {
                Stop::End => {}
                Stop::Incomplete => report.note(format!(
                    "workspace {name}: the log ends in a torn record ({} bytes of a write that was never acknowledged); the next start cuts it off",
                    len - scan.valid_len
                )),
                Stop::Damaged => report.problem(format!(
                    "workspace {name}: the log has a damaged record at byte {}, with {} bytes after it; the next start copies them into {}/ and recovers every whole record after the damage",
                    scan.valid_len,
                    len - scan.valid_len,
                    dir.join(QUARANTINE_DIR).display()
                )),
            }
        }
        Err(err) => report.problem(format!("workspace {name}: the log cannot be read: {err}")),
    }
    if let Ok(read) = fs::read_dir(dir.join(QUARANTINE_DIR)) {
        for entry in read.filter_map(Result::ok) {
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            if entry.file_name().to_string_lossy().starts_with("torn-") {
                report.note(format!(
                    "workspace {name}: {} holds the {size} bytes of a write a crash cut short (never acknowledged)",
                    entry.path().display()
                ));
                continue;
            }
            report.problem(format!(
                "workspace {name}: {} holds {size} bytes cut off a damaged log (the records that could be read were kept; the rest is lost unless repaired by hand)",
                entry.path().display()
            ));
        }
    }
    if let Ok(read) = fs::read_dir(dir.join(UNDO_DIR)) {
        let kept = read.filter_map(Result::ok).count();
        if kept > 0 {
            report.note(format!(
                "workspace {name}: {kept} compaction(s) can be undone (`hearth restore-compaction {name}`)"
            ));
        }
    }
}

fn scan_log(path: &Path) -> std::io::Result<(record::Scan, u64)> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((record::Scan::default(), 0));
        }
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    let mut magic = [0u8; 8];
    if len < LOG_MAGIC.len() as u64 {
        return Ok((record::Scan::default(), len));
    }
    file.read_exact(&mut magic)?;
    if &magic != LOG_MAGIC {
        return Err(std::io::Error::other("not a hearth log"));
    }
    let scan = record::scan(BufReader::with_capacity(1 << 16, file))?;
    Ok((scan, len))
}
