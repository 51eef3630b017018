//! Share links: how a master device hands a workspace to a new device.
//!
//! A link is `{server}/#pair?server={server}&workspace={ws}&invite={invite}`,
//! and, for an encrypted workspace, `&secret={secret}`: the one-time
//! pairing secret (32 bytes, base64url without padding) that unwraps the
//! workspace key the invite carries (see `keywrap`). Everything after `#`
//! is the URL fragment, which browsers never send to a server: the server
//! origin, the workspace id, the single-use invite and the secret travel
//! only inside the link (a QR code, a message to oneself). The part before
//! `#` opens the app on that server.

use crate::id::WorkspaceId;

/// What a share link carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareLink {
    /// The server origin, e.g. `http://192.168.1.5:8080` (no trailing `/`).
    pub server: String,
    pub workspace: WorkspaceId,
    /// The invite secret to redeem at `POST /v1/invites/redeem`.
    pub invite: String,
    /// The pairing secret that unwraps the invite's wrapped key, if the
    /// workspace is encrypted. The server never sees it.
    pub secret: Option<[u8; 32]>,
}

/// Why a string is not a share link.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShareLinkError {
    #[error("the link has no `#pair?...` part")]
    NoFragment,
    #[error("the link lacks `{0}`")]
    Missing(&'static str),
    #[error("the link's workspace id is invalid")]
    BadWorkspace,
    #[error("the link's server is not an http(s) origin")]
    BadServer,
    #[error("the link has a bad %-escape")]
    BadEscape,
    #[error("the link's pairing secret is damaged (it must be 32 bytes, base64url)")]
    BadSecret,
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode(s: &str) -> Result<String, ShareLinkError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(ShareLinkError::BadEscape)?;
            let hex = std::str::from_utf8(hex).map_err(|_| ShareLinkError::BadEscape)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| ShareLinkError::BadEscape)?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ShareLinkError::BadEscape)
}

impl ShareLink {
    /// The link as a URL.
    pub fn to_url(&self) -> String {
        use base64::Engine as _;
        let server = self.server.trim_end_matches('/');
        let secret = self.secret.map_or_else(String::new, |s| {
            format!(
                "&secret={}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
            )
        });
        format!(
            "{server}/#pair?server={}&workspace={}&invite={}{secret}",
            encode(server),
            self.workspace,
            encode(&self.invite)
        )
    }

    /// Parses a link made by [`ShareLink::to_url`].
    pub fn parse(url: &str) -> Result<Self, ShareLinkError> {
        let (_, fragment) = url.split_once('#').ok_or(ShareLinkError::NoFragment)?;
        let query = fragment
            .strip_prefix("pair?")
            .ok_or(ShareLinkError::NoFragment)?;
        let (mut server, mut workspace, mut invite, mut secret) = (None, None, None, None);
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = decode(value)?;
            match key {
                "server" => server = Some(value),
                "workspace" => workspace = Some(value),
                "invite" => invite = Some(value),
                "secret" => secret = Some(value),
                _ => {}
            }
        }
        let server = server.ok_or(ShareLinkError::Missing("server"))?;
        if !(server.starts_with("http://") || server.starts_with("https://")) {
            return Err(ShareLinkError::BadServer);
        }
        let workspace = workspace.ok_or(ShareLinkError::Missing("workspace"))?;
        let workspace = WorkspaceId::parse(&workspace).map_err(|_| ShareLinkError::BadWorkspace)?;
        let invite = invite
            .filter(|i| !i.is_empty())
            .ok_or(ShareLinkError::Missing("invite"))?;
        let secret = match secret {
            None => None,
            Some(text) => {
                use base64::Engine as _;
                let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(text.trim())
                    .map_err(|_| ShareLinkError::BadSecret)?;
                Some(<[u8; 32]>::try_from(bytes).map_err(|_| ShareLinkError::BadSecret)?)
            }
        };
        Ok(Self {
            server: server.trim_end_matches('/').to_owned(),
            workspace,
            invite,
            secret,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_round_trip() {
        let link = ShareLink {
            server: "http://127.0.0.1:8080".into(),
            workspace: WorkspaceId::from_random([7; 16]),
            invite: "abc.DEF_123-x+y/z=".into(),
            secret: None,
        };
        let url = link.to_url();
        assert!(url.starts_with("http://127.0.0.1:8080/#pair?"), "{url}");
        assert!(!url.contains("secret="), "{url}");
        assert_eq!(ShareLink::parse(&url), Ok(link.clone()));
        let encrypted = ShareLink {
            secret: Some(std::array::from_fn(|i| i as u8 * 7)),
            ..link
        };
        let url = encrypted.to_url();
        let fragment = url.split_once('#').unwrap().1;
        assert!(
            fragment.contains("&secret="),
            "the secret is in the fragment: {url}"
        );
        assert_eq!(ShareLink::parse(&url), Ok(encrypted));
    }

    #[test]
    fn a_damaged_pairing_secret_is_an_error() {
        let base = format!(
            "http://h/#pair?server=http%3A%2F%2Fh&workspace={}&invite=i",
            WorkspaceId::from_random([1; 16])
        );
        for bad in ["&secret=short", "&secret=not*base64", "&secret="] {
            assert_eq!(
                ShareLink::parse(&format!("{base}{bad}")),
                Err(ShareLinkError::BadSecret),
                "{bad}"
            );
        }
    }

    #[test]
    fn bad_links_are_errors() {
        let ws = "0123456789abcdef0123456789abcdef";
        let cases: &[(&str, ShareLinkError)] = &[
            ("http://h/", ShareLinkError::NoFragment),
            ("http://h/#other", ShareLinkError::NoFragment),
            (
                "http://h/#pair?workspace=x&invite=i",
                ShareLinkError::Missing("server"),
            ),
            (
                "http://h/#pair?server=ftp%3A%2F%2Fh&workspace=x&invite=i",
                ShareLinkError::BadServer,
            ),
            (
                "http://h/#pair?server=http%3A%2F%2Fh&workspace=x&invite=i",
                ShareLinkError::BadWorkspace,
            ),
            (
                "http://h/#pair?server=http%3A%2F%2Fh&workspace=%zz",
                ShareLinkError::BadEscape,
            ),
        ];
        for (url, want) in cases {
            assert_eq!(ShareLink::parse(url).as_ref(), Err(want), "{url}");
        }
        let no_invite = format!("http://h/#pair?server=http%3A%2F%2Fh&workspace={ws}&invite=");
        assert_eq!(
            ShareLink::parse(&no_invite),
            Err(ShareLinkError::Missing("invite"))
        );
    }
}
