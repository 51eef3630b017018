//! Embeds the built PWA (`<workspace root>/dist`, or the directory named by
//! the build-time variable `HEARTH_EMBED_DIST`) into the `hearth` binary.
//!
//! It generates `$OUT_DIR/embedded_dist.rs` with one `include_bytes!` per
//! file. If the directory does not exist, nothing is embedded and the server
//! answers `/` with a page that says how to build the app.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=HEARTH_EMBED_DIST");

    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    // A relative `HEARTH_EMBED_DIST` is taken from the workspace root, where
    // cargo is run, not from this package's directory.
    let workspace_root = manifest_dir.join("..");
    let dist = match env::var_os("HEARTH_EMBED_DIST") {
        Some(dir) if !dir.is_empty() => workspace_root.join(PathBuf::from(dir)),
        _ => workspace_root.join("dist"),
    };

    let mut files = Vec::new();
    if dist.is_dir() {
        println!("cargo:rerun-if-changed={}", dist.display());
        println!(
            "cargo:rerun-if-changed={}",
            dist.join("build.json").display()
        );
        collect(&dist, &dist, &mut files);
        files.sort();
        for (_, path) in &files {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    } else if let Some(parent) = dist.parent() {
        // The parent's mtime changes when `dist` appears.
        println!("cargo:rerun-if-changed={}", parent.display());
    }

    let mut code = String::from(
        "/// Every file of the embedded PWA: (path relative to `dist`, contents).\n\
         pub static FILES: &[(&str, &[u8])] = &[\n",
    );
    for (rel, path) in &files {
        let abs = path.canonicalize().unwrap_or_else(|_| path.clone());
        let _ = writeln!(
            code,
            "    ({rel:?}, include_bytes!({:?})),",
            abs.display().to_string()
        );
    }
    code.push_str("];\n");

    let out = PathBuf::from(env::var("OUT_DIR").unwrap_or_default()).join("embedded_dist.rs");
    if let Err(err) = fs::write(&out, code) {
        panic!("cannot write {}: {err}", out.display());
    }
}

/// Collects regular files under `dir`, with `/`-separated paths relative to `root`.
fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            collect(root, &path, out);
        } else if kind.is_file() {
            let Ok(rel) = path.strip_prefix(root) else {
                continue;
            };
            let rel: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push((rel.join("/"), path));
        }
    }
}
