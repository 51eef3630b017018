//! Behind a reverse proxy (`--trusted-proxy`): rate limits count the real
//! clients that the proxy names, so one noisy client is refused and the
//! others are not; the same headers from anyone else are ignored; a proxy
//! that says the client came over HTTPS gets HSTS.

use hyper::{Method, StatusCode};

use crate::common::{TestServer, new_ws};

/// Tries to register a workspace as the client the proxy names.
async fn register_as(server: &TestServer, forwarded_for: &str) -> StatusCode {
    let body = serde_json::json!({"workspace_id": new_ws(), "label": "laptop"});
    server
        .api()
        .request(
            Method::POST,
            "/v1/workspaces",
            &[
                ("content-type", "application/json"),
                ("x-forwarded-for", forwarded_for),
            ],
            serde_json::to_vec(&body).unwrap(),
        )
        .await
        .status
}

fn tight(c: &mut hearth::Config) {
    c.rate_limit_per_minute = 2;
    c.rate_limit_burst = 2;
}

#[tokio::test]
async fn behind_a_trusted_proxy_one_noisy_client_is_refused_and_the_others_are_not() {
    let server = TestServer::start_with(|c| {
        tight(c);
        c.trusted_proxy = vec!["127.0.0.1/32".into()];
    })
    .await;
    // A client that spoofs its own header still lands on its real address,
    // which the proxy appends on the right.
    let noisy = "198.51.100.1, 203.0.113.7";
    let mut refused = 0;
    for _ in 0..4 {
        if register_as(&server, noisy).await == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        }
    }
    assert!(refused >= 1, "the noisy client is never refused");
    for other in ["203.0.113.8", "203.0.113.9", "198.51.100.1, 203.0.113.10"] {
        assert_eq!(
            register_as(&server, other).await,
            StatusCode::CREATED,
            "another client behind the proxy ({other}) was refused"
        );
    }
}

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_peer_change_nothing() {
    let server = TestServer::start_with(tight).await;
    let mut refused = 0;
    for i in 0..6 {
        // A client that invents a new address each time is still one client.
        let spoofed = format!("203.0.113.{i}");
        let status = register_as(&server, &spoofed).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        }
    }
    assert!(
        refused >= 3,
        "spoofed X-Forwarded-For escaped the rate limit ({refused} refused)"
    );
}

#[tokio::test]
async fn a_proxy_that_terminates_tls_gets_hsts_and_a_plain_one_does_not() {
    let server = TestServer::start_with(|c| c.trusted_proxy = vec!["127.0.0.1".into()]).await;
    let api = server.api();
    let over_https = api
        .request(
            Method::GET,
            "/v1/health",
            &[("x-forwarded-proto", "https")],
            Vec::new(),
        )
        .await;
    assert!(over_https.header("strict-transport-security").is_some());
    let plain = api
        .request(
            Method::GET,
            "/v1/health",
            &[("x-forwarded-proto", "http")],
            Vec::new(),
        )
        .await;
    assert!(plain.header("strict-transport-security").is_none());
    let untrusted = TestServer::start().await;
    let spoofed = untrusted
        .api()
        .request(
            Method::GET,
            "/v1/health",
            &[("x-forwarded-proto", "https")],
            Vec::new(),
        )
        .await;
    assert!(
        spoofed.header("strict-transport-security").is_none(),
        "believed an untrusted peer"
    );
}

#[tokio::test]
async fn every_answer_carries_a_request_id_that_a_trusted_proxy_may_set() {
    let server = TestServer::start_with(|c| c.trusted_proxy = vec!["127.0.0.1".into()]).await;
    let api = server.api();
    let a = api.get("/v1/health").await;
    let b = api.get("/v1/health").await;
    let id = |r: &crate::common::Reply| r.header("x-request-id").unwrap_or("").to_owned();
    assert_eq!(id(&a).len(), 16);
    assert!(id(&a).bytes().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(id(&a), id(&b), "two requests, one id");
    let from_proxy = api
        .request(
            Method::GET,
            "/v1/health",
            &[("x-request-id", "edge-42")],
            Vec::new(),
        )
        .await;
    assert_eq!(id(&from_proxy), "edge-42", "the proxy's id is kept");

    let untrusted = TestServer::start().await;
    let spoofed = untrusted
        .api()
        .request(
            Method::GET,
            "/v1/health",
            &[("x-request-id", "edge-42")],
            Vec::new(),
        )
        .await;
    assert_ne!(id(&spoofed), "edge-42", "a client's own id is not believed");
}
