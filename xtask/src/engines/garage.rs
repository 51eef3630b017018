//! A three-node Garage cluster (S3-compatible object storage) on loopback,
//! every object on all three nodes (`replication_factor = 3`), with one
//! bucket, `hearth`, and one access key allowed everything on it.
//!
//! The nodes are set up with Garage's own CLI, which reaches a node over
//! its RPC port with the shared secret of its configuration file.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::{
    Lifetime, free_ports, http_status, log_tail, output, random_hex, try_output, wait_for,
};
use crate::tools;

/// Nodes in the cluster.
pub const NODES: usize = 3;
/// The tests' bucket.
pub const BUCKET: &str = "hearth";
/// The S3 region the nodes announce.
const REGION: &str = "garage";
/// How long a node waits for another's answer before it asks a third
/// (Garage's default is 5 minutes, for which a request would hang while a
/// fault test holds one node stopped).
const RPC_TIMEOUT_MS: u64 = 5_000;
/// How long the cluster may take to form and answer.
const READY: Duration = Duration::from_secs(120);

/// The `garage` binary: `$HEARTH_GARAGE`, else the one `cargo xtask
/// setup` installs.
pub fn binary(root: &Path) -> PathBuf {
    std::env::var_os("HEARTH_GARAGE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(tools::GARAGE_BIN))
}

struct Node {
    config: PathBuf,
    log: PathBuf,
    rpc_port: u16,
    s3_port: u16,
    child: Child,
}

/// A running Garage cluster.
pub struct Garage {
    dir: PathBuf,
    bin: PathBuf,
    nodes: Vec<Node>,
    key_id: String,
    secret: String,
    keep: bool,
}

impl Garage {
    /// Starts the nodes, connects them, lays the cluster out, creates the
    /// key and the bucket, and waits until every node serves S3.
    pub fn start(root: &Path, lifetime: Lifetime) -> Result<Garage> {
        let bin = binary(root);
        if !bin.exists() {
            bail!(
                "Garage is missing ({}); `cargo xtask setup` builds it (cargo install garage \
                 --version {} --locked --root target/tools/garage), or set HEARTH_GARAGE to a \
                 garage binary",
                bin.display(),
                tools::GARAGE_VERSION
            );
        }
        let mut garage = Garage {
            dir: super::temp_dir("hearth-garage")?,
            bin,
            nodes: Vec::new(),
            // `GK` and 24 hex digits, like the keys Garage makes.
            key_id: format!("GK{}", random_hex(12)?),
            secret: random_hex(32)?,
            keep: false,
        };
        garage.spawn(lifetime)?;
        let ids = garage.connect()?;
        garage.lay_out(&ids)?;
        garage.make_bucket()?;
        garage.wait_serving()?;
        Ok(garage)
    }

    /// Writes each node's configuration and starts it.
    fn spawn(&mut self, lifetime: Lifetime) -> Result<()> {
        let rpc_secret = random_hex(32)?;
        let admin_token = random_hex(32)?;
        let ports = free_ports(3 * NODES)?;
        for (n, ports) in (1..=NODES).zip(ports.chunks(3)) {
            let &[rpc_port, s3_port, admin_port] = ports else {
                bail!("free_ports gave {ports:?}");
            };
            let node_dir = self.dir.join(format!("n{n}"));
            let config = format!(
                "metadata_dir = \"{meta}\"\n\
                 data_dir = \"{data}\"\n\
                 db_engine = \"sqlite\"\n\
                 replication_factor = {NODES}\n\
                 rpc_bind_addr = \"127.0.0.1:{rpc_port}\"\n\
                 rpc_public_addr = \"127.0.0.1:{rpc_port}\"\n\
                 rpc_secret = \"{rpc_secret}\"\n\
                 rpc_timeout_msec = {RPC_TIMEOUT_MS}\n\
                 \n\
                 [s3_api]\n\
                 s3_region = \"{REGION}\"\n\
                 api_bind_addr = \"127.0.0.1:{s3_port}\"\n\
                 root_domain = \".s3.garage.localhost\"\n\
                 \n\
                 [admin]\n\
                 api_bind_addr = \"127.0.0.1:{admin_port}\"\n\
                 admin_token = \"{admin_token}\"\n",
                meta = node_dir.join("meta").display(),
                data = node_dir.join("data").display(),
            );
            let config_path = self.dir.join(format!("n{n}.toml"));
            std::fs::write(&config_path, config)
                .with_context(|| format!("writing {}", config_path.display()))?;
            let log_path = self.dir.join(format!("n{n}.log"));
            let log = std::fs::File::create(&log_path)
                .with_context(|| format!("creating {}", log_path.display()))?;
            let mut command = Command::new(&self.bin);
            command
                .arg("-c")
                .arg(&config_path)
                .arg("server")
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log);
            if lifetime == Lifetime::Detached {
                std::os::unix::process::CommandExt::process_group(&mut command, 0);
            }
            let child = command
                .spawn()
                .with_context(|| format!("starting garage node {n}"))?;
            self.nodes.push(Node {
                config: config_path,
                log: log_path,
                rpc_port,
                s3_port,
                child,
            });
        }
        Ok(())
    }

    /// `garage -c CONFIG-OF-NODE-n ARGS…`.
    fn cli(&self, n: usize, args: &[&str]) -> Command {
        let mut command = Command::new(&self.bin);
        command.arg("-c").arg(&self.nodes[n].config).args(args);
        command
    }

    /// Fails if node `n` has ended (with the end of its log).
    fn still_running(&mut self, n: usize) -> Result<()> {
        let node = &mut self.nodes[n];
        if let Some(status) = node.child.try_wait()? {
            bail!(
                "garage node {} ended ({status}); {}",
                n + 1,
                log_tail(&node.log)
            );
        }
        Ok(())
    }

    /// Connects node 1 to the others; returns the nodes' ids.
    fn connect(&mut self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        for n in 0..NODES {
            // The node writes its key when it starts.
            let id = wait_for(&format!("garage node {} id", n + 1), READY, || {
                self.still_running(n)?;
                let out = try_output(&mut self.cli(n, &["node", "id", "-q"]))?;
                Ok(out.and_then(|out| parse_node_id(&out)))
            })?;
            ids.push(id);
        }
        for (n, id) in ids.iter().enumerate().skip(1) {
            let address = format!("{id}@127.0.0.1:{}", self.nodes[n].rpc_port);
            wait_for(&format!("connecting garage node {}", n + 1), READY, || {
                self.still_running(0)?;
                self.still_running(n)?;
                try_output(&mut self.cli(0, &["node", "connect", &address]))
            })?;
        }
        wait_for("garage nodes all up", READY, || {
            for n in 0..NODES {
                self.still_running(n)?;
            }
            let status = self.json_api(0, "GetClusterStatus")?;
            let up = status["nodes"].as_array().map_or(0, |nodes| {
                nodes.iter().filter(|n| n["isUp"] == true).count()
            });
            Ok(if up == NODES {
                Ok(())
            } else {
                Err(format!("{up} of {NODES} nodes up: {status}"))
            })
        })?;
        Ok(ids)
    }

    /// `garage json-api ENDPOINT` on node `n`, parsed.
    fn json_api(&self, n: usize, endpoint: &str) -> Result<serde_json::Value> {
        let out = output(&mut self.cli(n, &["json-api", endpoint]))?;
        serde_json::from_str(&out)
            .with_context(|| format!("garage json-api {endpoint} answered no JSON: {out}"))
    }

    /// Gives every node a role in zone `dc1` and applies the layout; waits
    /// until node 1 reaches all three for every partition.
    fn lay_out(&mut self, ids: &[String]) -> Result<()> {
        let mut assign = vec!["layout", "assign", "-z", "dc1", "-c", "1G"];
        assign.extend(ids.iter().map(String::as_str));
        output(&mut self.cli(0, &assign))?;
        output(&mut self.cli(0, &["layout", "apply", "--version", "1"]))?;
        wait_for("garage cluster healthy", READY, || {
            self.still_running(0)?;
            let health = self.json_api(0, "GetClusterHealth")?;
            let healthy = health["status"] == "healthy"
                && health["storageNodes"] == NODES
                && health["partitionsAllOk"] == health["partitions"];
            Ok(if healthy {
                Ok(())
            } else {
                Err(health.to_string())
            })
        })
    }

    /// Imports the key, creates the bucket and allows the key on it.
    fn make_bucket(&self) -> Result<()> {
        output(&mut self.cli(
            0,
            &[
                "key",
                "import",
                "--yes",
                "-n",
                "hearth-tests",
                &self.key_id,
                &self.secret,
            ],
        ))?;
        output(&mut self.cli(0, &["bucket", "create", BUCKET]))?;
        output(&mut self.cli(
            0,
            &[
                "bucket",
                "allow",
                "--read",
                "--write",
                "--owner",
                BUCKET,
                "--key",
                &self.key_id,
            ],
        ))?;
        Ok(())
    }

    /// Waits until every node knows the bucket and answers on its S3 port
    /// (an unsigned request: any HTTP answer will do).
    fn wait_serving(&mut self) -> Result<()> {
        for n in 0..NODES {
            wait_for(&format!("garage node {} serving S3", n + 1), READY, || {
                self.still_running(n)?;
                if let Err(why) = try_output(&mut self.cli(n, &["bucket", "info", BUCKET]))? {
                    return Ok(Err(why));
                }
                Ok(http_status(self.nodes[n].s3_port, &format!("/{BUCKET}")).map(|_| ()))
            })?;
        }
        Ok(())
    }

    fn endpoint(&self, n: usize) -> String {
        format!("http://127.0.0.1:{}", self.nodes[n].s3_port)
    }

    /// The pids of the nodes, in order.
    pub fn pids(&self) -> Vec<u32> {
        self.nodes.iter().map(|n| n.child.id()).collect()
    }

    /// The store as `--objects` names it: every node's S3 endpoint, so a
    /// client goes on through another when one is down.
    pub fn objects_url(&self) -> String {
        let endpoints: Vec<String> = (0..NODES).map(|i| self.endpoint(i)).collect();
        format!(
            "s3://{BUCKET}?endpoint={}&region={REGION}",
            endpoints.join(",")
        )
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        let join = |items: Vec<String>| items.join(",");
        vec![
            ("HEARTH_TEST_OBJECTS", self.objects_url()),
            (
                "HEARTH_TEST_OBJECTS_ENDPOINTS",
                join((0..NODES).map(|n| self.endpoint(n)).collect()),
            ),
            ("HEARTH_OBJECTS_KEY_ID", self.key_id.clone()),
            ("HEARTH_OBJECTS_SECRET", self.secret.clone()),
            (
                "HEARTH_TEST_GARAGE_PIDS",
                join(self.pids().iter().map(u32::to_string).collect()),
            ),
        ]
    }

    /// Checks that every node sees the bucket, by `garage bucket info`;
    /// returns node 1's answer.
    pub fn check(&self) -> Result<String> {
        let mut first = String::new();
        for n in 0..NODES {
            let out = output(&mut self.cli(n, &["bucket", "info", BUCKET]))
                .with_context(|| format!("garage node {}", n + 1))?;
            if n == 0 {
                first = out;
            }
        }
        Ok(first)
    }

    /// Leaves the nodes running; returns what [`stop_detached`] needs.
    pub fn leave_running(mut self) -> serde_json::Value {
        self.keep = true;
        serde_json::json!({ "dir": self.dir, "pids": self.pids() })
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        // Its data goes too: no need for a clean shutdown. SIGKILL also
        // ends a node that a test stopped (SIGSTOP).
        for node in &mut self.nodes {
            let _ = node.child.kill();
            let _ = node.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Stops what [`Garage::leave_running`] left running and removes its
/// folder; says what it stopped.
pub fn stop_detached(state: &serde_json::Value) -> Result<()> {
    let pids = state["pids"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (n, pid) in pids.iter().enumerate() {
        let Some(pid) = pid.as_u64().and_then(|p| u32::try_from(p).ok()) else {
            continue;
        };
        // Its data goes too: no need to wait for a clean shutdown.
        if super::stop_group(pid, Duration::ZERO) {
            eprintln!("stopped garage node {} (pid {pid})", n + 1);
        }
    }
    let dir = state["dir"]
        .as_str()
        .context("state.json: garage.dir is missing")?;
    super::remove_dir(Path::new(dir))
}

/// The node id in `garage node id -q`'s `ID@ADDRESS`.
fn parse_node_id(out: &str) -> Result<String, String> {
    let line = out.trim();
    match line.split_once('@') {
        Some((id, _)) if id.len() == 64 && id.chars().all(|c| c.is_ascii_hexdigit()) => {
            Ok(id.to_owned())
        }
        _ => Err(format!(
            "`garage node id -q` printed {line:?}, not ID@ADDRESS"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_id_is_read_from_id_at_address() {
        let id = "a".repeat(64);
        assert_eq!(
            parse_node_id(&format!("{id}@127.0.0.1:3901\n")),
            Ok(id.clone())
        );
        assert!(parse_node_id("error: no key").is_err());
        assert!(parse_node_id(&format!("{}@x", &id[..10])).is_err());
    }
}
