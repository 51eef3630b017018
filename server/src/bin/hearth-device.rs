//! `hearth-device`: a native Hearth device on the command line (see
//! `hearth::device::cli`).

fn main() -> anyhow::Result<()> {
    hearth::device::cli::main()
}
