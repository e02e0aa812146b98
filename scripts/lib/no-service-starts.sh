# Sourced by the Debian installers (scripts/nat-rig/install.sh, scripts/install-prometheus.sh,
# scripts/install-dns-tools.sh):
# a package's own service must not start on the host during an install, so a policy-rc.d that
# answers 101 is in place until the script exits (removed then, unless it was there before).
# Sets the script's EXIT trap.
forbid_service_starts() {
  created_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# installed by %s for the duration of an install\nexit 101\n' "$1" \
      >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
  fi
  trap '[ -z "$created_policy" ] || rm -f /usr/sbin/policy-rc.d' EXIT
}
