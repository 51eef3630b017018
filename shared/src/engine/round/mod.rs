//! One sync round: [`Engine::sync`] asks [`next_step`] what to do, does it,
//! and asks again until the round is done or a step fails.
//!
//! Here: the round itself and its steps on the server (push, pull,
//! compaction). Beside it, in their own files: `rotation` (the workspace's
//! keys: the check before a round, taking in and giving out key epochs,
//! encrypting a workspace, rotating its key) and `local_fold` (folding
//! the local log into the local snapshot).

use loro::{ExportMode, IdSpan};

use super::decide::{Facts, Step, next_step};
use super::engine::{Engine, import_untrusted};
use super::error::{EngineError, KeyProblem};
use super::status::LastRound;
use super::store::{Ack, Outbox, Store};
use super::transport::{Transport, TransportError};
use crate::error::ErrorCode;
use crate::frame::{FrameKind, decode_frames};

mod local_fold;
mod rotation;

pub use rotation::ROTATION_ROOT;

/// The most steps one round takes (a guard; a round needs a handful).
const MAX_STEPS: usize = 64;

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// Batches acknowledged by the server.
    pub pushed: u32,
    /// Bytes of the envelopes pushed.
    pub pushed_bytes: u64,
    /// Entries (and snapshots) imported.
    pub pulled: u32,
    /// Bytes of the frames pulled.
    pub pulled_bytes: u64,
    /// A snapshot was uploaded.
    pub compacted_server: bool,
    /// The local log was folded into a snapshot.
    pub compacted_local: bool,
    /// The round stopped at its step limit with work possibly left: the
    /// host runs another round rather than waiting.
    pub more: bool,
}

/// Progress within a round.
#[derive(Debug, Default)]
struct Round {
    pulled: bool,
    pull_progressed: bool,
    server_compaction_tried: bool,
    local_compaction_done: bool,
}

impl<S: Store, T: Transport> Engine<S, T> {
    fn facts(&self, round: &Round) -> Facts {
        self.doc.commit();
        let batched_to = self
            .outbox
            .as_ref()
            .map_or(self.meta.acked_counter, |o| o.to);
        Facts {
            can_write: self.config.can_write,
            has_outbox: self.outbox.is_some(),
            unbatched_ops: u32::try_from(self.saved_counter.saturating_sub(batched_to))
                .unwrap_or(0),
            unsaved: self.own_counter() > self.saved_counter,
            pulled: round.pulled,
            pull_progressed: round.pull_progressed,
            cursor: self.meta.cursor,
            known_head: self.known_head,
            server_log_bytes: self.meta.server_log_bytes,
            server_snapshot_bytes: self.meta.server_snapshot_bytes,
            local_log_bytes: self.local_log_bytes,
            local_snapshot_bytes: self.local_snapshot_bytes,
            server_compaction_tried: round.server_compaction_tried,
            local_compaction_done: round.local_compaction_done,
        }
    }

    /// Runs one sync round at time `now_ms` (milliseconds since the Unix
    /// epoch): saves, pushes, pulls and compacts as [`next_step`] decides.
    /// On error the round stops; everything done before stays done, and the
    /// host retries after [`Engine::retry_delay`].
    pub async fn sync(&mut self, now_ms: u64) -> Result<RoundReport, EngineError> {
        self.in_round = true;
        self.notify();
        let mut report = RoundReport::default();
        let result = self.run_round(now_ms, &mut report).await;
        self.in_round = false;
        match &result {
            Ok(()) => {
                self.failures = 0;
                self.retry_after_ms = None;
                self.last_round = LastRound::Ok;
                self.last_error = None;
            }
            Err(e) => {
                self.failures = self.failures.saturating_add(1);
                self.retry_after_ms = e.retry_after_ms();
                self.last_round = if e.is_offline() {
                    LastRound::Offline
                } else {
                    LastRound::Failed
                };
                self.last_error = Some(e.to_string());
            }
        }
        self.notify();
        result.map(|()| report)
    }

