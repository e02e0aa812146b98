//! The entries of an EIP-1459 tree and their text form
//! ([EIP-1459, DNS Record Structure](https://eips.ethereum.org/EIPS/eip-1459#dns-record-structure)).
//!
//! - the root, at the tree's domain: `enrtree-root:v1 e=<hash> l=<hash> seq=<n> sig=<sig>`,
//!   where `sig` is the 65-byte `r || s || v` secp256k1 signature (v is 0 or 1) of
//!   `keccak256("enrtree-root:v1 e=<hash> l=<hash> seq=<n>")`, in unpadded base64url;
//! - a branch, `enrtree-branch:<hash>,<hash>,...` (empty for an empty subtree);
//! - a link to another tree, `enrtree://<key>@<domain>` (only under `l=`);
//! - a node record, `enr:<base64url>` (only under `e=`).
//!
//! Every entry but the root lives at `<hash>.<domain>`, where the hash is the unpadded base32
//! of the first 16 bytes of `keccak256(text)`. Readers accept hashes of 12 to 32 bytes and check
//! them as a prefix of the digest, as go-ethereum does (`p2p/dnsdisc/tree.go isValidHash`).
//!
//! Parsing never panics: anything malformed, oversized or out of place is an [`EntryError`].

use std::fmt;
use std::str::FromStr;

use secp256k1::ecdsa::{RecoverableSignature, Signature};
use secp256k1::{Message, PublicKey, SecretKey};

use super::base32;
use crate::enr::base64;
use crate::node_id::keccak256;
use crate::{Enr, EnrError};

/// The prefix of a root entry, including its version.
pub const ROOT_PREFIX: &str = "enrtree-root:v1";
/// The prefix of a branch entry.
pub const BRANCH_PREFIX: &str = "enrtree-branch:";
/// The prefix of a link entry, which is also the scheme of a tree URL.
pub const LINK_PREFIX: &str = "enrtree://";
/// The prefix of a node record entry (the ENR text form).
pub const ENR_PREFIX: &str = "enr:";

/// The number of digest bytes in the hashes a publisher writes (26 base32 characters).
pub const HASH_SIZE: usize = 16;
/// The shortest hash a reader accepts, in bytes (go-ethereum's `minHashLength`).
pub const MIN_HASH_SIZE: usize = 12;
/// The longest hash a reader accepts, in bytes: the whole Keccak-256 digest.
pub const MAX_HASH_SIZE: usize = 32;
/// The size of a root signature: `r || s || v`.
pub const SIGNATURE_SIZE: usize = 65;

/// The longest entry text accepted, in bytes. The largest entry go-ethereum writes is a
/// 365-byte branch, and the largest node record is 404 characters of text; older publishers
/// wrote branches of up to 18 hashes (about 500 bytes). Anything this far beyond them is refused
/// before it is parsed or allocated.
pub const MAX_ENTRY_SIZE: usize = 2048;
/// The longest character-string a TXT record can hold (RFC 1035 §3.3.14).
pub const MAX_CHARACTER_STRING: usize = 255;

/// The longest domain name (RFC 1035 §2.3.4, without the final dot).
const MAX_DOMAIN_LEN: usize = 253;
/// The longest label of a domain name (RFC 1035 §2.3.4).
const MAX_LABEL_LEN: usize = 63;

/// Why an entry text was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// The text is longer than [`MAX_ENTRY_SIZE`] bytes.
    #[error("entry of {0} bytes exceeds the {MAX_ENTRY_SIZE}-byte limit")]
    TooLarge(usize),
    /// The text is not printable ASCII (no entry type allows anything else).
    #[error("entry contains a byte that is not printable ASCII")]
    InvalidCharacter,
    /// The text has none of the known entry prefixes.
    #[error("unknown entry type")]
    UnknownEntry,
    /// A root entry is not `enrtree-root:v1 e=.. l=.. seq=.. sig=..`.
    #[error("invalid root entry syntax")]
    RootSyntax,
    /// A hash is not base32 of 12 to 32 bytes.
    #[error("invalid child hash")]
    InvalidHash,
    /// A root signature is not unpadded base64url of 65 bytes.
    #[error("invalid root signature encoding")]
    InvalidSignature,
    /// A root signature does not verify against the tree's public key.
    #[error("root signature does not match the tree's public key")]
    SignatureMismatch,
    /// A link has no `@` between its key and its domain.
    #[error("link has no public key")]
    MissingPublicKey,
    /// A link's key is not base32 of a compressed secp256k1 public key.
    #[error("link has an invalid public key")]
    InvalidPublicKey,
    /// A link's domain is not a domain name.
    #[error("link has an invalid domain name")]
    InvalidDomain,
    /// A node record entry does not hold a valid record.
    #[error("invalid node record: {0}")]
    Enr(#[from] EnrError),
    /// A node record appeared in the link subtree.
    #[error("node record in the link subtree")]
    EnrInLinkTree,
    /// A link appeared in the node record subtree.
    #[error("link in the node record subtree")]
    LinkInEnrTree,
}

