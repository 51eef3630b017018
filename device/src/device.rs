//! [`Device`]: a workspace on this machine, synced with a server: the
//! engine over a [`FsStore`] and an [`HttpTransport`], the typed
//! [`Workspace`] over its document, and the [`Profile`].
//!
//! The device is the engine's host: it reads the clock, draws random
//! numbers, sleeps between retries and listens to the events stream.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hearth_migrations::{NewNote, Note, NoteFilter, SchemaError, Workspace, new_id};
use hearth_shared::api::{CreateInvite, MintToken, MintTokenResponse, Scope};
use hearth_shared::claims::Role;
use hearth_shared::engine::{Engine, EngineConfig, RoundReport, SyncStatus};
use hearth_shared::id::WorkspaceId;
use hearth_shared::share_link::ShareLink;

use super::api_client::ApiClient;
use super::error::DeviceError;
use super::http_client::HttpClient;
use super::profile::{Profile, ServerLink};
use super::store_fs::FsStore;
use super::transport_http::HttpTransport;

/// How long `watch` waits for an event before a sync round anyway.
const IDLE_RESYNC: Duration = Duration::from_secs(60);

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// 16 random bytes from the operating system.
pub fn random16() -> Result<[u8; 16], DeviceError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| DeviceError::Io(format!("no randomness: {e}")))?;
    Ok(bytes)
}

fn random_u64() -> Result<u64, DeviceError> {
    let b = random16()?;
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[..8]);
    // Loro reserves the largest peer id.
    Ok(u64::from_le_bytes(w) >> 1)
}

/// A workspace on this device.
pub struct Device {
    dir: PathBuf,
    profile: Profile,
    engine: Engine<FsStore, HttpTransport>,
    workspace: Workspace,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("dir", &self.dir)
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

fn config_for(profile: &Profile) -> EngineConfig {
    let can_write = profile.server.as_ref().is_none_or(|s| s.scope.can_write());
    EngineConfig {
        can_write,
        ..EngineConfig::default()
    }
}

fn transport_for(profile: &Profile) -> Result<HttpTransport, DeviceError> {
    Ok(match &profile.server {
        Some(server) => HttpTransport::new(
            HttpClient::new(&server.origin)?,
            profile.workspace.clone(),
            server.token.clone(),
        ),
        None => HttpTransport::unconnected(),
    })
}

impl Device {
    async fn start(dir: &Path, profile: Profile, fresh: bool) -> Result<Self, DeviceError> {
        let store = FsStore::open(dir.join("store"))?;
        let transport = transport_for(&profile)?;
        let mut engine =
            Engine::open(store, transport, random_u64()?, config_for(&profile)).await?;
        let doc = engine.doc().clone();
        let workspace = if fresh {
            Workspace::create(doc)?
        } else {
            Workspace::open(doc)?.0
        };
        engine.save_local().await?;
        Ok(Self {
            dir: dir.to_owned(),
            profile,
            engine,
            workspace,
        })
    }

    /// Creates a new workspace in `dir`, offline.
    pub async fn create(dir: impl AsRef<Path>, label: &str) -> Result<Self, DeviceError> {
        let dir = dir.as_ref();
        if let Some(p) = Profile::load(dir)? {
            return Err(DeviceError::AlreadyExists(p.workspace.to_string()));
        }
        std::fs::create_dir_all(dir).map_err(|e| DeviceError::Io(e.to_string()))?;
        let profile = Profile {
            workspace: WorkspaceId::from_random(random16()?),
            label: label.to_owned(),
            server: None,
        };
        profile.save(dir)?;
        Self::start(dir, profile, true).await
    }

    /// Opens the workspace in `dir`, running pending migrations.
    pub async fn open(dir: impl AsRef<Path>) -> Result<Self, DeviceError> {
        let dir = dir.as_ref();
        let profile = Profile::load(dir)?.ok_or(DeviceError::NoWorkspace)?;
        Self::start(dir, profile, false).await
    }

