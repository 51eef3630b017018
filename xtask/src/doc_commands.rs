//! Every command the documentation shows is checked: `cargo` commands name
//! packages, targets and `xtask` commands that exist, and `hearth` and
//! `hearth-device` commands name subcommands and flags their `--help`
//! lists. A renamed flag or a removed feature fails the tests, not a
//! reader.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, Result, bail};

/// The documents whose commands are checked.
const DOCS: &[&str] = &[
    "README.md",
    "ARCHITECTURE.md",
    "BENCHMARKS.md",
    "docs/server.md",
    "docs/formats.md",
];

/// Inline code that starts like a command but is a name or a label (a
/// key-derivation label, a log line), not something to run.
const NOT_COMMANDS: &[&str] = &[
    "hearth key check",
    "hearth recovery credential v1",
    "hearth recovery wrap v1",
    "hearth listening on",
];

/// A command found in a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub place: String,
    pub words: Vec<String>,
}

/// The commands in `text`: inline code spans and lines of code blocks that
/// start with `cargo `, `hearth ` or `hearth-device `.
pub fn commands_in(name: &str, text: &str) -> Vec<Found> {
    let mut found = Vec::new();
    let mut in_block = false;
    for (n, line) in text.lines().enumerate() {
        let place = format!("{name}:{}", n + 1);
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        let candidates: Vec<&str> = if in_block {
            vec![line.trim()]
        } else {
            line.split('`').skip(1).step_by(2).collect()
        };
        for code in candidates {
            let is_command = ["cargo ", "hearth ", "hearth-device "]
                .iter()
                .any(|p| code.starts_with(p));
            if is_command && !NOT_COMMANDS.iter().any(|n| code.starts_with(n)) {
                found.push(Found {
                    place: place.clone(),
                    words: code.split_whitespace().map(str::to_owned).collect(),
                });
            }
        }
    }
    found
}

/// Every command in the documents.
pub fn documented(root: &Path) -> Result<Vec<Found>> {
    let mut all = Vec::new();
    for doc in DOCS {
        let text =
            std::fs::read_to_string(root.join(doc)).with_context(|| format!("reading {doc}"))?;
        all.extend(commands_in(doc, &text));
    }
    Ok(all)
}

/// What is wrong with `found`, a `hearth` or `hearth-device` command, given
/// the help text of its binary (`top`) and of its subcommand (`sub`, if it
/// names one).
pub fn check_binary_command(found: &Found, top: &str, sub: Option<&str>) -> Vec<String> {
    let mut wrong = Vec::new();
    let subcommand = found.words.get(1).filter(|w| !w.starts_with('-'));
    if let Some(name) = subcommand {
        let listed = top
            .lines()
            .any(|l| l.split_whitespace().next() == Some(name.as_str()));
        if !listed {
            wrong.push(format!("{}: `{name}` is not a subcommand", found.place));
        }
    }
    let help = sub.unwrap_or(top);
    for flag in found.words.iter().filter(|w| w.starts_with("--")) {
        let flag = flag.trim_end_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-');
        let flag = flag.split('=').next().unwrap_or(flag);
        if !help.contains(flag) && !top.contains(flag) {
            wrong.push(format!(
                "{}: `{flag}` is not a flag of `{}`",
                found.place,
                found.words.join(" ")
            ));
        }
    }
    wrong
}

