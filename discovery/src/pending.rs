//! Requests waiting for something (a reply, or their time to be sent), found by key and by
//! deadline without scanning: a reply looks its request up by key, and the protocol's timer asks
//! only for the earliest deadline. With thousands in flight, a scan on every packet and every
//! `poll_timeout` was the hot path of a busy node.
//!
//! Deadlines sit in a `BTreeSet` of (deadline, sequence number) rather than a binary heap with
//! lazy deletion: a request answered early is removed from the set at once in O(log n), so the
//! set never holds stale entries, its first element is always the true next deadline, and
//! entries with one deadline leave in the order they came.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::hash::Hash;
use std::time::Instant;

/// Values of type `V` under keys of type `K` (several per key, kept in arrival order), each
/// with a deadline.
pub(crate) struct PendingRequests<K, V> {
    entries: HashMap<u64, Entry<K, V>>,
    by_key: HashMap<K, VecDeque<u64>>,
    deadlines: BTreeSet<(Instant, u64)>,
    next_seq: u64,
}

struct Entry<K, V> {
    key: K,
    value: V,
    deadline: Instant,
}

impl<K: Hash + Eq + Clone, V> Default for PendingRequests<K, V> {
    fn default() -> Self {
        PendingRequests {
            entries: HashMap::new(),
            by_key: HashMap::new(),
            deadlines: BTreeSet::new(),
            next_seq: 0,
        }
    }
}

