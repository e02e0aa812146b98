//! What the tests of every ethp2p crate share: where the pinned external tools live, one
//! rule for a test whose prerequisite is missing (it fails under CI, and says SKIPPED
//! elsewhere), and, with the feature `server`, servers under test (module `server`).

use std::io::Write;
use std::path::{Path, PathBuf};

#[cfg(feature = "server")]
pub mod server;

/// The workspace root: the first directory above the running test's crate (cargo names it in
/// `CARGO_MANIFEST_DIR` at run time) that holds this kit. Not this crate's own compile-time
/// path, which is stale when checkouts share a target directory.
pub fn repo_root() -> PathBuf {
    let built_here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let start =
        std::env::var_os("CARGO_MANIFEST_DIR").map_or(built_here.to_path_buf(), PathBuf::from);
    let root = start
        .ancestors()
        .find(|dir| dir.join("testkit/Cargo.toml").is_file());
    match root {
        Some(root) => root.to_path_buf(),
        None => built_here
            .parent()
            .expect("testkit is inside the workspace")
            .to_path_buf(),
    }
}

/// Whether the tests run under CI (env `CI` set, and not to `false` or `0`), where nothing may
/// be skipped.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| !value.is_empty() && value != "false" && value != "0")
}

/// Whether `test` can run: `Ok` runs it; an `Err(reason)` fails it under CI and otherwise
/// writes a `SKIPPED:` line past the test harness's capture (so it shows) and returns false,
/// for the test to return early.
pub fn runnable(test: &str, prerequisite: Result<(), String>) -> bool {
    match prerequisite {
        Ok(()) => true,
        Err(reason) => {
            assert!(!under_ci(), "{test} cannot run under CI: {reason}");
            let _ = writeln!(std::io::stderr(), "SKIPPED: {test}: {reason}");
            false
        }
    }
}

/// A go-ethereum tool (`devp2p`, `ethkey`, `geth`, `gethpeer`) that `scripts/test.sh` builds
/// into `.tools/bin`, pinned; a missing one fails the test with the command that builds it.
pub fn geth_tool(name: &str) -> PathBuf {
    let path = repo_root().join(".tools/bin").join(name);
    assert!(
        path.exists(),
        "go-ethereum tools are not built: run `bash scripts/install-geth-tools.sh` ({} missing)",
        path.display()
    );
    path
}
