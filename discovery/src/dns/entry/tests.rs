//! Entry parsing and formatting: go-ethereum's `p2p/dnsdisc/tree_test.go` cases (`TestParseRoot`,
//! `TestParseEntry`) and the EIP-1459 example entries.

use secp256k1::SecretKey;

use super::*;

/// go-ethereum's `signingKeyForTesting`, the key that signed the EIP-1459 example tree.
const SIGNING_KEY: &str = "dc599867fc513f8f5e2c2c9c489cde5e71362d1d9ec6e693e0de063236ed1240";
/// Its compressed public key in base32.
const SIGNING_KEY_B32: &str = "AKPYQIUQIL7PSIACI32J7FGZW56E5FKHEFCCOFHILBIMW3M6LWXS2";

const EIP_ROOT: &str = "enrtree-root:v1 e=JWXYDBPXYWG6FX3GMDIBFA6CJ4 l=C7HRFPF3BLGF3YR4DY5KX3SMBE seq=1 sig=o908WmNp7LibOfPsr4btQwatZJ5URBr2ZAuxvK4UWHlsB9sUOTJQaGAlLPVAhM__XJesCHxLISo94z5Z2a463gA";
/// The EIP's example entries, each with its name.
const EIP_ENTRIES: [(&str, &str); 5] = [
    (
        "C7HRFPF3BLGF3YR4DY5KX3SMBE",
        "enrtree://AM5FCQLWIZX2QFPNJAP7VUERCCRNGRHWZG3YYHIUV7BVDQ5FDPRT2@morenodes.example.org",
    ),
    (
        "JWXYDBPXYWG6FX3GMDIBFA6CJ4",
        "enrtree-branch:2XS2367YHAXJFGLZHVAWLQD4ZY,H4FHT4B454P6UXFD7JCYQ5PWDY,MHTDO6TMUBRIA2XWG5LUDACK24",
    ),
    (
        "2XS2367YHAXJFGLZHVAWLQD4ZY",
        "enr:-HW4QOFzoVLaFJnNhbgMoDXPnOvcdVuj7pDpqRvh6BRDO68aVi5ZcjB3vzQRZH2IcLBGHzo8uUN3snqmgTiE56CH3AMBgmlkgnY0iXNlY3AyNTZrMaECC2_24YYkYHEgdzxlSNKQEnHhuNAbNlMlWJxrJxbAFvA",
    ),
    (
        "H4FHT4B454P6UXFD7JCYQ5PWDY",
        "enr:-HW4QAggRauloj2SDLtIHN1XBkvhFZ1vtf1raYQp9TBW2RD5EEawDzbtSmlXUfnaHcvwOizhVYLtr7e6vw7NAf6mTuoCgmlkgnY0iXNlY3AyNTZrMaECjrXI8TLNXU0f8cthpAMxEshUyQlK-AM0PW2wfrnacNI",
    ),
    (
        "MHTDO6TMUBRIA2XWG5LUDACK24",
        "enr:-HW4QLAYqmrwllBEnzWWs7I5Ev2IAs7x_dZlbYdRdMUx5EyKHDXp7AV5CkuPGUPdvbv1_Ms1CPfhcGCvSElSosZmyoqAgmlkgnY0iXNlY3AyNTZrMaECriawHKWdDRk2xeZkrOXBQ0dfMFLHY4eENZwdufn1S1o",
    ),
];

fn signing_key() -> SecretKey {
    SecretKey::from_secret_bytes(hex::decode(SIGNING_KEY).unwrap().try_into().unwrap()).unwrap()
}

fn hash(s: &str) -> EntryHash {
    s.parse().unwrap()
}

// go-ethereum TestParseRoot.
#[test]
fn parse_root_without_link_root_is_a_syntax_error() {
    let text = "enrtree-root:v1 e=TO4Q75OQ2N7DX4EOOR7X66A6OM seq=3 sig=N-YY6UB9xD0hFx1Gmnt7v0RfSxch5tKyry2SRDoLx7B4GfPXagwLxQqyf7gAMvApFn_ORwZQekMWa_pXrcGCtw";
    assert_eq!(text.parse::<RootEntry>(), Err(EntryError::RootSyntax));
}

// go-ethereum TestParseRoot.
#[test]
fn parse_root_with_64_byte_signature_is_invalid() {
    let text = "enrtree-root:v1 e=TO4Q75OQ2N7DX4EOOR7X66A6OM l=TO4Q75OQ2N7DX4EOOR7X66A6OM seq=3 sig=N-YY6UB9xD0hFx1Gmnt7v0RfSxch5tKyry2SRDoLx7B4GfPXagwLxQqyf7gAMvApFn_ORwZQekMWa_pXrcGCtw";
    assert_eq!(text.parse::<RootEntry>(), Err(EntryError::InvalidSignature));
}

