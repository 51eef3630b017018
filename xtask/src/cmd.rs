//! Running commands, loudly: every command is printed before it runs, and a
//! failure names the command.

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The steps begun so far, with when each began (for [`print_step_times`]).
static STEPS: std::sync::Mutex<Vec<(String, Instant)>> = std::sync::Mutex::new(Vec::new());

/// Prints a step banner and notes when the step began.
pub fn step(what: &str) {
    eprintln!("\n==> {what}");
    if let Ok(mut steps) = STEPS.lock() {
        steps.push((what.to_owned(), Instant::now()));
    }
}

/// Prints how long each step took (each ends where the next begins), and
/// the whole.
pub fn print_step_times(started: Instant) {
    let Ok(steps) = STEPS.lock() else { return };
    let now = Instant::now();
    eprintln!("\ntime per step:");
    for (i, (what, began)) in steps.iter().enumerate() {
        let ended = steps.get(i + 1).map_or(now, |(_, next)| *next);
        eprintln!("{:>8.1?}  {what}", ended.duration_since(*began));
    }
    eprintln!("{:>8.1?}  in all", now.duration_since(started));
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

/// Runs cargo like [`cargo`], but stops a run that takes longer than
/// `deadline` (with everything it started) and fails: a run that hangs
/// fails loudly instead of holding everything after it.
pub fn cargo_with_deadline(
    root: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    deadline: Duration,
) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command.current_dir(root).args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    run_with_deadline(command, deadline)
}

/// Runs `command` in a process group of its own; one that outlives
/// `deadline` is killed with its group.
fn run_with_deadline(mut command: Command, deadline: Duration) -> Result<()> {
    command.process_group(0);
    eprintln!("$ {}", describe(&command));
    let mut child = command
        .spawn()
        .with_context(|| format!("could not start {}", describe(&command)))?;
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            if status.success() {
                return Ok(());
            }
            bail!("{} failed with {status}", describe(&command));
        }
        if started.elapsed() > deadline {
            // The whole group: cargo, the runner, the driver, the browser.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            bail!(
                "{} did not finish within {deadline:?} and was stopped",
                describe(&command)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn describe(command: &Command) -> String {
    let mut s = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    #[test]
    fn a_run_that_hangs_is_stopped_and_fails() {
        let started = Instant::now();
        // A child of the child: the group kill reaches it too.
        let outcome = run_with_deadline(shell("sleep 30 & wait"), Duration::from_millis(300));
        assert!(outcome.is_err());
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn a_run_that_ends_is_its_outcome() {
        assert!(run_with_deadline(shell("true"), Duration::from_secs(30)).is_ok());
        assert!(run_with_deadline(shell("exit 3"), Duration::from_secs(30)).is_err());
    }
}
