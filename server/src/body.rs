//! Response bodies: the one body type of every response ([`ResBody`]),
//! whole bytes ([`full`]) and a stream fed by a channel ([`ChannelBody`]:
//! event streams, streamed pulls). A module of its own so that the error
//! type and the HTTP helpers both use it without importing each other.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use http_body_util::Full;
use http_body_util::combinators::BoxBody;

/// The body of every response: whole bytes or a stream (events).
pub type ResBody = BoxBody<Bytes, Infallible>;

/// A response body fed by a channel; it ends when the sender is dropped.
pub struct ChannelBody {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
}

impl ChannelBody {
    pub fn new(rx: tokio::sync::mpsc::Receiver<Bytes>) -> Self {
        ChannelBody { rx }
    }
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        self.rx
            .poll_recv(cx)
            .map(|chunk| chunk.map(|bytes| Ok(hyper::body::Frame::data(bytes))))
    }
}

/// A body of whole bytes.
pub fn full(bytes: impl Into<Bytes>) -> ResBody {
    Full::new(bytes.into()).boxed()
}
