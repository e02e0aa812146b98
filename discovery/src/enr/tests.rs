use super::*;

/// The example record of EIP-778.
const EXAMPLE: &str = "enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5wBgmlkgnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8";
const EXAMPLE_KEY: &str = "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291";
const EXAMPLE_ID: &str = "a448f24c6d18e575453db13171562b71999873db5b286df957af199ec94617f7";

fn example_key() -> SecretKey {
    let bytes: [u8; 32] = hex::decode(EXAMPLE_KEY).unwrap().try_into().unwrap();
    SecretKey::from_secret_bytes(bytes).unwrap()
}

fn example_bytes() -> Vec<u8> {
    base64::decode(EXAMPLE.strip_prefix("enr:").unwrap()).unwrap()
}

/// Signs `[seq, k, v, ...]` (given as the RLP payload after the signature) the way a careless
/// implementation might, without any of the builder's checks.
fn sign_raw(content: &[u8], key: &SecretKey) -> Vec<u8> {
    let mut signed = Vec::new();
    rlp::encode_header(content.len(), true, &mut signed);
    signed.extend_from_slice(content);
    let sig = secp256k1::ecdsa::sign(Message::from_digest(keccak256(&signed)), key);
    let mut payload = Vec::new();
    rlp::encode_bytes(&sig.serialize_compact(), &mut payload);
    payload.extend_from_slice(content);
    let mut record = Vec::new();
    rlp::encode_header(payload.len(), true, &mut record);
    record.extend_from_slice(&payload);
    record
}

/// `[seq, k, v, ...]` payload with the example key's identity and the given extra pairs
/// (already RLP), in the order given.
fn content(seq: u64, pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    rlp::encode_uint(seq, &mut out);
    for (k, v) in pairs {
        rlp::encode_bytes(k, &mut out);
        out.extend_from_slice(v);
    }
    out
}

fn identity() -> [(Vec<u8>, Vec<u8>); 2] {
    let mut id = Vec::new();
    rlp::encode_bytes(b"v4", &mut id);
    let mut pk = Vec::new();
    rlp::encode_bytes(
        &PublicKey::from_secret_key(&example_key()).serialize(),
        &mut pk,
    );
    [(b"id".to_vec(), id), (b"secp256k1".to_vec(), pk)]
}

#[test]
fn eip778_example_decodes() {
    let enr: Enr = EXAMPLE.parse().unwrap();
    assert_eq!(enr.seq(), 1);
    assert_eq!(enr.ip4(), Some(Ipv4Addr::new(127, 0, 0, 1)));
    assert_eq!(enr.udp4(), Some(30303));
    assert_eq!(enr.tcp4(), None);
    assert_eq!(enr.ip6(), None);
    assert_eq!(enr.id().to_string(), EXAMPLE_ID);
    assert_eq!(enr.public_key(), PublicKey::from_secret_key(&example_key()));
    assert_eq!(enr.peer_id(), PeerId::from_secret_key(&example_key()));
    assert_eq!(enr.get("id"), Some(&[0x82, b'v', b'4'][..]));
    assert_eq!(
        enr.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        [&b"id"[..], b"ip", b"secp256k1", b"udp"]
    );
    assert_eq!(enr.to_string(), EXAMPLE);
    assert_eq!(enr.encoded(), example_bytes());
    assert_eq!(Enr::decode(&enr.to_rlp()), Ok(enr.clone()));
    let enode = enr.to_enode().unwrap();
    assert_eq!(enode.ip, IpAddr::from([127, 0, 0, 1]));
    assert_eq!((enode.tcp_port, enode.udp_port), (0, 30303));
    assert_eq!(enode.id, enr.peer_id());
    assert!(format!("{enr:?}").contains(EXAMPLE_ID));
}

