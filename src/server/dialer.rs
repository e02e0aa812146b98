//! The dialer task: drives the dial state (`dial_state.rs`), starting the static peers and
//! retries that are due and, while dial slots are free, pulling candidates from the node
//! sources (`sources.rs`).

use std::sync::Arc;
use std::time::Instant;

use std::net::SocketAddr;

use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::timeout;

use super::dial_state::is_dialable;
use super::sources::{FairMix, Source};
use super::{DialCandidate, Inner, setup};
use ethp2p_discovery::Enode;

/// How long the dialer sleeps when nothing is scheduled (it wakes on every change anyway).
const IDLE: std::time::Duration = std::time::Duration::from_secs(30);

pub(crate) async fn run(inner: Arc<Inner>, mut new_sources: mpsc::UnboundedReceiver<Source>) {
    let mut shutdown = inner.shutdown.subscribe();
    let mut mix = FairMix::default();
    loop {
        report_undialable(&inner);
        let (next_due, free_slot) = start_due_dials(&inner);
        let sleep = tokio::time::sleep_until(next_due.unwrap_or(Instant::now() + IDLE).into());
        tokio::select! {
            _ = shutdown.wait_for(|stopped| *stopped) => return,
            _ = inner.dial_wakeup.notified() => {}
            _ = sleep => {}
            Some(source) = new_sources.recv() => mix.add(source),
            candidate = mix.next(), if free_slot => dial_candidate(&inner, candidate),
        }
    }
}

/// Reports the static peers refused for an id that is no public key, each once (the dial state
/// never dials them).
fn report_undialable(inner: &Inner) {
    let undialable = inner.state.lock().dials.take_undialable();
    for enode in undialable {
        setup::undialable(inner, enode);
    }
}

/// Starts the static peers and retries that are due; returns when the next one is due and
/// whether a slot is free for a candidate.
fn start_due_dials(inner: &Arc<Inner>) -> (Option<Instant>, bool) {
    let mut state = inner.state.lock();
    if state.shutting_down {
        return (None, false);
    }
    let state = &mut *state;
    let limits = inner.dial_limits();
    let (dials, next_due) =
        state
            .dials
            .due_dials(Instant::now(), &state.peers, &limits, &state.trusted);
    let free_slot = state.dials.has_free_slot(&state.peers, &limits);
    for enode in dials {
        if inner.config.allows(enode.ip) {
            inner
                .tasks
                .spawn(dial(inner.clone(), enode, vec![enode.tcp_addr()]));
        } else {
            tracing::debug!(%enode, "not dialed: outside the net restriction");
            let outcome = super::dial_state::DialOutcome::Failed;
            state
                .dials
                .dial_finished(&enode, outcome, false, Instant::now());
        }
    }
    (next_due, free_slot)
}

fn dial_candidate(inner: &Arc<Inner>, candidate: DialCandidate) {
    let enode = candidate.enode;
    if !is_dialable(&enode.id) {
        // The record that named it is to blame, not our configuration: nothing to report.
        tracing::debug!(peer = ?enode.id, "candidate dropped: its id is not a public key");
        return;
    }
    let mut addrs = candidate.dial_order(inner.config.listen_addr);
    addrs.retain(|addr| inner.config.allows(addr.ip()));
    let taken = {
        let mut state = inner.state.lock();
        let state = &mut *state;
        !state.shutting_down
            && !addrs.is_empty()
            && state.dials.take_candidate(
                &enode,
                Instant::now(),
                &state.peers,
                &inner.dial_limits(),
            )
    };
    tracing::trace!(peer = ?enode.id, taken, "dial candidate");
    if taken {
        inner.tasks.spawn(dial(inner.clone(), enode, addrs));
    }
}

/// Dials `enode` at each of `addrs` in turn (a record's two families) until one connects,
/// then runs the handshake there; the dial fails when none connects.
async fn dial(inner: Arc<Inner>, enode: Enode, addrs: Vec<SocketAddr>) {
    crate::metrics::dial();
    let mut last_error = None;
    for addr in addrs {
        match timeout(inner.config.dial_timeout, TcpStream::connect(addr)).await {
            Ok(Ok(tcp)) => {
                // The address that answered is the one redials use.
                let reached = Enode {
                    ip: addr.ip(),
                    tcp_port: addr.port(),
                    ..enode
                };
                let origin = setup::Origin::Outbound(reached);
                return setup::run(inner, tcp, addr, origin).await;
            }
            failed => {
                let error = match failed {
                    Ok(Err(error)) => setup::SetupError::Connect(Arc::new(error)),
                    _ => setup::SetupError::ConnectTimeout,
                };
                // The record's other family, if any, is tried next.
                tracing::debug!(%addr, %error, "connect failed");
                last_error = Some((addr, error));
            }
        }
    }
    if let Some((addr, error)) = last_error {
        setup::dial_failed(&inner, enode, addr, error);
    }
}
