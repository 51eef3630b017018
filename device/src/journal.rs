//! The device store's journal: what happened since the last checkpoint,
//! one record per store call, appended and made durable with one
//! `fdatasync`.
//!
//! ```text
//! header   8 bytes   "HEARTHJ1"
//! record   len: u32 LE      length of the payload (at least 1)
//!          crc: u32 LE      CRC-32 of the payload
//!          payload:
//!            kind: u8       1 = updates appended, 2 = the pending batch set
//!            json_len: u32 LE, json: the stored meta (UTF-8 JSON)
//!            count: u32 LE, then count × (len: u32 LE, bytes)
//! ```
//!
//! A record is written whole at the journal's end before the call returns,
//! so only the last one can be torn by a crash: a record that runs past
//! the end of the file, or whose checksum fails with nothing but zeros
//! after it, or that is the last, ends the journal (the file is cut back
//! to it). A failed checksum with records after it is damage, reported.

use std::ops::Range;

/// The first bytes of every journal.
pub const MAGIC: &[u8; 8] = b"HEARTHJ1";
/// Updates appended (their blobs are the updates, each in an envelope).
pub const APPEND: u8 = 1;
/// The pending batch set or cleared (one blob: its envelope; none: kept
/// as it was if the meta still names a batch, else cleared).
pub const OUTBOX: u8 = 2;

/// The frame of one record: kind, meta JSON and blobs. Returns the bytes
/// and where each blob lies in them.
pub fn encode(kind: u8, json: &[u8], blobs: &[&[u8]]) -> (Vec<u8>, Vec<Range<usize>>) {
    let mut payload =
        Vec::with_capacity(13 + json.len() + blobs.iter().map(|b| b.len() + 4).sum::<usize>());
    payload.push(kind);
    payload.extend_from_slice(&(json.len() as u32).to_le_bytes());
    payload.extend_from_slice(json);
    payload.extend_from_slice(&(blobs.len() as u32).to_le_bytes());
    let mut ranges = Vec::with_capacity(blobs.len());
    for blob in blobs {
        payload.extend_from_slice(&(blob.len() as u32).to_le_bytes());
        let start = 8 + payload.len();
        payload.extend_from_slice(blob);
        ranges.push(start..start + blob.len());
    }
    let mut frame = Vec::with_capacity(8 + payload.len());
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    frame.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    frame.extend_from_slice(&payload);
    (frame, ranges)
}

/// One record read back: positions are in the whole journal's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: u8,
    pub json: Range<usize>,
    pub blobs: Vec<Range<usize>>,
}

/// What a journal holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    pub records: Vec<Record>,
    /// Where the good records end: the file is cut back to here if longer.
    pub end: usize,
}

/// Reads a journal's bytes. `Err` is damage, in words.
pub fn read(bytes: &[u8]) -> Result<Replayed, String> {
    if bytes.get(..MAGIC.len()) != Some(&MAGIC[..]) {
        return Err("the journal does not start with its header".into());
    }
    let mut records = Vec::new();
    let mut at = MAGIC.len();
    while at < bytes.len() {
        match record_at(bytes, at) {
            Ok((record, next)) => {
                records.push(record);
                at = next;
            }
            Err(reason) => {
                if torn(bytes, at) {
                    break;
                }
                return Err(format!(
                    "the journal's record at byte {at} is damaged ({reason})"
                ));
            }
        }
    }
    Ok(Replayed { records, end: at })
}

/// Whether a bad record at `at` is the tail a crash tore: it runs past the
/// end, it is the last, or only zeros follow it.
fn torn(bytes: &[u8], at: usize) -> bool {
    let Some(len) = u32_at(bytes, at) else {
        return true;
    };
    let next = at.saturating_add(8).saturating_add(len as usize);
    next >= bytes.len()
        || bytes
            .get(at..)
            .is_some_and(|rest| rest.iter().all(|b| *b == 0))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let four: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(four))
}

