//! `ethp2p p2p` between two `ethp2p node` processes: each exposes a local TCP service to the
//! other under a name, each reaches the other's through a forwarded port (dialing the peer on the
//! first forward), bytes arrive intact both ways, `ls` counts them, refusals are explained, and
//! `close` removes entries.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

#[path = "support/node_process.rs"]
mod node_process;

use node_process::NodeProcess;

/// Kills a node if the test has not finished by then.
const WATCHDOG: Duration = Duration::from_secs(180);

/// An `ethp2p node --datadir D`, killed (and D removed) on drop.
struct Node {
    process: NodeProcess,
    enode: String,
    dir: PathBuf,
}

impl Node {
    fn start(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ethp2p-p2p-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let args = [OsStr::new("--datadir"), dir.as_os_str()];
        let mut process = NodeProcess::start(args, WATCHDOG);
        process.stderr_line("control socket: ");
        process.drain_stdout();
        Node {
            enode: process.enode.clone(),
            process,
            dir,
        }
    }

    /// Runs `ethp2p p2p ARGS --datadir <ours>`: (success, stdout, stderr).
    fn p2p(&self, args: &[&str]) -> (bool, String, String) {
        let output = Command::new(env!("CARGO_BIN_EXE_ethp2p"))
            .arg("p2p")
            .args(args)
            .arg("--datadir")
            .arg(&self.dir)
            .output()
            .expect("run ethp2p p2p");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.p2p(args);
        assert!(ok, "ethp2p p2p {args:?} failed: {err}");
        out
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.process.child.kill();
        let _ = self.process.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A TCP service that answers each connection with `tag` and then echoes what it reads.
fn service(tag: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let mut conn = conn.unwrap();
            std::thread::spawn(move || {
                // A connection may be cut short (a closed forward): not this service's problem.
                let _ = conn.write_all(tag);
                let mut reader = conn.try_clone().unwrap();
                let _ = std::io::copy(&mut reader, &mut conn);
                let _ = conn.shutdown(Shutdown::Write);
            });
        }
    });
    addr
}

/// A TCP service that reads each connection to the end and answers with its SHA-256.
fn sink() -> SocketAddr {
    use sha2::Digest;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let mut conn = conn.unwrap();
            std::thread::spawn(move || {
                let mut digest = sha2::Sha256::new();
                let mut buf = vec![0; 64 * 1024];
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => digest.update(&buf[..n]),
                    }
                }
                let _ = conn.write_all(&digest.finalize());
            });
        }
    });
    addr
}

/// Uploads `size` bytes through `addr` to a [`sink`] and checks the digest it answers.
fn upload(addr: &str, seed: u8, size: usize) {
    use sha2::Digest;
    let mut conn = TcpStream::connect(addr).expect("connect to the forwarded port");
    let mut digest = sha2::Sha256::new();
    let block = pattern(seed, 1 << 20);
    let mut left = size;
    while left > 0 {
        let n = left.min(block.len());
        conn.write_all(&block[..n]).unwrap();
        digest.update(&block[..n]);
        left -= n;
    }
    conn.shutdown(Shutdown::Write).unwrap();
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).unwrap();
    assert_eq!(
        answer,
        digest.finalize().to_vec(),
        "{size} bytes changed on the way"
    );
}

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1] ^ seed)
        .collect()
}

