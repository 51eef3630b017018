//! Compaction: swapping in a snapshot, rewriting the log without what it
//! covers, and keeping what it replaced for a while so that it can be
//! undone.

use super::*;

impl DiskLog {
    /// Rewrites the log without the entries at or below `floor`, keeping the
    /// recent keys. Called with the writer lock held.
    fn rewrite_log(&self, floor: u64) -> Result<(), StoreError> {
        let (old, entries, keys) = {
            let st = self.read_state();
            (st.log.clone(), st.entries.clone(), st.keys.clone())
        };
        let keep_from = floor.saturating_sub(KEEP_KEYS_BELOW_FLOOR);
        let mut by_seq: HashMap<u64, (&str, &KeyRec)> = HashMap::new();
        for (k, rec) in &keys {
            by_seq.insert(rec.seq, (k.as_str(), rec));
        }
        let mut key_only: Vec<(&str, &KeyRec)> = keys
            .iter()
            .filter(|(_, r)| r.seq <= floor && r.seq > keep_from)
            .map(|(k, r)| (k.as_str(), r))
            .collect();
        key_only.sort_by_key(|(_, r)| r.seq);

        let tmp_path = self.dir.join(LOG_TMP);
        // Opened for reading and writing now: this handle becomes the log,
        // so nothing has to be opened after the rename.
        let mut out = new_file(&tmp_path)?;
        let mut buf = LOG_MAGIC.to_vec();
        for (key, rec) in &key_only {
            record::encode(&mut buf, Kind::KeyOnly, rec.seq, &rec.hash, Some(key), &[]);
        }
        let mut new_entries = Vec::new();
        let mut new_keys: HashMap<String, KeyRec> = key_only
            .iter()
            .map(|(k, r)| ((*k).to_owned(), **r))
            .collect();
        let mut written = 0u64;
        let mut payload = Vec::new();
        for loc in entries.iter().filter(|l| l.seq > floor) {
            payload.resize(loc.len as usize, 0);
            old.read_exact_at(&mut payload, loc.offset)
                .map_err(io_err(&self.dir))?;
            let (key, hash) = match by_seq.get(&loc.seq) {
                Some((k, r)) => (Some(*k), r.hash),
                None => (None, sha256(&payload)),
            };
            let before = written + buf.len() as u64;
            record::encode(&mut buf, Kind::Entry, loc.seq, &hash, key, &payload);
            let payload_offset =
                before + record::encoded_len(key, payload.len()) - payload.len() as u64;
            new_entries.push(Loc {
                seq: loc.seq,
                offset: payload_offset,
                len: loc.len,
            });
            if let Some(k) = key {
                new_keys.insert(k.to_owned(), KeyRec { seq: loc.seq, hash });
            }
            if buf.len() > 1 << 20 {
                out.write_all(&buf).map_err(io_err(&tmp_path))?;
                written += buf.len() as u64;
                buf.clear();
            }
        }
        out.write_all(&buf).map_err(io_err(&tmp_path))?;
        written += buf.len() as u64;
        out.sync_all().map_err(io_err(&tmp_path))?;
        let log_path = self.dir.join(LOG_FILE);
        fs::rename(&tmp_path, &log_path).map_err(io_err(&log_path))?;
        // From here on the file on disk is the new log: the state must
        // follow it, or take no more writes.
        let mut st = self.write_state();
        if let Err(err) = fsync_dir(&self.dir) {
            st.poisoned = true;
            return Err(io_err(&self.dir)(err));
        }
        st.log = Arc::new(out);
        st.log_len = written;
        st.entries = new_entries;
        st.keys = new_keys;
        Ok(())
    }

