//! The second way to consume messages: subscribe to one (protocol, code) across all peers and
//! read from a bounded queue (as Nebulas' net service does). A full queue drops the message and
//! counts the drop; the peer's read loop never waits for a subscriber.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::RwLock;
use tokio::sync::mpsc;

use crate::protocol::Message;
use crate::rlpx::PeerId;

/// A message delivered to a [`Subscription`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribedMessage {
    /// The peer that sent it.
    pub peer: PeerId,
    /// The message, code relative to its protocol.
    pub message: Message,
}

/// Receives every message of one (protocol, code) from all peers.
pub struct Subscription {
    receiver: mpsc::Receiver<SubscribedMessage>,
    dropped: Arc<AtomicU64>,
}

impl Subscription {
    /// The next message; `None` when the node has shut down.
    pub async fn recv(&mut self) -> Option<SubscribedMessage> {
        self.receiver.recv().await
    }

    /// How many messages were dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

struct Route {
    sender: mpsc::Sender<SubscribedMessage>,
    dropped: Arc<AtomicU64>,
    logged_drop: AtomicBool,
}

/// All subscriptions of a node, keyed by protocol name, then protocol-relative code.
#[derive(Default)]
pub(crate) struct Subscriptions {
    routes: RwLock<HashMap<String, HashMap<u64, Route>>>,
}

impl Subscriptions {
    /// Subscribes to `(protocol, code)` with a queue of `capacity` messages, replacing an
    /// earlier subscription to the same pair. Messages matching it no longer reach the
    /// protocol's handler.
    pub(crate) fn subscribe(&self, protocol: &str, code: u64, capacity: usize) -> Subscription {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let route = Route {
            sender,
            dropped: dropped.clone(),
            logged_drop: AtomicBool::new(false),
        };
        self.routes
            .write()
            .entry(protocol.to_string())
            .or_default()
            .insert(code, route);
        Subscription { receiver, dropped }
    }

    /// Hands a message to its subscription if there is one (or drops it if that queue is full);
    /// gives it back otherwise.
    pub(crate) fn deliver(
        &self,
        protocol: &str,
        peer: PeerId,
        message: Message,
    ) -> Option<Message> {
        let routes = self.routes.read();
        let Some(route) = routes
            .get(protocol)
            .and_then(|codes| codes.get(&message.code))
        else {
            return Some(message);
        };
        if route.sender.is_closed() {
            // The subscriber went away: the handler gets these messages again.
            return Some(message);
        }
        let code = message.code;
        if route
            .sender
            .try_send(SubscribedMessage { peer, message })
            .is_err()
        {
            route.dropped.fetch_add(1, Ordering::Relaxed);
            crate::metrics::subscription_drop(protocol, code);
            if !route.logged_drop.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    protocol,
                    code,
                    "subscription queue full: dropping messages (counted, logged once)"
                );
            }
        }
        None
    }
}
