//! The object store of cluster mode: any S3-compatible store, named by
//! `s3://bucket/prefix?endpoint=…&region=…` (`endpoint` may list several
//! gateways of one cluster, comma-separated: a request that cannot reach
//! one tries the next). Keys come from the environment
//! (`HEARTH_OBJECTS_KEY_ID`, `HEARTH_OBJECTS_SECRET`) or from a file, never
//! from the command line.
//!
//! Objects are written once, under names that are never reused (a random
//! part in each); nothing here depends on conditional writes, which some
//! stores (Garage 2.x) do not honour.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;

use crate::storage::payload::Payload;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStore, PutPayload, RetryConfig};

/// The environment variables that hold the store's access key.
pub const KEY_ID_VAR: &str = "HEARTH_OBJECTS_KEY_ID";
pub const SECRET_VAR: &str = "HEARTH_OBJECTS_SECRET";

/// Why an object operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// No such object.
    #[error("{0}: no such object")]
    NotFound(String),
    /// No gateway answered, or each failed: retry later.
    #[error("{at}: the object store is unavailable: {detail}")]
    Unavailable { at: String, detail: String },
}

/// Bytes of each part of a multipart upload (S3's least, but the last).
const PART: usize = 5 * 1024 * 1024;

/// A spool file that could not be read, before any gateway was asked.
fn unavailable(name: &str, err: impl std::fmt::Display) -> ObjectError {
    ObjectError::Unavailable {
        at: name.to_owned(),
        detail: format!("reading the spooled upload: {err}"),
    }
}

/// A spool file that could not be read, as the object store's error.
fn spool_error(err: impl std::error::Error + Send + Sync + 'static) -> object_store::Error {
    object_store::Error::Generic {
        store: "spool",
        source: Box::new(err),
    }
}

impl ObjectError {
    fn at(&self) -> &str {
        match self {
            ObjectError::NotFound(at) | ObjectError::Unavailable { at, .. } => at,
        }
    }
}

impl From<ObjectError> for crate::storage::StoreError {
    fn from(e: ObjectError) -> crate::storage::StoreError {
        let at = e.at().to_owned();
        match e {
            ObjectError::NotFound(_) => crate::storage::StoreError::Corrupt {
                at,
                detail: "an object the database names is missing".into(),
            },
            ObjectError::Unavailable { detail, .. } => {
                crate::storage::StoreError::Unavailable { at, detail }
            }
        }
    }
}

/// Where the objects are, as the `--objects` address says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub bucket: String,
    pub prefix: String,
    pub endpoints: Vec<String>,
    pub region: String,
}

impl Address {
    /// Parses `s3://bucket[/prefix][?endpoint=URL[,URL…]&region=NAME]`.
    pub fn parse(text: &str) -> Result<Address, String> {
        let rest = text.strip_prefix("s3://").ok_or_else(|| {
            format!("the object store address {text:?} must start with s3:// (s3://bucket/prefix?endpoint=…&region=…)")
        })?;
        let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
        if bucket.is_empty() {
            return Err(format!("the object store address {text:?} names no bucket"));
        }
        let mut endpoints = Vec::new();
        let mut region = String::from("us-east-1");
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "endpoint" => endpoints.extend(
                    value
                        .split(',')
                        .filter(|e| !e.is_empty())
                        .map(|e| e.trim_end_matches('/').to_owned()),
                ),
                "region" => value.clone_into(&mut region),
                other => {
                    return Err(format!(
                        "the object store address has an unknown setting {other:?} (known: endpoint, region)"
                    ));
                }
            }
        }
        for e in &endpoints {
            if !(e.starts_with("http://") || e.starts_with("https://")) {
                return Err(format!(
                    "the object store endpoint {e:?} must be an http:// or https:// URL"
                ));
            }
        }
        Ok(Address {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
            endpoints,
            region,
        })
    }
}

/// The store's access key.
#[derive(Clone)]
pub struct Credentials {
    pub key_id: String,
    pub secret: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, secret hidden)", self.key_id)
    }
}

impl Credentials {
    /// From `HEARTH_OBJECTS_KEY_ID` and `HEARTH_OBJECTS_SECRET`.
    pub fn from_env() -> Result<Credentials, String> {
        let get = |var: &str| {
            std::env::var(var)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("{var} is not set: the object store's access key comes from {KEY_ID_VAR} and {SECRET_VAR} (or --objects-key-file)"))
        };
        Ok(Credentials {
            key_id: get(KEY_ID_VAR)?,
            secret: get(SECRET_VAR)?,
        })
    }

    /// From a file of two lines: the key id, then the secret.
    pub fn from_file(text: &str) -> Result<Credentials, String> {
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        match (lines.next(), lines.next()) {
            (Some(id), Some(secret)) => Ok(Credentials {
                key_id: id.to_owned(),
                secret: secret.to_owned(),
            }),
            _ => Err(
                "the object store key file must hold two lines: the key id, then the secret".into(),
            ),
        }
    }
}

