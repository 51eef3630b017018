//! The `hearth-device` command line: a native device for tests,
//! benchmarks and people who like terminals.
//!
//! ```text
//! hearth-device --dir DIR create [--label NAME] [--plaintext]
//! hearth-device --dir DIR register --server http://127.0.0.1:8080 [--setup-code CODE]
//! hearth-device --dir DIR invite [--scope rw|ro]          # prints a share link
//! hearth-device --dir DIR mint-token --label NAME [--scope rw|ro]
//! hearth-device --dir DIR pair LINK [--label NAME]
//! hearth-device --dir DIR redeem --server URL --invite INVITE
//! hearth-device --dir DIR join --server URL --workspace WS --token TOKEN [--read-only]
//! hearth-device --dir DIR recovery-key                   # prints a new recovery key
//! hearth-device --dir DIR recover --server URL --key KEY [--label NAME]
//! hearth-device --dir DIR remove-device TOKEN_ID         # revokes, then rotates the key
//! hearth-device --dir DIR add-note --title T [--body B] [--tag X]...
//! hearth-device --dir DIR list-notes [--json]
//! hearth-device --dir DIR attach NOTE_ID FILE           # prints the file id
//! hearth-device --dir DIR fetch FILE_ID OUT
//! hearth-device --dir DIR files [--json]
//! hearth-device --dir DIR collect-files [--window-days N] # master only
//! hearth-device --dir DIR share NOTE_ID [--days N]       # prints a public link
//! hearth-device --dir DIR shares | unshare SHARE_ID
//! hearth-device --dir DIR sync | watch [--seconds N] | status   # status: fingerprints, warnings
//! ```

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use hearth_shared::api::Scope;
use hearth_shared::error::ErrorCode;
use hearth_shared::id::WorkspaceId;

use super::device::Device;
use super::error::DeviceError;

