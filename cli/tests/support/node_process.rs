//! An `ethp2p node` child process for the command-line tests (shared by the control API,
//! metrics and `p2p` forwarding tests): on 127.0.0.1 with NAT off (and discovery off unless
//! the test wants it), plus the test's own flags; killed on drop, and by a watchdog if the test hangs, so a broken node
//! fails its test instead of hanging the run.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Lines};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `ethp2p node`.
pub struct NodeProcess {
    pub child: Child,
    /// Its standard output after the enode line (one line per event), until drained.
    stdout: Option<Lines<BufReader<ChildStdout>>>,
    /// The enode it printed first.
    pub enode: String,
    stderr: mpsc::Receiver<String>,
    stderr_seen: Vec<String>,
}

impl NodeProcess {
    /// Starts `ethp2p node --addr 127.0.0.1:0 --nodiscover --nat none ARGS`; killed after
    /// `watchdog` at the latest.
    pub fn start(
        args: impl IntoIterator<Item = impl AsRef<OsStr>>,
        watchdog: Duration,
    ) -> NodeProcess {
        Self::spawn(["--nodiscover"], args, watchdog)
    }

    /// As [`NodeProcess::start`], with discovery on (no bootnodes: only the test talks to it).
    #[allow(dead_code)] // only the metrics test discovers
    pub fn start_discovering(
        args: impl IntoIterator<Item = impl AsRef<OsStr>>,
        watchdog: Duration,
    ) -> NodeProcess {
        Self::spawn([], args, watchdog)
    }

    fn spawn<const N: usize>(
        base: [&str; N],
        args: impl IntoIterator<Item = impl AsRef<OsStr>>,
        watchdog: Duration,
    ) -> NodeProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ethp2p"))
            .args(["node", "--addr", "127.0.0.1:0", "--nat", "none"])
            .args(base)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ethp2p node");
        kill_after(child.id(), watchdog);
        // Relayed for the test's output and kept for `stderr_line`; read to the end, since a
        // closed pipe would fail the node's later writes.
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                eprintln!("node: {line}");
                let _ = lines.send(line);
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let enode = stdout
            .next()
            .expect("the node prints its enode")
            .expect("readable output");
        NodeProcess {
            child,
            stdout: Some(stdout),
            enode,
            stderr: received,
            stderr_seen: Vec::new(),
        }
    }

    /// What follows `prefix` on the first standard-error line that starts with it, waiting
    /// for it if it has not come yet.
    pub fn stderr_line(&mut self, prefix: &str) -> String {
        let rest = |line: &String| line.strip_prefix(prefix).map(str::to_owned);
        if let Some(found) = self.stderr_seen.iter().find_map(rest) {
            return found;
        }
        loop {
            let line = self
                .stderr
                .recv()
                .unwrap_or_else(|_| panic!("the node ended without printing {prefix:?}"));
            let found = rest(&line);
            self.stderr_seen.push(line);
            if let Some(found) = found {
                return found;
            }
        }
    }

    /// Waits for the node's next output line starting with `prefix`.
    #[allow(dead_code)] // not every test reads events
    pub fn wait_line(&mut self, prefix: &str) {
        self.stdout
            .as_mut()
            .expect("stdout not drained")
            .map_while(Result::ok)
            .find(|line| line.starts_with(prefix))
            .unwrap_or_else(|| panic!("the node never printed {prefix:?}"));
    }

    /// Reads the event lines in the background, for a test that does not, so that the node
    /// never blocks on a full pipe.
    #[allow(dead_code)] // not every test ignores events
    pub fn drain_stdout(&mut self) {
        if let Some(stdout) = self.stdout.take() {
            std::thread::spawn(move || stdout.map_while(Result::ok).for_each(drop));
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Kills process `pid` (a child the test started) after `duration`, in case the test hangs.
pub fn kill_after(pid: u32, duration: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(duration);
        // SAFETY: signals a child this test started; at worst it has already exited.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    });
}