    /// Joins a workspace through a share link: redeems its invite, then
    /// pulls the workspace.
    pub async fn pair(dir: impl AsRef<Path>, link: &str, label: &str) -> Result<Self, DeviceError> {
        let link = ShareLink::parse(link)?;
        Self::redeem(dir, &link.server, &link.invite, label).await
    }

    /// Redeems an invite at `origin`, then pulls the workspace.
    pub async fn redeem(
        dir: impl AsRef<Path>,
        origin: &str,
        invite: &str,
        label: &str,
    ) -> Result<Self, DeviceError> {
        let dir = dir.as_ref();
        if let Some(p) = Profile::load(dir)? {
            return Err(DeviceError::AlreadyExists(p.workspace.to_string()));
        }
        let api = ApiClient::new(HttpClient::new(origin)?);
        let redeemed = api.redeem(invite, label).await?;
        let server = ServerLink {
            origin: api.origin().to_owned(),
            token: redeemed.token,
            token_id: Some(redeemed.token_id),
            role: Role::Access,
            scope: redeemed.scope,
        };
        Self::join_with(dir, redeemed.workspace_id, server, label).await
    }

    /// Joins a workspace with an access token made on the master device.
    pub async fn join(
        dir: impl AsRef<Path>,
        origin: &str,
        workspace: WorkspaceId,
        token: &str,
        scope: Scope,
        label: &str,
    ) -> Result<Self, DeviceError> {
        let dir = dir.as_ref();
        if let Some(p) = Profile::load(dir)? {
            return Err(DeviceError::AlreadyExists(p.workspace.to_string()));
        }
        let http = HttpClient::new(origin)?;
        let server = ServerLink {
            origin: http.origin().to_owned(),
            token: token.to_owned(),
            token_id: None,
            role: Role::Access,
            scope,
        };
        Self::join_with(dir, workspace, server, label).await
    }

    async fn join_with(
        dir: &Path,
        workspace: WorkspaceId,
        server: ServerLink,
        label: &str,
    ) -> Result<Self, DeviceError> {
        std::fs::create_dir_all(dir).map_err(|e| DeviceError::Io(e.to_string()))?;
        let profile = Profile {
            workspace,
            label: label.to_owned(),
            server: Some(server),
        };
        profile.save(dir)?;
        let mut device = Self::start(dir, profile, false).await?;
        // The first pull brings the workspace; a failure here is retried by
        // the next sync, the device is paired either way.
        let _ = device.sync_once().await;
        Ok(device)
    }

    /// Registers the workspace with a server that lets anyone register
    /// (`--registration open`); this device becomes its master device.
    pub async fn register(&mut self, origin: &str) -> Result<(), DeviceError> {
        self.register_with_code(origin, None).await
    }

    /// Registers the workspace with a server, with its one-time setup code
    /// if it asks for one (blank counts as none); this device becomes its
    /// master device.
    pub async fn register_with_code(
        &mut self,
        origin: &str,
        setup_code: Option<&str>,
    ) -> Result<(), DeviceError> {
        if let Some(server) = &self.profile.server {
            return Err(DeviceError::AlreadyRegistered(server.origin.clone()));
        }
        let setup_code = setup_code.map(str::trim).filter(|c| !c.is_empty());
        let http = HttpClient::new(origin)?;
        let api = ApiClient::new(http.clone());
        let registered = api
            .register(&self.profile.workspace, &self.profile.label, setup_code)
            .await?;
        self.profile.server = Some(ServerLink {
            origin: http.origin().to_owned(),
            token: registered.master_token.clone(),
            token_id: Some(registered.token_id),
            role: Role::Master,
            scope: Scope::ReadWrite,
        });
        self.profile.save(&self.dir)?;
        self.engine.transport().connect(
            http,
            self.profile.workspace.clone(),
            registered.master_token,
        );
        self.engine.set_can_write(true);
        Ok(())
    }

    fn master(&self) -> Result<(ApiClient, &ServerLink), DeviceError> {
        let server = self.profile.server.as_ref().ok_or(DeviceError::NoServer)?;
        if server.role != Role::Master {
            return Err(DeviceError::NotMaster);
        }
        Ok((ApiClient::new(HttpClient::new(&server.origin)?), server))
    }

