#!/usr/bin/env bash
# The whole test suite from a fresh machine: installs the Debian packages the tests start for real
# (mosquitto, influxdb, chromium and its driver), the venv, then lints (ruff) and runs pytest.
# Extra arguments go to pytest (e.g. scripts/test.sh -m "not browser").
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v influxd >/dev/null 2>&1 || missing+=(influxdb)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
scripts/venv.sh
.venv/bin/python -m ruff check --quiet .
exec .venv/bin/python -m pytest "$@"