/// A native Hearth device.
#[derive(Debug, Parser)]
#[command(name = "hearth-device", version, about)]
pub struct Cli {
    /// Directory of this device's workspace (profile and store).
    #[arg(long, env = "HEARTH_DEVICE_DIR", default_value = "./hearth-device")]
    pub dir: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new workspace on this device (offline).
    Create {
        /// This device's name.
        #[arg(long, env = "HEARTH_DEVICE_LABEL", default_value = "device")]
        label: String,
        /// Encrypted end to end, as every new workspace is unless
        /// `--plaintext` is given (kept so older scripts still run).
        #[arg(long, conflicts_with = "plaintext")]
        encrypted: bool,
        /// Do not encrypt: the server can read the workspace. Without this,
        /// the workspace key is made here and reaches other devices only
        /// through pairing links and the recovery key.
        #[arg(long)]
        plaintext: bool,
    },
    /// Register the workspace with a server; this device becomes its master.
    Register {
        /// The server, e.g. http://127.0.0.1:8080.
        #[arg(long, env = "HEARTH_SERVER")]
        server: String,
        /// The server's one-time setup code: printed by `hearth` when it
        /// starts; `hearth setup-code` on the server prints another.
        #[arg(long, env = "HEARTH_SETUP_CODE")]
        setup_code: Option<String>,
    },
    /// Print a share link that pairs another device (master only).
    Invite {
        #[arg(long, default_value = "rw", value_parser = parse_scope)]
        scope: Scope,
        /// Lifetime of the invite, in seconds.
        #[arg(long)]
        expires_in: Option<u64>,
    },
    /// Mint an access token for another device (master only); prints it.
    MintToken {
        /// The other device's name.
        #[arg(long)]
        label: String,
        #[arg(long, default_value = "rw", value_parser = parse_scope)]
        scope: Scope,
    },
    /// Join a workspace through a share link.
    Pair {
        link: String,
        #[arg(long, env = "HEARTH_DEVICE_LABEL", default_value = "device")]
        label: String,
    },
    /// Join a workspace by redeeming an invite.
    Redeem {
        #[arg(long, env = "HEARTH_SERVER")]
        server: String,
        #[arg(long)]
        invite: String,
        #[arg(long, env = "HEARTH_DEVICE_LABEL", default_value = "device")]
        label: String,
    },
    /// Join a workspace with an access token made on the master device.
    Join {
        #[arg(long, env = "HEARTH_SERVER")]
        server: String,
        #[arg(long)]
        workspace: WorkspaceId,
        #[arg(long, env = "HEARTH_TOKEN")]
        token: String,
        #[arg(long)]
        read_only: bool,
        #[arg(long, env = "HEARTH_DEVICE_LABEL", default_value = "device")]
        label: String,
    },
    /// Make a new recovery key for this encrypted workspace (master only)
    /// and print it; the previous one stops working.
    RecoveryKey,
    /// Get a workspace back with the server's address and its recovery
    /// key; this device becomes its owner.
    Recover {
        #[arg(long, env = "HEARTH_SERVER")]
        server: String,
        /// The recovery key, as written down.
        #[arg(long, env = "HEARTH_RECOVERY_KEY")]
        key: String,
        #[arg(long, env = "HEARTH_DEVICE_LABEL", default_value = "device")]
        label: String,
    },
    /// Remove another device (master only): revoke its token and, for an
    /// encrypted workspace, change the key so it reads nothing new.
    RemoveDevice {
        token_id: hearth_shared::id::TokenId,
    },
    /// Add a note (saved locally; `sync` sends it).
    AddNote {
        #[arg(long)]
        title: String,
        #[arg(long, default_value = "")]
        body: String,
        #[arg(long = "tag")]
        tags: Vec<String>,
    },
    /// Append text to a note's body.
    AppendNote { id: String, text: String },
    /// List the notes.
    ListNotes {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Attach a file to a note: uploads the chunks the server lacks (run
    /// it again to resume), then adds the reference and syncs. Prints the
    /// file's id.
    Attach { note: String, file: PathBuf },
    /// Download an attached file into OUT (checked, written whole or not at
    /// all).
    Fetch { file_id: String, out: PathBuf },
    /// Make a public read-only link to a note (and its files), which
    /// anyone opens without the app; prints the link.
    Share {
        note_id: String,
        /// Days the link works (1 to 366).
        #[arg(long, default_value_t = 7)]
        days: u64,
    },
    /// List the public links the workspace made: id, note, until, link.
    Shares,
    /// Revoke a public link: it reads nothing from now on.
    Unshare { share_id: String },
    /// List the attached files of the notes.
    Files {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Tell the server which chunks no note uses any more (master only):
    /// files held by no note, in the bin neither, for the window, and
    /// chunks no file names (unfinished uploads) for the server's grace
    /// period.
    CollectFiles {
        /// Days a file must have been held by no note (history can bring
        /// it back meanwhile).
        #[arg(long, default_value_t = 30)]
        window_days: u64,
    },
    /// Import notes another app wrote: a Markdown folder or .zip (an
    /// Obsidian vault), a Standard Notes backup (unencrypted), a Joplin
    /// export (.jex or a RAW folder) or an Evernote .enex; the format is
    /// told from the file. Attached files are sent when this device is
    /// connected; `sync` sends the notes.
    Import { path: PathBuf },
    /// Export the notes as Markdown files (tags in front matter, task
    /// lists as checklists, attached files under attachments/).
    Export {
        /// A new folder, or a file ending in .zip.
        #[arg(long, value_name = "OUT")]
        markdown: PathBuf,
    },
    /// Sync once.
    Sync,
    /// Keep syncing, listening to the server's events.
    Watch {
        /// Stop after this many seconds (default: until interrupted).
        #[arg(long)]
        seconds: Option<u64>,
    },
    /// Show the workspace and its sync status.
    Status,
}

fn parse_scope(s: &str) -> Result<Scope, String> {
    Scope::parse(s).ok_or_else(|| format!("a scope is rw or ro, not {s:?}"))
}

/// A refused registration, with what to do about it.
fn explain_register(e: DeviceError) -> anyhow::Error {
    let advice = match e.code() {
        Some(ErrorCode::SetupCodeInvalid) => {
            "the server wants a valid setup code: pass --setup-code with the one `hearth` printed \
             when it started, or run `hearth setup-code` on the server for a new one \
             (each code registers one workspace)"
        }
        Some(ErrorCode::RegistrationClosed) => {
            "this server takes no new workspaces; pair with an existing one instead \
             (`hearth-device pair LINK`)"
        }
        _ => return e.into(),
    };
    anyhow::Error::new(e).context(advice)
}

/// Runs the command line.
pub fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(cli))
}

/// Runs one parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let dir = cli.dir;
    match cli.command {
        Command::Create {
            label, plaintext, ..
        } => {
            let device = if plaintext {
                Device::create(&dir, &label).await?
            } else {
                Device::create_encrypted(&dir, &label).await?
            };
            println!("{}", device.profile().workspace);
        }
        Command::Register { server, setup_code } => {
            let mut device = Device::open(&dir).await?;
            device
                .register_with_code(&server, setup_code.as_deref())
                .await
                .map_err(explain_register)?;
            device.sync_once().await.context("first sync")?;
            println!("registered {} with {server}", device.profile().workspace);
        }
        Command::Invite { scope, expires_in } => {
            let device = Device::open(&dir).await?;
            println!("{}", device.invite(scope, expires_in).await?.to_url());
        }
        Command::MintToken { label, scope } => {
            let device = Device::open(&dir).await?;
            println!("{}", device.mint_token(&label, scope).await?.token);
        }
        Command::Pair { link, label } => {
            let device = Device::pair(&dir, &link, &label).await?;
            println!("{}", device.profile().workspace);
        }
        Command::Redeem {
            server,
            invite,
            label,
        } => {
            let device = Device::redeem(&dir, &server, &invite, &label).await?;
            println!("{}", device.profile().workspace);
        }
        Command::Join {
            server,
            workspace,
            token,
            read_only,
            label,
        } => {
            let scope = if read_only {
                Scope::ReadOnly
            } else {
                Scope::ReadWrite
            };
            let device = Device::join(&dir, &server, workspace, &token, scope, &label).await?;
            println!("{}", device.profile().workspace);
        }
        Command::RecoveryKey => {
            let mut device = Device::open(&dir).await?;
            println!("{}", device.make_recovery_key().await?);
        }
        Command::Recover { server, key, label } => {
            let device = Device::recover(&dir, &server, &key, &label).await?;
            println!("{}", device.profile().workspace);
        }
        Command::RemoveDevice { token_id } => {
            let mut device = Device::open(&dir).await?;
            device.remove_device(&token_id).await?;
            match device.keys() {
                Some(ring) => println!(
                    "removed {token_id}; the workspace key is now epoch {}",
                    ring.current
                ),
                None => println!("removed {token_id}"),
            }
        }
        Command::AddNote { title, body, tags } => {
            let mut device = Device::open(&dir).await?;
            let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
            let note = device.add_note(&title, &body, &tags).await?;
            println!("{}", note.id);
        }
        Command::AppendNote { id, text } => {
            let mut device = Device::open(&dir).await?;
            device
                .edit(|ws, now| {
                    let len = ws
                        .get_note(&id)
                        .map(|n| n.body.chars().count())
                        .unwrap_or(0);
                    ws.splice_body(&id, len, 0, &text, now)
                })
                .await?;
        }
        Command::ListNotes { json } => {
            let device = Device::open(&dir).await?;
            for note in device.list_notes() {
                if json {
                    let value = serde_json::json!({
                        "id": note.id, "title": note.title, "body": note.body, "tags": note.tags,
                        "pinned": note.pinned, "created_at": note.created_at, "updated_at": note.updated_at,
                    });
                    println!("{value}");
                } else {
                    println!("{}\t{}\t{}", note.id, note.title, note.tags.join(","));
                }
            }
        }
        Command::Attach { note, file } => {
            let mut device = Device::open(&dir).await?;
            let report = device.attach(&note, &file).await?;
            eprintln!(
                "{}: {} in {} chunks; sent {} ({} bytes, {} newly stored), {} already on the server",
                report.file.name,
                hearth_shared::files::human_size(report.file.size),
                report.file.chunks.len(),
                report.sent,
                report.sent_bytes,
                report.created,
                report.already_stored
            );
            println!("{}", report.file.id);
        }
        Command::Import { path } => {
            let mut device = Device::open(&dir).await?;
            let report = device
                .import(&path, &mut |done, total| {
                    eprintln!("imported {done} of {total}");
                })
                .await?;
            eprintln!(
                "{} notes from {}; {} attached files",
                report.notes.len(),
                report.format,
                report.attached
            );
            for line in report.skipped.iter().chain(&report.not_attached) {
                eprintln!("left out: {line}");
            }
            for id in &report.notes {
                println!("{id}");
            }
        }
        Command::Export { markdown } => {
            let device = Device::open(&dir).await?;
            let report = device.export_markdown(&markdown).await?;
            eprintln!(
                "wrote {} notes and {} attached files to {}",
                report.notes,
                report.files,
                markdown.display()
            );
            for line in &report.missing {
                eprintln!("left out: {line}");
            }
        }
        Command::Fetch { file_id, out } => {
            let device = Device::open(&dir).await?;
            let bytes = device.fetch(&file_id, &out).await?;
            eprintln!("wrote {bytes} bytes to {}", out.display());
        }
        Command::Share { note_id, days } => {
            let mut device = Device::open(&dir).await?;
            if !(1..=366).contains(&days) {
                anyhow::bail!("a link lasts 1 to 366 days, not {days}");
            }
            let record = device.share_note(&note_id, days * 24 * 3600).await?;
            println!("{}", record.url);
        }
        Command::Shares => {
            let device = Device::open(&dir).await?;
            for link in device.shares() {
                println!(
                    "{}\t{}\t{}\t{}",
                    link.id,
                    link.note,
                    link.expires_ms / 1000,
                    link.url
                );
            }
        }
        Command::Unshare { share_id } => {
            let mut device = Device::open(&dir).await?;
            device.unshare(&share_id).await?;
            println!("revoked {share_id}");
        }
        Command::Files { json } => {
            let device = Device::open(&dir).await?;
            for (note, file) in device.attached_files() {
                if json {
                    let value = serde_json::json!({
                        "note": note, "id": file.id, "name": file.name, "mime": file.mime,
                        "size": file.size, "chunks": file.chunks.len(),
                    });
                    println!("{value}");
                } else {
                    println!(
                        "{note}\t{}\t{}\t{}\t{}",
                        file.id,
                        file.name,
                        file.mime,
                        hearth_shared::files::human_size(file.size)
                    );
                }
            }
        }
        Command::CollectFiles { window_days } => {
            let mut device = Device::open(&dir).await?;
            let window = window_days.saturating_mul(24 * 3600 * 1000);
            let r = device
                .collect_files(window, crate::platform::now_ms())
                .await?;
            println!(
                "{} files held, {} waiting out the window, {} collected, {} chunks of unfinished uploads ({} chunks in all, deleted in {} s)",
                r.referenced, r.waiting, r.collected, r.abandoned, r.chunks_marked, r.grace_secs
            );
            if r.lost_chunks > 0 {
                anyhow::bail!(
                    "{} chunks of held files are missing on the server",
                    r.lost_chunks
                );
            }
        }
        Command::Sync => {
            let mut device = Device::open(&dir).await?;
            let report = device.sync_once().await?;
            let status = device.status();
            println!(
                "{}: pushed {} ({} bytes), pulled {} ({} bytes), cursor {}, pending {}",
                status.state.label(),
                report.pushed,
                report.pushed_bytes,
                report.pulled,
                report.pulled_bytes,
                status.cursor,
                status.pending
            );
            print_trust(&status);
        }
        Command::Watch { seconds } => {
            let mut device = Device::open(&dir).await?;
            let stop = async move {
                match seconds {
                    Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
                    None => {
                        let _ = tokio::signal::ctrl_c().await;
                    }
                }
            };
            device.watch(stop).await?;
        }
        Command::Status => {
            let device = Device::open(&dir).await?;
            let status = device.status();
            let profile = device.profile();
            println!("workspace: {}", profile.workspace);
            println!("device:    {}", profile.label);
            match &profile.server {
                Some(s) => println!(
                    "server:    {} ({:?}, {})",
                    s.origin,
                    s.role,
                    s.scope.as_str()
                ),
                None => println!("server:    none (not registered)"),
            }
            println!("schema:    {}", device.workspace().schema_version());
            if let Some(ro) = device.workspace().read_only() {
                println!("read-only: {}", ro.reason());
            }
            println!(
                "sync:      {} ({} pending, cursor {})",
                status.state.label(),
                status.pending,
                status.cursor
            );
            if let Some(error) = &status.last_error {
                println!("error:     {error}");
            }
            if let Some(secret) = device.keys().and_then(|k| k.device.as_ref()) {
                let own = hearth_shared::identity::DeviceKeys::of(secret).fingerprint();
                println!("key:       {own} (this device; compare with the owner's list)");
            }
            let members = hearth_shared::engine::roster::members(device.engine().doc());
            for m in &members {
                let fingerprint = m
                    .keys
                    .map_or_else(|| "no key".to_owned(), |k| k.fingerprint());
                let removed = if m.removal.is_some() { " removed" } else { "" };
                println!("device:    {} {fingerprint}{removed}", m.token);
            }
            print_trust(&status);
        }
    }
    Ok(())
}

/// What the device found wrong with the server's answers (a key it
/// swapped, edits it withheld, a removed device's writes), one line each.
fn print_trust(status: &hearth_shared::engine::SyncStatus) {
    for warning in &status.key_warnings {
        println!("warning:   {warning}");
    }
    for (who, n) in &status.withheld {
        println!("warning:   the server has not delivered {n} edits from device {who}");
    }
    for (who, n) in &status.taken_after_removal {
        println!(
            "warning:   {n} edits from removed device {who} were taken before its removal was known"
        );
    }
    if status.refused_from_removed > 0 {
        println!(
            "warning:   {} records written by a removed device after its removal were refused",
            status.refused_from_removed
        );
    }
}
