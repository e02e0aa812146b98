//! Reading DNS answers into verified entries: the checks both the iterator and the full tree
//! download make before anything is used or cached
//! ([EIP-1459, Client Protocol](https://eips.ethereum.org/EIPS/eip-1459#client-protocol);
//! go-ethereum `client.go resolveRoot/doResolveEntry`).

use super::entry::{
    BRANCH_PREFIX, ENR_PREFIX, Entry, EntryError, EntryHash, LINK_PREFIX, LinkEntry, ROOT_PREFIX,
    RootEntry, Subtree,
};
use super::resolver::ResolveError;

/// Why a lookup did not yield a usable root or entry. None of these is fatal: the client logs
/// it, caches nothing, and retries or skips the entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// The lookup itself failed.
    #[error("{name}: {error}")]
    Resolve {
        /// The name looked up.
        name: String,
        /// What the resolver said.
        error: ResolveError,
    },
    /// No TXT record at the tree's domain starts with `enrtree-root:v1`.
    #[error("{domain}: no root entry")]
    NoRoot {
        /// The tree's domain.
        domain: String,
    },
    /// The root is malformed, or its signature does not verify against the URL's key.
    #[error("{domain}: invalid root: {error}")]
    InvalidRoot {
        /// The tree's domain.
        domain: String,
        /// Why.
        error: EntryError,
    },
    /// The root's sequence number is lower than one already seen for this tree: an old or
    /// replayed root (the EIP asks clients to refuse it; go-ethereum does not).
    #[error("{domain}: root seq {seq} is below the {seen} already seen")]
    SeqDecreased {
        /// The tree's domain.
        domain: String,
        /// The highest sequence number seen.
        seen: u64,
        /// The sequence number of the refused root.
        seq: u64,
    },
    /// No TXT record at the name is an entry of a known type.
    #[error("{name}: no tree entry")]
    NoEntry {
        /// The name looked up.
        name: String,
    },
    /// The entry's text does not hash to its name.
    #[error("{name}: content does not match the hash")]
    HashMismatch {
        /// The name looked up.
        name: String,
    },
    /// The entry's hash matches but it is malformed, or not allowed in its subtree. Since the
    /// content is fixed by the hash, it can never become valid.
    #[error("{name}: {error}")]
    InvalidEntry {
        /// The name looked up.
        name: String,
        /// Why.
        error: EntryError,
    },
}

impl SyncError {
    /// Whether retrying the same name may give a different result. Invalid entries whose hash
    /// matched are permanent; everything else may be a transient failure or a lying resolver.
    pub fn is_transient(&self) -> bool {
        !matches!(self, SyncError::InvalidEntry { .. })
    }
}

/// The name of the entry `hash` of the tree at `domain`.
pub(crate) fn entry_name(hash: &EntryHash, domain: &str) -> String {
    format!("{hash}.{domain}")
}

/// Picks the root out of the TXT records at the tree's domain: the first record with the root
/// prefix, parsed and verified against the URL's key.
pub(crate) fn read_root(
    tree: &LinkEntry,
    answer: Result<Vec<String>, ResolveError>,
) -> Result<RootEntry, SyncError> {
    let domain = &tree.domain;
    let texts = answer.map_err(|error| SyncError::Resolve {
        name: domain.clone(),
        error,
    })?;
    let text = texts
        .iter()
        .find(|t| t.starts_with(ROOT_PREFIX))
        .ok_or_else(|| SyncError::NoRoot {
            domain: domain.clone(),
        })?;
    let invalid = |error| SyncError::InvalidRoot {
        domain: domain.clone(),
        error,
    };
    let root: RootEntry = text.parse().map_err(invalid)?;
    root.verify(&tree.public_key).map_err(invalid)?;
    Ok(root)
}

/// Picks the entry `hash` out of the TXT records at its name: the first record of a known
/// type, which must hash to `hash`, parse, and be allowed in `subtree`.
pub(crate) fn read_entry(
    name: &str,
    hash: &EntryHash,
    subtree: Subtree,
    answer: Result<Vec<String>, ResolveError>,
) -> Result<Entry, SyncError> {
    let texts = answer.map_err(|error| SyncError::Resolve {
        name: name.to_owned(),
        error,
    })?;
    let known = |t: &&String| {
        t.starts_with(BRANCH_PREFIX) || t.starts_with(LINK_PREFIX) || t.starts_with(ENR_PREFIX)
    };
    let text = texts.iter().find(known).ok_or_else(|| SyncError::NoEntry {
        name: name.to_owned(),
    })?;
    if !hash.matches(text.as_bytes()) {
        return Err(SyncError::HashMismatch {
            name: name.to_owned(),
        });
    }
    Entry::parse_in(text, subtree).map_err(|error| SyncError::InvalidEntry {
        name: name.to_owned(),
        error,
    })
}

/// Checks an entry taken from the cache against the subtree it is wanted in (the cache is
/// shared by subtrees and trees).
pub(crate) fn check_cached(name: &str, entry: Entry, subtree: Subtree) -> Result<Entry, SyncError> {
    let misplaced = match (&entry, subtree) {
        (Entry::Enr(_), Subtree::Link) => Some(EntryError::EnrInLinkTree),
        (Entry::Link(_), Subtree::Enr) => Some(EntryError::LinkInEnrTree),
        _ => None,
    };
    match misplaced {
        Some(error) => Err(SyncError::InvalidEntry {
            name: name.to_owned(),
            error,
        }),
        None => Ok(entry),
    }
}
