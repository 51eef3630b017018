//! `cargo xtask deb`: the Debian package of `hearth`, made with
//! `dpkg-deb` (Debian's own, always on a Debian machine) from a binary and
//! the files of `server/packaging`:
//!
//! - `/usr/bin/hearth`, with the app embedded;
//! - `/lib/systemd/system/hearth.service`, the hardened unit;
//! - a system user and group `hearth` and its owner-only state directory
//!   `/var/lib/hearth`, made by the package's `postinst`; where systemd
//!   runs, the unit is enabled and started (restarted on an upgrade);
//! - nothing is deleted on removal or purge: the data directory and the
//!   user stay, since a person's notes must never go with a package.
//!
//! [`check`] is the test `cargo xtask test` runs: the package installs,
//! the unit's own command line serves as the unit's user, and the package
//! removes cleanly leaving the data.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::cmd;

const UNIT: &str = "server/packaging/hearth.service";
const MAINTAINER_SCRIPTS: &[&str] = &["postinst", "prerm", "postrm"];

/// Builds `hearth_VERSION_ARCH.deb` in `out` from `binary`.
pub fn build(root: &Path, binary: &Path, out: &Path) -> Result<PathBuf> {
    // xtask's version is the workspace's, as is `hearth`'s.
    let version = env!("CARGO_PKG_VERSION");
    let arch = cmd::output("dpkg", &["--print-architecture"])
        .map(|a| a.trim().to_owned())
        .context("dpkg --print-architecture: `cargo xtask deb` needs a Debian machine")?;
    let stage = out.join(format!("hearth_{version}_{arch}"));
    if stage.exists() {
        std::fs::remove_dir_all(&stage)?;
    }
    let bin = stage.join("usr/bin/hearth");
    let unit = stage.join("lib/systemd/system/hearth.service");
    let doc = stage.join("usr/share/doc/hearth");
    let control = stage.join("DEBIAN");
    for dir in [
        bin.parent(),
        unit.parent(),
        Some(doc.as_path()),
        Some(&control),
    ]
    .into_iter()
    .flatten()
    {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::copy(binary, &bin).with_context(|| format!("copying {}", binary.display()))?;
    set_mode(&bin, 0o755)?;
    std::fs::copy(root.join(UNIT), &unit)?;
    set_mode(&unit, 0o644)?;
    std::fs::write(doc.join("copyright"), COPYRIGHT)?;
    set_mode(&doc.join("copyright"), 0o644)?;
    let installed_kib = std::fs::metadata(&bin)?.len().div_ceil(1024) + 64;
    std::fs::write(
        control.join("control"),
        format!(
            "Package: hearth\n\
             Version: {version}\n\
             Architecture: {arch}\n\
             Maintainer: Hearth developers <hearth@localhost>\n\
             Installed-Size: {installed_kib}\n\
             Depends: libc6 (>= 2.34), passwd\n\
             Section: net\n\
             Priority: optional\n\
             Description: home server of Hearth, local-first notes in sync\n \
             Keeps each workspace's encrypted updates for a person's devices,\n \
             serves the installable app, takes backups. Runs as its own user\n \
             with its data in /var/lib/hearth (see hearth.service).\n"
        ),
    )?;
    for script in MAINTAINER_SCRIPTS {
        let from = root.join("server/packaging/deb").join(script);
        let to = control.join(script);
        std::fs::copy(&from, &to).with_context(|| format!("copying {}", from.display()))?;
        set_mode(&to, 0o755)?;
    }
    let deb = out.join(format!("hearth_{version}_{arch}.deb"));
    cmd::run(
        Command::new("dpkg-deb")
            .args(["--root-owner-group", "-Zgzip", "--build"])
            .arg(&stage)
            .arg(&deb),
    )?;
    std::fs::remove_dir_all(&stage)?;
    Ok(deb)
}

const COPYRIGHT: &str = "Hearth\n\
License: MIT OR Apache-2.0\n\
The hearth binary embeds its Rust dependencies, each under its own license.\n";

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// Installs the package made from `binary`, runs the unit's command line
/// as the unit's user until it answers `/v1/health`, stops it with
/// SIGTERM, and purges the package: the binary and unit go, the data
/// directory and the user stay.
pub fn check(root: &Path, binary: &Path) -> Result<()> {
    let deb = build(root, binary, &root.join("target/deb-check"))?;
    cmd::run(Command::new("dpkg").arg("--install").arg(&deb))?;
    let outcome = serve_as_the_unit(root);
    cmd::run(Command::new("dpkg").args(["--purge", "hearth"]))?;
    outcome?;
    if Path::new("/usr/bin/hearth").exists()
        || Path::new("/lib/systemd/system/hearth.service").exists()
    {
        bail!("purging the package left /usr/bin/hearth or its unit behind");
    }
    if !Path::new("/var/lib/hearth").is_dir() {
        bail!("purging the package deleted the data directory /var/lib/hearth");
    }
    eprintln!("the package installed, served as the user hearth, and purged leaving the data");
    Ok(())
}

fn serve_as_the_unit(root: &Path) -> Result<()> {
    let passwd = cmd::output("getent", &["passwd", "hearth"])
        .context("the package made no user `hearth`")?;
    if !passwd.contains(":/var/lib/hearth:") {
        bail!("the user hearth's home is not /var/lib/hearth: {passwd}");
    }
    let state = std::fs::metadata("/var/lib/hearth").context("no /var/lib/hearth")?;
    {
        use std::os::unix::fs::MetadataExt as _;
        if state.mode() & 0o077 != 0 {
            bail!(
                "/var/lib/hearth is open to others (mode {:o})",
                state.mode() & 0o777
            );
        }
    }
    let unit = std::fs::read_to_string("/lib/systemd/system/hearth.service")
        .context("the package installed no unit")?;
    if unit != std::fs::read_to_string(root.join(UNIT))? {
        bail!("the installed unit differs from {UNIT}");
    }
    if Path::new("/run/systemd/system").is_dir() {
        // systemd runs here: the package started the unit itself.
        let active = cmd::output("systemctl", &["is-active", "hearth.service"]);
        if active.as_deref().map(str::trim) != Some("active") {
            bail!("systemd runs, but hearth.service is not active after the install");
        }
        return Ok(());
    }
    // No systemd here: the unit's command line, as its user, on a free port.
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .context("the unit has no ExecStart")?;
    let mut args: Vec<&str> = exec.split_whitespace().collect();
    if let Some(value) = args
        .iter()
        .position(|a| *a == "--listen")
        .and_then(|at| args.get_mut(at + 1))
    {
        *value = "127.0.0.1:0";
    }
    // setpriv becomes the unit's user and then is `hearth` (no process in
    // between to catch the SIGTERM below).
    let mut child = Command::new("setpriv")
        .args(["--reuid=hearth", "--regid=hearth", "--init-groups", "--"])
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("setpriv --reuid=hearth … /usr/bin/hearth serve …")?;
    let answered = first_line(&mut child).and_then(|line| {
        let addr = line
            .trim()
            .strip_prefix("hearth listening on http://")
            .with_context(|| format!("hearth printed {line:?} first"))?
            .to_owned();
        health(&addr)
    });
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait()?;
    answered?;
    if !status.success() {
        bail!("hearth, run as the unit, did not stop cleanly on SIGTERM: {status}");
    }
    Ok(())
}

fn first_line(child: &mut std::process::Child) -> Result<String> {
    let stdout = child.stdout.take().context("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    if line.is_empty() {
        bail!("hearth, run as the unit's user, exited before listening");
    }
    Ok(line)
}

/// `GET /v1/health` over plain HTTP/1.1: `200`.
fn health(addr: &str) -> Result<()> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(60)))?;
    write!(
        stream,
        "GET /v1/health HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    if !answer.starts_with("HTTP/1.1 200") {
        bail!(
            "hearth, run as the unit's user, answered /v1/health with {:?}",
            answer.lines().next()
        );
    }
    Ok(())
}
