//! End-to-end: every screen has an address. On a phone (390×844) the notes
//! list and an open note are two screens, with a way back; on a desktop
//! (1280×800) they are two panes. A deep link to a note survives a reload,
//! back and forward move between the list and the note, a link opened with
//! the server gone still lands on its note (the service worker serves the
//! shell for every address), and an unknown address says so and leads home.
//! Screenshots of each screen at both widths go to `target/screenshots/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use std::path::Path;

use e2e_support::{Device, Server};

/// Saves a screenshot and checks the screen with axe-core: no serious or
/// critical accessibility violation.
async fn check_screen(device: &Device, name: &str) {
    screenshot(device, name).await;
    let violations = device.accessibility_violations().await;
    assert!(violations.is_empty(), "{name}: {violations:#?}");
    device.assert_no_console_errors(name).await;
}

async fn screenshot(device: &Device, name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = device.client.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

async fn path(device: &Device) -> String {
    device
        .eval("return location.pathname")
        .await
        .as_str()
        .unwrap()
        .to_owned()
}

/// The screens besides the notes: each address, and an element it shows.
const SCREENS: &[(&str, &str)] = &[
    ("/tasks", "#tasks-view"),
    ("/sync", "#sync-card"),
    ("/devices", "#devices-card"),
    ("/data", "#data-card"),
];

/// Whether the element is laid out (not `display: none` anywhere up).
fn shown(css: &str) -> String {
    format!("const e = document.querySelector({css:?}); return !!e && e.offsetParent !== null")
}

async fn wait_for_path(device: &Device, prefix: &str) {
    for _ in 0..150 {
        if path(device).await.starts_with(prefix) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the address is {:?}, not {prefix}…", path(device).await);
}

#[tokio::test]
async fn screens_are_addresses_on_a_phone_and_a_desktop() {
    let mut server = Server::start();
    let phone = Device::launch_phone().await;
    phone.open(&server.url).await;
    phone
        .wait_until(
            "the service worker controls the page",
            "return !!navigator.serviceWorker.controller",
        )
        .await;
    phone.add_note("Deep note", "reached by its address").await;
    phone.add_note("Second", "another").await;
    wait_for_path(&phone, "/notes/").await;
    phone
        .wait_until(
            "everything is saved",
            "return document.querySelector('#sync-status').dataset.state !== 'saving'",
        )
        .await;

    // On the phone, an open note is a screen of its own, with a way back.
    phone.click("#back-to-list").await;
    phone
        .wait_until("the list is shown", &shown("#note-items"))
        .await;
    assert_eq!(path(&phone).await, "/");
    assert_eq!(phone.eval(&shown("#note-body")).await, false);
    check_screen(&phone, "phone-notes").await;
    phone.open_note("Deep note").await;
    wait_for_path(&phone, "/notes/").await;
    let deep = path(&phone).await;
    assert_eq!(
        phone.eval(&shown("#note-items")).await,
        false,
        "the list is hidden"
    );
    assert_eq!(phone.eval(&shown("#back-to-list")).await, true);
    check_screen(&phone, "phone-note").await;

    // Reload: the same note.
    phone.client.refresh().await.unwrap();
    phone
        .wait_until(
            "the note is open after a reload",
            "return document.querySelector('#note-title')?.value === 'Deep note'",
        )
        .await;
    assert_eq!(path(&phone).await, deep);

    // Back and forward move between the list and the note.
    phone.client.back().await.unwrap();
    wait_for_path(&phone, "/").await;
    phone
        .wait_until("the list is shown", &shown("#note-items"))
        .await;
    phone.client.forward().await.unwrap();
    phone
        .wait_until(
            "forward opens the note again",
            "return document.querySelector('#note-title')?.value === 'Deep note'",
        )
        .await;

    // Every screen has an address.
    for &(address, what) in SCREENS {
        phone.open(&format!("{}{address}", server.url)).await;
        phone.text_of(what).await;
        assert_eq!(
            phone
                .eval("return document.querySelector('nav .tab.active')?.getAttribute('href')")
                .await,
            address,
            "the tab of {address} is marked"
        );
        check_screen(
            &phone,
            &format!("phone-{}", address.trim_start_matches('/')),
        )
        .await;
    }

    // An unknown address says so and leads home.
    phone.open(&format!("{}/no/such/screen", server.url)).await;
    let said = phone.text_of("#not-found").await;
    check_screen(&phone, "phone-not-found").await;
    assert!(said.contains("/no/such/screen"), "{said}");
    phone.click("#go-home").await;
    phone.text_of("#note-items").await;
    assert_eq!(path(&phone).await, "/");

    // With the server gone, a deep link still opens its note.
    server.kill();
    phone.open(&format!("{}{deep}", server.url)).await;
    phone
        .wait_until(
            "the note opens offline from its address",
            "return document.querySelector('#note-title')?.value === 'Deep note'",
        )
        .await;
    phone.close().await;

    // A desktop shows the list and the note side by side at one address.
    let server = Server::start();
    let desktop = Device::launch_sized(1280, 800).await;
    desktop.open(&server.url).await;
    desktop.add_note("Wide note", "two panes").await;
    wait_for_path(&desktop, "/notes/").await;
    desktop
        .wait_until("the list is shown", &shown("#note-items"))
        .await;
    assert_eq!(desktop.eval(&shown("#note-body")).await, true);
    assert_eq!(desktop.eval(&shown("#back-to-list")).await, false);
    check_screen(&desktop, "desktop-note").await;

    // The keyboard: `?` lists the shortcuts, `Escape` closes the list,
    // leaves the field, then goes back to the list; `n` starts a note,
    // `j`/`k` move between notes.
    let press = |key: &'static str| {
        format!(
            "document.dispatchEvent(new KeyboardEvent('keydown', {{ key: {key:?}, bubbles: true }})); return true"
        )
    };
    desktop.eval(&press("?")).await;
    desktop.text_of("#shortcuts").await;
    check_screen(&desktop, "desktop-shortcuts").await;
    desktop.eval(&press("Escape")).await;
    desktop
        .wait_until(
            "the list of shortcuts closes",
            "return !document.querySelector('#shortcuts')",
        )
        .await;
    desktop
        .eval("document.activeElement?.blur(); return true")
        .await;
    desktop.eval(&press("Escape")).await;
    wait_for_path(&desktop, "/").await;
    desktop
        .wait_until("no note is open", "return location.pathname === '/'")
        .await;
    desktop.eval(&press("n")).await;
    wait_for_path(&desktop, "/notes/").await;
    desktop
        .wait_until(
            "the new note's title has focus",
            "return document.activeElement?.id === 'note-title'",
        )
        .await;
    desktop.type_into("#note-title", "Typed n here").await;
    let newest = path(&desktop).await;
    desktop
        .eval("document.activeElement?.blur(); return true")
        .await;
    desktop.eval(&press("j")).await;
    desktop
        .wait_until(
            "j opens the next note",
            &format!(
                "return location.pathname !== {newest:?} && location.pathname.startsWith('/notes/')"
            ),
        )
        .await;
    desktop.eval(&press("k")).await;
    desktop
        .wait_until(
            "k opens the previous note",
            &format!("return location.pathname === {newest:?}"),
        )
        .await;
    desktop.client.refresh().await.unwrap();
    desktop
        .wait_until(
            "the note is open after a reload",
            "return document.querySelector('#note-title')?.value === 'Typed n here'",
        )
        .await;
    for address in ["/tasks", "/sync", "/devices", "/devices/pair", "/data"] {
        desktop.open(&format!("{}{address}", server.url)).await;
        desktop.text_of("main").await;
        let tab = desktop
            .eval("return document.querySelector('nav .tab.active')?.getAttribute('href')")
            .await;
        let expected = if address == "/devices/pair" {
            "/devices"
        } else {
            address
        };
        assert_eq!(tab, expected, "the tab of {address} is marked");
        check_screen(
            &desktop,
            &format!(
                "desktop-{}",
                address.trim_start_matches('/').replace('/', "-")
            ),
        )
        .await;
    }

    desktop.close().await;
}

/// The relative luminance (WCAG) of a computed `rgb(…)` colour.
fn luminance(css: &str) -> f64 {
    let parts: Vec<f64> = css
        .trim_start_matches("rgba(")
        .trim_start_matches("rgb(")
        .trim_end_matches(')')
        .split(',')
        .take(3)
        .map(|p| p.trim().parse::<f64>().unwrap() / 255.0)
        .collect();
    let lin = |c: f64| {
        if c <= 0.03928 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(parts[0]) + 0.7152 * lin(parts[1]) + 0.0722 * lin(parts[2])
}

#[tokio::test]
async fn a_phone_that_asks_for_dark_gets_a_dark_theme_that_stays_readable() {
    let server = Server::start();
    let phone = Device::launch_dark_phone().await;
    phone.open(&server.url).await;
    assert_eq!(
        phone
            .eval("return matchMedia('(prefers-color-scheme: dark)').matches")
            .await,
        true,
        "the phone asks for a dark theme"
    );
    phone
        .add_note(
            "Dark note",
            "# Heading\n\n- [ ] a task\n- [x] done\n\n`code`, **bold** and [a link](https://example.com)\n\n> quoted",
        )
        .await;
    phone
        .wait_until(
            "everything is saved",
            "return document.querySelector('#sync-status').dataset.state !== 'saving'",
        )
        .await;
    phone.click("#note-mode").await;
    phone.text_of(".rendered h1").await;
    let colours = |css: &'static str| {
        format!(
            "const e = document.querySelector({css:?}); const s = getComputedStyle(e); \
             return [s.backgroundColor, s.color]"
        )
    };
    let body = phone.eval(&colours("body")).await;
    let (background, text) = (
        luminance(body[0].as_str().unwrap()),
        luminance(body[1].as_str().unwrap()),
    );
    assert!(
        background < 0.05 && text > 0.6,
        "dark background, light text: {body:?}"
    );
    check_screen(&phone, "phone-note-dark").await;
    phone.click("#back-to-list").await;
    phone
        .wait_until("the list is shown", &shown("#note-items"))
        .await;
    check_screen(&phone, "phone-notes-dark").await;
    for &(address, what) in SCREENS {
        phone.open(&format!("{}{address}", server.url)).await;
        phone.text_of(what).await;
        check_screen(
            &phone,
            &format!("phone-{}-dark", address.trim_start_matches('/')),
        )
        .await;
    }
    phone.close().await;
}