    /// Makes a share link with a single-use invite (master only).
    pub async fn invite(
        &self,
        scope: Scope,
        expires_in: Option<u64>,
    ) -> Result<ShareLink, DeviceError> {
        let (api, server) = self.master()?;
        let invite = api
            .create_invite(
                &server.token,
                &self.profile.workspace,
                &CreateInvite { scope, expires_in },
            )
            .await?;
        Ok(ShareLink {
            server: server.origin.clone(),
            workspace: self.profile.workspace.clone(),
            invite: invite.invite,
        })
    }

    /// Mints an access token for another device (master only).
    pub async fn mint_token(
        &self,
        label: &str,
        scope: Scope,
    ) -> Result<MintTokenResponse, DeviceError> {
        let (api, server) = self.master()?;
        let body = MintToken {
            label: label.to_owned(),
            scope,
            expires_in: None,
        };
        Ok(api
            .mint_token(&server.token, &self.profile.workspace, &body)
            .await?)
    }

    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    pub fn workspace(&self) -> &Workspace {
        &self.workspace
    }

    pub fn engine(&self) -> &Engine<FsStore, HttpTransport> {
        &self.engine
    }

    /// The engine, to tune it (e.g. compaction thresholds).
    pub fn engine_mut(&mut self) -> &mut Engine<FsStore, HttpTransport> {
        &mut self.engine
    }

    pub fn status(&self) -> SyncStatus {
        self.engine.status()
    }

    /// Edits the workspace and saves the edit durably before returning.
    pub async fn edit<R>(
        &mut self,
        f: impl FnOnce(&Workspace, i64) -> Result<R, SchemaError>,
    ) -> Result<R, DeviceError> {
        let now = i64::try_from(now_ms()).unwrap_or(i64::MAX);
        let out = f(&self.workspace, now)?;
        self.engine.save_local().await?;
        Ok(out)
    }

    /// Adds a note, saved locally.
    pub async fn add_note(
        &mut self,
        title: &str,
        body: &str,
        tags: &[&str],
    ) -> Result<Note, DeviceError> {
        let id = new_id(random16()?);
        self.edit(|ws, now| {
            ws.add_note(
                &id,
                NewNote {
                    title,
                    body,
                    tags,
                    pinned: false,
                },
                now,
            )
        })
        .await
    }

    /// The notes not in the bin.
    pub fn list_notes(&self) -> Vec<Note> {
        self.workspace.list_notes(NoteFilter::Live)
    }

    /// One sync round; then migrates what older devices wrote, if anything.
    pub async fn sync_once(&mut self) -> Result<RoundReport, DeviceError> {
        let report = self.engine.sync(now_ms()).await?;
        self.workspace.refresh()?;
        self.engine.save_local().await?;
        Ok(report)
    }

    /// Keeps syncing until `stop` completes: a round whenever the server
    /// announces a new head (or every minute), retrying with backoff.
    pub async fn watch(&mut self, stop: impl Future<Output = ()>) -> Result<(), DeviceError> {
        let mut stop = std::pin::pin!(stop);
        loop {
            let delay = match self.sync_once().await {
                Ok(_) => None,
                Err(DeviceError::Engine(_)) => {
                    let jitter = random_u64()?;
                    self.engine.retry_delay(jitter).map(Duration::from_millis)
                }
                Err(e) => return Err(e),
            };
            match delay {
                Some(delay) => {
                    tokio::select! {
                        () = &mut stop => return Ok(()),
                        () = tokio::time::sleep(delay) => {}
                    }
                }
                None => {
                    let head = tokio::select! {
                        () = &mut stop => return Ok(()),
                        head = self.engine.wait_for_head() => head.ok(),
                        () = tokio::time::sleep(IDLE_RESYNC) => None,
                    };
                    if let Some(head) = head {
                        self.engine.note_head(head);
                    }
                }
            }
        }
    }
}
