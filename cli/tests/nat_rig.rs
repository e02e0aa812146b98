//! Port mapping against a real router daemon: miniupnpd with nftables NAT in network namespaces
//! this test creates (scripts/nat-rig/, facts in the project's NAT-RIG notes). Our node runs in
//! the LAN namespace with `--nat`; a second ethp2p in the WAN namespace dials the enode it
//! advertises (external IP and mapped port) and completes an RLPx handshake.
//!
//! Needs root and network namespaces. Without them each test prints "SKIPPED: ..." and returns
//! (reported as skipped, not passed); under CI (env CI set) it fails instead.

#[path = "nat_rig/mod.rs"]
mod rig;

use std::time::Instant;

use rig::{LAN_IP, LAN2_IP, Proc, ROUTER_WAN_IP, Rig, RouterConfig, rig_available};

const BOTH: RouterConfig = RouterConfig {
    upnp: true,
    pmp: true,
    igd_v1: false,
};
const UPNP_ONLY: RouterConfig = RouterConfig {
    upnp: true,
    pmp: false,
    igd_v1: false,
};
const PMP_ONLY: RouterConfig = RouterConfig {
    upnp: false,
    pmp: true,
    igd_v1: false,
};
const NEITHER: RouterConfig = RouterConfig {
    upnp: false,
    pmp: false,
    igd_v1: false,
};
/// UPnP only, describing itself as an IGDv1 (WANIPConnection:1, no AddAnyPortMapping).
const IGD_V1: RouterConfig = RouterConfig {
    upnp: true,
    pmp: false,
    igd_v1: true,
};

/// Passed as the mode to [`start_node`]: leave `--nat` out and get the node's default.
const DEFAULT_NAT: &str = "(default)";

/// The value of `"key":"value"` in a JSON event line.
fn field(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!("\"{key}\":\""))? + key.len() + 4;
    let end = start + line[start..].find('"')?;
    Some(line[start..end].to_string())
}

fn is_event(line: &str, event: &str) -> bool {
    field(line, "event").as_deref() == Some(event)
}

/// `ethp2p node --nat MODE` in the LAN namespace, short leases so refreshes happen in the test.
/// `ethp2p node` in the LAN namespace with `--nat mode` (`DEFAULT_NAT`: no `--nat` flag).
fn start_node(rig: &Rig, mode: &str, refresh_secs: u32) -> Proc {
    let refresh = refresh_secs.to_string();
    let mut args = vec![
        "node",
        "--json",
        "--addr",
        "0.0.0.0:30303",
        // miniupnpd's min_lifetime in the rig.
        "--nat-lease",
        "60",
        "--nat-refresh",
        &refresh,
    ];
    if mode != DEFAULT_NAT {
        args.extend(["--nat", mode]);
    }
    let node = Proc::spawn(&format!("node (--nat {mode})"), rig.ethp2p("lan", &args));
    node.wait_out(0, "the node's enode", |line| line.starts_with("enode://"));
    node
}

/// Waits for the next `nat_mapped` event from line `from` on and the external enode after it.
fn wait_mapped(node: &Proc, from: usize, protocol: &str) -> (usize, String) {
    let (at, mapped) = node.wait_out(from, "nat_mapped", |line| is_event(line, "nat_mapped"));
    assert_eq!(
        field(&mapped, "protocol").as_deref(),
        Some(protocol),
        "{mapped}"
    );
    assert_eq!(
        field(&mapped, "external_ip").as_deref(),
        Some(ROUTER_WAN_IP),
        "{mapped}"
    );
    let (at, line) = node.wait_out(at, "external_enode", |line| {
        is_event(line, "external_enode")
    });
    let enode = field(&line, "enode").unwrap();
    assert!(
        enode.contains(&format!("@{ROUTER_WAN_IP}:")),
        "advertised enode has the router's external address: {enode}"
    );
    (at + 1, enode)
}

/// The TCP port of an enode URL.
fn tcp_port(enode: &str) -> u16 {
    let after = enode.rsplit('@').next().unwrap();
    let port = after.rsplit(':').next().unwrap();
    port.split('?').next().unwrap().parse().unwrap()
}

