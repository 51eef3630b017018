//! Server-Sent Events, slow bodies, and shutdown.

use std::time::Duration;

use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::{Method, StatusCode};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::common::{TestServer, new_ws};

/// Reads the next SSE event's `data` line of kind `head`, skipping comments.
async fn next_head(body: &mut Incoming, buffer: &mut String) -> Option<u64> {
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            if event.starts_with(':') {
                continue;
            }
            assert!(event.starts_with("event: head\n"), "{event:?}");
            let data = event
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap();
            let v: hearth_shared::api::HeadEvent = serde_json::from_str(data).unwrap();
            return Some(v.head);
        }
        let frame = body.frame().await?.ok()?;
        if let Ok(data) = frame.into_data() {
            buffer.push_str(std::str::from_utf8(&data).unwrap());
        }
    }
}

#[tokio::test]
async fn events_announce_new_heads_and_end_on_shutdown() {
    let server = TestServer::start_with(|c| c.sse_keepalive_secs = 1).await;
    let api = server.api();
    let ws = new_ws();
    let master = api.register(&ws).await;
    let ro = api.mint(&ws, &master, "ro").await;
    api.push_ok(&ws, &master, "a", b"one").await;

    let auth = format!("Bearer {ro}");
    let res = api
        .send(
            Method::GET,
            &format!("/v1/workspaces/{ws}/events"),
            &[("authorization", &auth)],
            "",
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut body = res.into_body();
    let mut buffer = String::new();
    assert_eq!(
        next_head(&mut body, &mut buffer).await,
        Some(1),
        "the first event is the current head"
    );

    api.push_ok(&ws, &master, "b", b"two").await;
    assert_eq!(next_head(&mut body, &mut buffer).await, Some(2));
    api.push_ok(&ws, &master, "c", b"three").await;
    api.push_ok(&ws, &master, "d", b"four").await;
    let mut head = 0;
    while head < 4 {
        head = next_head(&mut body, &mut buffer).await.unwrap();
    }
    // A keep-alive comment arrives while nothing happens.
    loop {
        let frame = body.frame().await.unwrap().unwrap();
        if frame.into_data().unwrap().starts_with(b": keep-alive") {
            break;
        }
    }

    let unauth = api.get(&format!("/v1/workspaces/{ws}/events")).await;
    assert_eq!(unauth.code(), "missing_token");

    // Shutdown ends the stream cleanly.
    let _dir = server.stop().await;
    assert_eq!(next_head(&mut body, &mut buffer).await, None);
}

#[tokio::test]
async fn revoking_a_token_ends_its_event_stream() {
    let server = TestServer::start_with(|c| c.sse_keepalive_secs = 1).await;
    let api = server.api();
    let ws = new_ws();
    let master = api.register(&ws).await;
    let phone = api
        .json(
            Method::POST,
            &format!("/v1/workspaces/{ws}/tokens"),
            Some(&master),
            &serde_json::json!({"label": "phone", "scope": "ro"}),
        )
        .await
        .json::<hearth_shared::api::MintTokenResponse>();
    let auth = format!("Bearer {}", phone.token);
    let res = api
        .send(
            Method::GET,
            &format!("/v1/workspaces/{ws}/events"),
            &[("authorization", &auth)],
            "",
        )
        .await;
    let mut body = res.into_body();
    let mut buffer = String::new();
    assert_eq!(next_head(&mut body, &mut buffer).await, Some(0));

    let master_auth = format!("Bearer {master}");
    let path = format!("/v1/workspaces/{ws}/tokens/{}", phone.token_id);
    let revoked = api
        .request(
            Method::DELETE,
            &path,
            &[("authorization", &master_auth)],
            "",
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    // The stream ends (at the next keep-alive check) while the server runs on.
    assert_eq!(next_head(&mut body, &mut buffer).await, None);
    assert_eq!(api.get("/v1/health").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_stalled_body_times_out() {
    let server = TestServer::start_with(|c| {
        c.body_timeout_secs = 2;
        c.header_timeout_secs = 1;
    })
    .await;
    let api = server.api();
    let ws = new_ws();
    let token = api.register(&ws).await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /v1/workspaces/{ws}/entries HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: 100\r\n\r\nonly ten b"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    // The server answers and closes; the client never sends the rest.
    loop {
        match tokio::time::timeout(Duration::from_secs(60), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Err(_) => break,
            Ok(Ok(n)) => {
                response.extend_from_slice(&buf[..n]);
                if response.windows(4).any(|w| w == b"\r\n\r\n") && response.ends_with(b"}") {
                    break;
                }
            }
            Ok(Err(_)) => break,
        }
    }
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("request_timeout"), "{text}");
}

#[tokio::test]
async fn connections_beyond_the_cap_are_refused_until_a_slot_frees() {
    let server = TestServer::start_with(|c| {
        c.max_connections = 1;
        c.connection_reserve = 0;
    })
    .await;
    // The one slot: a kept-alive connection that has been served once.
    let mut first = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    first
        .write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = first.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));

    // A second client is told so at once, with a JSON error...
    let mut second = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let mut refused = Vec::new();
    second.read_to_end(&mut refused).await.unwrap();
    let text = String::from_utf8_lossy(&refused);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("\"code\":\"unavailable\""), "{text}");
    // ...and served once the slot frees up.
    drop(first);
    let api = server.api();
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if let Ok(reply) = tokio::time::timeout(Duration::from_secs(5), api.get("/v1/health")).await
        {
            status = reply.status;
            if status == StatusCode::OK {
                break;
            }
        }
    }
    assert_eq!(status, StatusCode::OK);
}
