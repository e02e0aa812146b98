//! `ethp2p nat probe`, and the `--nat` options of `ethp2p node` (parsed here, mapped by the
//! library's [`ServerConfig::nat`](ethp2p::ServerConfig)).

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use ethp2p::nat::{
    AddressKind, Gateway, LeaseConfig, MapRequest, Mapping, NatEvent, NatMode, PmpGateway,
    Presence, SearchConfig, Transport, UpnpGateway, route,
};
use ethp2p::server::NatConfig;
use ethp2p_discovery::Enode;

use super::json::JsonObject;

/// The `--nat` options of `ethp2p node`.
#[derive(clap::Args)]
pub struct NatArgs {
    /// Port mapping: none, any (UPnP and NAT-PMP, first that works), upnp, pmp,
    /// pmp:GATEWAY_IP, or extip:IP (a known external address, no mapping). The default is
    /// go-ethereum's; a node listening on a loopback address is never mapped.
    #[arg(long, default_value = "any")]
    nat: NatMode,
    /// Lease asked for each mapping, in seconds.
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    nat_lease: u64,
    /// Seconds between refreshes of the mappings (also the check that the router still has
    /// them).
    #[arg(long, default_value_t = 480, value_name = "SECONDS")]
    nat_refresh: u64,
}

impl NatArgs {
    /// The library's NAT option these flags describe (the server does the mapping).
    pub fn config(&self) -> NatConfig {
        NatConfig {
            mode: self.nat,
            lease: LeaseConfig::with_timing(
                Duration::from_secs(self.nat_lease),
                Duration::from_secs(self.nat_refresh),
            ),
        }
    }
}

/// Prints `event`, plus the node's enode (`local`, already updated by the server) when the
/// event gave it a new external endpoint.
pub fn print(event: &NatEvent, local: Enode, json: bool) {
    println!("{}", event_line(event, json));
    if !matches!(
        event,
        NatEvent::Mapped { .. } | NatEvent::ExternalAddressChanged { .. }
    ) {
        return;
    }
    if json {
        let line = JsonObject::default()
            .str("event", "external_enode")
            .str("enode", &local.to_string())
            .finish();
        println!("{line}");
    } else {
        println!("external enode {local}");
    }
}

fn event_line(event: &NatEvent, json: bool) -> String {
    match event {
        NatEvent::Mapped {
            protocol,
            gateway,
            endpoint,
        } => {
            let gateway = gateway.map(|ip| ip.to_string());
            if json {
                JsonObject::default()
                    .str("event", "nat_mapped")
                    .str("protocol", &protocol.to_string())
                    .opt_str("gateway", gateway.as_deref())
                    .str("external_ip", &endpoint.ip.to_string())
                    .opt_str(
                        "tcp_port",
                        endpoint.tcp_port.map(|p| p.to_string()).as_deref(),
                    )
                    .opt_str(
                        "udp_port",
                        endpoint.udp_port.map(|p| p.to_string()).as_deref(),
                    )
                    .finish()
            } else {
                let at = gateway.map(|ip| format!(" at {ip}")).unwrap_or_default();
                format!("nat mapped via {protocol}{at}: {endpoint}")
            }
        }
        NatEvent::ExternalAddressChanged { old, new } => {
            if json {
                JsonObject::default()
                    .str("event", "nat_external_changed")
                    .str("old", &old.to_string())
                    .str("new", &new.to_string())
                    .finish()
            } else {
                format!("nat external endpoint changed: {old} -> {new}")
            }
        }
        NatEvent::RefreshFailed {
            error,
            attempt,
            retry_in,
        } => {
            if json {
                JsonObject::default()
                    .str("event", "nat_refresh_failed")
                    .str("error", &error.to_string())
                    .str("attempt", &attempt.to_string())
                    .str("retry_in_ms", &retry_in.as_millis().to_string())
                    .finish()
            } else {
                format!("nat mapping failed (attempt {attempt}, retry in {retry_in:?}): {error}")
            }
        }
        NatEvent::MappingLost {
            transport,
            external_port,
        } => {
            if json {
                JsonObject::default()
                    .str("event", "nat_mapping_lost")
                    .str("transport", &transport.to_string())
                    .str("external_port", &external_port.to_string())
                    .finish()
            } else {
                format!("nat mapping lost: {transport} {external_port}, re-creating it")
            }
        }
        NatEvent::NoGateway { error } => {
            if json {
                JsonObject::default()
                    .str("event", "nat_no_gateway")
                    .str("error", &error.to_string())
                    .finish()
            } else {
                format!("nat: {error}; carrying on with the local address")
            }
        }
    }
}