    async fn run_round(
        &mut self,
        now_ms: u64,
        report: &mut RoundReport,
    ) -> Result<(), EngineError> {
        let mut round = Round {
            pull_progressed: true,
            ..Round::default()
        };
        for _ in 0..MAX_STEPS {
            let step = next_step(&self.facts(&round), &self.config.thresholds);
            if !self.keys_checked && !matches!(step, Step::Save | Step::CompactLocal | Step::Done) {
                self.check_keys().await?;
                self.keys_checked = true;
                self.seal_from_now().await?;
                continue;
            }
            // A key epoch not yet given to every device (a rotation whose
            // last round failed part-way) is given before anything else.
            if self.meta.rotating && !matches!(step, Step::Save | Step::CompactLocal | Step::Done) {
                self.finish_rotation().await?;
                continue;
            }
            match step {
                Step::Save => {
                    self.save_local().await?;
                }
                Step::Push => self.push(now_ms, report).await?,
                Step::Pull => {
                    let progressed = self.pull(report).await?;
                    round.pulled = true;
                    round.pull_progressed = progressed;
                }
                Step::CompactServer => {
                    round.server_compaction_tried = true;
                    if self.compact_server().await? {
                        report.compacted_server = true;
                        round.local_compaction_done = true;
                    }
                }
                Step::CompactLocal => {
                    round.local_compaction_done = true;
                    self.compact_local().await?;
                    report.compacted_local = true;
                }
                Step::Done => return Ok(()),
            }
        }
        report.more = true;
        Ok(())
    }

