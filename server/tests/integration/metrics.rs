//! `--metrics-listen`: metrics on their own address, in the OpenMetrics
//! text format, read by Prometheus' own parser (the Python
//! `prometheus_client`, which `cargo xtask setup` installs into
//! `target/tools/python`), counting what a client just did.

use std::collections::HashMap;
use std::io::Write as _;
use std::process::{Command, Stdio};

use hyper::{Method, StatusCode};

use crate::common::{TestServer, new_ws};

/// A free loopback port for the metrics listener.
fn free_addr() -> std::net::SocketAddr {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap()
}

/// Parses OpenMetrics text with `prometheus_client`; every sample as
/// `name{label="v",…}` → value.
fn parse(text: &str) -> HashMap<String, f64> {
    let python_path = std::env::var("HEARTH_PYTHONPATH").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../target/tools/python").to_owned()
    });
    let script = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
        out[f"{s.name}{{{labels}}}"] = s.value
print(json.dumps(out))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .env("PYTHONPATH", &python_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "Prometheus' parser refused the metrics (is prometheus_client in {python_path}? `cargo xtask setup` puts it there): {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn metrics_count_what_clients_did_and_parse_as_openmetrics() {
    let metrics = free_addr();
    let server = TestServer::start_with(|c| {
        c.metrics_listen = Some(metrics);
        c.rate_limit_per_minute = 1;
        c.rate_limit_burst = 1;
    })
    .await;
    let api = server.api();
    let ws = new_ws();
    let master = api.register(&ws).await;
    for i in 0..5 {
        api.push_ok(
            &ws,
            &master,
            &format!("k{i}"),
            format!("entry {i}").as_bytes(),
        )
        .await;
    }
    // A second registration from the same address is over the limit.
    let body = serde_json::json!({"workspace_id": new_ws(), "label": "x"});
    let refused = api
        .request(
            Method::POST,
            "/v1/workspaces",
            &[("content-type", "application/json")],
            serde_json::to_vec(&body).unwrap(),
        )
        .await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);

    let scrape = crate::common::Api::new(metrics).get("/metrics").await;
    assert_eq!(scrape.status, StatusCode::OK);
    assert!(
        scrape
            .header("content-type")
            .unwrap_or("")
            .starts_with("application/openmetrics-text")
    );
    let samples = parse(&scrape.text());
    let value = |key: &str| {
        *samples
            .get(key)
            .unwrap_or_else(|| panic!("no sample {key} in {samples:?}"))
    };
    assert_eq!(
        value(r#"hearth_http_requests_total{route="push",status="200"}"#),
        5.0
    );
    assert_eq!(
        value(r#"hearth_http_requests_total{route="register",status="201"}"#),
        1.0
    );
    assert_eq!(value(r#"hearth_refused_total{reason="rate_limited"}"#), 1.0);
    assert_eq!(value("hearth_entries_stored_total{}"), 5.0);
    assert!(value("hearth_commit_batch_entries_count{}") >= 1.0);
    assert!(value(r#"hearth_http_request_duration_seconds_count{route="push"}"#) >= 5.0);
    assert!(value("hearth_stored_bytes{}") > 0.0);
    assert!(value("hearth_workspaces_open{}") >= 1.0);
    assert!(value("hearth_connections_open{}") >= 0.0);
    assert_eq!(value("hearth_backup_age_seconds{}"), -1.0, "no backup yet");

    // Only /metrics is there, and the app's own address does not serve them.
    let other = crate::common::Api::new(metrics).get("/").await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    let app = api.get("/metrics").await;
    assert!(!app.text().contains("hearth_http_requests_total"));
}
