//! `ethp2p enr decode`.

use ethp2p_discovery::Enr;

/// Subcommands of `ethp2p enr`.
#[derive(clap::Subcommand)]
pub enum EnrCommand {
    /// Decodes and verifies an `enr:` record and prints its fields.
    Decode {
        /// The record (`enr:...`).
        enr: String,
    },
}

pub fn run(command: EnrCommand) -> Result<(), String> {
    match command {
        EnrCommand::Decode { enr } => {
            let enr: Enr = enr.parse().map_err(|e| format!("invalid record: {e}"))?;
            print_enr(&enr);
            Ok(())
        }
    }
}

/// Prints a verified record's fields, one per line.
pub fn print_enr(enr: &Enr) {
    println!("{enr}");
    println!("node id:   {}", enr.id());
    println!("public key {}", enr.peer_id());
    println!("seq:       {}", enr.seq());
    let fields = [
        ("ip", enr.ip4().map(|ip| ip.to_string())),
        ("tcp", enr.tcp4().map(|p| p.to_string())),
        ("udp", enr.udp4().map(|p| p.to_string())),
        ("ip6", enr.ip6().map(|ip| ip.to_string())),
        ("tcp6", enr.tcp6().map(|p| p.to_string())),
        ("udp6", enr.udp6().map(|p| p.to_string())),
    ];
    for (key, value) in fields {
        if let Some(value) = value {
            println!("{key:<10} {value}");
        }
    }
    match enr.eth_fork_id() {
        Some(Ok(fork_id)) => println!("eth        fork id {fork_id}"),
        Some(Err(error)) => println!("eth        {error}"),
        None => {}
    }
    for (key, value) in enr.iter() {
        let known = [
            "id",
            "secp256k1",
            "ip",
            "tcp",
            "udp",
            "ip6",
            "tcp6",
            "udp6",
            "eth",
        ];
        let key_text = String::from_utf8_lossy(key);
        if !known.contains(&key_text.as_ref()) {
            println!("{key_text:<10} (raw RLP) {}", hex::encode(value));
        }
    }
    if let Some(enode) = enr.to_enode() {
        println!("enode:     {enode}");
    }
}