impl<K: Hash + Eq + Clone, V> PendingRequests<K, V> {
    /// How many are waiting.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Adds `value` under `key`, due at `deadline`.
    pub(crate) fn insert(&mut self, key: K, value: V, deadline: Instant) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_key.entry(key.clone()).or_default().push_back(seq);
        self.deadlines.insert((deadline, seq));
        let entry = Entry {
            key,
            value,
            deadline,
        };
        self.entries.insert(seq, entry);
    }

    /// Whether anything waits under `key`.
    pub(crate) fn contains(&self, key: &K) -> bool {
        self.by_key.contains_key(key)
    }

    /// The oldest value under `key` that `filter` accepts.
    pub(crate) fn get_mut(
        &mut self,
        key: &K,
        mut filter: impl FnMut(&V) -> bool,
    ) -> Option<&mut V> {
        let seq = self.find(key, &mut filter)?;
        self.entries.get_mut(&seq).map(|entry| &mut entry.value)
    }

    /// Removes and returns the oldest value under `key` that `filter` accepts.
    pub(crate) fn take(&mut self, key: &K, mut filter: impl FnMut(&V) -> bool) -> Option<V> {
        let seq = self.find(key, &mut filter)?;
        Some(self.remove(seq).1)
    }

    /// Removes and returns every value under `key`, oldest first.
    pub(crate) fn take_all(&mut self, key: &K) -> Vec<V> {
        let Some(seqs) = self.by_key.remove(key) else {
            return Vec::new();
        };
        seqs.into_iter()
            .filter_map(|seq| {
                let entry = self.entries.remove(&seq)?;
                self.deadlines.remove(&(entry.deadline, seq));
                Some(entry.value)
            })
            .collect()
    }

    /// The earliest deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(deadline, _)| *deadline)
    }

    /// Removes and returns everything due at `now` or earlier, earliest first (arrival order
    /// among equal deadlines). What is inserted while the caller handles them waits for the next
    /// call, even if already due.
    pub(crate) fn drain_expired(&mut self, now: Instant) -> Vec<(K, V)> {
        let mut expired = Vec::new();
        while let Some(&(deadline, seq)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            expired.push(self.remove(seq));
        }
        expired
    }

    fn find(&self, key: &K, filter: &mut impl FnMut(&V) -> bool) -> Option<u64> {
        self.by_key.get(key)?.iter().copied().find(|seq| {
            self.entries
                .get(seq)
                .is_some_and(|entry| filter(&entry.value))
        })
    }

    fn remove(&mut self, seq: u64) -> (K, V) {
        let entry = self.entries.remove(&seq).expect("indexed entries exist");
        self.deadlines.remove(&(entry.deadline, seq));
        if let Some(seqs) = self.by_key.get_mut(&entry.key) {
            seqs.retain(|other| *other != seq);
            if seqs.is_empty() {
                self.by_key.remove(&entry.key);
            }
        }
        (entry.key, entry.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn store() -> (PendingRequests<&'static str, u32>, Instant) {
        (PendingRequests::default(), Instant::now())
    }

    #[test]
    fn take_finds_the_oldest_match_under_its_key() {
        let (mut pending, now) = store();
        pending.insert("a", 1, now);
        pending.insert("b", 2, now);
        pending.insert("a", 3, now);
        pending.insert("a", 4, now);
        assert_eq!(pending.take(&"a", |v| *v > 1), Some(3));
        assert_eq!(pending.take(&"a", |v| *v > 1), Some(4));
        assert_eq!(pending.take(&"a", |v| *v > 1), None);
        assert_eq!(pending.take(&"c", |_| true), None);
        assert_eq!(pending.len(), 2);
        assert!(pending.contains(&"a"));
        assert_eq!(pending.take(&"a", |_| true), Some(1));
        assert!(!pending.contains(&"a"), "an emptied key is gone");
    }

    #[test]
    fn get_mut_changes_in_place() {
        let (mut pending, now) = store();
        pending.insert("a", 1, now);
        *pending.get_mut(&"a", |_| true).unwrap() += 10;
        assert!(pending.get_mut(&"a", |v| *v == 1).is_none());
        assert_eq!(pending.take(&"a", |_| true), Some(11));
    }

    #[test]
    fn next_deadline_is_the_earliest_still_waiting() {
        let (mut pending, now) = store();
        assert_eq!(pending.next_deadline(), None);
        let second = Duration::from_secs(1);
        pending.insert("late", 1, now + 3 * second);
        pending.insert("early", 2, now + second);
        pending.insert("middle", 3, now + 2 * second);
        assert_eq!(pending.next_deadline(), Some(now + second));
        // Answered early: its deadline no longer counts.
        pending.take(&"early", |_| true);
        assert_eq!(pending.next_deadline(), Some(now + 2 * second));
        assert_eq!(pending.take_all(&"middle"), vec![3]);
        assert_eq!(pending.next_deadline(), Some(now + 3 * second));
    }

    #[test]
    fn drain_expired_takes_what_is_due_earliest_first() {
        let (mut pending, now) = store();
        let ms = Duration::from_millis(1);
        pending.insert("a", 1, now + 5 * ms);
        pending.insert("b", 2, now + 2 * ms);
        pending.insert("a", 3, now + 2 * ms);
        pending.insert("c", 4, now + 9 * ms);
        assert_eq!(pending.drain_expired(now + ms), vec![]);
        assert_eq!(
            pending.drain_expired(now + 5 * ms),
            vec![("b", 2), ("a", 3), ("a", 1)]
        );
        assert_eq!(pending.len(), 1);
        assert!(!pending.contains(&"a"));
        assert_eq!(pending.next_deadline(), Some(now + 9 * ms));
    }

    #[test]
    fn take_all_returns_arrival_order_and_clears_the_key() {
        let (mut pending, now) = store();
        pending.insert("a", 1, now + Duration::from_secs(2));
        pending.insert("b", 2, now);
        pending.insert("a", 3, now + Duration::from_secs(1));
        assert_eq!(pending.take_all(&"a"), vec![1, 3]);
        assert_eq!(pending.take_all(&"a"), Vec::<u32>::new());
        assert_eq!(
            pending.drain_expired(now + Duration::from_secs(5)),
            vec![("b", 2)]
        );
        assert_eq!(pending.len(), 0);
        assert_eq!(pending.next_deadline(), None);
    }
}
