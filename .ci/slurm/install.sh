#!/usr/bin/env bash
# Install a single-node SLURM from Debian's packages (as root), for the SLURM end-to-end test:
# slurmctld, slurmd, the client tools and munge, plus slurmdbd and MariaDB so that `sacct` works
# and the executor plugin runs its default code path, as on a real cluster.
# Does nothing when they are installed already. Recipe: shared/design/SLURM.md.
set -euo pipefail
missing=()
for cmd in slurmctld slurmd sbatch munged slurmdbd mariadbd; do
  command -v "$cmd" >/dev/null || PATH="$PATH:/usr/sbin" command -v "$cmd" >/dev/null || missing+=("$cmd")
done
(( ${#missing[@]} )) || exit 0
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
# --no-install-recommends: the slurm-wlm meta package would pull in 43 packages none of us need.
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
  slurmctld slurmd slurm-client munge slurmdbd mariadb-server >/dev/null
