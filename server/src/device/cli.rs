//! The `hearth-device` command line.

/// Runs the command line.
pub fn main() -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
