//! Downloading one whole tree (go-ethereum `Client.SyncTree`, what `devp2p dns sync` does): the
//! root, then every entry of both subtrees. Links are recorded, not followed.
//!
//! Sans-IO like [`Client`](super::Client): [`TreeSync::poll`] names the next lookup, and
//! [`TreeSync::handle_answer`] takes its answer. Once the root is known, up to
//! [`ClientConfig::parallel_lookups`] entries are looked up at once, so a download is not one
//! round trip per entry. A failed answer puts its entry back, so polling again retries it; the
//! caller decides when to give up ([`super::driver::sync_tree`] gives up at the first error,
//! as go-ethereum does).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
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
    /// Nothing more to ask until an answer to a lookup already handed out arrives.
    Wait,
    /// Everything is downloaded: take it with [`TreeSync::finish`].
    Done,
}

/// The download of one tree.
#[derive(Debug)]
pub struct TreeSync {
    link: LinkEntry,
    limiter: RateLimiter,
    parallel: usize,
    root: Option<RootEntry>,
    root_in_flight: bool,
    /// Entries to look up, breadth first.
    missing: VecDeque<(Subtree, EntryHash)>,
    /// Entries looked up and not answered yet, by the name asked.
    in_flight: HashMap<String, (Subtree, EntryHash)>,
    queued: HashSet<EntryHash>,
    entries: BTreeMap<EntryHash, Entry>,
}

impl TreeSync {
    /// Starts downloading the tree at `url`, at the rate and parallelism `config` allows.
    pub fn new(url: LinkEntry, config: &ClientConfig) -> Self {
        TreeSync {
            link: url,
            limiter: RateLimiter::new(config.rate_limit, config.rate_burst),
            parallel: config.parallel_lookups.max(1),
            root: None,
            root_in_flight: false,
            missing: VecDeque::new(),
            in_flight: HashMap::new(),
            queued: HashSet::new(),
            entries: BTreeMap::new(),
        }
    }

    /// The next lookup to make.
    pub fn poll(&mut self, now: Instant) -> SyncStep {
        if self.root.is_some() && self.missing.is_empty() && self.in_flight.is_empty() {
            return SyncStep::Done;
        }
        let can_ask = match self.root {
            None => !self.root_in_flight,
            Some(_) => !self.missing.is_empty() && self.in_flight.len() < self.parallel,
        };
        if !can_ask {
            return SyncStep::Wait;
        }
        if let Err(at) = self.limiter.try_acquire(now) {
            return SyncStep::Sleep(at);
        }
        if self.root.is_none() {
            self.root_in_flight = true;
            return SyncStep::Resolve(self.link.domain.clone());
        }
        let (subtree, hash) = self.missing.pop_front().expect("checked above");
        let name = entry_name(&hash, &self.link.domain);
        self.in_flight.insert(name.clone(), (subtree, hash));
        SyncStep::Resolve(name)
    }

    /// Takes the answer to `name`, one of the names [`poll`](Self::poll) returned (answers to
    /// names not asked are ignored). On an error the lookup is given back: polling again asks
    /// it again.
    pub fn handle_answer(
        &mut self,
        name: &str,
        answer: Result<Vec<String>, ResolveError>,
    ) -> Result<(), SyncError> {
        let Some(_) = &self.root else {
            if !self.root_in_flight || name != self.link.domain {
                return Ok(());
            }
            self.root_in_flight = false;
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
        let Some((subtree, hash)) = self.in_flight.remove(name) else {
            return Ok(());
        };
        let entry = match read_entry(name, &hash, subtree, answer) {
            Ok(entry) => entry,
            Err(error) => {
                self.missing.push_front((subtree, hash));
                return Err(error);
            }
        };
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

    /// Entries downloaded and entries known to be missing (asked or not), for progress reports.
    pub fn progress(&self) -> (usize, usize) {
        (
            self.entries.len(),
            self.missing.len() + self.in_flight.len(),
        )
    }

    /// The downloaded tree, once [`poll`](Self::poll) said [`SyncStep::Done`].
    pub fn finish(self) -> Option<SignedTree> {
        let root = self.root?;
        if !self.missing.is_empty() || !self.in_flight.is_empty() {
            return None;
        }
        Some(SignedTree::from_parts(
            self.link.public_key,
            root,
            self.entries,
        ))
    }
}
