//! DNS node discovery ([EIP-1459](https://eips.ethereum.org/EIPS/eip-1459)): signed trees of node
//! records and links published as DNS TXT records.
//!
//! - [`entry`]: the text form of the entries (root, branch, link, node record), their hashes,
//!   and the character-strings of a TXT record;
//! - [`tree`]: the publisher, building and signing a tree exactly as go-ethereum's `MakeTree`
//!   and rendering it as go-ethereum's `to-txt` JSON or as a zone file;
//! - [`Client`]: the sans-IO node iterator over trees and their links, and [`TreeSync`], the
//!   download of one whole tree;
//! - [`Resolver`]: the seam to DNS, with [`UdpResolver`] (one known server, no dependency),
//!   `HickoryResolver` (the system's configuration; the `dns-resolver` feature) and
//!   [`MemoryResolver`] for tests, and [`driver`], which runs the state machines against a
//!   resolver on tokio;
//! - [`message`]: the DNS messages [`UdpResolver`] sends and reads.

mod base32;
mod cache;
mod client;
mod download;
#[cfg(feature = "tokio")]
pub mod driver;
pub mod entry;
#[cfg(feature = "dns-resolver")]
mod hickory;
mod link_cache;
pub mod message;
mod rate_limit;
mod resolver;
pub mod tree;
mod tree_sync;
#[cfg(feature = "tokio")]
mod udp;
mod verify;

pub use client::{Action, Client, ClientConfig};
pub use download::{SyncStep, TreeSync};
pub use entry::{
    BranchEntry, Entry, EntryError, EntryHash, LinkEntry, RootEntry, Subtree,
    join_character_strings, parse_signature_text, split_character_strings,
};
#[cfg(feature = "dns-resolver")]
pub use hickory::HickoryResolver;
pub use resolver::{MemoryResolver, ResolveError, Resolver};
pub use tree::{SignedTree, Tree, TreeError, ZoneOptions};
#[cfg(feature = "tokio")]
pub use udp::UdpResolver;
pub use verify::SyncError;

#[cfg(test)]
mod client_tests;
