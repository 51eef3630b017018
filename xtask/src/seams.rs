//! The storage seam, checked: request handlers see the storage traits
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

/// Fails if a file under `server/src/handlers` names a storage engine.
pub fn handlers_see_only_the_traits(root: &Path) -> Result<()> {
    let dir = root.join("server/src/handlers");
    let mut found = Vec::new();
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let name = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string();
            found.extend(violations(&name, &text));
            files += 1;
        }
    }
    if files == 0 {
        bail!("no handlers found in {}", dir.display());
    }
    if !found.is_empty() {
        bail!(
            "handlers must see only the storage traits; these lines name an engine:\n{}",
            found.join("\n")
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
    fn todays_handlers_pass() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        handlers_see_only_the_traits(&root).unwrap();
    }
}