/// Options of `ethp2p nat probe`.
#[derive(clap::Args)]
pub struct ProbeArgs {
    /// What to test: any (UPnP and NAT-PMP, each reported), upnp, pmp or pmp:GATEWAY_IP.
    #[arg(long, default_value = "any")]
    nat: NatMode,
    /// The port to map for the test, TCP and UDP (1024 or above). By default a random one in
    /// 40000-49999, so that a node's own mapping from this host is never touched.
    #[arg(long)]
    port: Option<u16>,
    /// The LAN address to map to (default: the one facing the gateway).
    #[arg(long)]
    local_ip: Option<Ipv4Addr>,
}

/// Lease of the test mappings: short, so that an interrupted probe leaves nothing for long.
const PROBE_LEASE: Duration = Duration::from_secs(120);

/// How one protocol fared.
struct Outcome {
    protocol: &'static str,
    gateway: Option<IpAddr>,
    external_ip: Option<IpAddr>,
    failure: Option<String>,
}

pub async fn probe(args: ProbeArgs) -> Result<(), String> {
    if !args.nat.tries_upnp() && !args.nat.tries_pmp() {
        return Err(format!(
            "--nat {} has no gateway to probe (use any, upnp, pmp or pmp:IP)",
            args.nat
        ));
    }
    let port = match args.port {
        Some(port) if port < 1024 => {
            return Err(format!(
                "port {port}: ports below 1024 are never requested from a router"
            ));
        }
        Some(port) => port,
        None => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.subsec_nanos());
            40000 + ((std::process::id() ^ nanos) % 10000) as u16
        }
    };
    let default_gateway = route::default_gateway();
    println!(
        "default gateway:  {}",
        default_gateway.map_or("none (no default route)".to_string(), |ip| ip.to_string())
    );
    println!(
        "test port:        {port} (TCP and UDP, lease {} s)",
        PROBE_LEASE.as_secs()
    );
    let config = SearchConfig {
        local_ip: args.local_ip,
        description: "ethp2p nat probe".to_string(),
        ..SearchConfig::default()
    };
    let mut outcomes = Vec::new();
    if args.nat.tries_upnp() {
        println!("UPnP:");
        let started = Instant::now();
        let outcome = match UpnpGateway::discover(&config).await {
            Ok(mut gateway) => {
                println!(
                    "  found:          {} ({:?})",
                    gateway.describe(),
                    started.elapsed()
                );
                exercise(&mut gateway, "UPnP", port).await
            }
            Err(reason) => {
                println!("  not found:      {reason}");
                Outcome {
                    protocol: "UPnP",
                    gateway: None,
                    external_ip: None,
                    failure: Some(format!("no UPnP gateway ({reason})")),
                }
            }
        };
        outcomes.push(outcome);
    }
    if args.nat.tries_pmp() {
        println!("NAT-PMP:");
        let given = match args.nat {
            NatMode::Pmp(gateway) => gateway,
            _ => None,
        };
        let outcome = match given.or(default_gateway) {
            None => {
                println!("  not tried:      no default route (give the gateway: --nat pmp:IP)");
                Outcome {
                    protocol: "NAT-PMP",
                    gateway: None,
                    external_ip: None,
                    failure: Some("no gateway to ask".into()),
                }
            }
            Some(address) => match PmpGateway::discover(address, config.pmp_tries).await {
                Ok(mut gateway) => {
                    println!("  found:          {}", gateway.describe());
                    exercise(&mut gateway, "NAT-PMP", port).await
                }
                Err(reason) => {
                    println!("  not found:      {reason}");
                    Outcome {
                        protocol: "NAT-PMP",
                        gateway: Some(address.into()),
                        external_ip: None,
                        failure: Some(format!("no NAT-PMP answer ({reason})")),
                    }
                }
            },
        };
        outcomes.push(outcome);
    }

    let working: Vec<&Outcome> = outcomes.iter().filter(|o| o.failure.is_none()).collect();
    match working.first() {
        Some(first) => {
            let names: Vec<&str> = working.iter().map(|o| o.protocol).collect();
            let gateway = first
                .gateway
                .map(|ip| format!(" at {ip}"))
                .unwrap_or_default();
            let external = first
                .external_ip
                .map(|ip| ip.to_string())
                .unwrap_or_default();
            println!(
                "verdict: OK: port mapping works via {}{gateway}; external address {external}",
                names.join(" and ")
            );
            for outcome in outcomes.iter().filter(|o| o.failure.is_some()) {
                println!(
                    "         ({} does not: {})",
                    outcome.protocol,
                    outcome.failure.as_deref().unwrap_or_default()
                );
            }
            if let Some(note) = first.external_ip.and_then(|ip| AddressKind::of(ip).note()) {
                println!("         note: the external address is {note}");
            }
            Ok(())
        }
        None => {
            let reasons: Vec<String> = outcomes
                .iter()
                .map(|o| {
                    format!(
                        "{}: {}",
                        o.protocol,
                        o.failure.as_deref().unwrap_or_default()
                    )
                })
                .collect();
            println!("verdict: FAIL: no working port mapping on this network");
            println!(
                "         the router has UPnP and NAT-PMP disabled, or there is none: forward the \
                 node's port by hand and run it with --nat extip:YOUR_PUBLIC_IP"
            );
            Err(format!("no working port mapping ({})", reasons.join("; ")))
        }
    }
}

