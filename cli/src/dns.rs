//! `ethp2p dns`: EIP-1459 node trees. `sync` downloads and verifies a tree from DNS (as
//! go-ethereum's `devp2p dns sync`), `to-txt` builds and signs a tree from a list of records and
//! prints its TXT records (as go-ethereum's `dns sign` followed by `dns to-txt`, in one step).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ethp2p_discovery::Enr;
use ethp2p_discovery::dns::driver::sync_tree;
use ethp2p_discovery::dns::{ClientConfig, HickoryResolver, LinkEntry, Tree, ZoneOptions};

/// Subcommands of `ethp2p dns`.
#[derive(clap::Subcommand)]
pub enum DnsCommand {
    /// Downloads the tree at an `enrtree://KEY@domain` URL, verifying the root signature and
    /// every entry's hash; prints its seq, links and records (one per line).
    Sync {
        /// The tree's URL.
        url: LinkEntry,
        /// The DNS server to ask (ip:port); the system's resolver by default.
        #[arg(long = "dns.server")]
        server: Option<SocketAddr>,
        /// Seconds to wait for each lookup.
        #[arg(long, default_value_t = 5)]
        timeout: u64,
    },
    /// Builds a tree of the records in a file (one `enr:` per line) and prints its TXT records
    /// as go-ethereum's `devp2p dns to-txt` JSON (or a zone file), signed with a nodekey file.
    ToTxt {
        /// File with one node record (`enr:...`) per line.
        records: PathBuf,
        /// The signing key (a go-ethereum nodekey file: 64 hex characters).
        #[arg(long)]
        key: PathBuf,
        /// The domain the tree is published at.
        #[arg(long)]
        domain: String,
        /// The root's sequence number (raise it with every change).
        #[arg(long, default_value_t = 1)]
        seq: u64,
        /// Trees to link to (enrtree:// URLs, comma separated).
        #[arg(long, value_delimiter = ',')]
        links: Vec<LinkEntry>,
        /// Print an RFC 1035 zone file instead of JSON.
        #[arg(long)]
        zone: bool,
    },
}

/// The resolver for `--dns.server` / `--discovery.dns.server`: that server, or the system's.
pub fn resolver(server: Option<SocketAddr>) -> Result<HickoryResolver, String> {
    match server {
        Some(addr) => HickoryResolver::with_server(addr),
        None => HickoryResolver::system(),
    }
    .map_err(|e| format!("DNS resolver: {e}"))
}

pub async fn run(command: DnsCommand) -> Result<(), String> {
    match command {
        DnsCommand::Sync {
            url,
            server,
            timeout,
        } => {
            let resolver = resolver(server)?;
            let config = ClientConfig {
                timeout: Duration::from_secs(timeout),
                ..ClientConfig::default()
            };
            let tree = sync_tree(&resolver, &url, &config, |_, _| {})
                .await
                .map_err(|e| e.to_string())?;
            println!("seq {}", tree.tree().seq());
            for link in tree.tree().links() {
                println!("{link}");
            }
            for record in tree.tree().nodes() {
                println!("{record}");
            }
            Ok(())
        }
        DnsCommand::ToTxt {
            records,
            key,
            domain,
            seq,
            links,
            zone,
        } => {
            let key = super::keys::load(&key)?;
            let text = std::fs::read_to_string(&records)
                .map_err(|e| format!("cannot read {}: {e}", records.display()))?;
            let nodes = text
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(|line| line.parse::<Enr>().map_err(|e| format!("{line}: {e}")))
                .collect::<Result<Vec<_>, _>>()?;
            let tree = Tree::new(seq, &nodes, &links)
                .map_err(|e| e.to_string())?
                .sign(&key);
            let url = tree.url(&domain).map_err(|e| e.to_string())?;
            eprintln!("{url}");
            if zone {
                print!("{}", tree.to_zone_file(&domain, &ZoneOptions::default()));
            } else {
                println!("{}", tree.to_txt_json(&domain));
            }
            Ok(())
        }
    }
}
