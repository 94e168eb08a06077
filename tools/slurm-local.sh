#!/bin/sh
# slurm-local.sh — a private single-node Slurm cluster on this machine, for testing
# `bench-all --backend slurm` (tests/slurm-test.sh) without touching /etc or systemd.
#
#   sh tools/slurm-local.sh up DIR     start munged, slurmctld and slurmd; every file they
#                                      use (config, key, sockets, state, spool, pids, logs)
#                                      lives under DIR; returns when the node is idle
#   sh tools/slurm-local.sh down DIR   cancel every job, stop the daemons (munged last) and
#                                      make sure no process of this cluster is left
#   sh tools/slurm-local.sh env DIR    print `export SLURM_CONF=DIR/slurm.conf`: the client
#                                      commands (sbatch, squeue, scancel ...) need it, e.g.
#                                      eval "$(sh tools/slurm-local.sh env DIR)"
#
# Needs root and the Debian packages slurmctld slurmd slurm-client munge
# (sh tools/install-deps.sh --slurm).  Use a short DIR (mktemp -d /tmp/bhs.XXXXXX): munged's
# socket DIR/munge/munge.socket must be shorter than 108 bytes.
# Environment: SLURM_CTLD_PORT (default 6817) and SLURM_D_PORT (6818), the ports of slurmctld
# and slurmd: give two clusters on one machine different ones; SLURM_UP_TIMEOUT (seconds the
# node has to become idle, default 30).
# Exit status: 0 done, 1 the cluster cannot be started here (the reason on one line, then the
# end of the daemon's log) or stopped, 2 a usage error.
#
# The set-up, and why (Slurm 22.05, Debian 12, no systemd, containers):
# - munged runs with its own socket, key, pid, seed and log under DIR/munge; slurm.conf points
#   to its socket (AuthInfo=socket=...).  munged wants the socket's folder o+x (chmod 711; as
#   root --force accepts the folders above it) and a key that only its owner reads.
# - the node is NodeName=localhost NodeAddr=127.0.0.1 with the hardware line `slurmd -C`
#   prints, so that it is never drained for "Low socket*core*thread count" or "Low RealMemory".
# - proctrack/linuxproc and task/none: no cgroups, which containers seldom let us have.
# - select/cons_tres with CR_Core: one job per core, so array elements run side by side.
# - no accounting (no slurmdbd: sacct does not work); jobcomp/filetxt records every finished
#   job (JobState, ExitCode) in DIR/log/jobcomp.txt instead.
# - slurmctld daemonizes and exits 0 even when it then dies (a port in use): liveness is
#   checked through the pid files while waiting for the node.
# - jobs are cancelled before the daemons stop, so no slurmstepd or job process is orphaned.
set -u
me=slurm-local

usage() { sed -n '2,12s/^# \{0,1\}//p' "$0"; }
err() { echo "$me: $*" >&2; }
die() { err "$*"; exit 1; }

# ---- arguments
[ $# -ge 1 ] || { usage >&2; exit 2; }
case $1 in
  --help|-h) usage; exit 0 ;;
  up|down|env) cmd=$1 ;;
  *) err "$1: unknown command (up, down, env)"; exit 2 ;;
esac
[ $# -eq 2 ] && [ -n "$2" ] || { err "usage: $0 $cmd DIR"; exit 2; }
arg=$2

ctld_port=${SLURM_CTLD_PORT:-6817}
d_port=${SLURM_D_PORT:-6818}
timeout=${SLURM_UP_TIMEOUT:-30}
for v in "SLURM_CTLD_PORT=$ctld_port" "SLURM_D_PORT=$d_port" "SLURM_UP_TIMEOUT=$timeout"; do
  case ${v#*=} in
    ''|*[!0-9]*|0*) err "${v%%=*}: expected a positive integer, got '${v#*=}'"; exit 2 ;;
  esac
done
[ "$ctld_port" -le 65535 ] && [ "$d_port" -le 65535 ] || { err "ports must be <= 65535"; exit 2; }
[ "$ctld_port" -ne "$d_port" ] || { err "SLURM_CTLD_PORT and SLURM_D_PORT must differ"; exit 2; }

NODE=localhost
PARTITION=debug

# ---- helpers

# pid_of FILE: the pid written in FILE when that process is alive, else nothing (status 1)
pid_of() {
  [ -f "$1" ] || return 1
  p=$(cat "$1" 2>/dev/null) || return 1
  case $p in ''|*[!0-9]*) return 1 ;; esac
  alive "$p" || return 1
  echo "$p"
}

