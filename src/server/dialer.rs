//! Keeps static peers connected: dials each one that is neither connected nor being dialed,
//! within the dial slots (`max_peers / dial_ratio`; trusted peers bypass them), and redials a
//! failed one after an exponential backoff.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::time::timeout;

use super::discovery::DIAL_HISTORY;
use super::{Inner, setup};
use ethp2p_discovery::Enode;

/// First redial delay after a failure; doubles per consecutive failure.
const BACKOFF_BASE: Duration = Duration::from_millis(500);
/// Longest redial delay.
const BACKOFF_MAX: Duration = Duration::from_secs(30);

pub(crate) fn backoff(failures: u32) -> Duration {
    BACKOFF_BASE
        .saturating_mul(1 << failures.min(16))
        .min(BACKOFF_MAX)
}

pub(crate) async fn run(inner: Arc<Inner>) {
    let mut shutdown = inner.shutdown.subscribe();
    loop {
        let next_attempt = start_due_dials(&inner);
        let sleep = match next_attempt {
            Some(at) => tokio::time::sleep_until(at.into()),
            None => tokio::time::sleep(BACKOFF_MAX),
        };
        tokio::select! {
            _ = shutdown.wait_for(|stopped| *stopped) => return,
            _ = inner.dial_wakeup.notified() => {}
            _ = sleep => {}
        }
    }
}

/// Starts every dial that is due and fits; returns when the next backed-off one is due.
fn start_due_dials(inner: &Arc<Inner>) -> Option<Instant> {
    let now = Instant::now();
    let mut next_attempt: Option<Instant> = None;
    let mut state = inner.state.lock();
    if state.shutting_down {
        return None;
    }
    let mut dials = Vec::new();
    let mut used_slots = state.peers.dialed() + state.dialing.len();
    for (id, peer) in &state.static_peers {
        if *id == inner.local_id || state.peers.contains(id) || state.dialing.contains(id) {
            continue;
        }
        if peer.next_attempt > now {
            next_attempt =
                Some(next_attempt.map_or(peer.next_attempt, |t| t.min(peer.next_attempt)));
            continue;
        }
        let trusted = state.trusted.contains(id);
        if !trusted && used_slots >= inner.config.max_dialed() {
            continue;
        }
        if !inner.config.allows(peer.enode.ip) {
            continue;
        }
        used_slots += usize::from(!trusted);
        dials.push(peer.enode);
    }
    // Then nodes found by discovery, while dial slots remain.
    while used_slots < inner.config.max_dialed() {
        let Some(enode) = state.candidates.pop_front() else {
            break;
        };
        let recently = state
            .dial_history
            .get(&enode.id)
            .is_some_and(|at| now.duration_since(*at) < DIAL_HISTORY);
        if enode.id == inner.local_id
            || state.peers.contains(&enode.id)
            || state.dialing.contains(&enode.id)
            || dials.iter().any(|d: &Enode| d.id == enode.id)
            || recently
        {
            continue;
        }
        used_slots += 1;
        dials.push(enode);
    }
    state
        .dial_history
        .retain(|_, at| now.duration_since(*at) < DIAL_HISTORY);
    for enode in &dials {
        state.dial_history.insert(enode.id, now);
    }
    for enode in dials {
        state.dialing.insert(enode.id);
        inner.tasks.spawn(dial(inner.clone(), enode));
    }
    next_attempt
}

async fn dial(inner: Arc<Inner>, enode: Enode) {
    let addr = enode.tcp_addr();
    let tcp = match timeout(inner.config.dial_timeout, TcpStream::connect(addr)).await {
        Ok(Ok(tcp)) => tcp,
        failed => {
            let error = match failed {
                Ok(Err(error)) => format!("connect failed: {error}"),
                _ => "connect timed out".to_string(),
            };
            tracing::debug!(%addr, %error, "dial failed");
            let origin = setup::Origin::Outbound(enode);
            setup::dial_failed(&inner, &origin, addr, error);
            return;
        }
    };
    setup::run(inner, tcp, addr, setup::Origin::Outbound(enode)).await;
}
