//! The accept loop. Every accepted connection passes the net restriction and the per-IP
//! throttle (`inbound_throttle.rs`), then takes a pending-handshake slot
//! (`pending_handshakes.rs`), evicting the oldest unauthenticated handshake when all are taken
//! or waiting for a slot when every one holds an authenticated handshake. Both rules are plain
//! state; this task only feeds them the connections and the time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::inbound_throttle::InboundThrottle;
use super::pending_handshakes::Take;
use super::{Inner, setup};
use ethp2p_discovery::netutil::canonical_addr;

/// After an accept error (out of file descriptors, say) wait this long before accepting again.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

pub(crate) async fn run(inner: Arc<Inner>, listener: TcpListener) {
    let mut shutdown = inner.shutdown.subscribe();
    let mut throttle = InboundThrottle::new(inner.config.inbound_throttle);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|stopped| *stopped) => return,
        };
        let (tcp, remote_addr) = match accepted {
            Ok(accepted) => {
                crate::metrics::accept();
                accepted
            }
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                continue;
            }
        };
        // A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d: they are IPv4 here.
        let remote_addr = canonical_addr(remote_addr);
        let ip = remote_addr.ip();
        if !inner.config.allows(ip) {
            tracing::debug!(%remote_addr, "inbound refused: not in the net restriction");
            continue;
        }
        if !throttle.admit(ip, Instant::now()) {
            tracing::debug!(%remote_addr, "inbound refused: connected too recently");
            continue;
        }
        let Some((slot, evicted)) = take_slot(&inner, &mut shutdown).await else {
            return;
        };
        let pending = setup::PendingSlot { slot, evicted };
        let task = setup::run(
            inner.clone(),
            tcp,
            remote_addr,
            setup::Origin::Inbound(pending),
        );
        inner.tasks.spawn(task);
    }
}

/// Takes a pending-handshake slot, telling the handshake it evicts (if any) to stop, or waits
/// until a slot frees. Returns the slot and the receiver its own eviction would fire; `None`
/// on shutdown.
async fn take_slot(
    inner: &Inner,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
) -> Option<(u64, oneshot::Receiver<()>)> {
    loop {
        let released = inner.pending_released.notified();
        tokio::pin!(released);
        released.as_mut().enable();
        let (evict, evicted) = oneshot::channel();
        let taken = inner.state.lock().pending.take(evict);
        match taken {
            Take::Free(slot) => return Some((slot, evicted)),
            Take::Evicted { slot, victim } => {
                // The victim's task may have ended already: nobody to tell then.
                let _ = victim.send(());
                return Some((slot, evicted));
            }
            Take::Wait => {}
        }
        tokio::select! {
            _ = released => {}
            _ = shutdown.wait_for(|stopped| *stopped) => return None,
        }
    }
}
