//! The NAT rig for cli/tests/nat_rig.rs: a home router (miniupnpd + nftables NAT) with a WAN
//! and two LAN hosts, each in a network namespace of its own, built by scripts/nat-rig/rig.sh;
//! and processes run inside those namespaces whose output lines a test waits on.
//!
//! Every rig has namespaces named after this test process and a counter, so parallel tests and
//! parallel or aborted runs never collide; a rig is torn down when dropped, panics included, and
//! rigs left by a killed run (whose process is gone) are removed by the next run.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Upper bound for anything a test waits for; never a pacing delay.
pub const DEADLINE: Duration = Duration::from_secs(30);

pub const LAN_IP: &str = "192.168.77.2";
pub const LAN2_IP: &str = "192.168.77.3";
pub const ROUTER_LAN_IP: &str = "192.168.77.1";
pub const ROUTER_WAN_IP: &str = "203.0.113.1";

/// Namespace names start with this, then the owning process id.
const PREFIX: &str = "enat";

pub fn ethp2p_bin() -> &'static str {
    env!("CARGO_BIN_EXE_ethp2p")
}

fn script() -> PathBuf {
    // The rig scripts live at the workspace root, one level above this crate.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/nat-rig/rig.sh")
}

/// Whether this machine can run the rig; the reason if not.
fn availability() -> &'static Result<(), String> {
    static AVAILABLE: OnceLock<Result<(), String>> = OnceLock::new();
    AVAILABLE.get_or_init(|| {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root: network namespaces need root".into());
        }
        for tool in ["ip", "nft", "miniupnpd", "upnpc", "natpmpc", "python3"] {
            let found = Command::new("sh")
                .args([
                    "-c",
                    &format!("PATH=$PATH:/usr/sbin:/sbin command -v {tool}"),
                ])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            if !found {
                return Err(format!(
                    "{tool} is not installed (scripts/nat-rig/install.sh installs the rig's tools)"
                ));
            }
        }
        let probe = format!("{PREFIX}-{}-probe", std::process::id());
        let added = Command::new("ip").args(["netns", "add", &probe]).output();
        match added {
            Ok(output) if output.status.success() => {
                let _ = Command::new("ip").args(["netns", "del", &probe]).status();
                Ok(())
            }
            Ok(output) => Err(format!(
                "this machine does not allow network namespaces: ip netns add: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )),
            Err(error) => Err(format!("cannot run ip: {error}")),
        }
    })
}

/// True when the rig can run; otherwise the test fails under CI, or says SKIPPED and returns
/// early (see [`ethp2p_testkit::runnable`]).
pub fn rig_available(test: &str) -> bool {
    ethp2p_testkit::runnable(&format!("nat_rig::{test}"), availability().clone())
}

/// Lines so far, and whether the stream ended.
#[derive(Default)]
struct Received {
    lines: Vec<String>,
    ended: bool,
}

/// Output lines of a process as they arrive, for waiting on.
#[derive(Clone, Default)]
pub struct Lines(Arc<(Mutex<Received>, Condvar)>);

impl Lines {
    fn follow(reader: impl Read + Send + 'static) -> Lines {
        let lines = Lines::default();
        let feed = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(reader).lines() {
                let Ok(line) = line else { break };
                let (state, changed) = &*feed.0;
                state.lock().unwrap().lines.push(line);
                changed.notify_all();
            }
            let (state, changed) = &*feed.0;
            state.lock().unwrap().ended = true;
            changed.notify_all();
        });
        lines
    }

    pub fn all(&self) -> Vec<String> {
        self.0.0.lock().unwrap().lines.clone()
    }

    pub fn len(&self) -> usize {
        self.0.0.lock().unwrap().lines.len()
    }

    /// The first line at index `from` or later that matches, with its index. Fails when the
    /// stream ends or `timeout` passes first.
    pub fn wait(
        &self,
        from: usize,
        timeout: Duration,
        matches: impl Fn(&str) -> bool,
    ) -> Result<(usize, String), &'static str> {
        let deadline = Instant::now() + timeout;
        let (state, changed) = &*self.0;
        let mut guard = state.lock().unwrap();
        let mut next = from;
        loop {
            while next < guard.lines.len() {
                if matches(&guard.lines[next]) {
                    return Ok((next, guard.lines[next].clone()));
                }
                next += 1;
            }
            if guard.ended {
                return Err("the output ended");
            }
            let now = Instant::now();
            if now >= deadline {
                return Err("timed out");
            }
            guard = changed.wait_timeout(guard, deadline - now).unwrap().0;
        }
    }
}

