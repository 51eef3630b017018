//! The server model acting as a lying server, for tests of what devices
//! notice: records planted in the log, entries withheld, keys swapped.

use super::MemoryServer;
use crate::id::TokenId;

impl MemoryServer {
    /// Appends an entry that no device made (a corrupt or foreign blob).
    pub fn inject_entry(&self, body: &[u8]) -> u64 {
        let mut s = self.lock();
        s.head += 1;
        let seq = s.head;
        s.entries.insert(seq, body.to_vec());
        seq
    }

    /// Acts as a lying server: replaces the public key registered with
    /// `token` (a key of its own, so that the next rotation is wrapped for
    /// it).
    pub fn swap_device_key(&self, token: &TokenId, public_key: [u8; 32]) {
        self.lock().device_keys.insert(token.clone(), public_key);
    }

    /// Acts as a server that withholds an entry: it is gone from the
    /// log, and the sequence numbers around it stay as they were.
    pub fn withhold_entry(&self, seq: u64) -> bool {
        self.lock().entries.remove(&seq).is_some()
    }
}
