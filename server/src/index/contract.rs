//! The index's contract: one story, told the same way by every backend.
//! A backend's tests call [`story`] on a fresh, empty index.
//!
//! register → mint → invite → redeem → key epochs and device keys →
//! recovery → revoke, with what each step must refuse along the way.

// A contract is a test: a failed step panics with what differed.
#![allow(clippy::unwrap_used)]

use hearth_shared::api::Scope;
use hearth_shared::claims::Role;
use hearth_shared::id::{TokenId, WorkspaceId};

use super::{ExpirySet, Index, KeyEpochPut, NewDevice, NewInvite, NewToken, Revoked, WrapsPut};

fn token(ws: &WorkspaceId, n: u8, role: Role, at: u64) -> NewToken {
    NewToken {
        id: TokenId::from_random([n; 16]),
        workspace: ws.clone(),
        role,
        scope: Scope::ReadWrite,
        label: format!("device {n}"),
        created_at: at,
        expires_at: None,
    }
}

fn device(n: u8) -> NewDevice {
    NewDevice {
        id: TokenId::from_random([n; 16]),
        label: format!("device {n}"),
    }
}

/// Runs the story on `index`, which must be empty; panics at the first
/// step the backend tells differently.
pub async fn story(index: &dyn Index) {
    let ws = WorkspaceId::from_random([0xa1; 16]);
    let other = WorkspaceId::from_random([0xb2; 16]);
    let master = token(&ws, 1, Role::Master, 100);

    // Register, once.
    assert!(
        index
            .register_workspace("home".into(), master.clone())
            .await
            .unwrap()
    );
    assert!(
        !index
            .register_workspace("again".into(), token(&ws, 2, Role::Master, 100))
            .await
            .unwrap(),
        "a workspace registers once"
    );
    let status = index
        .token_status(master.id.clone())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (status.workspace.as_str(), status.role, status.revoked),
        (ws.as_str(), Role::Master, false)
    );
    assert_eq!(
        index
            .token_status(TokenId::from_random([9; 16]))
            .await
            .unwrap(),
        None
    );

    // Setup codes: one use, and only before they expire.
    index
        .add_setup_code(b"code".to_vec(), 100, 200)
        .await
        .unwrap();
    let by_code = token(&other, 3, Role::Master, 150);
    assert_eq!(
        index
            .register_with_code(b"nope".to_vec(), 150, "x".into(), by_code.clone())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        index
            .register_with_code(b"code".to_vec(), 150, "other".into(), by_code.clone())
            .await
            .unwrap(),
        Some(true)
    );
    assert_eq!(
        index
            .register_with_code(b"code".to_vec(), 151, "other".into(), by_code)
            .await
            .unwrap(),
        None,
        "a code is used up"
    );
    index
        .add_setup_code(b"late".to_vec(), 100, 200)
        .await
        .unwrap();
    assert_eq!(
        index
            .register_with_code(
                b"late".to_vec(),
                200,
                "x".into(),
                token(&WorkspaceId::from_random([0xc3; 16]), 4, Role::Master, 200)
            )
            .await
            .unwrap(),
        None,
        "an expired code opens nothing"
    );

    // Mint and list.
    let laptop = NewToken {
        scope: Scope::ReadOnly,
        ..token(&ws, 5, Role::Access, 110)
    };
    index.mint_token(laptop.clone()).await.unwrap();
    let list = index.list_tokens(ws.clone()).await.unwrap();
    assert_eq!(
        list.iter().map(|t| t.token_id.clone()).collect::<Vec<_>>(),
        vec![master.id.clone(), laptop.id.clone()],
        "oldest first"
    );
    assert_eq!(list[1].scope, Scope::ReadOnly);
    index.touch_token(laptop.id.clone(), 120).await.unwrap();
    assert_eq!(
        index.list_tokens(ws.clone()).await.unwrap()[1].last_seen_at,
        Some(120)
    );

    // Invite and redeem: once, before it expires, and its key handed out once.
    let invite = |hash: &[u8], expires_at, key: Option<&[u8]>| NewInvite {
        secret_hash: hash.to_vec(),
        workspace: ws.clone(),
        scope: Scope::ReadWrite,
        created_at: 120,
        expires_at,
        wrapped_key: key.map(<[u8]>::to_vec),
    };
    index
        .create_invite(invite(b"i1", 300, Some(b"wrapped")))
        .await
        .unwrap();
    index.create_invite(invite(b"i2", 130, None)).await.unwrap();
    assert_eq!(
        index
            .redeem_invite(b"i2".to_vec(), 130, device(6))
            .await
            .unwrap(),
        None,
        "expired"
    );
    let (phone, key) = index
        .redeem_invite(b"i1".to_vec(), 140, device(7))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            phone.workspace.clone(),
            phone.role,
            phone.scope,
            phone.created_at
        ),
        (ws.clone(), Role::Access, Scope::ReadWrite, 140)
    );
    assert_eq!(key.as_deref(), Some(&b"wrapped"[..]));
    assert_eq!(
        index
            .redeem_invite(b"i1".to_vec(), 141, device(8))
            .await
            .unwrap(),
        None,
        "used"
    );
    assert!(
        index
            .token_status(phone.id.clone())
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        index.purge_invites(141, 131).await.unwrap(),
        1,
        "the expired invite goes"
    );

    // Key epochs, device keys, wrapped copies.
    assert_eq!(
        index
            .put_key_epoch(ws.clone(), 1, b"check1".to_vec(), 150, 2)
            .await
            .unwrap(),
        KeyEpochPut::Created
    );
    assert_eq!(
        index
            .put_key_epoch(ws.clone(), 1, b"check1".to_vec(), 150, 2)
            .await
            .unwrap(),
        KeyEpochPut::Unchanged
    );
    assert_eq!(
        index
            .put_key_epoch(ws.clone(), 1, b"other".to_vec(), 150, 2)
            .await
            .unwrap(),
        KeyEpochPut::Conflict
    );
    assert_eq!(
        index
            .put_key_epoch(ws.clone(), 2, b"check2".to_vec(), 151, 2)
            .await
            .unwrap(),
        KeyEpochPut::Created
    );
    assert_eq!(
        index
            .put_key_epoch(ws.clone(), 3, b"check3".to_vec(), 152, 2)
            .await
            .unwrap(),
        KeyEpochPut::TooMany
    );
    assert_eq!(
        index.key_epochs(ws.clone()).await.unwrap(),
        vec![(1, b"check1".to_vec()), (2, b"check2".to_vec())]
    );
    assert!(
        index
            .set_public_key(ws.clone(), phone.id.clone(), vec![7; 32])
            .await
            .unwrap()
    );
    assert!(
        !index
            .set_public_key(other.clone(), phone.id.clone(), vec![7; 32])
            .await
            .unwrap(),
        "not a token of that workspace"
    );
    assert_eq!(
        index
            .put_device_wraps(ws.clone(), 9, vec![(phone.id.clone(), b"w".to_vec())], 160)
            .await
            .unwrap(),
        WrapsPut::NoEpoch
    );
    assert_eq!(
        index
            .put_device_wraps(ws.clone(), 2, vec![(laptop.id.clone(), b"w".to_vec())], 160)
            .await
            .unwrap(),
        WrapsPut::NotADevice(laptop.id.clone()),
        "no public key"
    );
    assert_eq!(
        index
            .put_device_wraps(ws.clone(), 2, vec![(phone.id.clone(), b"w2".to_vec())], 160)
            .await
            .unwrap(),
        WrapsPut::Kept
    );
    assert_eq!(
        index
            .put_device_wraps(ws.clone(), 1, vec![(phone.id.clone(), b"w1".to_vec())], 160)
            .await
            .unwrap(),
        WrapsPut::Kept
    );
    assert_eq!(
        index
            .device_key(ws.clone(), phone.id.clone())
            .await
            .unwrap(),
        (Some(vec![7; 32]), vec![b"w1".to_vec(), b"w2".to_vec()]),
        "oldest epoch first"
    );
    assert!(
        index
            .set_public_key(ws.clone(), phone.id.clone(), vec![8; 32])
            .await
            .unwrap()
    );
    assert_eq!(
        index
            .device_key(ws.clone(), phone.id.clone())
            .await
            .unwrap(),
        (Some(vec![8; 32]), vec![]),
        "a new key drops the copies wrapped for the old one"
    );

    // Expiry.
    match index
        .set_expiry(ws.clone(), laptop.id.clone(), Some(500))
        .await
        .unwrap()
    {
        ExpirySet::Done(info) => assert_eq!(info.expires_at, Some(500)),
        other => panic!("setting an expiry: {other:?}"),
    }
    assert_eq!(
        index
            .token_status(laptop.id.clone())
            .await
            .unwrap()
            .unwrap()
            .expires_at,
        Some(500)
    );
    assert_eq!(
        index
            .set_expiry(ws.clone(), master.id.clone(), Some(500))
            .await
            .unwrap(),
        ExpirySet::IsMaster
    );
    assert_eq!(
        index
            .set_expiry(other.clone(), laptop.id.clone(), None)
            .await
            .unwrap(),
        ExpirySet::NotFound
    );

    // Replace the master token: the old one stops at once.
    let master2 = token(&ws, 10, Role::Master, 170);
    index.replace_master(master2.clone(), 170).await.unwrap();
    assert!(
        index
            .token_status(master.id.clone())
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
    assert!(
        !index
            .token_status(master2.id.clone())
            .await
            .unwrap()
            .unwrap()
            .revoked
    );

    // Recovery: the credential opens its workspace once set, and locks out every owner device.
    assert_eq!(
        index
            .redeem_recovery(b"cred".to_vec(), 180, device(11))
            .await
            .unwrap(),
        None
    );
    assert!(
        !index
            .put_recovery(ws.clone(), b"cred".to_vec(), "[\"k1\"]".into(), 180)
            .await
            .unwrap()
    );
    assert!(
        index
            .put_recovery(ws.clone(), b"cred2".to_vec(), "[\"k2\"]".into(), 181)
            .await
            .unwrap(),
        "replaced"
    );
    assert_eq!(
        index
            .redeem_recovery(b"cred".to_vec(), 182, device(11))
            .await
            .unwrap(),
        None,
        "a replaced key no longer works"
    );
    let (owner, keys) = index
        .redeem_recovery(b"cred2".to_vec(), 183, device(12))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            owner.workspace.clone(),
            owner.role,
            owner.scope,
            keys.as_str()
        ),
        (ws.clone(), Role::Master, Scope::ReadWrite, "[\"k2\"]")
    );
    assert!(
        index
            .token_status(master2.id.clone())
            .await
            .unwrap()
            .unwrap()
            .revoked,
        "earlier owner devices are locked out"
    );
    assert!(
        !index
            .token_status(phone.id.clone())
            .await
            .unwrap()
            .unwrap()
            .revoked,
        "other devices are not"
    );

    // Revoke: idempotent, never the master token, never another workspace's.
    assert!(
        index
            .put_device_wraps(ws.clone(), 2, vec![(phone.id.clone(), b"w".to_vec())], 190)
            .await
            .unwrap()
            == WrapsPut::Kept
    );
    assert_eq!(
        index
            .revoke_token(ws.clone(), phone.id.clone(), 190)
            .await
            .unwrap(),
        Revoked::Done
    );
    assert_eq!(
        index
            .revoke_token(ws.clone(), phone.id.clone(), 191)
            .await
            .unwrap(),
        Revoked::Done
    );
    assert!(
        index
            .token_status(phone.id.clone())
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
    assert_eq!(
        index
            .device_key(ws.clone(), phone.id.clone())
            .await
            .unwrap()
            .1,
        Vec::<Vec<u8>>::new(),
        "a removed device's copies go"
    );
    assert_eq!(
        index
            .revoke_token(ws.clone(), owner.id.clone(), 192)
            .await
            .unwrap(),
        Revoked::IsMaster
    );
    assert_eq!(
        index
            .revoke_token(other.clone(), laptop.id.clone(), 192)
            .await
            .unwrap(),
        Revoked::NotFound
    );
    let list = index.list_tokens(ws.clone()).await.unwrap();
    assert_eq!(
        list.iter()
            .find(|t| t.token_id == phone.id)
            .and_then(|t| t.revoked_at),
        Some(190)
    );

    // The operator's view, and deleting a workspace with everything of it.
    let all = index.list_workspaces().await.unwrap();
    assert_eq!(
        all.iter().map(|w| w.id.clone()).collect::<Vec<_>>(),
        vec![ws.clone(), other.clone()],
        "oldest first"
    );
    assert_eq!(
        (
            all[0].label.as_str(),
            all[0].created_at,
            all[0].devices,
            all[0].last_seen_at
        ),
        ("home", 100, 2, Some(120)),
        "laptop and the recovered owner are live"
    );
    // The operator's quota: set, changed, cleared; none for a stranger.
    assert_eq!(all[0].quota, None, "the server's default until set");
    assert!(index.set_quota(ws.clone(), Some(5_000)).await.unwrap());
    assert!(index.set_quota(ws.clone(), Some(0)).await.unwrap());
    assert!(index.set_quota(other.clone(), Some(7_000)).await.unwrap());
    assert!(
        !index
            .set_quota(WorkspaceId::from_random([0xee; 16]), Some(1))
            .await
            .unwrap()
    );
    let quotas: Vec<Option<u64>> = index
        .list_workspaces()
        .await
        .unwrap()
        .iter()
        .map(|w| w.quota)
        .collect();
    assert_eq!(quotas, vec![Some(0), Some(7_000)]);
    assert!(index.set_quota(other.clone(), None).await.unwrap());
    assert_eq!(index.list_workspaces().await.unwrap()[1].quota, None);
    assert!(index.delete_workspace(ws.clone()).await.unwrap());
    assert!(
        !index.delete_workspace(ws.clone()).await.unwrap(),
        "gone already"
    );
    assert_eq!(
        index.token_status(owner.id.clone()).await.unwrap(),
        None,
        "its tokens went with it"
    );
    assert_eq!(index.key_epochs(ws.clone()).await.unwrap(), vec![]);
    assert_eq!(
        index
            .redeem_recovery(b"cred2".to_vec(), 200, device(13))
            .await
            .unwrap(),
        None,
        "and its recovery key"
    );
    assert_eq!(index.list_workspaces().await.unwrap().len(), 1);
    super::share_contract::links(index).await;
}
