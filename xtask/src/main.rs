//! `cargo xtask`: the build helper of the Hearth workspace.
//!
//! Commands:
//! - `setup`: installs what the build and the tests need and is missing (the
//!   wasm target, clang, Chromium and ChromeDriver, the pinned wasm-bindgen
//!   CLI), or says exactly what to install when it cannot.
//! - `dist`: builds the PWA and the service worker for wasm32 in release, runs
//!   wasm-bindgen (and wasm-opt when a recent one is present), and assembles
//!   `dist/` with content-hashed file names.
//! - `run`: `dist`, then builds and runs `hearth serve` in release with the
//!   PWA embedded.
//! - `test`: `setup`, `cargo fmt --check`, `cargo clippy -D warnings`
//!   (native and wasm32, the fuzz targets among them), `dist`, the structure
//!   checks ([`seams`]: no engine in a handler, no file over 600 lines),
//!   then every test: native (unit,
//!   integration, fault injection, end-to-end in headless Chromium, the
//!   cluster tests against the [`engines`]) and wasm (headless Chromium).
//! - `wasm-test`: only the wasm tests in headless Chromium.
//! - `bench`: `setup`, `dist` (which prints the shipped sizes), then every
//!   benchmark of `server/benches` in release; each prints its figures.
//! - `deb`: `dist`, the release `hearth`, then its Debian package
//!   ([`deb`]) in `target/deb`.
//! - `engines`: starts the cluster tests' engines (PostgreSQL, three Garage
//!   nodes), checks them, prints their environment and stops them.
//! - `cluster up` / `cluster down`: the engines and two `hearth` nodes on
//!   them, left running ([`cluster`]).
//!
//! Modules: [`tools`] (finding and installing tools), [`dist`] (the wasm
//! build and the `dist/` folder), [`cmd`] (running commands), [`proxy`]
//! (the browser's way to the wasm test runner's server), [`deb`] (the
//! Debian package), [`seams`] (the
//! structure checks), [`engines`] (PostgreSQL and Garage on loopback),
//! [`cluster`] (`cluster up|down`).

mod cluster;
mod cmd;
mod deb;
mod dist;
mod doc_commands;
mod engines;
mod proxy;
mod seams;
mod tools;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

fn usage() -> &'static str {
    "usage: cargo xtask <command>\n\
     \n\
     commands:\n\
     \x20 setup            install the wasm target, clang, Chromium, ChromeDriver, the pinned wasm-bindgen CLI, PostgreSQL and Garage\n\
     \x20 dist [--build-id ID]   build the PWA and service worker into dist/\n\
     \x20 run [-- ARGS]    build everything and run `hearth serve` (extra ARGS go to hearth)\n\
     \x20 test             run every test (native, wasm in headless Chromium, end-to-end, cluster)\n\
     \x20 wasm-test        run only the wasm tests in headless Chromium\n\
     \x20 bench            build in release and print the benchmark figures (see BENCHMARKS.md)\n\
     \x20 deb [--check]    build the Debian package of `hearth` (binary, systemd unit, its user) into target/deb;\n\
     \x20                  --check: package the debug build, install it, serve as its user, purge it\n\
     \x20 engines [-- COMMAND]   start PostgreSQL and three Garage nodes, check them, print their environment (run COMMAND in it), stop them\n\
     \x20 cluster up|down  start (or stop) those engines and two `hearth` nodes on them, left running; `up` prints the tests' exports\n"
}

fn workspace_root() -> Result<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(PathBuf::from)
        .context("xtask has no parent folder")
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let root = workspace_root()?;
    let command = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    match command.as_str() {
        "setup" => {
            tools::setup(&root, tools::Needs::All)?;
            tools::garage_ready(&root)
        }
        "dist" => {
            tools::setup(&root, tools::Needs::Build)?;
            let build_id = flag_value(&rest, "--build-id");
            dist::build(&root, build_id.as_deref()).map(|_| ())
        }
        "run" => run(&root, &rest),
        "test" => test(&root),
        "wasm-test" => {
            tools::setup(&root, tools::Needs::All)?;
            let chromedriver = tools::chromedriver()?;
            let env = [("CHROMEDRIVER", chromedriver.as_str()), NO_DEBUG_INFO];
            build_wasm_tests(&root)?;
            wasm_tests(&root, &env)
        }
        "bench" => bench(&root),
        "deb" if rest.iter().any(|a| a == "--check") => {
            cmd::cargo(
                &root,
                &["build", "--package", "hearth", "--bin", "hearth"],
                &[],
            )?;
            deb::check(&root, &root.join("target/debug/hearth"))
        }
        "deb" => {
            tools::setup(&root, tools::Needs::Build)?;
            dist::build(&root, None)?;
            build_release_hearth(&root)?;
            let deb = deb::build(
                &root,
                &root.join("target/release/hearth"),
                &root.join("target/deb"),
            )?;
            println!("{}", deb.display());
            Ok(())
        }
        "engines" => try_engines(&root, &rest),
        "cluster" => cluster::main(&root, &rest),
        "" | "help" | "--help" | "-h" => {
            print!("{}", usage());
            Ok(())
        }
        other => bail!("unknown command {other:?}\n\n{}", usage()),
    }
}

