#!/usr/bin/env bash
# A home router in network namespaces, for testing port mapping against a real router daemon
# (miniupnpd) with nftables NAT. Used by cli/tests/nat_rig.rs; usable by hand too (as root):
#
#   rig.sh up NAME                  create NAME-wan, NAME-rtr, NAME-lan, NAME-lan2 and the links
#   rig.sh conf NAME DIR UPNP PMP [IGDV1]
#                                   write DIR/miniupnpd.conf (UPNP, PMP, IGDV1: yes or no; IGDV1
#                                   makes miniupnpd describe itself as an IGDv1, default no)
#   rig.sh stun NAME                run the STUN responder in NAME-wan (foreground)
#   rig.sh router NAME DIR          run miniupnpd in NAME-rtr (foreground, logs to stderr)
#   rig.sh reboot-state NAME DIR    what a router reboot loses: the NAT rules and the lease file
#   rig.sh rules NAME               miniupnpd's forwarding rules (empty: no mapping)
#   rig.sh down NAME                stop what runs in the namespaces and delete them
#
# Topology (every address exists only inside these namespaces; nothing touches the host's):
#
#   NAME-wan  eth0 203.0.113.2/24 + 203.0.113.3/24 (the "internet": STUN, the remote peer)
#       |
#   NAME-rtr  r-wan 203.0.113.1/24, br-lan 192.168.77.1/24 (bridge of r-lan, r-lan2), forwarding
#       |                                    |
#   NAME-lan  eth0 192.168.77.2/24     NAME-lan2  eth0 192.168.77.3/24 (a second LAN host)
#             default via .1                      default via .1
#
# The WAN side has no route to the LAN: only mapped ports reach it.
#
# By hand, e.g.:
#   rig.sh up t1 && rig.sh conf t1 /tmp/t1 yes yes
#   rig.sh stun t1 & rig.sh router t1 /tmp/t1 2>/tmp/t1/miniupnpd.log &
#   ip netns exec t1-lan ethp2p nat probe
#   rig.sh down t1
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
export PATH="$PATH:/usr/sbin:/sbin"

WAN_IP=203.0.113.2
WAN_IP2=203.0.113.3
ROUTER_WAN_IP=203.0.113.1
ROUTER_LAN_IP=192.168.77.1
LAN_IP=192.168.77.2
LAN2_IP=192.168.77.3

die() {
  echo "rig.sh: $*" >&2
  exit 1
}

ns() { echo "$1-$2"; }

up() {
  local name=$1
  local wan rtr lan lan2
  wan=$(ns "$name" wan) rtr=$(ns "$name" rtr) lan=$(ns "$name" lan) lan2=$(ns "$name" lan2)
  for n in "$wan" "$rtr" "$lan" "$lan2"; do
    ip netns add "$n"
    ip -n "$n" link set lo up
  done
  # veth pairs created inside the router namespace, the far end moved straight into its peer.
  ip -n "$rtr" link add r-wan type veth peer name eth0 netns "$wan"
  ip -n "$rtr" link add r-lan type veth peer name eth0 netns "$lan"
  ip -n "$rtr" link add r-lan2 type veth peer name eth0 netns "$lan2"
  ip -n "$rtr" link add br-lan type bridge
  ip -n "$rtr" link set r-lan master br-lan
  ip -n "$rtr" link set r-lan2 master br-lan

  ip -n "$wan" addr add "$WAN_IP/24" dev eth0
  ip -n "$wan" addr add "$WAN_IP2/24" dev eth0
  ip -n "$rtr" addr add "$ROUTER_WAN_IP/24" dev r-wan
  ip -n "$rtr" addr add "$ROUTER_LAN_IP/24" dev br-lan
  ip -n "$lan" addr add "$LAN_IP/24" dev eth0
  ip -n "$lan2" addr add "$LAN2_IP/24" dev eth0
  for link in r-wan r-lan r-lan2 br-lan; do ip -n "$rtr" link set "$link" up; done
  for n in "$wan" "$lan" "$lan2"; do ip -n "$n" link set eth0 up; done
  ip -n "$lan" route add default via "$ROUTER_LAN_IP"
  ip -n "$lan2" route add default via "$ROUTER_LAN_IP"
  ip netns exec "$rtr" sysctl -q -w net.ipv4.ip_forward=1
  ip netns exec "$rtr" nft -f "$HERE/router.nft"
}