#[test]
fn eip778_example_builds_identically() {
    // RFC 6979 signing is deterministic, so signing the same content with the same key must
    // reproduce the EIP's signature exactly.
    let enr = Enr::builder()
        .seq(1)
        .ip4(Ipv4Addr::new(127, 0, 0, 1))
        .udp4(30303)
        .build(&example_key())
        .unwrap();
    assert_eq!(enr.to_string(), EXAMPLE);
}

#[test]
fn text_form_errors() {
    assert_eq!(
        "-IS4QHCYrYZbAKWCBRlA".parse::<Enr>(),
        Err(EnrError::MissingPrefix)
    );
    assert_eq!(
        "enr:-IS4QHCYrYZbAKWCBRlA=".parse::<Enr>(),
        Err(EnrError::InvalidBase64)
    );
    assert_eq!(
        "enr:-IS4QHCYrYZb+KWCBRlA".parse::<Enr>(),
        Err(EnrError::InvalidBase64)
    );
    // Whitespace around is tolerated; inside it is not.
    assert!(format!("  {EXAMPLE}\n").parse::<Enr>().is_ok());
    assert_eq!(
        format!("{} {}", &EXAMPLE[..20], &EXAMPLE[20..]).parse::<Enr>(),
        Err(EnrError::InvalidBase64)
    );
    let long = format!("enr:{}", "A".repeat(404));
    assert!(matches!(long.parse::<Enr>(), Err(EnrError::TooLarge(_))));
}

#[test]
fn unknown_keys_survive() {
    // An "eth" entry as geth writes it ([[fork hash, next]]), and a key sorting last.
    let eth = [0xc7, 0xc6, 0x84, 0xfc, 0x64, 0xec, 0x04, 0x80];
    let enr = Enr::builder()
        .insert_raw("eth", eth)
        .unwrap()
        .insert_raw("zz", [0x83, 1, 2, 3])
        .unwrap()
        .tcp4(30303)
        .build(&example_key())
        .unwrap();
    let decoded = Enr::decode(enr.encoded()).unwrap();
    assert_eq!(decoded.get("eth"), Some(&eth[..]));
    assert_eq!(decoded.get(b"zz"), Some(&[0x83, 1, 2, 3][..]));
    assert_eq!(decoded.encoded(), enr.encoded());
    assert_eq!(decoded.to_string().parse::<Enr>(), Ok(enr.clone()));
    // Through an update too.
    let updated = decoded.update(&example_key(), |b| {
        b.udp4(1);
    });
    assert_eq!(updated.unwrap().get("eth"), Some(&eth[..]));

    // A hand-made record with an unknown key whose value is a nested list.
    let [id, pk] = identity();
    let odd = [0xc3, 0xc2, 0x01, 0x02];
    let record = sign_raw(
        &content(
            7,
            &[(&b"aaa"[..], &odd[..]), (&id.0, &id.1), (&pk.0, &pk.1)],
        ),
        &example_key(),
    );
    let enr = Enr::decode(&record).unwrap();
    assert_eq!(enr.get("aaa"), Some(&odd[..]));
    assert_eq!(enr.encoded(), record);
}

