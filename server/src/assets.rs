//! The PWA's files: built into the binary by `build.rs`, or read from a
//! directory given with `--dist`. Also the rules for their content types and
//! cache headers, entity tags, content negotiation (the Brotli and gzip
//! copies that `cargo xtask dist` writes beside each file, chosen by the
//! request's `Accept-Encoding`), byte ranges, and the build id from
//! `build.json`.

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

/// A content coding that `cargo xtask dist` may have written a copy in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Brotli,
    Gzip,
}

impl Encoding {
    /// Best first: Brotli is some 20% smaller than gzip on the app's files.
    const PREFERENCE: [Encoding; 2] = [Encoding::Brotli, Encoding::Gzip];

    /// The `Content-Encoding` token, also the `Accept-Encoding` one.
    pub fn token(self) -> &'static str {
        match self {
            Encoding::Brotli => "br",
            Encoding::Gzip => "gzip",
        }
    }

    /// The suffix of the copy's file name (`app-….wasm.br`).
    fn suffix(self) -> &'static str {
        match self {
            Encoding::Brotli => "br",
            Encoding::Gzip => "gz",
        }
    }
}

/// The codings an `Accept-Encoding` header accepts, best first, from
/// [`Encoding::PREFERENCE`]. A coding is accepted when it is listed (or `*`
/// is) with a quality above zero; no header accepts none.
pub fn accepted(header: Option<&str>) -> Vec<Encoding> {
    let Some(header) = header else {
        return Vec::new();
    };
    let quality = |token: &str| -> Option<f32> {
        header.split(',').find_map(|item| {
            let mut parts = item.split(';');
            let name = parts.next()?.trim();
            if !name.eq_ignore_ascii_case(token) {
                return None;
            }
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .next_back()
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok());
            Some(q.unwrap_or(0.0))
        })
    };
    Encoding::PREFERENCE
        .into_iter()
        .filter(|e| {
            quality(e.token())
                .or_else(|| quality("*"))
                .is_some_and(|q| q > 0.0)
        })
        .collect()
}

/// The byte range a `Range` header asks of a file of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAsk {
    /// Bytes `start..=end` (both within the file).
    Part { start: u64, end: u64 },
    /// A range that starts past the end: 416.
    Unsatisfiable,
    /// No range, or one this server answers with the whole file (several
    /// ranges, other units, a malformed header), as HTTP allows.
    Whole,
}

