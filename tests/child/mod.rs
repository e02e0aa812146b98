//! Interop peers run as child processes that print one JSON object per line on stdout.
// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::time::timeout;

/// Every wait is bounded: some peers have no handshake timeout of their own.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A path inside the repository.
pub fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// A running child, killed when dropped.
pub struct JsonChild {
    _child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    /// Commands to the child, one a line (only when started by [`JsonChild::spawn_with_stdin`]).
    stdin: Option<ChildStdin>,
}

impl JsonChild {
    /// Starts `program args` in `dir`; `missing` explains how to install it if absent. The
    /// child inherits our stdin.
    pub fn spawn(program: &Path, args: &[&str], dir: &Path, missing: &str) -> JsonChild {
        Self::start(program, args, dir, missing, false)
    }

    /// As [`JsonChild::spawn`], for a child that takes commands on stdin ([`JsonChild::send`]);
    /// its stdin closes when it is dropped.
    pub fn spawn_with_stdin(program: &Path, args: &[&str], dir: &Path, missing: &str) -> JsonChild {
        Self::start(program, args, dir, missing, true)
    }

    fn start(program: &Path, args: &[&str], dir: &Path, missing: &str, stdin: bool) -> JsonChild {
        assert!(
            program.exists() || program.components().count() == 1,
            "{missing}"
        );
        let mut child = Command::new(program)
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stdin(if stdin {
                Stdio::piped()
            } else {
                Stdio::inherit()
            })
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}; {missing}", program.display()));
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        JsonChild {
            stdin: child.stdin.take(),
            _child: child,
            lines,
        }
    }

    /// Writes one command line to the child's stdin.
    pub async fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("started with spawn_with_stdin");
        let mut bytes = line.as_bytes().to_vec();
        bytes.push(b'\n');
        timeout(DEADLINE, stdin.write_all(&bytes))
            .await
            .expect("child read its stdin in time")
            .expect("child's stdin is open");
    }

    /// The next JSON line.
    pub async fn event(&mut self) -> Value {
        let line = timeout(DEADLINE, self.lines.next_line())
            .await
            .expect("child answered in time")
            .unwrap()
            .expect("child exited early");
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"))
    }

    /// The next JSON line, which must be the event `name`.
    pub async fn expect(&mut self, name: &str) -> Value {
        let event = self.event().await;
        assert_eq!(event["event"], name, "unexpected event {event}");
        event
    }

    /// Skips lines until the event `name`.
    pub async fn wait_for(&mut self, name: &str) -> Value {
        loop {
            let event = self.event().await;
            if event["event"] == name {
                return event;
            }
        }
    }
}
