//! The on-disk record format of a workspace log, and its recovery scan.
//!
//! A log file is the magic [`LOG_MAGIC`] followed by records:
//!
//! ```text
//! len:  u32 LE    bytes of the body
//! crc:  u32 LE    CRC-32 of the body
//! body: kind u8 (1 = entry, 2 = key only: an entry compacted away whose
//!       idempotency key is still honoured)
//!       seq u64 LE | sha256 of the payload [32] | key_len u16 LE | key
//!       | payload (entries only)
//! ```
//!
//! Records are appended and made durable before they are acknowledged. A
//! crash can leave a torn record at the end; [`scan`] stops at the first
//! record that is incomplete, fails its CRC, or breaks the ascending order,
//! and says which ([`Stop`]). An incomplete last record is a crash's torn
//! tail (never acknowledged) and is cut off. A damaged record is different:
//! what follows it may be acknowledged entries, so the caller copies the
//! rest of the file aside (quarantine) and [`salvage`] finds the whole,
//! checksummed records after the damage, which are kept.

use std::io::{self, Read};

/// The first bytes of every log file.
pub const LOG_MAGIC: &[u8; 8] = b"HEARTHL1";
/// Bytes before a record's body.
pub const RECORD_HEADER_LEN: u64 = 8;
/// Bytes of a body before the key.
const BODY_FIXED_LEN: usize = 1 + 8 + 32 + 2;
/// Larger bodies are treated as corruption.
pub const MAX_BODY_LEN: u32 = 1 << 30;

/// What a record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Entry,
    KeyOnly,
}

/// One record, decoded, with where its payload lies in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: Kind,
    pub seq: u64,
    pub hash: [u8; 32],
    pub key: Option<String>,
    /// File offset of the payload (entries only).
    pub payload_offset: u64,
    pub payload_len: u32,
}

/// Encodes one record onto `out`.
pub fn encode(
    out: &mut Vec<u8>,
    kind: Kind,
    seq: u64,
    hash: &[u8; 32],
    key: Option<&str>,
    payload: &[u8],
) {
    let payload: &[u8] = if kind == Kind::Entry { payload } else { &[] };
    let start = out.len();
    encode_fields(out, kind, seq, hash, key, payload.len());
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(out.get(start + 8..).unwrap_or_default());
    if let Some(slot) = out.get_mut(start + 4..start + 8) {
        slot.copy_from_slice(&crc.to_le_bytes());
    }
}

/// A record's fields before its payload, for one whose payload is written
/// after it in pieces (a spooled upload; see [`Head::encode`]).
pub struct Head<'a> {
    pub kind: Kind,
    pub seq: u64,
    pub hash: &'a [u8; 32],
    pub key: Option<&'a str>,
}

impl Head<'_> {
    /// Appends the record's header and fields for a payload of
    /// `payload_len` bytes whose CRC-32 is `payload_crc`; the payload's
    /// bytes must follow.
    pub fn encode(&self, out: &mut Vec<u8>, payload_len: u64, payload_crc: u32) {
        let start = out.len();
        let len = usize::try_from(payload_len).unwrap_or(usize::MAX);
        encode_fields(out, self.kind, self.seq, self.hash, self.key, len);
        let mut crc = crc32fast::Hasher::new();
        crc.update(out.get(start + 8..).unwrap_or_default());
        crc.combine(&crc32fast::Hasher::new_with_initial_len(
            payload_crc,
            payload_len,
        ));
        if let Some(slot) = out.get_mut(start + 4..start + 8) {
            slot.copy_from_slice(&crc.finalize().to_le_bytes());
        }
    }
}

/// The header (CRC left zero) and the fields, without the payload.
fn encode_fields(
    out: &mut Vec<u8>,
    kind: Kind,
    seq: u64,
    hash: &[u8; 32],
    key: Option<&str>,
    payload_len: usize,
) {
    let key = key.unwrap_or("").as_bytes();
    let key_len = u16::try_from(key.len()).unwrap_or(u16::MAX);
    let key = &key[..usize::from(key_len)];
    let body_len = (BODY_FIXED_LEN + key.len()).saturating_add(payload_len);
    out.extend_from_slice(&u32::try_from(body_len).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(&[0u8; 4]);
    out.push(match kind {
        Kind::Entry => 1,
        Kind::KeyOnly => 2,
    });
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(hash);
    out.extend_from_slice(&key_len.to_le_bytes());
    out.extend_from_slice(key);
}

/// Bytes a record with this key and payload takes in the file.
pub fn encoded_len(key: Option<&str>, payload_len: usize) -> u64 {
    RECORD_HEADER_LEN + (BODY_FIXED_LEN + key.map_or(0, str::len) + payload_len) as u64
}

/// Why a scan stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stop {
    /// At the end of the file, after a whole record.
    #[default]
    End,
    /// In a record that the file ends inside of: a torn tail.
    Incomplete,
    /// At a whole record that is damaged (bad length, checksum, kind, or a
    /// sequence number out of order).
    Damaged,
}

