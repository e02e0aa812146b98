//! Counts the server's live connection tasks so shutdown can wait for every socket to close.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;
use tracing::Instrument;

#[derive(Clone)]
pub(crate) struct TaskGroup {
    inner: Arc<(AtomicUsize, Notify)>,
    /// The server's span (its node id), so log lines of several nodes in one process are told
    /// apart.
    span: tracing::Span,
}

struct Guard(Arc<(AtomicUsize, Notify)>);

impl Drop for Guard {
    fn drop(&mut self) {
        if self.0.0.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.1.notify_waiters();
        }
    }
}

impl TaskGroup {
    pub(crate) fn new(span: tracing::Span) -> Self {
        TaskGroup {
            inner: Arc::default(),
            span,
        }
    }

    /// Spawns `task`, counted until it finishes (or is cancelled).
    pub(crate) fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.inner.0.fetch_add(1, Ordering::AcqRel);
        let guard = Guard(self.inner.clone());
        // Boxed, the (large) connection future lives once on the heap; captured inline, the
        // wrapper would hold it twice (as captured value and as awaited future).
        let task = Box::pin(task);
        let task = async move {
            let _guard = guard;
            task.await;
        };
        tokio::spawn(task.instrument(self.span.clone()));
    }

    /// Spawns a server-lifetime task (listener, dialer) in the server's span, not counted.
    pub(crate) fn spawn_service(&self, task: impl Future<Output = ()> + Send + 'static) {
        tokio::spawn(task.instrument(self.span.clone()));
    }

    /// Waits until no counted task is running.
    pub(crate) async fn idle(&self) {
        loop {
            let notified = self.inner.1.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.inner.0.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}