#[test]
fn tampered_records_are_rejected() {
    let bytes = example_bytes();
    // Any single-bit flip breaks the record somehow; most break the signature.
    let mut signature_failures = 0;
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut tampered = bytes.clone();
            tampered[i] ^= 1 << bit;
            let result = Enr::decode(&tampered);
            assert!(result.is_err(), "byte {i} bit {bit} accepted");
            if result == Err(EnrError::InvalidSignature) {
                signature_failures += 1;
            }
        }
    }
    assert!(signature_failures > 500, "{signature_failures}");

    // The signature's s replaced by n - s: still a valid signature mathematically, but high-S.
    let enr = Enr::decode(&bytes).unwrap();
    let mut sig = Signature::from_compact(&enr.signature()).unwrap();
    sig.normalize_s();
    assert_eq!(sig.serialize_compact(), enr.signature(), "already low-S");
    let n =
        hex::decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141").unwrap();
    let s = &enr.signature()[32..];
    let mut high = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(n[i]) - i16::from(s[i]) - borrow;
        high[i] = d.rem_euclid(256) as u8;
        borrow = i16::from(d < 0);
    }
    let mut malleated = bytes.clone();
    // f8 84 (list of 132 bytes), b8 40 (64-byte string).
    let sig_start = 4;
    assert_eq!(&malleated[sig_start..sig_start + 64], &enr.signature());
    malleated[sig_start + 32..sig_start + 64].copy_from_slice(&high);
    assert_eq!(Enr::decode(&malleated), Err(EnrError::InvalidSignature));
    let mut normalized = Signature::from_compact(&malleated[sig_start..sig_start + 64]).unwrap();
    normalized.normalize_s();
    assert_eq!(normalized.serialize_compact(), enr.signature());

    // Signed by another key.
    let other = SecretKey::from_secret_bytes([9; 32]).unwrap();
    let [id, pk] = identity();
    let record = sign_raw(&content(1, &[(&id.0, &id.1), (&pk.0, &pk.1)]), &other);
    assert_eq!(Enr::decode(&record), Err(EnrError::InvalidSignature));
}

#[test]
fn structure_errors() {
    let key = example_key();
    let [id, pk] = identity();
    let good = sign_raw(&content(1, &[(&id.0, &id.1), (&pk.0, &pk.1)]), &key);
    assert!(Enr::decode(&good).is_ok());

    // Unsorted and duplicate keys.
    let unsorted = sign_raw(&content(1, &[(&pk.0, &pk.1), (&id.0, &id.1)]), &key);
    assert_eq!(
        Enr::decode(&unsorted),
        Err(EnrError::DuplicateOrUnsortedKey)
    );
    let udp = [0x82, 0x76, 0x5f];
    let duplicate = sign_raw(
        &content(
            1,
            &[
                (&id.0, &id.1),
                (&pk.0, &pk.1),
                (b"udp", &udp),
                (b"udp", &udp),
            ],
        ),
        &key,
    );
    assert_eq!(
        Enr::decode(&duplicate),
        Err(EnrError::DuplicateOrUnsortedKey)
    );

    // Missing identity keys, other schemes.
    let no_id = sign_raw(&content(1, &[(&pk.0, &pk.1)]), &key);
    assert_eq!(Enr::decode(&no_id), Err(EnrError::MissingKey("id")));
    let no_key = sign_raw(&content(1, &[(&id.0, &id.1)]), &key);
    assert_eq!(Enr::decode(&no_key), Err(EnrError::MissingKey("secp256k1")));
    let v5 = sign_raw(&content(1, &[(b"id", b"\x82v5"), (&pk.0, &pk.1)]), &key);
    assert_eq!(
        Enr::decode(&v5),
        Err(EnrError::UnsupportedIdScheme("v5".into()))
    );

    // Malformed known values.
    for (k, v) in [
        (&b"ip"[..], &[0x83, 1, 2, 3][..]),
        (b"ip6", &[0x84, 1, 2, 3, 4]),
        (b"tcp", &[0x83, 1, 0, 0]),
        (b"udp", &[0x82, 0, 1]),
        (b"udp6", &[0x00]),
        (b"tcp6", &[0xc0]),
    ] {
        let mut pairs = vec![(&id.0[..], &id.1[..]), (&pk.0[..], &pk.1[..]), (k, v)];
        pairs.sort();
        let record = sign_raw(&content(1, &pairs), &key);
        assert_eq!(
            Enr::decode(&record),
            Err(EnrError::InvalidValue {
                key: String::from_utf8_lossy(k).into()
            }),
            "{}",
            String::from_utf8_lossy(k)
        );
    }
    let bad_pk = sign_raw(
        &content(1, &[(&id.0, &id.1), (b"secp256k1", &[0x80])]),
        &key,
    );
    assert!(matches!(
        Enr::decode(&bad_pk),
        Err(EnrError::InvalidValue { .. })
    ));

    // RLP shape: trailing bytes, odd pair, non-canonical seq, not a list, a list key.
    let mut trailing = good.clone();
    trailing.push(0x80);
    assert!(matches!(
        Enr::decode(&trailing),
        Err(EnrError::InvalidRlp(_))
    ));
    let mut odd = content(1, &[(&id.0, &id.1), (&pk.0, &pk.1)]);
    odd.extend_from_slice(&[0x83, b'z', b'z', b'z']);
    assert!(matches!(
        Enr::decode(&sign_raw(&odd, &key)),
        Err(EnrError::InvalidRlp(_))
    ));
    let mut padded_seq = vec![0x82, 0x00, 0x01];
    padded_seq.extend_from_slice(&content(1, &[(&id.0, &id.1), (&pk.0, &pk.1)])[1..]);
    assert!(matches!(
        Enr::decode(&sign_raw(&padded_seq, &key)),
        Err(EnrError::InvalidRlp(_))
    ));
    assert!(matches!(Enr::decode(&[0x80]), Err(EnrError::InvalidRlp(_))));
    assert!(matches!(Enr::decode(&[]), Err(EnrError::InvalidRlp(_))));
    assert!(matches!(Enr::decode(&[0xc0]), Err(EnrError::InvalidRlp(_))));
    let mut list_key = content(1, &[(&id.0, &id.1), (&pk.0, &pk.1)]);
    list_key.extend_from_slice(&[0xc0, 0x80]);
    assert!(matches!(
        Enr::decode(&sign_raw(&list_key, &key)),
        Err(EnrError::InvalidRlp(_))
    ));
    // Short signature.
    let mut short = Vec::new();
    let payload = [&[0x80][..], &content(1, &[(&id.0, &id.1), (&pk.0, &pk.1)])].concat();
    rlp::encode_header(payload.len(), true, &mut short);
    short.extend_from_slice(&payload);
    assert_eq!(Enr::decode(&short), Err(EnrError::InvalidSignature));
}

