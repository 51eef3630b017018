//! Debian's PostgreSQL, in a throwaway cluster under /tmp.
//!
//! `initdb` and `postgres` refuse to run as root, so under root both run
//! as the `postgres` user through `runuser`, in a folder that user owns
//! (under another user, as that user). The
//! folder also holds the server's socket, its log and `ctl`, the script a
//! test runs to restart (or stop, or start) it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::{Lifetime, free_ports, log_tail, output, temp_dir, try_output, wait_for};

/// How long the server may take to accept connections.
const READY: Duration = Duration::from_secs(60);
/// How long a fast shutdown may take before the server is killed.
const SHUTDOWN: Duration = Duration::from_secs(30);

/// The server's settings beyond the defaults: the tests open many
/// connections at once, and need no protection against a crash of the
/// machine (a crash of PostgreSQL itself loses nothing without `fsync`).
const SETTINGS: &str = "-c fsync=off -c max_connections=200";

/// The highest `/usr/lib/postgresql/*/bin` that holds a `postgres`.
pub fn bin_dir() -> Option<PathBuf> {
    let versions = std::fs::read_dir("/usr/lib/postgresql").ok()?;
    versions
        .flatten()
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").exists().then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version)
        .map(|(_, bin)| bin)
}

/// A running PostgreSQL server.
pub struct Postgres {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    /// `runuser … postgres` (or, not as root, `postgres`): the first
    /// postmaster's parent (or itself). A restart through `ctl` starts a
    /// postmaster of its own, through `pg_ctl`.
    runuser: Option<Child>,
    keep: bool,
}

impl Postgres {
    /// Creates a database cluster, starts its server and waits until it
    /// accepts connections.
    pub fn start(lifetime: Lifetime) -> Result<Postgres> {
        let Some(bin) = bin_dir() else {
            bail!(
                "PostgreSQL is missing (no /usr/lib/postgresql/*/bin/postgres); \
                 `cargo xtask setup` installs it, or: sudo apt-get install -y postgresql"
            )
        };
        let mut postgres = Postgres {
            dir: temp_dir("hearth-pg")?,
            bin,
            port: 0,
            runuser: None,
            keep: false,
        };
        postgres.init()?;
        postgres.port = free_ports(1)?[0];
        postgres.write_ctl()?;
        postgres.spawn(lifetime)?;
        postgres.wait_ready()?;
        Ok(postgres)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn init(&self) -> Result<()> {
        if is_root() {
            output(
                Command::new("chown")
                    .arg("postgres:postgres")
                    .arg(&self.dir),
            )
            .context("giving the PostgreSQL folder to the `postgres` user")?;
        }
        output(
            as_postgres(&self.bin.join("initdb"))
                .arg("-D")
                .arg(self.data())
                .args(["-A", "trust", "-U", "postgres", "-E", "UTF8"])
                .args(["--locale=C", "--no-sync"]),
        )
        .context("creating the PostgreSQL cluster")?;
        Ok(())
    }

    /// What follows `postgres -D DATA` (and `pg_ctl -o`).
    fn options(&self) -> String {
        format!(
            "-k {} -c listen_addresses=127.0.0.1 -p {} {SETTINGS}",
            self.dir.display(),
            self.port
        )
    }

    fn log(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    fn spawn(&mut self, lifetime: Lifetime) -> Result<()> {
        let log = std::fs::File::create(self.log())
            .with_context(|| format!("creating {}", self.log().display()))?;
        let mut command = as_postgres(&self.bin.join("postgres"));
        command
            .arg("-D")
            .arg(self.data())
            .args(self.options().split_whitespace())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if lifetime == Lifetime::Detached {
            std::os::unix::process::CommandExt::process_group(&mut command, 0);
        }
        let child = command.spawn().context("starting postgres")?;
        self.runuser = Some(child);
        Ok(())
    }

    fn wait_ready(&mut self) -> Result<()> {
        let isready = self.bin.join("pg_isready");
        let port = self.port.to_string();
        let log = self.log();
        let runuser = &mut self.runuser;
        wait_for("PostgreSQL (pg_isready)", READY, || {
            if let Some(status) = runuser.as_mut().and_then(|c| c.try_wait().transpose()) {
                bail!(
                    "postgres ended ({}) before it was ready",
                    status.map_or_else(|e| e.to_string(), |s| s.to_string()),
                );
            }
            try_output(Command::new(&isready).args(["-h", "127.0.0.1", "-p", &port]))
        })
        .with_context(|| log_tail(&log))?;
        Ok(())
    }

    /// Writes `ctl`: `ctl [restart|stop|start|pid]` (restart by default).
    fn write_ctl(&self) -> Result<()> {
        let pg_ctl = self.bin.join("pg_ctl");
        let script = format!(
            "#!/bin/sh\n\
             # The tests' PostgreSQL: restart (the default), stop, start, or print the postmaster's pid.\n\
             set -e\n\
             case \"${{1:-restart}}\" in\n\
             \x20 restart|stop|start) exec {runuser}{pg_ctl} -D {data} -l {dir}/pg_ctl.log -m fast -w -o '{options}' \"${{1:-restart}}\" ;;\n\
             \x20 pid) head -n 1 {data}/postmaster.pid ;;\n\
             \x20 *) echo \"usage: $0 [restart|stop|start|pid]\" >&2; exit 2 ;;\n\
             esac\n",
            runuser = if is_root() {
                "runuser -u postgres -- "
            } else {
                ""
            },
            pg_ctl = pg_ctl.display(),
            data = self.data().display(),
            dir = self.dir.display(),
            options = self.options(),
        );
        let path = self.ctl();
        std::fs::write(&path, script).with_context(|| format!("writing {}", path.display()))?;
        let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
        std::fs::set_permissions(&path, mode)
            .with_context(|| format!("making {} executable", path.display()))
    }

    fn ctl(&self) -> PathBuf {
        self.dir.join("ctl")
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The postmaster's pid (a restart changes it).
    pub fn pid(&self) -> Result<u32> {
        postmaster_pid(&self.data())
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("HEARTH_TEST_DATABASE", self.url()),
            (
                "HEARTH_TEST_POSTGRES_CTL",
                self.ctl().to_string_lossy().into_owned(),
            ),
        ];
        match self.pid() {
            Ok(pid) => env.push(("HEARTH_TEST_POSTGRES_PID", pid.to_string())),
            Err(e) => eprintln!("note: HEARTH_TEST_POSTGRES_PID is not set: {e:#}"),
        }
        env
    }

    /// Checks that the server accepts connections, by `pg_isready`.
    pub fn check(&self) -> Result<String> {
        output(Command::new(self.bin.join("pg_isready")).args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
        ]))
    }

