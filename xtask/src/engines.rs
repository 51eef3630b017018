//! The engines the cluster tests run against, on loopback: Debian's
//! PostgreSQL ([`postgres`]) and a three-node Garage cluster, Garage being
//! S3-compatible ([`garage`]).
//!
//! [`Engines::start`] starts both (side by side) and returns once each
//! answers; [`Engines::env`] is what the tests read. Dropping [`Engines`]
//! stops every process it started and removes its folders;
//! [`Engines::leave_running`] instead leaves them running for
//! `cargo xtask cluster up`, which [`crate::cluster`] stops later.
//!
//! Every wait is on an event (a command that succeeds, a port that
//! answers) with a deadline, never a fixed sleep. Signals go through
//! `kill(1)`: the workspace forbids `unsafe`, so no `libc`.

pub mod garage;
pub mod postgres;

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

pub use garage::Garage;
pub use postgres::{Postgres, bin_dir as postgres_bin_dir};

/// Whether the processes belong to this run of xtask or outlive it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// In xtask's process group (Ctrl-C reaches them), stopped on drop.
    Owned,
    /// Each in a process group of its own, for `cargo xtask cluster up`.
    Detached,
}

/// The running engines.
pub struct Engines {
    pub postgres: Postgres,
    pub garage: Garage,
}

impl Engines {
    /// Starts PostgreSQL and the Garage cluster side by side; returns once
    /// both answer. On failure, whatever was started is stopped.
    pub fn start(root: &Path, lifetime: Lifetime) -> Result<Engines> {
        crate::tools::garage_ready(root)?;
        let (postgres, garage) = std::thread::scope(|scope| {
            let postgres = scope.spawn(|| timed("PostgreSQL", || Postgres::start(lifetime)));
            let garage = timed("Garage (3 nodes)", || Garage::start(root, lifetime));
            let postgres = postgres
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("the PostgreSQL start panicked")));
            (postgres, garage)
        });
        // A failure of either drops (stops) the other.
        Ok(Engines {
            postgres: postgres?,
            garage: garage?,
        })
    }

    /// The environment the tests read.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = self.postgres.env();
        env.extend(self.garage.env());
        env
    }

    /// Leaves every process running and every folder in place, and returns
    /// what `cargo xtask cluster down` needs to stop them.
    pub fn leave_running(self) -> serde_json::Value {
        serde_json::json!({
            "postgres": self.postgres.leave_running(),
            "garage": self.garage.leave_running(),
        })
    }
}

/// Runs `start`, then says how long it took.
fn timed<T>(what: &str, start: impl FnOnce() -> Result<T>) -> Result<T> {
    let began = Instant::now();
    let started = start()?;
    eprintln!("{what} ready in {:.1?}", began.elapsed());
    Ok(started)
}

/// `n` distinct free ports on 127.0.0.1: each is bound to port 0, read,
/// and released only once all are chosen (another program may still take
/// one before it is used; the start then fails and says so).
pub fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0 for a free port"))
        .collect::<Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

/// `bytes` random bytes from the kernel, as lowercase hex.
pub fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .context("reading /dev/urandom")?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// A new, empty folder under /tmp whose name starts with `prefix` (not
/// `$TMPDIR`: the `postgres` user must reach it).
pub fn temp_dir(prefix: &str) -> Result<PathBuf> {
    let dir = Path::new("/tmp").join(format!("{prefix}-{}", random_hex(6)?));
    std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Calls `ready` until it answers `Some`, failing after `deadline` with
/// `what` and the last reason `ready` gave for not being ready. An `Err`
/// from `ready` ends the wait at once (a process that died).
pub fn wait_for<T>(
    what: &str,
    deadline: Duration,
    mut ready: impl FnMut() -> Result<Result<T, String>>,
) -> Result<T> {
    let started = Instant::now();
    loop {
        let why = match ready()? {
            Ok(value) => return Ok(value),
            Err(why) => why,
        };
        if started.elapsed() > deadline {
            bail!("{what}: not ready after {deadline:?}; last: {why}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs a command to completion and returns its standard output; a
/// failure names the command and shows its standard error.
pub fn output(command: &mut Command) -> Result<String> {
    match try_output(command)? {
        Ok(out) => Ok(out),
        Err(why) => bail!("{why}"),
    }
}

/// Like [`output`], but a command that ran and failed is `Ok(Err(why))`
/// (for polling); only one that cannot be started is an `Err`.
pub fn try_output(command: &mut Command) -> Result<Result<String, String>> {
    let out = command
        .output()
        .with_context(|| format!("could not start {}", describe(command)))?;
    if out.status.success() {
        return Ok(Ok(String::from_utf8_lossy(&out.stdout).into_owned()));
    }
    Ok(Err(format!(
        "{} failed with {}: {}{}",
        describe(command),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim(),
        String::from_utf8_lossy(&out.stdout).trim(),
    )))
}

fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether process `pid` runs (a zombie does not: this machine's init may
/// never reap an orphan).
pub fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // `pid (comm) state …`; comm may hold spaces and parentheses.
    let state = stat
        .rfind(')')
        .and_then(|at| stat[at + 1..].split_whitespace().next());
    !matches!(state, None | Some("Z" | "X"))
}

/// Sends `signal` (`TERM`, `INT`, `KILL`…) to `target`: a pid, or `-PGID`
/// for a whole process group. A process already gone is not an error.
pub fn signal(target: &str, signal: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), "--", target])
        .stderr(std::process::Stdio::null())
        .status();
}

/// Stops `pid`'s process group: `TERM`, then `KILL` if the leader still
/// runs after `grace`, then waits (a little) until the leader is gone.
/// Returns whether it was running.
pub fn stop_group(pid: u32, grace: Duration) -> bool {
    if !alive(pid) {
        return false;
    }
    let group = format!("-{pid}");
    // A stopped process (a fault test's SIGSTOP) must go on to see the TERM.
    signal(&group, "CONT");
    signal(&group, "TERM");
    let gone_within = |limit: Duration| {
        let started = Instant::now();
        while alive(pid) {
            if started.elapsed() > limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    };
    if !gone_within(grace) {
        signal(&group, "KILL");
        gone_within(Duration::from_secs(5));
    }
    true
}

/// Removes `dir` and says so; one already gone is no error.
pub fn remove_dir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {
            eprintln!("removed {}", dir.display());
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", dir.display())),
    }
}

/// The last lines of a log file, for an error message.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(20)..].join("\n");
    format!("last lines of {}:\n{tail}", path.display())
}

/// Whether something answers HTTP on `127.0.0.1:port`: the status code of
/// `GET path`, or why there is none.
pub fn http_status(port: u16, path: &str) -> Result<u16, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    let timeout = Some(Duration::from_secs(5));
    stream
        .set_read_timeout(timeout)
        .and_then(|()| stream.set_write_timeout(timeout))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).map_err(|e| e.to_string())?;
    // `HTTP/1.1 200`
    std::str::from_utf8(&head[9..12])
        .ok()
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {:?}", String::from_utf8_lossy(&head)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct() {
        let ports = free_ports(10).unwrap();
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 10);
    }

    #[test]
    fn this_process_is_alive_and_a_made_up_one_is_not() {
        assert!(alive(std::process::id()));
        assert!(!alive(u32::MAX));
    }

    #[test]
    fn random_hex_has_the_length_asked() {
        let hex = random_hex(32).unwrap();
        assert_eq!(hex.len(), 64);
        assert!(hex.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
