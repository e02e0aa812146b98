//! The resolver seam: how the client's drivers ask DNS for TXT records.
//!
//! The sync logic itself ([`Client`](super::Client), [`TreeSync`](super::TreeSync)) never calls
//! a resolver: it is a sans-IO state machine that says which name to resolve and is fed the
//! answer, so it runs the same under any runtime, in a simulation, or from a test that answers
//! by hand. [`Resolver`] is the seam the async drivers ([`super::driver`]) use: a trait whose
//! method returns a future, so an implementation may use any runtime (or none, as
//! [`MemoryResolver`] does). The real-DNS adapter is one small implementation of it.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

/// Why a TXT lookup produced no records. Every one of these is retried; none is fatal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The name does not exist or has no TXT records (NXDOMAIN or an empty answer).
    #[error("no TXT records")]
    NotFound,
    /// No answer in time.
    #[error("lookup timed out")]
    Timeout,
    /// The server failed or refused the query (SERVFAIL, REFUSED, a connection error).
    #[error("DNS server failure")]
    ServerFailure,
    /// The answer could not be decoded (malformed message, character-strings that do not form
    /// an entry).
    #[error("malformed DNS answer")]
    InvalidAnswer,
    /// The name cannot be asked: an empty label, a label over 63 bytes or a name over 255
    /// (RFC 1035 §2.3.4). A link to such a domain can never resolve.
    #[error("invalid DNS name")]
    InvalidName,
}

/// Looks up TXT records.
pub trait Resolver {
    /// The TXT records at `name` (a fully qualified name without the final dot), one string
    /// per record: the record's character-strings joined without a separator
    /// ([`join_character_strings`](super::join_character_strings) does that and its checks).
    fn lookup_txt(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<String>, ResolveError>> + Send;
}

/// An in-memory zone for tests and simulations: name to TXT record text, shared between
/// clones, so a test can change the tree while a client reads it.
#[derive(Debug, Clone, Default)]
pub struct MemoryResolver {
    records: Arc<Mutex<BTreeMap<String, Vec<String>>>>,
}

impl MemoryResolver {
    /// An empty zone.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds every record of `records` (as [`SignedTree::to_txt`](super::SignedTree::to_txt)
    /// returns them), replacing what was at those names.
    pub fn insert_all(&self, records: impl IntoIterator<Item = (String, String)>) {
        let mut map = self.lock();
        for (name, text) in records {
            map.insert(name, vec![text]);
        }
    }

    /// Sets the records at `name` (several TXT records at one name are allowed).
    pub fn set(&self, name: &str, texts: Vec<String>) {
        self.lock().insert(name.to_owned(), texts);
    }

    /// Removes the records at `name`.
    pub fn remove(&self, name: &str) {
        self.lock().remove(name);
    }

    /// Removes every record.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The records at `name`, answered at once.
    pub fn lookup(&self, name: &str) -> Result<Vec<String>, ResolveError> {
        self.lock().get(name).cloned().ok_or(ResolveError::NotFound)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<String>>> {
        // A panic elsewhere while holding the lock leaves the map intact.
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Resolver for MemoryResolver {
    fn lookup_txt(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<String>, ResolveError>> + Send {
        std::future::ready(self.lookup(name))
    }
}
