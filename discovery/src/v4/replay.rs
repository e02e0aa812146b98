//! The replay filter for requests that make us send more than we got (FINDNODE, ENRREQUEST).
//! Requests are recognised by sender and signed content, not by packet hash, which a malleated
//! signature changes.

use std::collections::{HashSet, VecDeque};

use sha3::{Digest, Keccak256};

use crate::PeerId;

/// How many recent requests are remembered.
const REPLAY_WINDOW: usize = 8192;

/// The last [`REPLAY_WINDOW`] requests seen, oldest forgotten first.
pub(super) struct ReplayFilter {
    seen: HashSet<[u8; 32]>,
    order: VecDeque<[u8; 32]>,
    window: usize,
}

impl Default for ReplayFilter {
    fn default() -> Self {
        ReplayFilter::with_window(REPLAY_WINDOW)
    }
}

impl ReplayFilter {
    fn with_window(window: usize) -> Self {
        ReplayFilter {
            seen: HashSet::new(),
            order: VecDeque::new(),
            window,
        }
    }

    /// Remembers a request from `sender` whose signed part (everything after the packet's hash
    /// and signature) is `signed`; false if it was seen within the window.
    pub(super) fn first_time(&mut self, sender: &PeerId, signed: &[u8]) -> bool {
        let mut hasher = Keccak256::new();
        hasher.update(sender.0);
        hasher.update(signed);
        let digest: [u8; 32] = hasher.finalize().into();
        if !self.seen.insert(digest) {
            return false;
        }
        self.order.push_back(digest);
        if self.order.len() > self.window {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_passes_once_per_sender_within_the_window() {
        let mut filter = ReplayFilter::with_window(2);
        let (alice, bob) = (PeerId([1; 64]), PeerId([2; 64]));
        assert!(filter.first_time(&alice, b"find"));
        assert!(!filter.first_time(&alice, b"find"), "replayed");
        assert!(filter.first_time(&bob, b"find"), "another sender");
        assert!(filter.first_time(&alice, b"other"));
        // Alice's first request has left the window of two.
        assert!(filter.first_time(&alice, b"find"));
    }
}
