//! The inbound handshakes in progress, at most `limit` of them, as plain state. When every slot
//! is taken, the oldest handshake that has not yet delivered a valid auth is dropped to make
//! room: a flood of connections that handshake slowly (one byte per second, say) then cannot
//! lock out a peer that completes its handshake promptly, and memory stays bounded by `limit`
//! connections. Handshakes past their auth are about to finish and are never dropped this way;
//! when every slot holds one, a new connection waits for a slot, as go-ethereum's listener
//! does for its `MaxPendingPeers` slots.
//!
//! "Oldest" is arrival order, not a time: no clock is needed. The listener (`listener.rs`)
//! takes slots, the connection tasks (`setup.rs`) mark and release them; each slot carries the
//! driver's `handle` for telling its task to stop (a channel, or anything in tests).

use std::collections::BTreeMap;

/// Slots for inbound handshakes in progress, oldest first.
pub(crate) struct PendingHandshakes<T> {
    limit: usize,
    /// By slot number, which grows with arrival: the first entry is the oldest.
    slots: BTreeMap<u64, Pending<T>>,
    next_slot: u64,
}

struct Pending<T> {
    /// The remote sent a valid auth: not dropped for newer handshakes.
    authenticated: bool,
    handle: T,
}

/// What [`PendingHandshakes::take`] decided for a new connection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Take<T> {
    /// A slot was free: the connection holds this one.
    Free(u64),
    /// Every slot was taken; the oldest unauthenticated handshake lost its slot to the new
    /// connection, which holds `slot`. Its `victim` handle is returned to stop its task.
    Evicted {
        /// The new connection's slot.
        slot: u64,
        /// The dropped handshake's handle.
        victim: T,
    },
    /// Every slot holds an authenticated handshake: wait until one is released, then try again.
    Wait,
}

impl<T> PendingHandshakes<T> {
    /// Room for `limit` handshakes (at least one).
    pub(crate) fn new(limit: usize) -> Self {
        PendingHandshakes {
            limit: limit.max(1),
            slots: BTreeMap::new(),
            next_slot: 0,
        }
    }

    /// A slot for a new connection whose task listens on `handle`, evicting the oldest
    /// unauthenticated handshake if every slot is taken. On [`Take::Wait`] `handle` is dropped.
    pub(crate) fn take(&mut self, handle: T) -> Take<T> {
        let mut victim = None;
        if self.slots.len() >= self.limit {
            let oldest_unauthenticated = self
                .slots
                .iter()
                .find(|(_, pending)| !pending.authenticated)
                .map(|(slot, _)| *slot);
            match oldest_unauthenticated.and_then(|slot| self.slots.remove(&slot)) {
                Some(pending) => victim = Some(pending.handle),
                None => return Take::Wait,
            }
        }
        let slot = self.next_slot;
        self.next_slot += 1;
        let pending = Pending {
            authenticated: false,
            handle,
        };
        self.slots.insert(slot, pending);
        match victim {
            Some(victim) => Take::Evicted { slot, victim },
            None => Take::Free(slot),
        }
    }

    /// The handshake in `slot` received a valid auth: it keeps its slot until released. Does
    /// nothing if it was evicted meanwhile.
    pub(crate) fn authenticated(&mut self, slot: u64) {
        if let Some(pending) = self.slots.get_mut(&slot) {
            pending.authenticated = true;
        }
    }

    /// The handshake in `slot` ended (a peer, or a failure): its slot is free.
    pub(crate) fn release(&mut self, slot: u64) {
        self.slots.remove(&slot);
    }

    /// Empties every slot (on shutdown), returning the handles to stop their tasks.
    pub(crate) fn drain(&mut self) -> Vec<T> {
        let slots = std::mem::take(&mut self.slots);
        slots.into_values().map(|pending| pending.handle).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_slots_are_taken_until_the_limit() {
        let mut pending = PendingHandshakes::new(2);
        assert_eq!(pending.take("a"), Take::Free(0));
        assert_eq!(pending.take("b"), Take::Free(1));
        pending.release(0);
        assert_eq!(pending.take("c"), Take::Free(2));
    }

    #[test]
    fn a_full_set_evicts_the_oldest_unauthenticated_handshake() {
        let mut pending = PendingHandshakes::new(3);
        for name in ["a", "b", "c"] {
            assert!(matches!(pending.take(name), Take::Free(_)));
        }
        // The oldest, "a", is past its auth: "b" goes instead.
        pending.authenticated(0);
        assert_eq!(
            pending.take("d"),
            Take::Evicted {
                slot: 3,
                victim: "b"
            }
        );
        assert_eq!(
            pending.take("e"),
            Take::Evicted {
                slot: 4,
                victim: "c"
            }
        );
        assert_eq!(
            pending.take("f"),
            Take::Evicted {
                slot: 5,
                victim: "d"
            }
        );
    }

    #[test]
    fn a_full_set_of_authenticated_handshakes_makes_a_new_one_wait() {
        let mut pending = PendingHandshakes::new(2);
        assert_eq!(pending.take("a"), Take::Free(0));
        assert_eq!(pending.take("b"), Take::Free(1));
        pending.authenticated(0);
        pending.authenticated(1);
        assert_eq!(pending.take("c"), Take::Wait);
        assert_eq!(pending.take("c"), Take::Wait, "nothing changed by waiting");
        pending.release(1);
        assert_eq!(pending.take("c"), Take::Free(2));
    }

    #[test]
    fn marking_an_evicted_or_released_slot_does_nothing() {
        let mut pending = PendingHandshakes::new(1);
        assert_eq!(pending.take("a"), Take::Free(0));
        assert_eq!(
            pending.take("b"),
            Take::Evicted {
                slot: 1,
                victim: "a"
            }
        );
        // "a"'s task reports its auth after it lost the slot: "b" is still evictable.
        pending.authenticated(0);
        pending.release(0);
        assert_eq!(
            pending.take("c"),
            Take::Evicted {
                slot: 2,
                victim: "b"
            }
        );
    }

    #[test]
    fn a_zero_limit_still_admits_one_and_drain_empties_it() {
        let mut pending = PendingHandshakes::new(0);
        assert_eq!(pending.take("a"), Take::Free(0));
        pending.authenticated(0);
        assert_eq!(pending.take("b"), Take::Wait);
        assert_eq!(pending.drain(), ["a"]);
        assert_eq!(pending.take("b"), Take::Free(1));
    }
}
