//! The wasm build and the `dist/` folder that `hearth` serves.
//!
//! Steps: one `cargo build` of every browser module for wasm32 with the
//! `wasm-release` profile, in a target directory of its own (`target/web`);
//! wasm-bindgen (`--target web`) per module; a check that the glue imports
//! nothing from `env` (what zstd built without clang does); wasm-opt when
//! present (the passes of [`WASM_OPT_ARGS`]), the modules side by side;
//! then every file is named by a hash of its content, the HTML, manifest
//! and service-worker templates are filled with those names; every text
//! and wasm file gets a Brotli (`.br`) and a gzip (`.gz`) copy beside it,
//! which `hearth` serves to browsers that accept them; `build.json` is
//! written last (the server's build script watches it). The first visit's
//! bytes on the wire are checked against [`FIRST_VISIT_BUDGET`].
//!
//! The modules ([`MODULES`]): `app` (the page and the sync worker), `sw`
//! (the service worker), both precached, and `extras` (imports and
//! exports), which the page loads on first use through the names that
//! `index.html`'s `hearth-extras` meta tag carries, and which the service
//! worker keeps once fetched; and `share`, the page a public link opens
//! (`share.html`, served as `/share`), which loads nothing else.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::{cmd, tools};

/// A wasm module of the PWA: the cargo artifact and the name it ships as.
struct Module {
    /// Cargo package.
    package: &'static str,
    /// The `.wasm` file cargo writes.
    artifact: &'static str,
    /// Base of the shipped file names.
    name: &'static str,
    /// Whether the service worker precaches it (so a first visit
    /// downloads it); the others are fetched on first use and kept then.
    precache: bool,
}

const MODULES: &[Module] = &[
    Module {
        package: "hearth-pwa",
        artifact: "hearth_pwa.wasm",
        name: "app",
        precache: true,
    },
    Module {
        package: "hearth-sw",
        artifact: "hearth_sw.wasm",
        name: "sw",
        precache: true,
    },
    Module {
        package: "hearth-extras",
        artifact: "hearth_extras.wasm",
        name: "extras",
        precache: false,
    },
    Module {
        package: "hearth-share-page",
        artifact: "hearth_share_page.wasm",
        name: "share",
        precache: false,
    },
];

/// The browser modules' own cargo target directory. Nothing of a build in
/// the default one could serve them (another profile, another target),
/// and cargo locks a target directory for a whole build: in their own,
/// they build while the wasm tests build beside them.
const TARGET_DIR: &str = "target/web";