/// Sends `data` through `addr`, expects `tag` and then `data` back.
fn round_trip(addr: &str, tag: &[u8], data: &[u8]) {
    let mut conn = TcpStream::connect(addr).expect("connect to the forwarded port");
    let mut writer = conn.try_clone().unwrap();
    let sent = data.to_vec();
    let writing = std::thread::spawn(move || {
        writer.write_all(&sent).unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let mut got = Vec::new();
    conn.read_to_end(&mut got).unwrap();
    writing.join().unwrap();
    assert_eq!(&got[..tag.len()], tag, "reached the wrong service");
    assert!(got[tag.len()..] == *data, "bytes changed on the way");
}

fn ls_has(node: &Node, needle: &[&str]) -> bool {
    let out = node.ok(&["ls"]);
    // The first line is the header.
    out.lines()
        .skip(1)
        .any(|line| needle.iter().all(|n| line.contains(n)))
}

#[test]
fn two_nodes_forward_a_service_both_ways() {
    let a = Node::start("a");
    let b = Node::start("b");
    let service_a = service(b"A:");
    let service_b = service(b"B:");
    a.ok(&["listen", "svc-a", &service_a.to_string()]);
    b.ok(&["listen", "svc-b", &service_b.to_string()]);

    // B is not connected to A yet: the forward dials it.
    let forward_b = b.ok(&["forward", "svc-a", "127.0.0.1:0", &a.enode]);
    let forward_b = forward_b.trim().to_owned();
    let forward_a = a.ok(&["forward", "svc-b", "127.0.0.1:0", &b.enode]);
    let forward_a = forward_a.trim().to_owned();

    let big = pattern(1, 8 << 20);
    round_trip(&forward_b, b"A:", &big);
    round_trip(&forward_a, b"B:", &pattern(2, 3 << 20));
    // Several connections at once through one forward.
    let threads: Vec<_> = (0..4u8)
        .map(|i| {
            let addr = forward_b.clone();
            std::thread::spawn(move || round_trip(&addr, b"A:", &pattern(10 + i, 1 << 20)))
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }

    // The byte counts: B's forward sent 8 + 4 MiB, and got them back plus the tags.
    let sent = (12u64 << 20).to_string();
    let received = ((12u64 << 20) + 5 * 2).to_string();
    assert!(
        ls_has(&b, &["forward", "svc-a", &forward_b, &sent, &received]),
        "{}",
        b.ok(&["ls"])
    );
    // Five connections: the forward's up-front probe reached no service.
    assert!(ls_has(
        &a,
        &["listen", "svc-a", &service_a.to_string(), " 5 ", &sent]
    ));

    // Refusals are explained.
    let (ok, _, err) = b.p2p(&["forward", "nothing-here", "127.0.0.1:0", &a.enode]);
    assert!(!ok);
    assert!(err.contains("no listener"), "{err}");
    a.ok(&[
        "listen",
        "private",
        &service_a.to_string(),
        "--allow",
        &a.enode,
    ]);
    let (ok, _, err) = b.p2p(&["forward", "private", "127.0.0.1:0", &a.enode]);
    assert!(!ok);
    assert!(err.contains("does not allow us"), "{err}");

    // Close by name, then by target.
    assert_eq!(b.ok(&["close", "--name", "svc-a"]).trim(), "closed 1");
    assert!(!ls_has(&b, &["svc-a"]));
    let target = service_a.to_string();
    assert_eq!(a.ok(&["close", "--target", &target]).trim(), "closed 2");
    assert!(!ls_has(&a, &["listen"]));
    let (ok, _, err) = b.p2p(&["close"]);
    assert!(!ok && err.contains("say what to close"), "{err}");
}

/// 256 MiB through a forwarded port in each direction at once (B's forward carries B -> A,
/// A's carries A -> B), each checked by the SHA-256 the far service computes.
#[test]
fn two_hundred_fifty_six_mib_each_way_through_forwards() {
    let a = Node::start("bulk-a");
    let b = Node::start("bulk-b");
    a.ok(&["listen", "sink", &sink().to_string()]);
    b.ok(&["listen", "sink", &sink().to_string()]);
    let to_a = b.ok(&["forward", "sink", "127.0.0.1:0", &a.enode]);
    let to_b = a.ok(&["forward", "sink", "127.0.0.1:0", &b.enode]);
    let size = 256 << 20;
    let one = std::thread::spawn(move || upload(to_a.trim(), 1, size));
    let two = std::thread::spawn(move || upload(to_b.trim(), 2, size));
    one.join().unwrap();
    two.join().unwrap();
    assert!(ls_has(&b, &["forward", "sink", &size.to_string()]));
}

/// Killing the node behind a forward (no Disconnect, just a dead socket) ends the forwarded
/// connection on the other side instead of leaving it hanging.
#[test]
fn killing_the_remote_node_ends_forwarded_connections() {
    let mut a = Node::start("kill-a");
    let b = Node::start("kill-b");
    let service_a = service(b"A:");
    a.ok(&["listen", "svc", &service_a.to_string()]);
    let forward = b.ok(&["forward", "svc", "127.0.0.1:0", &a.enode]);
    let mut conn = TcpStream::connect(forward.trim()).unwrap();
    conn.write_all(b"ping").unwrap();
    let mut got = [0; 6];
    conn.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"A:ping");
    a.process.child.kill().unwrap();
    a.process.child.wait().unwrap();
    // The connection ends (EOF or reset), within the watchdog's bound rather than never.
    conn.set_read_timeout(Some(WATCHDOG)).unwrap();
    let mut rest = Vec::new();
    match conn.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty(), "{rest:?}"),
        Err(error) => assert_ne!(error.kind(), std::io::ErrorKind::WouldBlock, "{error}"),
    }
    assert!(ls_has(&b, &["forward", "svc"]), "the forward itself stays");
}
