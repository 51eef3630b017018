//! [`MemoryIndex`]: the token index in memory, for tests of code above the
//! index and as a second implementation that keeps the trait honest. One
//! lock around everything makes every operation atomic.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use hearth_shared::api::{Scope, TokenInfo};
use hearth_shared::claims::Role;
use hearth_shared::id::{ChunkName, ShareId, TokenId, WorkspaceId};

use super::{
    DeviceKeyRow, ExpirySet, Index, IndexError, KeyEpochPut, NewDevice, NewInvite, NewToken,
    Recovered, Redeemed, Revoked, ShareRow, TokenStatus, WrapsPut,
};

struct Token {
    row: NewToken,
    last_seen_at: Option<u64>,
    revoked_at: Option<u64>,
    public_key: Option<Vec<u8>>,
    /// Key epochs wrapped for this device.
    wraps: BTreeMap<u32, Vec<u8>>,
}

struct Invite {
    workspace: WorkspaceId,
    scope: Scope,
    expires_at: u64,
    used: bool,
    wrapped_key: Option<Vec<u8>>,
}

#[derive(Default)]
struct State {
    /// Label and creation time.
    workspaces: HashMap<WorkspaceId, (String, u64)>,
    /// In the order they were made.
    tokens: Vec<Token>,
    setup_codes: HashMap<Vec<u8>, u64>,
    invites: HashMap<Vec<u8>, Invite>,
    epochs: HashMap<WorkspaceId, BTreeMap<u32, Vec<u8>>>,
    /// Per workspace: the credential's hash and the wrapped keys.
    recovery: HashMap<WorkspaceId, (Vec<u8>, String)>,
    /// The operator's quotas.
    quotas: HashMap<WorkspaceId, u64>,
    /// Public links, in the order they were made.
    shares: Vec<ShareRow>,
}

impl State {
    fn token(&mut self, ws: &WorkspaceId, id: &TokenId) -> Option<&mut Token> {
        self.tokens
            .iter_mut()
            .find(|t| &t.row.id == id && &t.row.workspace == ws)
    }

    fn add(&mut self, row: NewToken) -> Result<(), IndexError> {
        if self.tokens.iter().any(|t| t.row.id == row.id) {
            return Err(IndexError::Conflict(format!("token {} exists", row.id)));
        }
        self.tokens.push(Token {
            row,
            last_seen_at: None,
            revoked_at: None,
            public_key: None,
            wraps: BTreeMap::new(),
        });
        Ok(())
    }

    fn revoke_masters(&mut self, ws: &WorkspaceId, now: u64) {
        for t in &mut self.tokens {
            if &t.row.workspace == ws && t.row.role == Role::Master && t.revoked_at.is_none() {
                t.revoked_at = Some(now);
                t.wraps.clear();
            }
        }
    }

    fn info(t: &Token) -> TokenInfo {
        TokenInfo {
            token_id: t.row.id.clone(),
            label: t.row.label.clone(),
            role: t.row.role,
            scope: t.row.scope,
            created_at: t.row.created_at,
            expires_at: t.row.expires_at,
            last_seen_at: t.last_seen_at,
            revoked_at: t.revoked_at,
            public_key: t.public_key.as_deref().map(super::public_key_text),
        }
    }
}

/// The index in memory.
#[derive(Default)]
pub struct MemoryIndex {
    state: Mutex<State>,
}

impl MemoryIndex {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl Index for MemoryIndex {
    async fn register_workspace(
        &self,
        label: String,
        master: NewToken,
    ) -> Result<bool, IndexError> {
        let mut st = self.lock();
        if st.workspaces.contains_key(&master.workspace) {
            return Ok(false);
        }
        st.workspaces
            .insert(master.workspace.clone(), (label, master.created_at));
        st.add(master)?;
        Ok(true)
    }

    async fn register_with_code(
        &self,
        code_hash: Vec<u8>,
        now: u64,
        label: String,
        master: NewToken,
    ) -> Result<Option<bool>, IndexError> {
        let mut st = self.lock();
        match st.setup_codes.get(&code_hash) {
            Some(&expires_at) if expires_at > now => {}
            _ => return Ok(None),
        }
        if st.workspaces.contains_key(&master.workspace) {
            return Ok(Some(false));
        }
        st.setup_codes.remove(&code_hash);
        st.workspaces
            .insert(master.workspace.clone(), (label, master.created_at));
        st.add(master)?;
        Ok(Some(true))
    }