/// The result of scanning a log.
#[derive(Debug, Default)]
pub struct Scan {
    pub records: Vec<Record>,
    /// Length of the valid prefix (magic included); the file is truncated here.
    pub valid_len: u64,
    /// Why the scan stopped.
    pub stop: Stop,
}

/// Reads records after the magic (the reader starts right after it) until
/// the first invalid one. Payloads are read to check CRCs but not kept.
pub fn scan(mut reader: impl Read) -> io::Result<Scan> {
    let mut scan = Scan {
        valid_len: LOG_MAGIC.len() as u64,
        ..Scan::default()
    };
    let mut body = Vec::new();
    let mut last_seq = 0u64;
    loop {
        let mut header = [0u8; RECORD_HEADER_LEN as usize];
        match read_full(&mut reader, &mut header)? {
            0 => return Ok(scan),
            n if n < header.len() => return Ok(scan.stopped(Stop::Incomplete)),
            _ => {}
        }
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if (len as usize) < BODY_FIXED_LEN || len > MAX_BODY_LEN {
            return Ok(scan.stopped(Stop::Damaged));
        }
        body.resize(len as usize, 0);
        if read_full(&mut reader, &mut body)? < body.len() {
            return Ok(scan.stopped(Stop::Incomplete));
        }
        if crc32fast::hash(&body) != crc {
            return Ok(scan.stopped(Stop::Damaged));
        }
        let Some(record) = decode_body(&body, scan.valid_len + RECORD_HEADER_LEN) else {
            return Ok(scan.stopped(Stop::Damaged));
        };
        if record.seq == 0 || record.seq <= last_seq {
            return Ok(scan.stopped(Stop::Damaged));
        }
        last_seq = record.seq;
        scan.valid_len += RECORD_HEADER_LEN + u64::from(len);
        scan.records.push(record);
    }
}

impl Scan {
    fn stopped(mut self, stop: Stop) -> Scan {
        self.stop = stop;
        self
    }

    /// Whether anything after `valid_len` was found.
    #[cfg(test)]
    pub fn torn(&self) -> bool {
        self.stop != Stop::End
    }
}

/// Whole records found in `rest` (the bytes of a log from the first damaged
/// record on, which starts at file offset `rest_offset`), each with its raw
/// bytes. Looks at every byte position for a record whose length, kind,
/// checksum and sequence number (above `last_seq`, rising) all hold, then
/// reads on record by record from each one found.
pub fn salvage(rest: &[u8], rest_offset: u64, mut last_seq: u64) -> Vec<(Record, Vec<u8>)> {
    let header = RECORD_HEADER_LEN as usize;
    let mut found = Vec::new();
    // The first record is the damaged one: start looking one byte on.
    let mut at = 1usize;
    while at + header + BODY_FIXED_LEN <= rest.len() {
        let record = record_at(rest, at, rest_offset, last_seq);
        match record {
            Some((record, len)) => {
                last_seq = record.seq;
                found.push((record, rest.get(at..at + len).unwrap_or_default().to_vec()));
                at += len;
            }
            None => at += 1,
        }
    }
    found
}

/// The sequence number that the record at the start of `rest` claims, if
/// it is plausible (above `last_seq`, by at most [`MAX_SEQ_JUMP`]); else 0.
pub fn claimed_seq(rest: &[u8], last_seq: u64) -> u64 {
    let header = RECORD_HEADER_LEN as usize;
    let seq = rest
        .get(header + 1..header + 9)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .unwrap_or(0);
    if seq > last_seq && seq - last_seq <= MAX_SEQ_JUMP {
        seq
    } else {
        0
    }
}

