//! The node iterator: walks a set of trees and the trees they link to, and hands out the node
//! records it finds, the way go-ethereum's `dnsdisc` random iterator does (`client.go`,
//! `sync.go`), as a sans-IO state machine.
//!
//! A driver loops: [`Client::poll`] says what to do next ([`Action`]): resolve a name, take a
//! node, or sleep until an instant; the answer to a lookup goes back through
//! [`Client::handle_answer`]. Time comes in as `now`, randomness from a seed, so tests run on a
//! simulated clock and an in-memory zone. [`super::driver::NodeIterator`] is the async driver
//! for a [`Resolver`](super::Resolver).
//!
//! Behaviour (go-ethereum's unless said otherwise):
//! - each step picks a uniformly random tree among those with something to do; in it, the link
//!   subtree is walked to completion first (every link found becomes a tree to walk), then
//!   random unvisited node entries; a fully walked tree starts over;
//! - a root is verified against the URL's key, an entry against its hash, and an entry's type
//!   against its subtree, before anything is used or cached; the cache is bounded (LRU);
//! - a root whose sequence number is lower than one seen before is refused (the EIP asks for it;
//!   go-ethereum does not check);
//! - roots are looked up again every `recheck_interval`, and after more than five failed leaf
//!   lookups; failed root lookups back off (5 s after 5 failures, 10 s after 20);
//! - links dropped from a tree are dropped from the walk, with the trees only they referenced;
//! - every lookup, and every cache hit, takes a token of the rate limiter;
//! - when no tree has anything to do (all empty), [`Action::Sleep`] until the next root check:
//!   never a spin;
//! - failed lookups and bad entries are returned from [`Client::handle_answer`] and logged
//!   once, never fatal: the entry is skipped for the rest of the walk and tried again in the
//!   next one (after go-ethereum, where one failing entry could stall a walk for good); an
//!   entry whose hash matched but which is invalid is skipped until the root changes, since its
//!   content cannot.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::cache::EntryCache;
use super::entry::{Entry, EntryHash, LinkEntry, Subtree};
use super::link_cache::LinkCache;
use super::rate_limit::RateLimiter;
use super::resolver::ResolveError;
use super::tree_sync::{ClientTree, TreeStep};
use super::verify::{SyncError, check_cached, entry_name, read_entry, read_root};
use crate::Enr;

/// The client's settings; the defaults are go-ethereum's.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    /// How long a driver waits for one lookup (default 5 s).
    pub timeout: Duration,
    /// How often each tree's root is looked up again (default 30 min).
    pub recheck_interval: Duration,
    /// The most entries cached (default 1000).
    pub cache_limit: usize,
    /// Lookups per second, cache hits included (default 3).
    pub rate_limit: f64,
    /// Lookups allowed at once before the rate applies (default 10).
    pub rate_burst: u32,
    /// How many lookups a whole-tree download ([`TreeSync`](super::TreeSync)) keeps in flight
    /// (default 8), within the rate limit. The iterator asks one name at a time, as
    /// go-ethereum's does: it hands out nodes as they are wanted.
    pub parallel_lookups: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            timeout: Duration::from_secs(5),
            recheck_interval: Duration::from_secs(30 * 60),
            cache_limit: 1000,
            rate_limit: 3.0,
            rate_burst: 10,
            parallel_lookups: 8,
        }
    }
}

/// What the client wants next.
// A node is handed out by value once per call; boxing it would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Resolve the TXT records of this name and pass the answer to
    /// [`Client::handle_answer`]. Until then, `poll` asks for the same name again.
    Resolve(String),
    /// A node record found in a tree.
    Node(Enr),
    /// Nothing to do before this instant (rate limit, backoff, or next root check).
    Sleep(Instant),
    /// No tree to walk: none was added, or every one was dropped.
    Idle,
}

/// The lookup in flight.
#[derive(Debug)]
struct Pending {
    tree: String,
    name: String,
    target: Target,
}

#[derive(Debug)]
enum Target {
    Root,
    Entry(Subtree, EntryHash),
}

/// The iterator over the nodes of a set of trees.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    rng: StdRng,
    cache: EntryCache,
    limiter: RateLimiter,
    links: LinkCache,
    trees: BTreeMap<String, ClientTree>,
    pending: Option<Pending>,
    found: Option<Enr>,
}

impl Client {
    /// A client with no trees; `seed` drives its random choices.
    pub fn new(config: ClientConfig, seed: u64) -> Self {
        Client {
            rng: StdRng::seed_from_u64(seed),
            cache: EntryCache::new(config.cache_limit),
            limiter: RateLimiter::new(config.rate_limit, config.rate_burst),
            links: LinkCache::default(),
            trees: BTreeMap::new(),
            pending: None,
            found: None,
            config,
        }
    }

    /// The settings.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Adds the tree at `url` (and, once synced, the trees it links to).
    pub fn add_tree(&mut self, url: &LinkEntry) {
        self.links.add_link("", &url.to_string());
        self.rebuild_trees();
    }

    /// The trees being walked: those added, and those linked from them.
    pub fn trees(&self) -> impl Iterator<Item = &LinkEntry> {
        self.trees.values().map(|t| &t.link)
    }

    /// The number of entries in the cache.
    pub fn cached_entries(&self) -> usize {
        self.cache.len()
    }