/// The record at `at` and where the next one starts.
fn record_at(bytes: &[u8], at: usize) -> Result<(Record, usize), &'static str> {
    let len = u32_at(bytes, at).ok_or("cut short")? as usize;
    let crc = u32_at(bytes, at + 4).ok_or("cut short")?;
    let start = at + 8;
    let end = start.checked_add(len).ok_or("too long")?;
    let payload = bytes.get(start..end).ok_or("cut short")?;
    if len == 0 {
        return Err("empty");
    }
    if crc32fast::hash(payload) != crc {
        return Err("checksum");
    }
    let kind = payload.first().copied().ok_or("empty")?;
    let mut pos = start + 1;
    let mut take = |n: usize| -> Result<Range<usize>, &'static str> {
        let range = pos..pos.checked_add(n).ok_or("too long")?;
        if range.end > end {
            return Err("a field runs past the record");
        }
        pos = range.end;
        Ok(range)
    };
    let json_len = u32_at(bytes, take(4)?.start).ok_or("cut short")? as usize;
    let json = take(json_len)?;
    let count = u32_at(bytes, take(4)?.start).ok_or("cut short")?;
    let mut blobs = Vec::new();
    for _ in 0..count {
        let blob_len = u32_at(bytes, take(4)?.start).ok_or("cut short")? as usize;
        blobs.push(take(blob_len)?);
    }
    if pos != end {
        return Err("bytes after the last field");
    }
    Ok((Record { kind, json, blobs }, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    type Spec<'a> = (u8, &'a [u8], &'a [&'a [u8]]);

    fn journal(records: &[Spec]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        for (kind, json, blobs) in records {
            out.extend(encode(*kind, json, blobs).0);
        }
        out
    }

    #[test]
    fn records_read_back_with_their_blobs() {
        let bytes = journal(&[
            (APPEND, b"{}", &[b"one", b"two"]),
            (OUTBOX, b"{\"a\":1}", &[]),
        ]);
        let replayed = read(&bytes).unwrap();
        assert_eq!(replayed.end, bytes.len());
        let [first, second] = &replayed.records[..] else {
            panic!("two records")
        };
        assert_eq!(first.kind, APPEND);
        assert_eq!(&bytes[first.json.clone()], b"{}");
        let blobs: Vec<&[u8]> = first.blobs.iter().map(|r| &bytes[r.clone()]).collect();
        assert_eq!(blobs, [&b"one"[..], &b"two"[..]]);
        assert_eq!(second.kind, OUTBOX);
        assert_eq!(&bytes[second.json.clone()], b"{\"a\":1}");
        assert!(second.blobs.is_empty());
    }

    #[test]
    fn where_encode_says_a_blob_is_it_is() {
        let (frame, ranges) = encode(APPEND, b"{}", &[b"abc", b"", b"de"]);
        let blobs: Vec<&[u8]> = ranges.iter().map(|r| &frame[r.clone()]).collect();
        assert_eq!(blobs, [&b"abc"[..], &b""[..], &b"de"[..]]);
    }

    #[test]
    fn a_torn_tail_ends_the_journal_at_every_cut() {
        let good = journal(&[(APPEND, b"{}", &[b"one"])]);
        let whole = journal(&[(APPEND, b"{}", &[b"one"]), (APPEND, b"{}", &[b"two"])]);
        for cut in good.len()..whole.len() {
            let replayed = read(&whole[..cut]).unwrap();
            assert_eq!(
                (replayed.records.len(), replayed.end),
                (1, good.len()),
                "cut at {cut}"
            );
        }
        // The size grew but the bytes never reached the disk.
        let mut zeros = good.clone();
        zeros.extend([0u8; 40]);
        assert_eq!(read(&zeros).unwrap().end, good.len());
        // The last record's bytes half written.
        let mut half = whole.clone();
        let last = half.len() - 1;
        half[last] ^= 0xff;
        assert_eq!(read(&half).unwrap().end, good.len());
    }

    #[test]
    fn damage_before_the_last_record_is_reported() {
        let mut bytes = journal(&[(APPEND, b"{}", &[b"one"]), (APPEND, b"{}", &[b"two"])]);
        bytes[MAGIC.len() + 12] ^= 1;
        assert!(read(&bytes).unwrap_err().contains("damaged"));
        assert!(read(b"NOTAJOUR").is_err());
        assert!(read(b"").is_err());
    }

    #[test]
    fn lengths_that_lie_are_damage_not_a_panic() {
        // A record whose fields claim more than it holds, with a good
        // checksum, followed by another record.
        let payload = [APPEND, 0xff, 0xff, 0xff, 0x7f];
        let mut bytes = MAGIC.to_vec();
        bytes.extend((payload.len() as u32).to_le_bytes());
        bytes.extend(crc32fast::hash(&payload).to_le_bytes());
        bytes.extend(payload);
        bytes.extend(encode(APPEND, b"{}", &[]).0);
        assert!(read(&bytes).is_err());
    }
}