/// How far a salvaged record's sequence number may lie above the last good
/// one: gaps in a log are the few records lost to damage, so a "record"
/// much further on is bytes of some payload that happen to look like one.
pub const MAX_SEQ_JUMP: u64 = 1 << 20;

/// The whole record at `at` in `buf`, if there is one with a sequence number
/// above `last_seq`, and its length in bytes.
fn record_at(buf: &[u8], at: usize, buf_offset: u64, last_seq: u64) -> Option<(Record, usize)> {
    let header = RECORD_HEADER_LEN as usize;
    let head = buf.get(at..at + header)?;
    let len = u32::from_le_bytes(head.get(0..4)?.try_into().ok()?);
    if (len as usize) < BODY_FIXED_LEN || len > MAX_BODY_LEN {
        return None;
    }
    let body_start = at + header;
    // Cheap checks before the checksum: the kind and a plausible seq.
    if !matches!(buf.get(body_start)?, 1 | 2) {
        return None;
    }
    let seq = u64::from_le_bytes(buf.get(body_start + 1..body_start + 9)?.try_into().ok()?);
    if seq <= last_seq || seq - last_seq > MAX_SEQ_JUMP {
        return None;
    }
    let body = buf.get(body_start..body_start + len as usize)?;
    let crc = u32::from_le_bytes(head.get(4..8)?.try_into().ok()?);
    if crc32fast::hash(body) != crc {
        return None;
    }
    let record = decode_body(body, buf_offset + body_start as u64)?;
    Some((record, header + len as usize))
}

