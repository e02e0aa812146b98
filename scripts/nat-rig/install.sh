#!/usr/bin/env bash
# Installs what the NAT rig test (cli/tests/nat_rig.rs) needs from Debian's packages: miniupnpd
# with its nftables backend (the router daemon), nftables (the router's NAT), iproute2 (namespaces
# and veth pairs), and miniupnpc / natpmpc (command-line clients the test uses for cross-checks
# and for a second LAN host's mapping).
#
# Idempotent and non-interactive: does nothing when everything is already there. The package's
# own service must not start in the host namespace (it would try to take over the machine's
# firewall and answer SSDP on the host's interfaces), so services are kept from starting with a
# policy-rc.d that answers 101 for the duration of the install, and debconf asks nothing.
#
# Not root: prints why and exits 0; the rig test then reports itself skipped (or fails under CI).
set -euo pipefail

needed() {
  command -v miniupnpd >/dev/null 2>&1 && [ -x /usr/sbin/miniupnpd ] || return 0
  command -v nft >/dev/null 2>&1 || return 0
  command -v ip >/dev/null 2>&1 || return 0
  command -v upnpc >/dev/null 2>&1 || return 0
  command -v natpmpc >/dev/null 2>&1 || return 0
  command -v python3 >/dev/null 2>&1 || return 0
  # The nftables flavour of the daemon, not the iptables one.
  dpkg-query -W -f='${Status}' miniupnpd-nftables 2>/dev/null | grep -q "install ok installed" || return 0
  return 1
}

export PATH="$PATH:/usr/sbin:/sbin"
if ! needed; then
  echo "nat-rig: miniupnpd, nftables, iproute2, miniupnpc and natpmpc already installed"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "nat-rig: not root, cannot install miniupnpd and nftables; the NAT rig test will be skipped"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# miniupnpd's debconf questions: never start it at boot.
if command -v debconf-set-selections >/dev/null 2>&1; then
  debconf-set-selections <<'EOF'
miniupnpd miniupnpd/start_daemon boolean false
miniupnpd miniupnpd/force_igd_desc_v1 boolean false
miniupnpd miniupnpd/ip6script boolean false
EOF
fi

. "$(dirname "$0")/../lib/no-service-starts.sh"
forbid_service_starts scripts/nat-rig/install.sh

apt_install() {
  apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    miniupnpd miniupnpd-nftables nftables iproute2 miniupnpc natpmpc python3
}
echo "nat-rig: installing miniupnpd, nftables, iproute2, miniupnpc and natpmpc"
if ! apt_install >/tmp/nat-rig-apt.log 2>&1; then
  apt-get update -q >>/tmp/nat-rig-apt.log 2>&1
  if ! apt_install >>/tmp/nat-rig-apt.log 2>&1; then
    tail -n 30 /tmp/nat-rig-apt.log
    echo "nat-rig: apt-get install failed (log above)" >&2
    exit 1
  fi
fi

# Should a service manager have started the daemon anyway, stop it: the rig runs its own
# instances inside namespaces, and one in the host namespace would touch the host's firewall.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl disable --now miniupnpd >/dev/null 2>&1 || true
fi
echo "nat-rig: $(/usr/sbin/miniupnpd --version 2>&1 | head -n 1)"
