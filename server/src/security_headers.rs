//! The headers that keep the PWA's pages from being framed, leaking their
//! address, or running scripts that the build did not make: a
//! Content-Security-Policy whose only inline script is the one in
//! `index.html`, allowed by its SHA-256 hash (computed from the file as
//! served, so a rebuilt `--dist` stays right), `frame-ancestors 'none'`,
//! `Referrer-Policy: no-referrer`, and HSTS when serving HTTPS.

use base64::Engine as _;
use hyper::header::{
    HeaderMap, HeaderValue, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY, X_FRAME_OPTIONS,
};
use sha2::{Digest as _, Sha256};

/// The policy's fixed part. `'wasm-unsafe-eval'` lets the page and the
/// workers compile the app's WebAssembly; workers start from `blob:` URLs
/// (gloo-worker).
const BASE: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data: blob:; worker-src 'self' blob:; manifest-src 'self'; \
object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The Content-Security-Policy for a file; `html` is its body when it is a
/// page (its inline scripts are allowed by hash). The page may connect to
/// its own origin and to `connect` only (`--sync-origins`), so that a
/// script let in by a bug cannot send the workspace's keys anywhere else.
pub fn csp(html: Option<&[u8]>, connect: &[String]) -> String {
    let mut script = String::from("script-src 'self' 'wasm-unsafe-eval'");
    if let Some(page) = html {
        for inline in inline_scripts(page) {
            let digest = Sha256::digest(inline);
            script.push_str(" 'sha256-");
            script.push_str(&base64::engine::general_purpose::STANDARD.encode(digest));
            script.push('\'');
        }
    }
    let mut connect_src = String::from("connect-src 'self'");
    for origin in connect {
        connect_src.push(' ');
        connect_src.push_str(origin);
    }
    // Pages: Trusted Types, with the one policy the page makes (`default`,
    // in `index.html`: empty HTML, the QR code's SVG, this origin's
    // scripts). Workers' scripts get none: they have no DOM.
    let trusted = match html {
        Some(_) => "; require-trusted-types-for 'script'; trusted-types default",
        None => "",
    };
    format!("{BASE}; {connect_src}; {script}{trusted}")
}

/// The contents of every `<script>` element without a `src` attribute.
fn inline_scripts(page: &[u8]) -> Vec<&[u8]> {
    let mut found = Vec::new();
    let mut rest = page;
    while let Some(open) = find(rest, b"<script") {
        let Some(tag_end) = find(&rest[open..], b">").map(|i| open + i) else {
            break;
        };
        let tag = &rest[open..tag_end];
        let body_start = tag_end + 1;
        let Some(close) = find(&rest[body_start..], b"</script>").map(|i| body_start + i) else {
            break;
        };
        if find(tag, b"src=").is_none() {
            found.push(&rest[body_start..close]);
        }
        rest = &rest[close..];
    }
    found
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Adds the page headers to a response of the PWA.
pub fn add_page_headers(headers: &mut HeaderMap, html: Option<&[u8]>, connect: &[String]) {
    if let Ok(policy) = HeaderValue::from_str(&csp(html, connect)) {
        headers.insert(hyper::header::CONTENT_SECURITY_POLICY, policy);
    }
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
}

/// Adds HSTS (served over HTTPS only).
pub fn add_hsts(headers: &mut HeaderMap) {
    headers.insert(
        STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_scripts_are_allowed_by_hash_and_nothing_else() {
        let page = b"<html><script type=\"module\" src=\"/a.js\"></script>\
<script type=\"module\">init();</script></html>";
        let policy = csp(Some(page), &[]);
        let want = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"init();"));
        assert!(policy.contains(&format!("'sha256-{want}'")), "{policy}");
        assert_eq!(policy.matches("'sha256-").count(), 1);
        assert!(policy.contains("frame-ancestors 'none'"));
        assert!(
            !policy.contains("'unsafe-inline'; script")
                && !policy.contains("script-src 'self' 'unsafe-inline'")
        );
        assert!(!csp(None, &[]).contains("sha256"));
    }

    /// A script let in by a bug can reach this origin and the sync servers
    /// named, and nothing else.
    #[test]
    fn the_page_connects_to_its_own_origin_and_the_named_servers_only() {
        let policy = csp(None, &[]);
        assert!(policy.contains("connect-src 'self';"), "{policy}");
        assert!(!policy.contains('*'), "{policy}");
        let page = csp(Some(b"<html></html>"), &[]);
        assert!(
            page.ends_with("; require-trusted-types-for 'script'; trusted-types default"),
            "{page}"
        );
        let other = csp(None, &["https://sync.example.org".to_owned()]);
        assert!(
            other.contains("connect-src 'self' https://sync.example.org;"),
            "{other}"
        );
    }
}
