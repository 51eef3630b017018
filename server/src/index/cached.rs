//! [`Cached`]: any [`Index`] with the statuses of known tokens kept in
//! memory, so that an authorized request does not wait for the index. It
//! forgets what the writes it passes on change, and what invalidations
//! from other servers name.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hearth_shared::api::TokenInfo;
use hearth_shared::id::{ChunkName, ShareId, TokenId, WorkspaceId};

use super::{
    DeviceKeyRow, ExpirySet, Index, IndexError, KeyEpochPut, NewDevice, NewInvite, NewToken,
    Recovered, Redeemed, Revoked, ShareRow, TokenStatus, WrapsPut,
};

/// Most tokens whose status is kept in memory; past it the cache starts
/// again empty.
const TOKEN_CACHE_MAX: usize = 10_000;

/// What the index said about known tokens, so that an authorized request
/// does not wait for the index. Every change of a token's status made
/// through [`Cached`] (revoke, replace the master token, set an expiry,
/// recover) forgets what it changed before it answers, and a change made
/// elsewhere arrives as an invalidation ([`TokenCache::forget`],
/// [`TokenCache::forget_workspace`]), so a revoked token is refused on its
/// very next request. A lookup that started before a change never
/// stores its (stale) answer: [`TokenCache::put`] takes the generation read
/// before the lookup, and every forget moves the generation on. Unknown
/// token ids are never kept, so random ids cannot fill it.
#[derive(Default)]
pub struct TokenCache {
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    generation: u64,
    known: HashMap<TokenId, TokenStatus>,
}

impl TokenCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached status of `id`.
    pub fn get(&self, id: &TokenId) -> Option<TokenStatus> {
        self.lock().known.get(id).cloned()
    }

    /// The generation to pass to [`TokenCache::put`]; read it before the
    /// lookup.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Keeps what a lookup found, unless something was forgotten since it
    /// began.
    pub fn put(&self, generation: u64, id: &TokenId, status: TokenStatus) {
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        if inner.known.len() >= TOKEN_CACHE_MAX {
            inner.known.clear();
        }
        inner.known.insert(id.clone(), status);
    }

    /// Forgets one token (revoked, or given an expiry).
    pub fn forget(&self, id: &TokenId) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.known.remove(id);
    }

    /// Forgets every token of a workspace (its master token was replaced).
    pub fn forget_workspace(&self, ws: &WorkspaceId) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.known.retain(|_, s| s.workspace != ws.as_str());
    }
}

/// What a token change means for the caches of every server: forget one
/// token, every token of a workspace, or everything (a server that may
/// have missed announcements, while its link to the others was down).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    Token(TokenId),
    Workspace(WorkspaceId),
    All,
}

impl TokenCache {
    /// Applies an invalidation (from this server or another).
    pub fn apply(&self, invalidation: &Invalidation) {
        match invalidation {
            Invalidation::Token(id) => self.forget(id),
            Invalidation::Workspace(ws) => self.forget_workspace(ws),
            Invalidation::All => {
                let mut inner = self.lock();
                inner.generation += 1;
                inner.known.clear();
            }
        }
    }
}

/// Where [`Cached`] tells other servers what it invalidated (see
/// [`crate::heads`]); a single server needs nobody told.
pub type Announce = Arc<dyn Fn(Invalidation) + Send + Sync>;

/// An [`Index`] whose token statuses are cached in a [`TokenCache`].
pub struct Cached {
    inner: Arc<dyn Index>,
    cache: Arc<TokenCache>,
    announce: Option<Announce>,
}

impl Cached {
    pub fn new(inner: Arc<dyn Index>) -> Cached {
        Cached {
            inner,
            cache: Arc::new(TokenCache::default()),
            announce: None,
        }
    }

    /// Tells `announce` of every invalidation this server makes.
    pub fn announcing(mut self, announce: Announce) -> Cached {
        self.announce = Some(announce);
        self
    }

    /// The cache, for invalidations that other servers announce.
    pub fn cache(&self) -> Arc<TokenCache> {
        self.cache.clone()
    }

