#!/bin/sh
# Install the Debian packages that provide prometheus/promtool and
# prometheus-alertmanager/amtool, when any of the binaries is missing, and chromium
# (the report tests lay the HTML report out in it) when it is missing.
# The packages' services are not started: `opslens up` and the tests run their own
# processes on loopback, and a packaged Prometheus on :9090 would be in their way.
set -eu

missing=""
packages=""
for bin in prometheus promtool prometheus-alertmanager amtool; do
    command -v "$bin" >/dev/null 2>&1 || missing="$missing $bin"
done
[ -n "$missing" ] && packages=" prometheus prometheus-alertmanager"
if ! command -v chromium >/dev/null 2>&1; then
    missing="$missing chromium"
    packages="$packages chromium"
fi
[ -z "$missing" ] && exit 0

echo "installing Debian packages$packages (missing:$missing)"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

policy=/usr/sbin/policy-rc.d
made_policy=""
if [ ! -e "$policy" ]; then
    # Debian's documented switch for "install, but do not start services".
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    made_policy=1
fi
cleanup() { if [ -n "$made_policy" ]; then $SUDO rm -f "$policy"; fi; }
trap cleanup EXIT

# Wait for another apt run (unattended upgrades, a parallel job) instead of failing.
APT_WAIT="-o DPkg::Lock::Timeout=600"
$SUDO apt-get $APT_WAIT update -qq
# $packages is a plain word list: split on purpose.
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get $APT_WAIT install -y -qq --no-install-recommends \
    $packages >/dev/null
