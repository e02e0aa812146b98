//! Downloading one whole tree (go-ethereum `Client.SyncTree`, what `devp2p dns sync` does): the
//! root, then every entry of both subtrees. Links are recorded, not followed.
//!
//! Sans-IO like [`Client`](super::Client): [`TreeSync::poll`] names the next lookup, and
//! [`TreeSync::handle_answer`] takes its answer. A failed answer changes nothing, so polling
//! again retries the same name; the caller decides when to give up
//! ([`super::driver::sync_tree`] gives up at the first error, as go-ethereum does).

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::time::Instant;

use super::client::ClientConfig;
use super::entry::{Entry, EntryHash, LinkEntry, RootEntry, Subtree};
use super::rate_limit::RateLimiter;
use super::resolver::ResolveError;
use super::tree::SignedTree;
use super::verify::{SyncError, entry_name, read_entry, read_root};

/// What a [`TreeSync`] wants next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncStep {
    /// Resolve the TXT records of this name and pass them to [`TreeSync::handle_answer`].
    Resolve(String),
    /// Wait for the rate limiter.
    Sleep(Instant),
    /// Everything is downloaded: take it with [`TreeSync::finish`].
    Done,
}

/// The download of one tree.
#[derive(Debug)]
pub struct TreeSync {
    link: LinkEntry,
    limiter: RateLimiter,
    root: Option<RootEntry>,
    missing: VecDeque<(Subtree, EntryHash)>,
    queued: HashSet<EntryHash>,
    entries: BTreeMap<EntryHash, Entry>,
    in_flight: bool,
}

impl TreeSync {
    /// Starts downloading the tree at `url`, at the rate `config` allows.
    pub fn new(url: LinkEntry, config: &ClientConfig) -> Self {
        TreeSync {
            link: url,
            limiter: RateLimiter::new(config.rate_limit, config.rate_burst),
            root: None,
            missing: VecDeque::new(),
            queued: HashSet::new(),
            entries: BTreeMap::new(),
            in_flight: false,
        }
    }

    /// The next lookup to make.
    pub fn poll(&mut self, now: Instant) -> SyncStep {
        if self.root.is_some() && self.missing.is_empty() {
            return SyncStep::Done;
        }
        if !self.in_flight {
            if let Err(at) = self.limiter.try_acquire(now) {
                return SyncStep::Sleep(at);
            }
            self.in_flight = true;
        }
        match (&self.root, self.missing.front()) {
            (Some(_), Some((_, hash))) => SyncStep::Resolve(entry_name(hash, &self.link.domain)),
            _ => SyncStep::Resolve(self.link.domain.clone()),
        }
    }

    /// Takes the answer to the name [`poll`](Self::poll) returned.
    pub fn handle_answer(
        &mut self,
        answer: Result<Vec<String>, ResolveError>,
    ) -> Result<(), SyncError> {
        self.in_flight = false;
        let Some(_) = &self.root else {
            let root = read_root(&self.link, answer)?;
            for (subtree, hash) in [
                (Subtree::Link, root.link_root.clone()),
                (Subtree::Enr, root.enr_root.clone()),
            ] {
                if self.queued.insert(hash.clone()) {
                    self.missing.push_back((subtree, hash));
                }
            }
            self.root = Some(root);
            return Ok(());
        };
        let Some((subtree, hash)) = self.missing.front().cloned() else {
            return Ok(());
        };
        let name = entry_name(&hash, &self.link.domain);
        let entry = read_entry(&name, &hash, subtree, answer)?;
        self.missing.pop_front();
        if let Entry::Branch(branch) = &entry {
            for child in &branch.children {
                if self.queued.insert(child.clone()) {
                    self.missing.push_back((subtree, child.clone()));
                }
            }
        }
        self.entries.insert(hash, entry);
        Ok(())
    }

    /// Entries downloaded and entries known to be missing, for progress reports.
    pub fn progress(&self) -> (usize, usize) {
        (self.entries.len(), self.missing.len())
    }

    /// The downloaded tree, once [`poll`](Self::poll) said [`SyncStep::Done`].
    pub fn finish(self) -> Option<SignedTree> {
        let root = self.root?;
        if !self.missing.is_empty() {
            return None;
        }
        Some(SignedTree::from_parts(
            self.link.public_key,
            root,
            self.entries,
        ))
    }
}