    /// What to do next.
    pub fn poll(&mut self, now: Instant) -> Action {
        if let Some(node) = self.found.take() {
            return Action::Node(node);
        }
        if let Some(pending) = &self.pending {
            return Action::Resolve(pending.name.clone());
        }
        loop {
            self.rebuild_trees();
            if self.trees.is_empty() {
                return Action::Idle;
            }
            let recheck = self.config.recheck_interval;
            let syncable: Vec<&String> = self
                .trees
                .iter()
                .filter(|(_, t)| t.can_sync(now, recheck))
                .map(|(key, _)| key)
                .collect();
            if syncable.is_empty() {
                let wake = self.trees.values().map(|t| t.wake_at(now, recheck)).min();
                return Action::Sleep(wake.unwrap_or(now + recheck).max(now));
            }
            // Every step takes a token, cache hits too, so this loop ends within a burst.
            if let Err(at) = self.limiter.try_acquire(now) {
                return Action::Sleep(at);
            }
            let key = syncable[self.rng.random_range(0..syncable.len())].clone();
            let tree = self.trees.get_mut(&key).expect("syncable tree exists");
            let rng = &mut self.rng;
            match tree.next_step(now, recheck, |n| rng.random_range(0..n)) {
                TreeStep::Root => {
                    tree.root_lookup_started(now);
                    let name = tree.link.domain.clone();
                    self.pending = Some(Pending {
                        tree: key,
                        name: name.clone(),
                        target: Target::Root,
                    });
                    return Action::Resolve(name);
                }
                TreeStep::Entry(subtree, hash) => {
                    let name = entry_name(&hash, &tree.link.domain);
                    if let Some(entry) = self.cache.get(&hash) {
                        let result = check_cached(&name, entry, subtree);
                        // An error is logged and counted inside; the walk goes on.
                        let _ = self.apply_entry(&key, subtree, &hash, result, false);
                        if let Some(node) = self.found.take() {
                            return Action::Node(node);
                        }
                        continue;
                    }
                    self.pending = Some(Pending {
                        tree: key,
                        name: name.clone(),
                        target: Target::Entry(subtree, hash),
                    });
                    return Action::Resolve(name);
                }
            }
        }
    }

    /// Takes the answer to the last [`Action::Resolve`]: the TXT records at that name, one
    /// string per record. Errors are already logged; they are returned for callers that count
    /// or show them. Without a lookup in flight, the answer is ignored.
    pub fn handle_answer(
        &mut self,
        answer: Result<Vec<String>, ResolveError>,
    ) -> Result<(), SyncError> {
        let Some(pending) = self.pending.take() else {
            return Ok(());
        };
        let result = match pending.target {
            Target::Root => {
                let Some(tree) = self.trees.get_mut(&pending.tree) else {
                    return Ok(());
                };
                let result = tree.update_root(read_root(&tree.link, answer));
                if let Err(error) = &result {
                    log_error(&tree.link.domain, error);
                }
                result
            }
            Target::Entry(subtree, hash) => {
                let entry = read_entry(&pending.name, &hash, subtree, answer);
                self.apply_entry(&pending.tree, subtree, &hash, entry, true)
            }
        };
        self.rebuild_trees();
        result
    }

    /// Applies a resolved (or failed) entry to its tree's walk.
    fn apply_entry(
        &mut self,
        key: &str,
        subtree: Subtree,
        hash: &EntryHash,
        result: Result<Entry, SyncError>,
        fresh: bool,
    ) -> Result<(), SyncError> {
        let Some(tree) = self.trees.get_mut(key) else {
            return Ok(());
        };
        let entry = match result {
            Ok(entry) => entry,
            Err(error) => {
                tree.leaf_fail_count += 1;
                if let Some(walk) = tree.subtree(subtree) {
                    walk.failed(hash, error.is_transient());
                }
                log_error(&tree.link.domain, &error);
                return Err(error);
            }
        };
        if fresh {
            self.cache.insert(hash, entry.clone());
        }
        if let Some(walk) = tree.subtree(subtree) {
            walk.resolved(hash, &entry);
        }
        match entry {
            Entry::Link(link) => {
                let to = link.to_string();
                self.links.add_link(&tree.key, &to);
                tree.current_links.insert(to);
            }
            Entry::Enr(enr) => self.found = Some(*enr),
            Entry::Branch(_) => {}
        }
        if tree.take_link_gc() {
            self.links.reset_links(&tree.key, &tree.current_links);
        }
        Ok(())
    }

    /// Adds trees that became referenced and drops those no longer referenced.
    fn rebuild_trees(&mut self) {
        if !self.links.changed {
            return;
        }
        self.links.changed = false;
        let links = &self.links;
        self.trees.retain(|key, _| links.is_referenced(key));
        for key in self.links.referenced() {
            if !self.trees.contains_key(key) {
                // Keys are canonical URLs written by `LinkEntry`'s Display, so they parse.
                if let Ok(link) = key.parse::<LinkEntry>() {
                    self.trees.insert(key.clone(), ClientTree::new(link));
                }
            }
        }
        if let Some(pending) = &self.pending
            && !self.trees.contains_key(&pending.tree)
        {
            self.pending = None;
        }
    }
}

/// One log line per rejected answer: a warning for what looks like tampering, debug for what a
/// flaky network explains.
fn log_error(domain: &str, error: &SyncError) {
    match error {
        SyncError::InvalidRoot { .. }
        | SyncError::SeqDecreased { .. }
        | SyncError::HashMismatch { .. }
        | SyncError::InvalidEntry { .. } => {
            tracing::warn!(tree = domain, %error, "DNS discovery: rejected answer");
        }
        SyncError::Resolve { .. } | SyncError::NoRoot { .. } | SyncError::NoEntry { .. } => {
            tracing::debug!(tree = domain, %error, "DNS discovery: lookup failed");
        }
    }
}
