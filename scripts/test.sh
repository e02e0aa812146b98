#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs what the tests need (pinned),
# then unit, vector, round-trip and interop tests, then a short smoke run of every fuzz target.
#
#   FUZZ_SECONDS=N   seconds per fuzz target in the smoke run (default 20; 0 skips fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== installing the ethereumjs interop peer (pinned in its package-lock.json)"
(cd tests/interop/ethereumjs && npm ci --no-audit --no-fund --loglevel=error)

echo "== installing the ChainSafe discv5 interop peer (pinned in its package-lock.json)"
(cd tests/interop/chainsafe && npm ci --no-audit --no-fund --loglevel=error)

echo "== building the go-ethereum interop tools (pinned in tests/interop/geth/go.mod)"
bash scripts/install-geth-tools.sh

bash scripts/install-dns-tools.sh # dnsmasq for the DNS discovery tests (Debian)
bash scripts/nat-rig/install.sh # miniupnpd, nftables, ... for cli/tests/nat_rig.rs (Debian)
bash scripts/install-prometheus.sh # Debian prometheus, pinned, for cli/tests/metrics.rs

echo "== cargo test"
cargo test --workspace --all-targets
cargo test --workspace --doc

if [ "${FUZZ_SECONDS:-20}" != 0 ]; then
  echo "== fuzz smoke run"
  bash scripts/fuzz-smoke.sh "${FUZZ_SECONDS:-20}"
fi
echo "== all tests passed"
