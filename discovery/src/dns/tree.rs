//! The publisher: builds, signs and renders a tree the way go-ethereum's `p2p/dnsdisc`
//! `MakeTree`, `Sign` and `ToTXT` do, so that both tools produce the same zone byte for byte
//! ([EIP-1459](https://eips.ethereum.org/EIPS/eip-1459#dns-record-structure)).
//!
//! Shape (`tree.go MakeTree/build`): records sorted by node id, links in the order given; a
//! subtree of one entry is that entry (no branch); up to [`MAX_CHILDREN`] entries go in one
//! branch; more are cut into chunks of [`MAX_CHILDREN`], each built the same way, and the
//! chunks' roots are built again, recursively. An empty subtree is the empty branch
//! `enrtree-branch:` (hash `FDXN3SN67NA5DKA4J2GOK7BVQI`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use secp256k1::{PublicKey, SecretKey};

use super::entry::{
    BranchEntry, Entry, EntryError, EntryHash, LinkEntry, RootEntry, SIGNATURE_SIZE,
    split_character_strings,
};
use crate::rlp;
use crate::{Enr, NodeId};

/// The most children a publisher puts in one branch: `370 / (1 + 26)`, which keeps the largest
/// branch (365 bytes) and its DNS answer within a 512-byte UDP message (go-ethereum #22533).
pub const MAX_CHILDREN: usize = 13;

/// The TTL go-ethereum's `devp2p dns` gives the root record: 30 minutes, so updates spread.
pub const ROOT_TTL: u32 = 30 * 60;
/// The TTL go-ethereum's `devp2p dns` gives the other entries: 4 weeks. Their names are their
/// hashes, so they never change.
pub const ENTRY_TTL: u32 = 4 * 7 * 24 * 60 * 60;

/// Port keys that must hold a 16-bit integer. [`Enr`] already checks `tcp`, `udp`, `tcp6` and
/// `udp6`; go-ethereum (since #35312) refuses records with an undecodable port under any of
/// these, since strict readers would fail on them.
const QUIC_PORT_KEYS: [&str; 2] = ["quic", "quic6"];

/// Why a tree could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// A record's port key does not hold a 16-bit integer.
    #[error("record {id} has an invalid {key:?} port")]
    InvalidPort {
        /// The record's node id.
        id: NodeId,
        /// The offending key.
        key: &'static str,
    },
}

/// A built, not yet signed tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    seq: u64,
    enr_root: EntryHash,
    link_root: EntryHash,
    entries: BTreeMap<EntryHash, Entry>,
}

impl Tree {
    /// Builds the tree of `nodes` and `links` with sequence number `seq`.
    pub fn new(seq: u64, nodes: &[Enr], links: &[LinkEntry]) -> Result<Tree, TreeError> {
        let mut records = nodes.to_vec();
        records.sort_by_key(Enr::id);
        for record in &records {
            check_ports(record)?;
        }
        let mut entries = BTreeMap::new();
        let enr_leaves = records
            .into_iter()
            .map(|r| Entry::Enr(Box::new(r)))
            .collect();
        let enr_subtree = build(&mut entries, enr_leaves);
        let enr_root = insert(&mut entries, enr_subtree);
        let link_leaves = links.iter().cloned().map(Entry::Link).collect();
        let link_subtree = build(&mut entries, link_leaves);
        let link_root = insert(&mut entries, link_subtree);
        Ok(Tree {
            seq,
            enr_root,
            link_root,
            entries,
        })
    }

    /// Rebuilds a tree from its parts, as a client downloaded them: `entries` must hold every
    /// entry reachable from the two roots (see [`SignedTree::from_parts`]).
    fn from_parts(root: &RootEntry, entries: BTreeMap<EntryHash, Entry>) -> Tree {
        Tree {
            seq: root.seq,
            enr_root: root.enr_root.clone(),
            link_root: root.link_root.clone(),
            entries,
        }
    }

    /// The sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The hash of the node record subtree's root (`e=`).
    pub fn enr_root(&self) -> &EntryHash {
        &self.enr_root
    }

    /// The hash of the link subtree's root (`l=`).
    pub fn link_root(&self) -> &EntryHash {
        &self.link_root
    }

    /// Every entry but the root, by name.
    pub fn entries(&self) -> &BTreeMap<EntryHash, Entry> {
        &self.entries
    }

