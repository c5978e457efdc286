#!/usr/bin/env bash
# Bring up a single-node SLURM cluster (munged, mariadbd, slurmdbd, slurmctld, slurmd) without
# systemd or cgroups, as root. Records the PID of every daemon it starts in $PIDFILE_DIR, so that
# down.sh stops exactly those. Recipe and pitfalls: shared/design/SLURM.md.
# Env: CPUS (default nproc; more than nproc overcommits the node, so that small jobs that mostly
#      wait run side by side), MEM_MB (default 8000), PARTITION (default debug),
#      PIDFILE_DIR (default /tmp/microbiome-slurm-ci).
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
CPUS=${CPUS:-$(nproc)}
MEM_MB=${MEM_MB:-8000}
PARTITION=${PARTITION:-debug}
PIDS=${PIDFILE_DIR:-/tmp/microbiome-slurm-ci}
HOST=$(hostname -s)
MARK="# Written by microbiome .ci/slurm/up.sh for a throwaway single-node test cluster."

die() { echo "slurm-up: $*" >&2; exit 1; }
wait_for() { # wait_for <seconds> <cmd...>
  local t=$1; shift
  for _ in $(seq 1 $((t * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  die "timed out after ${t}s waiting for: $*"
}

[[ $(id -u) == 0 ]] || die "must run as root"
# Never take over a SLURM or munge that someone else runs on this machine.
for daemon in slurmctld slurmd slurmdbd munged; do
  ! pgrep -x "$daemon" >/dev/null || die "$daemon is already running; not starting a second one"
done
if [[ -e /etc/slurm/slurm.conf ]] && ! grep -qxF "$MARK" /etc/slurm/slurm.conf; then
  die "/etc/slurm/slurm.conf exists and was not written by this script; not overwriting it"
fi
mkdir -p "$PIDS"

# --- munge ----------------------------------------------------------------------------------
[[ -s /etc/munge/munge.key ]] || mungekey --create --force 2>/dev/null \
  || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
chown munge:munge /etc/munge/munge.key
chmod 400 /etc/munge/munge.key
install -d -o munge -g munge -m 755 /run/munge
install -d -o munge -g munge -m 700 /var/log/munge /var/lib/munge
rm -f /run/munge/munged.pid
runuser -u munge -- munged
wait_for 10 test -s /run/munge/munged.pid
cp /run/munge/munged.pid "$PIDS/munged.pid"
wait_for 10 test -S /run/munge/munge.socket.2
munge -n | unmunge >/dev/null

# --- slurm.conf -----------------------------------------------------------------------------
install -d -o slurm -g slurm /var/spool/slurmctld /var/log/slurm /run/slurm
install -d /var/spool/slurmd
cat > /etc/slurm/slurm.conf <<CONF
$MARK
ClusterName=ci
SlurmctldHost=localhost
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
ReturnToService=2
MpiDefault=none
# no cgroups, no systemd
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
JobCompType=jobcomp/none
# finished jobs stay visible to squeue for 10 min (the plugin's squeue status mode needs it)
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
Waittime=0
# the node's CPUs are the ones configured here, even when CPUS is more than the machine has
SlurmdParameters=config_overrides
NodeName=localhost NodeHostname=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=$PARTITION Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF

# --- accounting: mariadb + slurmdbd ---------------------------------------------------------
install -d -o mysql -g mysql /run/mysqld
mariadbd --user=mysql --bind-address=127.0.0.1 >/var/log/slurm/mariadb.log 2>&1 </dev/null &
echo $! > "$PIDS/mariadbd.pid"
wait_for 30 mariadb-admin ping
mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmpw';
            CREATE DATABASE IF NOT EXISTS slurm_acct_db;
            GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
cat > /etc/slurm/slurmdbd.conf <<CONF
$MARK
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=slurm
PidFile=/run/slurm/slurmdbd.pid
LogFile=/var/log/slurm/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurmpw
StorageLoc=slurm_acct_db
CONF
chown slurm:slurm /etc/slurm/slurmdbd.conf
chmod 600 /etc/slurm/slurmdbd.conf
rm -f /run/slurm/slurmdbd.pid /run/slurm/slurmctld.pid /run/slurm/slurmd.pid
slurmdbd
wait_for 30 test -s /run/slurm/slurmdbd.pid
cp /run/slurm/slurmdbd.pid "$PIDS/slurmdbd.pid"
wait_for 60 bash -c 'exec 3<>/dev/tcp/127.0.0.1/6819'

# --- slurmctld + slurmd ---------------------------------------------------------------------
slurmctld
wait_for 30 test -s /run/slurm/slurmctld.pid
cp /run/slurm/slurmctld.pid "$PIDS/slurmctld.pid"
wait_for 30 scontrol ping
slurmd -N localhost
wait_for 30 test -s /run/slurm/slurmd.pid
cp /run/slurm/slurmd.pid "$PIDS/slurmd.pid"
wait_for 60 bash -c "sinfo -h -n localhost -o %t | grep -qx idle"
wait_for 60 bash -c "sacctmgr -n list cluster format=cluster | grep -qw ci"
echo "slurm-up: single-node cluster 'ci' up (partition $PARTITION, $CPUS CPUs, $MEM_MB MB);" \
  "PIDs in $PIDS" >&2