/// The UDP (discovery) port of an enode URL: `discport`, else the TCP port.
fn udp_port(enode: &str) -> u16 {
    match enode.split_once("?discport=") {
        Some((_, port)) => port.parse().unwrap(),
        None => tcp_port(enode),
    }
}

/// From a new WAN address: RLPx handshake, Hello and a Ping with the node at `enode`.
fn wan_dial(rig: &mut Rig, enode: &str) {
    let source = rig.fresh_wan_source();
    let started = Instant::now();
    let (ok, output) = rig.run(
        "wan",
        rig::ethp2p_bin(),
        &["rlpx", "ping", "--caps", "demo/1", "--timeout", "10", enode],
    );
    assert!(
        ok && output.contains("ping round trip"),
        "WAN node at {source} could not reach {enode}:\n{output}"
    );
    eprintln!(
        "WAN {source} -> {enode}: RLPx handshake + ping in {:?}",
        started.elapsed()
    );
}

/// A discv4 PING from the WAN to the mapped UDP port is answered.
fn wan_discv4_ping(rig: &mut Rig, enode: &str) {
    let source = rig.fresh_wan_source();
    let (ok, output) = rig.run(
        "wan",
        rig::ethp2p_bin(),
        &["discv4", "ping", "--timeout", "10", enode],
    );
    assert!(
        ok,
        "discv4 PING from {source} to the mapped UDP port of {enode} got no answer:\n{output}"
    );
    // The node's ENR, fetched through the mapping, carries the external endpoint too.
    let (ok, output) = rig.run(
        "wan",
        rig::ethp2p_bin(),
        &["discv4", "resolve", "--timeout", "10", enode],
    );
    assert!(
        ok,
        "ENR request through the mapping of {enode} failed:\n{output}"
    );
    assert!(
        output.contains(&format!("enode:     {enode}")),
        "the ENR does not advertise the external endpoint {enode}:\n{output}"
    );
}

/// SIGTERM, a clean exit, and the router lists no mapping to the node's host afterwards.
fn shutdown_and_check_clean(rig: &Rig, mut node: Proc) {
    let status = node.terminate();
    assert!(status.success(), "node exit: {status}\n{}", node.dump());
    let ours = rig.forwards_to(&format!("{LAN_IP}:30303"));
    assert!(
        ours.is_empty(),
        "mappings left on the router after a graceful shutdown: {ours:?}\n{}",
        rig.rules()
    );
}

/// Checks the router forwards exactly the ports the enode advertises to the node.
fn assert_forwarded(rig: &Rig, enode: &str) {
    let mut forwards = rig.forwards_to(&format!("{LAN_IP}:30303"));
    forwards.sort();
    assert_eq!(
        forwards,
        vec![
            ("tcp".to_string(), tcp_port(enode)),
            ("udp".to_string(), udp_port(enode))
        ],
        "router rules:\n{}",
        rig.rules()
    );
}

/// Runs `scenario` when the rig can be built here (see [`rig_available`]) and prints how long it
/// took.
fn rig_test(name: &str, scenario: impl FnOnce()) {
    if !rig_available(name) {
        return;
    }
    let started = Instant::now();
    scenario();
    eprintln!("nat_rig::{name}: {:?}", started.elapsed());
}

/// The node maps its ports as asked (30303 for both) with `mode`; the WAN reaches the advertised
/// enode over RLPx and discv4, and nothing is left mapped after shutdown.
fn maps_and_is_reachable(router: RouterConfig, mode: &str, protocol: &str) {
    let mut rig = Rig::new(router);
    let node = start_node(&rig, mode, 480);
    let (_, enode) = wait_mapped(&node, 0, protocol);
    assert_eq!(tcp_port(&enode), 30303);
    assert_forwarded(&rig, &enode);
    wan_dial(&mut rig, &enode);
    wan_discv4_ping(&mut rig, &enode);
    shutdown_and_check_clean(&rig, node);
}

#[test]
fn upnp_maps_and_a_wan_node_dials_the_advertised_enode() {
    rig_test(
        "upnp_maps_and_a_wan_node_dials_the_advertised_enode",
        || maps_and_is_reachable(BOTH, "upnp", "UPnP"),
    );
}

#[test]
fn pmp_maps_with_upnp_disabled() {
    rig_test("pmp_maps_with_upnp_disabled", || {
        maps_and_is_reachable(PMP_ONLY, "pmp", "NAT-PMP")
    });
}

