//! The real binary: the "listening" line, restarts, crashes.

use crate::common::{Api, ServerProcess};

#[tokio::test]
async fn the_binary_prints_its_address_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &[]);
    let api = Api::new(server.addr);
    assert_eq!(api.get("/v1/health").await.status, 200);
}
