//! [`ApiClient`]: the JSON calls of the `/v1` API around sync: health,
//! registering a workspace, minting tokens, invites; and attached files'
//! chunks.

use hearth_shared::api::{
    ChunkNames, CreateInvite, Health, InviteResponse, MintToken, MintTokenResponse, MissingChunks,
    PutChunkResponse, RecoveryResponse, RedeemInvite, RedeemRecovery, RedeemResponse,
    RegisterResponse, RegisterWorkspace, TokenList, UnreferencedResponse,
};
use hearth_shared::engine::TransportError;
use hearth_shared::id::{ChunkName, TokenId, WorkspaceId};
use hearth_shared::routes::Route;

use super::http_client::{Call, HttpClient};

/// The account calls of one server.
#[derive(Debug, Clone)]
pub struct ApiClient {
    http: HttpClient,
}

impl ApiClient {
    pub fn new(http: HttpClient) -> Self {
        Self { http }
    }

    pub fn origin(&self) -> &str {
        self.http.origin()
    }

    /// `GET /v1/health`.
    pub async fn health(&self) -> Result<Health, TransportError> {
        self.http.send(Call::route(&Route::Health)).await?.json()
    }

    /// `POST /v1/workspaces`: registers a workspace made on this device,
    /// with the server's one-time setup code when it asks for one.
    pub async fn register(
        &self,
        workspace: &WorkspaceId,
        label: &str,
        setup_code: Option<&str>,
    ) -> Result<RegisterResponse, TransportError> {
        let body = RegisterWorkspace {
            workspace_id: workspace.clone(),
            label: label.to_owned(),
            setup_code: setup_code.map(str::to_owned),
        };
        self.http
            .send(Call::route(&Route::Register).json(&body)?)
            .await?
            .json()
    }

    /// `POST /v1/workspaces/{ws}/tokens` (master).
    pub async fn mint_token(
        &self,
        master: &str,
        workspace: &WorkspaceId,
        body: &MintToken,
    ) -> Result<MintTokenResponse, TransportError> {
        let call = Call::route(&Route::MintToken(workspace.clone()))
            .token(master)
            .json(body)?;
        self.http.send(call).await?.json()
    }

    /// `GET /v1/workspaces/{ws}/tokens` (master).
    pub async fn list_tokens(
        &self,
        master: &str,
        workspace: &WorkspaceId,
    ) -> Result<TokenList, TransportError> {
        let call = Call::route(&Route::ListTokens(workspace.clone())).token(master);
        self.http.send(call).await?.json()
    }

    /// `DELETE /v1/workspaces/{ws}/tokens/{id}` (master).
    pub async fn revoke_token(
        &self,
        master: &str,
        workspace: &WorkspaceId,
        token_id: &TokenId,
    ) -> Result<(), TransportError> {
        let call =
            Call::route(&Route::RevokeToken(workspace.clone(), token_id.clone())).token(master);
        self.http.send(call).await?;
        Ok(())
    }

    /// `POST /v1/workspaces/{ws}/invites` (master).
    pub async fn create_invite(
        &self,
        master: &str,
        workspace: &WorkspaceId,
        body: &CreateInvite,
    ) -> Result<InviteResponse, TransportError> {
        let call = Call::route(&Route::CreateInvite(workspace.clone()))
            .token(master)
            .json(body)?;
        self.http.send(call).await?.json()
    }

    /// `POST /v1/recovery/redeem`: the holder of the recovery key becomes
    /// the workspace's owner.
    pub async fn redeem_recovery(
        &self,
        credential: &[u8; 32],
        label: &str,
    ) -> Result<RecoveryResponse, TransportError> {
        let body = RedeemRecovery::new(credential, label);
        self.http
            .send(Call::route(&Route::RedeemRecovery).json(&body)?)
            .await?
            .json()
    }