    async fn add_setup_code(
        &self,
        code_hash: Vec<u8>,
        now: u64,
        expires_at: u64,
    ) -> Result<(), IndexError> {
        let mut st = self.lock();
        st.setup_codes.retain(|_, at| *at > now);
        st.setup_codes.insert(code_hash, expires_at);
        Ok(())
    }

    async fn mint_token(&self, token: NewToken) -> Result<(), IndexError> {
        self.lock().add(token)
    }

    async fn token_status(&self, id: TokenId) -> Result<Option<TokenStatus>, IndexError> {
        let st = self.lock();
        Ok(st
            .tokens
            .iter()
            .find(|t| t.row.id == id)
            .map(|t| TokenStatus {
                workspace: t.row.workspace.to_string(),
                role: t.row.role,
                scope: t.row.scope,
                revoked: t.revoked_at.is_some(),
                expires_at: t.row.expires_at,
            }))
    }

    async fn touch_token(&self, id: TokenId, now: u64) -> Result<(), IndexError> {
        let mut st = self.lock();
        if let Some(t) = st.tokens.iter_mut().find(|t| t.row.id == id) {
            t.last_seen_at = Some(now);
        }
        Ok(())
    }

    async fn list_tokens(&self, ws: WorkspaceId) -> Result<Vec<TokenInfo>, IndexError> {
        let st = self.lock();
        let mut list: Vec<&Token> = st.tokens.iter().filter(|t| t.row.workspace == ws).collect();
        list.sort_by(|a, b| {
            (a.row.created_at, a.row.id.as_str()).cmp(&(b.row.created_at, b.row.id.as_str()))
        });
        Ok(list.into_iter().map(State::info).collect())
    }

    async fn revoke_token(
        &self,
        ws: WorkspaceId,
        id: TokenId,
        now: u64,
    ) -> Result<Revoked, IndexError> {
        let mut st = self.lock();
        let Some(t) = st.token(&ws, &id) else {
            return Ok(Revoked::NotFound);
        };
        if t.row.role == Role::Master {
            return Ok(Revoked::IsMaster);
        }
        t.revoked_at.get_or_insert(now);
        t.wraps.clear();
        Ok(Revoked::Done)
    }

    async fn replace_master(&self, new: NewToken, now: u64) -> Result<(), IndexError> {
        let mut st = self.lock();
        st.revoke_masters(&new.workspace, now);
        st.add(new)
    }

    async fn set_expiry(
        &self,
        ws: WorkspaceId,
        id: TokenId,
        expires_at: Option<u64>,
    ) -> Result<ExpirySet, IndexError> {
        let mut st = self.lock();
        let Some(t) = st.token(&ws, &id) else {
            return Ok(ExpirySet::NotFound);
        };
        if t.row.role == Role::Master {
            return Ok(ExpirySet::IsMaster);
        }
        t.row.expires_at = expires_at;
        Ok(ExpirySet::Done(State::info(t)))
    }

    async fn set_public_key(
        &self,
        ws: WorkspaceId,
        token: TokenId,
        public_key: Vec<u8>,
    ) -> Result<bool, IndexError> {
        let mut st = self.lock();
        let Some(t) = st.token(&ws, &token) else {
            return Ok(false);
        };
        if t.public_key.as_deref() != Some(&public_key) {
            t.public_key = Some(public_key);
            t.wraps.clear();
        }
        Ok(true)
    }

    async fn device_key(
        &self,
        ws: WorkspaceId,
        token: TokenId,
    ) -> Result<DeviceKeyRow, IndexError> {
        let mut st = self.lock();
        Ok(match st.token(&ws, &token) {
            Some(t) => (t.public_key.clone(), t.wraps.values().cloned().collect()),
            None => (None, Vec::new()),
        })
    }

