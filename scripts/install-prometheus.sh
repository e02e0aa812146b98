#!/usr/bin/env bash
# Installs Debian's Prometheus, pinned, for cli/tests/metrics.rs (the test starts its own
# instance on 127.0.0.1 with a scrape config pointing at a node). The package's service must not
# start: a policy-rc.d answering 101 keeps it down for the duration of the install.
#
# Idempotent; not root or not Debian: prints why and exits 0, and the test reports itself
# skipped (or fails under CI).
set -euo pipefail

VERSION="2.42.0+ds-5+deb12u1"
if [ "$(dpkg-query -W -f='${Version}' prometheus 2>/dev/null || true)" = "$VERSION" ]; then
  echo "prometheus: $VERSION already installed"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "prometheus: cannot install (not root or no apt-get); the Prometheus test will be skipped"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
. "$(dirname "$0")/lib/no-service-starts.sh"
forbid_service_starts scripts/install-prometheus.sh
install() {
  apt-get install -y -q --no-install-recommends "prometheus=$VERSION"
}
if ! install >/tmp/prometheus-apt.log 2>&1; then
  apt-get update -q >>/tmp/prometheus-apt.log 2>&1
  install >>/tmp/prometheus-apt.log 2>&1 || { tail -n 30 /tmp/prometheus-apt.log; exit 1; }
fi
# Should a service manager have started it anyway, stop it: the test runs its own instance.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
echo "prometheus: $(prometheus --version 2>&1 | head -n 1)"
