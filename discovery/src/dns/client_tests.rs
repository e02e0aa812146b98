//! The client on an in-memory zone and a simulated clock: go-ethereum's
//! `p2p/dnsdisc/client_test.go` cases, then what go-ethereum does not check (seq going back)
//! and the bad input of issue 9.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use secp256k1::SecretKey;

use super::entry::{EntryError, RootEntry};
use super::*;
use crate::{Enr, EnrError, NodeId};

/// go-ethereum's `signingKeyForTesting`.
const SIGNING_KEY: &str = "dc599867fc513f8f5e2c2c9c489cde5e71362d1d9ec6e693e0de063236ed1240";

fn signing_key() -> SecretKey {
    SecretKey::from_secret_bytes(hex::decode(SIGNING_KEY).unwrap().try_into().unwrap()).unwrap()
}

fn test_key(i: u64) -> SecretKey {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&(i + 1).to_be_bytes());
    bytes[31] = 1;
    SecretKey::from_secret_bytes(bytes).unwrap()
}

/// go-ethereum `testNodes`: records with sequence number `i` and no endpoint.
fn test_nodes(n: u64) -> Vec<Enr> {
    (0..n)
        .map(|i| Enr::builder().seq(i).build(&test_key(i)).unwrap())
        .collect()
}

/// go-ethereum `updateSomeNodes`: the first half get an IP and sequence number 55.
fn update_some_nodes(nodes: &mut [Enr]) {
    let half = nodes.len() / 2;
    for (i, node) in nodes[..half].iter_mut().enumerate() {
        *node = Enr::builder()
            .seq(55)
            .ip4([127, 0, 0, 1].into())
            .build(&test_key(i as u64))
            .unwrap();
    }
}

/// go-ethereum `makeTestTree`: seq 1, signed with the testing key.
fn make_tree(domain: &str, nodes: &[Enr], links: &[LinkEntry]) -> (SignedTree, LinkEntry) {
    make_tree_seq(domain, 1, nodes, links)
}

fn make_tree_seq(
    domain: &str,
    seq: u64,
    nodes: &[Enr],
    links: &[LinkEntry],
) -> (SignedTree, LinkEntry) {
    let tree = Tree::new(seq, nodes, links).unwrap().sign(&signing_key());
    let url = tree.url(domain).unwrap();
    (tree, url)
}

fn fast() -> ClientConfig {
    ClientConfig {
        rate_limit: 500.0,
        recheck_interval: Duration::from_secs(20 * 60),
        ..ClientConfig::default()
    }
}

/// A client, an in-memory zone, and a simulated clock.
struct Sim {
    client: Client,
    zone: MemoryResolver,
    start: Instant,
    now: Instant,
    lookups: Vec<String>,
    /// When each lookup was made, since the start.
    lookup_times: Vec<Duration>,
    errors: Vec<SyncError>,
}

impl Sim {
    fn new(config: ClientConfig, urls: &[&LinkEntry]) -> Sim {
        let mut client = Client::new(config, 7);
        for url in urls {
            client.add_tree(url);
        }
        let now = Instant::now();
        Sim {
            client,
            zone: MemoryResolver::new(),
            start: now,
            now,
            lookups: Vec::new(),
            lookup_times: Vec::new(),
            errors: Vec::new(),
        }
    }