/// A bucket (and prefix) on one or more gateways. Cheap to clone.
#[derive(Clone)]
pub struct Objects {
    gateways: Arc<Vec<Arc<dyn ObjectStore>>>,
    /// The gateway that answered last: tried first, so one that is down
    /// costs one failed attempt, not one per request.
    preferred: Arc<AtomicUsize>,
    prefix: String,
}

impl Objects {
    /// Connects (lazily) to the store at `address`.
    pub fn new(address: &Address, key: &Credentials) -> Result<Objects, String> {
        let endpoints: Vec<Option<&String>> = if address.endpoints.is_empty() {
            vec![None]
        } else {
            address.endpoints.iter().map(Some).collect()
        };
        let mut gateways: Vec<Arc<dyn ObjectStore>> = Vec::new();
        for endpoint in endpoints {
            let mut builder = AmazonS3Builder::new()
                .with_bucket_name(&address.bucket)
                .with_region(&address.region)
                .with_access_key_id(&key.key_id)
                .with_secret_access_key(&key.secret)
                .with_virtual_hosted_style_request(false)
                // One retry per gateway: the next gateway is the better
                // retry when one is down.
                .with_retry(RetryConfig {
                    max_retries: 1,
                    retry_timeout: Duration::from_secs(5),
                    ..RetryConfig::default()
                })
                .with_client_options(
                    ClientOptions::new()
                        .with_connect_timeout(Duration::from_secs(2))
                        .with_timeout(Duration::from_secs(20))
                        .with_allow_http(endpoint.is_some_and(|e| e.starts_with("http://"))),
                );
            if let Some(e) = endpoint {
                builder = builder.with_endpoint(e);
            }
            let store = builder
                .build()
                .map_err(|e| format!("the object store: {e}"))?;
            gateways.push(Arc::new(store));
        }
        Ok(Objects {
            gateways: Arc::new(gateways),
            preferred: Arc::new(AtomicUsize::new(0)),
            prefix: address.prefix.clone(),
        })
    }

    /// The same store under a further prefix (tests).
    pub fn within(&self, prefix: &str) -> Objects {
        let prefix = if self.prefix.is_empty() {
            prefix.to_owned()
        } else {
            format!("{}/{prefix}", self.prefix)
        };
        Objects {
            gateways: self.gateways.clone(),
            preferred: self.preferred.clone(),
            prefix,
        }
    }

