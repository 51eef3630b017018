//! [`Device`]: a workspace on this machine, synced with a server: the
//! engine over a [`FsStore`] and an [`HttpTransport`], the typed
//! [`Workspace`] over its document, and the [`Profile`].
//!
//! The device is the engine's host: it reads the clock, draws random
//! numbers, sleeps between retries and listens to the events stream.
//!
//! The parts of [`Device`] by what they do:
//! - `lifecycle`: creating, opening, pairing, joining, registering and
//!   recovering a workspace on this device;
//! - `owner`: the owner's (master device's) powers: encrypting, removing a
//!   device and rotating the key, the recovery key, invites and tokens;
//! - `sync`: one sync round, and the loop that keeps syncing
//!   ([`Device::watch`]).
//!
//! The clock and random source are in [`crate::platform`] (re-exported here).

use std::path::{Path, PathBuf};

use hearth_migrations::{NewNote, Note, NoteFilter, SchemaError, Workspace, new_id};
use hearth_shared::engine::{Engine, SyncStatus};

use crate::error::DeviceError;
use crate::keyring::{self, Keyring};
use crate::profile::Profile;
use crate::store_fs::FsStore;
use crate::transport_http::HttpTransport;

mod lifecycle;
mod owner;
mod sync;

pub use crate::platform::{now_ms, random_bytes, random16};

/// A workspace on this device.
pub struct Device {
    dir: PathBuf,
    profile: Profile,
    engine: Engine<FsStore, HttpTransport>,
    workspace: Workspace,
    /// The workspace's keys, if it is encrypted.
    keys: Option<Keyring>,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("dir", &self.dir)
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

impl Device {
    /// Whether the workspace is end-to-end encrypted on this device.
    pub fn is_encrypted(&self) -> bool {
        self.keys.is_some()
    }

    /// The keyring this device holds, if the workspace is encrypted.
    pub fn keys(&self) -> Option<&Keyring> {
        self.keys.as_ref()
    }

    /// The directory this device keeps its workspace in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    pub fn workspace(&self) -> &Workspace {
        &self.workspace
    }

    pub fn engine(&self) -> &Engine<FsStore, HttpTransport> {
        &self.engine
    }

    /// The engine, to tune it (e.g. compaction thresholds).
    pub fn engine_mut(&mut self) -> &mut Engine<FsStore, HttpTransport> {
        &mut self.engine
    }

    pub fn status(&self) -> SyncStatus {
        self.engine.status()
    }

    /// Edits the workspace and saves the edit durably before returning.
    pub async fn edit<R>(
        &mut self,
        f: impl FnOnce(&Workspace, i64) -> Result<R, SchemaError>,
    ) -> Result<R, DeviceError> {
        let now = i64::try_from(now_ms()).unwrap_or(i64::MAX);
        let out = f(&self.workspace, now)?;
        self.engine.save_local().await?;
        Ok(out)
    }

    /// Adds a note, saved locally.
    pub async fn add_note(
        &mut self,
        title: &str,
        body: &str,
        tags: &[&str],
    ) -> Result<Note, DeviceError> {
        let id = new_id(random16()?);
        self.edit(|ws, now| {
            ws.add_note(
                &id,
                NewNote {
                    title,
                    body,
                    tags,
                    pinned: false,
                },
                now,
            )
        })
        .await
    }

    /// The notes not in the bin.
    pub fn list_notes(&self) -> Vec<Note> {
        self.workspace.list_notes(NoteFilter::Live)
    }

    /// Keeps the keyring if the engine's gained an epoch (a key the
    /// owner's device wrapped for this one after a rotation).
    fn keep_changed_ring(&mut self) -> Result<(), DeviceError> {
        if let Some(ring) = self.engine.take_changed_ring() {
            keyring::save(&ring, &self.dir)?;
            self.keys = Some(ring);
        }
        Ok(())
    }
}
