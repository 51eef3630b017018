//! Tests of what only the PostgreSQL index has to get right: two servers
//! on one database racing for the same invite, setup code or owner, and
//! the sorting of its failures. The story itself is the contract's
//! (`every_index_tells_the_story`).

use hearth_shared::api::Scope;
use hearth_shared::claims::Role;
use hearth_shared::id::{TokenId, WorkspaceId};

use super::PgIndex;
use crate::index::{Index, IndexError, KeyEpochPut, NewDevice, NewInvite, NewToken};
use crate::pg;

/// Two indexes, as two servers have them: one pool each, one database.
async fn two_servers() -> (PgIndex, PgIndex) {
    let url = pg::testing::fresh_database().await;
    let a = pg::pool(&url, 2).unwrap();
    pg::schema::migrate(&mut a.get().await.unwrap(), 1)
        .await
        .unwrap();
    let b = pg::pool(&url, 2).unwrap();
    (PgIndex::new(a), PgIndex::new(b))
}

fn master(ws: &WorkspaceId, n: u8) -> NewToken {
    NewToken {
        id: TokenId::from_random([n; 16]),
        workspace: ws.clone(),
        role: Role::Master,
        scope: Scope::ReadWrite,
        label: format!("owner {n}"),
        created_at: 100,
        expires_at: None,
    }
}

fn device(n: u8) -> NewDevice {
    NewDevice {
        id: TokenId::from_random([n; 16]),
        label: format!("device {n}"),
    }
}

#[tokio::test]
async fn an_invite_is_redeemed_once_when_two_servers_race() {
    let (a, b) = two_servers().await;
    let ws = WorkspaceId::from_random([1; 16]);
    assert!(
        a.register_workspace("home".into(), master(&ws, 1))
            .await
            .unwrap()
    );
    for round in 0..20u8 {
        let hash = vec![round; 32];
        a.create_invite(NewInvite {
            secret_hash: hash.clone(),
            workspace: ws.clone(),
            scope: Scope::ReadWrite,
            created_at: 100,
            expires_at: 1_000,
            wrapped_key: Some(b"wrapped".to_vec()),
        })
        .await
        .unwrap();
        let (x, y) = tokio::join!(
            a.redeem_invite(hash.clone(), 200, device(100 + round)),
            b.redeem_invite(hash.clone(), 200, device(200 - round)),
        );
        let won: Vec<_> = [x.unwrap(), y.unwrap()].into_iter().flatten().collect();
        assert_eq!(won.len(), 1, "round {round}: exactly one server redeems");
        assert_eq!(won[0].1.as_deref(), Some(&b"wrapped"[..]));
    }
    // The owner and one device per invite.
    assert_eq!(b.list_tokens(ws).await.unwrap().len(), 21);
}

#[tokio::test]
async fn a_setup_code_is_spent_once_when_two_servers_race() {
    let (a, b) = two_servers().await;
    for round in 0..10u8 {
        let code = vec![round; 32];
        a.add_setup_code(code.clone(), 100, 1_000).await.unwrap();
        let one = WorkspaceId::from_random([round; 16]);
        let other = WorkspaceId::from_random([100 + round; 16]);
        let (x, y) = tokio::join!(
            a.register_with_code(code.clone(), 200, "one".into(), master(&one, round)),
            b.register_with_code(
                code.clone(),
                200,
                "other".into(),
                master(&other, 100 + round)
            ),
        );
        let mut outcomes = [x.unwrap(), y.unwrap()];
        outcomes.sort();
        assert_eq!(outcomes, [None, Some(true)], "round {round}");
    }
    assert_eq!(a.list_workspaces().await.unwrap().len(), 10);
}

#[tokio::test]
async fn two_owners_replacing_the_master_token_at_once_leave_one() {
    let (a, b) = two_servers().await;
    let ws = WorkspaceId::from_random([1; 16]);
    assert!(
        a.register_workspace("home".into(), master(&ws, 1))
            .await
            .unwrap()
    );
    for round in 0..10u8 {
        let (x, y) = tokio::join!(
            a.replace_master(master(&ws, 10 + 2 * round), 200),
            b.replace_master(master(&ws, 11 + 2 * round), 200),
        );
        x.unwrap();
        y.unwrap();
        let live = a
            .list_tokens(ws.clone())
            .await
            .unwrap()
            .into_iter()
            .filter(|t| t.role == Role::Master && t.revoked_at.is_none())
            .count();
        assert_eq!(live, 1, "round {round}: one owner device");
    }
}

#[tokio::test]
async fn two_servers_never_pass_the_epoch_limit_together() {
    let (a, b) = two_servers().await;
    for round in 0..20u8 {
        let ws = WorkspaceId::from_random([round; 16]);
        assert!(
            a.register_workspace("home".into(), master(&ws, round))
                .await
                .unwrap()
        );
        let (x, y) = tokio::join!(
            a.put_key_epoch(ws.clone(), 1, b"one".to_vec(), 100, 1),
            b.put_key_epoch(ws.clone(), 2, b"two".to_vec(), 100, 1),
        );
        let mut outcomes = [x.unwrap(), y.unwrap()];
        outcomes.sort_by_key(|o| *o == KeyEpochPut::TooMany);
        assert_eq!(
            outcomes,
            [KeyEpochPut::Created, KeyEpochPut::TooMany],
            "round {round}"
        );
        assert_eq!(a.key_epochs(ws).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn every_epoch_a_client_may_name_is_kept() {
    let (a, _) = two_servers().await;
    let ws = WorkspaceId::from_random([1; 16]);
    assert!(
        a.register_workspace("home".into(), master(&ws, 1))
            .await
            .unwrap()
    );
    assert_eq!(
        a.put_key_epoch(ws.clone(), u32::MAX, b"c".to_vec(), 100, 9)
            .await
            .unwrap(),
        KeyEpochPut::Created
    );
    assert_eq!(
        a.key_epochs(ws).await.unwrap(),
        vec![(u32::MAX, b"c".to_vec())]
    );
}

#[tokio::test]
async fn failures_are_sorted_into_the_seams_kinds() {
    let (a, _) = two_servers().await;
    let ws = WorkspaceId::from_random([1; 16]);
    assert!(
        a.register_workspace("home".into(), master(&ws, 1))
            .await
            .unwrap()
    );
    assert!(matches!(
        a.mint_token(master(&ws, 1)).await,
        Err(IndexError::Conflict(_))
    ));
    // Nothing listens on port 1.
    let down = PgIndex::new(pg::pool("postgres://postgres@127.0.0.1:1/hearth", 1).unwrap());
    assert!(matches!(
        down.token_status(TokenId::from_random([1; 16])).await,
        Err(IndexError::Unavailable(_))
    ));
}
