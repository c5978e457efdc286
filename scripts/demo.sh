#!/usr/bin/env bash
# Quick start: run the whole workflow on the bundled test_data/ and write results/.
# Extra arguments go to snakemake (e.g. --dry-run, --cores 1, --forceall).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/env.sh
snakemake --cores "${CORES:-2}" "$@"
echo "microbiome: results in $(pwd)/results, logs in $(pwd)/logs" >&2