// go-ethereum TestParseRoot.
#[test]
fn parse_root_valid() {
    let text = "enrtree-root:v1 e=QFT4PBCRX4XQCV3VUYJ6BTCEPU l=JGUFMSAGI7KZYB3P7IZW4S5Y3A seq=3 sig=3FmXuVwpa8Y7OstZTx9PIb1mt8FrW7VpDOFv4AaGCsZ2EIHmhraWhe4NxYhQDlw5MjeFXYMbJjsPeKlHzmJREQE";
    let root: RootEntry = text.parse().unwrap();
    assert_eq!(root.enr_root, hash("QFT4PBCRX4XQCV3VUYJ6BTCEPU"));
    assert_eq!(root.link_root, hash("JGUFMSAGI7KZYB3P7IZW4S5Y3A"));
    assert_eq!(root.seq, 3);
    assert_eq!(
        hex::encode(root.signature()),
        "dc5997b95c296bc63b3acb594f1f4f21bd66b7c16b5bb5690ce16fe006860ac6761081e686b69685ee0dc588500e5c393237855d831b263b0f78a947ce62511101"
    );
    assert_eq!(root.to_string(), text);
}

#[test]
fn parse_root_rejects_variations() {
    let good = EIP_ROOT;
    for bad in [
        good.replacen("enrtree-root:v1", "enrtree-root=v1", 1),
        good.replacen(" e=", "  e=", 1),
        format!("{good} "),
        format!("{good} x=1"),
        good.replacen("seq=1", "seq=+1", 1),
        good.replacen("seq=1", "seq=", 1),
        good.replacen("seq=1", "seq=18446744073709551616", 1),
        good.replacen(" sig=", " sog=", 1),
        good.replacen("l=C7HR", "e=C7HR", 1),
    ] {
        assert_eq!(
            bad.parse::<RootEntry>(),
            Err(EntryError::RootSyntax),
            "{bad}"
        );
    }
    let short_hash = good.replacen("e=JWXYDBPXYWG6FX3GMDIBFA6CJ4", "e=JWXYDBPXYWG6FX3", 1);
    assert_eq!(
        short_hash.parse::<RootEntry>(),
        Err(EntryError::InvalidHash)
    );
    let padded = format!("{good}==");
    assert_eq!(
        padded.parse::<RootEntry>(),
        Err(EntryError::InvalidSignature)
    );
}

#[test]
fn eip_root_verifies_against_the_signing_key_only() {
    let root: RootEntry = EIP_ROOT.parse().unwrap();
    let key = signing_key().public_key();
    assert_eq!(root.verify(&key), Ok(()));
    let other = SecretKey::from_secret_bytes([7; 32]).unwrap().public_key();
    assert_eq!(root.verify(&other), Err(EntryError::SignatureMismatch));
    // The signature covers seq: the same signature on seq=2 does not verify.
    let replayed = RootEntry::with_signature(
        root.enr_root.clone(),
        root.link_root.clone(),
        2,
        *root.signature(),
    );
    assert_eq!(replayed.verify(&key), Err(EntryError::SignatureMismatch));
}

#[test]
fn signing_is_deterministic_and_matches_go_ethereum() {
    // The EIP's root, and the second vector of DNS.md (same nodes, no links, seq 7).
    let root = RootEntry::sign(
        hash("JWXYDBPXYWG6FX3GMDIBFA6CJ4"),
        hash("C7HRFPF3BLGF3YR4DY5KX3SMBE"),
        1,
        &signing_key(),
    );
    assert_eq!(root.to_string(), EIP_ROOT);
    let root = RootEntry::sign(
        hash("JWXYDBPXYWG6FX3GMDIBFA6CJ4"),
        hash("FDXN3SN67NA5DKA4J2GOK7BVQI"),
        7,
        &signing_key(),
    );
    assert_eq!(
        root.to_string(),
        "enrtree-root:v1 e=JWXYDBPXYWG6FX3GMDIBFA6CJ4 l=FDXN3SN67NA5DKA4J2GOK7BVQI seq=7 sig=PMFi_dr7yIUZv9Ic9gxTKpO-Nw24CU5v70UhGsfWRf94_FrbIrxwaRlEKTjKNb8kcyBkiXuyFmu_cMHFsWDrYQA"
    );
}