/// The help text of `binary SUBS… --help`; `None` if it exits with an
/// error (no such subcommand).
fn help_of(binary: &Path, subs: &[String]) -> Result<Option<String>> {
    let out = Command::new(binary)
        .args(subs)
        .arg("--help")
        .output()
        .with_context(|| format!("running {} --help", binary.display()))?;
    Ok(out
        .status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// The subcommand path of a command: its leading words that look like
/// subcommand names (lowercase, not a placeholder like `WS` or a path).
fn subcommands(words: &[String]) -> Vec<String> {
    words
        .iter()
        .skip(1)
        .take_while(|w| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !w.starts_with('-')
        })
        .take(2)
        .cloned()
        .collect()
}

/// What is wrong with a `cargo` command: a package, bench, test or
/// `xtask` command that does not exist.
fn check_cargo_command(
    found: &Found,
    metadata: &serde_json::Value,
    xtask_usage: &str,
) -> Vec<String> {
    let mut wrong = Vec::new();
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    let words = &found.words;
    let after = |flag: &str| {
        words
            .iter()
            .position(|w| w == flag)
            .and_then(|i| words.get(i + 1))
            .cloned()
    };
    let package = after("-p").or_else(|| after("--package"));
    if let Some(name) = &package {
        let Some(pkg) = packages.iter().find(|p| p["name"] == name.as_str()) else {
            wrong.push(format!("{}: no package `{name}`", found.place));
            return wrong;
        };
        for (flag, kind) in [("--bench", "bench"), ("--test", "test"), ("--bin", "bin")] {
            if let Some(target) = after(flag) {
                let exists = pkg["targets"].as_array().is_some_and(|ts| {
                    ts.iter().any(|t| {
                        t["name"] == target.as_str()
                            && t["kind"]
                                .as_array()
                                .is_some_and(|k| k.iter().any(|k| k == kind))
                    })
                });
                if !exists {
                    wrong.push(format!(
                        "{}: `{name}` has no {kind} `{target}`",
                        found.place
                    ));
                }
            }
        }
        if let Some(feature) = after("--features")
            && pkg["features"].get(feature.as_str()).is_none()
        {
            wrong.push(format!(
                "{}: `{name}` has no feature `{feature}`",
                found.place
            ));
        }
    }
    if words.get(1).map(String::as_str) == Some("xtask") {
        // `cargo xtask a | b | c` names several; flags and arguments follow.
        let listed: Vec<&str> = xtask_usage
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        let mut i = 2;
        while let Some(command) = words.get(i) {
            if !listed.contains(&command.as_str()) {
                wrong.push(format!(
                    "{}: `cargo xtask {command}` does not exist",
                    found.place
                ));
            }
            if words.get(i + 1).map(String::as_str) != Some("|") {
                break;
            }
            i += 2;
        }
    }
    wrong
}

/// Checks every documented command; `bin_dir` holds the built `hearth` and
/// `hearth-device`.
pub fn check(root: &Path, bin_dir: &Path, xtask_usage: &str) -> Result<()> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("running cargo metadata")?;
    let metadata: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("reading cargo metadata")?;
    let mut wrong = Vec::new();
    let mut helps: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for found in documented(root)? {
        let program = found.words.first().map(String::as_str).unwrap_or("");
        if program == "cargo" {
            wrong.extend(check_cargo_command(&found, &metadata, xtask_usage));
            continue;
        }
        let binary = bin_dir.join(program);
        let top = match helps.get(program) {
            Some(text) => String::clone(text),
            None => {
                let text = help_of(&binary, &[])?.unwrap_or_default();
                helps.insert(program.to_owned(), text.clone());
                text
            }
        };
        let subs = subcommands(&found.words);
        let sub_help = if subs.is_empty() {
            None
        } else {
            match help_of(&binary, &subs)? {
                Some(text) => Some(text),
                None => {
                    wrong.push(format!(
                        "{}: `{program} {}` is not a command",
                        found.place,
                        subs.join(" ")
                    ));
                    continue;
                }
            }
        };
        wrong.extend(check_binary_command(&found, &top, sub_help.as_deref()));
    }
    if !wrong.is_empty() {
        bail!(
            "the documentation shows commands that do not work:\n{}",
            wrong.join("\n")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_found_in_code_spans_and_blocks_and_labels_are_not() {
        let text = "Run `hearth doctor --data-dir X` or `cargo xtask run`.\n```sh\nhearth-device sync\n```\nThe label `hearth key check` is not one.\n";
        let found = commands_in("r.md", text);
        let words: Vec<String> = found.iter().map(|f| f.words.join(" ")).collect();
        assert_eq!(
            words,
            [
                "hearth doctor --data-dir X",
                "cargo xtask run",
                "hearth-device sync"
            ]
        );
        assert_eq!(found[2].place, "r.md:3");
    }

    #[test]
    fn a_wrong_subcommand_or_flag_is_caught() {
        let top = "Commands:\n  doctor  Check\n  backup  Back up\n";
        let sub = "Options:\n      --data-dir <DATA_DIR>\n";
        let ok = Found {
            place: "d:1".into(),
            words: vec![
                "hearth".into(),
                "doctor".into(),
                "--data-dir".into(),
                "X".into(),
            ],
        };
        assert!(check_binary_command(&ok, top, Some(sub)).is_empty());
        let bad = Found {
            place: "d:2".into(),
            words: vec!["hearth".into(), "docter".into(), "--dir".into()],
        };
        let wrong = check_binary_command(&bad, top, Some(sub));
        assert_eq!(wrong.len(), 2, "{wrong:?}");
    }

    #[test]
    fn nested_subcommands_are_told_from_placeholders() {
        let words = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            subcommands(&words("hearth admin delete-workspace WS --yes")),
            ["admin", "delete-workspace"]
        );
        assert_eq!(
            subcommands(&words("hearth restore PATH --data-dir DIR")),
            ["restore"]
        );
        assert_eq!(
            subcommands(&words("hearth-device --dir DIR")),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_missing_package_feature_or_target_is_caught() {
        let metadata = serde_json::json!({"packages": [
            {"name": "hearth", "features": {}, "targets": [{"name": "load", "kind": ["bench"]}]}
        ]});
        let cmd = |s: &str| Found {
            place: "b:1".into(),
            words: s.split(' ').map(str::to_owned).collect(),
        };
        let usage =
            "commands:\n  setup  x\n  dist  x\n  run  x\n  test  x\n  wasm-test  x\n  bench  x\n";
        assert!(
            check_cargo_command(&cmd("cargo bench -p hearth --bench load"), &metadata, usage)
                .is_empty()
        );
        assert!(
            check_cargo_command(
                &cmd("cargo xtask setup | dist | run | test | wasm-test | bench"),
                &metadata,
                usage
            )
            .is_empty()
        );
        assert!(
            check_cargo_command(&cmd("cargo xtask dist --build-id X"), &metadata, usage).is_empty()
        );
        assert_eq!(
            check_cargo_command(
                &cmd("cargo build --release -p hearth --features device --bin hearth-device"),
                &metadata,
                usage
            )
            .len(),
            2
        );
        assert_eq!(
            check_cargo_command(&cmd("cargo bench -p nope"), &metadata, usage).len(),
            1
        );
        assert_eq!(
            check_cargo_command(&cmd("cargo xtask deploy"), &metadata, usage).len(),
            1
        );
    }

    #[test]
    fn the_documents_commands_are_found() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let found = documented(&root).unwrap();
        assert!(
            found
                .iter()
                .any(|f| f.words.join(" ") == "cargo xtask test"),
            "{found:?}"
        );
    }

    /// Needs `hearth` and `hearth-device` built in `target/debug` (as
    /// `cargo xtask test` has them when it runs the check).
    #[test]
    #[ignore]
    fn the_documents_commands_work_with_the_built_binaries() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        check(&root, &root.join("target/debug"), crate::usage()).unwrap();
    }
}
