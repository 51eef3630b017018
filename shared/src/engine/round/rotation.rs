//! The workspace's keys in the sync engine: the check a round makes before
//! it exchanges anything with the server (key epochs, this device's public
//! key, epochs wrapped for it), giving a new epoch to every device after a
//! rotation, sealing from now on, and the owner's [`Engine::encrypt`],
//! [`Engine::rotate`] and [`Engine::reseal_server`].

use super::MAX_STEPS;
use crate::engine::Keys;
use crate::engine::engine::Engine;
use crate::engine::error::{EngineError, KeyProblem};
use crate::engine::store::Store;
use crate::engine::transport::Transport;
use crate::error::ErrorCode;

/// The document's root map where a rotation records its new epoch (a
/// small change sealed under it, by which devices learn of it).
pub const ROTATION_ROOT: &str = "key_rotation";

impl<S: Store, T: Transport> Engine<S, T> {
    /// Before this device exchanges anything with the server: compares the
    /// server's key epochs with its keys. A device without keys stops if
    /// the workspace is encrypted; one with keys registers its public key,
    /// takes in epochs wrapped for it that it lacks (a rotation while it
    /// was away), and stops if its key does not open its epoch's key
    /// check; an owner's device records the epoch it writes with if the
    /// server does not have it yet (its first sync, or a rotation), and
    /// then gives it to every device.
    pub(super) async fn check_keys(&mut self) -> Result<(), EngineError> {
        let epochs = self.transport.key_epochs().await?;
        let Some(keys) = &self.keys else {
            return match epochs.is_empty() {
                true => Ok(()),
                false => Err(KeyProblem::NeedsKey.into()),
            };
        };
        if let Some(secret) = &keys.ring.device {
            let public = crate::devicekey::public_key(secret);
            let device = crate::identity::DeviceKeys::of(secret);
            match self.transport.put_device_key(&public).await {
                // A server from before device keys: nothing to register.
                Err(e) if e.code() != Some(ErrorCode::NotFound) => return Err(e.into()),
                _ => {}
            }
            // The workspace's own record of this device's keys, which the
            // owner's device trusts over the server's.
            if self.config.can_write
                && let Some(token) = self.transport.token_id()
                && crate::engine::roster::introduce(&self.doc, &token, &device, self.meta.peer_id)
                    .map_err(|e| EngineError::Document(e.to_string()))?
            {
                self.save_local().await?;
            }
        }
        let Some(keys) = &self.keys else {
            return Ok(());
        };
        if epochs
            .iter()
            .any(|(epoch, _)| crate::sealed::key_of(&keys.ring.epochs, *epoch).is_none())
        {
            self.learn_keys().await?;
        }
        let Some(keys) = &mut self.keys else {
            return Ok(());
        };
        for (epoch, check) in &epochs {
            if let Some(key) = crate::sealed::key_of(&keys.ring.epochs, *epoch)
                && !crate::sealed::key_matches(key, check)
            {
                return Err(KeyProblem::WrongKey { epoch: *epoch }.into());
            }
        }
        if let Some((newest, _)) = epochs.last()
            && epochs
                .iter()
                .all(|(epoch, _)| crate::sealed::key_of(&keys.ring.epochs, *epoch).is_none())
        {
            return Err(KeyProblem::MissingEpoch { epoch: *newest }.into());
        }
        let current = keys.ring.current;
        if epochs.iter().any(|(epoch, _)| *epoch == current) {
            return Ok(());
        }
        let Some(key) = keys.ring.writing() else {
            return Err(KeyProblem::MissingEpoch { epoch: current }.into());
        };
        let check = crate::sealed::key_check(key, (keys.iv)());
        // Kept before the request: if its answer is lost, the next round
        // finds the epoch recorded and still gives it to every device.
        self.set_rotating(true).await?;
        match self.transport.put_key_check(current, &check).await {
            Ok(()) => Ok(()),
            // Not the owner's device: the owner records the epoch.
            Err(e) if matches!(e.code(), Some(ErrorCode::MasterRequired)) => {
                self.set_rotating(false).await
            }
            Err(e) if e.code() == Some(ErrorCode::KeyEpochExists) => {
                self.set_rotating(false).await?;
                Err(KeyProblem::WrongKey { epoch: current }.into())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Records (durably) whether a key epoch waits to be given to every
    /// device.
    async fn set_rotating(&mut self, rotating: bool) -> Result<(), EngineError> {
        if self.meta.rotating == rotating {
            return Ok(());
        }
        let mut next = self.meta.clone();
        next.rotating = rotating;
        self.store.append(&[], &next).await?;
        self.meta = next;
        Ok(())
    }

    /// Fetches the key epochs wrapped for this device and takes in those
    /// it lacks (it then writes with the newest). Returns whether it
    /// learned any. A copy that does not unwrap (made for a key this
    /// device replaced) is left aside.
    pub(super) async fn learn_keys(&mut self) -> Result<bool, EngineError> {
        let Some(secret) = self.keys.as_ref().and_then(|k| k.ring.device.clone()) else {
            return Ok(false);
        };
        let wrapped = self.transport.device_wraps().await?;
        let Some(keys) = &mut self.keys else {
            return Ok(false);
        };
        let mut learned = false;
        for copy in wrapped {
            if let Ok(key) = crate::devicekey::unwrap_for(&secret, &copy, &keys.workspace) {
                learned |= keys.ring.learn(key);
            }
        }
        self.ring_changed |= learned;
        Ok(learned)
    }

    /// Gives the epoch this owner's device writes with to every device of
    /// the workspace with a registered public key (one wrapped copy each),
    /// wraps every epoch for the recovery key if this device keeps what
    /// it needs of it, and, after a rotation, writes a small change under
    /// the new epoch so that devices that are online learn of it at once.
    pub(super) async fn finish_rotation(&mut self) -> Result<(), EngineError> {
        // First everything the server has: the keys devices recorded (a
        // device that joined since this one last pulled) are among it.
        let mut pulled = super::RoundReport::default();
        for _ in 0..MAX_STEPS {
            if !self.pull(&mut pulled).await? {
                break;
            }
        }
        if !self.meta.removing.is_empty() {
            let held = self.doc.oplog_vv();
            for removal in &self.meta.removing {
                crate::engine::roster::record_removal(
                    &self.doc,
                    &removal.token,
                    &held,
                    removal.epoch,
                )
                .map_err(|e| EngineError::Document(e.to_string()))?;
            }
            self.save_local().await?;
            let mut next = self.meta.clone();
            next.removing.clear();
            self.store.append(&[], &next).await?;
            self.meta = next;
        }
        let devices = match self.transport.device_public_keys().await {
            Ok(devices) => devices,
            Err(e) if e.code() == Some(ErrorCode::MasterRequired) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let Some(keys) = &mut self.keys else {
            return Ok(());
        };
        let Some(key) = keys.ring.writing().cloned() else {
            return Ok(());
        };
        let members = crate::engine::roster::members(&self.doc);
        let mut copies = Vec::with_capacity(devices.len());
        let mut warnings = Vec::new();
        for (token, public) in &devices {
            let member = members.iter().find(|m| &m.token == token);
            let Some(recorded) = member.and_then(|m| m.keys) else {
                warnings.push(format!(
                    "device {token} never recorded its keys in the workspace (paired before this version, or read-only); it was not given the new key: pair it again"
                ));
                continue;
            };
            if recorded.x25519 != *public {
                warnings.push(format!(
                    "device {token}: the server offered a different key from the one the device recorded (fingerprint {}); it was not given the new key",
                    recorded.fingerprint()
                ));
                continue;
            }
            if member.is_some_and(|m| m.removal.is_some()) {
                continue;
            }
            let ephemeral = (keys.random)();
            let iv = (keys.iv)();
            if let Some(copy) =
                crate::devicekey::wrap_for(public, &key, &keys.workspace, ephemeral, iv)
            {
                copies.push((token.clone(), copy));
            }
        }
        let recovery = keys
            .ring
            .recovery
            .as_ref()
            .map(|r| (r.credential_hash, r.wrap_keys(&keys.ring, &mut keys.iv)));
        let rotated = keys.ring.epochs.len() > 1;
        self.key_warnings = warnings;
        if !copies.is_empty() {
            self.transport
                .put_device_wraps(key.epoch(), &copies)
                .await?;
        }
        if let Some((hash, wrapped)) = recovery {
            self.transport.put_recovery(&hash, &wrapped).await?;
        }
        if rotated {
            self.doc
                .get_map(ROTATION_ROOT)
                .insert("epoch", i64::from(key.epoch()))
                .map_err(|e| EngineError::Document(e.to_string()))?;
            self.save_local().await?;
        }
        self.set_rotating(false).await
    }

    /// Once a device holds the workspace's key, every operation of its own
    /// must reach the server sealed: if some went before it held the key
    /// (plainly, when it was paired again after the workspace was
    /// encrypted), it sends them all again, sealed, and drops a batch it
    /// had formed in plain. Devices that hold the key merge the duplicates
    /// away; the server holds them sealed.
    pub(super) async fn seal_from_now(&mut self) -> Result<(), EngineError> {
        if self.keys.is_none() || self.meta.sealed {
            return Ok(());
        }
        let mut next = self.meta.clone();
        next.sealed = true;
        next.acked_counter = 0;
        self.store.set_outbox(None, &next).await?;
        self.meta = next;
        self.outbox = None;
        Ok(())
    }

    /// Encrypts a workspace that was not, on its owner's device: brings the
    /// device level with the server (pushing its last plaintext edits),
    /// switches to `keys`, records their epoch, then [`Self::reseal_server`].
    /// The host keeps `keys` before it calls this, so that a device stopped
    /// half-way still holds the key its workspace now needs; it calls
    /// `reseal_server` again if this fails after the switch. Devices
    /// without the key stop at their next start and say they need it.
    pub async fn encrypt(&mut self, keys: Keys, now_ms: u64) -> Result<(), EngineError> {
        if self.keys.is_some() {
            return Err(EngineError::Document(
                "this workspace is already encrypted".into(),
            ));
        }
        self.catch_up(now_ms).await?;
        self.set_keys(keys);
        self.check_keys().await?;
        self.keys_checked = true;
        // Everything this device sent is in the sealed snapshot to come.
        self.meta.sealed = true;
        self.reseal_server().await
    }

    /// Syncs until everything this device has is on the server and it has
    /// everything the server has.
    async fn catch_up(&mut self, now_ms: u64) -> Result<(), EngineError> {
        for _ in 0..MAX_STEPS {
            let report = self.sync(now_ms).await?;
            if !report.more && self.outbox.is_none() && self.own_counter() == self.saved_counter {
                return Ok(());
            }
        }
        Err(EngineError::Document(
            "the device did not catch up with the server; try again".into(),
        ))
    }

    /// Rotates the workspace key on its owner's device, after a device was
    /// removed (its token revoked): writes with `ring`'s newest epoch (a
    /// new key the host made and kept first), records it, wraps it for
    /// every remaining device and the recovery key, catches up, and puts a
    /// snapshot sealed under it. From then on
    /// every device writes with it; the removed one, holding only the old
    /// key, opens nothing written after. Devices that were away take the
    /// new key when they come back; what they wrote under the old one
    /// still merges. A rotation stopped half-way is finished at the next
    /// round.
    ///
    /// With `removed` (the token just revoked), the removal is recorded in
    /// the workspace's document once this device has pulled everything,
    /// with what it then holds of the removed device's edits and the
    /// newest key epoch the removed device could hold: from then on every
    /// device refuses any record the removed device writes beyond that
    /// (see `roster::judge`).
    pub async fn rotate(
        &mut self,
        ring: &crate::sealed::Keyring,
        removed: Option<&crate::id::TokenId>,
        now_ms: u64,
    ) -> Result<(), EngineError> {
        let Some(keys) = &self.keys else {
            return Err(EngineError::Document(
                "only an encrypted workspace has a key to rotate".into(),
            ));
        };
        let held_epoch = keys.ring.newest();
        if ring.newest() <= held_epoch {
            return Err(EngineError::Document(
                "a rotation needs a key epoch newer than the workspace's".into(),
            ));
        }
        // The next round records the new epoch, pulls everything (the keys
        // of devices that joined since this device last pulled are there,
        // and so is what the removed device sent before it was revoked),
        // records the removal, gives the epoch to every device and pushes
        // under it (see `check_keys` and `finish_rotation`); if this stops
        // half-way, a later round does.
        if let Some(token) = removed {
            let mut next = self.meta.clone();
            next.removing.push(crate::store::PendingRemoval {
                token: token.clone(),
                epoch: held_epoch,
            });
            self.store.append(&[], &next).await?;
            self.meta = next;
        }
        self.merge_ring(ring);
        self.ring_changed = true;
        self.keys_checked = false;
        self.catch_up(now_ms).await?;
        if !self.compact_server().await? {
            return Err(EngineError::Document(
                "the server did not take the snapshot under the new key; it is tried again at the next compaction".into(),
            ));
        }
        Ok(())
    }

    /// Replaces the server's whole log with a snapshot sealed under the
    /// current key, then has the server delete what it kept of the old log
    /// for undo: afterwards it holds no plaintext of the workspace (backups
    /// it took before still do). Needs keys and every edit saved.
    pub async fn reseal_server(&mut self) -> Result<(), EngineError> {
        if self.keys.is_none() {
            return Err(EngineError::Document(
                "the workspace has no key to seal its snapshot with".into(),
            ));
        }
        if self.meta.cursor > 0 && !self.compact_server().await? {
            return Err(EngineError::Document(
                "the server did not take the encrypted snapshot; try again".into(),
            ));
        }
        self.transport.forget_compactions().await?;
        Ok(())
    }
}
