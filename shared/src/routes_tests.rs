//! The route table's tests: every route resolves back from the request it
//! builds, and bad requests are told apart.

use super::*;

fn all(ws: &WorkspaceId, id: &TokenId) -> Vec<Route> {
    vec![
        Route::Health,
        Route::Register,
        Route::MintToken(ws.clone()),
        Route::ListTokens(ws.clone()),
        Route::RevokeToken(ws.clone(), id.clone()),
        Route::SetExpiry(ws.clone(), id.clone()),
        Route::ReplaceMaster(ws.clone()),
        Route::CreateInvite(ws.clone()),
        Route::RedeemInvite,
        Route::Push(ws.clone()),
        Route::Pull {
            ws: ws.clone(),
            after: 42,
        },
        Route::PutSnapshot {
            ws: ws.clone(),
            upto: 7,
        },
        Route::UndoCompaction(ws.clone()),
        Route::ForgetCompactions(ws.clone()),
        Route::Events(ws.clone()),
        Route::ListKeys(ws.clone()),
        Route::PutKeyCheck {
            ws: ws.clone(),
            epoch: 3,
        },
        Route::PutDeviceWraps {
            ws: ws.clone(),
            epoch: 2,
        },
        Route::PutDeviceKey(ws.clone()),
        Route::GetDeviceKey(ws.clone()),
        Route::PutRecovery(ws.clone()),
        Route::RedeemRecovery,
        Route::PutChunk {
            ws: ws.clone(),
            name: ChunkName::from_digest([9; 32]),
        },
        Route::GetChunk {
            ws: ws.clone(),
            name: ChunkName::from_digest([0xfe; 32]),
        },
        Route::MissingChunks(ws.clone()),
        Route::UnreferencedChunks(ws.clone()),
        Route::ListChunks(ws.clone()),
        Route::CreateShare(ws.clone()),
        Route::ListShares(ws.clone()),
        Route::RevokeShare(ws.clone(), ShareId::from_random([5; 16])),
        Route::UpdateShare(ws.clone(), ShareId::from_random([5; 16])),
        Route::GetShare(ShareId::from_random([6; 16])),
        Route::GetShareChunk {
            share: ShareId::from_random([7; 16]),
            name: ChunkName::from_digest([8; 32]),
        },
    ]
}

#[test]
fn every_route_resolves_back_from_the_request_it_builds() {
    let ws = WorkspaceId::from_random([3; 16]);
    let id = TokenId::from_random([4; 16]);
    for route in all(&ws, &id) {
        let full = route.path();
        let (path, query) = match full.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (full.as_str(), None),
        };
        assert!(is_api(path), "{full}");
        assert_eq!(
            resolve(route.method().as_str(), path, query),
            Ok(route.clone()),
            "{full}"
        );
    }
}

#[test]
fn unknown_paths_methods_and_parameters_are_told_apart() {
    let ws = WorkspaceId::from_random([3; 16]);
    let cases: Vec<(&str, String, Option<&str>, Unresolved)> = vec![
        ("GET", "/v1/nothing".into(), None, Unresolved::NotFound),
        ("GET", "/v1".into(), None, Unresolved::NotFound),
        ("GET", "/v2/health".into(), None, Unresolved::NotApi),
        ("GET", "/v1health".into(), None, Unresolved::NotApi),
        (
            "DELETE",
            "/v1/health".into(),
            None,
            Unresolved::MethodNotAllowed,
        ),
        (
            "PATCH",
            format!("/v1/workspaces/{ws}/entries"),
            None,
            Unresolved::MethodNotAllowed,
        ),
        ("PATCH", "/v1/elsewhere".into(), None, Unresolved::NotFound),
        (
            "GET",
            format!("/v1/workspaces/{ws}/entries"),
            Some("after=-1"),
            Unresolved::BadQuery("`after` must be a sequence number".into()),
        ),
        (
            "PUT",
            format!("/v1/workspaces/{ws}/snapshot"),
            None,
            Unresolved::BadQuery("the query parameter `upto` is missing".into()),
        ),
        (
            "PUT",
            format!("/v1/workspaces/{ws}/keys/0"),
            None,
            Unresolved::BadQuery(
                "a key epoch in the path must be a number from 1 to 4294967295".into(),
            ),
        ),
        (
            "DELETE",
            format!("/v1/workspaces/{ws}/keys"),
            None,
            Unresolved::MethodNotAllowed,
        ),
    ];
    for (method, path, query, want) in cases {
        assert_eq!(resolve(method, &path, query), Err(want), "{method} {path}");
    }
    assert!(matches!(
        resolve("GET", "/v1/workspaces/..%2F..%2Fetc/entries", None),
        Err(Unresolved::BadWorkspaceId(_))
    ));
    assert!(matches!(
        resolve("DELETE", &format!("/v1/workspaces/{ws}/tokens/x"), None),
        Err(Unresolved::BadTokenId(_))
    ));
    assert_eq!(resolve("HEAD", "/v1/health", None), Ok(Route::Health));
    assert_eq!(
        resolve("GET", &format!("/v1/workspaces/{ws}/entries"), None),
        Ok(Route::Pull { ws, after: 0 })
    );
}

#[test]
fn urls_join_any_origin() {
    assert_eq!(
        Route::Health.url("https://h.example/"),
        "https://h.example/v1/health"
    );
    assert_eq!(
        Route::Register.url("http://127.0.0.1:9"),
        "http://127.0.0.1:9/v1/workspaces"
    );
}
