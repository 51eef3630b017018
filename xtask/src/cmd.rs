//! Running commands, loudly: every command is printed before it runs, and a
//! failure names the command.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Prints a step banner.
pub fn step(what: &str) {
    eprintln!("\n==> {what}");
}

/// Runs a command to completion, failing if it fails.
pub fn run(command: &mut Command) -> Result<()> {
    eprintln!("$ {}", describe(command));
    let status = command
        .status()
        .with_context(|| format!("could not start {}", describe(command)))?;
    if !status.success() {
        bail!("{} failed with {status}", describe(command));
    }
    Ok(())
}

/// Runs a command and returns its standard output, or `None` if it cannot
/// be started or fails.
pub fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs cargo (the one that runs xtask) in the workspace root.
pub fn cargo(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command.current_dir(root).args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    run(&mut command)
}

fn describe(command: &Command) -> String {
    let mut s = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}