/// Reads a `Range` header (`bytes=0-99`, `bytes=100-`, `bytes=-100`).
pub fn range(header: Option<&str>, len: u64) -> RangeAsk {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeAsk::Whole;
    };
    if spec.contains(',') {
        return RangeAsk::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAsk::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let parse = |s: &str| s.parse::<u64>().ok();
    match (first.is_empty(), last.is_empty()) {
        // The last N bytes.
        (true, false) => match parse(last) {
            Some(0) => RangeAsk::Unsatisfiable,
            Some(n) if len > 0 => RangeAsk::Part {
                start: len.saturating_sub(n),
                end: len - 1,
            },
            Some(_) => RangeAsk::Unsatisfiable,
            None => RangeAsk::Whole,
        },
        (false, _) => {
            let Some(start) = parse(first) else {
                return RangeAsk::Whole;
            };
            let end = if last.is_empty() {
                Some(u64::MAX)
            } else {
                parse(last)
            };
            match end {
                Some(end) if end < start => RangeAsk::Whole,
                Some(_) if start >= len => RangeAsk::Unsatisfiable,
                Some(end) => RangeAsk::Part {
                    start,
                    end: end.min(len - 1),
                },
                None => RangeAsk::Whole,
            }
        }
        (true, true) => RangeAsk::Whole,
    }
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

    /// The file at `rel` in the best of the `accepted` codings that has a
    /// copy, with the coding (`None`: the file as it is). Only a file that
    /// exists as it is has copies. Blocking.
    pub fn get_encoded(
        &self,
        rel: &str,
        accepted: &[Encoding],
    ) -> Option<(Asset, Option<Encoding>)> {
        let plain = self.get_with_etag(rel)?;
        for &encoding in accepted {
            let name = format!("{rel}.{}", encoding.suffix());
            if self.is_stale_copy(rel, &name) {
                continue;
            }
            if let Some(copy) = self.get_with_etag(&name) {
                return Some((copy, Some(encoding)));
            }
        }
        Some((plain, None))
    }

    /// Whether the copy `name` of the file `rel` in a `--dist` directory was
    /// written before the file last changed: a file edited in place (a
    /// deployment that rewrites `sw.js`, say) must never be served as its
    /// old copy. Embedded files are built together and are never stale.
    fn is_stale_copy(&self, rel: &str, name: &str) -> bool {
        let Source::Dir(dir) = &self.source else {
            return false;
        };
        let modified = |rel: &str| {
            let path = rel.split('/').fold(dir.clone(), |p, seg| p.join(seg));
            std::fs::metadata(path).and_then(|m| m.modified()).ok()
        };
        match (modified(rel), modified(name)) {
            (Some(file), Some(copy)) => copy < file,
            _ => false,
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
    fn accept_encoding_is_read_with_its_qualities() {
        use Encoding::{Brotli, Gzip};
        let cases: [(Option<&str>, &[Encoding]); 10] = [
            (None, &[]),
            (Some(""), &[]),
            (Some("gzip, deflate, br, zstd"), &[Brotli, Gzip]),
            (Some("gzip"), &[Gzip]),
            (Some("br;q=0, gzip"), &[Gzip]),
            (Some("BR ; q=0.5"), &[Brotli]),
            (Some("*"), &[Brotli, Gzip]),
            (Some("*;q=0, gzip;q=1"), &[Gzip]),
            (Some("identity"), &[]),
            (Some("br;q=nonsense, gzip"), &[Gzip]),
        ];
        for (header, want) in cases {
            assert_eq!(accepted(header), want, "{header:?}");
        }
    }

    #[test]
    fn ranges_are_read_as_http_says() {
        use RangeAsk::{Part, Unsatisfiable, Whole};
        let cases = [
            (None, 100, Whole),
            (Some("bytes=0-9"), 100, Part { start: 0, end: 9 }),
            (Some("bytes=90-"), 100, Part { start: 90, end: 99 }),
            (Some("bytes=90-1000"), 100, Part { start: 90, end: 99 }),
            (Some("bytes=-10"), 100, Part { start: 90, end: 99 }),
            (Some("bytes=-1000"), 100, Part { start: 0, end: 99 }),
            (Some("bytes=100-"), 100, Unsatisfiable),
            (Some("bytes=-0"), 100, Unsatisfiable),
            (Some("bytes=0-0"), 0, Unsatisfiable),
            (Some("bytes=5-2"), 100, Whole),
            (Some("bytes=0-1,5-6"), 100, Whole),
            (Some("items=0-1"), 100, Whole),
            (Some("bytes=a-b"), 100, Whole),
            (Some("bytes=-"), 100, Whole),
            (Some("bytes=99999999999999999999-"), 100, Whole),
        ];
        for (header, len, want) in cases {
            assert_eq!(range(header, len), want, "{header:?} of {len}");
        }
    }

    #[test]
    fn the_best_accepted_copy_is_chosen() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.js"), "plain").unwrap();
        std::fs::write(dir.path().join("app.js.gz"), "gz").unwrap();
        std::fs::write(dir.path().join("app.js.br"), "br").unwrap();
        std::fs::write(dir.path().join("only.js.br"), "br").unwrap();
        let assets = Assets::new(Some(dir.path()));
        let pick = |rel: &str, accept: &[Encoding]| {
            assets
                .get_encoded(rel, accept)
                .map(|(a, e)| (String::from_utf8(a.bytes.to_vec()).unwrap(), e))
        };
        use Encoding::{Brotli, Gzip};
        assert_eq!(
            pick("app.js", &[Brotli, Gzip]),
            Some(("br".into(), Some(Brotli)))
        );
        assert_eq!(pick("app.js", &[Gzip]), Some(("gz".into(), Some(Gzip))));
        assert_eq!(pick("app.js", &[]), Some(("plain".into(), None)));
        // A copy without its file is never served.
        assert_eq!(pick("only.js", &[Brotli]), None);
        let tags: Vec<String> = [&[Brotli][..], &[Gzip], &[]]
            .iter()
            .map(|a| assets.get_encoded("app.js", a).unwrap().0.etag)
            .collect();
        assert!(tags[0] != tags[1] && tags[1] != tags[2] && tags[0] != tags[2]);
        // Nor a copy older than its file (the file was edited in place).
        let file = std::fs::File::options()
            .write(true)
            .open(dir.path().join("app.js"))
            .unwrap();
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
        file.set_modified(later).unwrap();
        assert_eq!(
            pick("app.js", &[Brotli, Gzip]),
            Some(("plain".into(), None))
        );
    }

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
