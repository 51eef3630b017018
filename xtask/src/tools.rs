//! Finding and installing the tools that the build and the tests need.
//!
//! Everything is checked first and installed only when missing, so that a
//! second run costs nothing. What cannot be installed from here (not root,
//! no apt-get, no rustup) stops the run with the exact command to run.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cmd;

/// Debian's Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's ChromeDriver.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Debian's strace, for the fault-injection tests.
pub const STRACE: &str = "/usr/bin/strace";
/// Packages whose wasm tests run in headless Chromium.
pub const WASM_TEST_PACKAGES: &[&str] = &["hearth-shared", "hearth-pwa"];
/// The binaryen release whose wasm-opt understands current wasm-bindgen
/// output (Debian's is too old).
const BINARYEN_NPM: &str = "binaryen@132.0.0";
/// axe-core, which the end-to-end tests run on every screen (npm package).
const AXE_NPM: &str = "axe-core@4.10.3";
/// Where it lands.
pub const AXE_JS: &str = "target/tools/node_modules/axe-core/axe.min.js";
/// Oldest wasm-opt accepted (it must know `--skip-pass`, see
/// `dist::WASM_OPT_ARGS`).
const MIN_WASM_OPT: u32 = 120;
/// The Garage release the cluster tests run (S3-compatible object storage,
/// built from crates.io: Debian has none).
pub const GARAGE_VERSION: &str = "2.5.0";
/// Where `cargo install` puts it (`$HEARTH_GARAGE` overrides it).
pub const GARAGE_BIN: &str = "target/tools/garage/bin/garage";

/// What a command needs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Building the wasm: the target, clang (zstd's C code), wasm-bindgen.
    Build,
    /// Building and testing: also Chromium and ChromeDriver.
    All,
}

/// Installs what `needs` requires and is missing.
pub fn setup(root: &Path, needs: Needs) -> Result<()> {
    wasm_target()?;
    let mut packages = Vec::new();
    if !Path::new("/usr/bin/clang").exists() && cmd::output("clang", &["--version"]).is_none() {
        packages.push("clang");
    }
    if needs == Needs::All {
        if !Path::new(CHROMIUM).exists() {
            packages.push("chromium");
        }
        if !Path::new(CHROMEDRIVER).exists() {
            packages.push("chromium-driver");
        }
        // Syscall fault injection around the real `hearth` (tests/faults.rs).
        if !Path::new(STRACE).exists() {
            packages.push("strace");
        }
        // The service test checks the systemd unit.
        if !Path::new("/usr/bin/systemd-analyze").exists() {
            packages.push("systemd");
        }
        // The metrics test parses with Prometheus' own Python parser.
        if cmd::output("python3", &["-m", "pip", "--version"]).is_none() {
            packages.push("python3-pip");
        }
        // The reverse proxies the end-to-end proxy tests put in front.
        if !Path::new("/usr/sbin/nginx").exists() {
            packages.push("nginx");
        }
        if !Path::new("/usr/bin/caddy").exists() {
            packages.push("caddy");
        }
        // Garage's build links these rather than building their C.
        for (header, package) in [
            ("/usr/include/sodium.h", "libsodium-dev"),
            ("/usr/include/zstd.h", "libzstd-dev"),
            ("/usr/include/sqlite3.h", "libsqlite3-dev"),
        ] {
            if !Path::new(header).exists() {
                packages.push(package);
            }
        }
        if cmd::output("pkg-config", &["--version"]).is_none() {
            packages.push("pkg-config");
        }
        // The cluster tests' database (crate::engines).
        if crate::engines::postgres_bin_dir().is_none() {
            packages.push("postgresql");
        }
        // axe-core comes from the npm registry.
        if !root.join(AXE_JS).exists() && cmd::output("npm", &["--version"]).is_none() {
            packages.push("npm");
        }
    }
    apt_install(&packages)?;
    wasm_bindgen(root)?;
    wasm_opt(root);
    if needs == Needs::All {
        axe(root)?;
        prometheus_parser(root)?;
    }
    Ok(())
}