    fn invalidate(&self, invalidation: Invalidation) {
        self.cache.apply(&invalidation);
        if let Some(announce) = &self.announce {
            announce(invalidation);
        }
    }
}

#[async_trait::async_trait]
impl Index for Cached {
    async fn register_workspace(
        &self,
        label: String,
        master: NewToken,
    ) -> Result<bool, IndexError> {
        self.inner.register_workspace(label, master).await
    }

    async fn register_with_code(
        &self,
        code_hash: Vec<u8>,
        now: u64,
        label: String,
        master: NewToken,
    ) -> Result<Option<bool>, IndexError> {
        self.inner
            .register_with_code(code_hash, now, label, master)
            .await
    }

    async fn add_setup_code(
        &self,
        code_hash: Vec<u8>,
        now: u64,
        expires_at: u64,
    ) -> Result<(), IndexError> {
        self.inner.add_setup_code(code_hash, now, expires_at).await
    }

    async fn mint_token(&self, token: NewToken) -> Result<(), IndexError> {
        self.inner.mint_token(token).await
    }

    async fn token_status(&self, id: TokenId) -> Result<Option<TokenStatus>, IndexError> {
        if let Some(status) = self.cache.get(&id) {
            return Ok(Some(status));
        }
        let generation = self.cache.generation();
        let status = self.inner.token_status(id.clone()).await?;
        if let Some(known) = &status {
            self.cache.put(generation, &id, known.clone());
        }
        Ok(status)
    }

    async fn touch_token(&self, id: TokenId, now: u64) -> Result<(), IndexError> {
        self.inner.touch_token(id, now).await
    }

    async fn list_tokens(&self, ws: WorkspaceId) -> Result<Vec<TokenInfo>, IndexError> {
        self.inner.list_tokens(ws).await
    }

    async fn revoke_token(
        &self,
        ws: WorkspaceId,
        id: TokenId,
        now: u64,
    ) -> Result<Revoked, IndexError> {
        let outcome = self.inner.revoke_token(ws, id.clone(), now).await;
        self.invalidate(Invalidation::Token(id));
        outcome
    }

    async fn replace_master(&self, new: NewToken, now: u64) -> Result<(), IndexError> {
        let ws = new.workspace.clone();
        let outcome = self.inner.replace_master(new, now).await;
        self.invalidate(Invalidation::Workspace(ws));
        outcome
    }

    async fn set_expiry(
        &self,
        ws: WorkspaceId,
        id: TokenId,
        expires_at: Option<u64>,
    ) -> Result<ExpirySet, IndexError> {
        let outcome = self.inner.set_expiry(ws, id.clone(), expires_at).await;
        self.invalidate(Invalidation::Token(id));
        outcome
    }

    async fn set_public_key(
        &self,
        ws: WorkspaceId,
        token: TokenId,
        public_key: Vec<u8>,
    ) -> Result<bool, IndexError> {
        self.inner.set_public_key(ws, token, public_key).await
    }

    async fn device_key(
        &self,
        ws: WorkspaceId,
        token: TokenId,
    ) -> Result<DeviceKeyRow, IndexError> {
        self.inner.device_key(ws, token).await
    }

    async fn put_device_wraps(
        &self,
        ws: WorkspaceId,
        epoch: u32,
        copies: Vec<(TokenId, Vec<u8>)>,
        now: u64,
    ) -> Result<WrapsPut, IndexError> {
        self.inner.put_device_wraps(ws, epoch, copies, now).await
    }

    async fn create_invite(&self, invite: NewInvite) -> Result<(), IndexError> {
        self.inner.create_invite(invite).await
    }

    async fn redeem_invite(
        &self,
        secret_hash: Vec<u8>,
        now: u64,
        device: NewDevice,
    ) -> Result<Option<Redeemed>, IndexError> {
        self.inner.redeem_invite(secret_hash, now, device).await
    }

    async fn purge_invites(&self, now: u64, before: u64) -> Result<usize, IndexError> {
        self.inner.purge_invites(now, before).await
    }

