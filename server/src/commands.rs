//! What the `hearth` binary does for each subcommand: `serve` (bind, print
//! the address and a setup code, run until SIGINT or SIGTERM) and the
//! operational ones (backups, setup codes, doctor, undoing a compaction).
//! `main.rs` only parses the command line and sets up logging.

use std::io::Write as _;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::app::App;
use crate::config::{Command, Config, RegistrationArg};

/// Runs `command` (`None`: serve with `serve_config`).
pub fn run(command: Option<Command>, serve_config: Config) -> anyhow::Result<()> {
    match command {
        None => runtime()?.block_on(serve(serve_config)),
        Some(Command::Serve(config)) => runtime()?.block_on(serve(config)),
        Some(other) => run_command(other),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let tls = config.tls_cert.is_some();
    let app = App::open(config.clone()).await.context("cannot start")?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let scheme = if tls { "https" } else { "http" };
    let setup_code = match config.registration {
        RegistrationArg::Code => Some(
            app.issue_setup_code()
                .await
                .context("cannot make a setup code")?,
        ),
        _ => None,
    };
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "hearth listening on {scheme}://{addr}")?;
        out.flush()?;
        if let Some(code) = setup_code {
            // Best effort: whoever started the server may have stopped
            // reading its output after the first line.
            let _ = writeln!(
                out,
                "setup code: {code} (registers one workspace, valid for a day; `hearth setup-code` prints another)"
            )
            .and_then(|()| out.flush());
        }
    }
    tracing::info!(
        %addr,
        data_dir = %config.data_dir.display(),
        app = %app.assets.describe(),
        build = %app.build_id,
        "serving"
    );
    crate::serve(listener, app, shutdown_signal()).await?;
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot listen for SIGTERM");
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

fn run_command(command: Command) -> anyhow::Result<()> {
    use crate::storage::disk::backup;
    use crate::storage::offsite::{self, BackupPlace};
    match command {
        Command::Serve(_) => Ok(()),
        Command::Backup(args) => {
            let made = match (&args.database, &args.objects) {
                (Some(database), Some(objects)) => runtime()?.block_on(backup_cluster(
                    database.url(),
                    objects,
                    args.key.objects_key_file.as_deref(),
                    &args.out,
                ))?,
                _ => backup::backup(&args.data_dir, &args.out)
                    .with_context(|| format!("cannot back up {}", args.data_dir.display()))?,
            };
            println!("{}", made.display());
            if let Some(to) = &args.to {
                let objects = offsite::connect(to, args.key.objects_key_file.as_deref())?;
                let name = runtime()?
                    .block_on(offsite::upload(&objects, &made))
                    .with_context(|| {
                        format!("cannot copy the backup to {}", offsite::describe(to))
                    })?;
                println!("{}", offsite::address_of(to, &name));
            }
            Ok(())
        }
        Command::VerifyBackup(args) => {
            let (manifest, place) = match &args.path {
                BackupPlace::Local(path) => (
                    backup::verify(path).map_err(anyhow::Error::from),
                    "manifest",
                ),
                BackupPlace::Store(at) => {
                    let objects = offsite::connect(at, args.key.objects_key_file.as_deref())?;
                    let checked =
                        runtime()?.block_on(offsite::verify(&objects, &offsite::describe(at)));
                    (
                        checked.map_err(anyhow::Error::from),
                        "manifest in the store",
                    )
                }
            };
            let manifest =
                manifest.with_context(|| format!("the backup {} is not sound", args.path))?;
            println!("ok: {} files match the {place}", manifest.files.len());
            Ok(())
        }
        Command::SetupCode(args) => {
            let path = args.data_dir.join(crate::index::INDEX_FILE);
            let index = crate::index::SqliteIndex::open(&path).with_context(|| {
                format!("cannot open the token index in {}", args.data_dir.display())
            })?;
            let now = crate::clock::unix_now();
            let code = runtime()?
                .block_on(crate::setup_code::issue(&index, now))
                .context("cannot store a setup code")?;
            println!("{code}");
            eprintln!("This code registers one workspace on this server and is valid for a day.");
            Ok(())
        }
        Command::Doctor(args) => {
            let report = crate::storage::disk::doctor::check(&args.data_dir)
                .with_context(|| format!("cannot read {}", args.data_dir.display()))?;
            for line in &report.lines {
                println!("{line}");
            }
            if report.problems > 0 {
                println!(
                    "{} problem(s) in {} workspace(s)",
                    report.problems, report.workspaces
                );
                std::process::exit(1);
            }
            println!(
                "ok: {} workspace(s), nothing needs attention",
                report.workspaces
            );
            Ok(())
        }
        Command::Admin(args) => admin(args),
        Command::RestoreCompaction(args) => {
            let ws = hearth_shared::id::WorkspaceId::parse(&args.workspace)
                .map_err(|e| anyhow::anyhow!("{:?} is not a workspace id: {e}", args.workspace))?;
            let _lock = crate::fsutil::lock_dir(&args.data_dir)
                .with_context(|| format!("cannot lock {}", args.data_dir.display()))?
                .context("a server is running on this data directory; stop it, or undo through the owner's device")?;
            let dir = args
                .data_dir
                .join(crate::storage::disk::WORKSPACES_DIR)
                .join(ws.as_str());
            if !dir.is_dir() {
                anyhow::bail!("no workspace {ws} in {}", args.data_dir.display());
            }
            let log = crate::storage::disk::DiskLog::open(&dir)?;
            match log.undo_compaction()? {
                Some(done) => println!(
                    "undone: workspace {ws} is back at floor {} with head {}",
                    done.floor, done.head
                ),
                None => anyhow::bail!("workspace {ws} has no compaction that can still be undone"),
            }
            Ok(())
        }
        Command::Migrate(args) => runtime()?.block_on(migrate(args)),
        Command::Restore(args) => {
            let manifest = match &args.path {
                BackupPlace::Local(path) => {
                    backup::restore(path, &args.data_dir).map_err(anyhow::Error::from)
                }
                BackupPlace::Store(at) => {
                    let objects = offsite::connect(at, args.key.objects_key_file.as_deref())?;
                    runtime()?
                        .block_on(offsite::restore(
                            &objects,
                            &offsite::describe(at),
                            &args.data_dir,
                        ))
                        .map_err(anyhow::Error::from)
                }
            }
            .with_context(|| format!("cannot restore into {}", args.data_dir.display()))?;
            println!(
                "restored {} files into {}",
                manifest.files.len(),
                args.data_dir.display()
            );
            Ok(())
        }
    }
}

