#!/usr/bin/env bash
# Stop exactly the daemons that up.sh started (by their recorded PIDs), in reverse order.
# Safe to run twice, or after a partial up.sh.
PIDS=${PIDFILE_DIR:-/tmp/microbiome-slurm-ci}
for daemon in slurmd slurmctld slurmdbd mariadbd munged; do
  file="$PIDS/$daemon.pid"
  [[ -s $file ]] || continue
  pid=$(cat "$file")
  # Only if that PID is still the daemon we started (not a reused PID of something else).
  if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$daemon" ]] && kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null; fi
    echo "slurm-down: stopped $daemon ($pid)" >&2
  fi
  rm -f "$file"
done
# Remove the configs up.sh wrote (recognised by its mark), leaving the machine as it found it.
# This matters beyond tidiness: with a slurm.conf naming a controller that is gone, every
# `scontrol` call, and so every start of Snakemake with the SLURM plugin installed (which asks
# `scontrol show config` at import), waits 9 s for it.
MARK="# Written by microbiome .ci/slurm/up.sh for a throwaway single-node test cluster."
for conf in /etc/slurm/slurm.conf /etc/slurm/slurmdbd.conf; do
  if [[ -f $conf ]] && grep -qxF "$MARK" "$conf"; then rm -f "$conf"; fi
done
exit 0
