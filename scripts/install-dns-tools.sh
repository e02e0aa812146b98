#!/usr/bin/env bash
# Installs the DNS servers the DNS discovery tests and benchmark start on 127.0.0.1 with a port
# of their own to serve a node tree: dnsmasq (Debian's dnsmasq-base: the binary only, no
# service) for the tests, and nsd (an authoritative server that loads our zone files; its
# service is kept from starting) for the benchmark, whose lookups dnsmasq's linear record list
# would bound. Idempotent; not root: prints why and exits 0, and what needs them says so.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
DNSMASQ_VERSION="2.90-4~deb12u2"
NSD_VERSION="4.6.1-1"
installed() { [ "$(dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true)" = "$2" ]; }
if installed dnsmasq-base "$DNSMASQ_VERSION" && installed nsd "$NSD_VERSION"; then
  echo "dns tools: dnsmasq-base $DNSMASQ_VERSION and nsd $NSD_VERSION already installed"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "dns tools: not root, cannot install dnsmasq-base and nsd; the DNS server tests will fail"
  exit 0
fi
. "$(dirname "$0")/lib/no-service-starts.sh"
forbid_service_starts install-dns-tools.sh
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  "dnsmasq-base=$DNSMASQ_VERSION" "nsd=$NSD_VERSION" >/dev/null
echo "dns tools: installed dnsmasq-base $DNSMASQ_VERSION and nsd $NSD_VERSION"
