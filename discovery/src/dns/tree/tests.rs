//! Tree shape (go-ethereum's `MakeTree`), rendering, and go-ethereum's `TestMakeTree` and
//! `TestMakeTreeRejectsUndecodablePort`.

use std::collections::BTreeSet;

use super::*;
use crate::dns::entry::MAX_CHARACTER_STRING;

/// The hash of `enrtree-branch:`, what an empty subtree is.
const EMPTY_BRANCH: &str = "FDXN3SN67NA5DKA4J2GOK7BVQI";

fn key(i: u64) -> SecretKey {
    let mut bytes = [0u8; 32];
    bytes[24..].copy_from_slice(&(i + 1).to_be_bytes());
    SecretKey::from_secret_bytes(bytes).unwrap()
}

fn nodes(n: u64) -> Vec<Enr> {
    (0..n)
        .map(|i| {
            Enr::builder()
                .seq(i + 1)
                .ip4([10, 0, 0, 1].into())
                .tcp4(30303)
                .build(&key(i))
                .unwrap()
        })
        .collect()
}

fn link(i: u64, domain: &str) -> LinkEntry {
    LinkEntry::new(key(1000 + i).public_key(), domain).unwrap()
}

fn branch<'a>(tree: &'a Tree, hash: &EntryHash) -> &'a BranchEntry {
    match tree.entries().get(hash) {
        Some(Entry::Branch(b)) => b,
        other => panic!("{hash} is not a branch: {other:?}"),
    }
}

/// Every entry is stored under the hash of its text, and is reachable from a root.
fn check_consistent(tree: &Tree) {
    let mut reachable = BTreeSet::new();
    let mut stack = vec![tree.enr_root().clone(), tree.link_root().clone()];
    while let Some(hash) = stack.pop() {
        let entry = tree
            .entries()
            .get(&hash)
            .unwrap_or_else(|| panic!("{hash} missing"));
        assert!(hash.matches(entry.to_string().as_bytes()));
        if let Entry::Branch(b) = entry {
            assert!(b.children.len() <= MAX_CHILDREN);
            stack.extend(b.children.iter().cloned());
        }
        reachable.insert(hash);
    }
    assert_eq!(reachable.len(), tree.entries().len(), "unreachable entries");
}

#[test]
fn empty_tree_is_two_empty_branches() {
    let tree = Tree::new(1, &[], &[]).unwrap();
    assert_eq!(tree.enr_root().as_str(), EMPTY_BRANCH);
    assert_eq!(tree.link_root().as_str(), EMPTY_BRANCH);
    assert_eq!(tree.entries().len(), 1);
    assert_eq!(branch(&tree, tree.enr_root()).children, []);
}

#[test]
fn a_single_entry_stands_for_its_subtree() {
    let records = nodes(1);
    let tree = Tree::new(1, &records, &[link(0, "a.example.org")]).unwrap();
    assert_eq!(
        tree.entries().get(tree.enr_root()),
        Some(&Entry::Enr(Box::new(records[0].clone())))
    );
    assert!(matches!(
        tree.entries().get(tree.link_root()),
        Some(Entry::Link(_))
    ));
    assert_eq!(tree.entries().len(), 2);
}

#[test]
fn thirteen_children_fit_one_branch_fourteen_do_not() {
    let tree = Tree::new(1, &nodes(13), &[]).unwrap();
    assert_eq!(branch(&tree, tree.enr_root()).children.len(), 13);
    check_consistent(&tree);

    // 14: a branch of the first 13, and the 14th leaf itself.
    let tree = Tree::new(1, &nodes(14), &[]).unwrap();
    let root = branch(&tree, tree.enr_root());
    assert_eq!(root.children.len(), 2);
    assert_eq!(branch(&tree, &root.children[0]).children.len(), 13);
    assert!(matches!(
        tree.entries().get(&root.children[1]),
        Some(Entry::Enr(_))
    ));
    check_consistent(&tree);
}

#[test]
fn sixty_nodes_give_four_full_branches_of_365_bytes() {
    let tree = Tree::new(1, &nodes(60), &[]).unwrap();
    let root = branch(&tree, tree.enr_root());
    let sizes: Vec<usize> = root
        .children
        .iter()
        .map(|h| branch(&tree, h).children.len())
        .collect();
    assert_eq!(sizes, [13, 13, 13, 13, 8]);
    let full = tree
        .entries()
        .values()
        .filter(|e| e.to_string().len() == 365)
        .count();
    assert_eq!(full, 4);
    check_consistent(&tree);
}

#[test]
fn large_trees_recurse() {
    // 170 leaves: 13 full chunks and a last chunk of one leaf (which stands for itself); the 14
    // subtrees are cut again into 13 + 1.
    let tree = Tree::new(1, &nodes(170), &[]).unwrap();
    let root = branch(&tree, tree.enr_root());
    assert_eq!(root.children.len(), 2);
    let upper = branch(&tree, &root.children[0]);
    assert_eq!(upper.children.len(), 13);
    assert!(
        upper
            .children
            .iter()
            .all(|h| branch(&tree, h).children.len() == 13)
    );
    assert!(matches!(
        tree.entries().get(&root.children[1]),
        Some(Entry::Enr(_))
    ));
    assert_eq!(tree.nodes().len(), 170);
    check_consistent(&tree);
}

