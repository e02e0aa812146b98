//! The client's bounded cache of verified entries (go-ethereum: an LRU of 1000 entries).

use std::collections::{BTreeMap, HashMap};

use super::entry::{Entry, EntryHash};

/// Entries by [`EntryHash::cache_key`], evicting the least recently used beyond the limit.
///
/// Only entries whose content matched their hash, that parsed, and that were in a subtree
/// allowing them are put here. The key does not include the domain, so trees that share an
/// entry share its cache slot, as in go-ethereum.
#[derive(Debug)]
pub(crate) struct EntryCache {
    limit: usize,
    entries: HashMap<String, (u64, Entry)>,
    /// Last-use tick to key: the first one is the least recently used.
    order: BTreeMap<u64, String>,
    tick: u64,
}

impl EntryCache {
    /// A cache of at most `limit` entries (0 caches nothing).
    pub(crate) fn new(limit: usize) -> Self {
        EntryCache {
            limit,
            entries: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
        }
    }

    /// The entry named by `hash`, marked as just used.
    pub(crate) fn get(&mut self, hash: &EntryHash) -> Option<Entry> {
        self.tick += 1;
        let (tick, entry) = self.entries.get_mut(hash.cache_key())?;
        self.order.remove(tick);
        *tick = self.tick;
        self.order.insert(self.tick, hash.cache_key().to_owned());
        Some(entry.clone())
    }

    /// Adds `entry` under `hash`, evicting the least recently used entry if full.
    pub(crate) fn insert(&mut self, hash: &EntryHash, entry: Entry) {
        if self.limit == 0 {
            return;
        }
        self.tick += 1;
        let key = hash.cache_key().to_owned();
        if let Some((old, _)) = self.entries.insert(key.clone(), (self.tick, entry)) {
            self.order.remove(&old);
        }
        self.order.insert(self.tick, key);
        while self.entries.len() > self.limit {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
    }

    /// The number of cached entries.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::entry::BranchEntry;

    fn entry(i: usize) -> (EntryHash, Entry) {
        let hash = EntryHash::of(&format!("e{i}"));
        let entry = Entry::Branch(BranchEntry {
            children: vec![hash.clone()],
        });
        (hash, entry)
    }

    #[test]
    fn evicts_the_least_recently_used() {
        let mut cache = EntryCache::new(2);
        let (a, b, c) = (entry(1), entry(2), entry(3));
        cache.insert(&a.0, a.1.clone());
        cache.insert(&b.0, b.1.clone());
        assert_eq!(cache.get(&a.0), Some(a.1.clone()));
        cache.insert(&c.0, c.1.clone());
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&b.0), None, "b was the least recently used");
        assert_eq!(cache.get(&a.0), Some(a.1));
        assert_eq!(cache.get(&c.0), Some(c.1));
    }

    #[test]
    fn zero_caches_nothing_and_reinsert_keeps_one_slot() {
        let mut cache = EntryCache::new(0);
        let a = entry(1);
        cache.insert(&a.0, a.1.clone());
        assert_eq!(cache.get(&a.0), None);

        let mut cache = EntryCache::new(5);
        cache.insert(&a.0, a.1.clone());
        cache.insert(&a.0, a.1);
        assert_eq!((cache.len(), cache.order.len()), (1, 1));
    }
}
