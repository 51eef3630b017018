//! End-to-end: Hearth behind a reverse proxy that terminates TLS, as
//! `docs/proxy.md` tells a person to set it up, with Debian's nginx and
//! Caddy. Headless Chromium trusts the test's certificate (by its public
//! key, `--ignore-certificate-errors-spki-list`, so the page is a secure
//! context with a service worker) and speaks HTTP/2 to the proxy: the app
//! loads, a second profile pairs by link, notes sync, an edit reaches the
//! other device over its event stream, and with the proxy gone a reload
//! still shows the notes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use e2e_support::{Device, Server, free_port};
use rcgen::PublicKeyData as _;
use sha2::Digest as _;

/// A certificate for `localhost`, and the flag that makes Chromium trust it.
struct Certificate {
    cert: PathBuf,
    key: PathBuf,
    trust_flag: String,
}

fn certificate(dir: &Path) -> Certificate {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let spki = sha2::Sha256::digest(certified.signing_key.subject_public_key_info());
    let spki = base64::engine::general_purpose::STANDARD.encode(spki);
    Certificate {
        cert,
        key,
        trust_flag: format!("--ignore-certificate-errors-spki-list={spki}"),
    }
}

/// A running proxy, stopped when dropped.
struct Proxy {
    name: &'static str,
    child: Child,
    /// `https://localhost:PORT`
    url: String,
    log: PathBuf,
}

impl Proxy {
    /// nginx with the recipe of `docs/proxy.md`, its certificate, its
    /// listen address and `hearth`'s address put in. nginx before 1.25.1
    /// turns HTTP/2 on in the `listen` line.
    fn nginx(dir: &Path, cert: &Certificate, upstream: &str) -> Proxy {
        let port = free_port();
        let version = Command::new(NGINX).arg("-v").output().unwrap();
        let version = String::from_utf8_lossy(&version.stderr).into_owned();
        let (listen, http2) = if nginx_has_http2_directive(&version) {
            (format!("listen 127.0.0.1:{port} ssl;"), "http2 on;")
        } else {
            (format!("listen 127.0.0.1:{port} ssl http2;"), "")
        };
        let recipe = recipe("nginx")
            .replace("listen 443 ssl;", &listen)
            .replace("http2 on;", http2)
            .replace("notes.example.org;", "localhost;")
            .replace(
                "/etc/letsencrypt/live/notes.example.org/fullchain.pem",
                &cert.cert.display().to_string(),
            )
            .replace(
                "/etc/letsencrypt/live/notes.example.org/privkey.pem",
                &cert.key.display().to_string(),
            )
            .replace("127.0.0.1:8080", upstream);
        let log = dir.join("nginx-error.log");
        let conf = format!(
            "daemon off;\nmaster_process off;\npid {dir}/nginx.pid;\nerror_log {log} info;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n access_log off;\n client_body_temp_path {dir}/body;\n\
             proxy_temp_path {dir}/proxy;\n fastcgi_temp_path {dir}/fastcgi;\n\
             uwsgi_temp_path {dir}/uwsgi;\n scgi_temp_path {dir}/scgi;\n{recipe}\n}}\n",
            dir = dir.display(),
            log = log.display(),
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(NGINX)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start nginx");
        Proxy::ready("nginx", child, port, log)
    }

    /// Caddy with the recipe of `docs/proxy.md`, given the test's
    /// certificate instead of one from a certificate authority.
    fn caddy(dir: &Path, cert: &Certificate, upstream: &str) -> Proxy {
        let port = free_port();
        let site = recipe("caddy")
            .replace(
                "notes.example.org {",
                &format!("https://localhost:{port} {{"),
            )
            .replace(
                "\treverse_proxy",
                &format!(
                    "\ttls {} {}\n\treverse_proxy",
                    cert.cert.display(),
                    cert.key.display()
                ),
            )
            .replace("127.0.0.1:8080", upstream);
        let conf = format!(
            "{{\n\tadmin off\n\tauto_https disable_redirects\n\tskip_install_trust\n\
             \tstorage file_system {}\n}}\n{site}\n",
            dir.join("storage").display()
        );
        let conf_path = dir.join("Caddyfile");
        std::fs::write(&conf_path, conf).unwrap();
        let log = dir.join("caddy.log");
        let child = Command::new(CADDY)
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&conf_path)
            .env("HOME", dir)
            .env("XDG_DATA_HOME", dir.join("data"))
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start caddy");
        Proxy::ready("caddy", child, port, log)
    }

