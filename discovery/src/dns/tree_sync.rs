//! The sync state of one tree in the iterator (go-ethereum `sync.go clientTree` and
//! `subtreeSync`): its current root, when to check it again, and which entries of each subtree
//! are still to be visited.

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use super::entry::{Entry, EntryHash, LinkEntry, RootEntry, Subtree};
use super::verify::SyncError;

/// Leaf failures after which the root is looked up again, in case the tree changed under us
/// (go-ethereum `rootRecheckFailCount`, #20682).
pub(crate) const ROOT_RECHECK_FAIL_COUNT: u32 = 5;

/// How long to wait before looking a root up again after `failures` failed lookups
/// (go-ethereum `slowdownRootUpdate`: nothing for five, then 5 s, then 10 s after twenty).
fn root_backoff(failures: u32) -> Duration {
    match failures {
        0..=5 => Duration::ZERO,
        6..=20 => Duration::from_secs(5),
        _ => Duration::from_secs(10),
    }
}

/// The walk of one subtree (`e=` or `l=`).
#[derive(Debug)]
pub(crate) struct SubtreeSync {
    pub(crate) root: EntryHash,
    /// Entries to visit.
    pub(crate) missing: Vec<EntryHash>,
    /// Every hash ever queued in this walk, so that an entry listed twice (or a branch that
    /// lists an ancestor) is visited once.
    queued: HashSet<EntryHash>,
    /// Entries whose hash matched but which are invalid: their content cannot change, so later
    /// walks of the same root skip them.
    invalid: HashSet<EntryHash>,
    /// Leaves found in this walk.
    pub(crate) leaves: usize,
    /// Entries of this walk that failed for a reason that may pass (lookup errors, bad
    /// answers); they are skipped for this walk and tried again in the next one.
    pub(crate) failed: usize,
}

impl SubtreeSync {
    pub(crate) fn new(root: EntryHash) -> Self {
        SubtreeSync {
            missing: vec![root.clone()],
            queued: HashSet::from([root.clone()]),
            invalid: HashSet::new(),
            root,
            leaves: 0,
            failed: 0,
        }
    }

    /// A new walk of the same root, remembering the invalid entries.
    pub(crate) fn restart(&mut self) {
        let invalid = std::mem::take(&mut self.invalid);
        *self = SubtreeSync::new(self.root.clone());
        self.invalid = invalid;
    }

    pub(crate) fn done(&self) -> bool {
        self.missing.is_empty()
    }

    /// Records that `hash` resolved to `entry`: it is no longer missing, and a branch's
    /// children not seen before (and not known invalid) are.
    pub(crate) fn resolved(&mut self, hash: &EntryHash, entry: &Entry) {
        self.remove(hash);
        match entry {
            Entry::Branch(branch) => {
                for child in &branch.children {
                    if !self.invalid.contains(child) && self.queued.insert(child.clone()) {
                        self.missing.push(child.clone());
                    }
                }
            }
            Entry::Link(_) | Entry::Enr(_) => self.leaves += 1,
        }
    }

    /// Records that `hash` failed: skipped for this walk, and for later walks of this root too
    /// if it can never become valid.
    pub(crate) fn failed(&mut self, hash: &EntryHash, transient: bool) {
        self.remove(hash);
        if transient {
            self.failed += 1;
        } else {
            self.invalid.insert(hash.clone());
        }
    }

    fn remove(&mut self, hash: &EntryHash) {
        if let Some(i) = self.missing.iter().position(|h| h == hash) {
            self.missing.swap_remove(i);
        }
    }
}

/// What a tree needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TreeStep {
    /// Look the root up.
    Root,
    /// Resolve this entry of this subtree.
    Entry(Subtree, EntryHash),
}

/// One tree the iterator walks.
#[derive(Debug)]
pub(crate) struct ClientTree {
    pub(crate) link: LinkEntry,
    /// The canonical URL, the tree's key in the link cache.
    pub(crate) key: String,
    pub(crate) root: Option<RootEntry>,
    /// When the root was last looked up (successfully or not).
    last_root_check: Option<Instant>,
    root_fail_count: u32,
    pub(crate) leaf_fail_count: u32,
    /// The highest root sequence number accepted for this tree.
    highest_seq: Option<u64>,
    pub(crate) links: Option<SubtreeSync>,
    pub(crate) enrs: Option<SubtreeSync>,
    /// The links found in the current link subtree.
    pub(crate) current_links: BTreeSet<String>,
    /// The link root whose links were last garbage-collected.
    link_gc_root: Option<EntryHash>,
}

impl ClientTree {
    pub(crate) fn new(link: LinkEntry) -> Self {
        ClientTree {
            key: link.to_string(),
            link,
            root: None,
            last_root_check: None,
            root_fail_count: 0,
            leaf_fail_count: 0,
            highest_seq: None,
            links: None,
            enrs: None,
            current_links: BTreeSet::new(),
            link_gc_root: None,
        }
    }

    fn next_scheduled_check(&self, recheck: Duration) -> Option<Instant> {
        self.last_root_check.map(|t| t + recheck)
    }