    fn publish(&self, domain: &str, tree: &SignedTree) {
        self.zone.insert_all(tree.to_txt(domain));
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    /// Runs the client until it hands out a node, sleeping through waits that end within
    /// `patience`; `None` if it would wait longer (or has no tree).
    fn next_within(&mut self, patience: Duration) -> Option<Enr> {
        let deadline = self.now + patience;
        for _ in 0..100_000 {
            match self.client.poll(self.now) {
                Action::Node(node) => return Some(node),
                Action::Idle => return None,
                Action::Sleep(until) => {
                    assert!(until > self.now, "a sleep that does not wait is a spin");
                    if until > deadline {
                        return None;
                    }
                    self.now = until;
                }
                Action::Resolve(name) => {
                    let answer = self.zone.lookup(&name);
                    self.lookups.push(name);
                    self.lookup_times.push(self.now - self.start);
                    if let Err(error) = self.client.handle_answer(answer) {
                        self.errors.push(error);
                    }
                }
            }
        }
        panic!("no node and no wait in 100000 steps");
    }

    /// Runs the client for `duration` of simulated time; the nodes it handed out.
    fn run_for(&mut self, duration: Duration) -> Vec<Enr> {
        let deadline = self.now + duration;
        let mut nodes = Vec::new();
        while let Some(node) = self.next_within(deadline.saturating_duration_since(self.now)) {
            nodes.push(node);
        }
        nodes
    }

    fn next(&mut self) -> Option<Enr> {
        self.next_within(Duration::from_secs(1))
    }

    /// go-ethereum `checkIterator`: within 3 calls per node, every wanted node comes out.
    fn check_iterator(&mut self, want: &[Enr]) {
        let mut missing: BTreeMap<NodeId, &Enr> = want.iter().map(|n| (n.id(), n)).collect();
        for call in 0..want.len() * 3 {
            if missing.is_empty() {
                return;
            }
            let node = self
                .next()
                .unwrap_or_else(|| panic!("no node at call {call}"));
            if missing.get(&node.id()) == Some(&&node) {
                missing.remove(&node.id());
            }
        }
        assert!(missing.is_empty(), "{} nodes not found", missing.len());
    }
}

const EIP_NODES: [&str; 3] = [
    "enr:-HW4QOFzoVLaFJnNhbgMoDXPnOvcdVuj7pDpqRvh6BRDO68aVi5ZcjB3vzQRZH2IcLBGHzo8uUN3snqmgTiE56CH3AMBgmlkgnY0iXNlY3AyNTZrMaECC2_24YYkYHEgdzxlSNKQEnHhuNAbNlMlWJxrJxbAFvA",
    "enr:-HW4QAggRauloj2SDLtIHN1XBkvhFZ1vtf1raYQp9TBW2RD5EEawDzbtSmlXUfnaHcvwOizhVYLtr7e6vw7NAf6mTuoCgmlkgnY0iXNlY3AyNTZrMaECjrXI8TLNXU0f8cthpAMxEshUyQlK-AM0PW2wfrnacNI",
    "enr:-HW4QLAYqmrwllBEnzWWs7I5Ev2IAs7x_dZlbYdRdMUx5EyKHDXp7AV5CkuPGUPdvbv1_Ms1CPfhcGCvSElSosZmyoqAgmlkgnY0iXNlY3AyNTZrMaECriawHKWdDRk2xeZkrOXBQ0dfMFLHY4eENZwdufn1S1o",
];
const EIP_LINK: &str =
    "enrtree://AM5FCQLWIZX2QFPNJAP7VUERCCRNGRHWZG3YYHIUV7BVDQ5FDPRT2@morenodes.example.org";
const TREE_N: &str = "enrtree://AKPYQIUQIL7PSIACI32J7FGZW56E5FKHEFCCOFHILBIMW3M6LWXS2@n";

fn eip_zone_at_n() -> MemoryResolver {
    let zone = MemoryResolver::new();
    zone.insert_all(
        [
            ("n", "enrtree-root:v1 e=JWXYDBPXYWG6FX3GMDIBFA6CJ4 l=C7HRFPF3BLGF3YR4DY5KX3SMBE seq=1 sig=o908WmNp7LibOfPsr4btQwatZJ5URBr2ZAuxvK4UWHlsB9sUOTJQaGAlLPVAhM__XJesCHxLISo94z5Z2a463gA"),
            ("C7HRFPF3BLGF3YR4DY5KX3SMBE.n", EIP_LINK),
            ("JWXYDBPXYWG6FX3GMDIBFA6CJ4.n", "enrtree-branch:2XS2367YHAXJFGLZHVAWLQD4ZY,H4FHT4B454P6UXFD7JCYQ5PWDY,MHTDO6TMUBRIA2XWG5LUDACK24"),
            ("2XS2367YHAXJFGLZHVAWLQD4ZY.n", EIP_NODES[0]),
            ("H4FHT4B454P6UXFD7JCYQ5PWDY.n", EIP_NODES[1]),
            ("MHTDO6TMUBRIA2XWG5LUDACK24.n", EIP_NODES[2]),
        ]
        .map(|(name, text)| (name.to_owned(), text.to_owned())),
    );
    zone
}

/// Drives a [`TreeSync`] against `zone` on a simulated clock.
fn download(zone: &MemoryResolver, url: &str) -> Result<SignedTree, SyncError> {
    let mut sync = TreeSync::new(url.parse().unwrap(), &ClientConfig::default());
    let mut now = Instant::now();
    loop {
        match sync.poll(now) {
            SyncStep::Done => return Ok(sync.finish().unwrap()),
            SyncStep::Sleep(until) => now = until,
            SyncStep::Resolve(name) => {
                let answer = zone.lookup(&name);
                sync.handle_answer(&name, answer)?;
            }
            SyncStep::Wait => unreachable!("every lookup is answered at once"),
        }
    }
}

/// Lookups in flight at once, answered in reverse order, one of them failing once: the
/// download completes with the same tree, never more than `parallel_lookups` asked at once.
#[test]
fn parallel_lookups_answered_out_of_order() {
    let zone = eip_zone_at_n();
    let config = ClientConfig {
        parallel_lookups: 2,
        ..ClientConfig::default()
    };
    let mut sync = TreeSync::new(TREE_N.parse().unwrap(), &config);
    let mut now = Instant::now();
    let mut failed_once = false;
    let mut most_in_flight = 0;
    loop {
        let mut asked = Vec::new();
        loop {
            match sync.poll(now) {
                SyncStep::Resolve(name) => asked.push(name),
                SyncStep::Sleep(until) if asked.is_empty() => now = until,
                SyncStep::Sleep(_) | SyncStep::Wait => break,
                SyncStep::Done => break,
            }
        }
        if asked.is_empty() {
            break;
        }
        most_in_flight = most_in_flight.max(asked.len());
        for name in asked.into_iter().rev() {
            if !failed_once && name != "n" {
                failed_once = true;
                let error = sync.handle_answer(&name, Err(ResolveError::Timeout));
                assert!(error.is_err());
                continue;
            }
            let answer = zone.lookup(&name);
            sync.handle_answer(&name, answer).unwrap();
        }
    }
    assert_eq!(most_in_flight, 2);
    assert!(failed_once);
    let tree = sync.finish().expect("downloaded");
    assert_eq!(tree, download(&zone, TREE_N).unwrap());
}

// go-ethereum TestClientSyncTree.
#[test]
fn sync_tree() {
    let zone = eip_zone_at_n();
    let tree = download(&zone, TREE_N).unwrap();
    let mut want: Vec<Enr> = EIP_NODES.iter().map(|t| t.parse().unwrap()).collect();
    want.sort_by_key(Enr::id);
    assert_eq!(tree.tree().nodes(), want.iter().collect::<Vec<_>>());
    let links: Vec<String> = tree.tree().links().iter().map(|l| l.to_string()).collect();
    assert_eq!(links, [EIP_LINK]);
    assert_eq!(tree.root().seq, 1);
    // What was downloaded is what gets published, byte for byte.
    let records: BTreeMap<String, String> = [
        "n",
        "C7HRFPF3BLGF3YR4DY5KX3SMBE.n",
        "JWXYDBPXYWG6FX3GMDIBFA6CJ4.n",
        "2XS2367YHAXJFGLZHVAWLQD4ZY.n",
        "H4FHT4B454P6UXFD7JCYQ5PWDY.n",
        "MHTDO6TMUBRIA2XWG5LUDACK24.n",
    ]
    .iter()
    .map(|name| (name.to_string(), zone.lookup(name).unwrap().remove(0)))
    .collect();
    assert_eq!(tree.to_txt("n"), records);
    let links: Vec<LinkEntry> = tree.tree().links().into_iter().cloned().collect();
    let republished = Tree::new(1, &want, &links).unwrap().sign(&signing_key());
    assert_eq!(republished.to_txt("n"), records);
}

// go-ethereum TestClientSyncTreeBadNode.
#[test]
fn sync_tree_bad_node() {
    let zone = MemoryResolver::new();
    zone.set("n", vec!["enrtree-root:v1 e=INDMVBZEEQ4ESVYAKGIYU74EAA l=C7HRFPF3BLGF3YR4DY5KX3SMBE seq=3 sig=Vl3AmunLur0JZ3sIyJPSH6A3Vvdp4F40jWQeCmkIhmcgwE4VC5U9wpK8C_uL_CMY29fd6FAhspRvq2z_VysTLAA".into()]);
    zone.set("C7HRFPF3BLGF3YR4DY5KX3SMBE.n", vec![EIP_LINK.into()]);
    zone.set("INDMVBZEEQ4ESVYAKGIYU74EAA.n", vec!["enr:-----".into()]);
    assert_eq!(
        download(&zone, TREE_N),
        Err(SyncError::InvalidEntry {
            name: "INDMVBZEEQ4ESVYAKGIYU74EAA.n".into(),
            error: EntryError::Enr(EnrError::InvalidBase64),
        })
    );
}

// go-ethereum TestIterator.
#[test]
fn iterator_finds_every_node() {
    let nodes = test_nodes(30);
    let (tree, url) = make_tree("n", &nodes, &[]);
    let mut sim = Sim::new(fast(), &[&url]);
    sim.publish("n", &tree);
    sim.check_iterator(&nodes);
    assert!(sim.errors.is_empty(), "{:?}", sim.errors);
}

// go-ethereum TestIteratorLinks.
#[test]
fn iterator_follows_links() {
    let nodes = test_nodes(40);
    let (tree1, url1) = make_tree("t1", &nodes[..10], &[]);
    let (tree2, url2) = make_tree("t2", &nodes[10..], std::slice::from_ref(&url1));
    let mut sim = Sim::new(fast(), &[&url2]);
    sim.publish("t1", &tree1);
    sim.publish("t2", &tree2);
    sim.check_iterator(&nodes);
    assert_eq!(sim.client.trees().count(), 2);
}

// go-ethereum TestIteratorNodeUpdates.
#[test]
fn iterator_rechecks_the_root_for_updates() {
    let mut nodes = test_nodes(30);
    let (tree1, url) = make_tree("n", &nodes[..25], &[]);
    let mut sim = Sim::new(fast(), &[&url]);
    sim.publish("n", &tree1);
    sim.check_iterator(&nodes[..25]);

    // The same seq, as in go-ethereum's test: an equal sequence number is accepted.
    update_some_nodes(&mut nodes);
    let (tree2, _) = make_tree("n", &nodes, &[]);
    sim.zone.clear();
    sim.publish("n", &tree2);
    sim.advance(sim.client.config().recheck_interval + Duration::from_secs(1));
    sim.check_iterator(&nodes);
}

// go-ethereum TestIteratorRootRecheckOnFail: no clock advance; leaf failures trigger the
// recheck. The cache must be (nearly) off, or no leaf lookup would fail.
#[test]
fn iterator_rechecks_the_root_after_leaf_failures() {
    let config = ClientConfig {
        cache_limit: 1,
        ..fast()
    };
    let mut nodes = test_nodes(30);
    let (tree1, url) = make_tree("n", &nodes[..25], &[]);
    let mut sim = Sim::new(config, &[&url]);
    sim.publish("n", &tree1);
    sim.check_iterator(&nodes[..25]);

    update_some_nodes(&mut nodes);
    let (tree2, _) = make_tree("n", &nodes, &[]);
    sim.zone.clear();
    sim.publish("n", &tree2);
    let before = sim.now;
    sim.check_iterator(&nodes);
    assert!(sim.now - before < sim.client.config().recheck_interval);
    assert!(
        sim.errors
            .iter()
            .any(|e| matches!(e, SyncError::Resolve { .. }))
    );
}

// go-ethereum TestIteratorEmptyTree: an empty tree makes the client wait for the next root
// check, without spinning, and a node published meanwhile comes out then.
#[test]
fn iterator_waits_on_an_empty_tree() {
    let nodes = test_nodes(1);
    let (tree1, url) = make_tree("n", &[], &[]);
    let (tree2, _) = make_tree("n", &nodes, &[]);
    let mut sim = Sim::new(fast(), &[&url]);
    sim.publish("n", &tree1);

    assert_eq!(sim.next(), None);
    let recheck = sim.client.config().recheck_interval;
    assert_eq!(sim.client.poll(sim.now), Action::Sleep(sim.start + recheck));
    let lookups = sim.lookups.len();
    assert_eq!(
        lookups, 2,
        "the root and the empty branch: {:?}",
        sim.lookups
    );
    for _ in 0..1000 {
        assert!(matches!(sim.client.poll(sim.now), Action::Sleep(_)));
    }
    assert_eq!(sim.lookups.len(), lookups);

    sim.publish("n", &tree2);
    assert_eq!(sim.next_within(recheck), Some(nodes[0].clone()));
}

// go-ethereum TestIteratorLinkUpdates: a link replaced by another, and the dropped tree
// garbage-collected.
#[test]
fn iterator_follows_link_updates() {
    let nodes = test_nodes(30);
    let (tree3, url3) = make_tree("t3", &nodes[20..30], &[]);
    let (tree2, url2) = make_tree("t2", &nodes[10..20], &[]);
    let (tree1, url1) = make_tree("t1", &nodes[0..10], std::slice::from_ref(&url2));
    let mut sim = Sim::new(fast(), &[&url1]);
    for (domain, tree) in [("t1", &tree1), ("t2", &tree2), ("t3", &tree3)] {
        sim.publish(domain, tree);
    }
    sim.check_iterator(&nodes[..20]);

    let (tree1, _) = make_tree_seq("t1", 2, &nodes[..10], std::slice::from_ref(&url3));
    sim.publish("t1", &tree1);
    sim.advance(sim.client.config().recheck_interval + Duration::from_secs(1));
    let mut want = nodes[..10].to_vec();
    want.extend_from_slice(&nodes[20..30]);
    sim.check_iterator(&want);

    let trees: BTreeSet<String> = sim.client.trees().map(|t| t.domain.clone()).collect();
    assert_eq!(trees, BTreeSet::from(["t1".into(), "t3".into()]));
}

#[test]
fn link_loops_are_walked_once() {
    let nodes = test_nodes(20);
    let url1 = LinkEntry::new(signing_key().public_key(), "t1").unwrap();
    let url2 = LinkEntry::new(signing_key().public_key(), "t2").unwrap();
    // t1 links to itself and to t2, t2 back to t1.
    let (tree1, _) = make_tree("t1", &nodes[..10], &[url1.clone(), url2.clone()]);
    let (tree2, _) = make_tree("t2", &nodes[10..], std::slice::from_ref(&url1));
    let mut sim = Sim::new(fast(), &[&url1]);
    sim.publish("t1", &tree1);
    sim.publish("t2", &tree2);
    sim.check_iterator(&nodes);
    assert_eq!(sim.client.trees().count(), 2);

    // t1 drops both links: t2 goes, though it still links to t1.
    let (tree1, _) = make_tree_seq("t1", 2, &nodes[..10], &[]);
    sim.publish("t1", &tree1);
    sim.advance(sim.client.config().recheck_interval + Duration::from_secs(1));
    sim.check_iterator(&nodes[..10]);
    let trees: Vec<&str> = sim.client.trees().map(|t| t.domain.as_str()).collect();
    assert_eq!(trees, ["t1"]);
}

#[test]
fn a_root_whose_seq_goes_back_is_refused() {
    let nodes = test_nodes(10);
    let (newer, url) = make_tree_seq("n", 5, &nodes[..5], &[]);
    let (older, _) = make_tree_seq("n", 4, &nodes[5..], &[]);
    let mut sim = Sim::new(fast(), &[&url]);
    sim.publish("n", &newer);
    sim.check_iterator(&nodes[..5]);

    sim.publish("n", &older);
    sim.advance(sim.client.config().recheck_interval + Duration::from_secs(1));
    let found: BTreeSet<NodeId> = (0..20).map(|_| sim.next().unwrap().id()).collect();
    assert_eq!(found, nodes[..5].iter().map(Enr::id).collect());
    assert!(sim.errors.contains(&SyncError::SeqDecreased {
        domain: "n".into(),
        seen: 5,
        seq: 4
    }));
}

#[test]
fn a_root_signed_by_another_key_is_refused_and_retried_with_backoff() {
    let nodes = test_nodes(3);
    let forged = Tree::new(1, &nodes, &[]).unwrap().sign(&test_key(99));
    let url = LinkEntry::new(signing_key().public_key(), "n").unwrap();
    let mut sim = Sim::new(fast(), &[&url]);
    sim.publish("n", &forged);
    assert_eq!(sim.run_for(Duration::from_secs(4)), []);
    assert_eq!(
        sim.lookups,
        vec!["n".to_owned(); 6],
        "six at once, then a 5 s backoff"
    );
    assert!(sim.errors.iter().all(|e| *e
        == SyncError::InvalidRoot {
            domain: "n".into(),
            error: EntryError::SignatureMismatch
        }));
    assert_eq!(sim.client.cached_entries(), 0);

    // Then every 5 s, and every 10 s after more than 20 failures; never given up.
    assert_eq!(sim.run_for(Duration::from_secs(200)), []);
    let gaps: Vec<u64> = sim
        .lookup_times
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs())
        .collect();
    assert_eq!(gaps[..5], [0; 5]);
    assert_eq!(gaps[5..20], [5; 15]);
    assert!(gaps[20..].iter().all(|&gap| gap == 10), "{gaps:?}");
    assert!(gaps.len() > 25);
    let (good, _) = make_tree("n", &nodes, &[]);
    sim.publish("n", &good);
    assert!(sim.next_within(Duration::from_secs(10)).is_some());
}