/// Keeps the first failure: it is the one that explains the rest.
fn fail(outcome: &mut Outcome, what: String) {
    if outcome.failure.is_none() {
        outcome.failure = Some(what);
    }
}

/// External address, map TCP and UDP, check they are listed, delete them, check they are gone.
async fn exercise<G: Gateway>(gateway: &mut G, protocol: &'static str, port: u16) -> Outcome {
    let mut outcome = Outcome {
        protocol,
        gateway: Some(gateway.address()),
        external_ip: None,
        failure: None,
    };
    match gateway.external_ip().await {
        Ok(ip) => {
            let note = AddressKind::of(ip)
                .note()
                .map(|note| format!(" ({note}; used anyway)"))
                .unwrap_or_default();
            println!("  external IP:    {ip}{note}");
            outcome.external_ip = Some(ip);
        }
        Err(error) => {
            println!("  external IP:    FAILED: {error}");
            fail(&mut outcome, format!("external address: {error}"));
        }
    }
    let mut mapped = Vec::new();
    for transport in [Transport::Tcp, Transport::Udp] {
        let request = MapRequest {
            transport,
            internal_port: port,
            external_port: port,
            lifetime: PROBE_LEASE,
        };
        match gateway.map(request).await {
            Ok(grant) => {
                let other = if grant.external_port != port {
                    " (the router chose it: the asked one is taken)"
                } else {
                    ""
                };
                println!(
                    "  map {transport}:        external port {}{other}, lease {} s",
                    grant.external_port,
                    grant.lifetime.as_secs()
                );
                mapped.push(Mapping {
                    transport,
                    internal_port: port,
                    external_port: grant.external_port,
                });
            }
            Err(error) => {
                println!("  map {transport}:        FAILED: {error}");
                fail(&mut outcome, format!("mapping {transport} {port}: {error}"));
            }
        }
    }
    for &mapping in &mapped {
        let transport = mapping.transport;
        match gateway.check(mapping).await {
            Ok(Presence::Present) => println!("  listed {transport}:     yes"),
            Ok(Presence::Unknown) => println!(
                "  listed {transport}:     yes (the grant is the confirmation; {protocol} cannot list)"
            ),
            Ok(Presence::Absent) => {
                println!(
                    "  listed {transport}:     NO: the router does not list the mapping it granted"
                );
                fail(&mut outcome, format!("{transport} mapping not listed"));
            }
            Err(error) => {
                println!("  listed {transport}:     FAILED: {error}");
                fail(&mut outcome, format!("listing {transport}: {error}"));
            }
        }
    }
    for &mapping in &mapped {
        let transport = mapping.transport;
        match gateway.unmap(mapping).await {
            Ok(()) => match gateway.check(mapping).await {
                Ok(Presence::Present) => {
                    println!("  delete {transport}:     NO: still listed after the delete");
                    fail(
                        &mut outcome,
                        format!("{transport} mapping still listed after delete"),
                    );
                }
                _ => println!("  delete {transport}:     done"),
            },
            Err(error) => {
                println!("  delete {transport}:     FAILED: {error} (it ends with its lease)");
                fail(&mut outcome, format!("deleting {transport}: {error}"));
            }
        }
    }
    match &outcome.failure {
        None => println!("  result:         works"),
        Some(failure) => println!("  result:         does not work: {failure}"),
    }
    outcome
}