/// The name of an entry: the base32 of a prefix of the Keccak-256 digest of its text.
///
/// Kept as the text it was read as, since that text is the DNS label queried.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryHash(String);

impl EntryHash {
    /// The name a publisher gives `text`: 16 digest bytes, 26 characters.
    pub fn of(text: &str) -> EntryHash {
        EntryHash(base32::encode(&keccak256(text.as_bytes())[..HASH_SIZE]))
    }

    /// The hash as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `text` is the content this hash names (the hash is a prefix of its digest).
    pub fn matches(&self, text: &[u8]) -> bool {
        // Valid by construction, so decoding cannot fail.
        base32::decode(&self.0).is_some_and(|prefix| keccak256(text).starts_with(&prefix))
    }

    /// The part of the hash entries are cached under: the shortest valid length, so that the
    /// same entry named by hashes of different lengths is cached once (as go-ethereum does).
    pub(crate) fn cache_key(&self) -> &str {
        &self.0[..base32::encoded_len(MIN_HASH_SIZE)]
    }
}

impl FromStr for EntryHash {
    type Err = EntryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let size = base32::decoded_len(s.len());
        if !(MIN_HASH_SIZE..=MAX_HASH_SIZE).contains(&size) || base32::decode(s).is_none() {
            return Err(EntryError::InvalidHash);
        }
        Ok(EntryHash(s.to_owned()))
    }
}

impl fmt::Display for EntryHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EntryHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntryHash({})", self.0)
    }
}

/// The signed root of a tree, found at the tree's domain.
#[derive(Clone, PartialEq, Eq)]
pub struct RootEntry {
    /// The root of the node record subtree.
    pub enr_root: EntryHash,
    /// The root of the link subtree.
    pub link_root: EntryHash,
    /// The tree's sequence number; a publisher increases it with every update.
    pub seq: u64,
    signature: [u8; SIGNATURE_SIZE],
}

impl RootEntry {
    /// Signs a root with `key`. Signing is deterministic (RFC 6979), as go-ethereum's is, so the
    /// same tree and key always give the same text.
    pub fn sign(enr_root: EntryHash, link_root: EntryHash, seq: u64, key: &SecretKey) -> Self {
        let digest = keccak256(signed_content(&enr_root, &link_root, seq).as_bytes());
        let signature =
            RecoverableSignature::sign_ecdsa_recoverable(Message::from_digest(digest), key);
        let (recovery_id, compact) = signature.serialize_compact();
        let mut bytes = [0u8; SIGNATURE_SIZE];
        bytes[..64].copy_from_slice(&compact);
        bytes[64] = recovery_id.to_u8();
        RootEntry {
            enr_root,
            link_root,
            seq,
            signature: bytes,
        }
    }

    /// A root with a signature made elsewhere (for example read from `enrtree-info.json`);
    /// check it with [`verify`](Self::verify). The last byte (the recovery id) is kept as it is
    /// and never checked, as in go-ethereum.
    pub fn with_signature(
        enr_root: EntryHash,
        link_root: EntryHash,
        seq: u64,
        signature: [u8; SIGNATURE_SIZE],
    ) -> Self {
        RootEntry {
            enr_root,
            link_root,
            seq,
            signature,
        }
    }

    /// The 65-byte signature, `r || s || v`.
    pub fn signature(&self) -> &[u8; SIGNATURE_SIZE] {
        &self.signature
    }

    /// The signature as it appears after `sig=`: unpadded base64url (what go-ethereum's
    /// `enrtree-info.json` stores as `signature`).
    pub fn signature_text(&self) -> String {
        base64::encode(&self.signature)
    }

    /// Checks the signature against the tree's public key (the one in its `enrtree://` URL).
    /// As in go-ethereum, the recovery id is not used: the key is known.
    pub fn verify(&self, key: &PublicKey) -> Result<(), EntryError> {
        let compact: [u8; 64] = self.signature[..64].try_into().expect("64 of 65 bytes");
        let signature =
            Signature::from_compact(&compact).map_err(|_| EntryError::SignatureMismatch)?;
        let digest =
            keccak256(signed_content(&self.enr_root, &self.link_root, self.seq).as_bytes());
        signature
            .verify(Message::from_digest(digest), key)
            .map_err(|_| EntryError::SignatureMismatch)
    }
}

