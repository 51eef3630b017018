//! The binary framing of `GET /v1/workspaces/{ws}/entries` responses.
//!
//! The body is a sequence of frames, in ascending sequence order, and nothing
//! else. Each frame is:
//!
//! ```text
//! kind: u8        1 = snapshot (covers every entry up to and including seq)
//!                 2 = entry
//! seq:  u64 BE    the sequence number (for a snapshot: its `upto`)
//! len:  u32 BE    length of the payload
//! payload: len bytes, opaque to the server (an envelope, see `envelope`)
//! ```
//!
//! A snapshot frame, if any, comes first. The workspace head is sent in the
//! `Hearth-Head` header, so an empty body still tells the client where the
//! log ends.

/// Bytes of a frame header.
pub const FRAME_HEADER_LEN: usize = 1 + 8 + 4;

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    Snapshot,
    Entry,
}

impl FrameKind {
    fn to_byte(self) -> u8 {
        match self {
            FrameKind::Snapshot => 1,
            FrameKind::Entry => 2,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(FrameKind::Snapshot),
            2 => Some(FrameKind::Entry),
            _ => None,
        }
    }
}

/// One decoded frame, borrowing its payload from the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub kind: FrameKind,
    pub seq: u64,
    pub payload: &'a [u8],
}

/// Why a body is not a valid frame sequence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("the response ends inside a frame header at byte {0}")]
    TruncatedHeader(usize),
    #[error("frame at byte {offset} says {len} bytes but only {available} remain")]
    TruncatedPayload {
        offset: usize,
        len: u32,
        available: usize,
    },
    #[error("unknown frame kind {kind} at byte {offset}")]
    UnknownKind { offset: usize, kind: u8 },
    #[error("frame sequence numbers go backwards at byte {0}")]
    OutOfOrder(usize),
}

/// Writes the header of a frame; the payload follows it.
pub fn encode_header(kind: FrameKind, seq: u64, len: u32) -> [u8; FRAME_HEADER_LEN] {
    let mut h = [0u8; FRAME_HEADER_LEN];
    h[0] = kind.to_byte();
    h[1..9].copy_from_slice(&seq.to_be_bytes());
    h[9..13].copy_from_slice(&len.to_be_bytes());
    h
}

/// Appends one whole frame to `out`.
///
/// Panics never; payloads longer than `u32::MAX` are a caller bug and are
/// rejected by the server's body limit long before.
pub fn encode_frame(out: &mut Vec<u8>, kind: FrameKind, seq: u64, payload: &[u8]) {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&encode_header(kind, seq, len));
    out.extend_from_slice(&payload[..len as usize]);
}

/// Decodes a whole body into frames, checking order.
pub fn decode_frames(body: &[u8]) -> Result<Vec<Frame<'_>>, FrameError> {
    let mut frames = Vec::new();
    let mut offset = 0usize;
    let mut last_seq: Option<u64> = None;
    while offset < body.len() {
        let rest = &body[offset..];
        if rest.len() < FRAME_HEADER_LEN {
            return Err(FrameError::TruncatedHeader(offset));
        }
        let kind = FrameKind::from_byte(rest[0]).ok_or(FrameError::UnknownKind {
            offset,
            kind: rest[0],
        })?;
        let mut seq_bytes = [0u8; 8];
        seq_bytes.copy_from_slice(&rest[1..9]);
        let seq = u64::from_be_bytes(seq_bytes);
        let mut len_bytes = [0u8; 4];
        len_bytes.copy_from_slice(&rest[9..13]);
        let len = u32::from_be_bytes(len_bytes);
        let available = rest.len() - FRAME_HEADER_LEN;
        if len as usize > available {
            return Err(FrameError::TruncatedPayload {
                offset,
                len,
                available,
            });
        }
        // A snapshot covers up to `seq`; the entries after it have larger seqs.
        if let Some(prev) = last_seq
            && seq <= prev
        {
            return Err(FrameError::OutOfOrder(offset));
        }
        last_seq = Some(seq);
        let payload = &rest[FRAME_HEADER_LEN..FRAME_HEADER_LEN + len as usize];
        frames.push(Frame { kind, seq, payload });
        offset += FRAME_HEADER_LEN + len as usize;
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut body = Vec::new();
        encode_frame(&mut body, FrameKind::Snapshot, 10, b"snap");
        encode_frame(&mut body, FrameKind::Entry, 11, b"");
        encode_frame(&mut body, FrameKind::Entry, 12, &[7u8; 300]);
        let frames = decode_frames(&body).unwrap();
        assert_eq!(frames.len(), 3);
        assert_eq!(
            frames[0],
            Frame {
                kind: FrameKind::Snapshot,
                seq: 10,
                payload: b"snap"
            }
        );
        assert_eq!(frames[1].payload, b"");
        assert_eq!(frames[2].seq, 12);
        assert_eq!(frames[2].payload.len(), 300);
        assert_eq!(decode_frames(&[]).unwrap(), vec![]);
    }

    #[test]
    fn broken_bodies_are_errors_not_panics() {
        let mut body = Vec::new();
        encode_frame(&mut body, FrameKind::Entry, 5, b"hello");
        for cut in 1..body.len() {
            assert!(decode_frames(&body[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad_kind = body.clone();
        bad_kind[0] = 9;
        assert_eq!(
            decode_frames(&bad_kind),
            Err(FrameError::UnknownKind { offset: 0, kind: 9 })
        );
        let mut twice = body.clone();
        twice.extend_from_slice(&body);
        assert_eq!(
            decode_frames(&twice),
            Err(FrameError::OutOfOrder(body.len()))
        );
    }
}