    /// The node records, sorted by node id.
    pub fn nodes(&self) -> Vec<&Enr> {
        let mut nodes: Vec<&Enr> = self
            .entries
            .values()
            .filter_map(|e| match e {
                Entry::Enr(enr) => Some(&**enr),
                _ => None,
            })
            .collect();
        nodes.sort_by_key(|n| n.id());
        nodes
    }

    /// The links, in the order of the link subtree.
    pub fn links(&self) -> Vec<&LinkEntry> {
        let mut links = Vec::new();
        let mut stack = vec![&self.link_root];
        while let Some(hash) = stack.pop() {
            match self.entries.get(hash) {
                Some(Entry::Link(link)) => links.push(link),
                Some(Entry::Branch(branch)) => stack.extend(branch.children.iter().rev()),
                _ => {}
            }
        }
        links
    }

    /// Signs the root with `key` (deterministically, as go-ethereum does).
    pub fn sign(self, key: &SecretKey) -> SignedTree {
        let root = RootEntry::sign(self.enr_root.clone(), self.link_root.clone(), self.seq, key);
        SignedTree {
            public_key: key.public_key(),
            root,
            tree: self,
        }
    }

    /// Attaches a signature made earlier (the `signature` of `enrtree-info.json`) after
    /// checking it against `key`, as go-ethereum's `SetSignature` does.
    pub fn with_signature(
        self,
        key: &PublicKey,
        signature: [u8; SIGNATURE_SIZE],
    ) -> Result<SignedTree, EntryError> {
        let root = RootEntry::with_signature(
            self.enr_root.clone(),
            self.link_root.clone(),
            self.seq,
            signature,
        );
        root.verify(key)?;
        Ok(SignedTree {
            public_key: *key,
            root,
            tree: self,
        })
    }
}

/// A tree with a verified root signature: what gets published, or what a client downloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTree {
    public_key: PublicKey,
    root: RootEntry,
    tree: Tree,
}

impl SignedTree {
    /// A tree from a verified root and the entries found below it.
    pub fn from_parts(
        public_key: PublicKey,
        root: RootEntry,
        entries: BTreeMap<EntryHash, Entry>,
    ) -> SignedTree {
        SignedTree {
            public_key,
            tree: Tree::from_parts(&root, entries),
            root,
        }
    }

    /// The signed root.
    pub fn root(&self) -> &RootEntry {
        &self.root
    }

    /// The tree's content.
    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    /// The key the root is signed with.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// The tree's `enrtree://` URL when published at `domain`.
    pub fn url(&self, domain: &str) -> Result<LinkEntry, EntryError> {
        LinkEntry::new(self.public_key, domain)
    }

    /// Every TXT record of the tree, name to text, as go-ethereum's `ToTXT`: the root at
    /// `domain`, the other entries at `<hash>.<domain>` (bare hashes if `domain` is empty).
    pub fn to_txt(&self, domain: &str) -> BTreeMap<String, String> {
        let mut records = BTreeMap::new();
        records.insert(domain.to_owned(), self.root.to_string());
        for (hash, entry) in &self.tree.entries {
            let name = if domain.is_empty() {
                hash.to_string()
            } else {
                format!("{hash}.{domain}")
            };
            records.insert(name, entry.to_string());
        }
        records
    }

    /// [`to_txt`](Self::to_txt) as the JSON go-ethereum's `devp2p dns to-txt` writes: an object
    /// sorted by name, indented by four spaces, without a final newline.
    pub fn to_txt_json(&self, domain: &str) -> String {
        let records = self.to_txt(domain);
        if records.is_empty() {
            return "{}".to_owned();
        }
        let mut out = String::from("{\n");
        for (i, (name, text)) in records.iter().enumerate() {
            if i > 0 {
                out.push_str(",\n");
            }
            out.push_str("    ");
            push_json_string(&mut out, name);
            out.push_str(": ");
            push_json_string(&mut out, text);
        }
        out.push_str("\n}");
        out
    }