/// Reads a root signature in its text form (unpadded base64url of 65 bytes, as after `sig=` and
/// in the `signature` of go-ethereum's `enrtree-info.json`).
pub fn parse_signature_text(text: &str) -> Result<[u8; SIGNATURE_SIZE], EntryError> {
    base64::decode(text)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(EntryError::InvalidSignature)
}

/// The text a root signature covers: the root without ` sig=...`.
pub fn signed_content(enr_root: &EntryHash, link_root: &EntryHash, seq: u64) -> String {
    format!("{ROOT_PREFIX} e={enr_root} l={link_root} seq={seq}")
}

impl FromStr for RootEntry {
    type Err = EntryError;

    /// Parses `enrtree-root:v1 e=<hash> l=<hash> seq=<decimal> sig=<base64url>`, fields separated
    /// by single spaces. The signature is not verified here: that needs the tree's key.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        check_root_text(s)?;
        let rest = s
            .strip_prefix(ROOT_PREFIX)
            .and_then(|rest| rest.strip_prefix(' '))
            .ok_or(EntryError::RootSyntax)?;
        let mut fields = rest.split(' ');
        let mut field = |name: &str| {
            fields
                .next()
                .and_then(|f| f.strip_prefix(name))
                .ok_or(EntryError::RootSyntax)
        };
        let (enr_root, link_root, seq, sig) =
            (field("e=")?, field("l=")?, field("seq=")?, field("sig=")?);
        if fields.next().is_some() {
            return Err(EntryError::RootSyntax);
        }
        let enr_root = enr_root.parse()?;
        let link_root = link_root.parse()?;
        // `u64::from_str` would also take a leading '+'.
        if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(EntryError::RootSyntax);
        }
        let seq = seq.parse().map_err(|_| EntryError::RootSyntax)?;
        Ok(RootEntry::with_signature(
            enr_root,
            link_root,
            seq,
            parse_signature_text(sig)?,
        ))
    }
}

impl fmt::Display for RootEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} sig={}",
            signed_content(&self.enr_root, &self.link_root, self.seq),
            self.signature_text()
        )
    }
}

impl fmt::Debug for RootEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RootEntry({self})")
    }
}

/// An intermediate entry: the hashes of its children.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BranchEntry {
    /// The children, in the order they were listed.
    pub children: Vec<EntryHash>,
}

impl FromStr for BranchEntry {
    type Err = EntryError;

    /// Parses `enrtree-branch:<hash>,<hash>,...`; `enrtree-branch:` alone is an empty branch.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        check_text(s)?;
        let list = s
            .strip_prefix(BRANCH_PREFIX)
            .ok_or(EntryError::UnknownEntry)?;
        if list.is_empty() {
            return Ok(BranchEntry::default());
        }
        let children = list.split(',').map(str::parse).collect::<Result<_, _>>()?;
        Ok(BranchEntry { children })
    }
}

impl fmt::Display for BranchEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(BRANCH_PREFIX)?;
        for (i, child) in self.children.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(child.as_str())?;
        }
        Ok(())
    }
}

/// A tree's location and signer: the `enrtree://<key>@<domain>` URL, which is also the text of a
/// link entry.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LinkEntry {
    /// The key that signs the tree's root.
    pub public_key: PublicKey,
    /// The domain whose TXT record holds the root.
    pub domain: String,
}

impl LinkEntry {
    /// A link to the tree at `domain` signed by `public_key`.
    pub fn new(public_key: PublicKey, domain: &str) -> Result<Self, EntryError> {
        check_domain(domain)?;
        Ok(LinkEntry {
            public_key,
            domain: domain.to_owned(),
        })
    }
}

impl FromStr for LinkEntry {
    type Err = EntryError;

    /// Parses `enrtree://<base32 compressed key>@<domain>`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        check_text(s)?;
        let rest = s
            .strip_prefix(LINK_PREFIX)
            .ok_or(EntryError::UnknownEntry)?;
        let (key, domain) = rest.split_once('@').ok_or(EntryError::MissingPublicKey)?;
        let public_key = base32::decode(key)
            .and_then(|bytes| <[u8; 33]>::try_from(bytes).ok())
            .and_then(|bytes| PublicKey::from_byte_array_compressed(bytes).ok())
            .ok_or(EntryError::InvalidPublicKey)?;
        LinkEntry::new(public_key, domain)
    }
}

