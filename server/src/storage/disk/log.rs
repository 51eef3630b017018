//! Appending (one sync per batch) and planning pulls.

use super::*;

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
        let mut buf = Vec::new();
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
                if e.payload.len() as u64 > MAX_ENTRY_LEN {
                    outcomes.push(Appended::TooLarge);
                    continue;
                }
                let len = record::encoded_len(e.key.as_deref(), e.payload.len());
                if bytes.saturating_add(len) > quota {
                    outcomes.push(Appended::OverQuota);
                    continue;
                }
                let at = start + buf.len() as u64;
                record::encode(
                    &mut buf,
                    Kind::Entry,
                    next,
                    &e.hash,
                    e.key.as_deref(),
                    &e.payload,
                );
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
        if buf.is_empty() {
            return Ok(outcomes);
        }
        let log_path = self.dir.join(LOG_FILE);
        let written = file
            .write_all_at(&buf, start)
            .and_then(|()| file.sync_data());
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
        st.log_len = start + buf.len() as u64;
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
