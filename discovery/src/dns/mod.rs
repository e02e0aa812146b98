//! DNS node discovery ([EIP-1459](https://eips.ethereum.org/EIPS/eip-1459)): signed trees of node
//! records and links published as DNS TXT records.
//!
//! - [`entry`]: the text form of the entries (root, branch, link, node record), their hashes,
//!   and the character-strings of a TXT record;
//! - [`tree`]: the publisher, building and signing a tree exactly as go-ethereum's `MakeTree`
//!   and rendering it as go-ethereum's `to-txt` JSON or as a zone file.
//!
//! Everything here is a pure function of text; the network stays outside.

mod base32;
pub mod entry;
pub mod tree;

pub use entry::{
    BranchEntry, Entry, EntryError, EntryHash, LinkEntry, RootEntry, Subtree,
    join_character_strings, split_character_strings,
};
pub use tree::{SignedTree, Tree, TreeError, ZoneOptions};
