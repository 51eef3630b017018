//! Syncing the device: one round ([`Device::sync_once`]), and the loop
//! that keeps syncing as the engine's driver decides ([`Device::watch`]).

use std::future::Future;
use std::time::Duration;

use hearth_shared::engine::{
    Action, DriverFacts, RoundOutcome, RoundReport, Standing, next_action,
};

use super::Device;
use crate::error::DeviceError;
use crate::platform::{jitter, now_ms};

impl Device {
    /// One sync round; then migrates what older devices wrote, if anything.
    pub async fn sync_once(&mut self) -> Result<RoundReport, DeviceError> {
        let result = self.engine.sync(now_ms()).await;
        self.keep_changed_ring()?;
        let report = result?;
        self.workspace.refresh()?;
        self.engine.save_local().await?;
        Ok(report)
    }

    /// Where this device stands with its server, before any refusal.
    fn standing(&self) -> Standing {
        match &self.profile.server {
            None => Standing::Unconnected,
            Some(_) if self.engine.can_write() => Standing::ReadWrite,
            Some(_) => Standing::ReadOnly,
        }
    }

    /// Keeps syncing until `stop` completes, doing what
    /// [`next_action`] decides: a round whenever the server announces a new
    /// head (or at the safety poll), retrying with backoff. Returns the
    /// server's refusal if it refuses the token for good, and
    /// [`DeviceError::NoServer`] if the workspace has no server.
    pub async fn watch(&mut self, stop: impl Future<Output = ()>) -> Result<(), DeviceError> {
        let mut stop = std::pin::pin!(stop);
        let mut facts = DriverFacts::default();
        // The token's refusal, once the server refused it for good.
        let mut refused = None;
        loop {
            facts.failures = self.engine.failures();
            facts.retry_after_ms = self.engine.retry_after_ms();
            facts.standing = match refused {
                Some(_) => Standing::Removed,
                None => self.standing(),
            };
            let action = next_action(&facts, self.engine.backoff(), jitter()?);
            facts = facts.quiet();
            match action {
                Action::SyncNow => {
                    let outcome = match self.sync_once().await {
                        Ok(report) if report.more => RoundOutcome::More,
                        Ok(_) => RoundOutcome::Done,
                        Err(DeviceError::Engine(e)) => {
                            if e.refusal().is_some() || e.key_problem().is_some() {
                                refused = Some(e);
                            }
                            RoundOutcome::Failed
                        }
                        Err(e) => return Err(e),
                    };
                    facts = facts.after_round(outcome);
                }
                Action::WaitForHead { poll_ms } => {
                    tokio::select! {
                        () = &mut stop => return Ok(()),
                        head = self.engine.wait_for_head() => match head {
                            Ok(head) => {
                                self.engine.note_head(head);
                                facts.head_announced = true;
                            }
                            Err(_) => facts.events_failed = true,
                        },
                        () = tokio::time::sleep(Duration::from_millis(poll_ms)) => {
                            facts.timer_elapsed = true;
                        }
                    }
                }
                // No local edits happen while the device watches.
                Action::Sleep { ms, .. } => {
                    tokio::select! {
                        () = &mut stop => return Ok(()),
                        () = tokio::time::sleep(Duration::from_millis(ms)) => {
                            facts.timer_elapsed = true;
                        }
                    }
                }
                Action::Stop => {
                    return Err(refused.map_or(DeviceError::NoServer, DeviceError::Engine));
                }
            }
        }
    }
}