    /// Swaps in a snapshot (see [`WorkspaceLog::put_snapshot`]). Blocking.
    pub fn put_snapshot(
        &self,
        upto: u64,
        data: &Payload,
        quota: u64,
    ) -> Result<Snapshotted, StoreError> {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let (head, floor, kept_bytes, poisoned) = {
            let st = self.read_state();
            let kept: u64 = st
                .entries
                .iter()
                .filter(|l| l.seq > upto)
                .map(|l| u64::from(l.len) + 64)
                .sum();
            (st.head, st.floor(), kept, st.poisoned)
        };
        if poisoned {
            return Err(StoreError::Poisoned);
        }
        if upto > head || upto < floor {
            return Ok(Snapshotted::Conflict { head, floor });
        }
        if data.len() > MAX_ENTRY_LEN {
            return Ok(Snapshotted::TooLarge);
        }
        if data.len().saturating_add(kept_bytes) > quota {
            return Ok(Snapshotted::OverQuota);
        }

        // Keep what is replaced, so that the compaction can be undone.
        let now = unix_now();
        let kept = self.keep_for_undo(now, floor, upto)?;
        let snap = match write_snapshot(&self.dir, upto, data) {
            Ok(snap) => snap,
            Err(WriteFailed::Before(err)) => {
                // Nothing changed: no undo point for a compaction that did
                // not happen.
                let _ = fs::remove_dir_all(&kept);
                return Err(err);
            }
            Err(WriteFailed::After(err)) => {
                self.poison();
                return Err(err);
            }
        };
        {
            let mut st = self.write_state();
            st.snapshot = Some(snap);
            st.entries.retain(|l| l.seq > upto);
        }
        self.purge_undo(now);
        // The snapshot is in; dropping the covered entries from the file is
        // housekeeping, and recovery copes if it does not happen (entries at
        // or below the floor are skipped). A failure after the new log was
        // renamed into place has poisoned the log, and is reported.
        if let Err(err) = self.rewrite_log(upto) {
            let _ = fs::remove_file(self.dir.join(LOG_TMP));
            if self.is_poisoned() {
                return Err(err);
            }
            tracing::warn!(error = %err, "could not drop compacted entries from a log");
        }
        Ok(Snapshotted::Done(upto))
    }

    /// Deletes what compactions kept for undo. Blocking.
    pub fn forget_compactions(&self) -> Result<usize, StoreError> {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let kept = self.kept();
        let n = kept.len();
        for kept in kept {
            fs::remove_dir_all(&kept.dir).map_err(io_err(&kept.dir))?;
        }
        if n > 0 {
            let undo = self.dir.join(UNDO_DIR);
            fsync_dir(&undo).map_err(io_err(&undo))?;
        }
        Ok(n)
    }

    /// Undoes the latest compaction still kept. Blocking.
    pub fn undo_compaction(&self) -> Result<Option<Undone>, StoreError> {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if self.is_poisoned() {
            return Err(StoreError::Poisoned);
        }
        self.purge_undo(unix_now());
        let Some(kept) = self.latest_undo()? else {
            return Ok(None);
        };
        self.restore_undo(&kept).map(Some)
    }
}

/// What one compaction replaced, kept in `undo/<time>-<floor>-<upto>[.n]/`.
struct Kept {
    dir: PathBuf,
    time: u64,
    /// The compaction's `upto`, then the tie-breaker `n`: compactions of one
    /// second are ordered by these (floors only rise), never by name.
    upto: u64,
    n: u64,
}

impl DiskLog {
    /// Hard-links the current snapshot and log into a new undo directory.
    /// Nothing is copied: the rename of the compaction's new files leaves
    /// the old ones reachable through these links.
    fn keep_for_undo(&self, now: u64, floor: u64, upto: u64) -> Result<PathBuf, StoreError> {
        let undo = self.dir.join(UNDO_DIR);
        create_dir_private(&undo).map_err(io_err(&undo))?;
        let mut n = 0u32;
        let kept = loop {
            let name = if n == 0 {
                format!("{now}-{floor}-{upto}")
            } else {
                format!("{now}-{floor}-{upto}.{n}")
            };
            let path = undo.join(name);
            if !path.exists() {
                break path;
            }
            n += 1;
        };
        let tmp = undo.join(".incomplete");
        let _ = fs::remove_dir_all(&tmp);
        create_dir_private(&tmp).map_err(io_err(&tmp))?;
        for name in [SNAPSHOT_FILE, LOG_FILE] {
            let src = self.dir.join(name);
            if src.exists() {
                fs::hard_link(&src, tmp.join(name)).map_err(io_err(&src))?;
            }
        }
        fsync_dir(&tmp).map_err(io_err(&tmp))?;
        fs::rename(&tmp, &kept).map_err(io_err(&kept))?;
        fsync_dir(&undo).map_err(io_err(&undo))?;
        Ok(kept)
    }

