//! EIP-1459 tree entries (`ethp2p_discovery::dns`), from the same input two ways:
//!
//! 1. the input as entry text (when it is UTF-8): parsed as a tree entry, in each subtree, as a
//!    root, a link URL, a branch and a hash;
//! 2. the input as the RDATA of a TXT record (length-prefixed character-strings), joined as a
//!    client joins them, then parsed as in 1.
//!
//! Nothing may panic. Whatever parses formats to text that parses back to the same value and
//! formats the same again; placement checks agree with the plain parse; an entry's hash
//! matches its formatted text; joined text re-splits into strings of at most 255 bytes that
//! join back to it; a root's signature check against a fixed key returns a verdict, and the root re-signed
//! with that key verifies.

#![no_main]

use ethp2p_discovery::dns::entry::{MAX_CHARACTER_STRING, MAX_ENTRY_SIZE};
use ethp2p_discovery::dns::{
    BranchEntry, Entry, EntryError, EntryHash, LinkEntry, RootEntry, Subtree,
    join_character_strings, split_character_strings,
};
use libfuzzer_sys::fuzz_target;
use secp256k1::SecretKey;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check_text(text);
    }
    if let Some(strings) = txt_strings(data)
        && let Ok(joined) = join_character_strings(&strings)
    {
        assert!(joined.len() <= MAX_ENTRY_SIZE);
        assert_eq!(
            joined.as_bytes(),
            strings.concat(),
            "joined with a separator"
        );
        let parts = split_character_strings(&joined);
        assert!(parts.iter().all(|p| p.len() <= MAX_CHARACTER_STRING));
        assert_eq!(
            join_character_strings(&parts).as_deref(),
            Ok(joined.as_str())
        );
        check_text(&joined);
    }
});

/// Splits TXT RDATA into its character-strings; `None` if a length runs past the end.
fn txt_strings(mut data: &[u8]) -> Option<Vec<&[u8]>> {
    let mut strings = Vec::new();
    while let Some((&len, rest)) = data.split_first() {
        let len = usize::from(len);
        if rest.len() < len {
            return None;
        }
        strings.push(&rest[..len]);
        data = &rest[len..];
    }
    Some(strings)
}

fn check_text(text: &str) {
    match text.parse::<Entry>() {
        Ok(entry) => {
            let formatted = entry.to_string();
            assert_eq!(
                formatted.parse::<Entry>().as_ref(),
                Ok(&entry),
                "entry round trip"
            );
            assert_eq!(entry.hash(), EntryHash::of(&formatted));
            assert!(entry.hash().matches(formatted.as_bytes()));
            for subtree in [Subtree::Enr, Subtree::Link] {
                let placed = Entry::parse_in(text, subtree);
                let allowed = match (&entry, subtree) {
                    (Entry::Enr(_), Subtree::Link) => Err(EntryError::EnrInLinkTree),
                    (Entry::Link(_), Subtree::Enr) => Err(EntryError::LinkInEnrTree),
                    _ => Ok(entry.clone()),
                };
                assert_eq!(placed, allowed, "placement disagrees with parse");
            }
        }
        Err(error) => {
            for subtree in [Subtree::Enr, Subtree::Link] {
                assert_eq!(Entry::parse_in(text, subtree), Err(error.clone()));
            }
        }
    }

    if let Ok(root) = text.parse::<RootEntry>() {
        let formatted = root.to_string();
        assert_eq!(
            formatted.parse::<RootEntry>().as_ref(),
            Ok(&root),
            "root round trip"
        );
        let key = SecretKey::from_secret_bytes([7; 32]).expect("valid key");
        let _ = root.verify(&key.public_key());
        let resigned = RootEntry::sign(
            root.enr_root.clone(),
            root.link_root.clone(),
            root.seq,
            &key,
        );
        assert_eq!(resigned.verify(&key.public_key()), Ok(()));
        assert_eq!(
            resigned.to_string().parse::<RootEntry>().as_ref(),
            Ok(&resigned)
        );
    }

    if let Ok(link) = text.parse::<LinkEntry>() {
        assert_eq!(link.to_string().parse::<LinkEntry>().as_ref(), Ok(&link));
    }
    if let Ok(branch) = text.parse::<BranchEntry>() {
        assert_eq!(branch.to_string(), text, "branches keep their hashes' text");
    }
    if let Ok(hash) = text.parse::<EntryHash>() {
        assert_eq!(hash.as_str(), text);
    }
}