#[test]
fn records_are_sorted_by_node_id_and_links_keep_their_order() {
    let mut records = nodes(20);
    let links: Vec<LinkEntry> = (0..3)
        .map(|i| link(i, &format!("l{i}.example.org")))
        .collect();
    let tree = Tree::new(5, &records, &links).unwrap();
    records.reverse();
    let reordered = Tree::new(5, &records, &links).unwrap();
    assert_eq!(tree, reordered);
    let ids: Vec<NodeId> = tree.nodes().iter().map(|n| n.id()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));

    assert_eq!(tree.links(), links.iter().collect::<Vec<_>>());
    let branch = branch(&tree, tree.link_root());
    let in_order: Vec<EntryHash> = links
        .iter()
        .map(|l| Entry::Link(l.clone()).hash())
        .collect();
    assert_eq!(branch.children, in_order);
    let mut reversed = links.clone();
    reversed.reverse();
    assert_ne!(Tree::new(5, &records, &reversed).unwrap(), tree);
}

// go-ethereum TestMakeTree.
#[test]
fn fifty_nodes_make_at_least_fifty_one_records() {
    let tree = Tree::new(2, &nodes(50), &[]).unwrap().sign(&key(99));
    let txt = tree.to_txt("");
    assert!(txt.len() > 50);
    assert_eq!(tree.tree().nodes().len(), 50);
    assert!(txt.keys().all(|name| name.is_empty() || name.len() == 26));
}

// go-ethereum TestMakeTreeRejectsUndecodablePort: `Enr` already refuses such `tcp`/`udp` ports,
// so the publisher checks the QUIC ones.
#[test]
fn records_with_undecodable_quic_ports_are_refused() {
    let mut oversized = Vec::new();
    rlp::encode_uint(70000, &mut oversized);
    for port_key in QUIC_PORT_KEYS {
        let record = Enr::builder()
            .insert_raw(port_key, &oversized)
            .unwrap()
            .build(&key(0))
            .unwrap();
        assert_eq!(
            Tree::new(1, std::slice::from_ref(&record), &[]),
            Err(TreeError::InvalidPort {
                id: record.id(),
                key: port_key
            })
        );
    }
    let mut fine = Vec::new();
    rlp::encode_uint(9000, &mut fine);
    let record = Enr::builder()
        .insert_raw("quic", &fine)
        .unwrap()
        .build(&key(0))
        .unwrap();
    assert!(Tree::new(1, &[record], &[]).is_ok());
    let mut udp = Vec::new();
    rlp::encode_uint(70000, &mut udp);
    assert!(
        Enr::builder().insert_raw("udp", &udp).is_err(),
        "Enr refuses it itself"
    );
}

#[test]
fn signatures_are_checked_when_attached() {
    let signed = Tree::new(3, &nodes(3), &[]).unwrap().sign(&key(7));
    let signature = *signed.root().signature();
    let again = signed
        .tree()
        .clone()
        .with_signature(&key(7).public_key(), signature)
        .unwrap();
    assert_eq!(again, signed);
    assert_eq!(
        signed
            .tree()
            .clone()
            .with_signature(&key(8).public_key(), signature),
        Err(EntryError::SignatureMismatch)
    );
    assert_eq!(
        signed.url("n.example.org").unwrap().public_key,
        key(7).public_key()
    );
}

#[test]
fn txt_json_has_go_ethereums_shape() {
    let signed = Tree::new(1, &[], &[]).unwrap().sign(&key(1));
    let json = signed.to_txt_json("t.example.org");
    let expected = format!(
        "{{\n    \"{EMPTY_BRANCH}.t.example.org\": \"enrtree-branch:\",\n    \"t.example.org\": \"{}\"\n}}",
        signed.root()
    );
    assert_eq!(json, expected);

    let mut escaped = String::new();
    push_json_string(&mut escaped, "a\"b\\c<d>&e\u{1}");
    assert_eq!(escaped, r#""a\"b\\c\u003cd\u003e\u0026e\u0001""#);
}

/// Reads the TXT records of a zone file written by `to_zone_file` (relative names, quoted
/// strings), joining each record's strings.
fn read_zone_txt(zone: &str) -> BTreeMap<String, String> {
    let mut records = BTreeMap::new();
    for line in zone.lines() {
        let fields: Vec<&str> = line.splitn(5, ' ').collect();
        if fields.len() < 5 || fields[3] != "TXT" {
            continue;
        }
        let mut text = String::new();
        for part in fields[4].split("\" \"") {
            let part = part.trim_matches('"');
            assert!(part.len() <= MAX_CHARACTER_STRING, "{part}");
            text.push_str(part);
        }
        records.insert(fields[0].to_owned(), text);
    }
    records
}

#[test]
fn zone_file_holds_every_record_in_255_byte_strings() {
    let links = [link(0, "more.example.org")];
    let signed = Tree::new(9, &nodes(30), &links).unwrap().sign(&key(1));
    let zone = signed.to_zone_file("nodes.example.org", &ZoneOptions::default());
    assert!(zone.contains("$ORIGIN nodes.example.org.\n"));
    assert!(zone.contains(
        "@ 1800 IN SOA localhost. hostmaster.nodes.example.org. 9 3600 600 86400 1800\n"
    ));
    assert!(zone.contains("@ 1800 IN NS localhost.\n"));
    let root_line = format!("@ 1800 IN TXT \"{}\"\n", signed.root());
    assert!(zone.contains(&root_line));

    let expected: BTreeMap<String, String> = signed
        .to_txt("")
        .into_iter()
        .map(|(name, text)| {
            (
                if name.is_empty() {
                    "@".to_owned()
                } else {
                    name
                },
                text,
            )
        })
        .collect();
    assert_eq!(read_zone_txt(&zone), expected);
    assert!(
        zone.lines()
            .any(|l| l.contains("2419200 IN TXT \"enrtree-branch:") && l.contains("\" \""))
    );
}
