//! dnsmasq on 127.0.0.1 serving a set of TXT records, for the DNS discovery tests (shared by
//! `discovery/tests/dns_server.rs`, `discovery/benches/dns.rs` and the cli DNS tests).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// dnsmasq serving `records` (name to TXT text) on 127.0.0.1; killed on drop.
pub struct Dnsmasq {
    child: Child,
    /// Where it answers (UDP and TCP).
    pub addr: SocketAddr,
    _dir: TempDir,
}

impl Dnsmasq {
    pub fn serve(records: &BTreeMap<String, String>) -> Dnsmasq {
        Dnsmasq::serve_conf(&conf(records))
    }

    /// dnsmasq with these configuration lines (see [`conf`]).
    #[allow(dead_code)] // not every test crate including this module serves a raw conf
    pub fn serve_conf(conf: &str) -> Dnsmasq {
        let dir = TempDir::new();
        let conf_path = dir.path().join("tree.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let (child, port) = start_on_free_port("dnsmasq", "started", |port| {
            let mut command = Command::new(dnsmasq_binary());
            command
                .args(["--keep-in-foreground", "--no-resolv", "--no-hosts"])
                .args(["--bind-interfaces", "--listen-address=127.0.0.1"])
                .args(["--pid-file=", "--log-facility=-"])
                .arg(format!("--port={port}"))
                .arg(format!("--conf-file={}", conf_path.display()));
            command
        });
        Dnsmasq {
            child,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            _dir: dir,
        }
    }
}

/// dnsmasq's configuration lines serving `records` (name to TXT text) under `example.org`, where
/// a missing name is NXDOMAIN.
pub fn conf(records: &BTreeMap<String, String>) -> String {
    let mut conf = String::from("local=/example.org/\n");
    for (name, text) in records {
        // Quoted: branch entries hold commas. dnsmasq splits texts over 255 bytes itself.
        conf.push_str(&format!("txt-record={name},\"{text}\"\n"));
    }
    conf
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a server that cannot be given port 0 (dnsmasq, nsd): takes a free port from the
/// kernel and hands it over. The port may be taken again before the server binds it (UDP and
/// TCP), so up to five ports are tried. `command(port)` builds the command; the server is up
/// once a line of its standard error contains `ready` (servers log that once their sockets
/// are bound, and exit if they cannot bind them).
pub fn start_on_free_port(
    name: &str,
    ready: &str,
    mut command: impl FnMut(u16) -> Command,
) -> (Child, u16) {
    let mut log = Vec::new();
    for _ in 0..5 {
        let port = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = command(port)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name} (scripts/install-dns-tools.sh): {e}"));
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let started = lines.by_ref().map_while(Result::ok).any(|line| {
            log.push(line.clone());
            line.contains(ready)
        });
        if started {
            // Keep draining its log so it never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            return (child, port);
        }
        let _ = child.wait();
    }
    panic!("{name} did not start:\n{}", log.join("\n"));
}

pub fn dnsmasq_binary() -> PathBuf {
    ["/usr/sbin/dnsmasq", "/sbin/dnsmasq"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
        .unwrap_or_else(|| PathBuf::from("dnsmasq"))
}

/// A directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "ethp2p-dns-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