/// Garage, for the cluster tests' object storage: `cargo install` into
/// `target/tools/garage`, unless `$HEARTH_GARAGE` names another binary.
/// The build runs in the background (its log in
/// `target/tools/garage-build.log`) while the lints and the app build go
/// on; [`garage_ready`] waits for it. Only what the tests use is built
/// (the SQLite metadata engine, no metrics or K2V), linked to Debian's
/// libsodium, zstd and SQLite rather than building their C, and
/// unoptimised: a test service, built in under three minutes on two
/// cores rather than eight, and fast enough for the tests' loads.
pub fn start_garage_build(root: &Path) -> Result<()> {
    if std::env::var_os("HEARTH_GARAGE").is_some() || root.join(GARAGE_BIN).exists() {
        return Ok(());
    }
    let mut building = GARAGE_BUILD.lock().unwrap_or_else(|p| p.into_inner());
    if building.is_some() {
        return Ok(());
    }
    cmd::step(&format!(
        "building Garage {GARAGE_VERSION} into target/tools/garage in the background (once; log in target/tools/garage-build.log)"
    ));
    std::fs::create_dir_all(root.join("target/tools"))?;
    let log = std::fs::File::create(root.join(GARAGE_LOG))?;
    let child = Command::new("cargo")
        .args([
            "install",
            "garage",
            "--version",
            GARAGE_VERSION,
            "--locked",
            "--no-default-features",
            "--features",
            "sqlite,system-libs",
            "--target-dir",
        ])
        .arg(root.join("target/tools/garage-build"))
        .arg("--root")
        .arg(root.join("target/tools/garage"))
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "0")
        .env("CARGO_PROFILE_RELEASE_LTO", "false")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("cannot start `cargo install garage`")?;
    *building = Some(child);
    Ok(())
}

/// The background build of Garage, while it runs.
static GARAGE_BUILD: std::sync::Mutex<Option<std::process::Child>> = std::sync::Mutex::new(None);
const GARAGE_LOG: &str = "target/tools/garage-build.log";

/// Waits for the background build of Garage, if one runs; fails with its
/// log's end if it failed.
pub fn garage_ready(root: &Path) -> Result<()> {
    // Not started yet (a command that needs no lints first): now.
    start_garage_build(root)?;
    let child = GARAGE_BUILD
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    let Some(mut child) = child else {
        return Ok(());
    };
    cmd::step("waiting for the background build of Garage");
    let status = child.wait().context("waiting for `cargo install garage`")?;
    if !status.success() {
        let log = std::fs::read_to_string(root.join(GARAGE_LOG)).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "`cargo install garage` failed ({status}):\n{}",
            tail.join("\n")
        );
    }
    let _ = std::fs::remove_dir_all(root.join("target/tools/garage-build"));
    Ok(())
}

/// The Python `prometheus_client` (its OpenMetrics parser reads what
/// `--metrics-listen` serves in the metrics test), from PyPI into
/// `target/tools/python`.
const PROMETHEUS_PYPI: &str = "prometheus-client==0.21.1";
pub const PYTHON_TOOLS: &str = "target/tools/python";

fn prometheus_parser(root: &Path) -> Result<()> {
    let target = root.join(PYTHON_TOOLS);
    if target.join("prometheus_client").is_dir() {
        return Ok(());
    }
    cmd::step(&format!("installing {PROMETHEUS_PYPI} into {PYTHON_TOOLS}"));
    std::fs::create_dir_all(&target)?;
    cmd::run(
        Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--target",
            ])
            .arg(&target)
            .arg(PROMETHEUS_PYPI),
    )
}

fn wasm_target() -> Result<()> {
    let installed = cmd::output("rustup", &["target", "list", "--installed"]);
    match installed {
        Some(list) if list.lines().any(|l| l.trim() == "wasm32-unknown-unknown") => Ok(()),
        Some(_) => {
            cmd::run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))
        }
        None => bail!(
            "rustup was not found; install the wasm32 target of your Rust toolchain \
             (with rustup: `rustup target add wasm32-unknown-unknown`)"
        ),
    }
}

