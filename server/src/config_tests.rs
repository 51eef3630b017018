use super::*;

#[test]
fn no_flags_means_serve_with_defaults() {
    let cli = Cli::try_parse_from(["hearth"]).unwrap();
    assert!(cli.command.is_none());
    assert_eq!(cli.serve.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(cli.serve.data_dir, PathBuf::from("./hearth-data"));
    let cli = Cli::try_parse_from(["hearth", "serve", "--listen", "127.0.0.1:0"]).unwrap();
    assert!(matches!(cli.command, Some(Command::Serve(c)) if c.listen.port() == 0));
}

#[test]
fn library_defaults_match_the_flags() {
    let cli = Cli::try_parse_from(["hearth", "--data-dir", "x"]).unwrap();
    assert_eq!(
        format!("{:?}", cli.serve),
        format!("{:?}", Config::with_data_dir("x"))
    );
}

#[test]
fn subcommands_parse() {
    let cli = Cli::try_parse_from(["hearth", "restore", "b", "--data-dir", "d"]).unwrap();
    assert!(matches!(cli.command, Some(Command::Restore(_))));
    let cli = Cli::try_parse_from(["hearth", "backup", "--data-dir", "d", "--out", "o"]).unwrap();
    assert!(matches!(cli.command, Some(Command::Backup(_))));
    assert!(Cli::try_parse_from(["hearth", "--tls-cert", "c"]).is_err());
}