    /// Leaves the server running; returns what [`stop_detached`] needs.
    pub fn leave_running(mut self) -> serde_json::Value {
        self.keep = true;
        serde_json::json!({
            "dir": self.dir,
            "runuser_pid": self.runuser.as_ref().map(Child::id),
        })
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        stop_postmaster(&self.data());
        if let Some(mut runuser) = self.runuser.take() {
            // It ends with its postmaster; a restart has already ended it.
            let _ = runuser.kill();
            let _ = runuser.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Stops what [`Postgres::leave_running`] left running and removes its
/// folder; says what it stopped.
pub fn stop_detached(state: &serde_json::Value) -> Result<()> {
    let dir = state["dir"]
        .as_str()
        .context("state.json: postgres.dir is missing")?;
    let dir = Path::new(dir);
    if let Some(pid) = stop_postmaster(&dir.join("data")) {
        eprintln!("stopped PostgreSQL (postmaster pid {pid})");
    }
    if let Some(pid) = state["runuser_pid"]
        .as_u64()
        .and_then(|p| u32::try_from(p).ok())
    {
        super::stop_group(pid, Duration::from_secs(5));
    }
    super::remove_dir(dir)
}

fn postmaster_pid(data: &Path) -> Result<u32> {
    let path = data.join("postmaster.pid");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let first = text.lines().next().unwrap_or_default().trim();
    first
        .parse()
        .with_context(|| format!("{}: the first line is not a pid: {first:?}", path.display()))
}

/// Stops the postmaster of `data`, if one runs: a fast shutdown (SIGINT),
/// then SIGKILL if it takes too long. Returns its pid.
fn stop_postmaster(data: &Path) -> Option<u32> {
    let pid = postmaster_pid(data).ok()?;
    if !super::alive(pid) {
        return None;
    }
    super::signal(&pid.to_string(), "INT");
    let started = Instant::now();
    while super::alive(pid) {
        if started.elapsed() > SHUTDOWN {
            super::signal(&pid.to_string(), "KILL");
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(pid)
}

/// Whether xtask runs as root.
fn is_root() -> bool {
    crate::cmd::output("id", &["-u"]).is_some_and(|uid| uid.trim() == "0")
}

/// `program`, run as the `postgres` user if xtask runs as root.
fn as_postgres(program: &Path) -> Command {
    if !is_root() {
        return Command::new(program);
    }
    let mut command = Command::new("runuser");
    command.args(["-u", "postgres", "--"]).arg(program);
    command
}
