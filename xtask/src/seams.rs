//! The structure, checked. The storage seam: request handlers (and the
//! rest of the code above storage) see the storage traits
//! (`Index`, `ChunkStore`, the log traits, `Heads`) and never an engine
//! (SQLite, files, a disk module), so a second backend touches no handler.

use std::path::Path;

use anyhow::{Context as _, Result, bail};

/// Words a handler must not contain, each with what it would mean.
const FORBIDDEN: &[(&str, &str)] = &[
    ("rusqlite", "the SQLite engine"),
    ("Connection", "a database connection"),
    ("queries::", "the SQLite statements"),
    ("index::sqlite", "the SQLite index backend"),
    ("storage::disk", "the disk backend"),
    ("DiskStore", "the disk backend"),
    ("DiskLog", "the disk backend"),
    ("DiskChunks", "the disk backend"),
    ("std::fs", "files"),
    ("statvfs", "the file system's free space"),
    ("ErrorKind", "operating-system errors"),
    ("tokio_postgres", "the PostgreSQL driver"),
    ("deadpool", "the PostgreSQL pool"),
    ("crate::pg", "the PostgreSQL module"),
    ("object_store", "the object store client"),
    ("storage::cluster", "the cluster backend"),
    ("PgIndex", "the PostgreSQL index backend"),
    ("ClusterStore", "the cluster backend"),
];

/// The lines of `text` (a file named `name`) that name an engine.
pub fn violations(name: &str, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        for (word, what) in FORBIDDEN {
            if code.contains(word) {
                found.push(format!("{name}:{}: names {what} (`{word}`)", n + 1));
            }
        }
    }
    found
}

/// The server's code above the storage layer: it sees the traits only.
const ABOVE_STORAGE: &[&str] = &[
    "server/src/handlers",
    "server/src/workspaces",
    "server/src/heads.rs",
    "server/src/auth.rs",
    "server/src/router.rs",
    "server/src/setup_code.rs",
];

/// Fails if a file above the storage layer (request handlers, the
/// workspace registry and writer, the announcer, token checks) names a
/// storage engine. Tests apart: they may build a backend.
pub fn handlers_see_only_the_traits(root: &Path) -> Result<()> {
    let mut files = Vec::new();
    for place in ABOVE_STORAGE {
        let path = root.join(place);
        if path.is_dir() {
            rust_files(&path, &mut files)?;
        } else {
            files.push(path);
        }
    }
    let mut found = Vec::new();
    let mut read = 0;
    for path in files {
        let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
        if is_test_file(&rel) {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        found.extend(violations(&rel.display().to_string(), &text));
        read += 1;
    }
    if read == 0 {
        bail!("none of {ABOVE_STORAGE:?} found under {}", root.display());
    }
    if !found.is_empty() {
        bail!(
            "code above the storage layer must see only the storage traits; these lines name an engine:\n{}",
            found.join("\n")
        );
    }
    Ok(())
}

/// The most lines a source file may have (tests apart): past it, a file
/// holds more than one concept and is split along its seams.
pub const MAX_SOURCE_LINES: usize = 600;

/// Whether `path` (relative to the root) is test code: a `tests/`
/// directory, a `tests.rs` module, or a `*_tests.rs` file.
fn is_test_file(path: &Path) -> bool {
    path.components().any(|c| c.as_os_str() == "tests")
        || path.file_name().is_some_and(|n| {
            let n = n.to_string_lossy();
            n == "tests.rs" || n.ends_with("_tests.rs")
        })
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// The crates' source folders this check reads.
const SOURCE_DIRS: &[&str] = &[
    "shared/src",
    "migrations/src",
    "server/src",
    "device/src",
    "pwa/src",
    "pwa/storage/src",
    "pwa/markdown/src",
    "sw/src",
    "xtask/src",
];

/// Fails if a non-test source file is longer than [`MAX_SOURCE_LINES`].
pub fn no_source_file_too_long(root: &Path) -> Result<()> {
    let mut files = Vec::new();
    for dir in SOURCE_DIRS {
        rust_files(&root.join(dir), &mut files)?;
    }
    let mut long = Vec::new();
    for path in files {
        let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
        if is_test_file(&rel) {
            continue;
        }
        let lines = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?
            .lines()
            .count();
        if lines > MAX_SOURCE_LINES {
            long.push(format!("{}: {lines} lines", rel.display()));
        }
    }
    if !long.is_empty() {
        bail!(
            "source files over {MAX_SOURCE_LINES} lines hold more than one concept; split them along their seams:\n{}",
            long.join("\n")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handler_that_names_an_engine_is_caught_and_comments_are_not() {
        let text = "use crate::index::Index;\n// no std::fs here\nlet c = rusqlite::Connection::open(p);\n";
        let found = violations("h.rs", text);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("h.rs:3: names the SQLite engine"));
    }

    #[test]
    fn test_files_are_told_apart() {
        assert!(is_test_file(Path::new("server/src/storage/disk/tests.rs")));
        assert!(is_test_file(Path::new("server/src/storage/model_tests.rs")));
        assert!(is_test_file(Path::new("shared/tests/engine.rs")));
        assert!(!is_test_file(Path::new("server/src/storage/disk/mod.rs")));
    }

    #[test]
    fn todays_sources_are_short_enough() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        no_source_file_too_long(&root).unwrap();
    }

    #[test]
    fn todays_handlers_pass() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        handlers_see_only_the_traits(&root).unwrap();
    }
}