    /// The kept compactions, oldest first.
    fn kept(&self) -> Vec<Kept> {
        let undo = self.dir.join(UNDO_DIR);
        let Ok(read) = fs::read_dir(&undo) else {
            return Vec::new();
        };
        let mut kept: Vec<Kept> = read
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let (stem, n) = match name.split_once('.') {
                    Some((stem, n)) => (stem.to_owned(), n.parse().ok()?),
                    None => (name.clone(), 0),
                };
                let mut parts = stem.split('-');
                let time = parts.next()?.parse().ok()?;
                let _floor: u64 = parts.next()?.parse().ok()?;
                let upto = parts.next()?.parse().ok()?;
                Some(Kept {
                    dir: e.path(),
                    time,
                    upto,
                    n,
                })
            })
            .collect();
        kept.sort_by_key(|k| (k.time, k.upto, k.n));
        kept
    }

    fn latest_undo(&self) -> Result<Option<Kept>, StoreError> {
        Ok(self.kept().pop())
    }

    /// Deletes what compactions older than the undo window replaced, and all
    /// but the newest [`UNDO_KEEP_COUNT`].
    fn purge_undo(&self, now: u64) {
        let kept = self.kept();
        let excess = kept.len().saturating_sub(UNDO_KEEP_COUNT);
        for (i, kept) in kept.into_iter().enumerate() {
            if (i < excess || kept.time.saturating_add(self.undo_keep_secs) < now)
                && let Err(err) = fs::remove_dir_all(&kept.dir)
            {
                tracing::warn!(path = %kept.dir.display(), error = %err, "cannot remove an expired compaction undo");
            }
        }
    }

    /// Puts back the snapshot and log of `kept`, keeping every entry that
    /// arrived after that compaction. Called with the writer lock held.
    ///
    /// The log is restored first, the snapshot second: between the two the
    /// old entries lie below the (new) floor and are not served, so a crash
    /// at any point leaves either the compacted or the restored state.
    fn restore_undo(&self, kept: &Kept) -> Result<Undone, StoreError> {
        let old_log = kept.dir.join(LOG_FILE);
        let old_snapshot = open_snapshot(&kept.dir.join(SNAPSHOT_FILE))?;
        let old_records = scan_file(&old_log)?;
        let old_top = old_records.last().map_or(0, |(r, _)| r.seq);
        let (cur_file, cur_entries, cur_keys) = {
            let st = self.read_state();
            (st.log.clone(), st.entries.clone(), st.keys.clone())
        };
        let mut buf = LOG_MAGIC.to_vec();
        for (_, raw) in &old_records {
            buf.extend_from_slice(raw);
        }
        // Entries pushed after the compaction (above what the old log held).
        let mut by_seq: HashMap<u64, (&str, [u8; 32])> = HashMap::new();
        for (k, rec) in &cur_keys {
            by_seq.insert(rec.seq, (k.as_str(), rec.hash));
        }
        let mut payload = Vec::new();
        for loc in cur_entries.iter().filter(|l| l.seq > old_top) {
            payload.resize(loc.len as usize, 0);
            cur_file
                .read_exact_at(&mut payload, loc.offset)
                .map_err(io_err(&self.dir))?;
            let (key, hash) = match by_seq.get(&loc.seq) {
                Some((k, h)) => (Some(*k), *h),
                None => (None, sha256(&payload)),
            };
            record::encode(&mut buf, Kind::Entry, loc.seq, &hash, key, &payload);
        }
        let tmp_path = self.dir.join(LOG_TMP);
        let mut out = new_file(&tmp_path)?;
        out.write_all(&buf)
            .and_then(|()| out.sync_all())
            .map_err(io_err(&tmp_path))?;
        let log_path = self.dir.join(LOG_FILE);
        fs::rename(&tmp_path, &log_path).map_err(io_err(&log_path))?;
        let after = (|| {
            fsync_dir(&self.dir).map_err(io_err(&self.dir))?;
            let snap_path = self.dir.join(SNAPSHOT_FILE);
            match &old_snapshot {
                Some(_) => {
                    let tmp = self.dir.join(SNAPSHOT_TMP);
                    fs::hard_link(kept.dir.join(SNAPSHOT_FILE), &tmp).map_err(io_err(&tmp))?;
                    fs::rename(&tmp, &snap_path).map_err(io_err(&snap_path))?;
                }
                None => match fs::remove_file(&snap_path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(&snap_path)(e)),
                },
            }
            fsync_dir(&self.dir).map_err(io_err(&self.dir))?;
            fs::remove_dir_all(&kept.dir).map_err(io_err(&kept.dir))?;
            Ok(())
        })();
        if let Err(err) = after {
            self.poison();
            return Err(err);
        }
        // Rebuild the in-memory index from what is now on disk.
        let fresh = DiskLog::open(&self.dir)?;
        let fresh_state = fresh.state.into_inner().unwrap_or_else(|p| p.into_inner());
        let undone = Undone {
            floor: fresh_state.floor(),
            head: fresh_state.head,
        };
        *self.write_state() = fresh_state;
        Ok(undone)
    }
}