#[test]
fn size_limit() {
    let key = example_key();
    // Fill up to exactly 300 bytes, then one more.
    let base = Enr::builder().build(&key).unwrap().encoded().len();
    // A "x" key (1 byte) with a string value of m bytes adds 1 + header + m; pick m >= 56.
    let mut fits = None;
    for m in 56..300 {
        let mut value = Vec::new();
        rlp::encode_bytes(&vec![0xaa; m], &mut value);
        match Enr::builder().insert_raw("x", &value).unwrap().build(&key) {
            Ok(enr) => fits = Some((m, enr)),
            Err(e) => {
                assert!(matches!(e, EnrError::TooLarge(n) if n > MAX_RECORD_SIZE));
                break;
            }
        }
    }
    let (m, enr) = fits.unwrap();
    assert!(enr.encoded().len() > base);
    assert_eq!(enr.encoded().len(), MAX_RECORD_SIZE, "m = {m}");
    assert_eq!(Enr::decode(enr.encoded()).as_ref(), Ok(&enr));
    assert_eq!(enr.to_string().parse::<Enr>().as_ref(), Ok(&enr));

    // Decoding rejects large input before looking at it.
    assert_eq!(Enr::decode(&[0u8; 301]), Err(EnrError::TooLarge(301)));
    let [id, pk] = identity();
    let big = [vec![0xb8, 200], vec![0u8; 200]].concat();
    let record = sign_raw(
        &content(1, &[(b"a", &big), (&id.0, &id.1), (&pk.0, &pk.1)]),
        &key,
    );
    assert!(record.len() > MAX_RECORD_SIZE);
    assert_eq!(Enr::decode(&record), Err(EnrError::TooLarge(record.len())));
    let text = format!("enr:{}", base64::encode(&record));
    assert!(matches!(text.parse::<Enr>(), Err(EnrError::TooLarge(_))));
}