#[test]
fn dns_errors_are_retried_until_the_tree_appears() {
    let nodes = test_nodes(5);
    let (tree, url) = make_tree("n", &nodes, &[]);
    let mut sim = Sim::new(ClientConfig::default(), &[&url]);
    assert_eq!(sim.run_for(Duration::from_secs(60)), []);
    // Six at once, then one every 5 s: a bounded retry, not a spin.
    assert_eq!(sim.lookups.len(), 6 + 12, "{:?}", sim.lookups);
    assert!(sim.errors.iter().all(|e| matches!(
        e,
        SyncError::Resolve {
            error: ResolveError::NotFound,
            ..
        }
    )));
    // A timeout and garbage are no worse.
    sim.zone.set("n", vec!["v=spf1 -all".into()]);
    assert_eq!(sim.run_for(Duration::from_secs(30)), []);
    assert!(
        sim.errors
            .contains(&SyncError::NoRoot { domain: "n".into() })
    );

    sim.publish("n", &tree);
    sim.advance(Duration::from_secs(10));
    sim.check_iterator(&nodes);
}

#[test]
fn a_tampered_entry_is_rejected_and_not_cached() {
    let nodes = test_nodes(5);
    let (tree, url) = make_tree("n", &nodes, &[]);
    let mut sim = Sim::new(fast(), &[&url]);
    sim.publish("n", &tree);
    // Swap one leaf's record for another valid record: the name no longer matches.
    let victim = Entry::Enr(Box::new(nodes[0].clone())).hash();
    let victim_name = format!("{victim}.n");
    let intruder = Enr::builder().seq(9).build(&test_key(77)).unwrap();
    sim.zone.set(&victim_name, vec![intruder.to_string()]);

    let found: BTreeSet<NodeId> = (0..12).map(|_| sim.next().unwrap().id()).collect();
    assert!(!found.contains(&intruder.id()));
    assert!(!found.contains(&nodes[0].id()));
    assert_eq!(found.len(), 4);
    assert!(sim.errors.contains(&SyncError::HashMismatch {
        name: victim_name.clone()
    }));

    // Repaired, it is found: the bad answer was not cached.
    sim.publish("n", &tree);
    sim.check_iterator(&nodes);
}

