//! The `ethp2p` command line (see `ethp2p --help`): subcommands and their dispatch. It is its own
//! crate so that the library's dependency tree holds none of its crates (clap, tracing-subscriber).

mod demo;
mod devnet;
mod discv4;
mod discv5;
mod dns;
mod enr;
mod json;
mod key;
mod keys;
mod keystore;
mod metrics_http;
mod nat;
mod node;
mod p2p;
mod rlpx_ping;
mod rpc;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "ethp2p",
    version,
    about = "Ethereum devp2p networking: nodes, devnets and probes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Node keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Run a node until SIGINT/SIGTERM. The first line on stdout is its enode URL.
    ///
    /// With --datadir it serves go-ethereum's control API on <datadir>/ethp2p.ipc (and over
    /// HTTP with --http): admin_nodeInfo, admin_peers, admin_addPeer, admin_removePeer,
    /// admin_addTrustedPeer, admin_removeTrustedPeer, admin_subscribe("peerEvents") (socket
    /// only) and rpc_modules. go-ethereum's console works on it:
    /// `geth attach --exec admin.peers <datadir>/ethp2p.ipc`.
    Node(node::NodeArgs),
    /// RLPx tools.
    Rlpx {
        #[command(subcommand)]
        command: RlpxCommand,
    },
    /// N nodes on 127.0.0.1 in one process: forms a network, shows a live table, summarises.
    Devnet(devnet::DevnetArgs),
    /// Node discovery (discv4) tools.
    Discv4 {
        #[command(subcommand)]
        command: discv4::Discv4Command,
    },
    /// DNS node lists (EIP-1459): sync a tree, or build and sign one.
    Dns {
        #[command(subcommand)]
        command: dns::DnsCommand,
    },
    /// Node discovery (discv5) tools, and a standalone discv5 node.
    Discv5 {
        #[command(subcommand)]
        command: discv5::Discv5Command,
    },
    /// Ethereum Node Records.
    Enr {
        #[command(subcommand)]
        command: enr::EnrCommand,
    },
    /// Services over peers, as `ipfs p2p`: expose a local TCP service to peers under a name,
    /// or reach a peer's through a local port (talks to `ethp2p node --datadir DIR`).
    P2p {
        #[command(subcommand)]
        command: p2p::P2pCommand,
    },
    /// Port mapping (UPnP, NAT-PMP) tools.
    Nat {
        #[command(subcommand)]
        command: NatCommand,
    },
}

#[derive(Subcommand)]
enum NatCommand {
    /// Tests the home router: finds it, maps a test port for TCP and UDP, checks it is listed,
    /// deletes it and prints a verdict; exits non-zero when no protocol works.
    Probe(nat::ProbeArgs),
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Write a new go-ethereum compatible nodekey file and print its node id.
    Generate {
        /// Where to write it (never overwritten).
        #[arg(long, default_value = "nodekey")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum RlpxCommand {
    /// Handshake, Hello and one Ping with a node; prints its Hello and the round trip.
    Ping(rlpx_ping::PingArgs),
}

impl Cli {
    /// Runs the chosen subcommand; the error text is printed by `main`.
    async fn run(self) -> Result<(), String> {
        match self.command {
            Command::Key {
                command: KeyCommand::Generate { out },
            } => key::generate(&out),
            Command::Node(args) => node::run(args).await,
            Command::Rlpx {
                command: RlpxCommand::Ping(args),
            } => rlpx_ping::run(args).await,
            Command::Devnet(args) => devnet::run(args).await,
            Command::Nat {
                command: NatCommand::Probe(args),
            } => nat::probe(args).await,
            Command::Discv4 { command } => discv4::run(command).await,
            Command::Discv5 { command } => discv5::run(command).await,
            Command::Dns { command } => dns::run(command).await,
            Command::Enr { command } => enr::run(command),
            Command::P2p { command } => p2p::run(command),
        }
    }

    /// The log level when `RUST_LOG` is not set: quiet for commands with their own output.
    fn default_log_level(&self) -> &'static str {
        match self.command {
            Command::Node(_) => "info",
            _ => "warn",
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(cli.default_log_level()));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match cli.run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
