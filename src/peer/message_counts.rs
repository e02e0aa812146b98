//! The message counts every peer session of a server adds to. They live with the peer (which
//! counts) rather than the server (which reads them for `Stats`), so the peer module does not
//! depend on the server.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default, Debug)]
pub(crate) struct MessageCounts {
    messages_in: AtomicU64,
    messages_out: AtomicU64,
}

impl MessageCounts {
    /// One subprotocol message received.
    pub(crate) fn received(&self) {
        self.messages_in.fetch_add(1, Ordering::Relaxed);
    }

    /// `frames` frames written (subprotocol messages, Ping, Pong).
    pub(crate) fn sent(&self, frames: u64) {
        self.messages_out.fetch_add(frames, Ordering::Relaxed);
    }

    /// (messages received, frames written) so far.
    pub(crate) fn totals(&self) -> (u64, u64) {
        (
            self.messages_in.load(Ordering::Relaxed),
            self.messages_out.load(Ordering::Relaxed),
        )
    }
}
