//! Async drivers: the sans-IO [`Client`] and [`TreeSync`] run against a [`Resolver`] on tokio's
//! clock (which tests can pause and advance).

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Instant;

use super::client::{Action, Client, ClientConfig};
use super::download::{SyncStep, TreeSync};
use super::entry::LinkEntry;
use super::resolver::{ResolveError, Resolver};
use super::tree::SignedTree;
use super::verify::SyncError;
use crate::Enr;

/// The current time on tokio's clock, as the state machines take it.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// One lookup, bounded by `timeout`.
async fn lookup<R: Resolver>(
    resolver: &R,
    name: &str,
    timeout: std::time::Duration,
) -> Result<Vec<String>, ResolveError> {
    tokio::time::timeout(timeout, resolver.lookup_txt(name))
        .await
        .unwrap_or(Err(ResolveError::Timeout))
}

/// Nodes from DNS trees: a [`Client`] driven by a [`Resolver`].
#[derive(Debug)]
pub struct NodeIterator<R> {
    client: Client,
    resolver: R,
}

impl<R: Resolver> NodeIterator<R> {
    /// An iterator over the nodes of `urls` (and the trees they link to).
    pub fn new(resolver: R, config: ClientConfig, seed: u64, urls: &[LinkEntry]) -> Self {
        let mut client = Client::new(config, seed);
        for url in urls {
            client.add_tree(url);
        }
        NodeIterator { client, resolver }
    }

    /// The next node; `None` only when there is no tree at all. Waits (never spins) while the
    /// trees are empty or unreachable; lookup failures are logged and retried.
    pub async fn next_node(&mut self) -> Option<Enr> {
        loop {
            match self.client.poll(now()) {
                Action::Node(node) => return Some(node),
                Action::Idle => return None,
                Action::Sleep(until) => tokio::time::sleep_until(until.into()).await,
                Action::Resolve(name) => {
                    let answer = lookup(&self.resolver, &name, self.client.config().timeout).await;
                    // Already logged by the client; the walk goes on.
                    let _ = self.client.handle_answer(answer);
                }
            }
        }
    }

