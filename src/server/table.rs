//! The set of connected peers and the admission rules, checked once after the RLPx handshake
//! (before Hello, to spend nothing more on peers we will refuse) and again, atomically, when the
//! peer is inserted.

use std::collections::HashMap;
use std::sync::Arc;

use super::config::ServerConfig;
use crate::p2p::DisconnectReason;
use crate::peer::EndSignal;
use crate::protocol::{Direction, PeerInfo};
use crate::rlpx::PeerId;

pub(crate) struct Entry {
    pub(crate) info: Arc<PeerInfo>,
    pub(crate) end: EndSignal,
    pub(crate) trusted: bool,
}

#[derive(Default)]
pub(crate) struct PeerTable {
    peers: HashMap<PeerId, Entry>,
}

impl PeerTable {
    /// Counts of untrusted peers by direction: trusted peers do not use up slots.
    fn counts(&self) -> (usize, usize) {
        let untrusted = self.peers.values().filter(|entry| !entry.trusted);
        untrusted.fold((0, 0), |(inbound, outbound), entry| {
            match entry.info.direction {
                Direction::Inbound => (inbound + 1, outbound),
                Direction::Outbound => (inbound, outbound + 1),
            }
        })
    }

    /// Outbound peers that count against the dial slots.
    pub(crate) fn dialed(&self) -> usize {
        self.counts().1
    }

    /// Whether `id` may become a peer now, and if not, the reason to tell it.
    pub(crate) fn admit(
        &self,
        config: &ServerConfig,
        local: PeerId,
        id: PeerId,
        direction: Direction,
        trusted: bool,
    ) -> Result<(), DisconnectReason> {
        if id == local {
            return Err(DisconnectReason::ConnectedToSelf);
        }
        if let Some(existing) = self.peers.get(&id) {
            // Two nodes that dial each other at once each end up with two connections; both
            // keep the one dialed by the node with the lower id, so exactly one survives.
            let keep_new = existing.info.direction != direction
                && (direction == Direction::Outbound) == (local < id);
            return if keep_new {
                Ok(())
            } else {
                Err(DisconnectReason::AlreadyConnected)
            };
        }
        if trusted {
            return Ok(());
        }
        // Dialed peers are limited by the dialer's slots; here only the total and the share
        // left for inbound connections are enforced (as go-ethereum does).
        let (inbound, outbound) = self.counts();
        let inbound_full = direction == Direction::Inbound && inbound >= config.max_inbound();
        if inbound + outbound >= config.max_peers || inbound_full {
            return Err(DisconnectReason::TooManyPeers);
        }
        Ok(())
    }

    /// Inserts a peer; returns the connection it replaces (see the tie-break in `admit`).
    pub(crate) fn insert(&mut self, entry: Entry) -> Option<Entry> {
        self.peers.insert(entry.info.id, entry)
    }

    /// Removes the peer if `info` is still its current connection (not a replacement).
    pub(crate) fn remove(&mut self, info: &Arc<PeerInfo>) {
        if self
            .peers
            .get(&info.id)
            .is_some_and(|entry| Arc::ptr_eq(&entry.info, info))
        {
            self.peers.remove(&info.id);
        }
    }

    pub(crate) fn contains(&self, id: &PeerId) -> bool {
        self.peers.contains_key(id)
    }

    pub(crate) fn get(&self, id: &PeerId) -> Option<&Entry> {
        self.peers.get(id)
    }

    pub(crate) fn get_mut(&mut self, id: &PeerId) -> Option<&mut Entry> {
        self.peers.get_mut(id)
    }

    pub(crate) fn len(&self) -> usize {
        self.peers.len()
    }

    pub(crate) fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.peers.values()
    }
}
