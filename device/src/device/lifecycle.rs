//! Bringing a workspace onto this device: creating one (plain or
//! encrypted), opening it, pairing through a share link, joining with a
//! token, registering it with a server, and recovering it with its
//! recovery key.

use std::path::Path;

use hearth_migrations::Workspace;
use hearth_shared::api::Scope;
use hearth_shared::claims::Role;
use hearth_shared::engine::{Engine, EngineConfig, peer_id_from_random};
use hearth_shared::id::WorkspaceId;
use hearth_shared::share_link::ShareLink;

use super::Device;
use crate::api_client::ApiClient;
use crate::error::DeviceError;
use crate::http_client::HttpClient;
use crate::keyring;
use crate::platform::{random8, random16};
use crate::profile::{Profile, ServerLink};
use crate::store_fs::FsStore;
use crate::transport_http::HttpTransport;

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
}
