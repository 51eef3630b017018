//! Tests of the SQLite statements.

use super::*;
use hearth_shared::claims::Role;

fn ws() -> WorkspaceId {
    WorkspaceId::from_random([1; 16])
}

fn token(id: u8, role: Role) -> NewToken {
    NewToken {
        id: TokenId::from_random([id; 16]),
        workspace: ws(),
        role,
        scope: Scope::ReadWrite,
        label: format!("device {id}"),
        created_at: 100,
        expires_at: None,
    }
}

fn conn() -> Connection {
    let mut c = Connection::open_in_memory().unwrap();
    super::super::schema::migrate(&mut c).unwrap();
    c
}

#[test]
fn register_once_then_mint_list_revoke() {
    let mut c = conn();
    assert!(register_workspace(&mut c, "laptop", &token(1, Role::Master)).unwrap());
    assert!(!register_workspace(&mut c, "laptop", &token(2, Role::Master)).unwrap());
    mint_token(&mut c, &token(3, Role::Access)).unwrap();
    let list = list_tokens(&mut c, &ws()).unwrap();
    assert_eq!(list.len(), 2);
    let access = TokenId::from_random([3; 16]);
    assert_eq!(
        revoke_token(&mut c, &ws(), &access, 200).unwrap(),
        Revoked::Done
    );
    assert_eq!(
        revoke_token(&mut c, &ws(), &access, 300).unwrap(),
        Revoked::Done
    );
    let status = token_status(&mut c, &access).unwrap().unwrap();
    assert!(status.revoked);
    let master = TokenId::from_random([1; 16]);
    assert_eq!(
        revoke_token(&mut c, &ws(), &master, 200).unwrap(),
        Revoked::IsMaster
    );
    let other = TokenId::from_random([9; 16]);
    assert_eq!(
        revoke_token(&mut c, &ws(), &other, 200).unwrap(),
        Revoked::NotFound
    );
    touch_token(&mut c, &master, 500).unwrap();
    let list = list_tokens(&mut c, &ws()).unwrap();
    assert_eq!(list[0].last_seen_at, Some(500));
    assert_eq!(list[1].revoked_at, Some(200));
}

#[test]
fn an_invite_opens_once_and_only_before_it_expires() {
    let mut c = conn();
    register_workspace(&mut c, "laptop", &token(1, Role::Master)).unwrap();
    create_invite(
        &mut c,
        b"h1",
        &ws(),
        Scope::ReadOnly,
        100,
        200,
        Some(b"wrapped one"),
    )
    .unwrap();
    create_invite(&mut c, b"h2", &ws(), Scope::ReadWrite, 100, 200, None).unwrap();
    let make = |n: u8| {
        move |w: WorkspaceId, s: Scope| NewToken {
            workspace: w,
            scope: s,
            ..token(n, Role::Access)
        }
    };
    assert!(
        redeem_invite(&mut c, b"h2", 200, make(5))
            .unwrap()
            .is_none(),
        "expired"
    );
    let (t, key) = redeem_invite(&mut c, b"h1", 150, make(6)).unwrap().unwrap();
    assert_eq!(t.scope, Scope::ReadOnly);
    assert_eq!(key.as_deref(), Some(&b"wrapped one"[..]), "handed out once");
    assert_eq!(stored_keys(&c), 0, "and no longer kept");
    assert!(
        redeem_invite(&mut c, b"h1", 151, make(7))
            .unwrap()
            .is_none(),
        "used"
    );
    assert!(
        redeem_invite(&mut c, b"nope", 151, make(8))
            .unwrap()
            .is_none()
    );
    assert!(
        token_status(&mut c, &TokenId::from_random([6; 16]))
            .unwrap()
            .is_some()
    );
}

fn stored_keys(c: &Connection) -> i64 {
    c.query_row(
        "SELECT COUNT(*) FROM invites WHERE wrapped_key IS NOT NULL",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn an_expired_invite_loses_its_wrapped_key_at_once_and_goes_later() {
    let mut c = conn();
    register_workspace(&mut c, "laptop", &token(1, Role::Master)).unwrap();
    create_invite(
        &mut c,
        b"old",
        &ws(),
        Scope::ReadWrite,
        100,
        200,
        Some(b"k1"),
    )
    .unwrap();
    create_invite(
        &mut c,
        b"new",
        &ws(),
        Scope::ReadWrite,
        100,
        900,
        Some(b"k2"),
    )
    .unwrap();
    assert_eq!(purge_invites(&mut c, 250, 0).unwrap(), 0, "kept a while");
    assert_eq!(stored_keys(&c), 1, "only the live invite keeps its key");
    assert_eq!(purge_invites(&mut c, 250, 201).unwrap(), 1);
    let left: i64 = c
        .query_row("SELECT COUNT(*) FROM invites", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 1);
}