#[test]
fn update_bumps_seq() {
    let key = example_key();
    let enr: Enr = EXAMPLE.parse().unwrap();
    let updated = enr
        .update(&key, |b| {
            b.tcp4(30303).ip6(Ipv6Addr::LOCALHOST).udp6(30304);
        })
        .unwrap();
    assert_eq!(updated.seq(), 2);
    assert_eq!(updated.id(), enr.id());
    assert_eq!(updated.ip4(), enr.ip4());
    assert_eq!(updated.udp4(), Some(30303));
    assert_eq!(updated.tcp4(), Some(30303));
    assert_eq!(updated.ip6(), Some(Ipv6Addr::LOCALHOST));
    assert_eq!(updated.udp6(), Some(30304));
    assert_eq!(updated.tcp6(), None);

    let removed = updated
        .update(&key, |b| {
            b.remove("ip");
        })
        .unwrap();
    assert_eq!(removed.seq(), 3);
    assert_eq!(removed.ip4(), None);
    // IPv6 now, with tcp6 falling back to tcp.
    let enode = removed.to_enode().unwrap();
    assert_eq!(enode.ip, IpAddr::V6(Ipv6Addr::LOCALHOST));
    assert_eq!((enode.tcp_port, enode.udp_port), (30303, 30304));

    // f may move the sequence number forward but never back.
    let jumped = removed.update(&key, |b| {
        b.seq(100);
    });
    assert_eq!(jumped.unwrap().seq(), 100);
    let back = removed.update(&key, |b| {
        b.seq(0);
    });
    assert_eq!(back.unwrap().seq(), 4);

    let other = SecretKey::from_secret_bytes([9; 32]).unwrap();
    assert_eq!(enr.update(&other, |_| {}), Err(EnrError::KeyMismatch));
    let max = Enr::builder().seq(u64::MAX).build(&key).unwrap();
    assert_eq!(max.update(&key, |_| {}), Err(EnrError::SeqOverflow));
}

#[test]
fn builder_checks_values() {
    let mut b = Enr::builder();
    assert!(b.insert_raw("x", [0x81, 0x05]).is_err());
    assert!(b.insert_raw("x", [0x01, 0x02]).is_err());
    assert!(b.insert_raw("x", []).is_err());
    assert!(b.insert_raw("ip", [0x82, 1, 2]).is_err());
    assert!(b.insert_raw("udp", [0x83, 1, 2, 3]).is_err());
    assert!(b.insert_raw("secp256k1", [0x80]).is_err());
    assert!(b.insert_raw("x", [0xc1, 0x05]).is_ok());
    // `id` and `secp256k1` always come from the signing key.
    let other = PublicKey::from_secret_key(&SecretKey::from_secret_bytes([9; 32]).unwrap());
    let mut pk = Vec::new();
    rlp::encode_bytes(&other.serialize(), &mut pk);
    b.insert_raw("secp256k1", pk).unwrap();
    b.insert_raw("id", [0x82, b'v', b'5']).unwrap();
    let enr = b
        .ip(IpAddr::from([1, 2, 3, 4]))
        .build(&example_key())
        .unwrap();
    assert_eq!(enr.public_key(), PublicKey::from_secret_key(&example_key()));
    assert_eq!(enr.get("id"), Some(&b"\x82v4"[..]));
    assert_eq!(enr.ip4(), Some(Ipv4Addr::new(1, 2, 3, 4)));
    // Seq 0 and port 0 encode as the empty string.
    let zero = Enr::builder().seq(0).tcp4(0).build(&example_key()).unwrap();
    assert_eq!((zero.seq(), zero.tcp4()), (0, Some(0)));
    assert_eq!(zero.get("tcp"), Some(&[0x80][..]));
    assert_eq!(zero.to_enode(), None);
}
