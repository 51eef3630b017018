//! Metrics in the OpenMetrics text format (which Prometheus scrapes), on a
//! listen address of their own (`--metrics-listen`, off by default), so
//! that they are never exposed where the app is. Every name starts with
//! `hearth_`. Counters and histograms are kept as things happen; gauges
//! (stored bytes, open workspaces, connections and streams, free space) are
//! read when a scrape comes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A label set.
type Labels = Vec<(&'static str, String)>;

/// Latency buckets, 0.1 ms to about 13 s.
fn latency_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.0001, 2.0, 18)
}

/// What the server counts.
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Histogram>,
    commit_seconds: Histogram,
    commit_entries: Histogram,
    entries: Counter,
    refused: Family<Labels, Counter>,
    backups: Family<Labels, Counter>,
    /// Seconds since the epoch of the last backup that succeeded (0: none).
    last_backup: Arc<AtomicU64>,
    offsite_backups: Family<Labels, Counter>,
    /// The same for the last backup copied off-site and verified.
    last_offsite: Arc<AtomicU64>,
    stored_bytes: Gauge,
    free_bytes: Gauge,
    workspaces_open: Gauge,
    connections_open: Gauge,
    event_streams_open: Gauge,
    backup_age: Gauge,
    offsite_age: Gauge,
}

/// What a scrape reads from the running server.
pub struct Now {
    pub stored_bytes: u64,
    pub free_bytes: Option<u64>,
    pub workspaces_open: usize,
    pub connections_open: usize,
    pub event_streams_open: usize,
    pub unix_now: u64,
}

fn as_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("hearth");
        let requests = Family::<Labels, Counter>::default();
        registry.register(
            "http_requests",
            "Requests answered, by route and status",
            requests.clone(),
        );
        let latency = Family::<Labels, Histogram>::new_with_constructor(
            (|| Histogram::new(latency_buckets())) as fn() -> Histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer a request (to its headers), by route",
            latency.clone(),
        );
        let commit_seconds = Histogram::new(latency_buckets());
        registry.register(
            "commit_duration_seconds",
            "Time of one group commit: writing a batch of entries and its fsync",
            commit_seconds.clone(),
        );
        let commit_entries = Histogram::new(exponential_buckets(1.0, 2.0, 10));
        registry.register(
            "commit_batch_entries",
            "Entries made durable by one group commit (one fsync)",
            commit_entries.clone(),
        );
        let entries = Counter::default();
        registry.register(
            "entries_stored",
            "Entries stored (new ones; retries that found theirs are not counted)",
            entries.clone(),
        );
        let refused = Family::<Labels, Counter>::default();
        registry.register(
            "refused",
            "Requests and connections refused, by reason",
            refused.clone(),
        );
        let backups = Family::<Labels, Counter>::default();
        registry.register(
            "backups",
            "Scheduled backups taken, by result",
            backups.clone(),
        );
        let offsite_backups = Family::<Labels, Counter>::default();
        registry.register(
            "offsite_backups",
            "Scheduled backups copied to --backup-to and verified there, by result",
            offsite_backups.clone(),
        );
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        let stored_bytes = gauge(
            &mut registry,
            "stored_bytes",
            "Bytes stored over all workspaces (logs, snapshots, chunks)",
        );
        let free_bytes = gauge(
            &mut registry,
            "free_bytes",
            "Free bytes on the data volume for the server",
        );
        let workspaces_open = gauge(&mut registry, "workspaces_open", "Workspaces open now");
        let connections_open = gauge(
            &mut registry,
            "connections_open",
            "Client connections open now",
        );
        let event_streams_open = gauge(
            &mut registry,
            "event_streams_open",
            "Event streams open now",
        );
        let backup_age = gauge(
            &mut registry,
            "backup_age_seconds",
            "Seconds since the last scheduled backup that succeeded (-1: none yet)",
        );
        let offsite_age = gauge(
            &mut registry,
            "offsite_backup_age_seconds",
            "Seconds since the last backup copied off-site and verified (-1: none yet)",
        );
        Metrics {
            registry,
            requests,
            latency,
            commit_seconds,
            commit_entries,
            entries,
            refused,
            backups,
            last_backup: Arc::default(),
            offsite_backups,
            last_offsite: Arc::default(),
            stored_bytes,
            free_bytes,
            workspaces_open,
            connections_open,
            event_streams_open,
            backup_age,
            offsite_age,
        }
    }

    /// Counts an answered request.
    pub fn request(&self, route: &'static str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&vec![
                ("route", route.to_owned()),
                ("status", status.to_string()),
            ])
            .inc();
        self.latency
            .get_or_create(&vec![("route", route.to_owned())])
            .observe(took.as_secs_f64());
    }

    /// Counts a group commit of `entries` new entries.
    pub fn commit(&self, entries: usize, took: Duration) {
        self.commit_seconds.observe(took.as_secs_f64());
        self.commit_entries.observe(entries as f64);
        self.entries.inc_by(entries as u64);
    }

    /// Counts a refusal (`rate_limited`, `too_many_streams`,
    /// `storage_full`, `quota_exceeded`, `connection`, …).
    pub fn refused(&self, reason: &str) {
        self.refused
            .get_or_create(&vec![("reason", reason.to_owned())])
            .inc();
    }

    /// Counts a scheduled backup.
    pub fn backup(&self, ok: bool, unix_now: u64) {
        let result = if ok { "ok" } else { "failed" };
        self.backups
            .get_or_create(&vec![("result", result.to_owned())])
            .inc();
        if ok {
            self.last_backup.store(unix_now, Ordering::Relaxed);
        }
    }

    /// Counts a scheduled backup's copy to `--backup-to`.
    pub fn offsite_backup(&self, ok: bool, unix_now: u64) {
        let result = if ok { "ok" } else { "failed" };
        self.offsite_backups
            .get_or_create(&vec![("result", result.to_owned())])
            .inc();
        if ok {
            self.last_offsite.store(unix_now, Ordering::Relaxed);
        }
    }

    /// The text of a scrape.
    pub fn render(&self, now: &Now) -> String {
        self.stored_bytes.set(as_i64(now.stored_bytes));
        self.free_bytes.set(now.free_bytes.map_or(-1, as_i64));
        self.workspaces_open.set(as_i64(now.workspaces_open as u64));
        self.connections_open
            .set(as_i64(now.connections_open as u64));
        self.event_streams_open
            .set(as_i64(now.event_streams_open as u64));
        let age = |last: &AtomicU64| match last.load(Ordering::Relaxed) {
            0 => -1,
            last => as_i64(now.unix_now.saturating_sub(last)),
        };
        self.backup_age.set(age(&self.last_backup));
        self.offsite_age.set(age(&self.last_offsite));
        let mut text = String::new();
        if let Err(err) = encode(&mut text, &self.registry) {
            tracing::warn!(error = %err, "cannot encode the metrics");
        }
        text
    }
}