/// A process (inside a namespace, usually), its stdout and stderr lines. Killed when dropped.
pub struct Proc {
    pub name: String,
    child: Child,
    pub out: Lines,
    pub err: Lines,
    status: Option<ExitStatus>,
}

impl Proc {
    pub fn spawn(name: &str, mut command: Command) -> Proc {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {name} ({command:?}): {error}"));
        let out = Lines::follow(child.stdout.take().unwrap());
        let err = Lines::follow(child.stderr.take().unwrap());
        Proc {
            name: name.to_string(),
            child,
            out,
            err,
            status: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything it printed, for failure messages.
    pub fn dump(&self) -> String {
        format!(
            "--- {} stdout ---\n{}\n--- {} stderr ---\n{}",
            self.name,
            self.out.all().join("\n"),
            self.name,
            self.err.all().join("\n")
        )
    }

    /// The first stdout line from index `from` on that matches; panics with the output if none
    /// comes within [`DEADLINE`].
    pub fn wait_out(
        &self,
        from: usize,
        what: &str,
        matches: impl Fn(&str) -> bool,
    ) -> (usize, String) {
        self.out
            .wait(from, DEADLINE, matches)
            .unwrap_or_else(|why| {
                panic!("{}: {why} waiting for {what}\n{}", self.name, self.dump())
            })
    }

    /// Like [`wait_out`](Self::wait_out), on stderr.
    pub fn wait_err(
        &self,
        from: usize,
        what: &str,
        matches: impl Fn(&str) -> bool,
    ) -> (usize, String) {
        self.err
            .wait(from, DEADLINE, matches)
            .unwrap_or_else(|why| {
                panic!("{}: {why} waiting for {what}\n{}", self.name, self.dump())
            })
    }

    fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill with a pid of our own child, which is not reaped while we hold it.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, signal);
        }
    }

    /// Waits for the exit, up to `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if self.status.is_some() {
            return self.status;
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.status = Some(status);
                return self.status;
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM (a graceful shutdown) and its exit status; panics if it does not exit in time.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        self.wait_exit(DEADLINE)
            .unwrap_or_else(|| panic!("{} did not exit on SIGTERM\n{}", self.name, self.dump()))
    }

    fn kill(&mut self) {
        if self.status.is_none() && self.wait_exit(Duration::ZERO).is_none() {
            self.signal(libc::SIGKILL);
            let _ = self.wait_exit(Duration::from_secs(5));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The router's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouterConfig {
    pub upnp: bool,
    pub pmp: bool,
    /// miniupnpd's `force_igd_desc_v1`: it describes itself as an IGDv1.
    pub igd_v1: bool,
}

/// One home router set-up; torn down on drop.
pub struct Rig {
    pub name: String,
    dir: PathBuf,
    config: RouterConfig,
    stun: Option<Proc>,
    router: Option<Proc>,
    next_wan_host: u8,
}

fn yes(flag: bool) -> &'static str {
    if flag { "yes" } else { "no" }
}

