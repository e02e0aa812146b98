//! The EIP-1459 example tree (<https://eips.ethereum.org/EIPS/eip-1459#dns-record-structure>):
//! parsed, verified, and re-published byte for byte from the key that signed it
//! (go-ethereum's `signingKeyForTesting`; the URL key printed in the EIP belongs to the linked
//! tree, not to this one).

use std::collections::BTreeMap;

use ethp2p_discovery::Enr;
use ethp2p_discovery::dns::{Entry, EntryHash, LinkEntry, RootEntry, Tree, ZoneOptions};
use secp256k1::SecretKey;

const DOMAIN: &str = "nodes.example.org";
const SIGNING_KEY: &str = "dc599867fc513f8f5e2c2c9c489cde5e71362d1d9ec6e693e0de063236ed1240";
const TREE_URL: &str =
    "enrtree://AKPYQIUQIL7PSIACI32J7FGZW56E5FKHEFCCOFHILBIMW3M6LWXS2@nodes.example.org";

/// The EIP's example, in zone file format, exactly as printed.
const EIP_ZONE: &str = "\
; name                        ttl     class type  content
@                             60      IN    TXT   enrtree-root:v1 e=JWXYDBPXYWG6FX3GMDIBFA6CJ4 l=C7HRFPF3BLGF3YR4DY5KX3SMBE seq=1 sig=o908WmNp7LibOfPsr4btQwatZJ5URBr2ZAuxvK4UWHlsB9sUOTJQaGAlLPVAhM__XJesCHxLISo94z5Z2a463gA
C7HRFPF3BLGF3YR4DY5KX3SMBE    86900   IN    TXT   enrtree://AM5FCQLWIZX2QFPNJAP7VUERCCRNGRHWZG3YYHIUV7BVDQ5FDPRT2@morenodes.example.org
JWXYDBPXYWG6FX3GMDIBFA6CJ4    86900   IN    TXT   enrtree-branch:2XS2367YHAXJFGLZHVAWLQD4ZY,H4FHT4B454P6UXFD7JCYQ5PWDY,MHTDO6TMUBRIA2XWG5LUDACK24
2XS2367YHAXJFGLZHVAWLQD4ZY    86900   IN    TXT   enr:-HW4QOFzoVLaFJnNhbgMoDXPnOvcdVuj7pDpqRvh6BRDO68aVi5ZcjB3vzQRZH2IcLBGHzo8uUN3snqmgTiE56CH3AMBgmlkgnY0iXNlY3AyNTZrMaECC2_24YYkYHEgdzxlSNKQEnHhuNAbNlMlWJxrJxbAFvA
H4FHT4B454P6UXFD7JCYQ5PWDY    86900   IN    TXT   enr:-HW4QAggRauloj2SDLtIHN1XBkvhFZ1vtf1raYQp9TBW2RD5EEawDzbtSmlXUfnaHcvwOizhVYLtr7e6vw7NAf6mTuoCgmlkgnY0iXNlY3AyNTZrMaECjrXI8TLNXU0f8cthpAMxEshUyQlK-AM0PW2wfrnacNI
MHTDO6TMUBRIA2XWG5LUDACK24    86900   IN    TXT   enr:-HW4QLAYqmrwllBEnzWWs7I5Ev2IAs7x_dZlbYdRdMUx5EyKHDXp7AV5CkuPGUPdvbv1_Ms1CPfhcGCvSElSosZmyoqAgmlkgnY0iXNlY3AyNTZrMaECriawHKWdDRk2xeZkrOXBQ0dfMFLHY4eENZwdufn1S1o
";

fn signing_key() -> SecretKey {
    SecretKey::from_secret_bytes(hex::decode(SIGNING_KEY).unwrap().try_into().unwrap()).unwrap()
}

