#!/usr/bin/env bash
# End-to-end test on a real SLURM: bring up a single-node cluster, run the demo workflow once on
# this machine and once through `microbiome run --profile slurm` (config/profiles/slurm, plus
# CI-only overrides: partition, account, a short first status check), check that SLURM ran the
# jobs and that both runs give the same results and logs, and stop exactly the daemons started.
#
#   bash .ci/slurm/install.sh && bash .ci/slurm/e2e.sh [WORKDIR]      (as root; `microbiome` on PATH)
#
# Env: SLURM_E2E_TIMEOUT (seconds for the SLURM run, default 600); LOCAL_RUN: the folder of a
# finished local run made by that same command (`microbiome run --config config/config.yaml
# --samples config/samples.tsv -d LOCAL_RUN`, from the repository) to compare with, instead of
# making one (the test suite shares one demo run among its tests).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
if [[ -n ${1:-} ]]; then mkdir -p "$1" && WORK=$(cd "$1" && pwd); else
  WORK=$(mktemp -d /tmp/microbiome-slurm-e2e.XXXXXX); fi
cd "$ROOT"  # the config's relative paths (test_data/...) are relative to the repository
export PIDFILE_DIR="$WORK/pids"
export PATH="$PATH:/usr/sbin:/sbin"
command -v microbiome >/dev/null || { echo "slurm-e2e: microbiome is not on PATH" >&2; exit 2; }

start=$(date +%s)
trap 'bash "$HERE/down.sh"' EXIT
# 8 CPUs on a 2-core machine: the demo's jobs are small and spend most of their time starting
# and being polled, so SLURM runs them side by side (each still gets the CPUs it asks for).
CPUS=${CPUS:-8} bash "$HERE/up.sh"
t_up=$(date +%s)

inputs=(--config "$ROOT/config/config.yaml" --samples "$ROOT/config/samples.tsv")
LOCAL=${LOCAL_RUN:-$WORK/local}
if [[ -z ${LOCAL_RUN:-} ]]; then
  microbiome -q run "${inputs[@]}" -d "$LOCAL" --cores 2 >"$WORK/local.log" 2>&1 \
    || { tail -n 30 "$WORK/local.log" >&2; echo "slurm-e2e: the local run failed" >&2; exit 1; }
fi
t_local=$(date +%s)

submitted=$(date +%Y-%m-%dT%H:%M:%S)
# SIGINT, not SIGTERM, on timeout: Snakemake then cancels its SLURM jobs and stops (SLURM.md).
if ! timeout -s INT -k 60 "${SLURM_E2E_TIMEOUT:-600}" \
  microbiome run "${inputs[@]}" -d "$WORK/slurm" --profile slurm --partition debug --account root \
  -- --slurm-init-seconds-before-status-checks 5 >"$WORK/slurm.log" 2>&1; then
  tail -n 40 "$WORK/slurm.log" >&2
  echo "slurm-e2e: the SLURM run failed; slurmctld log: /var/log/slurm/slurmctld.log" >&2
  exit 1
fi
t_slurm=$(date +%s)

# Every per-sample job ran as a SLURM job and got what config/config.yaml asks for: threads
# (stats.threads: 2 CPUs), memory (stats.mem_mb: 1000 MB) and time (stats.runtime: 60 minutes,
# plus runtime_per_gb for a few MB of reads).
jobs=$(sacct -X -n -P -S "$submitted" -o State,AllocCPUS,ReqMem,Timelimit)
completed=$(grep -c '^COMPLETED|2|1000M|01:00:00$' <<<"$jobs" || true)
samples=$(grep -cv '^sample_id' "$ROOT/config/samples.tsv")
if (( completed != samples )); then
  echo "slurm-e2e: expected $samples completed jobs with 2 CPUs, 1000M, 01:00:00; sacct shows:" >&2
  echo "$jobs" >&2
  exit 1
fi
# Same outputs, byte for byte, and logs as on this machine (timings differ, of course).
diff -r --exclude=benchmarks "$LOCAL/results" "$WORK/slurm/results"
diff -r "$LOCAL/resources" "$WORK/slurm/resources"
diff -r "$LOCAL/logs" "$WORK/slurm/logs"
echo "slurm-e2e: OK: $completed SLURM jobs; results equal the local run's;" \
  "up $((t_up - start)) s, local run $((t_local - t_up)) s, SLURM run $((t_slurm - t_local)) s" >&2
