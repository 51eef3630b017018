//! A parser for the head announcements on the live events stream
//! (`event: head` / `data: {"head": N}`), fed with arbitrary chunks.

use hearth_shared::api::HeadEvent;

/// Collects bytes and yields the heads of complete events.
#[derive(Default)]
pub struct HeadParser {
    buffer: Vec<u8>,
}

impl HeadParser {
    /// Adds a chunk; returns the heads of the events it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<u64> {
        self.buffer.extend_from_slice(chunk);
        let mut heads = Vec::new();
        while let Some(end) = find_event_end(&self.buffer) {
            let event: Vec<u8> = self.buffer.drain(..end.0 + end.1).collect();
            let text = String::from_utf8_lossy(&event[..end.0]);
            let mut data = String::new();
            for line in text.lines() {
                if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim_start());
                }
            }
            if let Ok(event) = serde_json::from_str::<HeadEvent>(&data) {
                heads.push(event.head);
            }
        }
        heads
    }
}

/// The end of the first complete event: (its length, separator length).
fn find_event_end(buffer: &[u8]) -> Option<(usize, usize)> {
    let lf = buffer.windows(2).position(|w| w == b"\n\n").map(|p| (p, 2));
    let crlf = buffer.windows(4).position(|w| w == b"\r\n\r\n").map(|p| (p, 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_come_out_of_any_chunking() {
        let stream = b": keep-alive\n\nevent: head\ndata: {\"head\":3}\n\nevent: head\r\ndata: {\"head\":7}\r\n\r\n";
        for split in 0..stream.len() {
            let mut parser = HeadParser::default();
            let mut heads = parser.feed(&stream[..split]);
            heads.extend(parser.feed(&stream[split..]));
            assert_eq!(heads, vec![3, 7], "split at {split}");
        }
    }
}
