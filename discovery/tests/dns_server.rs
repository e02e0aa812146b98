//! DNS discovery through a real DNS server: our publisher's trees served by dnsmasq (Debian's
//! `dnsmasq-base`, installed by `scripts/install-dns-tools.sh`) on 127.0.0.1, read back with
//! our client over each real-DNS resolver (`UdpResolver`, and hickory-resolver with the
//! `dns-resolver` feature). A tree of 60 nodes links to a second tree of 5; the client syncs the
//! first whole, walks both through the link, and refuses a tampered entry.

#[path = "support/dnsmasq.rs"]
mod dnsmasq;

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use dnsmasq::Dnsmasq;

use ethp2p_discovery::Enr;
use ethp2p_discovery::dns::driver::{NodeIterator, sync_tree};
use ethp2p_discovery::dns::{
    ClientConfig, LinkEntry, ResolveError, Resolver, SyncError, Tree, UdpResolver,
};
use secp256k1::SecretKey;

const DOMAIN: &str = "nodes.example.org";
const LINKED_DOMAIN: &str = "more.example.org";
/// Bounds the whole walk; the rate limit is lifted, so it takes well under a second.
const DEADLINE: Duration = Duration::from_secs(60);

fn key(i: u64) -> SecretKey {
    let mut bytes = [0u8; 32];
    bytes[24..].copy_from_slice(&(i + 1).to_be_bytes());
    SecretKey::from_secret_bytes(bytes).unwrap()
}

fn node(i: u64) -> Enr {
    let mut builder = Enr::builder();
    builder
        .ip4(Ipv4Addr::new(127, 0, 0, 1))
        .tcp4(30000 + i as u16)
        .udp4(30000 + i as u16);
    builder.build(&key(i)).unwrap()
}

fn unlimited() -> ClientConfig {
    ClientConfig {
        rate_limit: 1e6,
        rate_burst: 1_000_000,
        ..ClientConfig::default()
    }
}

/// The two trees, their records as TXT texts, and the first tree's URL.
fn published() -> (Vec<Enr>, Vec<Enr>, BTreeMap<String, String>, LinkEntry) {
    let linked_nodes: Vec<Enr> = (100..105).map(node).collect();
    let linked = Tree::new(1, &linked_nodes, &[]).unwrap().sign(&key(1001));
    let link = LinkEntry::new(key(1001).public_key(), LINKED_DOMAIN).unwrap();
    let nodes: Vec<Enr> = (0..60).map(node).collect();
    let tree = Tree::new(7, &nodes, &[link]).unwrap().sign(&key(1000));
    let url = tree.url(DOMAIN).unwrap();
    let mut records = tree.to_txt(DOMAIN);
    records.extend(linked.to_txt(LINKED_DOMAIN));
    (nodes, linked_nodes, records, url)
}

fn ids(nodes: &[Enr]) -> HashSet<String> {
    nodes.iter().map(|enr| enr.to_string()).collect()
}

#[tokio::test]
async fn udp_resolver_syncs_follows_links_and_refuses_tampering() {
    sync_follow_and_tamper(|addr| async move { UdpResolver::with_server(addr).await.unwrap() })
        .await;
}

#[cfg(feature = "dns-resolver")]
#[tokio::test]
async fn hickory_resolver_syncs_follows_links_and_refuses_tampering() {
    sync_follow_and_tamper(|addr| async move {
        ethp2p_discovery::dns::HickoryResolver::with_server(addr).unwrap()
    })
    .await;
}

/// An answer too long for a datagram (eight 250-byte TXT records at one name, over the 1232
/// bytes we offer in EDNS): dnsmasq truncates it over UDP, and the resolver asks again over
/// TCP. Also: a name that does not exist, and a server that is not there any more.
#[tokio::test]
async fn udp_resolver_falls_back_to_tcp_and_reports_missing_names_and_servers() {
    let texts: Vec<String> = (0..8)
        .map(|i| format!("enr:{}", char::from(b'a' + i).to_string().repeat(246)))
        .collect();
    let mut conf = String::from("local=/example.org/\n");
    for text in &texts {
        conf.push_str(&format!("txt-record=big.example.org,\"{text}\"\n"));
    }
    let server = Dnsmasq::serve_conf(&conf);
    let resolver = UdpResolver::with_server(server.addr).await.unwrap();
    let mut answer = resolver.lookup_txt("big.example.org").await.unwrap();
    answer.sort();
    assert_eq!(answer, texts);
    assert_eq!(
        resolver.lookup_txt("missing.example.org").await,
        Err(ResolveError::NotFound)
    );
    drop(server);

    // Nobody at the port any more: no records. The kernel's ICMP error usually fails the
    // lookup at once (ServerFailure), but ICMP replies are rate-limited machine-wide and the
    // port may be reused by another test meanwhile, so a lookup that is simply never answered
    // (the driver's timeout) is as correct; what must not happen is an answer.
    match tokio::time::timeout(
        Duration::from_secs(2),
        resolver.lookup_txt("big.example.org"),
    )
    .await
    {
        Ok(Err(ResolveError::ServerFailure)) | Err(_) => {}
        other => panic!("a lookup at a server that is gone: {other:?}"),
    }
}

async fn sync_follow_and_tamper<R, F>(connect: impl Fn(SocketAddr) -> F)
where
    R: Resolver + Clone + Sync,
    F: Future<Output = R>,
{
    let (nodes, linked_nodes, records, url) = published();
    let server = Dnsmasq::serve(&records);
    let resolver = connect(server.addr).await;

    // The whole first tree, as go-ethereum's `devp2p dns sync` reads it.
    let synced = tokio::time::timeout(
        DEADLINE,
        sync_tree(&resolver, &url, &unlimited(), |_, _| {}),
    )
    .await
    .expect("sync in time")
    .expect("sync succeeds");
    assert_eq!(synced.tree().seq(), 7);
    let synced_nodes: Vec<Enr> = synced.tree().nodes().into_iter().cloned().collect();
    assert_eq!(ids(&synced_nodes), ids(&nodes));
    assert_eq!(synced.tree().links().len(), 1);

    // The node iterator walks both trees, following the link.
    let mut iterator =
        NodeIterator::new(resolver.clone(), unlimited(), 7, std::slice::from_ref(&url));
    let mut wanted = ids(&nodes);
    wanted.extend(ids(&linked_nodes));
    let mut seen = HashSet::new();
    tokio::time::timeout(DEADLINE, async {
        while seen.len() < wanted.len() {
            let enr = iterator.next_node().await.expect("trees to walk");
            let text = enr.to_string();
            assert!(wanted.contains(&text), "a node from neither tree: {text}");
            seen.insert(text);
        }
    })
    .await
    .expect("every node of both trees in time");
    drop(server);

    // One ENR entry's text replaced by another valid record: the hash no longer matches.
    let mut tampered = records.clone();
    let (name, text) = tampered
        .iter_mut()
        .find(|(name, text)| name.ends_with(DOMAIN) && text.starts_with("enr:"))
        .expect("an ENR entry");
    *text = node(999).to_string();
    let name = name.clone();
    let server = Dnsmasq::serve(&tampered);
    let resolver = connect(server.addr).await;
    let refused = tokio::time::timeout(
        DEADLINE,
        sync_tree(&resolver, &url, &unlimited(), |_, _| {}),
    )
    .await
    .expect("sync in time");
    assert!(
        matches!(&refused, Err(SyncError::HashMismatch { name: at }) if *at == name),
        "tampered entry {name}: {refused:?}"
    );
}