// go-ethereum TestParseEntry: branches.
#[test]
fn parse_branches() {
    assert_eq!(
        "enrtree-branch:1,2".parse::<Entry>(),
        Err(EntryError::InvalidHash)
    );
    let too_long = format!("enrtree-branch:{}", "A".repeat(53));
    assert_eq!(too_long.parse::<Entry>(), Err(EntryError::InvalidHash));
    assert_eq!(
        "enrtree-branch:".parse::<Entry>(),
        Ok(Entry::Branch(BranchEntry::default()))
    );
    assert_eq!(
        "enrtree-branch:AAAAAAAAAAAAAAAAAAAA".parse::<Entry>(),
        Ok(Entry::Branch(BranchEntry {
            children: vec![hash("AAAAAAAAAAAAAAAAAAAA")]
        }))
    );
    let two = "enrtree-branch:AAAAAAAAAAAAAAAAAAAA,BBBBBBBBBBBBBBBBBBBB";
    assert_eq!(
        two.parse::<Entry>(),
        Ok(Entry::Branch(BranchEntry {
            children: vec![hash("AAAAAAAAAAAAAAAAAAAA"), hash("BBBBBBBBBBBBBBBBBBBB")]
        }))
    );
    assert_eq!(two.parse::<Entry>().unwrap().to_string(), two);
    assert_eq!(
        "enrtree-branch:AAAAAAAAAAAAAAAAAAAA, BBBBBBBBBBBBBBBBBBBB".parse::<Entry>(),
        Err(EntryError::InvalidCharacter)
    );
    for bad in [
        "enrtree-branch:,",
        "enrtree-branch:AAAAAAAAAAAAAAAAAAAA,",
        "enrtree-branch:aaaaaaaaaaaaaaaaaaaa",
        "enrtree-branch:AAAAAAAAAAAAAAAAAAA",
    ] {
        assert_eq!(bad.parse::<Entry>(), Err(EntryError::InvalidHash), "{bad}");
    }
}

// go-ethereum TestParseEntry: links.
#[test]
fn parse_links() {
    let text = format!("enrtree://{SIGNING_KEY_B32}@nodes.example.org");
    let link = match text.parse::<Entry>() {
        Ok(Entry::Link(link)) => link,
        other => panic!("{other:?}"),
    };
    assert_eq!(link.domain, "nodes.example.org");
    assert_eq!(link.public_key, signing_key().public_key());
    assert_eq!(link.to_string(), text);

    assert_eq!(
        "enrtree://nodes.example.org".parse::<Entry>(),
        Err(EntryError::MissingPublicKey)
    );
    // Too short for a key, and 53 characters that are not a point.
    for bad in [
        "enrtree://AP62DT7WOTEQZGQZOU474PP3KMEGVTTE7A7NPRXKX3DUD57@nodes.example.org",
        "enrtree://AP62DT7WONEQZGQZOU474PP3KMEGVTTE7A7NPRXKX3DUD57TQHGIA@nodes.example.org",
    ] {
        assert_eq!(
            bad.parse::<Entry>(),
            Err(EntryError::InvalidPublicKey),
            "{bad}"
        );
    }
    for bad_domain in [
        "",
        "a..b",
        ".a",
        "a.",
        "a b",
        "a/b",
        &"a".repeat(64),
        &"a.".repeat(127),
    ] {
        let text = format!("enrtree://{SIGNING_KEY_B32}@{bad_domain}");
        assert!(
            matches!(
                text.parse::<Entry>(),
                Err(EntryError::InvalidDomain | EntryError::InvalidCharacter)
            ),
            "{text}"
        );
    }
}

// go-ethereum TestParseEntry: node records.
#[test]
fn parse_enrs() {
    let text = "enr:-HW4QES8QIeXTYlDzbfr1WEzE-XKY4f8gJFJzjJL-9D7TC9lJb4Z3JPRRz1lP4pL_N_QpT6rGQjAU9Apnc-C1iMP36OAgmlkgnY0iXNlY3AyNTZrMaED5IdwfMxdmR8W37HqSFdQLjDkIwBd4Q_MjxgZifgKSdM";
    let entry: Entry = text.parse().unwrap();
    assert_eq!(entry, Entry::Enr(Box::new(text.parse().unwrap())));
    assert_eq!(entry.to_string(), text);

    // Padded base64 is not a record.
    let padded = "enr:-HW4QLZHjM4vZXkbp-5xJoHsKSbE7W39FPC8283X-y8oHcHPTnDDlIlzL5ArvDUlHZVDPgmFASrh7cWgLOLxj4wprRkHgmlkgnY0iXNlY3AyNTZrMaEC3t2jLMhDpCDX5mbSEwDn4L3iUfyXzoO8G28XvjGRkrAg=";
    assert_eq!(
        padded.parse::<Entry>(),
        Err(EntryError::Enr(EnrError::InvalidBase64))
    );
    assert_eq!(
        "enr:-----".parse::<Entry>(),
        Err(EntryError::Enr(EnrError::InvalidBase64))
    );
}

