//! DNS discovery benchmark: how fast the sans-IO client takes in a 10,000-record tree, printed
//! beside the bound its verification work sets, measured in the same run.
//!
//! # The bound
//!
//! Every record entry that arrives must be hashed (Keccak-256 of its text, checked against its
//! name) and decoded with its secp256k1 signature verified (`Enr` text parsing). Those two are
//! timed in a tight loop over the tree's own record texts:
//!
//! ```text
//! bound = 1 / (t_keccak(entry) + t_parse_and_verify(enr))  records per second
//! ratio = synced / bound
//! ```
//!
//! Target: ratio >= 0.5 (issue 9). The load is the same tree, in an in-memory zone
//! ([`MemoryResolver`]), with the rate limit lifted: this measures the client's own cost
//! (verification, branch handling, bookkeeping, the cache), not a DNS server's. The real-DNS
//! benchmark (a local server) is the resolver adapter's, not this one's.
//!
//! Three loads: [`TreeSync`] (the whole tree, `dns sync`) and [`Client`] (the iterator, until it
//! has handed out every record once) on the in-memory zone, and the whole tree again from
//! dnsmasq on 127.0.0.1 through hickory-resolver (when dnsmasq is installed; `scripts/test.sh`
//! installs it): one lookup at a time, as the client works, so that figure is mostly loopback
//! round trips, and its CPU figure counts this process only, not dnsmasq. Rates are wall-clock; "per CPU-second" divides by this
//! thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), steadier on a shared machine.
//!
//! # Running
//!
//! `cargo bench -p ethp2p-discovery --bench dns`. Without `--bench` (as `cargo test --benches`
//! runs it), a 300-record smoke run.

mod support;

#[path = "../tests/support/dnsmasq.rs"]
mod dnsmasq;
#[path = "../tests/support/nsd.rs"]
mod nsd;

use std::collections::HashSet;
use std::hint::black_box;
use std::time::Instant;

use ethp2p_discovery::Enr;
use ethp2p_discovery::dns::driver::sync_tree;
use ethp2p_discovery::dns::{
    Action, Client, ClientConfig, EntryHash, LinkEntry, MemoryResolver, Resolver, SignedTree,
    SyncStep, Tree, TreeSync, UdpResolver, ZoneOptions,
};
use secp256k1::SecretKey;

/// Wall and CPU seconds of `f`.
fn timed(f: impl FnOnce()) -> (f64, f64) {
    let clock = support::CpuClock::this_thread();
    let (wall, cpu) = (Instant::now(), clock.now());
    f();
    (
        wall.elapsed().as_secs_f64(),
        (clock.now() - cpu).as_secs_f64(),
    )
}

