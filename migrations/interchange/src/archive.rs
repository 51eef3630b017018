//! The entries of a zip or tar archive, read whole into memory with caps,
//! so that a hostile archive (a zip bomb, a million tiny entries) is
//! refused rather than exhausting a phone's memory.

use std::io::Read;

use crate::{ImportError, InputFile};

/// The most an archive may unpack to, in all.
pub const MAX_TOTAL_BYTES: u64 = 1 << 30;
/// The most entries an archive may hold.
pub const MAX_ENTRIES: usize = 200_000;

fn too_large(what: &'static str, cap: u64) -> ImportError {
    ImportError::TooLarge {
        what,
        limit: match what {
            "entries" => format!("{MAX_ENTRIES} files"),
            _ => format!("{} MiB unpacked", cap >> 20),
        },
    }
}

/// The files of a zip archive (folders left out), with their paths.
pub fn zip_entries(bytes: &[u8]) -> Result<Vec<InputFile>, ImportError> {
    zip_entries_within(bytes, MAX_TOTAL_BYTES)
}

/// [`zip_entries`], refusing an archive that unpacks to more than `cap`.
pub(crate) fn zip_entries_within(bytes: &[u8], cap: u64) -> Result<Vec<InputFile>, ImportError> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| ImportError::malformed("zip file", e))?;
    if archive.len() > MAX_ENTRIES {
        return Err(too_large("entries", cap));
    }
    let mut files = Vec::new();
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let entry = archive
            .by_index(i)
            .map_err(|e| ImportError::malformed("zip file", e))?;
        if entry.is_dir() {
            continue;
        }
        let path = entry
            .name()
            .map_err(|e| ImportError::malformed("zip file", e))?
            .replace('\\', "/");
        // Read at most what is left of the budget, plus one byte to tell.
        let left = cap.saturating_sub(total);
        let mut data = Vec::new();
        entry
            .take(left + 1)
            .read_to_end(&mut data)
            .map_err(|e| ImportError::malformed("zip file", e))?;
        total += data.len() as u64;
        if total > cap {
            return Err(too_large("bytes", cap));
        }
        files.push(InputFile { path, bytes: data });
    }
    Ok(files)
}

/// Reads an octal field of a tar header.
fn octal(field: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(field).ok()?;
    let digits = text.trim_matches(|c: char| c == '\0' || c == ' ');
    if digits.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(digits, 8).ok()
}

/// A NUL-terminated name field of a tar header.
fn name_field(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(field.get(..end).unwrap_or_default()).into_owned()
}

/// The regular files of a tar archive (ustar, as Joplin's JEX writes it;
/// GNU long names and pax headers are read for their names).
pub fn tar_entries(bytes: &[u8]) -> Result<Vec<InputFile>, ImportError> {
    const BLOCK: usize = 512;
    let bad = |detail: &str| ImportError::malformed("Joplin export (.jex)", detail);
    let mut files = Vec::new();
    let mut at = 0usize;
    let mut long_name: Option<String> = None;
    let mut total = 0u64;
    loop {
        let Some(header) = bytes.get(at..at + BLOCK) else {
            // Archives end with zero blocks; a missing end is tolerated
            // only where a header would start.
            if at >= bytes.len() {
                break;
            }
            return Err(bad("it ends inside a header"));
        };
        if header.iter().all(|&b| b == 0) {
            break;
        }
        let size = octal(header.get(124..136).unwrap_or_default())
            .ok_or_else(|| bad("a size is not a number"))?;
        let kind = header.get(156).copied().unwrap_or(b'0');
        let mut name = name_field(header.get(..100).unwrap_or_default());
        let prefix = name_field(header.get(345..500).unwrap_or_default());
        if header.get(257..262) == Some(b"ustar") && !prefix.is_empty() {
            name = format!("{prefix}/{name}");
        }
        let start = at + BLOCK;
        let len = usize::try_from(size).map_err(|_| too_large("bytes", MAX_TOTAL_BYTES))?;
        let data = bytes
            .get(start..start.saturating_add(len))
            .ok_or_else(|| bad("a file is cut short"))?;
        at = start + len.div_ceil(BLOCK) * BLOCK;
        match kind {
            b'L' => long_name = Some(name_field(data)),
            b'x' => {
                let text = String::from_utf8_lossy(data);
                long_name = text
                    .lines()
                    .find_map(|l| l.split_once(" path=").map(|(_, p)| p.to_owned()));
            }
            b'0' | 0 => {
                total += size;
                if total > MAX_TOTAL_BYTES {
                    return Err(too_large("bytes", MAX_TOTAL_BYTES));
                }
                if files.len() >= MAX_ENTRIES {
                    return Err(too_large("entries", MAX_TOTAL_BYTES));
                }
                files.push(InputFile {
                    path: long_name.take().unwrap_or(name),
                    bytes: data.to_vec(),
                });
            }
            _ => long_name = None,
        }
    }
    Ok(files)
}
