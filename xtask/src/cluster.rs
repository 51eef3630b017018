//! `cargo xtask cluster up` and `cargo xtask cluster down`: the engines
//! ([`crate::engines`]) and two `hearth` nodes sharing them, left running
//! for work by hand and for the cluster tests run by hand (`up` prints
//! what to export).
//!
//! Every process `up` starts leads a process group of its own, so it
//! outlives xtask; `target/cluster/state.json` says what `down` stops and
//! removes. The nodes' logs stay in `target/cluster/`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::cmd;
use crate::engines::{self, Engines, Lifetime};

/// `hearth` nodes started by `up`.
const HEARTH_NODES: usize = 2;
/// How long a node may take to answer `GET /v1/health`.
const READY: Duration = Duration::from_secs(60);

/// Where the build's outputs go: `$CARGO_TARGET_DIR`, else `target/`.
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

fn cluster_dir(root: &Path) -> PathBuf {
    target_dir(root).join("cluster")
}

fn state_path(root: &Path) -> PathBuf {
    cluster_dir(root).join("state.json")
}

/// `cargo xtask cluster up|down`.
pub fn main(root: &Path, args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("up") => up(root),
        Some("down") => down(root),
        _ => bail!("usage: cargo xtask cluster up|down"),
    }
}

/// `hearth` nodes started so far; stopped on drop unless `up` succeeded.
struct Nodes {
    nodes: Vec<(Child, u16, PathBuf)>,
    keep: bool,
}

impl Drop for Nodes {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        for (child, _, dir) in &mut self.nodes {
            engines::stop_group(child.id(), Duration::from_secs(5));
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn up(root: &Path) -> Result<()> {
    let state = state_path(root);
    if state.exists() {
        bail!(
            "a cluster is already up ({}): `cargo xtask cluster down` first",
            state.display()
        );
    }
    cmd::step("the release `hearth` (cargo build --release -p hearth --bin hearth)");
    crate::build_release_hearth(root)?;
    let hearth = target_dir(root).join("release/hearth");
    let serve_help = engines::output(Command::new(&hearth).args(["serve", "--help"]))?;
    for flag in ["--database", "--objects"] {
        if !serve_help.contains(flag) {
            bail!(
                "`hearth serve` has no {flag} flag yet (its cluster mode is not built): \
                 nothing to start"
            );
        }
    }
    cmd::step("PostgreSQL and a three-node Garage cluster on loopback, left running");
    let engines = Engines::start(root, Lifetime::Detached)?;
    let env = engines.env();
    let database = engines.postgres.url();
    let objects = engines.garage.objects_url();

    cmd::step(&format!("{HEARTH_NODES} hearth nodes sharing them"));
    let dir = cluster_dir(root);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut nodes = Nodes {
        nodes: Vec::new(),
        keep: false,
    };
    let ports = engines::free_ports(HEARTH_NODES)?;
    for (n, port) in (1..=HEARTH_NODES).zip(ports) {
        let data = dir.join(format!("node{n}-data"));
        let log_path = dir.join(format!("node{n}.log"));
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let mut command = Command::new(&hearth);
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--database", &database, "--objects", &objects])
            .arg("--data-dir")
            .arg(&data)
            .envs(
                env.iter()
                    .filter(|(k, _)| k.starts_with("HEARTH_OBJECTS_"))
                    .map(|(k, v)| (k, v)),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command
            .spawn()
            .with_context(|| format!("starting hearth node {n}"))?;
        nodes.nodes.push((child, port, data));
        let (child, _, _) = nodes.nodes.last_mut().context("the node just started")?;
        engines::wait_for(&format!("hearth node {n} (GET /v1/health)"), READY, || {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "hearth node {n} ended ({status}); {}",
                    engines::log_tail(&log_path)
                );
            }
            Ok(match engines::http_status(port, "/v1/health") {
                Ok(200) => Ok(()),
                Ok(code) => Err(format!("GET /v1/health answered {code}")),
                Err(why) => Err(why),
            })
        })?;
    }

    let urls: Vec<String> = nodes
        .nodes
        .iter()
        .map(|(_, port, _)| format!("http://127.0.0.1:{port}"))
        .collect();
    let saved = serde_json::json!({
        "engines": engines.leave_running(),
        "hearth": nodes.nodes.iter().zip(&urls).map(|((child, _, data), url)| {
            serde_json::json!({ "pid": child.id(), "url": url, "data_dir": data })
        }).collect::<Vec<_>>(),
        "env": env.iter().map(|(k, v)| (k.to_string(), serde_json::Value::from(v.as_str()))).collect::<serde_json::Map<_, _>>(),
    });
    std::fs::write(&state, serde_json::to_vec_pretty(&saved)?)
        .with_context(|| format!("writing {}", state.display()))?;
    nodes.keep = true;

    println!();
    for (n, url) in urls.iter().enumerate() {
        println!("hearth node {}: {url}", n + 1);
    }
    println!("logs: {}", dir.display());
    println!("\nfor the cluster tests:");
    for (key, value) in &env {
        println!("export {key}='{value}'");
    }
    print_setup_code(&dir.join("node1.log"));
    println!("\nstop it all with: cargo xtask cluster down");
    Ok(())
}

/// Prints the setup code the first node printed when it started (any
/// node's code registers a workspace on the whole cluster).
fn print_setup_code(log: &Path) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    match text.lines().find_map(|l| l.strip_prefix("setup code: ")) {
        Some(line) => println!("\nsetup code: {line}"),
        None => eprintln!("\nnote: node 1 printed no setup code ({})", log.display()),
    }
}

fn down(root: &Path) -> Result<()> {
    let state_path = state_path(root);
    let text = match std::fs::read_to_string(&state_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("no cluster is up (no {})", state_path.display());
            return Ok(());
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", state_path.display())),
    };
    let state: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", state_path.display()))?;
    let mut failed = Vec::new();
    let nodes = state["hearth"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (n, node) in nodes.iter().enumerate() {
        if let Some(pid) = node["pid"].as_u64().and_then(|p| u32::try_from(p).ok())
            && engines::stop_group(pid, Duration::from_secs(10))
        {
            eprintln!("stopped hearth node {} (pid {pid})", n + 1);
        }
        if let Some(data) = node["data_dir"].as_str()
            && let Err(e) = engines::remove_dir(Path::new(data))
        {
            failed.push(format!("{e:#}"));
        }
    }
    let engines = &state["engines"];
    if let Err(e) = engines::garage::stop_detached(&engines["garage"]) {
        failed.push(format!("{e:#}"));
    }
    if let Err(e) = engines::postgres::stop_detached(&engines["postgres"]) {
        failed.push(format!("{e:#}"));
    }
    if !failed.is_empty() {
        bail!(
            "the cluster is down, but: {}; {} is kept",
            failed.join("; "),
            state_path.display()
        );
    }
    std::fs::remove_file(&state_path)
        .with_context(|| format!("removing {}", state_path.display()))?;
    eprintln!("the cluster is down");
    Ok(())
}
