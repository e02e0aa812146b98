//! Async drivers: the sans-IO [`Client`] and [`TreeSync`] run against a [`Resolver`] on tokio's
//! clock (which tests can pause and advance).

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
/// lookup that fails, as go-ethereum's `SyncTree` does. `progress` is told (entries done,
/// entries known missing) after every entry.
pub async fn sync_tree<R: Resolver>(
    resolver: &R,
    url: &LinkEntry,
    config: &ClientConfig,
    mut progress: impl FnMut(usize, usize),
) -> Result<SignedTree, SyncError> {
    let mut sync = TreeSync::new(url.clone(), config);
    loop {
        match sync.poll(now()) {
            SyncStep::Done => break,
            SyncStep::Sleep(until) => tokio::time::sleep_until(until.into()).await,
            SyncStep::Resolve(name) => {
                let answer = lookup(resolver, &name, config.timeout).await;
                sync.handle_answer(answer)?;
                let (done, missing) = sync.progress();
                progress(done, missing);
            }
        }
    }
    Ok(sync.finish().expect("poll said the download is done"))
}
