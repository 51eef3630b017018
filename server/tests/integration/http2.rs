//! HTTP/2 with prior knowledge (as a proxy speaks it): pushes, pulls and an
//! event stream share one connection; the per-connection stream cap is
//! announced and held; a flood of streams reset at once ends the flooding
//! connection and nobody else notices.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::common::{TestServer, new_ws};

type Sender = hyper::client::conn::http2::SendRequest<Full<Bytes>>;

async fn h2_connect(server: &TestServer) -> Sender {
    let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    sender
}

fn request(method: Method, path: &str, token: &str, body: Vec<u8>) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(format!("http://localhost{path}"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/octet-stream")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

#[tokio::test]
async fn pushes_pulls_and_live_events_share_one_http2_connection() {
    let server = TestServer::start().await;
    let ws = new_ws();
    let master = server.api().register(&ws).await;
    let mut h2 = h2_connect(&server).await;

    // The event stream stays open on the connection while the pushes go.
    let events = h2
        .send_request(request(
            Method::GET,
            &format!("/v1/workspaces/{ws}/events"),
            &master,
            Vec::new(),
        ))
        .await
        .unwrap();
    assert_eq!(events.status(), StatusCode::OK);
    assert_eq!(events.version(), hyper::Version::HTTP_2);
    let mut events = events.into_body();

    let mut pushes = Vec::new();
    for i in 0..40u8 {
        let mut sender = h2.clone();
        let path = format!("/v1/workspaces/{ws}/entries");
        let master = master.clone();
        pushes.push(tokio::spawn(async move {
            let mut req = request(Method::POST, &path, &master, vec![i; 100]);
            req.headers_mut()
                .insert("idempotency-key", format!("k{i}").parse().unwrap());
            let res = sender.send_request(req).await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
        }));
    }
    for push in pushes {
        push.await.unwrap();
    }
    let pull = h2
        .send_request(request(
            Method::GET,
            &format!("/v1/workspaces/{ws}/entries?after=0"),
            &master,
            Vec::new(),
        ))
        .await
        .unwrap();
    assert_eq!(pull.headers()["hearth-head"], "40");
    let body = pull.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        hearth_shared::frame::decode_frames(&body).unwrap().len(),
        40
    );

    // The stream announced the heads as they came, up to 40.
    let mut seen = String::new();
    let waited = tokio::time::timeout(Duration::from_secs(60), async {
        while !seen.contains("\"head\":40") {
            let frame = events.frame().await.unwrap().unwrap();
            if let Ok(data) = frame.into_data() {
                seen.push_str(&String::from_utf8_lossy(&data));
            }
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "the event stream never announced head 40: {seen}"
    );
}

#[tokio::test]
async fn the_stream_cap_per_connection_is_announced_and_held() {
    let server = TestServer::start_with(|c| c.max_streams_per_connection = 4).await;
    let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (client, conn) = h2::client::handshake(stream).await.unwrap();
    tokio::spawn(conn);
    let mut client = client;
    // Four event streams that never end hold every place; the server said so.
    let ws = new_ws();
    let master = server.api().register(&ws).await;
    let mut open = Vec::new();
    for _ in 0..4 {
        client = client.ready().await.unwrap();
        let req = http::Request::get(format!("http://localhost/v1/workspaces/{ws}/events"))
            .header("authorization", format!("Bearer {master}"))
            .body(())
            .unwrap();
        let (res, _) = client.send_request(req, true).unwrap();
        open.push(res);
    }
    let mut streams = Vec::new();
    for res in open {
        let res = res.await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        streams.push(res);
    }
    assert_eq!(
        client.current_max_send_streams(),
        4,
        "the cap the server announced"
    );
    // A fifth request waits for a place rather than being served beside
    // them, and is served once one is free.
    let mut client = client.ready().await.unwrap();
    let req = http::Request::get("http://localhost/v1/health")
        .body(())
        .unwrap();
    let (fifth, _) = client.send_request(req, true).unwrap();
    let fifth = tokio::spawn(fifth);
    let waits = tokio::time::timeout(Duration::from_millis(300), client.ready()).await;
    assert!(waits.is_err(), "a fifth stream was let in beside four");
    drop(streams);
    let fifth = tokio::time::timeout(Duration::from_secs(60), fifth).await;
    assert_eq!(fifth.unwrap().unwrap().unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn a_flood_of_reset_streams_ends_that_connection_and_no_other() {
    let server = TestServer::start().await;
    let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (client, conn) = h2::client::handshake(stream).await.unwrap();
    let conn = tokio::spawn(conn);
    let mut client = client;
    let mut sent = 0;
    for _ in 0..5_000 {
        let Ok(ready) = client.ready().await else {
            break;
        };
        client = ready;
        let req = http::Request::get("http://localhost/v1/health")
            .body(())
            .unwrap();
        let Ok((_, mut stream)) = client.send_request(req, false) else {
            break;
        };
        stream.send_reset(h2::Reason::CANCEL);
        sent += 1;
        // Let the connection task write the frames and read the server's.
        tokio::task::yield_now().await;
    }
    let ended = tokio::time::timeout(Duration::from_secs(30), conn).await;
    assert!(
        ended.is_ok(),
        "the flooding connection was not ended ({sent} resets sent)"
    );
    assert!(sent < 5_000, "every reset was taken ({sent})");
    // Everyone else is served as before.
    let health = server.api().get("/v1/health").await;
    assert_eq!(health.status, StatusCode::OK);
}