/// `hearth backup --database … --objects …`: a point-in-time copy of a
/// running cluster, exported as a data directory beside `out` and backed
/// up from there (manifest and checksums, as a single node's backup).
async fn backup_cluster(
    database: &str,
    objects: &str,
    key_file: Option<&std::path::Path>,
    out: &std::path::Path,
) -> anyhow::Result<std::path::PathBuf> {
    use crate::storage::cluster::objects::{Address, Credentials, Objects};
    let key = match key_file {
        Some(path) => Credentials::from_file(
            &std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        ),
        None => Credentials::from_env(),
    }
    .map_err(anyhow::Error::msg)?;
    let address = Address::parse(objects).map_err(anyhow::Error::msg)?;
    let cluster = crate::storage::cluster::Cluster {
        pool: crate::pg::pool(database, 2).map_err(anyhow::Error::msg)?,
        objects: Objects::new(&address, &key).map_err(anyhow::Error::msg)?,
    };
    std::fs::create_dir_all(out).with_context(|| format!("cannot make {}", out.display()))?;
    let export = tempfile_dir(out)?;
    let result = async {
        let moved = crate::migrate::snapshot::export(&cluster, &export).await?;
        let export = export.clone();
        let out = out.to_owned();
        let made = tokio::task::spawn_blocking(move || backup_dir_of(&export, &out)).await??;
        eprintln!(
            "a point-in-time copy of the cluster: {} workspaces, {} entries, {} chunks",
            moved.workspaces, moved.entries, moved.chunks
        );
        Ok::<_, anyhow::Error>(made)
    }
    .await;
    let _ = std::fs::remove_dir_all(&export);
    result
}

/// A fresh hidden directory inside `out`, for a cluster's export.
fn tempfile_dir(out: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    let mut random = [0u8; 8];
    crate::fsutil::random_bytes(&mut random)?;
    Ok(out.join(format!(".cluster-export-{}", crate::secret::hex(&random))))
}

