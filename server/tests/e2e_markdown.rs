//! End-to-end: notes are Markdown. A desktop and a phone share a workspace
//! through a real `hearth`; a note's reading view shows headings, links,
//! code and task checkboxes; a box ticked on the phone shows ticked on the
//! desktop (it is an edit of the text, synced like typing); and a note that
//! holds scripts, event-handler HTML and `javascript:` links renders inert.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod e2e_support;

use e2e_support::{Device, Server};

const BODY: &str = "# Shop\n\
- [ ] milk\n\
- [x] bread\n\
\n\
Go to [the market](https://example.org/market) and `pay`.\n\
\n\
<script>window.__pwned = 'script'</script>\n\
<img src=x onerror=\"window.__pwned = 'img'\">\n\
[do not](javascript:window.__pwned='link')\n";

/// Whether the reading view's first two checkboxes are ticked.
const BOXES: &str = "return [...document.querySelectorAll('#note-rendered input[type=checkbox]')].map(b => b.checked)";

#[tokio::test]
async fn markdown_renders_inert_and_a_ticked_box_syncs() {
    let server = Server::start();
    let desktop = Device::launch().await;
    desktop.open(&server.url).await;
    desktop.become_owner(&server).await;
    desktop.add_note("Groceries", BODY).await;
    desktop.wait_for_sync_state("synced").await;

    // The reading view.
    desktop.click("#note-mode").await;
    assert_eq!(desktop.text_of("#note-rendered h1").await, "Shop");
    let violations = desktop.accessibility_violations().await;
    assert!(violations.is_empty(), "the reading view: {violations:#?}");
    assert_eq!(desktop.eval(BOXES).await, serde_json::json!([false, true]));
    let inert = desktop
        .eval(
            "const r = document.querySelector('#note-rendered');
             return {
               pwned: window.__pwned === undefined ? null : window.__pwned,
               scripts: r.querySelectorAll('script').length,
               images: r.querySelectorAll('img, iframe, object, embed').length,
               handlers: [...r.querySelectorAll('*')].filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).length,
               hrefs: [...r.querySelectorAll('a')].map(a => a.getAttribute('href')),
               code: r.querySelector('code').textContent,
               text: r.textContent,
             }",
        )
        .await;
    assert_eq!(inert["pwned"], serde_json::Value::Null, "{inert}");
    assert_eq!(inert["scripts"], 0, "{inert}");
    assert_eq!(inert["images"], 0, "{inert}");
    assert_eq!(inert["handlers"], 0, "{inert}");
    assert_eq!(
        inert["hrefs"],
        serde_json::json!(["https://example.org/market"])
    );
    assert_eq!(inert["code"], "pay");
    // The HTML is there, as text a person can read.
    let text = inert["text"].as_str().unwrap();
    assert!(
        text.contains("<script>") && text.contains("onerror"),
        "{text}"
    );

    // The phone joins, opens the note in reading mode and ticks "milk".
    let phone = Device::launch_phone().await;
    phone.pair_from(&desktop, "phone").await;
    // Pairing took the desktop to its devices page: it goes back to reading.
    desktop.open_note("Groceries").await;
    if desktop
        .eval("return !document.querySelector('#note-rendered')")
        .await
        == true
    {
        desktop.click("#note-mode").await;
    }
    desktop
        .wait_until(
            "the desktop reads the note",
            &format!("{BOXES}.length === 2"),
        )
        .await;
    phone.open_note("Groceries").await;
    phone.click("#note-mode").await;
    phone
        .wait_until(
            "the phone shows two boxes",
            &format!("{BOXES}.length === 2"),
        )
        .await;
    phone
        .eval("document.querySelector('#note-rendered input[type=checkbox]').click(); return true")
        .await;
    phone
        .wait_until(
            "the phone shows milk ticked",
            &format!(
                "const b = ({}).call(); return b[0] === true && b[1] === true",
                wrap(BOXES)
            ),
        )
        .await;
    assert_eq!(
        phone.eval("return window.__pwned === undefined").await,
        true
    );

    // The desktop, still reading, sees it ticked; the text says so too.
    desktop
        .wait_until(
            "the desktop shows milk ticked",
            &format!("const b = ({}).call(); return b[0] === true", wrap(BOXES)),
        )
        .await;
    desktop.click("#note-mode").await;
    let body = desktop
        .eval("return document.querySelector('#note-body').value")
        .await;
    assert!(
        body.as_str().unwrap().contains("- [x] milk\n- [x] bread"),
        "{body}"
    );
    phone.close().await;
    desktop.close().await;
}

/// A function expression around a `return …` script.
fn wrap(script: &str) -> String {
    format!("function () {{ {script} }}")
}
