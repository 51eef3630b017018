//! `hearth admin` against a running server: it lists workspaces with what
//! they hold, revokes a token (refused at once, though the server had it
//! cached), and deletes a workspace (only with `--yes`; its data and
//! tokens are gone, the others untouched).

use hyper::StatusCode;

use crate::common::{TestServer, new_ws};

/// Runs `hearth admin ARGS` (without blocking the server, which runs in
/// this test's runtime).
async fn admin(server: &TestServer, args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_hearth"))
        .arg("admin")
        .arg("--data-dir")
        .arg(server.dir.path())
        .args(args)
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_operator_lists_revokes_and_deletes_on_a_running_server() {
    let server = TestServer::start().await;
    let api = server.api();
    let (kept, gone) = (new_ws(), new_ws());
    let kept_master = api.register(&kept).await;
    let gone_master = api.register(&gone).await;
    let phone = api.mint(&kept, &kept_master, "rw").await;
    api.push_ok(&kept, &phone, "k1", b"a note").await;
    api.push_ok(&gone, &gone_master, "k1", &vec![7u8; 10_000])
        .await;

    let (ok, out, err) = admin(&server, &["workspaces", "--json"]).await;
    assert!(ok, "{err}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let row = |ws: &str| rows.iter().find(|r| r["id"] == ws).cloned().unwrap();
    assert_eq!(row(&kept)["devices"], 2);
    assert!(row(&gone)["log_bytes"].as_u64().unwrap() >= 10_000);
    let (ok, table, _) = admin(&server, &["workspaces"]).await;
    assert!(ok && table.contains(&kept) && table.contains("LOG BYTES"));

    // Revoked through the server: the phone's cached token stops at once.
    let claims = hearth_shared::claims::Claims::read_unverified(&phone).unwrap();
    let (ok, out, err) = admin(&server, &["revoke", &kept, claims.jti.as_str()]).await;
    assert!(ok, "{out}{err}");
    let refused = api.push(&kept, &phone, Some("k2"), b"after").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.code(), "token_revoked");

    // Deleting asks for --yes; then the workspace and its data are gone.
    let (ok, _, err) = admin(&server, &["delete-workspace", &gone]).await;
    assert!(!ok && err.contains("--yes"), "{err}");
    let dir = server.dir.path().join("workspaces").join(&gone);
    assert!(dir.exists());
    let (ok, out, err) = admin(&server, &["delete-workspace", &gone, "--yes"]).await;
    assert!(ok, "{out}{err}");
    assert!(!dir.exists(), "its files are still there");
    let after = api.push(&gone, &gone_master, Some("k3"), b"x").await;
    assert_eq!(
        after.status,
        StatusCode::UNAUTHORIZED,
        "its owner is still let in"
    );
    let (_, out, _) = admin(&server, &["workspaces", "--json"]).await;
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        api.pull(&kept, &kept_master, 0).await.frames.len(),
        1,
        "the other workspace is untouched"
    );
    let (ok, _, err) = admin(&server, &["delete-workspace", &gone, "--yes"]).await;
    assert!(!ok && err.contains("no workspace"), "{err}");
}

#[tokio::test]
async fn without_a_running_server_admin_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["admin", "workspaces", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot reach a hearth serving"), "{err}");
}

#[tokio::test]
async fn the_operator_changes_one_workspaces_quota_and_it_holds_across_a_restart() {
    let server = TestServer::start().await;
    let api = server.api();
    let (small, other) = (new_ws(), new_ws());
    let small_master = api.register(&small).await;
    let other_master = api.register(&other).await;
    api.push_ok(&small, &small_master, "k1", &vec![1u8; 4_000])
        .await;

    // Below what it holds: it keeps its data, and is refused more.
    let (ok, out, err) = admin(&server, &["quota", &small, "2kB"]).await;
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("2000 bytes") && out.contains("refused"),
        "{out}"
    );
    let refused = api.push(&small, &small_master, Some("k2"), b"more").await;
    assert_eq!(refused.status, StatusCode::INSUFFICIENT_STORAGE);
    assert_eq!(refused.code(), "quota_exceeded");
    assert_eq!(api.pull(&small, &small_master, 0).await.frames.len(), 1);
    api.push_ok(&other, &other_master, "k1", &vec![2u8; 4_000])
        .await;
    let (_, out, _) = admin(&server, &["workspaces", "--json"]).await;
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let row = |ws: &str| rows.iter().find(|r| r["id"] == ws).cloned().unwrap();
    assert_eq!(
        (
            row(&small)["quota_bytes"].as_u64(),
            row(&small)["quota_set"].as_bool()
        ),
        (Some(2_000), Some(true))
    );
    assert_eq!(
        row(&other)["quota_set"],
        false,
        "the others keep the default"
    );
    let (_, table, _) = admin(&server, &["workspaces"]).await;
    assert!(
        table.contains("QUOTA") && table.contains("2000*"),
        "{table}"
    );

    // Kept in the index: a restarted server still holds it to 2 kB.
    let dir = server.stop().await;
    let server = TestServer::start_in(dir, |_| {}).await;
    let api = server.api();
    let refused = api.push(&small, &small_master, Some("k2"), b"more").await;
    assert_eq!(refused.code(), "quota_exceeded");

    // Grown, then back to the server's default: let in again.
    let (ok, out, err) = admin(&server, &["quota", &small, "1MiB"]).await;
    assert!(ok && out.contains("1048576 bytes"), "{out}{err}");
    api.push_ok(&small, &small_master, "k2", b"more").await;
    let (ok, out, err) = admin(&server, &["quota", &small, "default"]).await;
    assert!(ok && out.contains("the server's default"), "{out}{err}");

    // Bad input is said in words, and changes nothing.
    let (ok, _, err) = admin(&server, &["quota", &small, "5 parsecs"]).await;
    assert!(!ok && err.contains("not a unit"), "{err}");
    let (ok, _, err) = admin(&server, &["quota", &new_ws(), "1GB"]).await;
    assert!(!ok && err.contains("no workspace"), "{err}");
}