fn apt_install(packages: &[&str]) -> Result<()> {
    if packages.is_empty() {
        return Ok(());
    }
    let list = packages.join(" ");
    let is_root = cmd::output("id", &["-u"]).is_some_and(|uid| uid.trim() == "0");
    if !is_root || cmd::output("apt-get", &["--version"]).is_none() {
        bail!("missing system packages; install them with: sudo apt-get install -y {list}");
    }
    cmd::step(&format!("installing Debian packages: {list}"));
    cmd::run(Command::new("apt-get").args(["update", "-qq"]))?;
    cmd::run(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-qq"])
            .args(packages),
    )
}

/// The wasm-bindgen version in Cargo.lock: the CLI must match it exactly.
pub fn locked_wasm_bindgen_version(root: &Path) -> Result<String> {
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).context("reading Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\"" {
            let version = lines.next().unwrap_or_default().trim();
            if let Some(v) = version
                .strip_prefix("version = \"")
                .and_then(|v| v.strip_suffix('"'))
            {
                return Ok(v.to_owned());
            }
        }
    }
    bail!("Cargo.lock has no wasm-bindgen package")
}

fn wasm_bindgen(root: &Path) -> Result<()> {
    let version = locked_wasm_bindgen_version(root)?;
    let have = |program: &str| {
        cmd::output(program, &["--version"])
            .is_some_and(|v| v.split_whitespace().nth(1) == Some(&version))
    };
    if have("wasm-bindgen") && have("wasm-bindgen-test-runner") {
        return Ok(());
    }
    cmd::step(&format!(
        "installing wasm-bindgen-cli {version} (a few minutes, once)"
    ));
    // Without --locked: the registry mirror may lack one of its locked
    // dependency versions.
    cmd::run(Command::new("cargo").args(["install", "wasm-bindgen-cli", "--version", &version]))
}

/// Path of a usable wasm-opt, if any (never required).
pub fn wasm_opt_path(root: &Path) -> Option<String> {
    let local = root.join("target/tools/node_modules/.bin/wasm-opt");
    let candidates = [local.to_string_lossy().into_owned(), "wasm-opt".to_owned()];
    candidates.into_iter().find(|program| {
        cmd::output(program, &["--version"])
            .and_then(|v| {
                v.split_whitespace()
                    .nth(2)
                    .and_then(|n| n.parse::<u32>().ok())
            })
            .is_some_and(|n| n >= MIN_WASM_OPT)
    })
}

/// Installs binaryen's wasm-opt from the npm registry into `target/tools`
/// when npm is present; the build works without it, only larger.
fn wasm_opt(root: &Path) {
    if wasm_opt_path(root).is_some() || std::env::var_os("HEARTH_NO_WASM_OPT").is_some() {
        return;
    }
    if cmd::output("npm", &["--version"]).is_none() {
        eprintln!("note: npm not found, so wasm-opt is skipped and the wasm files are larger");
        return;
    }
    cmd::step(&format!(
        "installing wasm-opt ({BINARYEN_NPM}) into target/tools"
    ));
    let prefix = root.join("target/tools");
    let result = std::fs::create_dir_all(&prefix)
        .map_err(anyhow::Error::from)
        .and_then(|()| {
            cmd::run(
                Command::new("npm")
                    .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
                    .arg(&prefix)
                    .arg(BINARYEN_NPM),
            )
        });
    if let Err(e) = result {
        eprintln!("note: wasm-opt could not be installed ({e:#}); the wasm files will be larger");
    }
}

/// Installs axe-core into `target/tools` (the accessibility checks of the
/// end-to-end tests need it).
fn axe(root: &Path) -> Result<()> {
    if root.join(AXE_JS).exists() {
        return Ok(());
    }
    cmd::step(&format!("installing {AXE_NPM} into target/tools"));
    let prefix = root.join("target/tools");
    std::fs::create_dir_all(&prefix)?;
    cmd::run(
        Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
            .arg(&prefix)
            .arg(AXE_NPM),
    )
}

/// ChromeDriver's path, checked.
pub fn chromedriver() -> Result<String> {
    if Path::new(CHROMEDRIVER).exists() {
        Ok(CHROMEDRIVER.to_owned())
    } else {
        bail!("ChromeDriver is missing; install it with: sudo apt-get install -y chromium-driver")
    }
}