    /// The tree as an RFC 1035 zone file for `domain`, which an authoritative server (nsd,
    /// BIND, knot) loads as it is: an SOA and NS record, then every TXT record, each text cut
    /// into quoted character-strings of at most 255 bytes (servers refuse longer ones).
    pub fn to_zone_file(&self, domain: &str, options: &ZoneOptions) -> String {
        let mut out = String::new();
        let origin = format!("{}.", domain.trim_end_matches('.'));
        let _ = writeln!(out, "; EIP-1459 node tree, seq {}", self.root.seq);
        if let Ok(url) = self.url(domain) {
            let _ = writeln!(out, "; {url}");
        }
        let _ = writeln!(out, "$ORIGIN {origin}");
        let _ = writeln!(
            out,
            "@ {ttl} IN SOA {ns} hostmaster.{origin} {serial} 3600 600 86400 {ttl}",
            ttl = options.root_ttl,
            ns = options.nameserver,
            // SOA serials are 32 bits; serial arithmetic (RFC 1982) tolerates the wrap.
            serial = self.root.seq as u32,
        );
        let _ = writeln!(out, "@ {} IN NS {}", options.root_ttl, options.nameserver);
        push_txt_record(&mut out, "@", options.root_ttl, &self.root.to_string());
        for (hash, entry) in &self.tree.entries {
            push_txt_record(
                &mut out,
                hash.as_str(),
                options.entry_ttl,
                &entry.to_string(),
            );
        }
        out
    }
}

/// What a zone file needs beyond the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneOptions {
    /// TTL of the root (and of the SOA and NS records); default [`ROOT_TTL`].
    pub root_ttl: u32,
    /// TTL of the other entries; default [`ENTRY_TTL`].
    pub entry_ttl: u32,
    /// The fully qualified name of the zone's nameserver (with the final dot); default
    /// `localhost.`, a name outside the zone, so that no address record is required.
    pub nameserver: String,
}

impl Default for ZoneOptions {
    fn default() -> Self {
        ZoneOptions {
            root_ttl: ROOT_TTL,
            entry_ttl: ENTRY_TTL,
            nameserver: "localhost.".to_owned(),
        }
    }
}

/// Builds the subtree of `leaves` (go-ethereum's `build`), adding every entry below the
/// subtree's root to `entries`, and returns that root (not yet added).
fn build(entries: &mut BTreeMap<EntryHash, Entry>, mut leaves: Vec<Entry>) -> Entry {
    if leaves.len() == 1 {
        return leaves.pop().expect("one leaf");
    }
    if leaves.len() <= MAX_CHILDREN {
        let children = leaves.into_iter().map(|e| insert(entries, e)).collect();
        return Entry::Branch(BranchEntry { children });
    }
    let mut subtrees = Vec::with_capacity(leaves.len().div_ceil(MAX_CHILDREN));
    let mut rest = leaves.into_iter().peekable();
    while rest.peek().is_some() {
        let chunk: Vec<Entry> = rest.by_ref().take(MAX_CHILDREN).collect();
        let subtree = build(entries, chunk);
        entries.insert(subtree.hash(), subtree.clone());
        subtrees.push(subtree);
    }
    build(entries, subtrees)
}

/// Adds `entry` under its hash and returns the hash.
fn insert(entries: &mut BTreeMap<EntryHash, Entry>, entry: Entry) -> EntryHash {
    let hash = entry.hash();
    entries.insert(hash.clone(), entry);
    hash
}

fn check_ports(record: &Enr) -> Result<(), TreeError> {
    for key in QUIC_PORT_KEYS {
        if let Some(raw) = record.get(key) {
            let valid = rlp::single_item(raw).is_ok_and(|item| rlp::uint(&item, 2).is_ok());
            if !valid {
                return Err(TreeError::InvalidPort {
                    id: record.id(),
                    key,
                });
            }
        }
    }
    Ok(())
}

/// One TXT record line of a zone file, its text quoted in strings of at most 255 bytes.
fn push_txt_record(out: &mut String, name: &str, ttl: u32, text: &str) {
    let _ = write!(out, "{name} {ttl} IN TXT");
    for part in split_character_strings(text) {
        out.push_str(" \"");
        for &b in part {
            // Entry text is printable ASCII; quote and backslash are the only bytes to escape.
            if b == b'"' || b == b'\\' {
                out.push('\\');
            }
            out.push(char::from(b));
        }
        out.push('"');
    }
    out.push('\n');
}

/// Appends `s` as a JSON string, escaped as Go's `encoding/json` does (including its HTML-safe
/// escapes of `<`, `>` and `&`), so the output matches `devp2p dns to-txt`.
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\0'..='\u{1f}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests;
