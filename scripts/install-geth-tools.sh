#!/usr/bin/env bash
# Builds the go-ethereum interop tools into .tools/bin (gitignored). Idempotent.
#
#   .tools/bin/gethpeer  our test peer, from tests/interop/geth (go-ethereum pinned in its go.mod)
#   .tools/bin/devp2p    go-ethereum's devp2p tool, same go-ethereum release
#   .tools/bin/ethkey    go-ethereum's keystore tool (the DNS interop test signs with it)
#   .tools/bin/geth      go-ethereum itself; the control API test drives our node with `geth attach`
#
# Needs Go >= 1.24 (on PATH, or in /usr/local/go/bin) and the Go module proxy. The first
# run compiles go-ethereum and takes minutes on a small machine; later runs reuse Go's
# build cache. An existing GOMODCACHE / GOCACHE / GOPROXY is respected.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bin="$root/.tools/bin"
moddir="$root/tests/interop/geth"

if ! command -v go >/dev/null 2>&1; then
  if [ -x /usr/local/go/bin/go ]; then
    export PATH="$PATH:/usr/local/go/bin"
  else
    echo "install-geth-tools: Go not found (need go >= 1.24)" >&2
    exit 1
  fi
fi

# The one place the go-ethereum version is written down is tests/interop/geth/go.mod.
geth_version=$(cd "$moddir" && go list -m -f '{{.Version}}' github.com/ethereum/go-ethereum)
case "$geth_version" in
  v[0-9]*) ;;
  *) echo "install-geth-tools: could not read the go-ethereum version from $moddir/go.mod" >&2; exit 1 ;;
esac

mkdir -p "$bin"
echo "== $(go version); go-ethereum $geth_version"

echo "== building gethpeer"
(cd "$moddir" && go build -trimpath -o "$bin/gethpeer.tmp" . && mv -f "$bin/gethpeer.tmp" "$bin/gethpeer")

# go install relinks every time; skip it when the binary already has the pinned version.
built_version() { go version -m "$1" 2>/dev/null | awk '$1 == "mod" && $2 == "github.com/ethereum/go-ethereum" { print $3 }'; }
# devp2p: the discovery suites and `dns sign/to-txt/sync`; ethkey: the keystore `dns sign` reads;
# geth: its console (`geth attach`) is the client of our JSON-RPC control socket.
for tool in devp2p ethkey geth; do
  if [ -x "$bin/$tool" ] && [ "$(built_version "$bin/$tool")" = "$geth_version" ]; then
    echo "== $tool $geth_version already installed"
  else
    echo "== installing $tool $geth_version"
    # Run outside our module so its go.mod does not get in the way of "go install pkg@version".
    (cd "$root/.tools" && GOBIN="$bin" go install -trimpath "github.com/ethereum/go-ethereum/cmd/$tool@$geth_version")
  fi
done

echo "== installed"
echo "gethpeer: $("$bin/gethpeer" version)"
echo "devp2p:   $(built_version "$bin/devp2p") ($("$bin/devp2p" --version 2>/dev/null | head -n1 || true))"
echo "geth:     $(built_version "$bin/geth")"