/// Builds everything into `<root>/dist` and returns the build id.
pub fn build(root: &Path, build_id: Option<&str>) -> Result<String> {
    cmd::step("building the PWA and the service worker for wasm32");
    let target_dir = root.join(TARGET_DIR);
    let target_dir_arg = target_dir.to_string_lossy();
    let mut args = vec![
        "build",
        "--profile",
        "wasm-release",
        "--target",
        "wasm32-unknown-unknown",
        "--target-dir",
        &target_dir_arg,
    ];
    for module in MODULES {
        args.extend(["--package", module.package]);
    }
    cmd::cargo(root, &args, &[])?;

    let wasm_dir = target_dir.join("wasm32-unknown-unknown/wasm-release");
    let bindgen_dir = root.join("target/wasm-bindgen");
    let wasm_opt = tools::wasm_opt_path(root);
    if wasm_opt.is_none() {
        eprintln!("note: no recent wasm-opt; shipping unoptimised wasm");
    }

    // name in the templates -> (shipped file name, bytes)
    let mut files: BTreeMap<String, (String, Vec<u8>)> = BTreeMap::new();
    // Each module's wasm-bindgen and wasm-opt on a thread of its own:
    // wasm-opt (npm's build) uses one core, and the app's module is the
    // long pole, so the others run beside it.
    let bound = side_by_side(MODULES, |module| {
        bind(module, &wasm_dir, &bindgen_dir, wasm_opt.as_deref())
    })?;
    for (module, bound) in MODULES.iter().zip(bound) {
        add(&mut files, &format!("{}.js", module.name), bound.js);
        add(&mut files, &format!("{}.wasm", module.name), bound.wasm);
        // JS snippets that crates ship (`#[wasm_bindgen(inline_js)]`, module
        // imports): the glue imports them by relative path, so they keep
        // their paths (their folder names already carry a crate hash).
        for (relative, bytes) in bound.snippets {
            files.insert(relative.clone(), (relative, bytes));
        }
    }

    let assets = root.join("assets");
    for entry in fs::read_dir(&assets).context("reading assets/")? {
        let path = entry?.path();
        let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if file_name == "index.html" || file_name == "share.html" || path.is_dir() {
            continue;
        }
        add(&mut files, file_name, fs::read(&path)?);
    }

    let build_id = match build_id {
        Some(id) => id.to_owned(),
        None => {
            let mut hasher = Sha256::new();
            for (shipped, _) in files.values() {
                hasher.update(shipped.as_bytes());
            }
            hex(&hasher.finalize())[..12].to_owned()
        }
    };

    let dist = root.join("dist");
    let _ = fs::remove_dir_all(&dist);
    fs::create_dir_all(&dist)?;
    for (shipped, bytes) in files.values() {
        let path = dist.join(shipped);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(path, bytes)?;
    }
    let names: BTreeMap<&str, &str> = files
        .iter()
        .map(|(k, (shipped, _))| (k.as_str(), shipped.as_str()))
        .collect();

    let manifest = fill(
        &read(&root.join("manifest/manifest.webmanifest"))?,
        &names,
        &build_id,
    )?;
    fs::write(dist.join("manifest.webmanifest"), manifest)?;
    let index = fill(&read(&assets.join("index.html"))?, &names, &build_id)?;
    fs::write(dist.join("index.html"), index)?;
    // The page a public link opens: not precached (it is for people
    // without the app), it loads its own module alone.
    let share = fill(&read(&assets.join("share.html"))?, &names, &build_id)?;
    fs::write(dist.join("share.html"), share)?;

    // The service worker precaches the whole shell of this build.
    let mut precache: Vec<String> = vec![
        "/".into(),
        "/manifest.webmanifest".into(),
        "/worker.js".into(),
    ];
    let on_first_use: Vec<String> = MODULES
        .iter()
        .filter(|m| !m.precache)
        .flat_map(|m| [format!("{}.js", m.name), format!("{}.wasm", m.name)])
        .collect();
    precache.extend(
        files
            .iter()
            .filter(|(logical, _)| !on_first_use.contains(logical))
            .map(|(_, (shipped, _))| format!("/{shipped}")),
    );
    let shim = fill(&read(&root.join("sw/shim.js"))?, &names, &build_id)?
        .replace("{{PRECACHE}}", &serde_json::to_string(&precache)?);
    fs::write(dist.join("sw.js"), shim)?;
    let worker = fill(&read(&root.join("pwa/worker.js"))?, &names, &build_id)?;
    fs::write(dist.join("worker.js"), worker)?;

    let sizes = compress_all(&dist)?;
    let first_visit = first_visit(&precache, &sizes);
    let build = serde_json::json!({
        "build_id": build_id,
        "files": names,
        "first_visit_bytes": first_visit.wire,
        "first_visit_budget": FIRST_VISIT_BUDGET,
    });
    fs::write(dist.join("build.json"), serde_json::to_vec_pretty(&build)?)?;

    report(&sizes, &first_visit);
    if first_visit.wire > FIRST_VISIT_BUDGET {
        bail!(
            "a first visit downloads {} bytes as served (Brotli where it helps), over the budget of {} \
             (FIRST_VISIT_BUDGET in xtask/src/dist.rs): find what grew with the sizes above",
            first_visit.wire,
            FIRST_VISIT_BUDGET
        );
    }
    Ok(build_id)
}

/// The most that a browser's first visit may download, in bytes, as
/// `hearth` serves the files (the best encoding each accepts: Brotli in
/// every current browser). Every file of the precache counts, since the
/// service worker fetches all of them at its install. The one place the
/// budget is written; `cargo xtask dist` (and so `cargo xtask test`) fails
/// above it, and the end-to-end test in `server/tests/e2e_shell.rs` checks Chromium's own
/// count against the figure `build.json` records.
///
/// The goal is 1,000,000; the budget holds what the app weighs today, so
/// that nothing grows unseen, and comes down as the module does. It stood
/// at 1.41 MB with Brotli after the features of earlier rounds (signed
/// records and the roster, search, imports and exports, public links,
/// collecting files, the app lock, Background Sync of files; the readers,
/// zip writer and QR codes load on first use in the `extras` module). It
/// came down to 1.26 MB when Background Sync moved into the app's module,
/// so the service worker's own module holds only its cache and routing
/// (-90 KB), when the browser's build compiled out tracing's events
/// (-15 KB), when zstd's C was built with only the match finders of the
/// level the app uses (-26 KB), and with the icons as palette PNGs (-17 KB).
/// It came down to 1.16 MB when wasm-opt stopped running `-Oz`, whose
/// inlining made the app's module 100 KB larger as served (see
/// [`WASM_OPT_ARGS`]).
pub const FIRST_VISIT_BUDGET: u64 = 1_162_000;

