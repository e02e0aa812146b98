//! `ethp2p dns`: EIP-1459 node trees, with go-ethereum's `devp2p dns` commands and directory
//! layout ([`definition`]), so that trees move between the two tools:
//!
//! - `sync` downloads and verifies a tree from DNS, prints it, and writes it as a definition
//!   directory when given one;
//! - `sign` builds and signs the tree of a definition directory;
//! - `to-txt` prints a signed definition's TXT records (go-ethereum's JSON, or a zone file).

mod definition;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ethp2p_discovery::dns::driver::sync_tree;
use ethp2p_discovery::dns::{
    ClientConfig, HickoryResolver, LinkEntry, SignedTree, Tree, ZoneOptions, parse_signature_text,
};
use secp256k1::SecretKey;

use definition::{TreeDefinition, TreeInfo};

/// Subcommands of `ethp2p dns`.
#[derive(clap::Subcommand)]
pub enum DnsCommand {
    /// Downloads the tree at an `enrtree://KEY@domain` URL, verifying the root signature and
    /// every entry's hash; prints its seq, links and records (one per line), and writes it to
    /// DIR as `enrtree-info.json` and `nodes.json` when DIR is given.
    Sync {
        /// The tree's URL.
        url: LinkEntry,
        /// A directory to write the tree to, in go-ethereum's layout.
        dir: Option<PathBuf>,
        /// The DNS server to ask (ip:port); the system's resolver by default.
        #[arg(long, alias = "dns.server")]
        server: Option<SocketAddr>,
        /// Seconds to wait for each lookup.
        #[arg(long, default_value_t = 5)]
        timeout: u64,
    },
    /// Builds and signs the tree of a definition directory (`nodes.json`, and
    /// `enrtree-info.json` for links and the last seq), writing url, seq and signature to
    /// `enrtree-info.json`, as go-ethereum's `devp2p dns sign`.
    Sign {
        /// The definition directory.
        dir: PathBuf,
        /// The signing key: a go-ethereum keystore JSON file (its password is read from
        /// standard input) or a nodekey file (64 hex characters).
        key_file: PathBuf,
        /// The domain the tree is published at; default: the domain of the url already in
        /// `enrtree-info.json`, else the directory's name.
        #[arg(long)]
        domain: Option<String>,
        /// The new sequence number; default: the last one plus 1.
        #[arg(long)]
        seq: Option<u64>,
    },
    /// Prints the TXT records of a signed definition directory as go-ethereum's `devp2p dns
    /// to-txt` JSON (name to text), or as a zone file a DNS server loads.
    ToTxt {
        /// The definition directory (signed with `dns sign`).
        dir: PathBuf,
        /// Where to write; `-` (the default) is standard output.
        #[arg(default_value = "-")]
        out: PathBuf,
        /// Write an RFC 1035 zone file instead of JSON.
        #[arg(long)]
        zone: bool,
    },
}

/// The resolver for `--server` / `--discovery.dns.server`: that server, or the system's.
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
            dir,
            server,
            timeout,
        } => sync(url, dir, server, timeout).await,
        DnsCommand::Sign {
            dir,
            key_file,
            domain,
            seq,
        } => sign(&dir, &key_file, domain, seq),
        DnsCommand::ToTxt { dir, out, zone } => to_txt(&dir, &out, zone),
    }
}

async fn sync(
    url: LinkEntry,
    dir: Option<PathBuf>,
    server: Option<SocketAddr>,
    timeout: u64,
) -> Result<(), String> {
    let resolver = resolver(server)?;
    let config = ClientConfig {
        timeout: Duration::from_secs(timeout),
        ..ClientConfig::default()
    };
    // Progress on a terminal only: a log or a pipe gets the result alone.
    let terminal = std::io::stderr().is_terminal();
    let tree = sync_tree(&resolver, &url, &config, |done, missing| {
        if terminal {
            eprint!("\r{done} entries, {missing} to go ");
        }
    })
    .await
    .map_err(|e| e.to_string())?;
    if terminal {
        eprintln!();
    }
    println!("seq {}", tree.tree().seq());
    for link in tree.tree().links() {
        println!("{link}");
    }
    for record in tree.tree().nodes() {
        println!("{record}");
    }
    if let Some(dir) = dir {
        let mut definition = TreeDefinition {
            info: TreeInfo {
                url: url.to_string(),
                seq: tree.tree().seq(),
                signature: tree.root().signature_text(),
                links: tree.tree().links().iter().map(|l| l.to_string()).collect(),
                ..TreeInfo::default()
            },
            nodes: tree.tree().nodes().into_iter().cloned().collect(),
        };
        definition.save_info(&dir)?;
        definition.save_nodes(&dir)?;
    }
    Ok(())
}