fn flag_value(args: &[String], flag: &str) -> Option<String> {
    let at = args.iter().position(|a| a == flag)?;
    args.get(at + 1).cloned()
}

fn run(root: &std::path::Path, rest: &[String]) -> Result<()> {
    tools::setup(root, tools::Needs::Build)?;
    dist::build(root, None)?;
    let extra: Vec<&str> = rest
        .iter()
        .skip_while(|a| *a == "--")
        .map(String::as_str)
        .collect();
    let mut args = vec![
        "run",
        "--release",
        "--package",
        "hearth",
        "--bin",
        "hearth",
        "--",
        "serve",
    ];
    args.extend(extra);
    cmd::cargo(root, &args, &[])
}

/// The tests' builds leave debug info out (a panic still says where):
/// with it, the wasm test binaries are about 100 MB. Every build of the
/// tests has it, so that none undoes another's.
const NO_DEBUG_INFO: (&str, &str) = ("CARGO_PROFILE_DEV_DEBUG", "0");

/// How long the wasm tests may run in the browser. They take
/// seconds; past this a run is stopped and the tests fail, rather than hold
/// the whole run until CI's own limit.
const WASM_TESTS_DEADLINE: std::time::Duration = std::time::Duration::from_secs(600);

fn test(root: &std::path::Path) -> Result<()> {
    let started = std::time::Instant::now();
    cmd::step("the tools the tests need (installed when missing)");
    tools::setup(root, tools::Needs::All)?;
    // Built while the lints and the app build run; the engines wait for it.
    tools::start_garage_build(root)?;
    cmd::step("formatting (cargo fmt --check)");
    cmd::cargo(root, &["fmt", "--all", "--check"], &[])?;
    cmd::step("lints (cargo clippy -D warnings), native and wasm32");
    cmd::cargo(
        root,
        &[
            "clippy",
            "--workspace",
            "--exclude",
            "hearth-pwa",
            "--exclude",
            "hearth-extras",
            "--exclude",
            "hearth-share-page",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    cmd::cargo(
        root,
        &[
            "clippy",
            "--target",
            "wasm32-unknown-unknown",
            "--package",
            "hearth-pwa",
            "--package",
            "hearth-sw",
            "--package",
            "hearth-extras",
            "--package",
            "hearth-share-page",
            "--package",
            "hearth-storage",
            "--package",
            "hearth-shared",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    // The app's build has long stretches on one core (its link-time
    // optimisation, wasm-opt): the wasm tests build beside it, within its
    // step.
    let (built, wasm_tests_built) = std::thread::scope(|scope| {
        let dist = scope.spawn(|| dist::build(root, None));
        let wasm_tests = build_wasm_tests(root);
        let built = dist
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the PWA's build panicked")));
        (built, wasm_tests)
    });
    built?;
    wasm_tests_built?;
    cmd::step("the server links no sync engine (cargo tree -p hearth -e normal)");
    server_links_no_engine(root)?;
    cmd::step("handlers see only the storage traits (no engine named in server/src/handlers)");
    seams::handlers_see_only_the_traits(root)?;
    cmd::step("no source file over 600 lines (tests apart)");
    seams::no_source_file_too_long(root)?;
    let chromedriver = tools::chromedriver()?;
    // The end-to-end tests run the `hearth` the tests build (the same code
    // and the same embedded app as `cargo xtask run`'s, unoptimised): a
    // release build of its own would cost a cold run three minutes.
    let browser_env = [
        ("CHROMEDRIVER", chromedriver.as_str()),
        ("HEARTH_CHROMIUM", tools::CHROMIUM),
        NO_DEBUG_INFO,
    ];
    cmd::step("PostgreSQL and a three-node Garage cluster on loopback, for the cluster tests");
    let engines = engines::Engines::start(root, engines::Lifetime::Owned)?;
    let engines_env = engines.env();
    let native_env: Vec<(&str, &str)> = browser_env
        .iter()
        .copied()
        .chain(engines_env.iter().map(|(k, v)| (*k, v.as_str())))
        .collect();
    cmd::step("native tests (unit, integration, end-to-end, cluster)");
    native_tests(root, &native_env)?;
    cmd::step("stopping PostgreSQL and Garage");
    drop(engines);
    cmd::step("the Debian package installs, serves as its user and purges leaving the data");
    deb::check(root, &root.join("target/debug/hearth"))?;
    cmd::step(
        "every command the documentation shows exists (cargo targets, hearth and hearth-device flags)",
    );
    // The binaries the native tests built (a `cargo build` of its own would
    // build them again, with other features).
    doc_commands::check(root, &root.join("target/debug"), usage())?;
    wasm_tests(root, &browser_env)?;
    cmd::print_step_times(started);
    eprintln!("all tests passed in {:.0?}", started.elapsed());
    Ok(())
}

/// The native tests of every crate but the app's. With cargo-nextest (part
/// of the machine's Rust toolchain), every test is a process of its own and the
/// test binaries run side by side, as `.config/nextest.toml` says (the
/// tests that share the cluster's engines one at a time); without it,
/// `cargo test` runs the binaries one after another.
fn native_tests(root: &std::path::Path, env: &[(&str, &str)]) -> Result<()> {
    let everything = [
        "--workspace",
        "--exclude",
        "hearth-pwa",
        "--exclude",
        "hearth-extras",
        "--exclude",
        "hearth-share-page",
        // The fuzz targets: the lints check them; cargo-fuzz builds them.
        "--exclude",
        "hearth-shared-fuzz",
        "--no-fail-fast",
    ];
    if cmd::output("cargo", &["nextest", "--version"]).is_some() {
        cmd::cargo(root, &[&["nextest", "run"][..], &everything].concat(), env)
    } else {
        eprintln!("cargo-nextest is not installed: the test binaries run one after another");
        cmd::cargo(root, &[&["test"][..], &everything].concat(), env)
    }
}

/// `cargo build --release -p hearth --bin hearth`.
pub fn build_release_hearth(root: &std::path::Path) -> Result<()> {
    cmd::cargo(
        root,
        &[
            "build",
            "--release",
            "--package",
            "hearth",
            "--bin",
            "hearth",
        ],
        &[],
    )
}

fn wasm_tests(root: &std::path::Path, browser_env: &[(&str, &str)]) -> Result<()> {
    cmd::step("wasm tests in headless Chromium");
    // The browser reaches the runner's server through the proxy (see
    // `proxy` for why), with the same flags as the end-to-end tests' one.
    let proxy = proxy::start()?;
    let webdriver_json = root.join("target/wasm-tests-webdriver.json");
    let capabilities = serde_json::json!({
        "goog:chromeOptions": {
            "args": [
                format!("--proxy-server=http://{proxy}"),
                // Loopback goes through the proxy too.
                "--proxy-bypass-list=<-loopback>",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ]
        }
    });
    std::fs::write(&webdriver_json, serde_json::to_vec_pretty(&capabilities)?)?;
    let webdriver_json = webdriver_json.to_string_lossy().into_owned();
    let wasm_env: Vec<(&str, &str)> = browser_env
        .iter()
        .copied()
        .chain([("WASM_BINDGEN_TEST_WEBDRIVER_JSON", webdriver_json.as_str())])
        .collect();
    // Built already ([`build_wasm_tests`]), so that the deadline covers
    // only the browser runs.
    let args = wasm_test_args();
    cmd::cargo_with_deadline(root, &args, &wasm_env, WASM_TESTS_DEADLINE)?;
    Ok(())
}

/// `cargo test` for wasm32 of every package with wasm tests: all in one
/// cargo run, so that their dependencies are built once (with one set of
/// features).
fn wasm_test_args() -> Vec<&'static str> {
    let mut args = vec!["test", "--target", "wasm32-unknown-unknown"];
    for package in tools::WASM_TEST_PACKAGES {
        args.extend(["--package", package]);
    }
    args
}

/// Builds the wasm tests without running them, with the environment their
/// run has (`CARGO_PROFILE_DEV_DEBUG` decides what is built).
fn build_wasm_tests(root: &std::path::Path) -> Result<()> {
    let args = wasm_test_args();
    cmd::cargo(root, &[&args[..], &["--no-run"]].concat(), &[NO_DEBUG_INFO])
}

/// Fails if the server's normal (non-test) dependencies include the sync
/// engine or the record cipher: `hearth` stores opaque bytes and must never
/// link Loro, zstd or AES-GCM.
fn server_links_no_engine(root: &std::path::Path) -> Result<()> {
    let out = std::process::Command::new("cargo")
        .current_dir(root)
        .args([
            "tree",
            "--package",
            "hearth",
            "--edges",
            "normal",
            "--prefix",
            "none",
        ])
        .output()
        .context("running cargo tree")?;
    if !out.status.success() {
        bail!(
            "cargo tree failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let tree = String::from_utf8_lossy(&out.stdout);
    let found: Vec<&str> = tree
        .lines()
        .filter(|l| {
            let name = l.split_whitespace().next().unwrap_or("");
            name == "loro"
                || name.starts_with("loro-")
                || name == "zstd"
                || name.starts_with("zstd-")
                // The server never holds a workspace key.
                || name == "aes-gcm"
        })
        .collect();
    if !found.is_empty() {
        bail!(
            "the server links the sync engine or the record cipher, which it must never do: {found:?}"
        );
    }
    Ok(())
}

/// `cargo xtask engines [-- COMMAND…]`: starts the engines, checks them,
/// prints their environment, runs COMMAND in it if given, and stops them
/// (a check of this machine, or a way to run a few cluster tests).
fn try_engines(root: &std::path::Path, rest: &[String]) -> Result<()> {
    cmd::step("PostgreSQL and a three-node Garage cluster on loopback");
    let started = std::time::Instant::now();
    let engines = engines::Engines::start(root, engines::Lifetime::Owned)?;
    eprintln!("both ready in {:.1?}", started.elapsed());
    for (key, value) in engines.env() {
        println!("{key}={value}");
    }
    cmd::step("checking them (pg_isready; garage bucket info on every node)");
    println!("{}", engines.postgres.check()?.trim());
    println!("{}", engines.garage.check()?.trim());
    let command: Vec<&String> = rest.iter().skip_while(|a| *a == "--").collect();
    let outcome = match command.split_first() {
        Some((program, args)) => {
            cmd::step("the command, with their environment");
            cmd::run(
                std::process::Command::new(program)
                    .args(args)
                    .envs(engines.env()),
            )
        }
        None => Ok(()),
    };
    cmd::step("stopping them");
    drop(engines);
    outcome
}

/// The benchmarks, in the order BENCHMARKS.md lists them.
const BENCHES: &[&str] = &["load", "latency", "memory", "files", "pwa"];

fn bench(root: &std::path::Path) -> Result<()> {
    tools::setup(root, tools::Needs::All)?;
    tools::start_garage_build(root)?;
    dist::build(root, None)?;
    let chromedriver = tools::chromedriver()?;
    let env = [
        ("CHROMEDRIVER", chromedriver.as_str()),
        ("HEARTH_CHROMIUM", tools::CHROMIUM),
    ];
    for name in BENCHES {
        cmd::step(&format!("benchmark: {name}"));
        cmd::cargo(
            root,
            &["bench", "--package", "hearth", "--bench", name],
            &env,
        )?;
    }
    cmd::step("benchmark: cluster (PostgreSQL and three Garage nodes on loopback)");
    {
        let engines = engines::Engines::start(root, engines::Lifetime::Owned)?;
        let engines_env = engines.env();
        let mut env: Vec<(&str, &str)> =
            engines_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        // The nodes' request log would bury the figures.
        env.push(("RUST_LOG", "warn"));
        cmd::cargo(
            root,
            &["bench", "--package", "hearth", "--bench", "cluster"],
            &env,
        )?;
    }
    // Bytes per edit are exact, not timed: the test that checks them prints them.
    cmd::step("bytes moved by a one-character edit");
    cmd::cargo(
        root,
        &[
            "test",
            "--release",
            "--package",
            "hearth",
            "--test",
            "device_bytes",
            "--",
            "--nocapture",
        ],
        &env,
    )?;
    Ok(())
}
