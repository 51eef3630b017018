//! Behind a reverse proxy: who the client is and whether it came over
//! HTTPS, from `Forwarded` (RFC 7239) or `X-Forwarded-For` and
//! `X-Forwarded-Proto`, believed only when the connection comes from an
//! address of `--trusted-proxy`.
//!
//! The client is the right-most address of the chain that is not a trusted
//! proxy: a proxy appends the address it saw, so whatever a client wrote
//! into the header itself stays on the left and is never believed. Rate
//! limits, stream caps and the request log then count real clients, not
//! the proxy.

use std::net::IpAddr;

use hyper::header::HeaderMap;
use ipnet::IpNet;

/// The networks whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses `--trusted-proxy` values: CIDR blocks (`10.0.0.0/8`,
    /// `fd00::/8`) or single addresses.
    pub fn parse(values: &[String]) -> Result<TrustedProxies, String> {
        let mut nets = Vec::new();
        for value in values {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            let net = match value.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => value.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
                    format!(
                        "--trusted-proxy {value:?} is neither an address nor a CIDR block (like 10.0.0.0/8)"
                    )
                })?,
            };
            nets.push(net);
        }
        Ok(TrustedProxies(nets))
    }

    /// Whether `ip` is a trusted proxy (an IPv4 address mapped into IPv6
    /// counts as itself).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client behind a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    /// The client's address.
    pub ip: IpAddr,
    /// Whether the client reached the proxy over HTTPS, when a trusted
    /// proxy says so.
    pub https: Option<bool>,
}

/// The client of a request that came from `peer` with `headers`.
pub fn client(trusted: &TrustedProxies, peer: IpAddr, headers: &HeaderMap) -> Client {
    if !trusted.contains(peer) {
        return Client {
            ip: peer,
            https: None,
        };
    }
    let (hops, proto) = match forwarded(headers) {
        Some(found) => found,
        None => (x_forwarded_for(headers), x_forwarded_proto(headers)),
    };
    let mut ip = peer;
    // From the right: every trusted proxy passes the word on; the first
    // address that is not one is the client. An unknown hop ends the walk
    // at the last address known.
    for hop in hops.iter().rev() {
        match hop {
            Some(hop) if trusted.contains(*hop) => ip = *hop,
            Some(hop) => {
                ip = *hop;
                break;
            }
            None => break,
        }
    }
    Client {
        ip: canonical(ip),
        https: proto.map(|p| p.eq_ignore_ascii_case("https")),
    }
}

/// The `for=` addresses (left to right; `None` for `unknown` or an
/// obfuscated name) and the right-most `proto=` of the `Forwarded`
/// headers, if any is there.
fn forwarded(headers: &HeaderMap) -> Option<(Vec<Option<IpAddr>>, Option<String>)> {
    let mut values = headers.get_all("forwarded").iter().peekable();
    values.peek()?;
    let mut hops = Vec::new();
    let mut proto = None;
    for value in values {
        let Ok(value) = value.to_str() else {
            hops.push(None);
            continue;
        };
        for element in value.split(',') {
            let mut hop = None;
            for pair in element.split(';') {
                let Some((key, val)) = pair.split_once('=') else {
                    continue;
                };
                let val = val.trim().trim_matches('"');
                match key.trim().to_ascii_lowercase().as_str() {
                    "for" => hop = Some(node_address(val)),
                    "proto" => proto = Some(val.to_owned()),
                    _ => {}
                }
            }
            hops.push(hop.flatten());
        }
    }
    Some((hops, proto))
}

/// The address of a `Forwarded` node: `192.0.2.1`, `192.0.2.1:80`,
/// `[2001:db8::1]`, `[2001:db8::1]:80`; `None` for anything else.
fn node_address(node: &str) -> Option<IpAddr> {
    if let Some(rest) = node.strip_prefix('[') {
        let (addr, _) = rest.split_once(']')?;
        return addr.parse().ok();
    }
    let host = match node.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => node,
    };
    host.parse().ok()
}

/// The addresses of `X-Forwarded-For`, left to right.
fn x_forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| {
            v.to_str()
                .map(|s| s.split(',').map(|a| node_address(a.trim())).collect())
                .unwrap_or_else(|_| vec![None])
        })
        .collect()
}

/// The last value of `X-Forwarded-Proto`.
fn x_forwarded_proto(headers: &HeaderMap) -> Option<String> {
    let last = headers.get_all("x-forwarded-proto").iter().next_back()?;
    let text = last.to_str().ok()?;
    text.rsplit(',').next().map(|p| p.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn trusted() -> TrustedProxies {
        TrustedProxies::parse(&["127.0.0.1".into(), "10.0.0.0/8".into()]).unwrap()
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-proto", "https"),
        ]);
        let c = client(&trusted(), ip("198.51.100.7"), &h);
        assert_eq!(
            c,
            Client {
                ip: ip("198.51.100.7"),
                https: None
            }
        );
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client_and_what_it_wrote_is_not_believed() {
        // The client wrote "1.2.3.4" itself; the proxy appended what it saw.
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4, 203.0.113.9, 10.1.2.3"),
            ("x-forwarded-proto", "https"),
        ]);
        let c = client(&trusted(), ip("127.0.0.1"), &h);
        assert_eq!(
            c,
            Client {
                ip: ip("203.0.113.9"),
                https: Some(true)
            }
        );
    }

    #[test]
    fn forwarded_is_read_with_ports_quotes_and_ipv6() {
        let h = headers(&[
            (
                "forwarded",
                "for=1.2.3.4, for=\"[2001:db8:cafe::17]:4711\";proto=https",
            ),
            ("x-forwarded-for", "9.9.9.9"),
        ]);
        let c = client(&trusted(), ip("::ffff:127.0.0.1"), &h);
        assert_eq!(
            c,
            Client {
                ip: ip("2001:db8:cafe::17"),
                https: Some(true)
            }
        );
        let h = headers(&[("forwarded", "for=192.0.2.60:8080;proto=http")]);
        assert_eq!(client(&trusted(), ip("10.0.0.1"), &h).ip, ip("192.0.2.60"));
        assert_eq!(client(&trusted(), ip("10.0.0.1"), &h).https, Some(false));
    }

    #[test]
    fn an_unknown_hop_ends_the_walk_and_no_header_leaves_the_peer() {
        let h = headers(&[("forwarded", "for=203.0.113.9, for=unknown")]);
        assert_eq!(client(&trusted(), ip("127.0.0.1"), &h).ip, ip("127.0.0.1"));
        assert_eq!(
            client(&trusted(), ip("127.0.0.1"), &HeaderMap::new()).ip,
            ip("127.0.0.1")
        );
        let h = headers(&[("x-forwarded-for", "garbage, 10.0.0.5")]);
        assert_eq!(
            client(&trusted(), ip("127.0.0.1"), &h).ip,
            ip("10.0.0.5"),
            "all trusted: the left-most known"
        );
    }

    #[test]
    fn bad_trusted_proxy_values_are_refused_in_words() {
        let err = TrustedProxies::parse(&["10.0.0.0/33".into()]).unwrap_err();
        assert!(err.contains("--trusted-proxy"), "{err}");
        assert!(
            TrustedProxies::parse(&["fd00::/8".into(), " ".into()])
                .unwrap()
                .contains(ip("fd12::1"))
        );
    }
}
