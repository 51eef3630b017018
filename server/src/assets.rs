//! The PWA's files: built into the binary by `build.rs`, or read from a
//! directory given with `--dist`. Also the rules for their content types and
//! cache headers, entity tags, and the build id from `build.json`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use sha2::{Digest as _, Sha256};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_dist.rs"));
}

/// Where the PWA's files come from.
#[derive(Debug, Clone)]
enum Source {
    /// The files built into the binary (possibly none).
    Embedded,
    /// A directory on disk (`--dist`).
    Dir(PathBuf),
}

/// The PWA's files, with their entity tags.
#[derive(Debug, Clone)]
pub struct Assets {
    source: Source,
    /// Entity tags of embedded files, computed once on first use.
    etags: Arc<Mutex<HashMap<String, String>>>,
}

/// One file, ready to serve.
#[derive(Debug, Clone)]
pub struct Asset {
    pub bytes: Bytes,
    /// A strong entity tag (quoted), from the content.
    pub etag: String,
}

impl Assets {
    pub fn new(dist: Option<&Path>) -> Self {
        let source = match dist {
            Some(dir) => Source::Dir(dir.to_path_buf()),
            None => Source::Embedded,
        };
        Assets {
            source,
            etags: Arc::default(),
        }
    }

    /// Describes where files come from, for the start-up log.
    pub fn describe(&self) -> String {
        match &self.source {
            Source::Embedded => format!("{} embedded files", embedded::FILES.len()),
            Source::Dir(dir) => format!("files from {}", dir.display()),
        }
    }

    /// The file at `rel` (a `/`-separated path with no leading slash), if any.
    /// Paths with `..`, `.`, empty or hidden segments are never looked up.
    /// Blocking for `--dist`: call it off the async threads.
    pub fn get(&self, rel: &str) -> Option<Bytes> {
        if !is_safe_path(rel) {
            return None;
        }
        match &self.source {
            Source::Embedded => embedded::FILES
                .iter()
                .find(|(name, _)| *name == rel)
                .map(|(_, bytes)| Bytes::from_static(bytes)),
            Source::Dir(dir) => {
                let path = rel.split('/').fold(dir.clone(), |p, seg| p.join(seg));
                if !path.is_file() {
                    return None;
                }
                std::fs::read(path).ok().map(Bytes::from)
            }
        }
    }

    /// The file at `rel` with its entity tag. Blocking.
    pub fn get_with_etag(&self, rel: &str) -> Option<Asset> {
        let bytes = self.get(rel)?;
        let cached = match self.source {
            Source::Embedded => self.etags.lock().ok().and_then(|m| m.get(rel).cloned()),
            Source::Dir(_) => None,
        };
        let etag = cached.unwrap_or_else(|| {
            let digest = Sha256::digest(&bytes);
            let tag = format!("\"{}\"", crate::secret::hex(&digest[..12]));
            if let (Source::Embedded, Ok(mut m)) = (&self.source, self.etags.lock()) {
                m.insert(rel.to_owned(), tag.clone());
            }
            tag
        });
        Some(Asset { bytes, etag })
    }

    /// Whether there is any app to serve (an `index.html`).
    pub fn has_app(&self) -> bool {
        match &self.source {
            Source::Embedded => embedded::FILES
                .iter()
                .any(|(name, _)| *name == "index.html"),
            Source::Dir(dir) => dir.join("index.html").is_file(),
        }
    }

    /// The build id from `build.json` (`{"build_id": "..."}`), or `""`.
    pub fn build_id(&self) -> String {
        #[derive(serde::Deserialize)]
        struct BuildJson {
            build_id: String,
        }
        self.get("build.json")
            .and_then(|b| serde_json::from_slice::<BuildJson>(&b).ok())
            .map(|b| b.build_id)
            .unwrap_or_default()
    }
}

fn is_safe_path(rel: &str) -> bool {
    !rel.is_empty()
        && rel
            .split('/')
            .all(|seg| !seg.is_empty() && !seg.starts_with('.') && !seg.contains(['\\', '\0', ':']))
}

/// The extension of the last path segment, if it has one.
pub fn extension(path: &str) -> Option<&str> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let (stem, ext) = name.rsplit_once('.')?;
    (!stem.is_empty()).then_some(ext)
}

/// The Content-Type of a file, from its extension.
pub fn content_type(path: &str) -> &'static str {
    match extension(path).map(str::to_ascii_lowercase).as_deref() {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript",
        Some("css") => "text/css",
        Some("wasm") => "application/wasm",
        Some("webmanifest") => "application/manifest+json",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("txt") => "text/plain; charset=utf-8",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// The Cache-Control of a file: immutable for content-hashed names
/// (`app-3f9a1c2b.js`), `no-cache` for everything else.
pub fn cache_control(path: &str) -> &'static str {
    if is_hashed(path) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    }
}

/// Whether a file name carries a content hash: `-` and 8 or more hex digits
/// right before the extension.
fn is_hashed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let Some((stem, _ext)) = name.rsplit_once('.') else {
        return false;
    };
    let Some((_, hash)) = stem.rsplit_once('-') else {
        return false;
    };
    hash.len() >= 8 && hash.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        let cases = [
            ("index.html", "text/html; charset=utf-8"),
            ("app-3f9a1c2b7d.js", "text/javascript"),
            ("a/b/style.css", "text/css"),
            ("app_bg.wasm", "application/wasm"),
            ("manifest.webmanifest", "application/manifest+json"),
            ("build.json", "application/json"),
            ("icon.svg", "image/svg+xml"),
            ("icon-192.png", "image/png"),
            ("favicon.ico", "image/x-icon"),
            ("LICENSE", "application/octet-stream"),
        ];
        for (path, want) in cases {
            assert_eq!(content_type(path), want, "{path}");
        }
    }

    #[test]
    fn cache_rules() {
        let cases = [
            ("index.html", "no-cache"),
            ("sw.js", "no-cache"),
            ("manifest.webmanifest", "no-cache"),
            ("build.json", "no-cache"),
            ("app-3f9a1c2b7d.js", "public, max-age=31536000, immutable"),
            (
                "pkg/app-3F9A1C2B.wasm",
                "public, max-age=31536000, immutable",
            ),
            ("app-3f9a1c2.js", "no-cache"),
            ("icon-192.png", "no-cache"),
            ("app-zzzzzzzzzz.js", "no-cache"),
        ];
        for (path, want) in cases {
            assert_eq!(cache_control(path), want, "{path}");
        }
    }

    #[test]
    fn unsafe_paths_are_never_looked_up() {
        for p in [
            "",
            "../etc/passwd",
            "a/../b",
            "./x",
            ".git/config",
            "a//b",
            "a\\b",
            "c:x",
        ] {
            assert!(!is_safe_path(p), "{p}");
        }
        assert!(is_safe_path("assets/app-1234.js"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "hi").unwrap();
        std::fs::write(dir.path().join("build.json"), r#"{"build_id":"b1"}"#).unwrap();
        let assets = Assets::new(Some(dir.path()));
        assert!(assets.has_app());
        assert_eq!(assets.build_id(), "b1");
        assert_eq!(assets.get("index.html").unwrap().as_ref(), b"hi");
        let tagged = assets.get_with_etag("index.html").unwrap();
        assert!(tagged.etag.starts_with('"') && tagged.etag.len() == 26);
        std::fs::write(dir.path().join("index.html"), "changed").unwrap();
        assert_ne!(
            assets.get_with_etag("index.html").unwrap().etag,
            tagged.etag
        );
        assert!(assets.get("../index.html").is_none());
        assert!(assets.get("nope.js").is_none());
    }
}