# port_in_use PORT: some socket listens on TCP PORT (IPv4 or IPv6), from /proc/net/tcp*
port_in_use() {
  hex=$(printf '%04X' "$1")
  cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
    awk -v h=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == h { f = 1 } END { exit !f }'
}

# tail_logs FILE...: the end of each existing log, to stderr
tail_logs() {
  for f in "$@"; do
    [ -s "$f" ] || continue
    echo "--- the end of $f:" >&2
    tail -n 15 "$f" >&2
  done
}

# cluster_procs: the pids of the live processes of this cluster: its daemons (munged with
# DIR in its command line; slurmctld, slurmscriptd, slurmd and slurmstepd, which work in
# DIR/log), and every descendant of those (job scripts and what they started).  Other
# clusters on the machine (another DIR) are not touched.
cluster_procs() {
  ps -eo pid=,ppid=,comm= 2>/dev/null >"$DIR/run/ps.txt" || return 0
  roots=""
  while read -r p _ comm; do
    case $comm in
      munged)
        tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -Fq -- "$DIR/munge/munge.socket" &&
          roots="$roots $p" ;;
      slurmctld|slurmscriptd|slurmd|slurmstepd)
        case $(readlink "/proc/$p/cwd" 2>/dev/null) in
          "$DIR"|"$DIR"/*) roots="$roots $p" ;;
        esac ;;
    esac
  done <"$DIR/run/ps.txt"
  # the descendants, one generation per pass
  awk -v roots="$roots" '
    { pid[NR] = $1; ppid[NR] = $2 }
    END {
      n = split(roots, r, " "); for (i = 1; i <= n; i++) in_set[r[i]] = 1
      do {
        added = 0
        for (i = 1; i <= NR; i++)
          if (!(pid[i] in in_set) && (ppid[i] in in_set)) { in_set[pid[i]] = 1; added = 1 }
      } while (added)
      for (p in in_set) print p
    }' "$DIR/run/ps.txt"
  rm -f "$DIR/run/ps.txt"
}

# alive PID: the process runs (a zombie, which only its parent can reap, counts as ended)
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
  case $st in Z*|X*|"") return 1 ;; esac
}

# wait_gone SECONDS PID...: wait until every PID has ended; SIGKILL what is left after that
wait_gone() {
  n=$(($1 * 10)); shift
  while :; do
    alive=""
    for p in "$@"; do alive "$p" && alive="$alive $p"; done
    [ -n "$alive" ] || return 0
    [ "$n" -gt 0 ] || break
    sleep 0.1; n=$((n - 1))
  done
  err "still alive after the wait, SIGKILL:$alive"
  # shellcheck disable=SC2086
  kill -9 $alive 2>/dev/null
  return 0
}

# ---- env
if [ "$cmd" = env ]; then
  DIR=$(cd "$arg" 2>/dev/null && pwd -P) || die "$arg: no such folder"
  case $DIR in
    *[!A-Za-z0-9._/+,@=-]*) printf "export SLURM_CONF='%s/slurm.conf'\n" "$DIR" ;;
    *) printf 'export SLURM_CONF=%s/slurm.conf\n' "$DIR" ;;
  esac
  exit 0
fi

# ---- down: cancel, stop slurmctld and slurmd, then munged; nothing of DIR left running
if [ "$cmd" = down ]; then
  DIR=$(cd "$arg" 2>/dev/null && pwd -P) || { err "$arg: no such folder; nothing to stop"; exit 0; }
  export SLURM_CONF="$DIR/slurm.conf"
  CTLD=$(pid_of "$DIR/run/slurmctld.pid") || CTLD=""
  SLURMD=$(pid_of "$DIR/run/slurmd.pid") || SLURMD=""
  MUNGED=$(pid_of "$DIR/munge/munged.pid") || MUNGED=""

  # 1. every job cancelled, so that slurmstepd and the job processes end (KillWait=5)
  if [ -n "$CTLD" ] && [ -n "$MUNGED" ]; then
    scancel --partition="$PARTITION" >/dev/null 2>&1
    n=100
    while [ $n -gt 0 ] && [ -n "$(squeue -h -o %i 2>/dev/null)" ]; do
      sleep 0.1; n=$((n - 1))
    done
  fi
  # 2. slurmctld and slurmd: "scontrol shutdown" stops both; SIGTERM when it cannot (slurmctld
  #    or munged gone already)
  if [ -n "$CTLD$SLURMD" ]; then
    if ! { [ -n "$CTLD" ] && [ -n "$MUNGED" ] && scontrol shutdown >/dev/null 2>&1; }; then
      # shellcheck disable=SC2086
      kill $CTLD $SLURMD 2>/dev/null
    fi
    # shellcheck disable=SC2086
    wait_gone 10 $CTLD $SLURMD
  fi
  # 3. munged last: Slurm authenticates through it to the end
  if [ -n "$MUNGED" ]; then
    munged -S "$DIR/munge/munge.socket" --stop >/dev/null 2>&1 || kill "$MUNGED" 2>/dev/null
    wait_gone 5 "$MUNGED"
  fi
  # 4. anything of this cluster still alive (a slurmstepd or job process whose daemon was
  #    killed): SIGTERM, then SIGKILL
  left=$(cluster_procs | tr '\n' ' ')
  if [ -n "$left" ]; then
    err "stopping what is left of the cluster: $left"
    # shellcheck disable=SC2086
    kill $left 2>/dev/null
    # shellcheck disable=SC2086
    wait_gone 5 $left
  fi
  rm -f "$DIR/run/slurmctld.pid" "$DIR/run/slurmd.pid" "$DIR/munge/munged.pid"
  left=$(cluster_procs | tr '\n' ' ')
  [ -z "$left" ] || die "processes of $DIR are still alive: $left"
  echo "$me: stopped ($DIR)"
  exit 0
fi

# ---- up: the checks first, each with a one-line reason
[ "$(id -u)" -eq 0 ] ||
  die "must run as root (slurmd launches the jobs, munged and the daemons run as one user)"
missing="" pkgs=""
for t in munged:munge mungekey:munge slurmctld:slurmctld slurmd:slurmd sinfo:slurm-client \
         scontrol:slurm-client scancel:slurm-client squeue:slurm-client sbatch:slurm-client; do
  if ! command -v "${t%%:*}" >/dev/null 2>&1; then
    missing="$missing ${t%%:*}"
    case " $pkgs " in *" ${t#*:} "*) ;; *) pkgs="$pkgs ${t#*:}" ;; esac
  fi
done
[ -z "$missing" ] ||
  die "not found:$missing (Debian packages:$pkgs; sh tools/install-deps.sh --slurm)"

# the socket's length before anything is created (sun_path: 108 bytes with the final NUL)
case $arg in /*) abs=$arg ;; *) abs=$(pwd)/$arg ;; esac
SOCK=${abs%/}/munge/munge.socket
[ ${#SOCK} -lt 108 ] ||
  die "$SOCK: socket path too long (${#SOCK} bytes, at most 107): use a short DIR such as \$(mktemp -d /tmp/bhs.XXXXXX)"
mkdir -p "$arg" 2>/dev/null || die "$arg: cannot create the folder"
DIR=$(cd "$arg" && pwd -P) || die "$arg: cannot enter the folder"
case $DIR in
  *[!A-Za-z0-9._/+,@=-]*) die "$DIR: use a folder whose path has letters, digits and . _ / + , @ = - only" ;;
esac
SOCK=$DIR/munge/munge.socket
[ ${#SOCK} -lt 108 ] || die "$SOCK: socket path too long (${#SOCK} bytes, at most 107)"
if p=$(pid_of "$DIR/run/slurmctld.pid") || p=$(pid_of "$DIR/run/slurmd.pid") ||
   p=$(pid_of "$DIR/munge/munged.pid"); then
  die "a cluster is running in $DIR already (pid $p): $0 down $DIR first"
fi
for p in "$ctld_port:SLURM_CTLD_PORT" "$d_port:SLURM_D_PORT"; do
  port_in_use "${p%%:*}" &&
    die "TCP port ${p%%:*} is in use (another Slurm cluster?): choose another with ${p#*:}=PORT"
done

# fresh state every time: no old jobs, node state or logs
rm -rf "$DIR/state" "$DIR/spool" "$DIR/log" "$DIR/run" "$DIR/munge"
mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log" "$DIR/run" "$DIR/munge" ||
  die "$DIR: cannot create its subfolders"
chmod 711 "$DIR" "$DIR/munge"
chmod 755 "$DIR/state" "$DIR/spool" "$DIR/log" "$DIR/run"

# if anything below fails: the reason, the logs' ends, and whatever started is stopped
fail() {
  err "$1"
  shift
  tail_logs "$@"
  sh "$0" down "$DIR" >/dev/null 2>&1
  exit 1
}

# ---- munged, with its own key and socket
mungekey -c -k "$DIR/munge/munge.key" >"$DIR/munge/mungekey.out" 2>&1 ||
  fail "mungekey could not create $DIR/munge/munge.key" "$DIR/munge/mungekey.out"
chmod 600 "$DIR/munge/munge.key"
munged --force -S "$SOCK" --key-file="$DIR/munge/munge.key" \
  --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/munge/munged.log" \
  --seed-file="$DIR/munge/munged.seed" >"$DIR/munge/munged.out" 2>&1 ||
  fail "munged failed to start" "$DIR/munge/munged.out" "$DIR/munge/munged.log"

# ---- slurm.conf: the hardware line as slurmd sees it
HW=$(slurmd -C 2>/dev/null | sed -n '1s/^NodeName=[^ ]* //p')
[ -n "$HW" ] || fail "slurmd -C printed no hardware line"
cat >"$DIR/slurm.conf" <<EOF
# written by tools/slurm-local.sh up $DIR
ClusterName=local
SlurmctldHost=localhost
SlurmUser=$(id -un)
SlurmdUser=$(id -un)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCK
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
PlugStackConfig=$DIR/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
MinJobAge=300
KillWait=5
NodeName=$NODE NodeAddr=127.0.0.1 $HW State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
[ $? -eq 0 ] || fail "$DIR/slurm.conf: cannot write it"
# an empty plugin stack: the system's /etc/slurm/plugstack.conf is not read
: >"$DIR/plugstack.conf"
export SLURM_CONF="$DIR/slurm.conf"

CTLD_LOG=$DIR/log/slurmctld.log
D_LOG=$DIR/log/slurmd.log
slurmctld >"$DIR/log/slurmctld.out" 2>&1 ||
  fail "slurmctld failed to start" "$DIR/log/slurmctld.out" "$CTLD_LOG"
slurmd -N "$NODE" >"$DIR/log/slurmd.out" 2>&1 ||
  fail "slurmd failed to start" "$DIR/log/slurmd.out" "$D_LOG"

# ---- wait for the node to be idle, checking that both daemons stay alive (slurmctld exits 0
# and then dies when its port is taken); a missing pid file is given a few seconds
i=0 limit=$((timeout * 5))
while :; do
  st=$(sinfo -h -n "$NODE" -o %T 2>/dev/null) || st=""
  [ "$st" = idle ] && break
  for d in slurmctld slurmd; do
    if ! pid_of "$DIR/run/$d.pid" >/dev/null; then
      if [ -f "$DIR/run/$d.pid" ] || [ $i -ge 25 ]; then
        log=$CTLD_LOG; [ $d = slurmd ] && log=$D_LOG
        reason=$(grep -E 'error|fatal' "$log" 2>/dev/null | tail -n 1 | sed 's/^\[[^]]*\] //')
        fail "$d died while starting${reason:+: $reason}" "$DIR/log/$d.out" "$log"
      fi
    fi
  done
  i=$((i + 1))
  [ $i -le $limit ] ||
    fail "node $NODE not idle after ${timeout} s (state: '${st:-no answer from slurmctld}')" \
      "$CTLD_LOG" "$D_LOG"
  sleep 0.2
done
echo "$me: up: node $NODE idle (slurmctld port $ctld_port, slurmd port $d_port);" \
  "export SLURM_CONF=$DIR/slurm.conf"
