//! The accept loop. Every accepted connection passes the net restriction and the per-IP throttle,
//! then takes a pending-handshake slot. When all `max_pending` slots are taken, the OLDEST
//! pending handshake is dropped to make room: a flood of connections that handshake slowly (one
//! byte per second, say) then cannot lock out a peer that completes its handshake promptly, and
//! memory stays bounded by `max_pending` connections.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::{Inner, setup};
use ethp2p_discovery::netutil::is_lan;

/// After an accept error (out of file descriptors, say) wait this long before accepting again.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

pub(crate) async fn run(inner: Arc<Inner>, listener: TcpListener) {
    let mut shutdown = inner.shutdown.subscribe();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|stopped| *stopped) => return,
        };
        let (tcp, remote_addr) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                continue;
            }
        };
        let ip = remote_addr.ip();
        if !inner.config.allows(ip) {
            tracing::debug!(%remote_addr, "inbound refused: not in the net restriction");
            continue;
        }
        let (evict_rx, slot) = {
            let mut state = inner.state.lock();
            if !is_lan(ip) {
                let now = Instant::now();
                let throttle = inner.config.inbound_throttle;
                state
                    .inbound_history
                    .retain(|_, seen| now.duration_since(*seen) < throttle);
                if state.inbound_history.contains_key(&ip) {
                    tracing::debug!(%remote_addr, "inbound refused: connected too recently");
                    continue;
                }
                state.inbound_history.insert(ip, now);
            }
            if state.pending.len() >= inner.config.max_pending.max(1) {
                if let Some((_, evict)) = state.pending.pop_first() {
                    let _ = evict.send(());
                }
            }
            let (evict, evict_rx) = oneshot::channel();
            let slot = state.next_pending;
            state.next_pending += 1;
            state.pending.insert(slot, evict);
            (evict_rx, slot)
        };
        let pending = setup::PendingSlot {
            slot,
            evicted: evict_rx,
        };
        let task = setup::run(
            inner.clone(),
            tcp,
            remote_addr,
            setup::Origin::Inbound(pending),
        );
        inner.tasks.spawn(task);
    }
}
