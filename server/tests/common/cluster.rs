//! Cluster mode for the tests: a fresh database on the tests' PostgreSQL
//! server and a fresh place in the tests' object store (both started by
//! `cargo xtask test` or `cargo xtask engines`), and nodes on them, in
//! process ([`Storage::node`]) or the real binary ([`Storage::process`]).

use tempfile::TempDir;

use super::{Api, ServerProcess, TestServer};

/// A fresh, empty database on the tests' PostgreSQL server, and a fresh
/// place in the tests' object store: one cluster's storage.
#[derive(Clone)]
pub struct Storage {
    pub database: String,
    pub objects: String,
}

/// A variable the engines export.
pub fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: the cluster tests need PostgreSQL and an S3-compatible store. \
             `cargo xtask test` starts both; by hand, run `cargo xtask cluster up` and export \
             what it prints (or run the tests under `cargo xtask engines -- cargo test …`)"
        )
    })
}

fn random_hex() -> String {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Storage {
    pub async fn fresh() -> Storage {
        let server = var("HEARTH_TEST_DATABASE");
        let (client, connection) = tokio_postgres::connect(&server, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("cannot reach the tests' PostgreSQL at {server}: {e}"));
        tokio::spawn(connection);
        let name = format!("hearth_it_{}", random_hex());
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b);
        let objects = var("HEARTH_TEST_OBJECTS");
        let (bucket, query) = objects.split_once('?').unwrap_or((&objects, ""));
        Storage {
            database: format!("{base}/{name}"),
            objects: format!(
                "{}/it-{}?{query}",
                bucket.trim_end_matches('/'),
                random_hex()
            ),
        }
    }

    /// The database's name (the last part of its address).
    pub fn database_name(&self) -> &str {
        self.database.rsplit('/').next().unwrap_or_default()
    }

    /// The same storage, reached through the object store gateways
    /// `endpoints` (comma-separated URLs) instead of the tests' own.
    pub fn through(&self, endpoints: &str) -> Storage {
        let (base, query) = self.objects.split_once('?').unwrap_or((&self.objects, ""));
        let query: Vec<String> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                if p.starts_with("endpoint=") {
                    format!("endpoint={endpoints}")
                } else {
                    p.to_owned()
                }
            })
            .collect();
        Storage {
            database: self.database.clone(),
            objects: format!("{base}?{}", query.join("&")),
        }
    }

    /// A node of this cluster, in process.
    pub async fn node(&self) -> TestServer {
        let database = self.database.parse().unwrap();
        let objects = self.objects.clone();
        TestServer::start_with(move |c| {
            c.database = Some(database);
            c.objects = Some(objects);
        })
        .await
    }

    /// A node of this cluster: the real binary, as a child process with
    /// a data directory of its own, and `extra` flags. The object store's
    /// key reaches it through the environment, as in production.
    pub fn process(&self, extra: &[&str]) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let mut args = vec![
            "--database".to_owned(),
            self.database.clone(),
            "--objects".to_owned(),
            self.objects.clone(),
        ];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let process = ServerProcess::start(dir.path(), &strs(&args));
        Node { process, args, dir }
    }
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// A cluster node running as a child process; killed (SIGKILL) on drop.
pub struct Node {
    pub process: ServerProcess,
    args: Vec<String>,
    /// Removed after the process is gone (fields drop in order).
    dir: TempDir,
}

impl Node {
    pub fn api(&self) -> Api {
        Api::new(self.process.addr)
    }

    /// SIGKILL, and waits for the process to be gone.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Starts the node again (after [`Node::kill`]) where its devices
    /// know it: the same address, flags and data directory.
    pub fn restart(&mut self) {
        self.process.kill();
        let listen = self.process.addr.to_string();
        self.process = ServerProcess::start_at(self.dir.path(), &listen, &strs(&self.args));
    }
}