fn run_script(args: &[&str]) -> Result<String, String> {
    let output = Command::new("bash")
        .arg(script())
        .args(args)
        .output()
        .map_err(|error| format!("rig.sh {args:?}: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "rig.sh {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Removes rigs whose test process is gone (a killed or aborted run).
fn remove_stale_rigs() {
    let Ok(output) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    let mut stale = std::collections::BTreeSet::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let mut parts = name.split('-');
        if parts.next() != Some(PREFIX) {
            continue;
        }
        let (Some(pid), Some(counter)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            stale.insert(format!("{PREFIX}-{pid}-{counter}"));
        }
    }
    for name in stale {
        let _ = run_script(&["down", &name]);
        let _ = std::fs::remove_dir_all(std::env::temp_dir().join(&name));
    }
}

impl Rig {
    /// Builds the topology and starts the STUN responder and (unless both protocols are off,
    /// which miniupnpd refuses to run with) the router daemon, ready to answer.
    pub fn new(config: RouterConfig) -> Rig {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        remove_stale_rigs();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("{PREFIX}-{}-{n}", std::process::id());
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        let mut rig = Rig {
            name,
            dir,
            config,
            stun: None,
            router: None,
            next_wan_host: 10,
        };
        // Tear-down (Drop) removes whatever part got made if this panics.
        run_script(&["up", &rig.name]).unwrap();
        let mut stun = Command::new("bash");
        stun.arg(script()).args(["stun", &rig.name]);
        let stun = Proc::spawn("stun", stun);
        stun.wait_out(0, "the STUN responder", |line| {
            line.starts_with("stun: ready")
        });
        rig.stun = Some(stun);
        rig.configure(config);
        rig
    }

    pub fn ns(&self, host: &str) -> String {
        format!("{}-{host}", self.name)
    }

    /// `program args` inside namespace `host` (wan, rtr, lan, lan2).
    pub fn command(&self, host: &str, program: &str, args: &[&str]) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.ns(host), program])
            .args(args);
        command
    }

    /// The ethp2p binary inside namespace `host`.
    pub fn ethp2p(&self, host: &str, args: &[&str]) -> Command {
        let mut command = self.command(host, ethp2p_bin(), args);
        command.env("RUST_LOG", "info,ethp2p_nat=debug");
        command
    }

    /// Runs to completion inside `host`; the output and whether it succeeded.
    pub fn run(&self, host: &str, program: &str, args: &[&str]) -> (bool, String) {
        let output = self
            .command(host, program, args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|error| panic!("cannot run {program}: {error}"));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    }

    /// Writes the router's configuration and (re)starts it.
    pub fn configure(&mut self, config: RouterConfig) {
        self.stop_router();
        self.config = config;
        let dir = self.dir.to_string_lossy().into_owned();
        run_script(&[
            "conf",
            &self.name,
            &dir,
            yes(config.upnp),
            yes(config.pmp),
            yes(config.igd_v1),
        ])
        .unwrap();
        self.start_router();
    }

    fn start_router(&mut self) {
        if !self.config.upnp && !self.config.pmp {
            // miniupnpd exits at once with both off ("Why did you run me anyway?"): such a
            // router simply has no port mapping daemon.
            return;
        }
        let mut router = Command::new("bash");
        router
            .arg(script())
            .args(["router", &self.name, &self.dir.to_string_lossy()]);
        let router = Proc::spawn("miniupnpd", router);
        // It logs to stderr. Forwarding is only enabled after its STUN test passed.
        let (at, _) = router.wait_err(0, "miniupnpd's STUN check", |line| {
            line.contains("Port forwarding is now enabled")
        });
        if self.config.upnp {
            router.wait_err(at, "miniupnpd's HTTP server", |line| {
                line.contains("HTTP listening on port")
            });
        }
        if self.config.pmp {
            router.wait_err(at, "miniupnpd's NAT-PMP socket", |line| {
                line.contains("Listening for NAT-PMP")
            });
        }
        self.router = Some(router);
    }

    fn stop_router(&mut self) {
        if let Some(mut router) = self.router.take() {
            router.terminate();
        }
    }

    /// A router reboot: the daemon stops, the NAT rules and the lease file are lost, it starts
    /// again with an empty table.
    pub fn reboot(&mut self) {
        self.reboot_with_leases(&[]);
    }

    /// A router reboot after which the router holds `leases` (transport, external port, LAN
    /// host address, internal port) for other hosts: miniupnpd re-creates what its lease file
    /// lists when it starts, before it answers anyone.
    pub fn reboot_with_leases(&mut self, leases: &[(&str, u16, &str, u16)]) {
        self.stop_router();
        run_script(&["reboot-state", &self.name, &self.dir.to_string_lossy()]).unwrap();
        // Checked here: once the daemon is back, an announcing router is re-mapped at once.
        assert!(
            self.rules().trim().is_empty(),
            "the reboot left forwarding rules:\n{}",
            self.rules()
        );
        let expiry = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 600;
        // miniupnpd's format: PROTO:EXT_PORT:INT_IP:INT_PORT:EXPIRY(unix s):DESCRIPTION
        let lines: String = leases
            .iter()
            .map(|(transport, external, ip, internal)| {
                let proto = transport.to_uppercase();
                format!("{proto}:{external}:{ip}:{internal}:{expiry}:other host\n")
            })
            .collect();
        std::fs::write(self.dir.join("upnp.leases"), lines).unwrap();
        self.start_router();
    }

    /// Returns once the router has been up `seconds` (its NAT-PMP epoch, asked from the second
    /// LAN host), polling every 200 ms within [`DEADLINE`]. NAT-PMP clients can only tell a
    /// restart from an uptime lower than expected, so a reboot test needs some uptime first.
    pub fn wait_router_uptime(&self, seconds: u32) {
        let start = Instant::now();
        loop {
            let (ok, output) = self.run("lan2", "natpmpc", &["-g", ROUTER_LAN_IP]);
            let epoch = output
                .lines()
                .find_map(|line| line.trim().strip_prefix("epoch = "))
                .and_then(|epoch| epoch.trim().parse::<u32>().ok());
            match epoch {
                Some(epoch) if epoch >= seconds => return,
                _ if start.elapsed() > DEADLINE => {
                    panic!("router uptime did not reach {seconds} s (ok={ok}):\n{output}")
                }
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// The router's forwarding rules made by miniupnpd.
    pub fn rules(&self) -> String {
        run_script(&["rules", &self.name]).unwrap()
    }

    /// The external ports the router forwards to `internal` (ip:port), by protocol name
    /// ("tcp"/"udp").
    pub fn forwards_to(&self, internal: &str) -> Vec<(String, u16)> {
        self.rules()
            .lines()
            .filter(|line| line.contains(&format!("dnat ip to {internal}")))
            .filter_map(|line| {
                let protocol = if line.contains("@nh,72,8 0x6 ") {
                    "tcp"
                } else if line.contains("@nh,72,8 0x11 ") {
                    "udp"
                } else {
                    return None;
                };
                let port = line.split("dport ").nth(1)?.split_whitespace().next()?;
                Some((protocol.to_string(), port.parse().ok()?))
            })
            .collect()
    }

    /// Gives the WAN host a new source address for its next connection to the router. The
    /// node throttles repeated inbound connections from one non-LAN address (30 s), which a
    /// second dial from the same WAN address would run into.
    pub fn fresh_wan_source(&mut self) -> String {
        let ip = format!("203.0.113.{}", self.next_wan_host);
        self.next_wan_host += 1;
        let wan = self.ns("wan");
        let add = Command::new("ip")
            .args([
                "-n",
                &wan,
                "addr",
                "add",
                &format!("{ip}/24"),
                "dev",
                "eth0",
            ])
            .status()
            .unwrap();
        assert!(add.success(), "ip addr add {ip}");
        let route = Command::new("ip")
            .args([
                "-n",
                &wan,
                "route",
                "replace",
                &format!("{ROUTER_WAN_IP}/32"),
            ])
            .args(["dev", "eth0", "src", &ip])
            .status()
            .unwrap();
        assert!(route.success(), "ip route replace via src {ip}");
        ip
    }

    /// Where the router's logs and configuration are.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn router_log(&self) -> String {
        self.router
            .as_ref()
            .map(|router| router.err.all().join("\n"))
            .unwrap_or_default()
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = writeln!(
                std::io::stderr(),
                "rig {}: miniupnpd log:\n{}",
                self.name,
                self.router_log()
            );
        }
        self.router.take();
        self.stun.take();
        if let Err(error) = run_script(&["down", &self.name]) {
            let _ = writeln!(std::io::stderr(), "rig {}: tear-down: {error}", self.name);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
