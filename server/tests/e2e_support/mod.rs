//! Fixtures for the end-to-end tests: a real `hearth` process serving the
//! built PWA on 127.0.0.1, and headless Chromium "devices" driven through
//! Debian's ChromeDriver.
//!
//! Each [`Device`] has its own ChromeDriver process and its own fresh
//! Chromium profile, so two devices share nothing but the server. Everything
//! is torn down on drop.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/files.rs"]
mod files;
#[allow(unused_imports)]
pub use files::{files_under, incompressible, png_bytes};

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

/// How long to wait for something a user would see before giving up.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A `hearth serve` process on 127.0.0.1 with its own data directory.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    pub data_dir: PathBuf,
    /// What the server printed on stdout after its first line, read on
    /// a thread so that the pipe never fills or closes under it.
    printed: Arc<Mutex<Vec<String>>>,
    _tmp: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts `hearth serve` on a free port with a fresh data directory,
    /// registering workspaces for anyone (`--registration open`).
    pub fn start() -> Server {
        Server::start_fresh(&[])
    }

    /// Starts `hearth serve` on a free port with a fresh data directory in
    /// its default mode: registering takes a one-time setup code.
    pub fn start_requiring_setup_code() -> Server {
        Server::start_fresh(&["--registration", "code"])
    }

    /// Starts `hearth serve` with a fresh data directory and extra args.
    pub fn start_fresh(extra: &[&str]) -> Server {
        let tmp = tempfile::tempdir().unwrap();
        let data_dir = tmp.path().join("data");
        let mut server = Server::start_in(&data_dir, extra);
        server._tmp = Some(tmp);
        server
    }

    /// Starts `hearth serve` on a free port over `data_dir` with extra args.
    /// Registration is open unless `extra` has a `--registration`.
    pub fn start_in(data_dir: &Path, extra: &[&str]) -> Server {
        let mut command = Command::new(hearth_bin());
        command
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra);
        if !extra.contains(&"--listen") {
            command.args(["--listen", "127.0.0.1:0"]);
        }
        if !extra.contains(&"--registration") {
            command.env("HEARTH_REGISTRATION", "open");
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start hearth");
        let stdout = child.stdout.take().expect("hearth stdout");
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("read hearth's first line");
        let url = line
            .trim()
            .strip_prefix("hearth listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from hearth: {line:?}"))
            .to_owned();
        let printed = Arc::new(Mutex::new(Vec::new()));
        let lines = Arc::clone(&printed);
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        Server {
            child,
            url,
            data_dir: data_dir.to_owned(),
            printed,
            _tmp: None,
        }
    }

    /// The setup code the server printed when it started
    /// (`setup code: XXXX-…`), waiting for it.
    pub fn printed_setup_code(&self) -> String {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let printed = self.printed.lock().unwrap().clone();
            let code = printed.iter().find_map(|l| {
                l.trim()
                    .strip_prefix("setup code:")?
                    .split_whitespace()
                    .next()
                    .map(str::to_owned)
            });
            if let Some(code) = code {
                return code;
            }
            if std::time::Instant::now() > deadline {
                panic!("hearth printed no setup code; it printed {printed:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A fresh setup code from `hearth setup-code --data-dir DIR`, as an
    /// operator gets one on the server's machine.
    pub fn new_setup_code(&self) -> String {
        let output = Command::new(hearth_bin())
            .arg("setup-code")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .stderr(Stdio::inherit())
            .output()
            .expect("run hearth setup-code");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "hearth setup-code failed ({}): {stdout}",
            output.status
        );
        let code = stdout.lines().next().unwrap_or_default().trim().to_owned();
        assert!(!code.is_empty(), "hearth setup-code printed no code");
        code
    }

    /// `host:port` of the server.
    /// Takes a backup of the running server's data directory with
    /// `hearth backup`; returns the backup's directory.
    pub fn backup(&self, out: &Path) -> PathBuf {
        let made = Command::new(hearth_bin())
            .args(["backup", "--data-dir"])
            .arg(&self.data_dir)
            .arg("--out")
            .arg(out)
            .output()
            .unwrap();
        assert!(
            made.status.success(),
            "hearth backup failed: {}",
            String::from_utf8_lossy(&made.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&made.stdout).trim())
    }

    pub fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server at once (SIGKILL).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An HTTP response read by [`get`].
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A plain HTTP/1.1 GET over loopback, so that the test sees the exact
/// headers the server sent.
pub async fn get(addr: &str, path: &str) -> Response {
    request(addr, "GET", path, None, None).await
}

/// POSTs JSON with an optional bearer token and parses the JSON answer.
pub async fn post_json(addr: &str, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let response = request(addr, "POST", path, token, Some(body.to_string().as_bytes())).await;
    let json = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    (response.status, json)
}

/// Mints a read-write access token for `label` with the master token.
pub async fn mint_token(server: &Server, workspace: &str, master: &str, label: &str) -> String {
    let (status, minted) = post_json(
        server.addr(),
        &format!("/v1/workspaces/{workspace}/tokens"),
        Some(master),
        &json!({ "label": label, "scope": "rw" }),
    )
    .await;
    assert_eq!(status, 201, "{minted}");
    minted["token"].as_str().unwrap().to_owned()
}

/// One HTTP/1.1 request over loopback (hyper's client), read whole; a
/// body is JSON.
pub async fn request(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> Response {
    request_typed(addr, method, path, token, body, "application/json").await
}

/// [`request`] with a body of `content_type`.
pub async fn request_typed(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
    content_type: &str,
) -> Response {
    use http_body_util::BodyExt as _;
    let client: hyper_util::client::legacy::Client<_, http_body_util::Full<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let mut builder = hyper::Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    if body.is_some() {
        builder = builder.header("content-type", content_type);
    }
    let body = bytes::Bytes::copy_from_slice(body.unwrap_or_default());
    let answer = client
        .request(builder.body(http_body_util::Full::new(body)).unwrap())
        .await
        .unwrap();
    let status = answer.status().as_u16();
    let headers = answer
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = answer
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Response {
        status,
        headers,
        body,
    }
}

/// One browser profile: a headless Chromium driven through its own
/// ChromeDriver.
pub struct Device {
    pub client: Client,
    /// Where this browser saves downloads.
    pub downloads: PathBuf,
    /// ChromeDriver; killed on drop (a failing test never reaches `close`).
    driver: Child,
    _profile: tempfile::TempDir,
}

fn is_stale(e: &fantoccini::error::CmdError) -> bool {
    e.to_string().contains("stale element")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Device {
    /// Launches a fresh headless Chromium profile, a desktop window.
    pub async fn launch() -> Device {
        Self::launch_sized(1200, 900).await
    }

    /// Launches a fresh profile with a phone's screen (390×844 CSS pixels).
    pub async fn launch_phone() -> Device {
        Self::launch_sized(390, 844).await
    }

    pub async fn launch_sized(width: u32, height: u32) -> Device {
        Device::launch_with(width, height, &[]).await
    }

    /// A phone whose system asks for a dark theme
    /// (`prefers-color-scheme: dark`).
    pub async fn launch_dark_phone() -> Device {
        Device::launch_with(390, 844, &["--force-dark-mode"]).await
    }

    /// Launches a phone whose DevTools network events are kept, for
    /// [`Device::network_events`].
    pub async fn launch_phone_recording_network() -> Device {
        Device::launch_logging(390, 844, &[], true).await
    }

    /// Launches a fresh profile of this size with extra Chromium flags.
    pub async fn launch_with(width: u32, height: u32, extra: &[&str]) -> Device {
        Device::launch_logging(width, height, extra, false).await
    }

    async fn launch_logging(width: u32, height: u32, extra: &[&str], network: bool) -> Device {
        let chromedriver =
            std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".to_owned());
        let chromium =
            std::env::var("HEARTH_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
        assert!(
            Path::new(&chromedriver).exists() && Path::new(&chromium).exists(),
            "end-to-end tests need Chromium and ChromeDriver: run `cargo xtask test`, \
             or `apt-get install chromium chromium-driver`"
        );
        let profile = tempfile::tempdir().unwrap();
        let args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let args: Vec<String> = args
            .into_iter()
            .chain(extra.iter().map(|a| (*a).to_owned()))
            .collect();
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        let downloads = profile.path().join("downloads");
        std::fs::create_dir_all(&downloads).unwrap();
        let prefs = json!({
            "download.default_directory": downloads.to_string_lossy(),
            "download.prompt_for_download": false,
        });
        let mut options = json!({ "binary": chromium, "args": args, "prefs": prefs });
        // Chromium's windows are at least 500 px wide: a phone's screen is
        // emulated (its size, pixel ratio and touch).
        if width < 500 {
            options["mobileEmulation"] = json!({
                "deviceMetrics": { "width": width, "height": height, "pixelRatio": 3.0, "touch": true }
            });
        }
        // The console is kept for `console_errors`; DevTools' network events
        // when asked.
        let mut logging = json!({ "browser": "ALL" });
        if network {
            logging["performance"] = json!("ALL");
            options["perfLoggingPrefs"] = json!({ "enableNetwork": true, "enablePage": false });
        }
        caps.insert("goog:loggingPrefs".into(), logging);
        caps.insert("goog:chromeOptions".into(), options);
        let mut last_error = None;
        // ChromeDriver on a free port; if it cannot take the port (another
        // process got it first) or dies, start it again on another one.
        for _attempt in 0..3 {
            let port = free_port();
            // In a process group of its own, so that its browser goes with it.
            let mut driver = Command::new(&chromedriver)
                .arg(format!("--port={port}"))
                .process_group(0)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start chromedriver");
            let url = format!("http://127.0.0.1:{port}");
            for _ in 0..150 {
                match ClientBuilder::new(HttpConnector::new())
                    .capabilities(caps.clone())
                    .connect(&url)
                    .await
                {
                    Ok(client) => {
                        return Device {
                            client,
                            downloads,
                            driver,
                            _profile: profile,
                        };
                    }
                    Err(e) => last_error = Some(e),
                }
                if matches!(driver.try_wait(), Ok(Some(_))) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", driver.id())])
                .status();
            let _ = driver.kill();
            let _ = driver.wait();
        }
        panic!("could not start a browser session: {last_error:?}");
    }

    /// Waits until the service worker controls the page, so that a reload
    /// with the server down is served from its cache.
    pub async fn wait_until_controlled(&self) {
        self.wait_until(
            "the service worker controls the page",
            "return !!navigator.serviceWorker.controller && navigator.serviceWorker.controller.state === 'activated'",
        )
        .await;
    }

    /// Opens a URL.
    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// Waits until an element matching `css` exists and returns its text
    /// (read in one step, so a re-render cannot make it stale).
    pub async fn text_of(&self, css: &str) -> String {
        let script =
            format!("const e = document.querySelector({css:?}); return e ? e.innerText : null");
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Ok(Value::String(text)) = self.client.execute(&script, vec![]).await {
                return text;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("no element {css:?} appeared");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs a script in the page (`return` gives its value; a promise is
    /// awaited).
    pub async fn eval(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// Waits until `script` returns `true`.
    pub async fn wait_until(&self, what: &str, script: &str) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Ok(Value::Bool(true)) = self.client.execute(script, vec![]).await {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("timed out waiting until {what}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs an async script: it gets a `done` callback as its last argument.
    pub async fn eval_async(&self, script: &str) -> Value {
        self.client.execute_async(script, vec![]).await.unwrap()
    }

    /// Finds the element matching `css` (waiting for it) and runs `act`
    /// on it, finding it again if a re-render replaced it meanwhile.
    async fn with_element<F, Fut>(&self, css: &str, what: &str, act: F)
    where
        F: Fn(fantoccini::elements::Element) -> Fut,
        Fut: std::future::Future<Output = Result<(), fantoccini::error::CmdError>>,
    {
        for _ in 0..20 {
            let element = self
                .client
                .wait()
                .at_most(PATIENCE)
                .for_element(Locator::Css(css))
                .await
                .unwrap_or_else(|e| panic!("no element {css:?} to {what}: {e}"));
            match act(element).await {
                Ok(()) => return,
                Err(e) if is_stale(&e) => continue,
                Err(e) => panic!("could not {what} {css:?}: {e}"),
            }
        }
        panic!("{css:?} kept being replaced");
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        self.with_element(css, "click", |e| async move { e.click().await })
            .await;
    }

    /// Types into the element matching `css` (`\n` presses Enter).
    pub async fn type_into(&self, css: &str, text: &str) {
        self.with_element(css, "type into", |e| async move { e.send_keys(text).await })
            .await;
    }

    /// Empties the input matching `css`.
    pub async fn clear(&self, css: &str) {
        self.with_element(css, "clear", |e| async move { e.clear().await })
            .await;
    }

    /// The titles of the notes in the list, in order.
    pub async fn note_titles(&self) -> Vec<String> {
        let value = self
            .eval("return [...document.querySelectorAll('#note-items .note-title')].map(e => e.textContent.replace(/^Pinned/, '').trim())")
            .await;
        serde_json::from_value(value).unwrap_or_default()
    }

    /// Waits until the note list holds exactly `titles` (in any order).
    pub async fn wait_for_notes(&self, titles: &[&str]) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let mut want: Vec<String> = titles.iter().map(|t| t.to_string()).collect();
        want.sort();
        loop {
            let mut have = self.note_titles().await;
            have.sort();
            if have == want {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                let pill = self
                    .eval("return document.querySelector('#sync-status')?.innerText ?? null")
                    .await;
                let console: Vec<String> = self
                    .read_log("browser")
                    .await
                    .iter()
                    .map(|e| format!("{} {}", e["level"], e["message"]))
                    .collect();
                panic!(
                    "timed out waiting for notes {want:?}; the list shows {have:?}, \
                     the sync pill says {pill}; the console said: {console:#?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Adds a note through the UI.
    pub async fn add_note(&self, title: &str, body: &str) {
        self.click("#tab-notes").await;
        self.click("#new-note").await;
        self.type_into("#note-title", title).await;
        self.type_into("#note-body", body).await;
    }

    /// The sync pill's state (`local`, `saving`, `saved`, `syncing`,
    /// `synced`, `offline`, `error`).
    pub async fn sync_state(&self) -> String {
        self.eval("return document.querySelector('#sync-status').dataset.state")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits for the sync pill to show `state`.
    pub async fn wait_for_sync_state(&self, state: &str) {
        self.wait_until(
            &format!("sync state is {state}"),
            &format!("return document.querySelector('#sync-status')?.dataset.state === '{state}'"),
        )
        .await;
    }

    /// This device's stored record (workspace, server, token) of the
    /// workspace it opens, read from IndexedDB as `hearth-storage` lays it
    /// out (`app["current"]` names the workspace, `devices` holds records).
    pub async fn device_record(&self) -> Value {
        let text = self
            .eval_async(
                "const done = arguments[arguments.length - 1];
                 const open = indexedDB.open('hearth');
                 open.onsuccess = () => {
                   const tx = open.result.transaction(['app', 'devices']);
                   const current = tx.objectStore('app').get('current');
                   current.onsuccess = () => {
                     if (current.result === undefined) { done(null); return; }
                     const get = tx.objectStore('devices').get(current.result);
                     get.onsuccess = () => { done(get.result); open.result.close(); };
                     get.onerror = () => done(null);
                   };
                   current.onerror = () => done(null);
                 };
                 open.onerror = () => done(null);",
            )
            .await;
        serde_json::from_str(text.as_str().expect("a device record")).unwrap()
    }

    /// Waits for a finished download whose name ends with `suffix`.
    pub async fn downloaded(&self, suffix: &str) -> PathBuf {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        // Chromium may reserve the final name with an empty file while it
        // writes `….crdownload`: the download is done when no partial file
        // is left and the file's size held still between two looks.
        let mut seen: Option<(PathBuf, u64)> = None;
        loop {
            if let Ok(entries) = std::fs::read_dir(&self.downloads) {
                let entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
                let partial = entries
                    .iter()
                    .any(|p| p.to_string_lossy().ends_with(".crdownload"));
                let done = entries
                    .into_iter()
                    .find(|p| p.to_string_lossy().ends_with(suffix));
                if let Some(path) = done.filter(|_| !partial) {
                    let len = std::fs::metadata(&path).map_or(0, |m| m.len());
                    if seen.as_ref() == Some(&(path.clone(), len)) {
                        return path;
                    }
                    seen = Some((path, len));
                }
            }
            if tokio::time::Instant::now() > deadline {
                panic!("no download ending in {suffix:?} appeared");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Opens the note titled `title` in the editor.
    pub async fn open_note(&self, title: &str) {
        self.click("#tab-notes").await;
        self.wait_until(
            &format!("note {title:?} is listed"),
            &format!("return [...document.querySelectorAll('#note-items li')].some(li => li.querySelector('.note-title').textContent.endsWith({title:?}))"),
        )
        .await;
        self.eval(&format!(
            "[...document.querySelectorAll('#note-items li')].find(li => li.querySelector('.note-title').textContent.endsWith({title:?})).click(); return true"
        ))
        .await;
        self.text_of("#editor").await;
    }

    /// Waits until the open note's body is `body`.
    pub async fn wait_for_body(&self, body: &str) {
        self.wait_until(
            &format!("the note's body is {body:?}"),
            &format!("return document.querySelector('#note-body')?.value === {body:?}"),
        )
        .await;
    }

    /// Connects this device's workspace to `server` as its owner; returns
    /// the workspace id and the master token.
    pub async fn become_owner(&self, server: &Server) -> (String, String) {
        self.become_owner_at(&server.url).await
    }

    /// [`Device::become_owner`] of the server at `url` (a proxy's, say).
    pub async fn become_owner_at(&self, url: &str) -> (String, String) {
        self.open(url).await;
        self.click("#tab-sync").await;
        self.click("#connect").await;
        self.wait_for_sync_state("synced").await;
        let record = self.device_record().await;
        (
            record["workspace_id"].as_str().unwrap().to_owned(),
            record["token"].as_str().unwrap().to_owned(),
        )
    }

    /// Makes a pairing link (`scope`: `rw` or `ro`) on the Devices screen
    /// of this device, its workspace's owner.
    pub async fn make_pairing_link(&self, scope: &str) -> String {
        self.click("#tab-devices").await;
        self.eval(&format!("const s = document.querySelector('#pair-scope'); s.value = '{scope}'; s.dispatchEvent(new Event('change', {{ bubbles: true }})); return true"))
            .await;
        self.eval(
            "const l = document.querySelector('#pair-link'); if (l) l.value = ''; return true",
        )
        .await;
        self.click("#make-pair-link").await;
        self.wait_until("a pairing link is shown", "const l = document.querySelector('#pair-link'); return !!l && l.value.includes('#pair')")
            .await;
        self.eval("return document.querySelector('#pair-link').value")
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Opens a pairing link and joins its workspace under `label`.
    pub async fn join_by_link(&self, link: &str, label: &str) {
        // As a scanned code does: the link opens in a fresh page load, not
        // as a change of the fragment of a page that may still be starting.
        self.open("about:blank").await;
        self.open(link).await;
        self.text_of("#pair-join").await;
        self.clear("#pair-label").await;
        self.type_into("#pair-label", label).await;
        self.click("#pair-join-button").await;
    }

    /// Picks the file at `path` in the open note's "Attach files".
    pub async fn pick_file(&self, path: &Path) {
        self.pick_file_in("#attach-input", path).await;
    }

    /// Picks the file at `path` in the file input `css`.
    pub async fn pick_file_in(&self, css: &str, path: &Path) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .send_keys(path.to_str().unwrap())
            .await
            .unwrap();
    }

    /// A fresh phone that joined the workspace of `link` as "phone", once
    /// the joined workspace has opened.
    pub async fn phone_joined_by_link(link: &str) -> Device {
        let phone = Device::launch_phone().await;
        phone.join_by_link(link, "phone").await;
        phone
            .wait_until(
                "the joined workspace opens",
                "return !location.hash.includes('pair') && !!document.querySelector('#tab-notes')",
            )
            .await;
        phone
    }

    /// Joins `owner`'s workspace by a read-write pairing link made on it
    /// (the only way an encrypted workspace's key reaches a new device),
    /// and waits until the notes screen shows.
    pub async fn pair_from(&self, owner: &Device, label: &str) {
        let link = owner.make_pairing_link("rw").await;
        owner.click("#tab-notes").await;
        self.join_by_link(&link, label).await;
        self.wait_until(
            "the joined workspace opens",
            "return !location.hash.includes('pair') && !!document.querySelector('#tab-notes')",
        )
        .await;
        self.click("#tab-notes").await;
    }

    /// Joins the workspace with an access token minted by its owner.
    pub async fn join_with_token(&self, server: &Server, token: &str) {
        self.open(&server.url).await;
        self.click("#tab-sync").await;
        self.type_into("#token-input", token).await;
        self.click("#join").await;
        self.click("#tab-notes").await;
    }

    /// Runs axe-core (the npm package that `cargo xtask test` installs,
    /// found by `HEARTH_AXE` or in `target/tools`) on the page and returns
    /// its serious and critical violations, one line each ("rule: what, on
    /// which element").
    pub async fn accessibility_violations(&self) -> Vec<String> {
        let path = std::env::var_os("HEARTH_AXE")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../target/tools/node_modules/axe-core/axe.min.js")
            });
        let axe = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "axe-core is missing at {} ({e}): run `cargo xtask test`, which installs it",
                path.display()
            )
        });
        self.client.execute(&axe, vec![]).await.unwrap();
        let found = self
            .eval_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document).then(r => done(r.passes.length === 0
                   ? ['axe checked nothing']
                   : r.violations
                     .filter(v => v.impact === 'serious' || v.impact === 'critical')
                     .map(v => v.id + ': ' + v.help + ', on ' + v.nodes.map(n => n.target.join(' ')).slice(0, 3).join(', '))
                 ), e => done(['axe failed: ' + e]));",
            )
            .await;
        serde_json::from_value(found).unwrap()
    }

    /// The log entries of one kind that ChromeDriver gathered since the
    /// last call (`browser`: the console; `performance`: DevTools events).
    async fn read_log(&self, kind: &'static str) -> Vec<Value> {
        let command = Chromedriver {
            path: "se/log",
            body: json!({ "type": kind }),
        };
        match self.client.issue_cmd(command).await.unwrap() {
            Value::Array(entries) => entries,
            other => panic!("ChromeDriver's {kind} log is not a list: {other}"),
        }
    }

    /// Calls the DevTools protocol's `cmd` with `params` in this browser's
    /// page (through ChromeDriver's `goog/cdp/execute`): a virtual
    /// authenticator, say.
    pub async fn devtools(&self, cmd: &'static str, params: Value) -> Value {
        let command = Chromedriver {
            path: "goog/cdp/execute",
            body: json!({ "cmd": cmd, "params": params }),
        };
        self.client.issue_cmd(command).await.unwrap()
    }

    /// The uncaught errors and error-level console messages since the last
    /// call, less those in [`ALLOWED_CONSOLE_ERRORS`], one line each.
    pub async fn console_errors(&self) -> Vec<String> {
        self.read_log("browser")
            .await
            .into_iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .filter(|m| !ALLOWED_CONSOLE_ERRORS.iter().any(|a| m.contains(a)))
            .collect()
    }

    /// Fails the test if the page logged an error since the last check.
    pub async fn assert_no_console_errors(&self, on: &str) {
        let errors = self.console_errors().await;
        assert!(errors.is_empty(), "console errors on {on}: {errors:#?}");
    }

    /// DevTools' `Network.*` events since the last call (each the CDP
    /// message: `method` and `params`), for a device launched with
    /// [`Device::launch_phone_recording_network`].
    pub async fn network_events(&self) -> Vec<Value> {
        self.read_log("performance")
            .await
            .into_iter()
            .filter_map(|e| serde_json::from_str::<Value>(e["message"].as_str()?).ok())
            .map(|m| m["message"].clone())
            .filter(|m| {
                m["method"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("Network."))
            })
            .collect()
    }

    /// Closes the browser.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        // A killed ChromeDriver leaves its Chromium running: kill the whole
        // process group (the driver, the browser and its helpers).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Console errors that are the browser's, not the app's: none so far. An
/// entry here needs a reason beside it.
pub const ALLOWED_CONSOLE_ERRORS: &[&str] = &[];

/// One of ChromeDriver's own commands: `POST session/{id}/{path}` with
/// `body` (`se/log`: return and clear one kind of log; `goog/cdp/execute`:
/// run a DevTools protocol command).
#[derive(Debug)]
struct Chromedriver {
    path: &'static str,
    body: Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for Chromedriver {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}

/// The `hearth` binary the end-to-end tests run: this package's test build
/// (the same code and embedded app as the release `cargo xtask run`
/// ships), or the one `HEARTH_BIN` names (a release build, say).
pub fn hearth_bin() -> std::path::PathBuf {
    std::env::var_os("HEARTH_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_BIN_EXE_hearth")))
}

/// A native device (`hearth-device`, in `dir`) that registers a workspace on
/// `server`, writes `count` notes ("Note 0", … with `body(i)`), pushes
/// them, and mints a read-write token for a browser to join with.
pub async fn native_workspace(
    server: &Server,
    dir: &Path,
    count: usize,
    body: impl Fn(usize) -> String,
) -> String {
    use hearth_migrations::NewNote;
    let mut native = hearth_device::Device::create(dir, "laptop").await.unwrap();
    native.register(&server.url).await.unwrap();
    native
        .edit(|ws, now| {
            for i in 0..count {
                ws.add_note(
                    &format!("{i:032x}"),
                    NewNote {
                        title: &format!("Note {i}"),
                        body: &body(i),
                        tags: &[],
                        pinned: false,
                    },
                    now,
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
    native.sync_once().await.unwrap();
    native
        .mint_token("browser", hearth_shared::api::Scope::ReadWrite)
        .await
        .unwrap()
        .token
}
