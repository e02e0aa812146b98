//! Sources of dial candidates, mixed fairly for the dialer. The server knows nothing of what
//! produces them: discv4 is one source, DNS lists or a caller's own list plug in the same way
//! through [`ServerHandle::add_node_source`](super::ServerHandle::add_node_source). The model
//! is go-ethereum's `enode.Iterator` and `enode.FairMix` (`p2p/enode/iter.go`): the dialer pulls
//! a candidate only when it has a free slot, taking from each source in turn.
//!
//! Each source is a small bounded channel, so a producer that waits on [`NodeSender::reserve`]
//! before doing work (a lookup, a DNS query) runs only as fast as the dialer takes candidates.
//! Which candidates are worth a dial (not connected, not dialed recently) is decided once, by
//! the dialer, for all sources.

use std::future::poll_fn;
use std::task::Poll;

use tokio::sync::mpsc;

use super::DialCandidate;

/// Candidates a source may have queued for the dialer: one, so producers follow demand.
const SOURCE_CAPACITY: usize = 1;

/// The producing half of a dial-candidate source. Cheap to clone; the source ends when every
/// clone is dropped.
#[derive(Clone, Debug)]
pub struct NodeSender {
    tx: mpsc::Sender<DialCandidate>,
}

/// The server stopped: its dialer takes no more candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the server stopped")]
pub struct ServerStopped;

/// A place in the dialer's queue, reserved before the candidate is known (see
/// [`NodeSender::reserve`]).
pub struct NodeSlot(mpsc::OwnedPermit<DialCandidate>);

impl NodeSlot {
    /// Hands the candidate (an [`Enode`](ethp2p_discovery::Enode) or a [`DialCandidate`])
    /// to the dialer.
    pub fn send(self, node: impl Into<DialCandidate>) {
        self.0.send(node.into());
    }
}

impl NodeSender {
    /// Offers a candidate (an [`Enode`](ethp2p_discovery::Enode), or a [`DialCandidate`]
    /// that names both families of a record), waiting while the dialer has no use for one.
    pub async fn send(&self, node: impl Into<DialCandidate>) -> Result<(), ServerStopped> {
        self.tx.send(node.into()).await.map_err(|_| ServerStopped)
    }

    /// Completes when the server has stopped taking candidates: a producer waiting on something
    /// else (a DNS lookup, a timer) can stop then.
    pub async fn closed(&self) {
        self.tx.closed().await;
    }

    /// Waits until the dialer wants another candidate from this source. A producer that does
    /// work to find candidates (a lookup) should reserve first and work only then.
    pub async fn reserve(&self) -> Result<NodeSlot, ServerStopped> {
        let permit = self.tx.clone().reserve_owned().await;
        permit.map(NodeSlot).map_err(|_| ServerStopped)
    }
}

/// The dialer's half of one source.
pub(crate) struct Source {
    name: String,
    rx: mpsc::Receiver<DialCandidate>,
}

/// A new source: the producer's sender and the dialer's receiver.
pub(crate) fn source(name: &str) -> (NodeSender, Source) {
    let (tx, rx) = mpsc::channel(SOURCE_CAPACITY);
    let source = Source {
        name: name.to_string(),
        rx,
    };
    (NodeSender { tx }, source)
}

/// Round-robin over the sources: each pull starts at the source after the one that gave the
/// last candidate, so a fast source cannot starve a slow one.
#[derive(Default)]
pub(crate) struct FairMix {
    sources: Vec<Source>,
    next: usize,
}

impl FairMix {
    pub(crate) fn add(&mut self, source: Source) {
        tracing::debug!(source = %source.name, "node source added");
        self.sources.push(source);
    }

    /// The next candidate from any source (cancel-safe: nothing is taken unless returned).
    /// Pending forever while there are no sources.
    pub(crate) async fn next(&mut self) -> DialCandidate {
        poll_fn(|cx| {
            let count = self.sources.len();
            let mut ready = None;
            let mut ended = Vec::new();
            for offset in 0..count {
                let at = (self.next + offset) % count;
                match self.sources[at].rx.poll_recv(cx) {
                    Poll::Ready(Some(node)) => {
                        ready = Some((at, node));
                        break;
                    }
                    Poll::Ready(None) => ended.push(at),
                    Poll::Pending => {}
                }
            }
            if let Some((at, _)) = ready {
                self.next = at + 1;
            }
            ended.sort_unstable();
            for at in ended.into_iter().rev() {
                let source = self.sources.remove(at);
                tracing::debug!(source = %source.name, "node source ended");
            }
            self.next %= self.sources.len().max(1);
            match ready {
                Some((_, node)) => Poll::Ready(node),
                None => Poll::Pending,
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::dial_state::tests::enode;

    #[tokio::test]
    async fn sources_take_turns_and_ended_ones_are_dropped() {
        let mut mix = FairMix::default();
        let (fast, fast_rx) = source("fast");
        let (slow, slow_rx) = source("slow");
        mix.add(fast_rx);
        mix.add(slow_rx);
        fast.send(enode(1)).await.unwrap();
        slow.send(enode(2)).await.unwrap();
        assert_eq!(mix.next().await.enode.id, enode(1).id);
        fast.send(enode(3)).await.unwrap();
        // The slow source's turn, although the fast one has a candidate ready.
        assert_eq!(mix.next().await.enode.id, enode(2).id);
        assert_eq!(mix.next().await.enode.id, enode(3).id);
        drop(fast);
        slow.send(enode(4)).await.unwrap();
        assert_eq!(mix.next().await.enode.id, enode(4).id);
        slow.send(enode(5)).await.unwrap();
        // This pull scans the ended source first and drops it.
        assert_eq!(mix.next().await.enode.id, enode(5).id);
        assert_eq!(mix.sources.len(), 1, "the ended source is gone");
    }

    #[tokio::test]
    async fn reserve_waits_for_the_dialer_to_take_the_queued_candidate() {
        let mut mix = FairMix::default();
        let (tx, rx) = source("discv4");
        mix.add(rx);
        tx.reserve().await.unwrap().send(enode(1));
        let waiting = tx.reserve();
        tokio::pin!(waiting);
        assert!(
            futures_poll_once(waiting.as_mut()).await.is_none(),
            "queue full: no demand"
        );
        assert_eq!(mix.next().await.enode.id, enode(1).id);
        assert!(waiting.await.is_ok(), "the dialer took it: demand again");
        drop(mix);
        assert_eq!(tx.reserve().await.err(), Some(ServerStopped));
    }

    /// Polls a future once.
    async fn futures_poll_once<F: std::future::Future + Unpin>(mut future: F) -> Option<F::Output> {
        poll_fn(|cx| match std::pin::Pin::new(&mut future).poll(cx) {
            Poll::Ready(output) => Poll::Ready(Some(output)),
            Poll::Pending => Poll::Ready(None),
        })
        .await
    }
}