    async fn put_device_wraps(
        &self,
        ws: WorkspaceId,
        epoch: u32,
        copies: Vec<(TokenId, Vec<u8>)>,
        _now: u64,
    ) -> Result<WrapsPut, IndexError> {
        let mut st = self.lock();
        if !st.epochs.get(&ws).is_some_and(|e| e.contains_key(&epoch)) {
            return Ok(WrapsPut::NoEpoch);
        }
        for (token, _) in &copies {
            let live = st
                .token(&ws, token)
                .is_some_and(|t| t.revoked_at.is_none() && t.public_key.is_some());
            if !live {
                return Ok(WrapsPut::NotADevice(token.clone()));
            }
        }
        for (token, wrapped) in copies {
            if let Some(t) = st.token(&ws, &token) {
                t.wraps.insert(epoch, wrapped);
            }
        }
        Ok(WrapsPut::Kept)
    }

    async fn create_invite(&self, invite: NewInvite) -> Result<(), IndexError> {
        let mut st = self.lock();
        if st.invites.contains_key(&invite.secret_hash) {
            return Err(IndexError::Conflict("the invite exists".into()));
        }
        st.invites.insert(
            invite.secret_hash,
            Invite {
                workspace: invite.workspace,
                scope: invite.scope,
                expires_at: invite.expires_at,
                used: false,
                wrapped_key: invite.wrapped_key,
            },
        );
        Ok(())
    }

    async fn redeem_invite(
        &self,
        secret_hash: Vec<u8>,
        now: u64,
        device: NewDevice,
    ) -> Result<Option<Redeemed>, IndexError> {
        let mut st = self.lock();
        let Some(invite) = st.invites.get_mut(&secret_hash) else {
            return Ok(None);
        };
        if invite.used || invite.expires_at <= now {
            return Ok(None);
        }
        invite.used = true;
        let key = invite.wrapped_key.take();
        let token = NewToken {
            id: device.id,
            workspace: invite.workspace.clone(),
            role: Role::Access,
            scope: invite.scope,
            label: device.label,
            created_at: now,
            expires_at: None,
        };
        st.add(token.clone())?;
        Ok(Some((token, key)))
    }

    async fn purge_invites(&self, now: u64, before: u64) -> Result<usize, IndexError> {
        let mut st = self.lock();
        for invite in st.invites.values_mut() {
            if invite.expires_at <= now {
                invite.wrapped_key = None;
            }
        }
        let count = st.invites.len();
        st.invites.retain(|_, i| i.expires_at >= before);
        Ok(count - st.invites.len())
    }

    async fn key_epochs(&self, ws: WorkspaceId) -> Result<Vec<(u32, Vec<u8>)>, IndexError> {
        let st = self.lock();
        Ok(st
            .epochs
            .get(&ws)
            .map(|e| e.iter().map(|(n, c)| (*n, c.clone())).collect())
            .unwrap_or_default())
    }

    async fn put_key_epoch(
        &self,
        ws: WorkspaceId,
        epoch: u32,
        check: Vec<u8>,
        _now: u64,
        max_epochs: usize,
    ) -> Result<KeyEpochPut, IndexError> {
        let mut st = self.lock();
        let epochs = st.epochs.entry(ws).or_default();
        Ok(match epochs.get(&epoch) {
            Some(known) if *known == check => KeyEpochPut::Unchanged,
            Some(_) => KeyEpochPut::Conflict,
            None if epochs.len() >= max_epochs => KeyEpochPut::TooMany,
            None => {
                epochs.insert(epoch, check);
                KeyEpochPut::Created
            }
        })
    }

    async fn put_recovery(
        &self,
        ws: WorkspaceId,
        credential_hash: Vec<u8>,
        wrapped_keys: String,
        _now: u64,
    ) -> Result<bool, IndexError> {
        let mut st = self.lock();
        Ok(st
            .recovery
            .insert(ws, (credential_hash, wrapped_keys))
            .is_some())
    }

    async fn list_workspaces(&self) -> Result<Vec<crate::index::WorkspaceSummary>, IndexError> {
        let st = self.lock();
        let mut list: Vec<crate::index::WorkspaceSummary> = st
            .workspaces
            .iter()
            .map(|(id, (label, created_at))| {
                let tokens = st.tokens.iter().filter(|t| &t.row.workspace == id);
                crate::index::WorkspaceSummary {
                    id: id.clone(),
                    label: label.clone(),
                    created_at: *created_at,
                    devices: tokens.clone().filter(|t| t.revoked_at.is_none()).count() as u64,
                    last_seen_at: tokens.filter_map(|t| t.last_seen_at).max(),
                    quota: st.quotas.get(id).copied(),
                }
            })
            .collect();
        list.sort_by(|a, b| (a.created_at, a.id.as_str()).cmp(&(b.created_at, b.id.as_str())));
        Ok(list)
    }

