//! Appending (one sync per batch) and planning pulls.

use super::*;

/// A piece of an append: encoded records, or a spooled payload.
enum Out<'a> {
    Bytes(Vec<u8>),
    Spooled(&'a Payload),
}

/// Writes `parts` one after the other from `at`.
fn write_parts(file: &File, mut at: u64, parts: &[Out<'_>]) -> std::io::Result<()> {
    for part in parts {
        match part {
            Out::Bytes(bytes) => {
                file.write_all_at(bytes, at)?;
                at += bytes.len() as u64;
            }
            Out::Spooled(payload) => payload.pieces(&mut |piece| {
                file.write_all_at(piece, at)?;
                at += piece.len() as u64;
                Ok(())
            })?,
        }
    }
    Ok(())
}

impl DiskLog {
    /// Where the log stands.
    pub fn position(&self) -> Position {
        let st = self.read_state();
        Position {
            head: st.head,
            floor: st.floor(),
            bytes: st.bytes(),
        }
    }

    /// Appends entries, all made durable by one sync (see
    /// [`WorkspaceLog::append`]). Blocking.
    pub fn append(&self, entries: &[NewEntry], quota: u64) -> Result<Vec<Appended>, StoreError> {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let (file, start, mut next, mut bytes, poisoned) = {
            let st = self.read_state();
            (
                st.log.clone(),
                st.log_len,
                st.head + 1,
                st.bytes(),
                st.poisoned,
            )
        };
        if poisoned {
            return Err(StoreError::Poisoned);
        }
        let mut outcomes = Vec::with_capacity(entries.len());
        // What to write, in order: encoded records, and spooled payloads
        // copied in after their records' heads.
        let mut parts: Vec<Out<'_>> = Vec::new();
        let mut buf = Vec::new();
        let mut appended = 0u64;
        let mut new_locs = Vec::new();
        let mut new_keys: HashMap<&str, KeyRec> = HashMap::new();
        {
            let st = self.read_state();
            for e in entries {
                let seen = e
                    .key
                    .as_deref()
                    .and_then(|k| new_keys.get(k).or_else(|| st.keys.get(k)).copied());
                if let Some(prev) = seen {
                    outcomes.push(if prev.hash == e.hash {
                        Appended::Duplicate(prev.seq)
                    } else {
                        Appended::KeyConflict
                    });
                    continue;
                }
                if e.payload.len() > MAX_ENTRY_LEN {
                    outcomes.push(Appended::TooLarge);
                    continue;
                }
                let payload_len = usize::try_from(e.payload.len()).unwrap_or(usize::MAX);
                let len = record::encoded_len(e.key.as_deref(), payload_len);
                if bytes.saturating_add(len) > quota {
                    outcomes.push(Appended::OverQuota);
                    continue;
                }
                let at = start + appended;
                match e.payload.in_memory() {
                    Some(payload) => record::encode(
                        &mut buf,
                        Kind::Entry,
                        next,
                        &e.hash,
                        e.key.as_deref(),
                        payload,
                    ),
                    None => {
                        let head = record::Head {
                            kind: Kind::Entry,
                            seq: next,
                            hash: &e.hash,
                            key: e.key.as_deref(),
                        };
                        head.encode(&mut buf, e.payload.len(), e.payload.crc32());
                        parts.push(Out::Bytes(std::mem::take(&mut buf)));
                        parts.push(Out::Spooled(&e.payload));
                    }
                }
                appended += len;
                let len32 = u32::try_from(e.payload.len()).unwrap_or(u32::MAX);
                new_locs.push(Loc {
                    seq: next,
                    offset: at + len - u64::from(len32),
                    len: len32,
                });
                if let Some(k) = e.key.as_deref() {
                    new_keys.insert(
                        k,
                        KeyRec {
                            seq: next,
                            hash: e.hash,
                        },
                    );
                }
                outcomes.push(Appended::New(next));
                next += 1;
                bytes += len;
            }
        }
        if appended == 0 {
            return Ok(outcomes);
        }
        parts.push(Out::Bytes(buf));
        let log_path = self.dir.join(LOG_FILE);
        let written = write_parts(&file, start, &parts).and_then(|()| file.sync_data());
        if let Err(err) = written {
            // What reached the disk is unknown (after a failed fsync the
            // kernel may have dropped the pages): this log takes no more
            // writes. Cutting the partial write off is a courtesy; the next
            // open recovers from whatever is on disk either way.
            self.poison();
            let _ = file.set_len(start).and_then(|()| file.sync_data());
            return Err(io_err(&log_path)(err));
        }
        let mut st = self.write_state();
        st.log_len = start + appended;
        st.head = next - 1;
        st.entries.extend(new_locs);
        for (k, rec) in new_keys {
            st.keys.insert(k.to_owned(), rec);
        }
        Ok(outcomes)
    }

    /// A pull's answer, read whole (tests). Blocking.
    #[cfg(test)]
    pub fn pull(&self, after: u64, max_bytes: u64) -> Result<crate::storage::Pulled, StoreError> {
        self.pull_plan(after, max_bytes)?.read_all_blocking()
    }

    /// A pull's answer as a plan over the files this log holds open.
    pub fn pull_plan(&self, after: u64, max_bytes: u64) -> Result<PullPlan, StoreError> {
        let frame = |len: u64| len + FRAME_HEADER_LEN as u64;
        let st = self.read_state();
        let floor = st.floor();
        let position = Position {
            head: st.head,
            floor,
            bytes: st.bytes(),
        };
        let snap = st.snapshot.clone().filter(|_| after < floor);
        let from = after.max(floor);
        let i = st.entries.partition_point(|l| l.seq <= from);
        let mut budget = snap.as_ref().map_or(0, |s| frame(s.len));
        let mut parts = Vec::new();
        if let Some(s) = &snap {
            let len = u32::try_from(s.len).unwrap_or(u32::MAX);
            parts.push(Part::Bytes(Bytes::copy_from_slice(&encode_header(
                FrameKind::Snapshot,
                s.upto,
                len,
            ))));
            parts.push(Part::File {
                file: s.file.clone(),
                offset: SNAPSHOT_HEADER_LEN,
                len: u64::from(len),
            });
        }
        // At least one frame, even past the budget, so that a pull moves.
        let mut any = snap.is_some();
        for l in st.entries.get(i..).unwrap_or_default() {
            let cost = frame(u64::from(l.len));
            if any && budget.saturating_add(cost) > max_bytes {
                break;
            }
            budget += cost;
            any = true;
            parts.push(Part::Bytes(Bytes::copy_from_slice(&encode_header(
                FrameKind::Entry,
                l.seq,
                l.len,
            ))));
            parts.push(Part::File {
                file: st.log.clone(),
                offset: l.offset,
                len: u64::from(l.len),
            });
        }
        Ok(PullPlan {
            position,
            parts,
            len: budget,
            path: self.dir.display().to_string(),
        })
    }
}
