//! The tokio side of [`Keepalive`]: one sleep for all its deadlines, owned by the write loop,
//! and the read loop's progress handed over through one atomic.
//!
//! The read and write loops run side by side in one task, so the write loop cannot borrow state
//! the read loop updates (a future holding a `Cell` reference is not `Send`), and a lock or a
//! message per frame would cost more than the deadline it resets. Instead the read loop stores,
//! per frame, that it holds one and since when it waits for the next (a clock read and two
//! relaxed stores, where a tokio timeout per frame cost a clock read and a timer entry), and the
//! timer reads that only when it wakes. Between wakes the state's read deadline can only be
//! early, never late: the timer then wakes, finds the newer time, and sleeps again. A read loop
//! busy handing a frame on counts as waiting from the moment the timer looks, so a slow
//! protocol handler never looks like a silent remote.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::time::{Instant, Sleep, sleep_until};

use super::keepalive::{Expired, Keepalive};

/// Since when the read loop waits for a frame, written by the read loop, read by the timer.
pub(crate) struct ReadProgress {
    epoch: Instant,
    /// Nanoseconds from `epoch`, or [`BUSY`].
    waiting_since: AtomicU64,
}

/// The read loop holds a frame and hands it on: it is not waiting.
const BUSY: u64 = u64::MAX;

impl ReadProgress {
    /// The read loop waits for its first frame from `epoch` on.
    pub(crate) fn new(epoch: Instant) -> Self {
        ReadProgress {
            epoch,
            waiting_since: AtomicU64::new(0),
        }
    }

    /// The read loop waits for the next frame from now on.
    pub(crate) fn waiting(&self) {
        let nanos = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(BUSY - 1);
        self.waiting_since.store(nanos, Ordering::Relaxed);
    }

    /// The read loop received a frame and is handing it on.
    pub(crate) fn busy(&self) {
        self.waiting_since.store(BUSY, Ordering::Relaxed);
    }

    /// Since when the read loop waits, or `None` while it is busy.
    fn waiting_since(&self) -> Option<Instant> {
        match self.waiting_since.load(Ordering::Relaxed) {
            BUSY => None,
            nanos => Some(self.epoch + std::time::Duration::from_nanos(nanos)),
        }
    }
}

/// Drives a [`Keepalive`]: sleeps until its next deadline and reports what is due.
pub(crate) struct KeepaliveTimer<'a> {
    keepalive: Keepalive,
    /// Set to the state's next deadline or earlier, never later.
    sleep: Pin<Box<Sleep>>,
    reads: &'a ReadProgress,
}

impl<'a> KeepaliveTimer<'a> {
    /// Drives `keepalive`, learning of reads from `reads`.
    pub(crate) fn new(keepalive: Keepalive, reads: &'a ReadProgress) -> Self {
        let sleep = Box::pin(sleep_until(Instant::from_std(keepalive.poll_timeout())));
        KeepaliveTimer {
            keepalive,
            sleep,
            reads,
        }
    }

    /// A write begins now.
    pub(crate) fn write_started(&mut self) {
        self.keepalive.write_started(Instant::now().into_std());
        self.rearm_if_earlier();
    }

    /// The pending write finished.
    pub(crate) fn write_finished(&mut self) {
        self.keepalive.write_finished();
        self.rearm_if_earlier();
    }

    /// Waits until a deadline asks something of the session. Cancel-safe: it only waits in the
    /// sleep, and leaves the sleep armed for the next deadline before it returns.
    pub(crate) async fn expired(&mut self) -> Expired {
        loop {
            self.sleep.as_mut().await;
            let now = Instant::now();
            self.keepalive
                .read_started(self.reads.waiting_since().unwrap_or(now).into_std());
            let expired = self.keepalive.handle_timeout(now.into_std());
            let next = Instant::from_std(self.keepalive.poll_timeout());
            self.sleep.as_mut().reset(next);
            if let Some(expired) = expired {
                return expired;
            }
        }
    }

    /// Moves the sleep earlier if the state's next deadline now is; a later one is left alone
    /// (the timer wakes early and sleeps again), so most inputs cost no timer operation.
    fn rearm_if_earlier(&mut self) {
        let next = Instant::from_std(self.keepalive.poll_timeout());
        if next < self.sleep.deadline() {
            self.sleep.as_mut().reset(next);
        }
    }
}
