//! Registering, tokens, invites, and every class of bad token.

use hearth_shared::api::{InviteResponse, RedeemResponse, Scope, TokenList};
use hearth_shared::claims::{Claims, Role};
use hearth_shared::id::{TokenId, WorkspaceId};
use hyper::{Method, StatusCode};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::common::{Api, TestServer, files_under, new_ws};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Reads the claims of a token without checking it (test only).
fn claims_of(token: &str) -> Claims {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64url_decode(payload);
    serde_json::from_slice(&bytes).unwrap()
}

fn base64url_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c).unwrap() as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn sign(secret: &[u8], claims: &Claims) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

#[tokio::test]
async fn register_mint_list_revoke() {
    let server = TestServer::start().await;
    let api = server.api();
    let ws = new_ws();
    let master = api.register(&ws).await;

    // Registering again is a conflict.
    let again = api
        .json(
            Method::POST,
            "/v1/workspaces",
            None,
            &json!({"workspace_id": ws, "label": "x"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.code(), "workspace_exists");

    let phone = api
        .json(
            Method::POST,
            &format!("/v1/workspaces/{ws}/tokens"),
            Some(&master),
            &json!({"label": "phone", "scope": "rw", "expires_in": 3600}),
        )
        .await;
    assert_eq!(phone.status, StatusCode::CREATED);
    let phone: hearth_shared::api::MintTokenResponse = phone.json();

    let list = api
        .get_auth(&format!("/v1/workspaces/{ws}/tokens"), &master)
        .await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        !list.text().contains(&phone.token),
        "the list never carries a token"
    );
    let list: TokenList = list.json();
    assert_eq!(list.tokens.len(), 2);
    let row = list
        .tokens
        .iter()
        .find(|t| t.token_id == phone.token_id)
        .unwrap();
    assert_eq!(
        (row.label.as_str(), row.scope, row.role),
        ("phone", Scope::ReadWrite, Role::Access)
    );
    assert!(row.expires_at.is_some() && row.revoked_at.is_none());
    // Use is recorded (in the background, so wait for it).
    let mut seen = None;
    for _ in 0..500 {
        let list: TokenList = api
            .get_auth(&format!("/v1/workspaces/{ws}/tokens"), &master)
            .await
            .json();
        seen = list
            .tokens
            .iter()
            .find(|t| t.role == Role::Master)
            .and_then(|t| t.last_seen_at);
        if seen.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(seen.unwrap() >= now() - 60);

    // An access token may not mint, list or revoke.
    let denied = api
        .get_auth(&format!("/v1/workspaces/{ws}/tokens"), &phone.token)
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(denied.code(), "master_required");

    let path = format!("/v1/workspaces/{ws}/tokens/{}", phone.token_id);
    let auth = format!("Bearer {master}");
    let revoked = api
        .request(Method::DELETE, &path, &[("authorization", &auth)], "")
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let after = api
        .get_auth(&format!("/v1/workspaces/{ws}/tokens"), &phone.token)
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(after.code(), "token_revoked");

    let list: TokenList = api
        .get_auth(&format!("/v1/workspaces/{ws}/tokens"), &master)
        .await
        .json();
    assert!(
        list.tokens
            .iter()
            .any(|t| t.token_id == phone.token_id && t.revoked_at.is_some())
    );

    let unknown = format!(
        "/v1/workspaces/{ws}/tokens/{}",
        TokenId::from_random([0; 16])
    );
    let missing = api
        .request(Method::DELETE, &unknown, &[("authorization", &auth)], "")
        .await;
    assert_eq!(missing.code(), "token_not_found");
    let bad = format!("/v1/workspaces/{ws}/tokens/nope");
    let bad = api
        .request(Method::DELETE, &bad, &[("authorization", &auth)], "")
        .await;
    assert_eq!(
        (bad.status, bad.code().as_str()),
        (StatusCode::BAD_REQUEST, "invalid_token_id")
    );
}

#[tokio::test]
async fn bad_workspace_ids_and_bodies_are_400s() {
    let server = TestServer::start().await;
    let api = server.api();
    for id in [
        "short",
        "0123456789ABCDEF0123456789abcdef",
        &"a".repeat(33),
        "../../../../etc/passwd",
    ] {
        let reply = api
            .json(
                Method::POST,
                "/v1/workspaces",
                None,
                &json!({"workspace_id": id, "label": "x"}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{id}");
        assert_eq!(reply.code(), "invalid_workspace_id");
    }
    let reply = api
        .request(
            Method::POST,
            "/v1/workspaces",
            &[("content-type", "application/json")],
            "{not json",
        )
        .await;
    assert_eq!(reply.code(), "bad_request");
    let ws = new_ws();
    let master = api.register(&ws).await;
    let long = "a".repeat(5000);
    let bads = [
        long.as_str(),
        "..",
        "..%2F..%2Fetc",
        "%2e%2e",
        "A123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcdef0",
    ];
    for bad in bads {
        for path in [
            format!("/v1/workspaces/{bad}/tokens"),
            format!("/v1/workspaces/{bad}/entries?after=0"),
            format!("/v1/workspaces/{bad}/events"),
        ] {
            let reply = api.get_auth(&path, &master).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path}");
            assert_eq!(reply.code(), "invalid_workspace_id", "{path}");
        }
        let reply = api.push(bad, &master, Some("k"), b"x").await;
        assert_eq!(reply.code(), "invalid_workspace_id", "{bad}");
    }
    // Nothing but real workspaces ever reached the disk.
    let on_disk: Vec<String> = std::fs::read_dir(server.dir.path().join("workspaces"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        on_disk.iter().all(|n| WorkspaceId::parse(n).is_ok()),
        "{on_disk:?}"
    );
}

#[tokio::test]
async fn every_bad_token_is_refused() {
    let server = TestServer::start().await;
    let api = server.api();
    let ws = new_ws();
    let master = api.register(&ws).await;
    let other_ws = new_ws();
    let other_master = api.register(&other_ws).await;
    let secret = std::fs::read(server.dir.path().join("secret.key")).unwrap();
    let path = format!("/v1/workspaces/{ws}/tokens");

    let real = claims_of(&master);
    let expired = sign(
        &secret,
        &Claims {
            exp: now() - 3600,
            iat: now() - 7200,
            nbf: now() - 7200,
            ..real.clone()
        },
    );
    let future = sign(
        &secret,
        &Claims {
            nbf: now() + 3600,
            ..real.clone()
        },
    );
    let forged = sign(&[9u8; 32], &real);
    let payload = master.split('.').nth(1).unwrap();
    let alg_none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
    let unknown_jti = sign(
        &secret,
        &Claims {
            jti: TokenId::from_random([5; 16]),
            ..real.clone()
        },
    );

    let cases: Vec<(&str, Option<String>, StatusCode, &str)> = vec![
        ("missing", None, StatusCode::UNAUTHORIZED, "missing_token"),
        (
            "malformed",
            Some("Bearer not-a-jwt".into()),
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        ),
        (
            "not bearer",
            Some(format!("Token {master}")),
            StatusCode::UNAUTHORIZED,
            "missing_token",
        ),
        (
            "forged",
            Some(format!("Bearer {forged}")),
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        ),
        (
            "alg none",
            Some(format!("Bearer {alg_none}")),
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        ),
        (
            "expired",
            Some(format!("Bearer {expired}")),
            StatusCode::UNAUTHORIZED,
            "token_expired",
        ),
        (
            "not yet valid",
            Some(format!("Bearer {future}")),
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        ),
        (
            "unknown jti",
            Some(format!("Bearer {unknown_jti}")),
            StatusCode::UNAUTHORIZED,
            "token_revoked",
        ),
        (
            "other workspace",
            Some(format!("Bearer {other_master}")),
            StatusCode::FORBIDDEN,
            "wrong_workspace",
        ),
        ("good", Some(format!("Bearer {master}")), StatusCode::OK, ""),
    ];
    for (name, auth, status, code) in cases {
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        let reply = api.request(Method::GET, &path, &headers, "").await;
        assert_eq!(reply.status, status, "{name}: {}", reply.text());
        if !code.is_empty() {
            assert_eq!(reply.code(), code, "{name}");
            assert!(
                !reply.text().contains(&master),
                "{name}: no secrets in errors"
            );
        }
    }

    // A token signed for the other workspace's id but naming this one's jti.
    let cross = sign(
        &secret,
        &Claims {
            ws: WorkspaceId::parse(&other_ws).unwrap(),
            ..real
        },
    );
    let reply = api
        .get_auth(&format!("/v1/workspaces/{other_ws}/tokens"), &cross)
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_invite_opens_once() {
    let server = TestServer::start().await;
    let api = server.api();
    let ws = new_ws();
    let master = api.register(&ws).await;
    let invite = api
        .json(
            Method::POST,
            &format!("/v1/workspaces/{ws}/invites"),
            Some(&master),
            &json!({"scope": "ro"}),
        )
        .await;
    assert_eq!(invite.status, StatusCode::CREATED);
    let invite: InviteResponse = invite.json();
    assert!(invite.expires_at > now());

    let redeem = json!({"invite": invite.invite, "label": "tablet"});
    let first = api
        .json(Method::POST, "/v1/invites/redeem", None, &redeem)
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    let first: RedeemResponse = first.json();
    assert_eq!(first.workspace_id.as_str(), ws);
    assert_eq!(first.scope, Scope::ReadOnly);

    let second = api
        .json(Method::POST, "/v1/invites/redeem", None, &redeem)
        .await;
    assert_eq!(
        (second.status, second.code().as_str()),
        (StatusCode::GONE, "invite_invalid")
    );
    let bogus = api
        .json(
            Method::POST,
            "/v1/invites/redeem",
            None,
            &json!({"invite": "x", "label": "t"}),
        )
        .await;
    assert_eq!(bogus.code(), "invite_invalid");

    // The redeemed device shows up in the master's list.
    let list: TokenList = api
        .get_auth(&format!("/v1/workspaces/{ws}/tokens"), &master)
        .await
        .json();
    assert!(
        list.tokens
            .iter()
            .any(|t| t.token_id == first.token_id && t.label == "tablet")
    );

    // Only the master may invite.
    let denied = api
        .json(
            Method::POST,
            &format!("/v1/workspaces/{ws}/invites"),
            Some(&first.token),
            &json!({"scope": "rw"}),
        )
        .await;
    assert_eq!(denied.code(), "master_required");
}

#[tokio::test]
async fn register_and_redeem_are_rate_limited() {
    let server = TestServer::start_with(|c| {
        c.rate_limit_per_minute = 1;
        c.rate_limit_burst = 2;
    })
    .await;
    let api: Api = server.api();
    let body = json!({"invite": "nope", "label": "t"});
    for _ in 0..2 {
        let reply = api
            .json(Method::POST, "/v1/invites/redeem", None, &body)
            .await;
        assert_eq!(reply.code(), "invite_invalid");
    }
    let limited = api
        .json(Method::POST, "/v1/invites/redeem", None, &body)
        .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.code(), "rate_limited");
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!(retry >= 1);
    let ws = new_ws();
    let reg = api
        .json(
            Method::POST,
            "/v1/workspaces",
            None,
            &json!({"workspace_id": ws, "label": "x"}),
        )
        .await;
    assert_eq!(reg.status, StatusCode::TOO_MANY_REQUESTS);
    // Health is never limited.
    assert_eq!(api.get("/v1/health").await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_invite_hands_its_wrapped_key_out_once_and_the_server_keeps_no_copy() {
    use base64::Engine as _;
    let server = TestServer::start().await;
    let api = server.api();
    let ws = new_ws();
    let master = api.register(&ws).await;
    // What an owner's device sends: opaque bytes, here recognisable ones.
    let wrapped: Vec<u8> = (0..72u8).map(|i| i.wrapping_mul(37) ^ 0xa5).collect();
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&wrapped);
    let invite = api
        .json(
            Method::POST,
            &format!("/v1/workspaces/{ws}/invites"),
            Some(&master),
            &json!({"scope": "rw", "wrapped_key": text}),
        )
        .await;
    assert_eq!(invite.status, StatusCode::CREATED, "{}", invite.text());
    let invite: InviteResponse = invite.json();

    let redeem = json!({"invite": invite.invite, "label": "phone"});
    let first: RedeemResponse = api
        .json(Method::POST, "/v1/invites/redeem", None, &redeem)
        .await
        .json();
    assert_eq!(first.wrapped_key.as_deref(), Some(text.as_str()));
    let again = api
        .json(Method::POST, "/v1/invites/redeem", None, &redeem)
        .await;
    assert_eq!(again.status, StatusCode::GONE);

    // Nowhere in the data directory, while the server runs (the database,
    // its write-ahead log) and after it stops.
    let holds = |bytes: &[u8]| {
        bytes
            .windows(wrapped.len())
            .any(|w| w == wrapped.as_slice())
            || bytes.windows(text.len()).any(|w| w == text.as_bytes())
    };
    for (path, bytes) in files_under(server.dir.path()) {
        assert!(!holds(&bytes), "{} holds the wrapped key", path.display());
    }
    let dir = server.stop().await;
    for (path, bytes) in files_under(dir.path()) {
        assert!(!holds(&bytes), "{} holds the wrapped key", path.display());
    }
}

#[tokio::test]
async fn a_wrapped_key_that_is_not_base64url_or_too_large_is_refused() {
    use base64::Engine as _;
    let server = TestServer::start().await;
    let api = server.api();
    let ws = new_ws();
    let master = api.register(&ws).await;
    // Every key epoch of a workspace fits; one byte more does not.
    let huge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(vec![
        1u8;
        hearth_shared::api::MAX_WRAPPED_RING_BYTES
            + 1
    ]);
    for bad in ["not base64!", "", huge.as_str()] {
        let reply = api
            .json(
                Method::POST,
                &format!("/v1/workspaces/{ws}/invites"),
                Some(&master),
                &json!({"scope": "rw", "wrapped_key": bad}),
            )
            .await;
        assert_eq!(
            (reply.status, reply.code().as_str()),
            (StatusCode::BAD_REQUEST, "bad_request"),
            "{bad:?}: {}",
            reply.text()
        );
        assert!(reply.text().contains("wrapped_key"), "{}", reply.text());
    }
}

#[tokio::test]
async fn a_key_epoch_is_recorded_once_by_the_owner_and_read_by_every_device() {
    use base64::Engine as _;
    use hearth_shared::api::KeyEpochs;
    let server = TestServer::start().await;
    let api = server.api();
    let ws = new_ws();
    let master = api.register(&ws).await;
    let access = api.mint(&ws, &master, "rw").await;
    let keys = format!("/v1/workspaces/{ws}/keys");
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);

    // A workspace that is not encrypted has no epochs.
    let none: KeyEpochs = api.get_auth(&keys, &access).await.json();
    assert!(none.epochs.is_empty());

    let check = b64(&[7u8; 64]);
    let put = |token: String, epoch: &str, check: String| {
        let (api, path) = (server.api(), format!("{keys}/{epoch}"));
        async move {
            api.json(Method::PUT, &path, Some(&token), &json!({ "check": check }))
                .await
        }
    };
    let reply = put(master.clone(), "1", check.clone()).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    // The same again is fine (a retry); another check is refused.
    let reply = put(master.clone(), "1", check.clone()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let reply = put(master.clone(), "1", b64(&[8u8; 64])).await;
    assert_eq!(
        (reply.status, reply.code().as_str()),
        (StatusCode::CONFLICT, "key_epoch_exists")
    );
    assert!(reply.text().contains("pair"), "{}", reply.text());
    // Only the owner records epochs.
    let reply = put(access.clone(), "2", check.clone()).await;
    assert_eq!(
        (reply.status, reply.code().as_str()),
        (StatusCode::FORBIDDEN, "master_required")
    );
    // Bad epochs and bad checks are 400s with words.
    for (epoch, body) in [
        ("0", check.clone()),
        ("x", check.clone()),
        ("2", "not base64!".to_owned()),
        ("2", b64(&[1u8; 257])),
    ] {
        let reply = put(master.clone(), epoch, body).await;
        assert_eq!(
            (reply.status, reply.code().as_str()),
            (StatusCode::BAD_REQUEST, "bad_request"),
            "{epoch}: {}",
            reply.text()
        );
    }

    // Every device of the workspace reads the epoch; a stranger does not.
    let read: KeyEpochs = api.get_auth(&keys, &access).await.json();
    assert_eq!(read.epochs.len(), 1);
    assert_eq!((read.epochs[0].epoch, &read.epochs[0].check), (1, &check));
    let other = new_ws();
    let stranger = api.register(&other).await;
    let reply = api.get_auth(&keys, &stranger).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = api.get(&keys).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

/// The recovery key: the owner keeps its credential's hash and the wrapped
/// keys on the server; whoever holds the credential becomes the owner
/// (every earlier master token stops working) and gets the wrapped keys;
/// a replaced recovery key, a wrong one or a bad body opens nothing.
#[tokio::test]
async fn a_recovery_key_makes_a_new_owner_and_locks_out_the_old_one() {
    use hearth_shared::api::{PutRecovery, RecoveryResponse};
    use hearth_shared::recovery::{RecoveryKey, credential_hash};
    let server = TestServer::start().await;
    let api = server.api();
    let ws = new_ws();
    let master = api.register(&ws).await;
    let access = api.mint(&ws, &master, "rw").await;
    let path = format!("/v1/workspaces/{ws}/recovery");
    let b64 = |bytes: &[u8]| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    };
    let key = RecoveryKey::new([0x21; 32]);
    let wrapped = vec![vec![1u8; 69], vec![2u8; 69]];
    let body = PutRecovery::new(&credential_hash(&key.credential()), &wrapped);

    // Only the owner keeps one; bad bodies are 400s with words.
    let reply = api.json(Method::PUT, &path, Some(&access), &body).await;
    assert_eq!(reply.code().as_str(), "master_required");
    for bad in [
        json!({ "credential_hash": b64(&[1; 31]), "wrapped_keys": [b64(&[1; 69])] }),
        json!({ "credential_hash": "not base64!", "wrapped_keys": [b64(&[1; 69])] }),
        json!({ "credential_hash": b64(&[1; 32]), "wrapped_keys": [] }),
        json!({ "credential_hash": b64(&[1; 32]), "wrapped_keys": [b64(&[1; 513])] }),
        json!({ "credential_hash": b64(&[1; 32]) }),
    ] {
        let reply = api.json(Method::PUT, &path, Some(&master), &bad).await;
        assert_eq!(
            (reply.status, reply.code().as_str()),
            (StatusCode::BAD_REQUEST, "bad_request"),
            "{bad}: {}",
            reply.text()
        );
    }
    let reply = api.json(Method::PUT, &path, Some(&master), &body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());

    // The server's data holds the credential's hash, not the credential.
    let credential = key.credential();
    let mut searched = 0;
    for (path, bytes) in files_under(server.dir.path()) {
        searched += bytes.len();
        assert!(
            !bytes.windows(32).any(|w| w == credential),
            "{} holds the recovery credential",
            path.display()
        );
    }
    assert!(searched > 0);

    // A wrong credential opens nothing.
    let redeem = |credential: [u8; 32]| {
        let api = server.api();
        async move {
            api.json(
                Method::POST,
                "/v1/recovery/redeem",
                None,
                &json!({ "credential": b64(&credential), "label": "new phone" }),
            )
            .await
        }
    };
    let reply = redeem(RecoveryKey::new([0x22; 32]).credential()).await;
    assert_eq!(
        (reply.status, reply.code().as_str()),
        (StatusCode::FORBIDDEN, "recovery_invalid")
    );
    assert!(
        reply.text().contains("letter by letter"),
        "{}",
        reply.text()
    );

    // The right one: a new owner, the wrapped keys, the old owner locked out.
    let reply = redeem(credential).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let recovered: RecoveryResponse = reply.json();
    assert_eq!(recovered.workspace_id.as_str(), ws);
    assert_eq!(recovered.decoded_keys().unwrap(), wrapped);
    let tokens = format!("/v1/workspaces/{ws}/tokens");
    let reply = api.get_auth(&tokens, &recovered.master_token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let reply = api.get_auth(&tokens, &master).await;
    assert_eq!(
        (reply.status, reply.code().as_str()),
        (StatusCode::UNAUTHORIZED, "token_revoked")
    );
    // Other devices go on.
    let pull = format!("/v1/workspaces/{ws}/entries");
    assert_eq!(api.get_auth(&pull, &access).await.status, StatusCode::OK);

    // Replacing the recovery key: the old one stops working.
    let new_key = RecoveryKey::new([0x23; 32]);
    let body = PutRecovery::new(&credential_hash(&new_key.credential()), &wrapped);
    let reply = api
        .json(Method::PUT, &path, Some(&recovered.master_token), &body)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(redeem(credential).await.code().as_str(), "recovery_invalid");
    assert_eq!(redeem(new_key.credential()).await.status, StatusCode::OK);

    // Garbage is a 400, never a 500.
    for bad in [
        json!({ "credential": "!!", "label": "x" }),
        json!({ "credential": b64(&[0; 33]), "label": "x" }),
        json!({ "credential": b64(&[0; 32]), "label": "" }),
        json!({ "label": "x" }),
    ] {
        let reply = api
            .json(Method::POST, "/v1/recovery/redeem", None, &bad)
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

/// Device keys: each token registers its public key; the owner wraps a
/// recorded key epoch for live devices only; each device reads its own
/// copies; revoking a token deletes its copies; bad bodies get 400s.
#[tokio::test]
async fn a_key_epoch_is_wrapped_for_each_live_device_and_a_removed_one_loses_its_copy() {
    use hearth_shared::api::DeviceKey;
    let server = TestServer::start().await;
    let api = server.api();
    let ws = new_ws();
    let master = api.register(&ws).await;
    let phone = api.mint(&ws, &master, "rw").await;
    let reader = api.mint(&ws, &master, "ro").await;
    let b64 = |bytes: &[u8]| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    };
    let device_key = format!("/v1/workspaces/{ws}/device-key");
    let register = |token: String, key: serde_json::Value| {
        let (api, path) = (server.api(), device_key.clone());
        async move {
            api.json(
                Method::PUT,
                &path,
                Some(&token),
                &json!({ "public_key": key }),
            )
            .await
        }
    };
    // Any token registers its own key, a read-only one too.
    for (token, byte) in [(&master, 1u8), (&phone, 2), (&reader, 3)] {
        let reply = register(token.clone(), json!(b64(&[byte; 32]))).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    }
    for bad in [
        json!("not base64!"),
        json!(b64(&[1u8; 31])),
        json!(b64(&[1u8; 33])),
        json!(7),
    ] {
        let reply = register(phone.clone(), bad.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            reply.text()
        );
    }
    // The owner sees every device's key in the list.
    let list: TokenList = api
        .get_auth(&format!("/v1/workspaces/{ws}/tokens"), &master)
        .await
        .json();
    assert_eq!(list.device_keys().len(), 3);
    let id_of = |token: &str| claims_of(token).jti;

    let wraps = |epoch: &str| format!("/v1/workspaces/{ws}/keys/{epoch}/devices");
    let copies = json!({ "wrapped": [
        { "token_id": id_of(&phone), "key": b64(&[0xa2; 101]) },
        { "token_id": id_of(&reader), "key": b64(&[0xa3; 101]) },
    ]});
    // An epoch that is not recorded takes no copies.
    let reply = api
        .json(Method::PUT, &wraps("2"), Some(&master), &copies)
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text());
    let reply = api
        .json(
            Method::PUT,
            &format!("/v1/workspaces/{ws}/keys/2"),
            Some(&master),
            &json!({ "check": b64(&[7u8; 64]) }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    // Only the owner wraps.
    let reply = api
        .json(Method::PUT, &wraps("2"), Some(&phone), &copies)
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = api
        .json(Method::PUT, &wraps("2"), Some(&master), &copies)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let mine: DeviceKey = api.get_auth(&device_key, &phone).await.json();
    assert_eq!(mine.public_key, Some(b64(&[2; 32])));
    assert_eq!(mine.decoded().unwrap(), vec![vec![0xa2; 101]]);

    // Removing the reader deletes its copy, and no new one is taken for it.
    let reply = api
        .request(
            Method::DELETE,
            &format!("/v1/workspaces/{ws}/tokens/{}", id_of(&reader)),
            &[("authorization", &format!("Bearer {master}"))],
            bytes::Bytes::new(),
        )
        .await;
    assert!(reply.status.is_success(), "{}", reply.text());
    let reply = api
        .json(Method::PUT, &wraps("2"), Some(&master), &copies)
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
    assert!(
        reply.text().contains("nothing was kept"),
        "{}",
        reply.text()
    );
    let on_disk: usize = files_under(server.dir.path())
        .iter()
        .map(|(_, bytes)| bytes.windows(101).filter(|w| *w == [0xa3; 101]).count())
        .sum();
    assert_eq!(
        on_disk, 0,
        "the removed device's copy is gone from the index"
    );
    // A new key for the phone drops what was wrapped for the old one.
    let reply = register(phone.clone(), json!(b64(&[9; 32]))).await;
    assert_eq!(reply.status, StatusCode::OK);
    let mine: DeviceKey = api.get_auth(&device_key, &phone).await.json();
    assert!(mine.wrapped.is_empty());
    // Bad copies are 400s.
    for bad in [
        json!({ "wrapped": [] }),
        json!({ "wrapped": [{ "token_id": id_of(&phone), "key": "not base64!" }] }),
        json!({ "wrapped": [{ "token_id": "nope", "key": b64(&[1; 101]) }] }),
    ] {
        let reply = api
            .json(Method::PUT, &wraps("2"), Some(&master), &bad)
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            reply.text()
        );
    }
}
