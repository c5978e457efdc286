#!/usr/bin/env bash
# Quick start: run the test suite (unit, command line, workflow end-to-end).
# Extra arguments go to pytest (e.g. -m 'not slow', -k stats, -x).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/env.sh
exec python -m pytest "$@"