/// A tree whose `e=` or `l=` holds a leaf of the other kind, signed properly.
fn misplaced_tree(domain: &str, swap: bool) -> (MemoryResolver, LinkEntry) {
    let enr = Entry::Enr(Box::new(test_nodes(1).remove(0)));
    let link = Entry::Link(LinkEntry::new(test_key(5).public_key(), "other").unwrap());
    let (e, l) = if swap { (&link, &enr) } else { (&enr, &link) };
    let root = RootEntry::sign(e.hash(), l.hash(), 1, &signing_key());
    let zone = MemoryResolver::new();
    zone.set(domain, vec![root.to_string()]);
    for entry in [&enr, &link] {
        zone.set(
            &format!("{}.{domain}", entry.hash()),
            vec![entry.to_string()],
        );
    }
    (
        zone,
        LinkEntry::new(signing_key().public_key(), domain).unwrap(),
    )
}

#[test]
fn enr_in_link_tree_and_link_in_enr_tree_are_refused() {
    let (zone, url) = misplaced_tree("n", true);
    let mut sim = Sim::new(fast(), &[&url]);
    sim.zone = zone.clone();
    assert_eq!(sim.next_within(Duration::from_secs(60)), None);
    let kinds: BTreeSet<String> = sim
        .errors
        .iter()
        .map(|e| match e {
            SyncError::InvalidEntry { error, .. } => error.to_string(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            EntryError::EnrInLinkTree.to_string(),
            EntryError::LinkInEnrTree.to_string()
        ])
    );
    assert_eq!(
        sim.client.trees().count(),
        1,
        "the misplaced link is not followed"
    );
    assert_eq!(sim.client.cached_entries(), 0);
    // Each bad entry is looked up once, then skipped for good (its content cannot change).
    let entry_lookups = sim.lookups.iter().filter(|n| *n != "n").count();
    assert_eq!(entry_lookups, 2);

    let err = download(&zone, &url.to_string()).unwrap_err();
    assert!(matches!(
        err,
        SyncError::InvalidEntry {
            error: EntryError::EnrInLinkTree,
            ..
        }
    ));
}