fn backup_dir_of(
    data_dir: &std::path::Path,
    out: &std::path::Path,
) -> anyhow::Result<std::path::PathBuf> {
    crate::storage::disk::backup::backup(data_dir, out)
        .with_context(|| format!("cannot back up the cluster's copy into {}", out.display()))
}

/// `hearth migrate`: a data directory into a cluster, or back.
async fn migrate(args: crate::config::MigrateArgs) -> anyhow::Result<()> {
    use crate::migrate::Side;
    let key = match &args.objects_key_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            crate::storage::cluster::objects::Credentials::from_file(&text)
        }
        None => crate::storage::cluster::objects::Credentials::from_env(),
    }
    .map_err(anyhow::Error::msg)?;
    let dir = Side::DataDir(args.data_dir.clone());
    let cluster = Side::Cluster {
        database: args.database.url().to_owned(),
        objects: args.objects.clone(),
        key,
    };
    let (from, to) = match args.to {
        crate::config::MigrateTo::Cluster => (&dir, &cluster),
        crate::config::MigrateTo::DataDir => (&cluster, &dir),
    };
    let moved = crate::migrate::run(from, to, &|line| println!("{line}"))
        .await
        .context("the move stopped; the source is unchanged, the target must be emptied before trying again")?;
    println!(
        "moved and checked: {} workspaces, {} entries, {} chunks, {} index rows",
        moved.workspaces, moved.entries, moved.chunks, moved.index_rows
    );
    Ok(())
}

/// `hearth admin …`: asks the running server through its admin socket.
fn admin(args: crate::config::AdminArgs) -> anyhow::Result<()> {
    use crate::admin::Ask;
    use crate::config::AdminCommand;
    let parse_ws = |text: &str| {
        hearth_shared::id::WorkspaceId::parse(text)
            .map_err(|e| anyhow::anyhow!("{text:?} is not a workspace id: {e}"))
    };
    let (ask, json) = match &args.command {
        AdminCommand::Workspaces { json } => (Ask::Workspaces, *json),
        AdminCommand::Revoke { workspace, token } => (
            Ask::Revoke {
                ws: parse_ws(workspace)?,
                token: hearth_shared::id::TokenId::parse(token)
                    .map_err(|e| anyhow::anyhow!("{token:?} is not a token id: {e}"))?,
            },
            false,
        ),
        AdminCommand::Quota { workspace, size } => {
            let bytes = if size.eq_ignore_ascii_case("default") {
                None
            } else {
                Some(crate::admin::parse_size(size).map_err(|e| anyhow::anyhow!(e))?)
            };
            (
                Ask::Quota {
                    ws: parse_ws(workspace)?,
                    bytes,
                },
                false,
            )
        }
        AdminCommand::DeleteWorkspace { workspace, yes } => {
            let ws = parse_ws(workspace)?;
            if !yes {
                anyhow::bail!(
                    "this deletes workspace {ws} and everything in it for good (only an earlier backup brings it back); run again with --yes to do it"
                );
            }
            (Ask::Delete { ws }, false)
        }
    };
    let (message, rows) = runtime()?
        .block_on(crate::admin::ask(&args.data_dir, ask))
        .map_err(|e| anyhow::anyhow!(e))?;
    if !matches!(args.command, AdminCommand::Workspaces { .. }) {
        println!("{message}");
        return Ok(());
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:<32}  {:<20}  {:>7}  {:>12}  {:>12}  {:>14}  {:>10}",
        "WORKSPACE", "LABEL", "DEVICES", "LOG BYTES", "FILE BYTES", "QUOTA", "LAST SEEN"
    );
    for row in &rows {
        let seen = row
            .last_seen_at
            .map_or_else(|| "never".to_owned(), |at| at.to_string());
        let label: String = row.label.chars().take(20).collect();
        // An operator's quota is marked with `*`.
        let quota = format!(
            "{}{}",
            row.quota_bytes,
            if row.quota_set { "*" } else { "" }
        );
        println!(
            "{:<32}  {:<20}  {:>7}  {:>12}  {:>12}  {:>14}  {:>10}",
            row.id, label, row.devices, row.log_bytes, row.chunk_bytes, quota, seen
        );
    }
    eprintln!("{message}");
    Ok(())
}
