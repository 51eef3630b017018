//! `hearth-device`: a native Hearth device on the command line (see
//! [`hearth_device::cli`]).

fn main() -> anyhow::Result<()> {
    hearth_device::cli::main()
}