#[test]
fn any_works_with_either_protocol() {
    rig_test("any_works_with_either_protocol", || {
        let mut rig = Rig::new(UPNP_ONLY);
        // `any` is also the default.
        for (config, protocol, mode) in [
            (UPNP_ONLY, "UPnP", "any"),
            (PMP_ONLY, "NAT-PMP", DEFAULT_NAT),
        ] {
            rig.configure(config);
            let node = start_node(&rig, mode, 480);
            let (_, enode) = wait_mapped(&node, 0, protocol);
            assert_forwarded(&rig, &enode);
            wan_dial(&mut rig, &enode);
            shutdown_and_check_clean(&rig, node);
        }
    });
}

/// The router reboots (daemon restarted, NAT rules and leases gone): the node notices (at its
/// next refresh, 2 s here, or from the router's announcement, whichever comes first), re-maps,
/// and the WAN node can dial it again.
fn reboot_scenario(mode: &str, protocol: &str) {
    let mut rig = Rig::new(BOTH);
    let node = start_node(&rig, mode, 2);
    let (after, enode) = wait_mapped(&node, 0, protocol);
    wan_dial(&mut rig, &enode);
    // A router is up a while before it reboots. NAT-PMP needs that: a restart shows only as an
    // epoch (the gateway's uptime) lower than expected, with 2 s of tolerance (RFC 6886 3.6),
    // so a router rebooted within seconds of its start cannot be told from one that was not.
    rig.wait_router_uptime(6);
    rig.reboot();
    let rebooted = Instant::now();
    let (at, lost) = node.wait_out(after, "nat_mapping_lost", |line| {
        is_event(line, "nat_mapping_lost")
    });
    assert!(lost.contains("30303"), "{lost}");
    let (_, enode_again) = wait_mapped(&node, at, protocol);
    eprintln!(
        "{protocol}: re-mapped {:?} after the reboot (refresh every 2 s)",
        rebooted.elapsed()
    );
    assert_eq!(
        enode_again, enode,
        "same port granted again after the reboot"
    );
    assert_forwarded(&rig, &enode);
    wan_dial(&mut rig, &enode_again);
    shutdown_and_check_clean(&rig, node);
}

#[test]
fn router_reboot_is_noticed_and_remapped_upnp() {
    rig_test("router_reboot_is_noticed_and_remapped_upnp", || {
        reboot_scenario("upnp", "UPnP")
    });
}

#[test]
fn router_reboot_is_noticed_and_remapped_pmp() {
    rig_test("router_reboot_is_noticed_and_remapped_pmp", || {
        reboot_scenario("pmp", "NAT-PMP")
    });
}

/// The router reboots while the node's next refresh is 8 minutes away: the announcement the
/// router multicasts when it starts (SSDP NOTIFY for UPnP, PCP ANNOUNCE for NAT-PMP) makes the
/// node re-map at once; the test's 30 s deadline is far shorter than the refresh interval.
fn announced_reboot_scenario(router: RouterConfig, mode: &str, protocol: &str) {
    let mut rig = Rig::new(router);
    let node = start_node(&rig, mode, 480);
    let (after, enode) = wait_mapped(&node, 0, protocol);
    if router.pmp {
        // See reboot_scenario.
        rig.wait_router_uptime(6);
    }
    rig.reboot();
    let rebooted = Instant::now();
    node.wait_err(0, "the node acting on the announcement", |line| {
        line.contains("the gateway announced a restart")
    });
    let (at, _) = node.wait_out(after, "nat_mapping_lost", |line| {
        is_event(line, "nat_mapping_lost")
    });
    let (_, enode_again) = wait_mapped(&node, at, protocol);
    eprintln!(
        "{protocol}: re-mapped {:?} after the reboot (refresh every 480 s)",
        rebooted.elapsed()
    );
    assert_eq!(enode_again, enode);
    assert_forwarded(&rig, &enode);
    wan_dial(&mut rig, &enode);
    shutdown_and_check_clean(&rig, node);
}

#[test]
fn router_reboot_announcement_remaps_at_once_upnp() {
    rig_test("router_reboot_announcement_remaps_at_once_upnp", || {
        announced_reboot_scenario(UPNP_ONLY, "upnp", "UPnP")
    });
}