#[test]
fn entries_listed_twice_are_visited_once() {
    let nodes = test_nodes(2);
    let leaves: Vec<Entry> = nodes
        .iter()
        .map(|n| Entry::Enr(Box::new(n.clone())))
        .collect();
    let hashes: Vec<EntryHash> = leaves.iter().map(Entry::hash).collect();
    let branch = Entry::Branch(BranchEntry {
        children: vec![hashes[0].clone(), hashes[1].clone(), hashes[0].clone()],
    });
    let links = Entry::Branch(BranchEntry::default());
    let root = RootEntry::sign(branch.hash(), links.hash(), 1, &signing_key());
    let url = LinkEntry::new(signing_key().public_key(), "n").unwrap();
    let mut sim = Sim::new(
        ClientConfig {
            cache_limit: 0,
            ..fast()
        },
        &[&url],
    );
    sim.zone.set("n", vec![root.to_string()]);
    for entry in leaves.iter().chain([&branch, &links]) {
        sim.zone
            .set(&format!("{}.n", entry.hash()), vec![entry.to_string()]);
    }
    sim.check_iterator(&nodes);
    assert_eq!(
        sim.lookups.len(),
        5,
        "root, link branch, branch, two leaves: {:?}",
        sim.lookups
    );
}

#[test]
fn unrelated_txt_records_are_skipped() {
    let nodes = test_nodes(3);
    let (tree, url) = make_tree("n", &nodes, &[]);
    let mut sim = Sim::new(fast(), &[&url]);
    for (name, text) in tree.to_txt("n") {
        sim.zone.set(
            &name,
            vec![
                "v=spf1 -all".into(),
                "google-site-verification=x".into(),
                text,
            ],
        );
    }
    sim.check_iterator(&nodes);
    assert!(sim.errors.is_empty(), "{:?}", sim.errors);
}

