//! Public read-only links, against a real server: made only from chunks
//! the workspace stores, read by anyone with the link and by no other
//! route, listed, updated and revoked only by the workspace's writers, and
//! once revoked read nothing, their chunks deleted by the next sweep.

use hearth_shared::api::{ChunkNames, CreateShare, ShareInfo, ShareList};
use hearth_shared::id::{ChunkName, ShareId};
use hearth_shared::routes::Route;
use hyper::StatusCode;
use sha2::{Digest as _, Sha256};

use crate::common::{TestServer, id, new_ws};

fn name_of(body: &[u8]) -> ChunkName {
    ChunkName::from_digest(Sha256::digest(body).into())
}

fn ask(document: ChunkName, chunks: &[ChunkName], expires_in: u64) -> Vec<u8> {
    serde_json::to_vec(&CreateShare {
        document,
        chunks: chunks.to_vec(),
        expires_in,
    })
    .unwrap()
}

#[tokio::test]
async fn a_link_reads_its_own_chunks_until_it_is_revoked_and_then_they_go() {
    // A grace period of none: the sweep after a revocation deletes.
    let server = TestServer::start_with(|c| c.chunk_grace_secs = 0).await;
    let api = server.api();
    let ws = new_ws();
    let master = api.register(&ws).await;
    let rw = api.mint(&ws, &master, "rw").await;
    let ro = api.mint(&ws, &master, "ro").await;
    let stranger_ws = new_ws();
    let stranger = api.register(&stranger_ws).await;

    let document = b"sealed note".to_vec();
    let photo = b"sealed photo".to_vec();
    let private = b"a chunk of another note".to_vec();
    for body in [&document, &photo, &private] {
        let put = api
            .call(
                &Route::PutChunk {
                    ws: id(&ws),
                    name: name_of(body),
                },
                Some(&rw),
                body.clone(),
            )
            .await;
        assert_eq!(put.status, StatusCode::CREATED, "{}", put.text());
    }
    let create = Route::CreateShare(id(&ws));

    // Refused: a chunk not stored, a life out of range, a read-only token,
    // no token.
    let unknown = name_of(b"never put");
    let missing = api
        .call(
            &create,
            Some(&rw),
            ask(name_of(&document), &[unknown], 3600),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.text());
    assert_eq!(missing.code(), "chunk_not_found");
    assert!(missing.text().contains(&unknown.to_string()));
    for life in [0, 59, 366 * 24 * 3600 + 1] {
        let bad = api
            .call(&create, Some(&rw), ask(name_of(&document), &[], life))
            .await;
        assert_eq!(
            bad.status,
            StatusCode::BAD_REQUEST,
            "{life}: {}",
            bad.text()
        );
    }
    let read_only = api
        .call(&create, Some(&ro), ask(name_of(&document), &[], 3600))
        .await;
    assert_eq!(read_only.status, StatusCode::FORBIDDEN);
    let anonymous = api
        .call(&create, None, ask(name_of(&document), &[], 3600))
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    let made = api
        .call(
            &create,
            Some(&rw),
            ask(
                name_of(&document),
                &[name_of(&photo), name_of(&photo)],
                3600,
            ),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());
    let made: ShareInfo = made.json();
    assert_eq!(made.expires_at - made.created, 3600);
    assert_eq!(made.document, name_of(&document));

    // Anyone with the link reads it and its chunks, and nothing else of
    // the workspace; the answer does not say which workspace it is.
    let opened = api
        .call(&Route::GetShare(made.share_id.clone()), None, vec![])
        .await;
    assert_eq!(opened.status, StatusCode::OK, "{}", opened.text());
    assert!(!opened.text().contains(&ws), "{}", opened.text());
    assert_eq!(opened.json::<ShareInfo>(), made);
    let chunk = |name: ChunkName| Route::GetShareChunk {
        share: made.share_id.clone(),
        name,
    };
    for body in [&document, &photo] {
        let read = api.call(&chunk(name_of(body)), None, vec![]).await;
        assert_eq!(read.status, StatusCode::OK);
        assert_eq!(&read.body[..], &body[..]);
    }
    let other = api.call(&chunk(name_of(&private)), None, vec![]).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    assert_eq!(other.code(), "chunk_not_found");
    let nothing = api
        .call(
            &Route::GetShare(ShareId::from_random([1; 16])),
            None,
            vec![],
        )
        .await;
    assert_eq!(nothing.code(), "share_not_found");
    let garbled = api.get("/v1/shares/not-a-link").await;
    assert_eq!(garbled.status, StatusCode::NOT_FOUND);
    assert_eq!(garbled.code(), "share_not_found");

    // Listed for the workspace's writers only.
    let list = api
        .call(&Route::ListShares(id(&ws)), Some(&rw), vec![])
        .await;
    assert_eq!(list.json::<ShareList>().shares, vec![made.clone()]);
    let list_ro = api
        .call(&Route::ListShares(id(&ws)), Some(&ro), vec![])
        .await;
    assert_eq!(list_ro.status, StatusCode::FORBIDDEN);
    let revoke = Route::RevokeShare(id(&ws), made.share_id.clone());
    let theirs = api.call(&revoke, Some(&stranger), vec![]).await;
    assert_eq!(theirs.status, StatusCode::FORBIDDEN, "{}", theirs.text());
    let elsewhere = api
        .call(
            &Route::RevokeShare(id(&stranger_ws), made.share_id.clone()),
            Some(&stranger),
            vec![],
        )
        .await;
    assert_eq!(
        elsewhere.code(),
        "share_not_found",
        "not another's to revoke"
    );

    // Updated to the note as it is now: the same link reads the new
    // document, and no more what it read before.
    let newer = b"sealed note, edited".to_vec();
    let put = api
        .call(
            &Route::PutChunk {
                ws: id(&ws),
                name: name_of(&newer),
            },
            Some(&rw),
            newer.clone(),
        )
        .await;
    assert_eq!(put.status, StatusCode::CREATED);
    let update = Route::UpdateShare(id(&ws), made.share_id.clone());
    let body = |document: ChunkName| {
        serde_json::to_vec(&hearth_shared::api::UpdateShare {
            document,
            chunks: vec![],
        })
        .unwrap()
    };
    let refused = api.call(&update, Some(&ro), body(name_of(&newer))).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let missing = api.call(&update, Some(&rw), body(unknown)).await;
    assert_eq!(missing.code(), "chunk_not_found");
    let nobody = api
        .call(
            &Route::UpdateShare(id(&ws), ShareId::from_random([2; 16])),
            Some(&rw),
            body(name_of(&newer)),
        )
        .await;
    assert_eq!(nobody.code(), "share_not_found");
    let updated = api.call(&update, Some(&rw), body(name_of(&newer))).await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text());
    let updated: ShareInfo = updated.json();
    assert_eq!(
        (updated.document, updated.expires_at, &updated.share_id),
        (name_of(&newer), made.expires_at, &made.share_id)
    );
    let read = api.call(&chunk(name_of(&newer)), None, vec![]).await;
    assert_eq!(&read.body[..], &newer[..]);
    let before = api.call(&chunk(name_of(&photo)), None, vec![]).await;
    assert_eq!(before.code(), "chunk_not_found");

    // Revoked: at once the link reads nothing; the next sweep deletes its
    // chunks, and the workspace's other chunk stays.
    let revoked = api.call(&revoke, Some(&rw), vec![]).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.text());
    let again = api.call(&revoke, Some(&rw), vec![]).await;
    assert_eq!(again.code(), "share_not_found");
    let after = api
        .call(&Route::GetShare(made.share_id.clone()), None, vec![])
        .await;
    assert_eq!(after.status, StatusCode::NOT_FOUND);
    assert_eq!(after.code(), "share_not_found");
    let after = api.call(&chunk(name_of(&photo)), None, vec![]).await;
    assert_eq!(after.code(), "share_not_found");
    let sweep = api
        .call(
            &Route::UnreferencedChunks(id(&ws)),
            Some(&master),
            serde_json::to_vec(&ChunkNames { names: vec![] }).unwrap(),
        )
        .await;
    assert_eq!(sweep.status, StatusCode::OK);
    let missing = api
        .call(
            &Route::MissingChunks(id(&ws)),
            Some(&rw),
            serde_json::to_vec(&ChunkNames {
                names: vec![
                    name_of(&document),
                    name_of(&photo),
                    name_of(&newer),
                    name_of(&private),
                ],
            })
            .unwrap(),
        )
        .await;
    assert_eq!(
        missing.json::<hearth_shared::api::MissingChunks>().missing,
        vec![name_of(&document), name_of(&photo), name_of(&newer)]
    );
    assert!(
        api.call(&Route::ListShares(id(&ws)), Some(&rw), vec![])
            .await
            .json::<ShareList>()
            .shares
            .is_empty()
    );
}