    /// Waits until the proxy takes connections on `port`.
    fn ready(name: &'static str, mut child: Child, port: u16, log: PathBuf) -> Proxy {
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{name} exited ({status}): {}", read(&log));
            }
            assert!(
                Instant::now() < deadline,
                "{name} did not listen on {port}: {}",
                read(&log)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Proxy {
            name,
            child,
            url: format!("https://localhost:{port}"),
            log,
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

const NGINX: &str = "/usr/sbin/nginx";
const CADDY: &str = "/usr/bin/caddy";

/// `http2 on;` came in nginx 1.25.1.
fn nginx_has_http2_directive(version: &str) -> bool {
    let numbers: Vec<u32> = version
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    numbers
        .get(..3)
        .is_some_and(|v| (v[0], v[1], v[2]) >= (1, 25, 1))
}

/// The first fenced block under `## {heading}` of `docs/proxy.md`, in
/// the words a person copies.
fn recipe(heading: &str) -> String {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/proxy.md"))
            .unwrap();
    let section = doc
        .split("\n## ")
        .find(|s| s.to_lowercase().starts_with(heading))
        .unwrap_or_else(|| panic!("docs/proxy.md has no section {heading}"));
    section
        .split("```")
        .nth(1)
        .unwrap_or_else(|| panic!("docs/proxy.md's {heading} section has no recipe"))
        .trim_start_matches(|c: char| c.is_alphanumeric())
        .to_owned()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The number `hearth` reports for `metric` on its metrics address.
async fn metric(metrics: &str, name: &str) -> f64 {
    let page = e2e_support::get(metrics, "/metrics").await;
    let text = String::from_utf8_lossy(&page.body).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in the metrics:\n{text}"))
}

/// The whole flow through one proxy.
async fn through(start: fn(&Path, &Certificate, &str) -> Proxy) {
    let metrics = format!("127.0.0.1:{}", free_port());
    let server =
        Server::start_fresh(&["--trusted-proxy", "127.0.0.1", "--metrics-listen", &metrics]);
    let files = tempfile::tempdir().unwrap();
    let cert = certificate(files.path());
    let upstream = server.url.trim_start_matches("http://").to_owned();
    let mut proxy = start(files.path(), &cert, &upstream);
    let name = proxy.name;

    let laptop = Device::launch_with(1200, 900, &[&cert.trust_flag]).await;
    laptop.open(&proxy.url).await;
    laptop.wait_until_controlled().await;
    // Over HTTP/2, and the proxy said the client came over HTTPS.
    let protocol = laptop
        .eval("return performance.getEntriesByType('navigation')[0].nextHopProtocol")
        .await;
    assert_eq!(
        protocol.as_str(),
        Some("h2"),
        "{name}: the page over HTTP/2"
    );
    let hsts = laptop
        .eval_async(
            "const done = arguments[arguments.length - 1];
             fetch('/v1/health').then(r => done(r.headers.get('strict-transport-security')), e => done('failed: ' + e));",
        )
        .await;
    assert!(
        hsts.as_str().is_some_and(|h| h.contains("max-age")),
        "{name}: HSTS on an answer the proxy marked as HTTPS, got {hsts}"
    );
    laptop
        .add_note("Through the proxy", "written on the laptop")
        .await;
    laptop.become_owner_at(&proxy.url).await;

    let phone = Device::launch_with(390, 844, &[&cert.trust_flag]).await;
    phone.pair_from(&laptop, "phone").await;
    phone.wait_for_notes(&["Through the proxy"]).await;
    phone.wait_for_sync_state("synced").await;
    phone.wait_until_controlled().await;

    // Both devices hold an event stream through the proxy; an edit on the
    // laptop reaches the phone over it.
    let deadline = Instant::now() + Duration::from_secs(120);
    while metric(&metrics, "hearth_event_streams_open").await < 2.0 {
        assert!(
            Instant::now() < deadline,
            "{name}: both devices' event streams open through the proxy"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    laptop.click("#tab-notes").await;
    laptop.add_note("Heard live", "over the event stream").await;
    phone
        .wait_for_notes(&["Through the proxy", "Heard live"])
        .await;

    // The proxy gone: a reload is served by the service worker, the notes
    // by IndexedDB.
    proxy.stop();
    phone.client.refresh().await.unwrap();
    phone
        .wait_for_notes(&["Through the proxy", "Heard live"])
        .await;
    for device in [&laptop, &phone] {
        device.assert_no_console_errors(name).await;
    }
    laptop.close().await;
    phone.close().await;
    let log = read(&proxy.log);
    let errors: Vec<&str> = log.lines().filter(|l| proxy_error(l)).collect();
    assert!(errors.is_empty(), "{name} reported errors:\n{errors:#?}");
}

/// An error in nginx's or Caddy's log, but for a browser that closed a
/// stream it no longer needed (a page that navigated away from its event
/// stream), which Caddy logs as an error.
fn proxy_error(line: &str) -> bool {
    let nginx = ["[error]", "[crit]", "[alert]", "[emerg]"]
        .iter()
        .any(|level| line.contains(level));
    let caddy = line.contains("\"level\":\"error\"")
        && !(line.contains("aborting with incomplete response")
            && (line.contains("stream closed") || line.contains("context canceled")));
    nginx || caddy
}

#[tokio::test]
async fn the_app_works_through_nginx_with_tls_and_http2() {
    through(Proxy::nginx).await;
}

#[tokio::test]
async fn the_app_works_through_caddy_with_tls_and_http2() {
    through(Proxy::caddy).await;
}
