//! nsd (an authoritative DNS server, Debian's `nsd`, installed by
//! `scripts/install-dns-tools.sh`) on 127.0.0.1 serving one zone file, for the DNS benchmark:
//! it answers from a hash table, where dnsmasq scans its list of records for every query.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command};

use super::dnsmasq::{TempDir, start_on_free_port};

/// nsd serving `zone` (an RFC 1035 zone file for `origin`) on 127.0.0.1; killed on drop.
pub struct Nsd {
    child: Child,
    /// Where it answers (UDP and TCP).
    pub addr: SocketAddr,
    _dir: TempDir,
}

impl Nsd {
    pub fn serve(origin: &str, zone: &str) -> Nsd {
        let dir = TempDir::new();
        let path = |name: &str| dir.path().join(name).display().to_string();
        std::fs::write(path("tree.zone"), zone).unwrap();
        let (child, port) = start_on_free_port("nsd", "nsd started", |port| {
            let conf = format!(
                "server:\n  ip-address: 127.0.0.1@{port}\n  username: \"\"\n  chroot: \"\"\n  \
                 database: \"\"\n  zonelistfile: \"{list}\"\n  xfrdfile: \"{xfrd}\"\n  \
                 pidfile: \"{pid}\"\n  server-count: 1\n  verbosity: 1\n\
                 remote-control:\n  control-enable: no\n\
                 zone:\n  name: \"{origin}\"\n  zonefile: \"{zone}\"\n",
                list = path("zone.list"),
                xfrd = path("xfrd.state"),
                pid = path("nsd.pid"),
                zone = path("tree.zone"),
            );
            std::fs::write(path("nsd.conf"), conf).unwrap();
            let mut command = Command::new(nsd_binary());
            command.args(["-d", "-c", &path("nsd.conf")]);
            command
        });
        Nsd {
            child,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            _dir: dir,
        }
    }
}

impl Drop for Nsd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn nsd_binary() -> PathBuf {
    ["/usr/sbin/nsd", "/sbin/nsd"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
        .unwrap_or_else(|| PathBuf::from("nsd"))
}
