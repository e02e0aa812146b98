//! What a router sends us that our own code parses (the `ethp2p-nat` crate; igd-next and natpmp
//! parse the rest): NAT-PMP and PCP announcements, SSDP NOTIFYs, and GetSpecificPortMappingEntry
//! SOAP answers. Every input goes to all of them.
//!
//! Checks: a parsed announcement has the layout it was recognised by and its epoch is the bytes
//! at its place; a parsed NOTIFY starts with the NOTIFY line; a datagram only counts from the
//! gateway (from another host it never does), and the same NOTIFY twice in a row is never two
//! reboots (periodic `ssdp:alive`s repeat themselves).

#![no_main]

use std::net::{Ipv4Addr, SocketAddr};

use ethp2p_nat::announce::{AnnouncementFilter, parse_pmp_announcement, parse_ssdp_notify};
use ethp2p_nat::upnp::specific_entry_presence;
use libfuzzer_sys::fuzz_target;

const GATEWAY: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 1);
const OTHER_HOST: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 3);
const LOCAL: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 2);

fuzz_target!(|data: &[u8]| {
    if let Some(epoch) = parse_pmp_announcement(data) {
        let at = match data[0] {
            0 => 4,
            2 => 8,
            version => panic!("announcement of version {version} accepted"),
        };
        assert!(data.len() >= at + 8);
        assert_eq!(epoch.to_be_bytes(), data[at..at + 4]);
    }
    if parse_ssdp_notify(data).is_some() {
        let start = String::from_utf8_lossy(&data[..data.len().min(17)]).to_ascii_uppercase();
        assert!(start.starts_with("NOTIFY * HTTP/1.1"), "{start:?}");
    }

    let mut filter = AnnouncementFilter::new(GATEWAY);
    assert_eq!(
        filter.on_pmp(SocketAddr::from((OTHER_HOST, 5351)), data),
        None
    );
    assert_eq!(
        filter.on_ssdp(SocketAddr::from((OTHER_HOST, 1900)), data),
        None
    );
    let _ = filter.on_pmp(SocketAddr::from((GATEWAY, 5351)), data);
    let gateway = SocketAddr::from((GATEWAY, 1900));
    let first = filter.on_ssdp(gateway, data);
    let second = filter.on_ssdp(gateway, data);
    assert!(
        first.is_none() || second.is_none(),
        "one NOTIFY repeated counted as two reboots"
    );

    if let Ok(text) = std::str::from_utf8(data) {
        let _ = specific_entry_presence(text, LOCAL, 30303);
    }
});
