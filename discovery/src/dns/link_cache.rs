//! Which trees link to which (go-ethereum `sync.go linkCache`): a tree is synced while
//! something references it, either the user (the empty referrer) or another synced tree.

use std::collections::{BTreeMap, BTreeSet};

/// Back-references between trees, keyed by the trees' `enrtree://` URLs.
#[derive(Debug, Default)]
pub(crate) struct LinkCache {
    /// Tree to the trees linking to it (`""` for trees the user added).
    backrefs: BTreeMap<String, BTreeSet<String>>,
    /// Set when the set of referenced trees may have changed.
    pub(crate) changed: bool,
}

impl LinkCache {
    /// Whether anything links to `tree`.
    pub(crate) fn is_referenced(&self, tree: &str) -> bool {
        self.backrefs.get(tree).is_some_and(|refs| !refs.is_empty())
    }

    /// The referenced trees.
    pub(crate) fn referenced(&self) -> impl Iterator<Item = &String> {
        self.backrefs.keys()
    }

    /// Records that `from` links to `to`.
    pub(crate) fn add_link(&mut self, from: &str, to: &str) {
        if self
            .backrefs
            .entry(to.to_owned())
            .or_default()
            .insert(from.to_owned())
        {
            self.changed = true;
        }
    }

    /// Drops every link of `from` except those to `keep`; trees left unreferenced lose their
    /// own links in turn, so a chain or loop of trees nobody references any more goes away.
    pub(crate) fn reset_links(&mut self, from: &str, keep: &BTreeSet<String>) {
        let mut stack = vec![from.to_owned()];
        while let Some(item) = stack.pop() {
            let mut orphans = Vec::new();
            for (tree, refs) in &mut self.backrefs {
                if keep.contains(tree) || !refs.remove(&item) {
                    continue;
                }
                self.changed = true;
                if refs.is_empty() {
                    orphans.push(tree.clone());
                }
            }
            for orphan in orphans {
                self.backrefs.remove(&orphan);
                stack.push(orphan);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // go-ethereum TestLinkCache.
    #[test]
    fn add_and_reset() {
        let mut lc = LinkCache::default();
        lc.add_link("1", "2");
        assert!(lc.changed);
        lc.changed = false;
        lc.add_link("1", "2");
        assert!(!lc.changed, "adding a known link changes nothing");
        lc.add_link("2", "3");
        lc.add_link("3", "1");
        lc.add_link("2", "4");
        lc.changed = false;
        assert!(lc.is_referenced("3"));
        assert!(!lc.is_referenced("6"));

        lc.reset_links("1", &BTreeSet::new());
        assert!(lc.changed);
        assert!(lc.backrefs.is_empty(), "{:?}", lc.backrefs);
    }

    // go-ethereum TestLinkCacheRandom, with a fixed pseudo-random sequence.
    #[test]
    fn random_links_all_go_away() {
        let mut lc = LinkCache::default();
        let mut remove = Vec::new();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 1000).to_string()
        };
        for _ in 0..100 {
            let (a, b) = (next(), next());
            lc.add_link(&a, &b);
            remove.push(a);
        }
        for tree in remove {
            lc.reset_links(&tree, &BTreeSet::new());
        }
        assert!(lc.backrefs.is_empty(), "{:?}", lc.backrefs);
    }

    #[test]
    fn kept_links_and_user_trees_stay() {
        let mut lc = LinkCache::default();
        lc.add_link("", "a");
        lc.add_link("a", "b");
        lc.add_link("a", "c");
        lc.add_link("b", "a"); // a loop
        let keep = BTreeSet::from(["c".to_owned()]);
        lc.reset_links("a", &keep);
        assert!(lc.is_referenced("a"), "the user's tree stays");
        assert!(!lc.is_referenced("b"));
        assert!(lc.is_referenced("c"));
    }
}
