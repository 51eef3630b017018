//! The index's contract for public links: kept, counted against a
//! workspace's cap, listed newest first, revoked only by their own
//! workspace, purged once expired, and gone with their workspace.
//! [`super::contract::story`] tells it after its own.

// A contract is a test: a failed step panics with what differed.
#![allow(clippy::unwrap_used)]

use hearth_shared::api::Scope;
use hearth_shared::claims::Role;
use hearth_shared::id::{ChunkName, ShareId, TokenId, WorkspaceId};

use super::{Index, NewToken, ShareRow};

fn row(ws: &WorkspaceId, n: u8, created_at: u64, expires_at: u64, files: u8) -> ShareRow {
    ShareRow {
        id: ShareId::from_random([n; 16]),
        workspace: ws.clone(),
        document: ChunkName::from_digest([n; 32]),
        chunks: (0..files)
            .map(|i| ChunkName::from_digest([n.wrapping_add(100).wrapping_add(i); 32]))
            .collect(),
        created_at,
        expires_at,
    }
}

async fn register(index: &dyn Index, n: u8) -> WorkspaceId {
    let ws = WorkspaceId::from_random([n; 16]);
    let master = NewToken {
        id: TokenId::from_random([n; 16]),
        workspace: ws.clone(),
        role: Role::Master,
        scope: Scope::ReadWrite,
        label: "owner".into(),
        created_at: 900,
        expires_at: None,
    };
    assert!(
        index
            .register_workspace("shared".into(), master)
            .await
            .unwrap()
    );
    ws
}

/// Runs the links' story on `index`, which must hold no workspace with
/// the ids it registers.
pub async fn links(index: &dyn Index) {
    let home = register(index, 0xc3).await;
    let away = register(index, 0xd4).await;
    let first = row(&home, 1, 1_000, 2_000, 2);
    let brief = row(&home, 2, 1_100, 1_500, 0);
    assert!(index.create_share(first.clone(), 2).await.unwrap());
    assert!(index.create_share(brief.clone(), 2).await.unwrap());
    assert!(
        !index
            .create_share(row(&home, 3, 1_200, 5_000, 1), 2)
            .await
            .unwrap(),
        "two live links are the cap"
    );
    let later = row(&home, 3, 1_600, 5_000, 1);
    assert!(
        index.create_share(later.clone(), 2).await.unwrap(),
        "an expired link does not count"
    );
    assert!(
        index
            .create_share(row(&away, 4, 1_000, 9_000, 0), 2)
            .await
            .unwrap()
    );

    assert_eq!(
        index.share(first.id.clone()).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        index.share(ShareId::from_random([9; 16])).await.unwrap(),
        None
    );
    assert_eq!(
        index.list_shares(home.clone()).await.unwrap(),
        vec![later.clone(), brief.clone(), first.clone()],
        "newest first, expired ones until purged"
    );

    assert_eq!(
        index
            .delete_share(away.clone(), first.id.clone())
            .await
            .unwrap(),
        None,
        "another workspace's token revokes nothing"
    );
    assert_eq!(
        index
            .delete_share(home.clone(), first.id.clone())
            .await
            .unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        index
            .delete_share(home.clone(), first.id.clone())
            .await
            .unwrap(),
        None
    );
    assert_eq!(index.share(first.id.clone()).await.unwrap(), None);

    // A live link points at new chunks, only in its own workspace; an
    // expired one does not change.
    let doc2 = ChunkName::from_digest([77; 32]);
    let files2 = vec![ChunkName::from_digest([78; 32])];
    let replace = |ws: &WorkspaceId, id: &ShareId| {
        index.replace_share(ws.clone(), id.clone(), doc2, files2.clone(), 1_700)
    };
    assert_eq!(replace(&away, &later.id).await.unwrap(), None);
    assert_eq!(replace(&home, &brief.id).await.unwrap(), None, "expired");
    assert_eq!(
        replace(&home, &later.id).await.unwrap(),
        Some(later.clone())
    );
    let later = ShareRow {
        document: doc2,
        chunks: files2.clone(),
        ..later
    };
    assert_eq!(
        index.share(later.id.clone()).await.unwrap(),
        Some(later.clone())
    );
    assert_eq!(
        index.purge_shares(1_500).await.unwrap(),
        vec![brief.clone()]
    );
    assert_eq!(index.purge_shares(1_500).await.unwrap(), vec![]);
    assert_eq!(
        index.list_shares(home.clone()).await.unwrap(),
        vec![later.clone()]
    );

    assert!(index.delete_workspace(home.clone()).await.unwrap());
    assert_eq!(
        index.share(later.id.clone()).await.unwrap(),
        None,
        "gone with it"
    );
    assert_eq!(index.list_shares(away.clone()).await.unwrap().len(), 1);
    assert!(index.delete_workspace(away).await.unwrap());
}
