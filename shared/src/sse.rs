//! An incremental parser of `text/event-stream` bodies: feed it bytes as
//! they arrive, get whole events out. Both clients (the browser's streaming
//! `fetch` and the native device) read `GET …/events` with it.

use crate::api::HeadEvent;

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field (`"message"` if absent).
    pub event: String,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

impl SseEvent {
    /// The head a `head` event announces (`None` for any other event).
    pub fn head(&self) -> Option<u64> {
        if self.event != "head" {
            return None;
        }
        serde_json::from_str::<HeadEvent>(&self.data)
            .ok()
            .map(|e| e.head)
    }
}

/// Parser state: the bytes of an unfinished line and the fields of the
/// event being read.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    event: Option<String>,
    data: Option<String>,
}

/// Longest line accepted; a longer one is dropped (the server's events are
/// a few dozen bytes).
const MAX_LINE: usize = 64 * 1024;

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; returns the events they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for &b in bytes {
            if b == b'\n' {
                let mut line = std::mem::take(&mut self.line);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if let Some(event) = self.line_done(&String::from_utf8_lossy(&line)) {
                    events.push(event);
                }
            } else if self.line.len() < MAX_LINE {
                self.line.push(b);
            }
        }
        events
    }

    fn line_done(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            let data = self.data.take();
            let event = self.event.take();
            return data.map(|data| SseEvent {
                event: event.unwrap_or_else(|| "message".into()),
                data,
            });
        }
        if line.starts_with(':') {
            return None; // a comment (keep-alive)
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_parsed_across_chunks() {
        let stream = b": keep-alive\n\nevent: head\ndata: {\"head\":3}\n\nevent: head\r\ndata: {\"head\":4}\r\n\r\ndata: a\ndata: b\n\n";
        for split in 0..stream.len() {
            let mut p = SseParser::new();
            let mut events = p.push(&stream[..split]);
            events.extend(p.push(&stream[split..]));
            assert_eq!(
                events,
                vec![
                    SseEvent {
                        event: "head".into(),
                        data: "{\"head\":3}".into()
                    },
                    SseEvent {
                        event: "head".into(),
                        data: "{\"head\":4}".into()
                    },
                    SseEvent {
                        event: "message".into(),
                        data: "a\nb".into()
                    },
                ],
                "split at {split}"
            );
            assert_eq!(events[0].head(), Some(3));
            assert_eq!(events[2].head(), None);
        }
    }
}