    fn path(&self, name: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(name)
        } else {
            Path::from(format!("{}/{name}", self.prefix))
        }
    }

    /// Runs `op` on each gateway in turn until one answers; a missing
    /// object is an answer.
    async fn on_any<T, F, Fut>(&self, name: &str, op: F) -> Result<T, ObjectError>
    where
        F: Fn(Arc<dyn ObjectStore>, Path) -> Fut,
        Fut: std::future::Future<Output = object_store::Result<T>>,
    {
        let path = self.path(name);
        let mut last = String::from("no gateway is configured");
        let n = self.gateways.len();
        let first = self.preferred.load(Ordering::Relaxed);
        for i in (0..n).map(|k| (first + k) % n) {
            let Some(gateway) = self.gateways.get(i) else {
                continue;
            };
            match op(gateway.clone(), path.clone()).await {
                Ok(v) => {
                    self.preferred.store(i, Ordering::Relaxed);
                    return Ok(v);
                }
                Err(object_store::Error::NotFound { .. }) => {
                    self.preferred.store(i, Ordering::Relaxed);
                    return Err(ObjectError::NotFound(name.to_owned()));
                }
                Err(e) => {
                    tracing::warn!(object = name, error = %e, "an object store gateway failed; trying the next");
                    last = e.to_string();
                }
            }
        }
        Err(ObjectError::Unavailable {
            at: name.to_owned(),
            detail: last,
        })
    }

    /// Writes `data` as object `name` (durable when this returns).
    pub async fn put(&self, name: &str, data: Bytes) -> Result<(), ObjectError> {
        self.on_any(name, |g, p| {
            let data = data.clone();
            async move { g.put(&p, PutPayload::from(data)).await.map(|_| ()) }
        })
        .await
    }

    /// Writes `data` as object `name`: in one request when it is in memory
    /// or fits in one part, else read from its spool file in parts of
    /// [`PART`] bytes (a multipart upload), so that no more than one part
    /// is in memory.
    pub async fn put_payload(&self, name: &str, data: &Payload) -> Result<(), ObjectError> {
        if let Some(bytes) = data.in_memory() {
            return self.put(name, bytes.clone()).await;
        }
        if data.len() <= PART as u64 {
            let piece = data.clone();
            let bytes = tokio::task::spawn_blocking(move || piece.read_all())
                .await
                .map_err(|e| unavailable(name, e))?
                .map_err(|e| unavailable(name, e))?;
            return self.put(name, bytes).await;
        }
        self.on_any(name, |g, p| {
            let data = data.clone();
            async move {
                let mut upload = g.put_multipart(&p).await?;
                let sent = async {
                    let mut at = 0u64;
                    while at < data.len() {
                        let piece = data.clone();
                        let part = tokio::task::spawn_blocking(move || piece.range(at, PART))
                            .await
                            .map_err(spool_error)?
                            .map_err(spool_error)?;
                        at += part.len() as u64;
                        upload.put_part(PutPayload::from(part)).await?;
                    }
                    upload.complete().await.map(|_| ())
                }
                .await;
                if sent.is_err() {
                    let _ = upload.abort().await;
                }
                sent
            }
        })
        .await
    }

    /// The whole of object `name`.
    pub async fn get(&self, name: &str) -> Result<Bytes, ObjectError> {
        self.on_any(name, |g, p| async move { g.get(&p).await?.bytes().await })
            .await
    }

    /// Bytes `range` of object `name`.
    pub async fn get_range(&self, name: &str, range: Range<u64>) -> Result<Bytes, ObjectError> {
        self.on_any(name, |g, p| {
            let range = range.clone();
            async move { g.get_range(&p, range).await }
        })
        .await
    }

    /// The names of the objects under `prefix` (a whole path segment:
    /// `a` holds `a/b`, not `ab`), relative to this store's own prefix, in
    /// no particular order.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, ObjectError> {
        let own = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let found = self
            .on_any(prefix, |g, p| async move {
                use futures::TryStreamExt as _;
                g.list(Some(&p))
                    .map_ok(|meta| String::from(meta.location))
                    .try_collect::<Vec<String>>()
                    .await
            })
            .await;
        match found {
            Ok(names) => Ok(names
                .into_iter()
                .filter_map(|n| n.strip_prefix(&own).map(str::to_owned))
                .collect()),
            Err(ObjectError::NotFound(_)) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Deletes object `name`; one that is gone already is no error.
    pub async fn delete(&self, name: &str) -> Result<(), ObjectError> {
        match self
            .on_any(name, |g, p| async move { g.delete(&p).await })
            .await
        {
            Ok(()) | Err(ObjectError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// A fresh object name under `dir`: 128 random bits, so never reused.
pub fn fresh_name(dir: &str) -> Result<String, String> {
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).map_err(|e| format!("no randomness for an object name: {e}"))?;
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{dir}/{hex}"))
}

#[cfg(any(test, feature = "test-support"))]
pub mod testing {
    //! The tests' object store: `HEARTH_TEST_OBJECTS` (an `--objects`
    //! address) with the key in the usual variables; each test gets a
    //! prefix of its own.

    #![allow(clippy::expect_used, clippy::unwrap_used)]

    use super::*;

    /// The variable that names the tests' object store.
    pub const VAR: &str = "HEARTH_TEST_OBJECTS";

    /// The tests' store, as an `--objects` address.
    pub fn address() -> String {
        std::env::var(VAR).unwrap_or_else(|_| {
            panic!(
                "{VAR} is not set: the cluster tests need an S3-compatible store. \
                 `cargo xtask test` starts a Garage cluster; by hand, run \
                 `cargo xtask cluster up` and export what it prints"
            )
        })
    }

    /// An empty place in the tests' store.
    pub fn fresh() -> Objects {
        let address = Address::parse(&address()).unwrap();
        let objects = Objects::new(&address, &Credentials::from_env().unwrap()).unwrap();
        objects.within(&fresh_name("test").unwrap())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_or_say_why_not() {
        let a = Address::parse(
            "s3://b/p/q?endpoint=http://127.0.0.1:1,http://127.0.0.1:2/&region=garage",
        )
        .unwrap();
        assert_eq!(a.bucket, "b");
        assert_eq!(a.prefix, "p/q");
        assert_eq!(a.endpoints, ["http://127.0.0.1:1", "http://127.0.0.1:2"]);
        assert_eq!(a.region, "garage");
        assert_eq!(Address::parse("s3://b").unwrap().prefix, "");
        for bad in [
            "http://b",
            "s3://",
            "s3://b?colour=red",
            "s3://b?endpoint=ftp://x",
        ] {
            assert!(Address::parse(bad).is_err(), "{bad}");
        }
        assert!(Credentials::from_file("id\n\nsecret\n").is_ok());
        assert!(Credentials::from_file("id only").is_err());
        assert!(
            !format!("{:?}", Credentials::from_file("id\nsecret").unwrap()).contains("secret\"")
        );
    }

    #[tokio::test]
    async fn objects_are_written_read_and_deleted() {
        let objects = testing::fresh();
        let name = fresh_name("x").unwrap();
        objects
            .put(&name, Bytes::from_static(b"hello world"))
            .await
            .unwrap();
        assert_eq!(&objects.get(&name).await.unwrap()[..], b"hello world");
        assert_eq!(
            &objects.get_range(&name, 6..11).await.unwrap()[..],
            b"world"
        );
        objects.delete(&name).await.unwrap();
        objects.delete(&name).await.unwrap();
        assert!(matches!(
            objects.get(&name).await,
            Err(ObjectError::NotFound(_))
        ));
    }
}