conf() {
  local name=$1 dir=$2 upnp=$3 pmp=$4 igd_v1=${5:-no}
  mkdir -p "$dir"
  local uuid
  uuid=$(cat /proc/sys/kernel/random/uuid)
  cat >"$dir/miniupnpd.conf" <<EOF
# Written by scripts/nat-rig/rig.sh for rig $name.
ext_ifname=r-wan
listening_ip=br-lan
http_port=5000
enable_upnp=$upnp
enable_natpmp=$pmp
force_igd_desc_v1=$igd_v1
secure_mode=yes
system_uptime=no
# The rig's external address is in a documentation range, which miniupnpd treats as reserved
# and would refuse to forward from; a STUN test showing an unrestricted NAT lifts that.
ext_perform_stun=yes
ext_stun_host=$WAN_IP
ext_stun_port=3478
upnp_table_name=filter
upnp_nat_table_name=filter
upnp_forward_chain=miniupnpd
upnp_nat_chain=prerouting_miniupnpd
upnp_nat_postrouting_chain=postrouting_miniupnpd
lease_file=$dir/upnp.leases
min_lifetime=60
max_lifetime=86400
uuid=$uuid
allow 1024-65535 192.168.77.0/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
EOF
  echo "$dir/miniupnpd.conf"
}

stun() {
  exec ip netns exec "$(ns "$1" wan)" python3 -u "$HERE/stun.py" "$WAN_IP" "$WAN_IP2" 3478 3479
}

router() {
  local name=$1 dir=$2
  # A stale pidfile naming a live (or zombie) process would make miniupnpd refuse to start.
  rm -f "$dir/miniupnpd.pid"
  exec ip netns exec "$(ns "$name" rtr)" miniupnpd -d -f "$dir/miniupnpd.conf" -P "$dir/miniupnpd.pid"
}

reboot_state() {
  local name=$1 dir=$2
  ip netns exec "$(ns "$name" rtr)" nft -f "$HERE/router.nft"
  rm -f "$dir/upnp.leases"
}

rules() {
  local rtr
  rtr=$(ns "$1" rtr)
  ip netns exec "$rtr" nft list chain inet filter prerouting_miniupnpd | grep -E "dnat|redirect" || true
  ip netns exec "$rtr" nft list chain inet filter miniupnpd | grep -E "accept" || true
}

alive() {
  # A zombie is dead for our purposes: it only waits to be reaped.
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

down() {
  local name=$1 n pids pid
  for suffix in lan lan2 wan rtr; do
    n=$(ns "$name" "$suffix")
    ip netns list | awk '{print $1}' | grep -qx "$n" || continue
    pids=$(ip netns pids "$n" 2>/dev/null || true)
    for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in $(seq 1 40); do
      local any=""
      for pid in $pids; do if alive "$pid"; then any=1; fi; done
      [ -z "$any" ] && break
      sleep 0.05
    done
    for pid in $pids; do if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi; done
    ip netns del "$n" 2>/dev/null || true
  done
}

[ $# -ge 2 ] || die "usage: rig.sh up|conf|stun|router|reboot-state|rules|down NAME [...]"
command=$1
shift
case "$command" in
  up) up "$@" ;;
  conf) [ $# -eq 4 ] || [ $# -eq 5 ] || die "usage: rig.sh conf NAME DIR UPNP PMP [IGDV1]"; conf "$@" ;;
  stun) stun "$@" ;;
  router) [ $# -eq 2 ] || die "usage: rig.sh router NAME DIR"; router "$@" ;;
  reboot-state) [ $# -eq 2 ] || die "usage: rig.sh reboot-state NAME DIR"; reboot_state "$@" ;;
  rules) rules "$@" ;;
  down) down "$@" ;;
  *) die "unknown command $command" ;;
esac