/// wasm-opt's passes. Not `-Oz`: it makes the module smallest raw but not
/// as served. Measured on the app's module (raw / Brotli): `-Oz` 4,050,090
/// / 1,199,489 bytes in 108 s; no wasm-opt 4,612,394 / 1,112,137; `-O1`
/// 4,398,445 / 1,103,625 in 28 s; these passes 4,361,345 / 1,098,845 in
/// 30 s. Binaryen's inlining and dead-argument elimination undo the
/// repetition Brotli's window finds (LLVM has inlined at `opt-level = "z"`
/// already); the other passes of `-O2` still shorten the code.
const WASM_OPT_ARGS: &[&str] = &[
    "-O2",
    "--skip-pass=inlining-optimizing",
    "--skip-pass=dae-optimizing",
];

/// One module after wasm-bindgen (and wasm-opt).
struct Bound {
    js: Vec<u8>,
    wasm: Vec<u8>,
    /// The JS snippets its glue imports, as (`snippets/…` path, bytes).
    snippets: Vec<(String, Vec<u8>)>,
}

fn bind(
    module: &Module,
    wasm_dir: &Path,
    bindgen_dir: &Path,
    wasm_opt: Option<&str>,
) -> Result<Bound> {
    let out = bindgen_dir.join(module.name);
    let _ = fs::remove_dir_all(&out);
    cmd::run(
        Command::new("wasm-bindgen")
            .args([
                "--target",
                "web",
                "--no-typescript",
                // Names only help a debugger; wasm-opt drops them too, but
                // without it they would ship.
                "--remove-name-section",
                "--out-name",
                module.name,
                "--out-dir",
            ])
            .arg(&out)
            .arg(wasm_dir.join(module.artifact)),
    )?;
    let js_path = out.join(format!("{}.js", module.name));
    let wasm_path = out.join(format!("{}_bg.wasm", module.name));
    let js = fs::read(&js_path).with_context(|| format!("reading {}", js_path.display()))?;
    let glue = String::from_utf8_lossy(&js);
    if glue.contains("from 'env'") || glue.contains("from \"env\"") {
        bail!(
            "{} imports from \"env\": a C dependency (zstd) was compiled without clang. \
             Install clang (apt-get install clang) and rebuild.",
            js_path.display()
        );
    }
    if let Some(wasm_opt) = wasm_opt {
        cmd::run(
            Command::new(wasm_opt)
                .args(WASM_OPT_ARGS)
                .arg(&wasm_path)
                .arg("-o")
                .arg(&wasm_path),
        )?;
    }
    let wasm = fs::read(&wasm_path).with_context(|| format!("reading {}", wasm_path.display()))?;
    let snippets = walk(&out.join("snippets"), "snippets")?;
    Ok(Bound { js, wasm, snippets })
}

/// Extensions of the files worth compressing (PNG is compressed already).
const COMPRESSIBLE: &[&str] = &["html", "js", "css", "wasm", "svg", "webmanifest", "json"];

/// The sizes of one shipped file, in each encoding.
struct Sizes {
    raw: u64,
    gzip: Option<u64>,
    brotli: Option<u64>,
}

impl Sizes {
    /// What `hearth` sends to a browser that accepts Brotli and gzip.
    fn wire(&self) -> u64 {
        self.brotli.or(self.gzip).unwrap_or(self.raw)
    }
}

/// Writes `NAME.br` and `NAME.gz` beside every compressible file of `dist`
/// (each only when it is smaller than the file), and returns every file's
/// sizes by its path relative to `dist`.
fn compress_all(dist: &Path) -> Result<BTreeMap<String, Sizes>> {
    // A thread per file: Brotli at its best quality takes seconds for the
    // app's module, and the other files fit beside it.
    let files = walk(dist, "")?;
    let sizes = side_by_side(&files, |(relative, bytes)| compress(dist, relative, bytes))?;
    Ok(sizes.into_iter().collect())
}

/// `work` on every item, each on a thread of its own; the results in the
/// items' order, or the first error.
fn side_by_side<T: Sync, R: Send>(
    items: &[T],
    work: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let work = &work;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .iter()
            .map(|item| scope.spawn(move || work(item)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a build thread panicked")))
            })
            .collect()
    })
}