fn unlimited() -> ClientConfig {
    ClientConfig {
        rate_limit: 1e12,
        rate_burst: 1_000_000,
        ..ClientConfig::default()
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let records = if full { 10_000 } else { 300 };
    let rounds = if full { 3 } else { 1 };

    let signer = SecretKey::from_secret_bytes([0x42; 32]).unwrap();
    let nodes: Vec<Enr> = (0..records as u64)
        .map(|i| {
            let mut key = [0u8; 32];
            key[..8].copy_from_slice(&(i + 1).to_be_bytes());
            key[31] = 1;
            let key = SecretKey::from_secret_bytes(key).unwrap();
            Enr::builder()
                .ip4([10, 0, (i >> 8) as u8, i as u8].into())
                .tcp4(30303)
                .udp4(30303)
                .build(&key)
                .unwrap()
        })
        .collect();
    let tree = Tree::new(1, &nodes, &[]).unwrap().sign(&signer);
    let domain = "bench.example.org";
    let url = tree.url(domain).unwrap();
    let zone = MemoryResolver::new();
    let txt = tree.to_txt(domain);
    let entries = txt.len();
    zone.insert_all(txt);
    let texts: Vec<String> = nodes.iter().map(Enr::to_string).collect();
    println!("tree: {records} records, {entries} TXT records");

    for round in 1..=rounds {
        // The bound: hash check and record parse of every record text.
        let (bound_wall, bound_cpu) = timed(|| {
            for text in &texts {
                black_box(EntryHash::of(text));
                black_box(text.parse::<Enr>().unwrap());
            }
        });

        let mut lookups = 0usize;
        let (sync_wall, sync_cpu) = timed(|| {
            let mut sync = TreeSync::new(url.clone(), &unlimited());
            let now = Instant::now();
            loop {
                match sync.poll(now) {
                    SyncStep::Done => break,
                    SyncStep::Sleep(_) => panic!("rate limit not lifted"),
                    SyncStep::Resolve(name) => {
                        lookups += 1;
                        let answer = zone.lookup(&name);
                        sync.handle_answer(&name, answer).unwrap();
                    }
                    SyncStep::Wait => panic!("in-memory answers are given at once"),
                }
            }
            assert_eq!(sync.finish().unwrap().tree().nodes().len(), records);
        });
        assert_eq!(lookups, entries);

        let (iter_wall, iter_cpu) = timed(|| {
            let mut client = Client::new(unlimited(), round);
            client.add_tree(&url);
            let now = Instant::now();
            let mut seen = HashSet::new();
            while seen.len() < records {
                match client.poll(now) {
                    Action::Node(node) => {
                        seen.insert(node.id());
                    }
                    Action::Resolve(name) => client.handle_answer(zone.lookup(&name)).unwrap(),
                    other => panic!("unexpected {other:?}"),
                }
            }
        });

        let rate = |seconds: f64| records as f64 / seconds;
        for (source, (wall, cpu)) in served_sync(&tree, domain, records) {
            println!(
                "round {round}: from {source}: {:.0}/s ({:.0}/CPU-s), ratio \
                 {:.2} (CPU {:.2})",
                rate(wall),
                rate(cpu),
                bound_wall / wall,
                bound_cpu / cpu
            );
        }
        println!(
            "round {round}: bound {:.0}/s ({:.0}/CPU-s) | sync {:.0}/s ({:.0}/CPU-s), ratio {:.2} \
             (CPU {:.2}) | iterator {:.0}/s ({:.0}/CPU-s), ratio {:.2} (CPU {:.2})",
            rate(bound_wall),
            rate(bound_cpu),
            rate(sync_wall),
            rate(sync_cpu),
            bound_wall / sync_wall,
            bound_cpu / sync_cpu,
            rate(iter_wall),
            rate(iter_cpu),
            bound_wall / iter_wall,
            bound_cpu / iter_cpu,
        );
    }
}

/// Wall and CPU seconds of a whole-tree sync from a local server, by server and resolver:
/// nsd and dnsmasq, each through [`UdpResolver`] and (with the `dns-resolver` feature)
/// hickory-resolver. A server that is not installed is skipped with a line saying so.
fn served_sync(tree: &SignedTree, domain: &str, records: usize) -> Vec<(String, (f64, f64))> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = tree.url(domain).unwrap();
    let mut servers = Vec::new();
    if nsd::nsd_binary().exists() {
        let zone = tree.to_zone_file(domain, &ZoneOptions::default());
        servers.push(("nsd", Server::Nsd(nsd::Nsd::serve(domain, &zone))));
    } else {
        println!("nsd: skipped, not installed (scripts/install-dns-tools.sh)");
    }
    if dnsmasq::dnsmasq_binary().exists() {
        let dnsmasq = dnsmasq::Dnsmasq::serve(&tree.to_txt(domain));
        servers.push(("dnsmasq", Server::Dnsmasq(dnsmasq)));
    } else {
        println!("dnsmasq: skipped, not installed (scripts/install-dns-tools.sh)");
    }
    let mut figures = Vec::new();
    for (name, server) in &servers {
        let addr = server.addr();
        let udp = runtime.block_on(UdpResolver::with_server(addr)).unwrap();
        let label = format!("{name} through UdpResolver");
        let times = timed_sync(&runtime, &udp, &url, records, &label);
        figures.push((label, times));
        #[cfg(feature = "dns-resolver")]
        {
            let hickory = ethp2p_discovery::dns::HickoryResolver::with_server(addr).unwrap();
            let label = format!("{name} through hickory");
            let times = timed_sync(&runtime, &hickory, &url, records, &label);
            figures.push((label, times));
        }
    }
    figures
}

/// A running local DNS server.
enum Server {
    Nsd(nsd::Nsd),
    Dnsmasq(dnsmasq::Dnsmasq),
}

impl Server {
    fn addr(&self) -> std::net::SocketAddr {
        match self {
            Server::Nsd(server) => server.addr,
            Server::Dnsmasq(server) => server.addr,
        }
    }
}

fn timed_sync(
    runtime: &tokio::runtime::Runtime,
    resolver: &(impl Resolver + Sync),
    url: &LinkEntry,
    records: usize,
    label: &str,
) -> (f64, f64) {
    timed(|| {
        let synced = runtime
            .block_on(sync_tree(resolver, url, &unlimited(), |_, _| {}))
            .unwrap_or_else(|e| panic!("sync from {label}: {e}"));
        assert_eq!(synced.tree().nodes().len(), records);
    })
}
