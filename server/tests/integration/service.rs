//! The systemd unit (`server/packaging/hearth.service`) is valid for
//! systemd (`systemd-analyze verify`, with not one warning), hardened, and
//! starts the binary as its own user with its state directory.

use std::process::Command;

const UNIT: &str = include_str!("../../packaging/hearth.service");

#[test]
fn the_systemd_unit_verifies_cleanly_and_is_hardened() {
    for line in [
        "User=hearth",
        "StateDirectory=hearth",
        "StateDirectoryMode=0700",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
        "UMask=0077",
        "ExecStart=/usr/bin/hearth ",
    ] {
        assert!(
            UNIT.lines().any(|l| l.starts_with(line)),
            "the unit has no {line:?}"
        );
    }
    // Verified as installed, with the binary this build made standing in
    // for /usr/bin/hearth (systemd checks that it exists).
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("hearth.service");
    std::fs::write(
        &unit,
        UNIT.replace("/usr/bin/hearth", env!("CARGO_BIN_EXE_hearth")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("systemd-analyze runs (`cargo xtask setup` installs systemd)");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd refused the unit: {said}");
    assert!(
        said.trim().is_empty(),
        "systemd warned about the unit: {said}"
    );
    // The command line it runs parses.
    let exec = UNIT
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart=/usr/bin/hearth "))
        .unwrap();
    let mut args: Vec<&str> = exec.split_whitespace().collect();
    args.push("--help");
    let help = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(&args)
        .output()
        .unwrap();
    assert!(
        help.status.success(),
        "hearth refuses the unit's command line: {}",
        String::from_utf8_lossy(&help.stderr)
    );
}