/// Writes the `.gz` and `.br` copies of one file of `dist` when they are
/// smaller, and returns its path relative to `dist` with its sizes.
fn compress(dist: &Path, relative: &str, bytes: &[u8]) -> Result<(String, Sizes)> {
    let relative = relative.trim_start_matches('/').to_owned();
    let compressible = relative
        .rsplit_once('.')
        .is_some_and(|(_, ext)| COMPRESSIBLE.contains(&ext));
    let raw = bytes.len() as u64;
    let (mut gzip, mut brotli) = (None, None);
    if compressible {
        let path = dist.join(&relative);
        let gz = gzip_best(bytes)?;
        if gz.len() < bytes.len() {
            gzip = Some(gz.len() as u64);
            fs::write(with_suffix(&path, "gz"), gz)?;
        }
        let br = brotli_best(bytes)?;
        if br.len() < bytes.len() {
            brotli = Some(br.len() as u64);
            fs::write(with_suffix(&path, "br"), br)?;
        }
    }
    Ok((relative, Sizes { raw, gzip, brotli }))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

fn gzip_best(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(bytes)?;
    Ok(gz.finish()?)
}

/// Brotli at its highest quality with a 16 MiB window: slow to write (a few
/// seconds for the app's module), as fast as any to read.
fn brotli_best(bytes: &[u8]) -> Result<Vec<u8>> {
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 24,
        size_hint: bytes.len(),
        ..Default::default()
    };
    let mut out = Vec::new();
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params)?;
    Ok(out)
}

/// What a first visit downloads: every file the service worker precaches
/// (the page's own files among them), plus `sw.js`, each as served.
struct FirstVisit {
    raw: u64,
    gzip: u64,
    wire: u64,
}

fn first_visit(precache: &[String], sizes: &BTreeMap<String, Sizes>) -> FirstVisit {
    let mut visit = FirstVisit {
        raw: 0,
        gzip: 0,
        wire: 0,
    };
    let urls = precache.iter().map(String::as_str).chain(["/sw.js"]);
    for url in urls {
        let relative = match url.trim_start_matches('/') {
            "" => "index.html",
            other => other,
        };
        if let Some(s) = sizes.get(relative) {
            visit.raw += s.raw;
            visit.gzip += s.gzip.unwrap_or(s.raw);
            visit.wire += s.wire();
        }
    }
    visit
}

/// Every file under `dir`, as (`prefix/relative/path`, bytes); nothing if
/// `dir` does not exist.
fn walk(dir: &Path, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(out);
    };
    for entry in entries {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let relative = format!("{prefix}/{name}");
        if path.is_dir() {
            out.extend(walk(&path, &relative)?);
        } else {
            out.push((relative, fs::read(&path)?));
        }
    }
    Ok(out)
}

/// Adds a file under its content-hashed name: `app.js` -> `app-1a2b3c4d5e.js`.
fn add(files: &mut BTreeMap<String, (String, Vec<u8>)>, logical: &str, bytes: Vec<u8>) {
    let hash = hex(&Sha256::digest(&bytes))[..10].to_owned();
    let shipped = match logical.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}-{hash}.{ext}"),
        None => format!("{logical}-{hash}"),
    };
    files.insert(logical.to_owned(), (shipped, bytes));
}

/// Replaces `{{file:NAME}}` by the shipped name of NAME and `{{BUILD_ID}}`.
fn fill(template: &str, names: &BTreeMap<&str, &str>, build_id: &str) -> Result<String> {
    let mut out = template.replace("{{BUILD_ID}}", build_id);
    while let Some(start) = out.find("{{file:") {
        let end = out[start..]
            .find("}}")
            .map(|e| start + e)
            .context("unclosed {{file:")?;
        let logical = &out[start + 7..end];
        let shipped = names
            .get(logical)
            .with_context(|| format!("no file {logical:?} to link"))?;
        out.replace_range(start..end + 2, shipped);
    }
    Ok(out)
}

fn read(path: &PathBuf) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Prints each shipped file, raw, gzip and Brotli, and the first visit's
/// totals.
fn report(sizes: &BTreeMap<String, Sizes>, visit: &FirstVisit) {
    let kb = |n: Option<u64>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
    eprintln!(
        "\n{:<36} {:>10} {:>10} {:>10}",
        "file", "raw", "gzip", "brotli"
    );
    for (name, s) in sizes {
        eprintln!(
            "{name:<36} {:>10} {:>10} {:>10}",
            s.raw,
            kb(s.gzip),
            kb(s.brotli)
        );
    }
    eprintln!(
        "first visit: {} raw, {} gzip, {} on the wire as served (budget {})",
        visit.raw, visit.gzip, visit.wire, FIRST_VISIT_BUDGET
    );
}