/// The EIP zone as go-ethereum's `to-txt` map: fully qualified name to text.
fn eip_records() -> BTreeMap<String, String> {
    EIP_ZONE
        .lines()
        .filter(|line| !line.starts_with(';'))
        .map(|line| {
            // Four columns, then the content (the root's content has spaces in it).
            let mut rest = line;
            let mut columns = Vec::new();
            for _ in 0..4 {
                let (column, after) = rest.split_once(' ').unwrap();
                columns.push(column);
                rest = after.trim_start();
            }
            assert_eq!((columns[2], columns[3]), ("IN", "TXT"), "{line}");
            let name = match columns[0] {
                "@" => DOMAIN.to_owned(),
                label => format!("{label}.{DOMAIN}"),
            };
            (name, rest.to_owned())
        })
        .collect()
}

#[test]
fn eip_example_tree_is_republished_byte_for_byte() {
    let records = eip_records();
    let tree_link: LinkEntry = TREE_URL.parse().unwrap();
    assert_eq!(tree_link.public_key, signing_key().public_key());

    // Parse: the root verifies, every entry matches its name.
    let root: RootEntry = records[DOMAIN].parse().unwrap();
    root.verify(&tree_link.public_key).unwrap();
    assert_eq!(root.seq, 1);
    let mut nodes: Vec<Enr> = Vec::new();
    let mut links: Vec<LinkEntry> = Vec::new();
    for (name, text) in records.iter().filter(|(name, _)| name.as_str() != DOMAIN) {
        let hash: EntryHash = name
            .strip_suffix(&format!(".{DOMAIN}"))
            .unwrap()
            .parse()
            .unwrap();
        assert!(hash.matches(text.as_bytes()), "{name}");
        let entry: Entry = text.parse().unwrap();
        assert_eq!(&entry.to_string(), text);
        match entry {
            Entry::Enr(enr) => nodes.push(*enr),
            Entry::Link(link) => links.push(link),
            Entry::Branch(_) => {}
        }
    }
    assert_eq!((nodes.len(), links.len()), (3, 1));

    // Re-publish, the nodes in a different order than their names sort in.
    nodes.reverse();
    let signed = Tree::new(root.seq, &nodes, &links)
        .unwrap()
        .sign(&signing_key());
    assert_eq!(signed.root(), &root);
    assert_eq!(signed.to_txt(DOMAIN), records);
    assert_eq!(signed.url(DOMAIN).unwrap().to_string(), TREE_URL);

    // The signature as `enrtree-info.json` stores it attaches to the rebuilt tree.
    let rebuilt = Tree::new(1, &nodes, &links).unwrap();
    let attached = rebuilt
        .with_signature(&tree_link.public_key, *root.signature())
        .unwrap();
    assert_eq!(attached.to_txt(DOMAIN), records);

    // The zone file carries the same records (the root at `@`).
    let zone = signed.to_zone_file(DOMAIN, &ZoneOptions::default());
    for (name, text) in &records {
        let label = if name == DOMAIN {
            "@"
        } else {
            name.strip_suffix(&format!(".{DOMAIN}")).unwrap()
        };
        assert!(zone.contains(&format!("{label} ")), "{label}");
        assert!(zone.contains(&format!("\"{text}\"")), "{text}");
    }
}

/// DNS.md's second vector, made with go-ethereum's `devp2p dns sign --seq 7` from the same key
/// and nodes without the link.
#[test]
fn eip_nodes_without_links_at_seq_7_match_go_ethereum() {
    let nodes: Vec<Enr> = eip_records()
        .values()
        .filter(|text| text.starts_with("enr:"))
        .map(|text| text.parse().unwrap())
        .collect();
    let signed = Tree::new(7, &nodes, &[]).unwrap().sign(&signing_key());
    assert_eq!(
        signed.root().to_string(),
        "enrtree-root:v1 e=JWXYDBPXYWG6FX3GMDIBFA6CJ4 l=FDXN3SN67NA5DKA4J2GOK7BVQI seq=7 sig=PMFi_dr7yIUZv9Ic9gxTKpO-Nw24CU5v70UhGsfWRf94_FrbIrxwaRlEKTjKNb8kcyBkiXuyFmu_cMHFsWDrYQA"
    );
    assert_eq!(
        signed.to_txt(DOMAIN)[&format!("FDXN3SN67NA5DKA4J2GOK7BVQI.{DOMAIN}")],
        "enrtree-branch:"
    );
}
