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
use hearth_shared::engine::{
    Action, DriverFacts, Engine, EngineConfig, RoundOutcome, RoundReport, Standing, SyncStatus,
    jitter_from_random, next_action, peer_id_from_random,
};
use hearth_shared::id::{TokenId, WorkspaceId};
use hearth_shared::share_link::ShareLink;

use super::api_client::ApiClient;
use super::error::DeviceError;
use super::http_client::HttpClient;
use super::keyring::{self, Keyring, random_iv};
use super::profile::{Profile, ServerLink};
use super::store_fs::FsStore;
use super::transport_http::HttpTransport;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `N` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], DeviceError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| DeviceError::Io(format!("no randomness: {e}")))?;
    Ok(bytes)
}

/// 16 random bytes from the operating system.
pub fn random16() -> Result<[u8; 16], DeviceError> {
    random_bytes()
}

/// 8 random bytes from the operating system.
fn random8() -> Result<[u8; 8], DeviceError> {
    random_bytes()
}

/// Retry jitter: a full-range random `u64`.
fn jitter() -> Result<u64, DeviceError> {
    Ok(jitter_from_random(random8()?))
}

/// A workspace on this device.
pub struct Device {
    dir: PathBuf,
    profile: Profile,
    engine: Engine<FsStore, HttpTransport>,
    workspace: Workspace,
    /// The workspace's keys, if it is encrypted.
    keys: Option<Keyring>,
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
        let mut engine = Engine::open(
            store,
            transport,
            peer_id_from_random(random8()?),
            config_for(&profile),
        )
        .await?;
        let mut keys = keyring::load(dir)?;
        if let Some(keys) = &mut keys {
            if keyring::with_device_secret(keys)? {
                keyring::save(keys, dir)?;
            }
            engine.set_keys(keyring::engine_keys(keys, &profile.workspace));
        }
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
            keys,
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

    /// Creates a new, end-to-end encrypted workspace in `dir`, offline: its
    /// first key is made here, before it ever meets a server, and reaches
    /// other devices only through pairing links.
    pub async fn create_encrypted(dir: impl AsRef<Path>, label: &str) -> Result<Self, DeviceError> {
        let dir = dir.as_ref();
        if let Some(p) = Profile::load(dir)? {
            return Err(DeviceError::AlreadyExists(p.workspace.to_string()));
        }
        std::fs::create_dir_all(dir).map_err(|e| DeviceError::Io(e.to_string()))?;
        keyring::save(&keyring::fresh()?, dir)?;
        Self::create(dir, label).await
    }

    /// Whether the workspace is end-to-end encrypted on this device.
    pub fn is_encrypted(&self) -> bool {
        self.keys.is_some()
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
        Self::redeem_with(dir.as_ref(), &link.server, &link.invite, link.secret, label).await
    }

    /// Redeems an invite at `origin`, then pulls the workspace.
    pub async fn redeem(
        dir: impl AsRef<Path>,
        origin: &str,
        invite: &str,
        label: &str,
    ) -> Result<Self, DeviceError> {
        Self::redeem_with(dir.as_ref(), origin, invite, None, label).await
    }