impl fmt::Display for LinkEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = base32::encode(&self.public_key.serialize());
        write!(f, "{LINK_PREFIX}{key}@{}", self.domain)
    }
}

impl fmt::Debug for LinkEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LinkEntry({self})")
    }
}

/// The two subtrees of a tree, which allow different leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subtree {
    /// Under `e=`: branches and node records.
    Enr,
    /// Under `l=`: branches and links.
    Link,
}

/// An entry below the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// An intermediate entry.
    Branch(BranchEntry),
    /// A link to another tree (a leaf of the link subtree).
    Link(LinkEntry),
    /// A node record (a leaf of the node record subtree). Boxed: records are large.
    Enr(Box<Enr>),
}

impl Entry {
    /// Parses an entry and checks that it may appear in `subtree`.
    pub fn parse_in(text: &str, subtree: Subtree) -> Result<Entry, EntryError> {
        let entry: Entry = text.parse()?;
        match (&entry, subtree) {
            (Entry::Enr(_), Subtree::Link) => Err(EntryError::EnrInLinkTree),
            (Entry::Link(_), Subtree::Enr) => Err(EntryError::LinkInEnrTree),
            _ => Ok(entry),
        }
    }

    /// The hash a publisher names this entry by.
    pub fn hash(&self) -> EntryHash {
        EntryHash::of(&self.to_string())
    }
}

impl FromStr for Entry {
    type Err = EntryError;

    /// Parses a branch, link or node record entry (a root is not an [`Entry`]: it is only found
    /// at the tree's domain; see [`RootEntry`]).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.starts_with(LINK_PREFIX) {
            s.parse().map(Entry::Link)
        } else if s.starts_with(BRANCH_PREFIX) {
            s.parse().map(Entry::Branch)
        } else if s.starts_with(ENR_PREFIX) {
            check_text(s)?;
            Ok(Entry::Enr(Box::new(s.parse()?)))
        } else {
            Err(EntryError::UnknownEntry)
        }
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entry::Branch(branch) => branch.fmt(f),
            Entry::Link(link) => link.fmt(f),
            Entry::Enr(enr) => enr.fmt(f),
        }
    }
}

/// Joins the character-strings of one TXT record into the entry text, without a separator (as
/// Go's resolver and go-ethereum do: a 365-byte branch arrives as 255 + 110 bytes).
///
/// Refuses, before allocating, a record longer than [`MAX_ENTRY_SIZE`], and text that is not
/// printable ASCII (spaces allowed: the root has them).
pub fn join_character_strings<S: AsRef<[u8]>>(strings: &[S]) -> Result<String, EntryError> {
    let len: usize = strings.iter().map(|s| s.as_ref().len()).sum();
    if len > MAX_ENTRY_SIZE {
        return Err(EntryError::TooLarge(len));
    }
    let mut text = String::with_capacity(len);
    for s in strings {
        let s = std::str::from_utf8(s.as_ref()).map_err(|_| EntryError::InvalidCharacter)?;
        text.push_str(s);
    }
    check_root_text(&text)?;
    Ok(text)
}

/// Splits entry text into the character-strings of a TXT record, each at most
/// [`MAX_CHARACTER_STRING`] bytes. Empty text is one empty string.
pub fn split_character_strings(text: &str) -> Vec<&[u8]> {
    if text.is_empty() {
        return vec![&[]];
    }
    text.as_bytes().chunks(MAX_CHARACTER_STRING).collect()
}

/// The checks every entry text passes first: bounded, printable ASCII, and no space (only a
/// root has spaces; see [`check_root_text`]).
fn check_text(text: &str) -> Result<(), EntryError> {
    check_root_text(text)?;
    if text.contains(' ') {
        return Err(EntryError::InvalidCharacter);
    }
    Ok(())
}

/// The checks root text passes first: bounded, printable ASCII (spaces included).
fn check_root_text(text: &str) -> Result<(), EntryError> {
    if text.len() > MAX_ENTRY_SIZE {
        return Err(EntryError::TooLarge(text.len()));
    }
    if !text.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return Err(EntryError::InvalidCharacter);
    }
    Ok(())
}

/// A domain name a link may point to: 1 to 253 bytes, labels of 1 to 63 letters, digits, `-`
/// or `_`.
fn check_domain(domain: &str) -> Result<(), EntryError> {
    let valid_label = |label: &str| {
        (1..=MAX_LABEL_LEN).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if domain.is_empty() || domain.len() > MAX_DOMAIN_LEN || !domain.split('.').all(valid_label) {
        return Err(EntryError::InvalidDomain);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