#[test]
fn router_reboot_announcement_remaps_at_once_pmp() {
    rig_test("router_reboot_announcement_remaps_at_once_pmp", || {
        announced_reboot_scenario(PMP_ONLY, "pmp", "NAT-PMP")
    });
}

/// The router reboots and comes back with our external port held by another LAN host: the node
/// notices on refresh, takes another port and publishes it (a new enode the WAN side reaches).
fn reboot_port_taken_scenario(mode: &str, protocol: &str) {
    let mut rig = Rig::new(BOTH);
    let node = start_node(&rig, mode, 2);
    let (after, enode) = wait_mapped(&node, 0, protocol);
    assert_eq!(tcp_port(&enode), 30303);
    // Up long enough for NAT-PMP to tell a restart from its epoch (see reboot_scenario).
    rig.wait_router_uptime(6);
    rig.reboot_with_leases(&[
        ("tcp", 30303, LAN2_IP, 30303),
        ("udp", 30303, LAN2_IP, 30303),
    ]);
    assert_eq!(rig.forwards_to(&format!("{LAN2_IP}:30303")).len(), 2);
    let (at, _) = node.wait_out(after, "nat_mapping_lost", |line| {
        is_event(line, "nat_mapping_lost")
    });
    let (_, moved) = wait_mapped(&node, at, protocol);
    assert_ne!(
        tcp_port(&moved),
        30303,
        "the port now held by another host must not be advertised: {moved}"
    );
    assert_forwarded(&rig, &moved);
    wan_dial(&mut rig, &moved);
    wan_discv4_ping(&mut rig, &moved);
    shutdown_and_check_clean(&rig, node);
    assert_eq!(rig.forwards_to(&format!("{LAN2_IP}:30303")).len(), 2);
}

#[test]
fn router_reboot_handing_our_port_to_another_host_moves_the_endpoint_upnp() {
    rig_test(
        "router_reboot_handing_our_port_to_another_host_moves_the_endpoint_upnp",
        || reboot_port_taken_scenario("upnp", "UPnP"),
    );
}

#[test]
fn router_reboot_handing_our_port_to_another_host_moves_the_endpoint_pmp() {
    rig_test(
        "router_reboot_handing_our_port_to_another_host_moves_the_endpoint_pmp",
        || reboot_port_taken_scenario("pmp", "NAT-PMP"),
    );
}

/// Another LAN host holds external port 30303: the node advertises the port the router offers
/// instead and is reachable on it; the other host's mapping stays. `gateway` is what the node's
/// log must call the gateway it found.
fn taken_port_scenario(router: RouterConfig, mode: &str, protocol: &str, gateway: &str) {
    let mut rig = Rig::new(router);
    for transport in ["tcp", "udp"] {
        let (ok, output) = match mode {
            "upnp" => rig.run(
                "lan2",
                "upnpc",
                // -u skips upnpc's own 2 s SSDP discovery; -i accepts the reserved external IP.
                &[
                    "-u",
                    "http://192.168.77.1:5000/rootDesc.xml",
                    "-i",
                    "-e",
                    "other host",
                    "-a",
                    LAN2_IP,
                    "30303",
                    "30303",
                    transport,
                    "600",
                ],
            ),
            _ => rig.run(
                "lan2",
                "natpmpc",
                &[
                    "-g",
                    "192.168.77.1",
                    "-a",
                    "30303",
                    "30303",
                    transport,
                    "600",
                ],
            ),
        };
        assert!(
            ok,
            "second LAN host's mapping of 30303/{transport}:\n{output}"
        );
    }
    assert_eq!(rig.forwards_to(&format!("{LAN2_IP}:30303")).len(), 2);
    let node = start_node(&rig, mode, 480);
    let (_, enode) = wait_mapped(&node, 0, protocol);
    node.wait_err(0, "the gateway's description", |line| {
        line.contains("found a port mapping gateway") && line.contains(gateway)
    });
    let port = tcp_port(&enode);
    assert_ne!(
        port, 30303,
        "the taken port must not be advertised: {enode}"
    );
    assert!(port >= 1024);
    assert_forwarded(&rig, &enode);
    wan_dial(&mut rig, &enode);
    let mut others = rig.forwards_to(&format!("{LAN2_IP}:30303"));
    others.sort();
    assert_eq!(
        others,
        vec![("tcp".to_string(), 30303), ("udp".to_string(), 30303)],
        "the other host's mappings are untouched"
    );
    shutdown_and_check_clean(&rig, node);
    assert_eq!(rig.forwards_to(&format!("{LAN2_IP}:30303")).len(), 2);
}