    /// Whether the root must be looked up before anything else: none yet, too many leaf
    /// failures, or the recheck interval has passed.
    pub(crate) fn root_due(&self, now: Instant, recheck: Duration) -> bool {
        self.root.is_none()
            || self.leaf_fail_count > ROOT_RECHECK_FAIL_COUNT
            || self.next_scheduled_check(recheck).is_none_or(|t| now >= t)
    }

    /// The earliest time the root may be looked up again, given the failures so far.
    fn root_retry_at(&self, now: Instant) -> Instant {
        match self.last_root_check {
            Some(last) => last + root_backoff(self.root_fail_count),
            None => now,
        }
    }

    /// Whether [`next_step`](Self::next_step) has something useful to do now (go-ethereum
    /// `canSyncRandom`). A tree whose whole node subtree was walked without finding a leaf is
    /// empty: it waits for its next root check rather than being walked again and again (the
    /// spin of go-ethereum #22306).
    pub(crate) fn can_sync(&self, now: Instant, recheck: Duration) -> bool {
        if self.root_due(now, recheck) {
            return now >= self.root_retry_at(now);
        }
        let pending = |s: &Option<SubtreeSync>| s.as_ref().is_some_and(|s| !s.done());
        // A walk that found leaves, or failed somewhere, is worth walking again; one that
        // visited everything and found nothing is not.
        let walk_again = self
            .enrs
            .as_ref()
            .is_some_and(|s| s.leaves != 0 || s.failed != 0);
        pending(&self.links) || pending(&self.enrs) || walk_again
    }

    /// When a tree that cannot sync now may be able to.
    pub(crate) fn wake_at(&self, now: Instant, recheck: Duration) -> Instant {
        if self.root_due(now, recheck) {
            self.root_retry_at(now)
        } else {
            self.next_scheduled_check(recheck).unwrap_or(now)
        }
    }

    /// The next thing to fetch; `pick` chooses among the missing node entries (the iterator
    /// passes a random index). Call only when [`can_sync`](Self::can_sync).
    pub(crate) fn next_step(
        &mut self,
        now: Instant,
        recheck: Duration,
        pick: impl FnOnce(usize) -> usize,
    ) -> TreeStep {
        if self.root_due(now, recheck) {
            return TreeStep::Root;
        }
        let (Some(links), Some(enrs)) = (&self.links, &mut self.enrs) else {
            return TreeStep::Root;
        };
        // The link subtree first, to completion, in order.
        if let Some(hash) = links.missing.first() {
            return TreeStep::Entry(Subtree::Link, hash.clone());
        }
        // Every node visited: start over (the cache makes the second walk cheap).
        if enrs.done() {
            enrs.restart();
        }
        let index = pick(enrs.missing.len()).min(enrs.missing.len() - 1);
        TreeStep::Entry(Subtree::Enr, enrs.missing[index].clone())
    }

    /// Marks the start of a root lookup.
    pub(crate) fn root_lookup_started(&mut self, now: Instant) {
        self.last_root_check = Some(now);
    }

    /// Takes the result of a root lookup. A verified root replaces the current one unless its
    /// sequence number is lower than one seen before; a changed `e=` or `l=` restarts that
    /// subtree's walk, and so does a walk that had failures (so a link entry that failed once
    /// is tried again at the next root check).
    pub(crate) fn update_root(
        &mut self,
        result: Result<RootEntry, SyncError>,
    ) -> Result<(), SyncError> {
        let root = result
            .and_then(|root| match self.highest_seq {
                Some(seen) if root.seq < seen => Err(SyncError::SeqDecreased {
                    domain: self.link.domain.clone(),
                    seen,
                    seq: root.seq,
                }),
                _ => Ok(root),
            })
            .inspect_err(|_| self.root_fail_count += 1)?;
        self.root_fail_count = 0;
        self.leaf_fail_count = 0;
        self.highest_seq = Some(root.seq);
        match &mut self.links {
            Some(walk) if walk.root == root.link_root => {
                if walk.done() && walk.failed != 0 {
                    walk.restart();
                }
            }
            _ => {
                self.links = Some(SubtreeSync::new(root.link_root.clone()));
                self.current_links.clear();
                self.link_gc_root = None;
            }
        }
        match &mut self.enrs {
            Some(walk) if walk.root == root.enr_root => {
                if walk.done() && walk.failed != 0 {
                    walk.restart();
                }
            }
            _ => self.enrs = Some(SubtreeSync::new(root.enr_root.clone())),
        }
        self.root = Some(root);
        Ok(())
    }

    /// The subtree walk of `kind`.
    pub(crate) fn subtree(&mut self, kind: Subtree) -> Option<&mut SubtreeSync> {
        match kind {
            Subtree::Enr => self.enrs.as_mut(),
            Subtree::Link => self.links.as_mut(),
        }
    }

    /// Whether the link subtree was walked completely, without failures, and its links were not
    /// yet garbage-collected; marks them collected. A walk with failures may have missed links
    /// that are still there, so it drops none.
    pub(crate) fn take_link_gc(&mut self) -> bool {
        let (Some(root), Some(links)) = (&self.root, &self.links) else {
            return false;
        };
        if !links.done() || links.failed != 0 || self.link_gc_root.as_ref() == Some(&root.link_root)
        {
            return false;
        }
        self.link_gc_root = Some(root.link_root.clone());
        true
    }
}