    /// The client, to inspect its trees.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// Downloads the whole tree at `url` (without following its links), failing at the first
/// lookup that fails, as go-ethereum's `SyncTree` does. Up to
/// [`ClientConfig::parallel_lookups`] lookups run at once. `progress` is told (entries done,
/// entries known missing) after every entry.
pub async fn sync_tree<R: Resolver + Sync>(
    resolver: &R,
    url: &LinkEntry,
    config: &ClientConfig,
    mut progress: impl FnMut(usize, usize),
) -> Result<SignedTree, SyncError> {
    type Answer = (String, Result<Vec<String>, ResolveError>);
    let mut sync = TreeSync::new(url.clone(), config);
    let mut pending: Vec<Pin<Box<dyn Future<Output = Answer> + Send + '_>>> = Vec::new();
    loop {
        // Ask everything the sync allows now, then wait for an answer (or the rate limiter).
        let wake = loop {
            match sync.poll(now()) {
                SyncStep::Done => {
                    return Ok(sync.finish().expect("poll said the download is done"));
                }
                SyncStep::Resolve(name) => pending.push(Box::pin(async move {
                    let answer = lookup(resolver, &name, config.timeout).await;
                    (name, answer)
                })),
                SyncStep::Sleep(until) => break Some(until),
                SyncStep::Wait => break None,
            }
        };
        let (name, answer) = match wake {
            Some(until) if pending.is_empty() => {
                tokio::time::sleep_until(until.into()).await;
                continue;
            }
            Some(until) => {
                tokio::select! {
                    answer = next_answer(&mut pending) => answer,
                    () = tokio::time::sleep_until(until.into()) => continue,
                }
            }
            None => next_answer(&mut pending).await,
        };
        sync.handle_answer(&name, answer)?;
        let (done, missing) = sync.progress();
        progress(done, missing);
    }
}

/// The first of `pending` to finish, removed from it. `pending` holds at most
/// `parallel_lookups` futures, so polling each on every wake costs little.
fn next_answer<'a, T>(
    pending: &'a mut Vec<Pin<Box<dyn Future<Output = T> + Send + '_>>>,
) -> impl Future<Output = T> + 'a {
    std::future::poll_fn(move |cx| {
        for i in 0..pending.len() {
            if let Poll::Ready(answer) = pending[i].as_mut().poll(cx) {
                drop(pending.swap_remove(i));
                return Poll::Ready(answer);
            }
        }
        Poll::Pending
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use secp256k1::SecretKey;

    use super::*;
    use crate::dns::{MemoryResolver, Tree};

    fn key(i: u64) -> SecretKey {
        let mut bytes = [0u8; 32];
        bytes[24..].copy_from_slice(&(i + 1).to_be_bytes());
        SecretKey::from_secret_bytes(bytes).unwrap()
    }

    fn nodes(range: std::ops::Range<u64>) -> Vec<Enr> {
        range
            .map(|i| Enr::builder().seq(1).build(&key(i)).unwrap())
            .collect()
    }

    /// A zone that counts lookups and never answers the first `stall` of them.
    #[derive(Clone)]
    struct Flaky {
        zone: MemoryResolver,
        stall: usize,
        calls: Arc<AtomicUsize>,
    }

    impl Resolver for Flaky {
        async fn lookup_txt(&self, name: &str) -> Result<Vec<String>, ResolveError> {
            if self.calls.fetch_add(1, Ordering::SeqCst) < self.stall {
                std::future::pending::<()>().await;
            }
            self.zone.lookup(name)
        }
    }

    fn linked_pair(zone: &MemoryResolver) -> (LinkEntry, Vec<Enr>) {
        let signer = key(1000);
        let all = nodes(0..25);
        let far = Tree::new(1, &all[..10], &[]).unwrap().sign(&signer);
        let far_url = far.url("far.example.org").unwrap();
        let near = Tree::new(1, &all[10..], &[far_url]).unwrap().sign(&signer);
        zone.insert_all(far.to_txt("far.example.org"));
        zone.insert_all(near.to_txt("near.example.org"));
        (near.url("near.example.org").unwrap(), all)
    }

    #[tokio::test(start_paused = true)]
    async fn iterator_finds_linked_nodes_at_the_default_rate() {
        let zone = MemoryResolver::new();
        let (url, all) = linked_pair(&zone);
        let resolver = Flaky {
            zone,
            stall: 0,
            calls: Arc::default(),
        };
        let start = tokio::time::Instant::now();
        let mut it = NodeIterator::new(resolver.clone(), ClientConfig::default(), 3, &[url]);
        let mut seen = std::collections::BTreeSet::new();
        while seen.len() < all.len() {
            seen.insert(it.next_node().await.unwrap().id());
        }
        assert_eq!(it.client().trees().count(), 2);
        let lookups = resolver.calls.load(Ordering::SeqCst);
        // 3 lookups a second after a burst of 10.
        let elapsed = start.elapsed().as_secs_f64();
        assert!(
            elapsed >= (lookups - 10) as f64 / 3.0,
            "{lookups} lookups in {elapsed} s"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn lookups_that_never_answer_time_out_and_are_retried() {
        let zone = MemoryResolver::new();
        let (url, _) = linked_pair(&zone);
        let resolver = Flaky {
            zone,
            stall: 3,
            calls: Arc::default(),
        };
        let start = tokio::time::Instant::now();
        let mut it = NodeIterator::new(resolver, ClientConfig::default(), 3, &[url]);
        assert!(it.next_node().await.is_some());
        assert!(
            start.elapsed() >= Duration::from_secs(15),
            "three 5 s timeouts"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_empty_tree_waits_without_spinning() {
        let zone = MemoryResolver::new();
        let empty = Tree::new(1, &[], &[]).unwrap().sign(&key(1));
        zone.insert_all(empty.to_txt("e.example.org"));
        let resolver = Flaky {
            zone,
            stall: 0,
            calls: Arc::default(),
        };
        let url = empty.url("e.example.org").unwrap();
        let mut it = NodeIterator::new(resolver.clone(), ClientConfig::default(), 3, &[url]);
        let waited = tokio::time::timeout(Duration::from_secs(2 * 3600), it.next_node()).await;
        assert!(waited.is_err(), "no node in an empty tree");
        // The root and the empty branch, then one root check every 30 min (cached branch).
        assert_eq!(resolver.calls.load(Ordering::SeqCst), 2 + 4);
    }

    #[tokio::test(start_paused = true)]
    async fn sync_tree_downloads_without_following_links() {
        let zone = MemoryResolver::new();
        let (url, all) = linked_pair(&zone);
        let mut reports = 0;
        let tree = sync_tree(&zone, &url, &ClientConfig::default(), |_, _| reports += 1)
            .await
            .unwrap();
        assert_eq!(tree.tree().nodes().len(), all.len() - 10);
        assert_eq!(tree.tree().links().len(), 1);
        assert_eq!(reports, tree.tree().entries().len() + 1);
        // What was downloaded is exactly what the zone serves.
        for (name, text) in tree.to_txt(&url.domain) {
            assert_eq!(zone.lookup(&name), Ok(vec![text]));
        }

        let missing = LinkEntry::new(url.public_key, "gone.example.org").unwrap();
        let error = sync_tree(&zone, &missing, &ClientConfig::default(), |_, _| {})
            .await
            .unwrap_err();
        assert_eq!(
            error,
            SyncError::Resolve {
                name: "gone.example.org".into(),
                error: ResolveError::NotFound
            }
        );
    }
}