#[test]
fn taken_port_gets_the_routers_offer_upnp() {
    rig_test("taken_port_gets_the_routers_offer_upnp", || {
        taken_port_scenario(BOTH, "upnp", "UPnP", "UPnP IGDv2 (WANIPConnection:2)")
    });
}

#[test]
fn taken_port_gets_the_routers_offer_pmp() {
    rig_test("taken_port_gets_the_routers_offer_pmp", || {
        taken_port_scenario(BOTH, "pmp", "NAT-PMP", "NAT-PMP")
    });
}

/// An IGDv1 has no AddAnyPortMapping: the node finds a free external port by trying others.
#[test]
fn taken_port_on_an_igd_v1_gets_another_port() {
    rig_test("taken_port_on_an_igd_v1_gets_another_port", || {
        taken_port_scenario(IGD_V1, "upnp", "UPnP", "UPnP IGDv1 (WANIPConnection:1)")
    });
}

/// A router with UPnP and NAT-PMP both off: the probe says so and exits non-zero; the node
/// logs one line and carries on with its local address (a LAN peer still reaches it).
#[test]
fn a_router_without_port_mapping_fails_the_probe_and_the_node_carries_on() {
    rig_test(
        "a_router_without_port_mapping_fails_the_probe_and_the_node_carries_on",
        || {
            let rig = Rig::new(NEITHER);
            // The node searches while the probe runs: both wait out the same silence.
            let node = start_node(&rig, "any", 480);
            let probe = rig
                .ethp2p("lan", &["nat", "probe", "--port", "40404"])
                .output()
                .expect("ethp2p nat probe");
            let stdout = String::from_utf8_lossy(&probe.stdout);
            let stderr = String::from_utf8_lossy(&probe.stderr);
            assert!(
                !probe.status.success(),
                "probe must fail:\n{stdout}{stderr}"
            );
            assert!(stdout.contains("verdict: FAIL"), "{stdout}");
            assert!(stderr.contains("no working port mapping"), "{stderr}");

            let (_, line) =
                node.wait_out(0, "nat_no_gateway", |line| is_event(line, "nat_no_gateway"));
            assert!(line.contains("no UPnP or NAT-PMP gateway found"), "{line}");
            let (first, _) = node.wait_out(0, "enode", |line| line.starts_with("enode://"));
            let local = node.out.all()[first].replace("127.0.0.1", LAN_IP);
            let (ok, output) = rig.run(
                "lan2",
                rig::ethp2p_bin(),
                &[
                    "rlpx",
                    "ping",
                    "--caps",
                    "demo/1",
                    "--timeout",
                    "10",
                    &local,
                ],
            );
            assert!(
                ok,
                "the node still serves its LAN:\n{output}\n{}",
                node.dump()
            );
            let no_gateway_lines = node
                .err
                .all()
                .iter()
                .filter(|line| line.contains("no port mapping"))
                .count();
            assert_eq!(no_gateway_lines, 1, "logged once\n{}", node.dump());
            shutdown_and_check_clean(&rig, node);
        },
    );
}

#[test]
fn probe_reports_a_working_router() {
    rig_test("probe_reports_a_working_router", || {
        let rig = Rig::new(BOTH);
        let (ok, output) = rig.run(
            "lan",
            rig::ethp2p_bin(),
            &["nat", "probe", "--port", "40404"],
        );
        assert!(ok, "{output}");
        assert!(
            output.contains("verdict: OK: port mapping works via UPnP and NAT-PMP at 192.168.77.1"),
            "{output}"
        );
        assert!(output.contains("external IP:    203.0.113.1"), "{output}");
        assert!(
            rig.rules().trim().is_empty(),
            "probe mappings deleted:\n{}",
            rig.rules()
        );
    });
}
