//! A real `hearth` on 127.0.0.1:0 with a temporary data directory, served
//! in-process by the server library and shut down on drop.
#![allow(dead_code)]

use std::net::SocketAddr;

use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub struct TestServer {
    pub addr: SocketAddr,
    pub dir: TempDir,
    shutdown: Option<oneshot::Sender<()>>,
}

impl TestServer {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = hearth::Config::with_data_dir(dir.path());
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.backup_interval_secs = 0;
        config.registration = hearth::config::RegistrationArg::Open;
        let listener = TcpListener::bind(config.listen).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            if let Err(err) = hearth::run(listener, config, rx).await {
                panic!("server failed: {err}");
            }
        });
        TestServer {
            addr,
            dir,
            shutdown: Some(tx),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