    /// `POST /v1/invites/redeem`.
    pub async fn redeem(
        &self,
        invite: &str,
        label: &str,
    ) -> Result<RedeemResponse, TransportError> {
        let body = RedeemInvite {
            invite: invite.to_owned(),
            label: label.to_owned(),
        };
        self.http
            .send(Call::route(&Route::RedeemInvite).json(&body)?)
            .await?
            .json()
    }

    /// `PUT /v1/workspaces/{ws}/chunks/{name}` (read-write): stores a
    /// chunk; `created` is false when the server already held it.
    pub async fn put_chunk(
        &self,
        token: &str,
        workspace: &WorkspaceId,
        name: &ChunkName,
        stored: &[u8],
    ) -> Result<PutChunkResponse, TransportError> {
        let call = Call::route(&Route::PutChunk {
            ws: workspace.clone(),
            name: *name,
        })
        .token(token)
        .bytes(stored);
        self.http.send(call).await?.json()
    }

    /// `GET /v1/workspaces/{ws}/chunks/{name}`: a chunk's stored bytes.
    pub async fn get_chunk(
        &self,
        token: &str,
        workspace: &WorkspaceId,
        name: &ChunkName,
    ) -> Result<Vec<u8>, TransportError> {
        let call = Call::route(&Route::GetChunk {
            ws: workspace.clone(),
            name: *name,
        })
        .token(token);
        Ok(self.http.send(call).await?.body.to_vec())
    }

    /// `POST /v1/workspaces/{ws}/chunks/missing` (read-write): which of
    /// `names` (at most [`hearth_shared::api::MAX_CHUNK_NAMES`]) the server
    /// lacks. Asking keeps a chunk set aside for deletion.
    pub async fn missing_chunks(
        &self,
        token: &str,
        workspace: &WorkspaceId,
        names: &[ChunkName],
    ) -> Result<Vec<ChunkName>, TransportError> {
        let body = ChunkNames {
            names: names.to_vec(),
        };
        let call = Call::route(&Route::MissingChunks(workspace.clone()))
            .token(token)
            .json(&body)?;
        let answer: MissingChunks = self.http.send(call).await?.json()?;
        Ok(answer.missing)
    }

    /// `POST /v1/workspaces/{ws}/chunks/unreferenced` (master): chunks no
    /// file uses any more, deleted after the server's grace period.
    pub async fn unreferenced_chunks(
        &self,
        master: &str,
        workspace: &WorkspaceId,
        names: &[ChunkName],
    ) -> Result<UnreferencedResponse, TransportError> {
        let body = ChunkNames {
            names: names.to_vec(),
        };
        let call = Call::route(&Route::UnreferencedChunks(workspace.clone()))
            .token(master)
            .json(&body)?;
        self.http.send(call).await?.json()
    }

    /// `POST /v1/workspaces/{ws}/shares` (read-write).
    pub async fn create_share(
        &self,
        token: &str,
        workspace: &WorkspaceId,
        ask: &hearth_shared::api::CreateShare,
    ) -> Result<hearth_shared::api::ShareInfo, TransportError> {
        let call = Call::route(&Route::CreateShare(workspace.clone()))
            .token(token)
            .json(ask)?;
        self.http.send(call).await?.json()
    }

    /// `DELETE /v1/workspaces/{ws}/shares/{share}` (read-write).
    pub async fn revoke_share(
        &self,
        token: &str,
        workspace: &WorkspaceId,
        share: &hearth_shared::id::ShareId,
    ) -> Result<(), TransportError> {
        let call = Call::route(&Route::RevokeShare(workspace.clone(), share.clone())).token(token);
        self.http.send(call).await?;
        Ok(())
    }

    /// `GET /v1/workspaces/{ws}/chunks` (master).
    pub async fn stored_chunks(
        &self,
        master: &str,
        workspace: &WorkspaceId,
    ) -> Result<hearth_shared::api::StoredChunks, TransportError> {
        let call = Call::route(&Route::ListChunks(workspace.clone())).token(master);
        self.http.send(call).await?.json()
    }
}
