//! The accept loop. Every accepted connection passes the net restriction and the per-IP throttle,
//! then takes a pending-handshake slot. When all `max_pending` slots are taken, the oldest
//! handshake that has not yet delivered a valid auth is dropped to make room: a flood of
//! connections that handshake slowly (one byte per second, say) then cannot lock out a peer that
//! completes its handshake promptly, and memory stays bounded by `max_pending` connections.
//! Handshakes past their auth are about to finish and are never dropped this way; when every
//! slot holds one, the listener waits for a slot, as go-ethereum does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use std::sync::atomic::{AtomicBool, Ordering};

use super::{Inner, PendingEntry, setup};
use ethp2p_discovery::netutil::{canonical_addr, is_lan};

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
        {
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
        }
        let Some((evict_rx, slot, authenticated)) = take_slot(&inner, &mut shutdown).await else {
            return;
        };
        let pending = setup::PendingSlot {
            slot,
            evicted: evict_rx,
            authenticated,
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

/// Takes a pending-handshake slot, dropping the oldest not-yet-authenticated handshake if all
/// are taken, or waiting until one frees. `None` on shutdown.
async fn take_slot(
    inner: &Inner,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
) -> Option<(oneshot::Receiver<()>, u64, Arc<AtomicBool>)> {
    loop {
        let released = inner.pending_released.notified();
        tokio::pin!(released);
        released.as_mut().enable();
        {
            let mut state = inner.state.lock();
            if state.pending.len() >= inner.config.max_pending.max(1) {
                let victim = state
                    .pending
                    .iter()
                    .find(|(_, entry)| !entry.authenticated.load(Ordering::Acquire))
                    .map(|(slot, _)| *slot);
                if let Some(entry) = victim.and_then(|slot| state.pending.remove(&slot)) {
                    let _ = entry.evict.send(());
                }
            }
            if state.pending.len() < inner.config.max_pending.max(1) {
                let (evict, evict_rx) = oneshot::channel();
                let authenticated = Arc::new(AtomicBool::new(false));
                let slot = state.next_pending;
                state.next_pending += 1;
                let entry = PendingEntry {
                    evict,
                    authenticated: authenticated.clone(),
                };
                state.pending.insert(slot, entry);
                return Some((evict_rx, slot, authenticated));
            }
        }
        tokio::select! {
            _ = released => {}
            _ = shutdown.wait_for(|stopped| *stopped) => return None,
        }
    }
}
