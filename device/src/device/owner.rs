//! The powers of the workspace's owner (its master device): encrypting
//! the workspace, removing a device (and rotating the key), making a
//! recovery key, inviting devices through share links, and minting
//! access tokens.

use hearth_shared::api::{CreateInvite, MintToken, MintTokenResponse, Scope};
use hearth_shared::claims::Role;
use hearth_shared::id::TokenId;
use hearth_shared::share_link::ShareLink;

use super::Device;
use crate::api_client::ApiClient;
use crate::error::DeviceError;
use crate::http_client::HttpClient;
use crate::keyring::{self, random_iv};
use crate::platform::{now_ms, random_bytes};
use crate::profile::ServerLink;

impl Device {
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
        let result = self.engine.rotate(&next, Some(token_id), now_ms()).await;
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
}