    /// Redeems an invite; with the pairing link's `secret`, also unwraps
    /// the workspace key the invite carried, and keeps it.
    async fn redeem_with(
        dir: &Path,
        origin: &str,
        invite: &str,
        secret: Option<[u8; 32]>,
        label: &str,
    ) -> Result<Self, DeviceError> {
        if let Some(p) = Profile::load(dir)? {
            return Err(DeviceError::AlreadyExists(p.workspace.to_string()));
        }
        let api = ApiClient::new(HttpClient::new(origin)?);
        let redeemed = api.redeem(invite, label).await?;
        if let Some(secret) = secret {
            use base64::Engine as _;
            let wrapped = redeemed
                .wrapped_key
                .as_deref()
                .and_then(|w| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(w).ok())
                .ok_or_else(|| {
                    DeviceError::Corrupt(
                        "the server gave no workspace key with the invite; ask for a new pairing link"
                            .into(),
                    )
                })?;
            let mut ring =
                hearth_shared::keywrap::unwrap_ring(&wrapped, &secret, &redeemed.workspace_id)
                    .map_err(|e| DeviceError::Corrupt(e.to_string()))?;
            keyring::with_device_secret(&mut ring)?;
            std::fs::create_dir_all(dir).map_err(|e| DeviceError::Io(e.to_string()))?;
            keyring::save(&ring, dir)?;
        }
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

    /// Encrypts this workspace, which was not (its owner's device only):
    /// a first key is made and kept here, then the engine replaces the
    /// server's log with a sealed snapshot and has the server delete the
    /// plaintext it kept for undo. Other devices then need a pairing link.
    pub async fn encrypt(&mut self) -> Result<(), DeviceError> {
        self.master()?;
        if self.keys.is_some() {
            return Err(DeviceError::Io(
                "this workspace is already encrypted".into(),
            ));
        }
        // Kept before the server learns of the key, so that a device
        // stopped half-way still holds the key its workspace now needs.
        let ring = keyring::fresh()?;
        keyring::save(&ring, &self.dir)?;
        self.keys = Some(ring.clone());
        let result = self
            .engine
            .encrypt(
                keyring::engine_keys(&ring, &self.profile.workspace),
                now_ms(),
            )
            .await;
        self.workspace.refresh()?;
        result?;
        Ok(())
    }

    /// Removes another device of the workspace (master only): revokes its
    /// token, then, for an encrypted workspace, rotates the key (a new
    /// epoch, kept here first, wrapped for every remaining device), so the
    /// removed device opens nothing written from now on.
    pub async fn remove_device(&mut self, token_id: &TokenId) -> Result<(), DeviceError> {
        let (api, server) = self.master()?;
        api.revoke_token(&server.token, &self.profile.workspace, token_id)
            .await?;
        let Some(ring) = &self.keys else {
            return Ok(());
        };
        let next = ring.with_new_epoch(random_bytes()?);
        keyring::save(&next, &self.dir)?;
        self.keys = Some(next.clone());
        let result = self.engine.rotate(&next, now_ms()).await;
        self.keep_changed_ring()?;
        self.workspace.refresh()?;
        result?;
        Ok(())
    }

    /// Makes a new recovery key for this encrypted workspace (master
    /// only): the server keeps its credential's hash and every key epoch
    /// wrapped for it; the previous one stops working. Returns the key as
    /// a person writes it down (shown once; this device keeps only what it
    /// needs to wrap later key epochs for it).
    pub async fn make_recovery_key(&mut self) -> Result<String, DeviceError> {
        use hearth_shared::engine::Transport as _;
        self.master()?;
        let Some(ring) = &self.keys else {
            return Err(DeviceError::Io(
                "only an encrypted workspace has a recovery key".into(),
            ));
        };
        let key = hearth_shared::recovery::RecoveryKey::new(random_bytes()?);
        let wrapped = key.wrap_keys(ring, &self.profile.workspace, random_iv);
        let kept = key.keep(&self.profile.workspace);
        self.engine
            .transport()
            .put_recovery(&kept.credential_hash, &wrapped)
            .await?;
        let mut next = ring.clone();
        next.recovery = Some(kept);
        keyring::save(&next, &self.dir)?;
        self.engine.merge_ring(&next);
        self.keys = Some(next);
        Ok(key.to_text())
    }

    /// Gets a workspace back on this device with nothing but the server's
    /// address and its recovery key: the device becomes its owner (every
    /// earlier owner device is locked out), with every key epoch.
    pub async fn recover(
        dir: impl AsRef<Path>,
        origin: &str,
        recovery_key: &str,
        label: &str,
    ) -> Result<Self, DeviceError> {
        let dir = dir.as_ref();
        if let Some(p) = Profile::load(dir)? {
            return Err(DeviceError::AlreadyExists(p.workspace.to_string()));
        }
        let key = hearth_shared::recovery::RecoveryKey::parse(recovery_key)
            .map_err(|e| DeviceError::Corrupt(format!("that is not a recovery key: {e}")))?;
        let http = HttpClient::new(origin)?;
        let api = ApiClient::new(http.clone());
        let recovered = api.redeem_recovery(&key.credential(), label).await?;
        let wrapped = recovered.decoded_keys().map_err(DeviceError::Corrupt)?;
        let mut ring = key
            .unwrap_keys(&wrapped, &recovered.workspace_id)
            .map_err(|e| DeviceError::Corrupt(e.to_string()))?;
        ring.recovery = Some(key.keep(&recovered.workspace_id));
        keyring::with_device_secret(&mut ring)?;
        std::fs::create_dir_all(dir).map_err(|e| DeviceError::Io(e.to_string()))?;
        keyring::save(&ring, dir)?;
        let server = ServerLink {
            origin: http.origin().to_owned(),
            token: recovered.master_token,
            token_id: Some(recovered.token_id),
            role: Role::Master,
            scope: Scope::ReadWrite,
        };
        Self::join_with(dir, recovered.workspace_id, server, label).await
    }

    /// Keeps the keyring if the engine's gained an epoch (a key the
    /// owner's device wrapped for this one after a rotation).
    fn keep_changed_ring(&mut self) -> Result<(), DeviceError> {
        if let Some(ring) = self.engine.take_changed_ring() {
            keyring::save(&ring, &self.dir)?;
            self.keys = Some(ring);
        }
        Ok(())
    }

    /// The keyring this device holds, if the workspace is encrypted.
    pub fn keys(&self) -> Option<&Keyring> {
        self.keys.as_ref()
    }

    /// Makes a share link with a single-use invite (master only).
    pub async fn invite(
        &self,
        scope: Scope,
        expires_in: Option<u64>,
    ) -> Result<ShareLink, DeviceError> {
        let (api, server) = self.master()?;
        // An encrypted workspace's key travels wrapped for a secret that
        // only the link carries.
        let (secret, wrapped_key) = match &self.keys {
            Some(ring) => {
                use base64::Engine as _;
                let secret: [u8; 32] = random_bytes()?;
                let wrapped = hearth_shared::keywrap::wrap_ring(
                    ring,
                    &secret,
                    &self.profile.workspace,
                    random_iv,
                );
                (
                    Some(secret),
                    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(wrapped)),
                )
            }
            None => (None, None),
        };
        let invite = api
            .create_invite(
                &server.token,
                &self.profile.workspace,
                &CreateInvite {
                    scope,
                    expires_in,
                    wrapped_key,
                },
            )
            .await?;
        Ok(ShareLink {
            server: server.origin.clone(),
            workspace: self.profile.workspace.clone(),
            invite: invite.invite,
            secret,
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

    /// The directory this device keeps its workspace in.
    pub fn dir(&self) -> &Path {
        &self.dir
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
        let result = self.engine.sync(now_ms()).await;
        self.keep_changed_ring()?;
        let report = result?;
        self.workspace.refresh()?;
        self.engine.save_local().await?;
        Ok(report)
    }

    /// Where this device stands with its server, before any refusal.
    fn standing(&self) -> Standing {
        match &self.profile.server {
            None => Standing::Unconnected,
            Some(_) if self.engine.can_write() => Standing::ReadWrite,
            Some(_) => Standing::ReadOnly,
        }
    }

    /// Keeps syncing until `stop` completes, doing what
    /// [`next_action`] decides: a round whenever the server announces a new
    /// head (or at the safety poll), retrying with backoff. Returns the
    /// server's refusal if it refuses the token for good, and
    /// [`DeviceError::NoServer`] if the workspace has no server.
    pub async fn watch(&mut self, stop: impl Future<Output = ()>) -> Result<(), DeviceError> {
        let mut stop = std::pin::pin!(stop);
        let mut facts = DriverFacts::default();
        // The token's refusal, once the server refused it for good.
        let mut refused = None;
        loop {
            facts.failures = self.engine.failures();
            facts.retry_after_ms = self.engine.retry_after_ms();
            facts.standing = match refused {
                Some(_) => Standing::Removed,
                None => self.standing(),
            };
            let action = next_action(&facts, self.engine.backoff(), jitter()?);
            facts = facts.quiet();
            match action {
                Action::SyncNow => {
                    let outcome = match self.sync_once().await {
                        Ok(report) if report.more => RoundOutcome::More,
                        Ok(_) => RoundOutcome::Done,
                        Err(DeviceError::Engine(e)) => {
                            if e.refusal().is_some() || e.key_problem().is_some() {
                                refused = Some(e);
                            }
                            RoundOutcome::Failed
                        }
                        Err(e) => return Err(e),
                    };
                    facts = facts.after_round(outcome);
                }
                Action::WaitForHead { poll_ms } => {
                    tokio::select! {
                        () = &mut stop => return Ok(()),
                        head = self.engine.wait_for_head() => match head {
                            Ok(head) => {
                                self.engine.note_head(head);
                                facts.head_announced = true;
                            }
                            Err(_) => facts.events_failed = true,
                        },
                        () = tokio::time::sleep(Duration::from_millis(poll_ms)) => {
                            facts.timer_elapsed = true;
                        }
                    }
                }
                // No local edits happen while the device watches.
                Action::Sleep { ms, .. } => {
                    tokio::select! {
                        () = &mut stop => return Ok(()),
                        () = tokio::time::sleep(Duration::from_millis(ms)) => {
                            facts.timer_elapsed = true;
                        }
                    }
                }
                Action::Stop => {
                    return Err(refused.map_or(DeviceError::NoServer, DeviceError::Engine));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use hearth_shared::engine::Backoff;

    use super::*;

    /// The device's jitter, from the operating system's random source,
    /// spreads its retries over the whole upper half of the backoff delay.
    #[test]
    fn retries_spread_over_the_backoff_range() {
        let policy = Backoff::default();
        let failed = DriverFacts {
            last_round: RoundOutcome::Failed,
            failures: 6,
            ..DriverFacts::default()
        };
        let (full, half) = (32_000u64, 16_000u64); // after 6 failures
        let mut hits = [0u32; 8];
        for _ in 0..2_000 {
            let Action::Sleep { ms, .. } = next_action(&failed, &policy, jitter().unwrap()) else {
                panic!("a failed round sleeps");
            };
            assert!((half..=full).contains(&ms), "{ms}");
            hits[((ms - half) * 8 / (full - half + 1)) as usize] += 1;
        }
        // 250 expected in each eighth; the old one-byte jitter put every
        // retry in the first one.
        for (i, &n) in hits.iter().enumerate() {
            assert!(n > 150, "eighth {i} got {n} of 2000");
        }
    }

    #[test]
    fn new_devices_get_distinct_valid_peer_ids() {
        let ids: std::collections::HashSet<u64> = (0..1_000)
            .map(|_| peer_id_from_random(random8().unwrap()))
            .collect();
        assert_eq!(ids.len(), 1_000);
        assert!(ids.iter().all(|&id| id < 1 << 63));
    }
}