fn decode_body(body: &[u8], body_offset: u64) -> Option<Record> {
    let kind = match body.first()? {
        1 => Kind::Entry,
        2 => Kind::KeyOnly,
        _ => return None,
    };
    let seq = u64::from_le_bytes(body.get(1..9)?.try_into().ok()?);
    let hash: [u8; 32] = body.get(9..41)?.try_into().ok()?;
    let key_len = usize::from(u16::from_le_bytes(body.get(41..43)?.try_into().ok()?));
    let key = body.get(43..43 + key_len)?;
    let key = if key.is_empty() {
        None
    } else {
        Some(String::from_utf8(key.to_vec()).ok()?)
    };
    let payload_start = 43 + key_len;
    let payload_len = u32::try_from(body.len() - payload_start).ok()?;
    if kind == Kind::KeyOnly && payload_len != 0 {
        return None;
    }
    Some(Record {
        kind,
        seq,
        hash,
        key,
        payload_offset: body_offset + payload_start as u64,
        payload_len,
    })
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(records: &[(Kind, u64, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut out = LOG_MAGIC.to_vec();
        for (kind, seq, key, payload) in records {
            encode(&mut out, *kind, *seq, &[*seq as u8; 32], *key, payload);
        }
        out
    }

    #[test]
    fn a_head_written_before_its_payload_makes_the_same_record() {
        let payload: Vec<u8> = (0..70_000u32).map(|i| (i % 253) as u8).collect();
        for key in [None, Some("idem-1")] {
            let mut whole = Vec::new();
            encode(&mut whole, Kind::Entry, 9, &[4; 32], key, &payload);
            let mut split = Vec::new();
            let head = Head {
                kind: Kind::Entry,
                seq: 9,
                hash: &[4; 32],
                key,
            };
            head.encode(&mut split, payload.len() as u64, crc32fast::hash(&payload));
            split.extend_from_slice(&payload);
            assert!(whole == split, "key {key:?}");
            assert_eq!(whole.len() as u64, encoded_len(key, payload.len()));
        }
    }

    #[test]
    fn records_round_trip_with_offsets() {
        let bytes = log(&[
            (Kind::KeyOnly, 1, Some("k1"), b""),
            (Kind::Entry, 2, Some("k2"), b"hello"),
            (Kind::Entry, 3, None, b""),
        ]);
        let scan = scan(&bytes[LOG_MAGIC.len()..]).unwrap();
        assert!(!scan.torn());
        assert_eq!(scan.valid_len, bytes.len() as u64);
        assert_eq!(scan.records.len(), 3);
        let r = &scan.records[1];
        assert_eq!(
            (r.kind, r.seq, r.key.as_deref()),
            (Kind::Entry, 2, Some("k2"))
        );
        let at = r.payload_offset as usize;
        assert_eq!(&bytes[at..at + r.payload_len as usize], b"hello");
        assert_eq!(scan.records[2].key, None);
        assert_eq!(
            scan.records[2].payload_offset,
            r.payload_offset + 5 + RECORD_HEADER_LEN + 43
        );
        assert_eq!(encoded_len(Some("k2"), 5), RECORD_HEADER_LEN + 43 + 2 + 5);
    }

    #[test]
    fn every_torn_tail_keeps_exactly_the_whole_records() {
        let bytes = log(&[
            (Kind::Entry, 1, Some("a"), b"first"),
            (Kind::Entry, 2, Some("b"), b"second entry"),
        ]);
        let first_end = LOG_MAGIC.len() as u64 + encoded_len(Some("a"), 5);
        for cut in LOG_MAGIC.len()..bytes.len() {
            let scan = scan(&bytes[LOG_MAGIC.len()..cut]).unwrap();
            let want = if (cut as u64) < first_end { 0 } else { 1 };
            assert_eq!(scan.records.len(), want, "cut at {cut}");
            assert_eq!(
                scan.torn(),
                cut as u64 != first_end && cut != LOG_MAGIC.len(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn a_flipped_bit_or_a_backwards_seq_ends_the_valid_prefix() {
        let mut bytes = log(&[
            (Kind::Entry, 1, None, b"aaaa"),
            (Kind::Entry, 2, None, b"bbbb"),
        ]);
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let s = scan(&bytes[LOG_MAGIC.len()..]).unwrap();
        assert_eq!((s.records.len(), s.torn()), (1, true));
        assert_eq!(s.stop, Stop::Damaged);
        let bytes = log(&[(Kind::Entry, 5, None, b"a"), (Kind::Entry, 5, None, b"b")]);
        let s = scan(&bytes[LOG_MAGIC.len()..]).unwrap();
        assert_eq!((s.records.len(), s.torn()), (1, true));
        assert_eq!(s.stop, Stop::Damaged);
    }

    #[test]
    fn a_cut_inside_the_last_record_is_incomplete_not_damaged() {
        let bytes = log(&[
            (Kind::Entry, 1, None, b"aaaa"),
            (Kind::Entry, 2, None, b"bbbb"),
        ]);
        let s = scan(&bytes[LOG_MAGIC.len()..bytes.len() - 2]).unwrap();
        assert_eq!((s.records.len(), s.stop), (1, Stop::Incomplete));
        let s = scan(&bytes[LOG_MAGIC.len()..]).unwrap();
        assert_eq!((s.records.len(), s.stop), (2, Stop::End));
    }

    #[test]
    fn salvage_finds_every_whole_record_after_a_damaged_one() {
        let records: Vec<(Kind, u64, Option<&str>, Vec<u8>)> = (1..=20u64)
            .map(|i| (Kind::Entry, i, Some("k"), vec![i as u8; 30 + i as usize]))
            .collect();
        let refs: Vec<(Kind, u64, Option<&str>, &[u8])> = records
            .iter()
            .map(|(k, s, key, p)| (*k, *s, *key, p.as_slice()))
            .collect();
        let clean = log(&refs);
        // Damage every byte position of record 5 in turn (one at a time).
        let start = LOG_MAGIC.len() as u64
            + (1..5u64)
                .map(|i| encoded_len(Some("k"), 30 + i as usize))
                .sum::<u64>();
        let len = encoded_len(Some("k"), 35);
        for pos in start..start + len {
            let mut bytes = clean.clone();
            bytes[pos as usize] ^= 0x40;
            let s = scan(&bytes[LOG_MAGIC.len()..]).unwrap();
            assert_eq!(s.records.len(), 4, "flip at {pos}");
            let rest = &bytes[s.valid_len as usize..];
            let found = salvage(rest, s.valid_len, 4);
            let seqs: Vec<u64> = found.iter().map(|(r, _)| r.seq).collect();
            assert_eq!(seqs, (6..=20).collect::<Vec<_>>(), "flip at {pos}");
            for (r, raw) in &found {
                let at = r.payload_offset as usize;
                assert_eq!(
                    &bytes[at..at + r.payload_len as usize],
                    &records[r.seq as usize - 1].3[..]
                );
                assert_eq!(
                    raw.len() as u64,
                    encoded_len(Some("k"), r.payload_len as usize)
                );
            }
        }
    }
}
