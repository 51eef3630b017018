//! A fresh database per test, on the PostgreSQL server that
//! `HEARTH_TEST_DATABASE` names (a URL whose user may create databases).
//! `cargo xtask test` starts one and sets it; by hand:
//! `cargo xtask cluster up` prints what to export.

// Test support: a missing server is a failed test, with what to do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::Pool;

/// The variable that names the tests' PostgreSQL server.
pub const VAR: &str = "HEARTH_TEST_DATABASE";

/// The tests' server, or a failed test that says how to get one.
pub fn server_url() -> String {
    std::env::var(VAR).unwrap_or_else(|_| {
        panic!(
            "{VAR} is not set: the cluster tests need a PostgreSQL server. \
             `cargo xtask test` starts one; by hand, run `cargo xtask cluster up` \
             and export what it prints"
        )
    })
}

/// `url` with its database name replaced by `db`.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    format!("{}/{db}{query}", &base[..host_end])
}

/// Creates an empty database and returns its URL.
pub async fn fresh_database() -> String {
    let url = server_url();
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).unwrap();
    let name = format!(
        "hearth_test_{}",
        random
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let admin = super::pool(&url, 1).unwrap();
    let client = admin
        .get()
        .await
        .unwrap_or_else(|e| panic!("cannot reach the tests' PostgreSQL at {url} ({VAR}): {e}"));
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    with_database(&url, &name)
}

/// A pool on a fresh, migrated database.
pub async fn fresh_pool() -> Pool {
    let pool = super::pool(&fresh_database().await, 8).unwrap();
    let mut client = pool.get().await.unwrap();
    super::schema::migrate(&mut client, 1).await.unwrap();
    pool
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_replaced() {
        assert_eq!(
            with_database("postgres://u@127.0.0.1:5432/postgres", "x"),
            "postgres://u@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h:1?sslmode=disable", "x"),
            "postgres://u@h:1/x?sslmode=disable"
        );
    }
}