    async fn key_epochs(&self, ws: WorkspaceId) -> Result<Vec<(u32, Vec<u8>)>, IndexError> {
        self.inner.key_epochs(ws).await
    }

    async fn put_key_epoch(
        &self,
        ws: WorkspaceId,
        epoch: u32,
        check: Vec<u8>,
        now: u64,
        max_epochs: usize,
    ) -> Result<KeyEpochPut, IndexError> {
        self.inner
            .put_key_epoch(ws, epoch, check, now, max_epochs)
            .await
    }

    async fn put_recovery(
        &self,
        ws: WorkspaceId,
        credential_hash: Vec<u8>,
        wrapped_keys: String,
        now: u64,
    ) -> Result<bool, IndexError> {
        self.inner
            .put_recovery(ws, credential_hash, wrapped_keys, now)
            .await
    }

    async fn list_workspaces(&self) -> Result<Vec<crate::index::WorkspaceSummary>, IndexError> {
        self.inner.list_workspaces().await
    }

    async fn set_quota(&self, ws: WorkspaceId, quota: Option<u64>) -> Result<bool, IndexError> {
        self.inner.set_quota(ws, quota).await
    }

    async fn create_share(&self, share: ShareRow, max: usize) -> Result<bool, IndexError> {
        self.inner.create_share(share, max).await
    }

    async fn share(&self, id: ShareId) -> Result<Option<ShareRow>, IndexError> {
        self.inner.share(id).await
    }

    async fn list_shares(&self, ws: WorkspaceId) -> Result<Vec<ShareRow>, IndexError> {
        self.inner.list_shares(ws).await
    }

    async fn delete_share(
        &self,
        ws: WorkspaceId,
        id: ShareId,
    ) -> Result<Option<ShareRow>, IndexError> {
        self.inner.delete_share(ws, id).await
    }

    async fn replace_share(
        &self,
        ws: WorkspaceId,
        id: ShareId,
        document: ChunkName,
        chunks: Vec<ChunkName>,
        now: u64,
    ) -> Result<Option<ShareRow>, IndexError> {
        self.inner
            .replace_share(ws, id, document, chunks, now)
            .await
    }

    async fn purge_shares(&self, now: u64) -> Result<Vec<ShareRow>, IndexError> {
        self.inner.purge_shares(now).await
    }

    async fn delete_workspace(&self, ws: WorkspaceId) -> Result<bool, IndexError> {
        let outcome = self.inner.delete_workspace(ws.clone()).await;
        self.invalidate(Invalidation::Workspace(ws));
        outcome
    }

    async fn redeem_recovery(
        &self,
        credential_hash: Vec<u8>,
        now: u64,
        device: NewDevice,
    ) -> Result<Option<Recovered>, IndexError> {
        let outcome = self
            .inner
            .redeem_recovery(credential_hash, now, device)
            .await?;
        if let Some((token, _)) = &outcome {
            self.invalidate(Invalidation::Workspace(token.workspace.clone()));
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use hearth_shared::api::Scope;
    use hearth_shared::claims::Role;

    use super::*;

    fn ws(b: u8) -> WorkspaceId {
        WorkspaceId::from_random([b; 16])
    }

    #[test]
    fn the_token_cache_never_keeps_an_answer_older_than_a_change() {
        let cache = TokenCache::default();
        let id = TokenId::from_random([1; 16]);
        let status = |revoked| TokenStatus {
            workspace: ws(1).to_string(),
            role: Role::Access,
            scope: Scope::ReadWrite,
            revoked,
            expires_at: None,
        };
        // A lookup starts, the token is revoked meanwhile, the lookup ends.
        let before = cache.generation();
        cache.forget(&id);
        cache.put(before, &id, status(false));
        assert_eq!(cache.get(&id), None, "a stale answer was kept");
        // A lookup after the change is kept, until the next change.
        cache.put(cache.generation(), &id, status(true));
        assert_eq!(cache.get(&id).map(|s| s.revoked), Some(true));
        cache.forget_workspace(&ws(1));
        assert_eq!(cache.get(&id), None);
    }
}