#[test]
fn the_cache_is_bounded() {
    let nodes = test_nodes(30);
    let (tree, url) = make_tree("n", &nodes, &[]);
    let mut sim = Sim::new(
        ClientConfig {
            cache_limit: 5,
            ..fast()
        },
        &[&url],
    );
    sim.publish("n", &tree);
    sim.check_iterator(&nodes);
    assert_eq!(sim.client.cached_entries(), 5);
}

#[test]
fn the_rate_limit_applies_to_cache_hits_too() {
    let nodes = test_nodes(3);
    let (tree, url) = make_tree("n", &nodes, &[]);
    let mut sim = Sim::new(ClientConfig::default(), &[&url]);
    sim.publish("n", &tree);
    // 3 per second after a burst of 10: the root, the link branch, the node branch and three
    // leaves use 6 of the burst; then the cached tree is walked again, a token per entry.
    for _ in 0..30 {
        sim.next().unwrap();
    }
    let elapsed = (sim.now - sim.start).as_secs_f64();
    // 30 nodes take 30 leaf steps plus a branch step per walk of three: 40 tokens.
    assert!((9.0..11.0).contains(&elapsed), "{elapsed} s");
    assert_eq!(
        sim.lookups.len(),
        6,
        "everything after the first walk came from the cache"
    );
}

#[test]
fn no_tree_is_idle() {
    let mut client = Client::new(ClientConfig::default(), 1);
    assert_eq!(client.poll(Instant::now()), Action::Idle);
    assert_eq!(client.handle_answer(Err(ResolveError::Timeout)), Ok(()));
}
