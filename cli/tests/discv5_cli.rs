//! `ethp2p discv5`: a `listen` node on 127.0.0.1, and one on ::1, answers `ping` and `resolve`
//! from another `ethp2p` process.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn ethp2p() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ethp2p"))
}

/// Kills the listening node when the test ends, however it ends.
struct Listener(std::process::Child);

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn listen_answers_ping_and_resolve() {
    listen_answers_at("127.0.0.1:0", "127.0.0.1:");
}

/// The tools bind the family of their target (they once bound IPv4 only).
#[test]
fn listen_on_ipv6_loopback_answers_ping_and_resolve() {
    listen_answers_at("[::1]:0", "[::1]:");
}

/// `discv5 listen --addr ADDR`, then `ping` (whose PONG must say it sees us at `seen_as`) and
/// `resolve` (which must print the listener's record) from other processes.
fn listen_answers_at(addr: &str, seen_as: &str) {
    let mut child = ethp2p()
        .args(["discv5", "listen", "--addr", addr])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _listener = Listener(child);
    let mut enr = String::new();
    BufReader::new(stdout).read_line(&mut enr).unwrap();
    let enr = enr.trim().to_string();
    assert!(enr.starts_with("enr:"), "{enr}");

    let ping = ethp2p().args(["discv5", "ping", &enr]).output().unwrap();
    let text = String::from_utf8_lossy(&ping.stdout);
    assert!(
        ping.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&ping.stderr)
    );
    assert!(
        text.contains("PONG") && text.contains(&format!("it sees us at {seen_as}")),
        "{text}"
    );

    let resolve = ethp2p().args(["discv5", "resolve", &enr]).output().unwrap();
    let text = String::from_utf8_lossy(&resolve.stdout);
    assert!(
        resolve.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&resolve.stderr)
    );
    assert_eq!(text.lines().next(), Some(enr.as_str()));
}