    async fn set_quota(&self, ws: WorkspaceId, quota: Option<u64>) -> Result<bool, IndexError> {
        let mut st = self.lock();
        if !st.workspaces.contains_key(&ws) {
            return Ok(false);
        }
        match quota {
            Some(q) => st.quotas.insert(ws, q),
            None => st.quotas.remove(&ws),
        };
        Ok(true)
    }

    async fn delete_workspace(&self, ws: WorkspaceId) -> Result<bool, IndexError> {
        let mut st = self.lock();
        st.quotas.remove(&ws);
        st.tokens.retain(|t| t.row.workspace != ws);
        st.invites.retain(|_, i| i.workspace != ws);
        st.epochs.remove(&ws);
        st.recovery.remove(&ws);
        st.shares.retain(|s| s.workspace != ws);
        Ok(st.workspaces.remove(&ws).is_some())
    }

    async fn create_share(&self, share: ShareRow, max: usize) -> Result<bool, IndexError> {
        let mut st = self.lock();
        if !st.workspaces.contains_key(&share.workspace) {
            return Err(IndexError::Other(format!(
                "no workspace {} to share from",
                share.workspace
            )));
        }
        if st.shares.iter().any(|s| s.id == share.id) {
            return Err(IndexError::Conflict(format!("share {} exists", share.id)));
        }
        let live = st
            .shares
            .iter()
            .filter(|s| s.workspace == share.workspace && s.expires_at > share.created_at)
            .count();
        if live >= max {
            return Ok(false);
        }
        st.shares.push(share);
        Ok(true)
    }

    async fn share(&self, id: ShareId) -> Result<Option<ShareRow>, IndexError> {
        Ok(self.lock().shares.iter().find(|s| s.id == id).cloned())
    }

    async fn list_shares(&self, ws: WorkspaceId) -> Result<Vec<ShareRow>, IndexError> {
        let mut found: Vec<ShareRow> = self
            .lock()
            .shares
            .iter()
            .filter(|s| s.workspace == ws)
            .cloned()
            .collect();
        found.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.id.as_str().cmp(b.id.as_str()))
        });
        Ok(found)
    }

    async fn delete_share(
        &self,
        ws: WorkspaceId,
        id: ShareId,
    ) -> Result<Option<ShareRow>, IndexError> {
        let mut st = self.lock();
        let at = st
            .shares
            .iter()
            .position(|s| s.id == id && s.workspace == ws);
        Ok(at.map(|i| st.shares.remove(i)))
    }

    async fn replace_share(
        &self,
        ws: WorkspaceId,
        id: ShareId,
        document: ChunkName,
        chunks: Vec<ChunkName>,
        now: u64,
    ) -> Result<Option<ShareRow>, IndexError> {
        let mut st = self.lock();
        let Some(row) = st
            .shares
            .iter_mut()
            .find(|s| s.id == id && s.workspace == ws && s.expires_at > now)
        else {
            return Ok(None);
        };
        let old = row.clone();
        row.document = document;
        row.chunks = chunks;
        Ok(Some(old))
    }

    async fn purge_shares(&self, now: u64) -> Result<Vec<ShareRow>, IndexError> {
        let mut st = self.lock();
        let (gone, kept) = std::mem::take(&mut st.shares)
            .into_iter()
            .partition(|s| s.expires_at <= now);
        st.shares = kept;
        Ok(gone)
    }

    async fn redeem_recovery(
        &self,
        credential_hash: Vec<u8>,
        now: u64,
        device: NewDevice,
    ) -> Result<Option<Recovered>, IndexError> {
        let mut st = self.lock();
        let Some((ws, keys)) = st
            .recovery
            .iter()
            .find(|(_, (hash, _))| *hash == credential_hash)
            .map(|(ws, (_, keys))| (ws.clone(), keys.clone()))
        else {
            return Ok(None);
        };
        st.revoke_masters(&ws, now);
        let token = NewToken {
            id: device.id,
            workspace: ws,
            role: Role::Master,
            scope: Scope::ReadWrite,
            label: device.label,
            created_at: now,
            expires_at: None,
        };
        st.add(token.clone())?;
        Ok(Some((token, keys)))
    }
}