/// The content type of the OpenMetrics text format.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Answers a request to the metrics listener: `GET /metrics`, nothing else.
pub fn answer<B>(req: &Request<B>, text: impl FnOnce() -> String) -> Response<Full<Bytes>> {
    if req.uri().path() != "/metrics" {
        let mut res = Response::new(Full::new(Bytes::from_static(b"only /metrics here\n")));
        *res.status_mut() = StatusCode::NOT_FOUND;
        return res;
    }
    let mut res = Response::new(Full::new(Bytes::from(text())));
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(OPENMETRICS));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_counted_is_rendered_under_hearth_names() {
        let m = Metrics::new();
        m.request("push", 200, Duration::from_millis(3));
        m.request("push", 200, Duration::from_millis(4));
        m.commit(2, Duration::from_millis(2));
        m.refused("rate_limited");
        m.backup(true, 1000);
        m.offsite_backup(false, 1005);
        let text = m.render(&Now {
            stored_bytes: 42,
            free_bytes: Some(7),
            workspaces_open: 1,
            connections_open: 2,
            event_streams_open: 3,
            unix_now: 1010,
        });
        for line in [
            "hearth_http_requests_total{route=\"push\",status=\"200\"} 2",
            "hearth_entries_stored_total 2",
            "hearth_refused_total{reason=\"rate_limited\"} 1",
            "hearth_stored_bytes 42",
            "hearth_backup_age_seconds 10",
            "hearth_offsite_backups_total{result=\"failed\"} 1",
            "hearth_offsite_backup_age_seconds -1",
            "hearth_commit_batch_entries_count 1",
        ] {
            assert!(text.contains(line), "no {line:?} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }
}
