//! The page's end of the sync worker: spawning it, sending the page's
//! edits as small Loro updates, and receiving what it reports.

use std::cell::{Cell, RefCell};

use dioxus::prelude::{Signal, WritableExt};
use futures::StreamExt;
use futures::channel::mpsc::{UnboundedReceiver, unbounded};
use gloo_worker::{Spawnable, WorkerBridge};
use hearth_shared::engine::loro::{ExportMode, LoroDoc, VersionVector};

use crate::device::DeviceRecord;
use crate::protocol::{FromWorker, SyncView, ToWorker};
use crate::worker::SyncWorker;

/// The loader script of the worker (see `pwa/worker.js`).
const WORKER_SCRIPT: &str = "/worker.js";

/// The page's line to the sync worker. A following tab has none.
pub struct WorkerLink {
    bridge: Option<WorkerBridge<SyncWorker>>,
    /// What the worker has of the page's document.
    sent: RefCell<VersionVector>,
    /// Edits sent and not yet reported durable.
    in_flight: Cell<u32>,
}

impl WorkerLink {
    /// Starts the worker; its reports arrive on the returned channel.
    pub fn spawn() -> (WorkerLink, UnboundedReceiver<FromWorker>) {
        let (tx, rx) = unbounded();
        crate::platform::mark("hearth-worker-spawned");
        let bridge = SyncWorker::spawner()
            .callback(move |report| {
                if matches!(report, FromWorker::Opened { .. }) {
                    crate::platform::mark("hearth-worker-answer");
                }
                let _ = tx.unbounded_send(report);
            })
            .with_loader(true)
            .as_module(true)
            .spawn(WORKER_SCRIPT);
        (
            WorkerLink {
                bridge: Some(bridge),
                sent: RefCell::default(),
                in_flight: Cell::new(0),
            },
            rx,
        )
    }

    /// A link to nothing, for a tab that only follows.
    pub fn none() -> WorkerLink {
        WorkerLink {
            bridge: None,
            sent: RefCell::default(),
            in_flight: Cell::new(0),
        }
    }

    pub fn send(&self, message: ToWorker) {
        if let Some(bridge) = &self.bridge {
            bridge.send(message);
        }
    }

    /// The worker has everything `doc` holds now (after opening, or after
    /// importing what the worker sent).
    pub fn mark_synced(&self, doc: &LoroDoc) {
        *self.sent.borrow_mut() = doc.oplog_vv();
    }

    /// Sends the page's new changes, if any; returns whether it sent any.
    pub fn flush(&self, doc: &LoroDoc) -> Result<bool, String> {
        doc.commit();
        let now = doc.oplog_vv();
        if now == *self.sent.borrow() {
            return Ok(false);
        }
        let update = doc
            .export(ExportMode::updates(&self.sent.borrow()))
            .map_err(|e| e.to_string())?;
        *self.sent.borrow_mut() = now;
        self.in_flight.set(self.in_flight.get() + 1);
        self.send(ToWorker::Edit { update });
        Ok(true)
    }

    /// Whether the worker has been sent everything `doc` holds.
    pub fn has_all_of(&self, doc: &LoroDoc) -> bool {
        doc.oplog_vv() == *self.sent.borrow()
    }

    /// Edits sent and not yet durable.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.get()
    }

    /// Records that `edits` edits were answered; returns how many remain.
    pub fn answered(&self, edits: u32) -> u32 {
        let left = self.in_flight.get().saturating_sub(edits);
        self.in_flight.set(left);
        left
    }
}

/// Waits for the worker's answer to `Open` (setting the sync pill from the
/// statuses before it, and marking its stages on the page's timeline):
/// the peer id to edit as, what the page's document lacks, the device
/// record. `Err` with the reason if it failed or stopped.
pub async fn opened(
    reports: &mut UnboundedReceiver<FromWorker>,
    mut sync: Signal<SyncView>,
) -> Result<(u64, Vec<u8>, Box<DeviceRecord>), String> {
    loop {
        match reports.next().await {
            Some(FromWorker::Opened {
                peer_id,
                update,
                record,
                status,
                stages,
            }) => {
                for (name, at) in &stages {
                    crate::platform::mark_at(name, *at);
                }
                crate::platform::mark("hearth-worker-opened");
                sync.set(status);
                return Ok((peer_id, update, record));
            }
            Some(FromWorker::Failed { reason }) => return Err(reason),
            Some(FromWorker::Status(view)) => sync.set(view),
            Some(_) => {}
            None => return Err("the sync worker stopped".to_owned()),
        }
    }
}
