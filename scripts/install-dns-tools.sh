#!/usr/bin/env bash
# Installs dnsmasq (Debian's dnsmasq-base: the binary only, no service) for the DNS discovery
# tests, which start it on 127.0.0.1 with a port of their own to serve a node tree.
# Idempotent; not root: prints why and exits 0, and the tests that need it fail saying so.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
DNSMASQ_VERSION="2.90-4~deb12u2"
if [ "$(dpkg-query -W -f='${Version}' dnsmasq-base 2>/dev/null || true)" = "$DNSMASQ_VERSION" ]; then
  echo "dns tools: dnsmasq-base $DNSMASQ_VERSION already installed"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "dns tools: not root, cannot install dnsmasq-base; the DNS server tests will fail"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "dnsmasq-base=$DNSMASQ_VERSION" >/dev/null
echo "dns tools: installed dnsmasq-base $DNSMASQ_VERSION"
