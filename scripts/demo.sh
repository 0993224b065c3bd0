#!/usr/bin/env bash
# The demo on the embedded default (in-process broker, SQLite store): sets up the venv once, then
# runs `vitals demo`. Extra arguments go to `vitals demo` (e.g. scripts/demo.sh --port 8060).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh
exec .venv/bin/vitals demo "$@"