fn sign(
    dir: &Path,
    key_file: &Path,
    domain: Option<String>,
    seq: Option<u64>,
) -> Result<(), String> {
    let mut definition = TreeDefinition::load(dir)?;
    // go-ethereum's order: --domain, else the signed url's domain, else the directory's name.
    let domain = match domain {
        Some(domain) => domain,
        None if !definition.info.url.is_empty() => {
            let url: LinkEntry = definition
                .info
                .url
                .parse()
                .map_err(|e| format!("invalid 'url' field: {e}"))?;
            url.domain
        }
        None => directory_name(dir)?,
    };
    let seq = seq.unwrap_or(definition.info.seq + 1);
    let key = signing_key(key_file)?;
    let tree = Tree::new(seq, &definition.nodes, &definition.links())
        .map_err(|e| e.to_string())?
        .sign(&key);
    let url = tree.url(&domain).map_err(|e| e.to_string())?;
    definition.info.url = url.to_string();
    definition.info.seq = seq;
    definition.info.signature = tree.root().signature_text();
    definition.save_info(dir)?;
    eprintln!("{url}");
    Ok(())
}

fn to_txt(dir: &Path, out: &Path, zone: bool) -> Result<(), String> {
    let (domain, tree) = load_signed(dir)?;
    let mut text = if zone {
        tree.to_zone_file(&domain, &ZoneOptions::default())
    } else {
        tree.to_txt_json(&domain)
    };
    if out == Path::new("-") {
        if !text.ends_with('\n') {
            text.push('\n');
        }
        print!("{text}");
        Ok(())
    } else {
        std::fs::write(out, text).map_err(|e| format!("cannot write {}: {e}", out.display()))
    }
}

/// The tree of a signed definition directory, its signature checked against its url's key
/// (go-ethereum `loadTreeDefinitionForExport`).
fn load_signed(dir: &Path) -> Result<(String, SignedTree), String> {
    let definition = TreeDefinition::load(dir)?;
    let info = &definition.info;
    if info.url.is_empty() {
        return Err(format!(
            "missing 'url' in {}/enrtree-info.json, run 'ethp2p dns sign' first",
            dir.display()
        ));
    }
    let url: LinkEntry = info
        .url
        .parse()
        .map_err(|e| format!("invalid 'url' field: {e}"))?;
    if info.signature.is_empty() {
        return Err("missing signature, run 'ethp2p dns sign' first".into());
    }
    let invalid = |_| "invalid signature on tree, run 'ethp2p dns sign' to update it".to_string();
    let signature = parse_signature_text(&info.signature).map_err(invalid)?;
    let tree = Tree::new(info.seq, &definition.nodes, &definition.links())
        .map_err(|e| e.to_string())?
        .with_signature(&url.public_key, signature)
        .map_err(invalid)?;
    Ok((url.domain, tree))
}

/// The last component of `dir`, made absolute first (so `.` names the working directory).
fn directory_name(dir: &Path) -> Result<String, String> {
    let absolute = std::path::absolute(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    absolute
        .file_name()
        .and_then(|name| name.to_str())
        .map(str::to_owned)
        .ok_or_else(|| format!("cannot take a domain from {}: use --domain", dir.display()))
}

/// A nodekey file, or a keystore file whose password is read from standard input.
fn signing_key(path: &Path) -> Result<SecretKey, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("failed to read the key file at {}: {e}", path.display()))?;
    if !text.trim_start().starts_with('{') {
        return super::keys::parse_key(text.trim()).map_err(|e| format!("{}: {e}", path.display()));
    }
    let password = super::keystore::read_password(&format!(
        "Please enter the password for '{}': ",
        path.display()
    ))?;
    super::keystore::decrypt(&text, &password).map_err(|e| format!("{}: {e}", path.display()))
}
