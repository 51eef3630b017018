//! A loopback HTTP proxy between the browser that runs the wasm tests and
//! the test runner's server: each request reaches the runner on a
//! connection of its own, marked `Connection: close`.
//!
//! Why it exists: `wasm-bindgen-test-runner` serves its page with
//! tiny_http, whose thread pool counts a thread as idle until that thread
//! has woken up and taken its task. Two connections accepted before a
//! woken thread runs share one wake-up, and the second is queued behind
//! threads that each keep a browser's keep-alive connection for good. On a
//! busy machine Chromium opens its fifth connection in that window; the
//! page's module request then waits forever and the page never loads (the
//! runner's page-load wait is five minutes). Through this proxy no runner
//! connection outlives its one response, so every queued connection is
//! served as soon as the one before it ends.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};

/// How long a browser's connection may stay silent (an unused preconnect)
/// before its thread lets it go.
const IDLE: Duration = Duration::from_secs(60);

/// Starts the proxy on 127.0.0.1 and returns its address. It serves until
/// the process ends.
pub fn start() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding the test proxy")?;
    let addr = listener.local_addr()?;
    thread::spawn(move || {
        for client in listener.incoming().flatten() {
            // An error here is the browser giving up on a request or the
            // runner closing: the test run itself reports what matters.
            thread::spawn(move || relay(client));
        }
    });
    Ok(addr)
}

/// Relays one request from the browser to the runner and the whole answer
/// back, then closes both connections.
fn relay(client: TcpStream) -> io::Result<()> {
    client.set_read_timeout(Some(IDLE))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(());
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return refuse(client, "a request line with a method, a URL and a version");
    };
    // A proxy is asked for absolute URLs: `http://127.0.0.1:PORT/path`.
    let Some(rest) = target.strip_prefix("http://") else {
        return refuse(client, "an http:// URL");
    };
    let (host, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, "/"),
    };
    let mut head = format!("{method} {path} {version}\r\n");
    let mut body_len = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 {
            return Ok(());
        }
        if header == "\r\n" || header == "\n" {
            break;
        }
        let name = header.split(':').next().unwrap_or("").trim();
        if ["connection", "proxy-connection", "keep-alive"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n))
        {
            continue;
        }
        if name.eq_ignore_ascii_case("content-length") {
            body_len = header
                .split_once(':')
                .and_then(|(_, v)| v.trim().parse().ok())
                .unwrap_or(0);
        }
        head.push_str(&header);
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut body = vec![0; body_len];
    reader.read_exact(&mut body)?;

    let mut upstream = TcpStream::connect(host)?;
    upstream.write_all(head.as_bytes())?;
    upstream.write_all(&body)?;
    let mut client = client;
    io::copy(&mut upstream, &mut client)?;
    client.flush()
}

fn refuse(mut client: TcpStream, wanted: &str) -> io::Result<()> {
    let message = format!("this proxy takes {wanted}\n");
    write!(
        client,
        "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{message}",
        message.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that, like the runner's, answers one request per connection
    /// and says what it was asked.
    fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            for mut conn in listener.incoming().flatten() {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut asked = String::new();
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if line == "\r\n" {
                        break;
                    }
                    asked.push_str(&line);
                }
                let body = asked.replace("\r\n", "|");
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        addr
    }

    fn ask(proxy: SocketAddr, request: &str) -> String {
        let mut conn = TcpStream::connect(proxy).unwrap();
        conn.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).unwrap();
        answer
    }

    #[test]
    fn each_request_reaches_the_server_on_its_own_closed_connection() {
        let server = echo_server();
        let proxy = start().unwrap();
        for path in ["/", "/run.js", "/snippets/a/b.js"] {
            let answer = ask(
                proxy,
                &format!(
                    "GET http://{server}{path} HTTP/1.1\r\nHost: {server}\r\n\
                     Proxy-Connection: keep-alive\r\nConnection: keep-alive\r\n\r\n"
                ),
            );
            assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
            assert!(
                answer.contains(&format!("GET {path} HTTP/1.1|")),
                "{answer}"
            );
            assert!(answer.contains("|Connection: close|"), "{answer}");
            assert!(!answer.contains("keep-alive"), "{answer}");
        }
    }

    #[test]
    fn what_is_not_a_proxy_request_is_refused_in_words() {
        let proxy = start().unwrap();
        let answer = ask(proxy, "GET /run.js HTTP/1.1\r\n\r\n");
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert!(answer.contains("an http:// URL"), "{answer}");
    }
}