    /// Sends the in-flight batch, forming it first if there is none.
    async fn push(&mut self, now_ms: u64, report: &mut RoundReport) -> Result<(), EngineError> {
        let outbox = match &self.outbox {
            Some(outbox) => outbox.clone(),
            None => {
                let from = self.meta.acked_counter;
                let to = self
                    .saved_counter
                    .min(from.saturating_add(self.batch_limit.max(1)));
                let span = IdSpan::new(self.meta.peer_id, from, to);
                let payload = self
                    .doc
                    .export(ExportMode::updates_in_range(vec![span]))
                    .map_err(|e| EngineError::Document(e.to_string()))?;
                let sealed = self.seal_record(crate::sealed::Kind::Update, &payload)?;
                let key = format!(
                    "{:016x}-{from}-{to}-{:08x}",
                    self.meta.peer_id,
                    crc32fast::hash(&sealed)
                );
                let outbox = Outbox {
                    key,
                    from,
                    to,
                    envelope: sealed,
                };
                self.store.set_outbox(Some(&outbox), &self.meta).await?;
                self.outbox = Some(outbox.clone());
                outbox
            }
        };
        match self.transport.push(&outbox.key, &outbox.envelope).await {
            Ok(seq) => {
                let mut next = self.meta.clone();
                next.acked_counter = next.acked_counter.max(outbox.to);
                next.last_ack = Some(Ack { seq, at_ms: now_ms });
                self.store.set_outbox(None, &next).await?;
                self.meta = next;
                self.outbox = None;
                self.known_head = self.known_head.max(seq);
                report.pushed += 1;
                report.pushed_bytes += outbox.envelope.len() as u64;
                Ok(())
            }
            Err(e)
                if e.code() == Some(ErrorCode::PayloadTooLarge) && outbox.to - outbox.from > 1 =>
            {
                // Too large for the server: form a batch half the size.
                self.batch_limit = ((outbox.to - outbox.from) / 2).max(1);
                self.store.set_outbox(None, &self.meta).await?;
                self.outbox = None;
                Ok(())
            }
            Err(e) if e.code() == Some(ErrorCode::IdempotencyConflict) => {
                // The key is derived from the bytes, so this means the
                // server lost track; form the batch again next round.
                self.store.set_outbox(None, &self.meta).await?;
                self.outbox = None;
                Err(e.into())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Fetches and imports everything after the cursor. Returns whether
    /// the cursor moved.
    async fn pull(&mut self, report: &mut RoundReport) -> Result<bool, EngineError> {
        let pulled = self.transport.pull(self.meta.cursor).await?;
        if pulled.head < self.meta.cursor {
            self.forget_server(pulled.head).await?;
            return Ok(true);
        }
        let frames = decode_frames(&pulled.body)
            .map_err(|e| TransportError::Protocol(format!("entries: {e}")))?;
        if let Some(epoch) = self.unknown_epoch(&frames)
            && (!self.learn_keys().await? || self.unknown_epoch(&frames).is_some())
        {
            // Sealed under a key this device was not given: stop before
            // it, so that it is imported, not skipped, once the key comes.
            return Err(KeyProblem::MissingEpoch { epoch }.into());
        }
        let mut next = self.meta.clone();
        let mut opened_records = Vec::new();
        let mut entry_bytes = 0u64;
        let mut snapshot_bytes = None;
        let mut skipped = 0u64;
        for frame in frames {
            if frame.seq <= self.meta.cursor {
                continue;
            }
            // The workspace was encrypted since this device last checked:
            // stop where it is, so that once the key comes (pairing again)
            // it pulls these records rather than having skipped them.
            if self.keys.is_none() && crate::signed::peek(frame.payload).is_ok() {
                self.keys_checked = false;
                return Err(crate::engine::KeyProblem::NeedsKey.into());
            }
            match frame.kind {
                FrameKind::Snapshot => snapshot_bytes = Some(frame.payload.len() as u64),
                FrameKind::Entry => entry_bytes += frame.payload.len() as u64,
            }
            match self.open_record(frame.payload, frame.kind) {
                Ok(opened) => opened_records.push((frame.seq, opened)),
                Err(e) => {
                    skipped += 1;
                    let why = format!("skipped entry {}: {e}", frame.seq);
                    self.last_error = Some(why.clone());
                    self.last_skipped = Some(why);
                }
            }
            next.cursor = next.cursor.max(frame.seq);
            report.pulled += 1;
            report.pulled_bytes += frame.payload.len() as u64;
        }
        let blobs = self.judge_and_import(opened_records, &mut skipped);
        if pulled.floor > next.floor {
            next.floor = pulled.floor;
            next.server_log_bytes = entry_bytes;
            next.server_snapshot_bytes =
                snapshot_bytes.unwrap_or(next.server_snapshot_bytes.max(self.local_snapshot_bytes));
        } else {
            next.server_log_bytes += entry_bytes;
            if let Some(bytes) = snapshot_bytes {
                next.server_snapshot_bytes = bytes;
            }
        }
        let progressed = next.cursor > self.meta.cursor;
        if next != self.meta || !blobs.is_empty() {
            self.store.append(&blobs, &next).await?;
            self.local_log_bytes += blobs.iter().map(|b| b.len() as u64).sum::<u64>();
        }
        self.meta = next;
        self.skipped += skipped;
        self.known_head = self.known_head.max(pulled.head);
        Ok(progressed)
    }

    /// Imports what `pull` opened, in the server's order. In an encrypted
    /// workspace whose document records a removal, each record is first
    /// judged against the devices the document records as of the records
    /// before it (one of them may be the removal), and imported on its own;
    /// otherwise all go in one import. Returns the blobs imported.
    fn judge_and_import(
        &mut self,
        opened: Vec<(u64, crate::signed::Opened)>,
        skipped: &mut u64,
    ) -> Vec<Vec<u8>> {
        let judged = self.keys.is_some()
            && super::roster::members(&self.doc)
                .iter()
                .any(|m| m.removal.is_some())
            || opened.iter().any(|(_, o)| o.signer.is_some());
        if !judged {
            let (blobs, rejected) = import_untrusted(
                &self.doc,
                opened.into_iter().map(|(_, o)| o.payload).collect(),
            );
            *skipped += rejected;
            for blob in &blobs {
                if let Some(end) = super::roster::end_version(blob) {
                    self.announced.merge(&end);
                }
            }
            return blobs;
        }
        // The devices the document records change only when an import
        // touches them: read again only then.
        let touched = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let flag = touched.clone();
        let _watch = self.doc.subscribe(
            &loro::ContainerID::new_root(super::roster::DEVICES_ROOT, loro::ContainerType::Map),
            std::sync::Arc::new(move |_| flag.store(true, std::sync::atomic::Ordering::Relaxed)),
        );
        let mut members = Vec::new();
        let mut blobs = Vec::with_capacity(opened.len());
        for (seq, record) in opened {
            // Loro's decoder is only trusted with blobs that decode in a
            // scratch document (see `import_untrusted`).
            if !super::engine::decodes(&record.payload) {
                *skipped += 1;
                continue;
            }
            if touched.swap(false, std::sync::atomic::Ordering::Relaxed) {
                members = super::roster::members(&self.doc);
            }
            if let Err(why) = super::roster::judge(&members, &record) {
                *skipped += 1;
                self.refused += 1;
                let why = format!("refused entry {seq}: {why}");
                self.last_error = Some(why.clone());
                self.last_skipped = Some(why);
                continue;
            }
            if let Some(end) = super::roster::end_version(&record.payload) {
                self.announced.merge(&end);
            }
            if self.doc.import(&record.payload).is_ok() {
                blobs.push(record.payload);
            } else {
                *skipped += 1;
            }
        }
        blobs
    }

    /// The first key epoch, among the records of `frames` after the
    /// cursor, that this device holds no key of.
    fn unknown_epoch(&self, frames: &[crate::frame::Frame<'_>]) -> Option<u32> {
        let keys = self.keys.as_ref()?;
        frames
            .iter()
            .filter(|f| f.seq > self.meta.cursor)
            .filter_map(|f| crate::signed::peek(f.payload).ok())
            .map(|h| h.epoch)
            .find(|epoch| crate::sealed::key_of(&keys.ring.epochs, *epoch).is_none())
    }

    /// The server's head is below what this device has seen: it lost
    /// entries (it was restored from an older backup). Start over with it:
    /// send all of this device's operations again and fetch everything.
    /// Re-sent operations are harmless duplicates for devices that have
    /// them; for the server they are the only way back.
    async fn forget_server(&mut self, head: u64) -> Result<(), EngineError> {
        let mut next = self.meta.clone();
        next.cursor = 0;
        next.acked_counter = 0;
        next.floor = 0;
        next.server_log_bytes = 0;
        next.server_snapshot_bytes = 0;
        self.store.set_outbox(None, &next).await?;
        self.meta = next;
        self.outbox = None;
        self.known_head = head;
        self.last_error = Some(format!(
            "the server forgot entries (its head is {head}); sending this device's changes again"
        ));
        Ok(())
    }

    /// Uploads a snapshot covering everything up to the cursor and folds
    /// the local log into it. Returns whether the server took it.
    async fn compact_server(&mut self) -> Result<bool, EngineError> {
        if self.own_counter() != self.saved_counter || self.outbox.is_some() {
            return Ok(false);
        }
        let upto = self.meta.cursor;
        let snapshot = self
            .doc
            .export(ExportMode::Snapshot)
            .map_err(|e| EngineError::Document(e.to_string()))?;
        let sealed = self.seal_record(crate::sealed::Kind::Snapshot, &snapshot)?;
        match self.transport.put_snapshot(upto, &sealed).await {
            Ok(floor) => {
                let mut next = self.meta.clone();
                next.floor = next.floor.max(floor);
                next.server_log_bytes = 0;
                next.server_snapshot_bytes = sealed.len() as u64;
                self.store.compact(&snapshot, &next).await?;
                self.meta = next;
                self.local_log_bytes = 0;
                self.local_snapshot_bytes = snapshot.len() as u64;
                Ok(true)
            }
            // Another device compacted first; its snapshot serves as well.
            Err(e) if e.code() == Some(ErrorCode::SnapshotConflict) => Ok(false),
            // The server will not take a snapshot this large (body limit,
            // quota): keep the log, and try again once it has grown as
            // much again.
            Err(e)
                if matches!(
                    e.code(),
                    Some(ErrorCode::PayloadTooLarge | ErrorCode::QuotaExceeded)
                ) =>
            {
                let mut next = self.meta.clone();
                next.server_snapshot_bytes = next.server_snapshot_bytes.max(sealed.len() as u64);
                next.server_log_bytes = 0;
                self.store.append(&[], &next).await?;
                self.meta = next;
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }
}
