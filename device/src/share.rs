//! Public read-only links from the native device, as the app makes them
//! (see `hearth_shared::share`): `hearth-device share NOTE_ID`, `shares`,
//! `unshare SHARE_ID`. The note and its files are sealed anew under a key
//! that only the link holds; the link is kept in the workspace document.

use hearth_migrations::shares::ShareRecord;
use hearth_shared::api::CreateShare;
use hearth_shared::engine::TransportError;
use hearth_shared::error::ErrorCode;
use hearth_shared::files::{FileRef, open_chunk};
use hearth_shared::id::ShareId;
use hearth_shared::share::{ShareLink, SharedFile, SharedNote};

use super::device::Device;
use super::error::DeviceError;
use super::files::store_small;
use super::platform::{now_ms, random_bytes};

impl Device {
    /// Makes a public link to note `note_id` that lasts `expires_in`
    /// seconds, keeps it in the document and syncs; the link's record.
    pub async fn share_note(
        &mut self,
        note_id: &str,
        expires_in: u64,
    ) -> Result<ShareRecord, DeviceError> {
        let origin = self
            .profile()
            .server
            .as_ref()
            .ok_or(DeviceError::NoServer)?
            .origin
            .clone();
        let note = self
            .workspace()
            .get_note(note_id)
            .ok_or_else(|| DeviceError::Corrupt(format!("no note {note_id} in this workspace")))?;
        let chunks = self.chunks()?;
        let sealing = ShareLink {
            id: ShareId::from_random([0; 16]),
            key: random_bytes()?,
        };
        let sealer = sealing.sealer();
        let keys = self.epoch_keys();
        let mut shared = SharedNote::new(note.title, note.body, note.tags, note.updated_at);
        let files: Vec<FileRef> = self
            .workspace()
            .note_files(note_id)
            .iter()
            .filter_map(|(_, json)| FileRef::from_json(json))
            .collect();
        for file in files {
            let mut bytes = Vec::with_capacity(usize::try_from(file.size).unwrap_or(0));
            for chunk in &file.chunks {
                let stored = chunks
                    .api
                    .get_chunk(&chunks.token, &chunks.ws, &chunk.name)
                    .await?;
                let content = open_chunk(&keys, chunk, &stored)
                    .map_err(|e| DeviceError::File(file.name.clone(), e.to_string()))?;
                bytes.extend(content);
            }
            shared.files.push(SharedFile {
                chunks: store_small(&chunks, &sealer, &bytes).await?,
                name: file.name,
                mime: file.mime,
                size: file.size,
            });
        }
        let (document, stored) = sealing
            .seal_note(&shared)
            .map_err(|e| DeviceError::Corrupt(e.to_string()))?;
        chunks
            .api
            .put_chunk(&chunks.token, &chunks.ws, &document, &stored)
            .await?;
        let ask = CreateShare {
            document,
            chunks: shared.chunk_names(),
            expires_in,
        };
        let made = chunks
            .api
            .create_share(&chunks.token, &chunks.ws, &ask)
            .await?;
        let link = ShareLink {
            id: made.share_id.clone(),
            key: sealing.key,
        };
        let record = ShareRecord {
            id: made.share_id.to_string(),
            note: note_id.to_owned(),
            url: link.url(&origin),
            created_ms: i64::try_from(now_ms()).unwrap_or(i64::MAX),
            expires_ms: i64::try_from(made.expires_at.saturating_mul(1000)).unwrap_or(i64::MAX),
        };
        self.edit(|ws, _| ws.add_share(&record)).await?;
        self.sync_once().await?;
        Ok(record)
    }

    /// The links the workspace made, newest first.
    pub fn shares(&self) -> Vec<ShareRecord> {
        self.workspace().shares(None)
    }

    /// Revokes link `id` (one the server forgot already counts), forgets it
    /// in the document and syncs.
    pub async fn unshare(&mut self, id: &str) -> Result<(), DeviceError> {
        let share = ShareId::parse(id).map_err(|e| DeviceError::Corrupt(format!("{id}: {e}")))?;
        let chunks = self.chunks()?;
        match chunks
            .api
            .revoke_share(&chunks.token, &chunks.ws, &share)
            .await
        {
            Ok(()) => {}
            Err(TransportError::Server {
                code: Some(ErrorCode::ShareNotFound),
                ..
            }) => {}
            Err(e) => return Err(e.into()),
        }
        self.edit(|ws, _| ws.remove_share(id)).await?;
        self.sync_once().await?;
        Ok(())
    }
}