// go-ethereum TestParseEntry: unknown types.
#[test]
fn parse_unknown_entries() {
    for text in [
        "",
        "foo",
        "enrtree",
        "enrtree-x=",
        "enrtree-root:v1",
        EIP_ROOT,
    ] {
        assert_eq!(
            text.parse::<Entry>(),
            Err(EntryError::UnknownEntry),
            "{text}"
        );
    }
}

#[test]
fn eip_entries_round_trip_and_match_their_names() {
    for (name, text) in EIP_ENTRIES {
        let entry: Entry = text.parse().unwrap();
        assert_eq!(entry.to_string(), text);
        assert_eq!(entry.hash().as_str(), name);
        assert!(hash(name).matches(text.as_bytes()));
        assert!(!hash(name).matches(format!("{text} ").as_bytes()));
        // Shorter and longer prefixes of the digest name the same entry.
        let digest = keccak256(text.as_bytes());
        for size in [MIN_HASH_SIZE, 20, MAX_HASH_SIZE] {
            assert!(hash(&base32::encode(&digest[..size])).matches(text.as_bytes()));
        }
    }
}

#[test]
fn entries_only_where_they_may_appear() {
    let (_, link) = EIP_ENTRIES[0];
    let (_, branch) = EIP_ENTRIES[1];
    let (_, enr) = EIP_ENTRIES[2];
    assert!(Entry::parse_in(link, Subtree::Link).is_ok());
    assert_eq!(
        Entry::parse_in(link, Subtree::Enr),
        Err(EntryError::LinkInEnrTree)
    );
    assert!(Entry::parse_in(enr, Subtree::Enr).is_ok());
    assert_eq!(
        Entry::parse_in(enr, Subtree::Link),
        Err(EntryError::EnrInLinkTree)
    );
    assert!(Entry::parse_in(branch, Subtree::Enr).is_ok());
    assert!(Entry::parse_in(branch, Subtree::Link).is_ok());
}

#[test]
fn oversized_and_non_ascii_entries_are_refused() {
    let long = format!(
        "enrtree-branch:{}",
        "AAAAAAAAAAAAAAAAAAAAAAAAAA,".repeat(80)
    );
    assert_eq!(long.parse::<Entry>(), Err(EntryError::TooLarge(long.len())));
    assert_eq!(
        long.parse::<RootEntry>(),
        Err(EntryError::TooLarge(long.len()))
    );
    assert_eq!(
        "enrtree-branch:\u{e9}".parse::<Entry>(),
        Err(EntryError::InvalidCharacter)
    );
    assert_eq!(
        "enrtree-branch:\nAAAAAAAAAAAAAAAAAAAA".parse::<Entry>(),
        Err(EntryError::InvalidCharacter)
    );
    // Only a root has spaces; the ENR text parser would otherwise trim this one.
    let (_, enr) = EIP_ENTRIES[2];
    assert_eq!(
        format!("{enr} ").parse::<Entry>(),
        Err(EntryError::InvalidCharacter)
    );
}

#[test]
fn character_strings_split_and_join() {
    // A 13-child branch, the largest entry go-ethereum writes: 365 bytes, two strings.
    let branch = format!(
        "enrtree-branch:{}",
        vec!["2XS2367YHAXJFGLZHVAWLQD4ZY"; 13].join(",")
    );
    assert_eq!(branch.len(), 365);
    let strings = split_character_strings(&branch);
    assert_eq!(
        strings.iter().map(|s| s.len()).collect::<Vec<_>>(),
        [255, 110]
    );
    assert_eq!(join_character_strings(&strings).unwrap(), branch);
    assert_eq!(split_character_strings(""), [b""]);
    assert_eq!(split_character_strings(EIP_ROOT), [EIP_ROOT.as_bytes()]);

    let huge = vec![[b'A'; 255]; 9];
    assert_eq!(
        join_character_strings(&huge),
        Err(EntryError::TooLarge(9 * 255))
    );
    assert_eq!(
        join_character_strings(&[&b"enr:"[..], &[0xff][..]]),
        Err(EntryError::InvalidCharacter)
    );
}
