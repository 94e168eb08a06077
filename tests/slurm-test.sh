#!/bin/sh
# tests/slurm-test.sh — `bench-all --backend slurm` on a real single-node Slurm cluster: the ci
# profile through sbatch must give exactly the numbers of a local run, a resubmission must
# redo exactly the runs whose result is missing or invalid, and --status must follow it all.
#
#   sh tests/slurm-test.sh [--keep]      (from the top of a built tree; make check-slurm)
#
#   --keep   keep the temporary folders (the cluster's config, state and logs, and both
#            bench-all output folders) and print where they are; the cluster is always
#            stopped
# Environment: BHIVAE_DIR, the build folder holding ./bhivae (and ./bench-all, else the one
# of the source tree this script is in), default the current folder; SLURM_CTLD_PORT and
# SLURM_D_PORT, the cluster's ports (default: the first free pair from 16817 up, so that the
# test can run beside another cluster); TMPDIR, where the output folders go.
#
# Steps: bring up a cluster with tools/slurm-local.sh in a fresh /tmp/bhs.XXXXXX; submit the ci
# profile (bench-all --backend slurm), follow it with bench-all --status until the queue is
# empty; run the same profile locally; compare every run's metrics (bhivae compare at
# tolerance 0 on the two summary.json, and the metric scores and details of every
# results/<run>.json as text); delete one result and corrupt another, resubmit (exactly those
# two are redone), compare again; resubmit once more (nothing to do); stop the cluster.
#
# Exit status (automake's): 0 PASS, 77 SKIP (no Slurm/munge, not root, or the cluster cannot
# be brought up here: the reason is printed), 1 FAIL (the reason and the end of the logs).
set -u
me=slurm-test
start=$(date +%s)

keep=""
for a in "$@"; do
  case $a in
    --keep) keep=1 ;;
    --help|-h) sed -n '2,14s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "$me: $a: unknown option (--keep, --help)" >&2; exit 2 ;;
  esac
done

skip() { echo "$me: SKIP: $*"; exit 77; }

# ---- state for the EXIT trap (set before anything can fail)
C="" W="" cluster_up="" daemons=""
topsrc=$(cd "$(dirname "$0")/.." && pwd)
slurm_local=$topsrc/tools/slurm-local.sh

# fail WHY [FILE...]: the reason, the end of the given files, of the runs' logs and of the
# daemons' logs; exit 1 (the trap stops the cluster)
fail() {
  echo "$me: FAIL: $1"
  shift
  for f in "$@"; do
    [ -s "$f" ] || continue
    echo "--- the end of $f:"
    tail -n 25 "$f"
  done
  if [ -n "$W" ]; then
    for f in "$W"/slurm/logs/slurm-*.out "$W"/slurm/logs/*.log "$W"/local/logs/*.log; do
      [ -s "$f" ] || continue
      echo "--- the end of $f:"
      tail -n 6 "$f"
    done
  fi
  if [ -n "$C" ]; then
    for f in "$C/log/slurmctld.log" "$C/log/slurmd.log" "$C/munge/munged.log"; do
      [ -s "$f" ] || continue
      echo "--- the end of $f:"
      tail -n 10 "$f"
    done
  fi
  exit 1
}

# teardown: stop the cluster and check that none of its daemons is left; status 1 if so
teardown() {
  [ -n "$cluster_up" ] || return 0
  cluster_up=""
  ok=0
  sh "$slurm_local" down "$C" >"${W:-/tmp}/down.log" 2>&1 || ok=1
  for p in $daemons; do
    if kill -0 "$p" 2>/dev/null && ! grep -q '^[^)]*) Z' "/proc/$p/stat" 2>/dev/null; then
      echo "$me: daemon $p of $C is still alive after slurm-local.sh down" >&2
      ok=1
    fi
  done
  [ $ok -eq 0 ] || cat "${W:-/tmp}/down.log" >&2
  return $ok
}

cleanup() {
  st=$?
  trap '' INT TERM
  teardown || { [ "$st" -ne 0 ] || st=1; }
  if [ -n "$keep" ]; then
    [ -z "$C$W" ] || echo "$me: kept the cluster folder $C and the output folders $W"
  else
    [ -z "$C" ] || rm -rf "$C"
    [ -z "$W" ] || rm -rf "$W"
  fi
  exit "$st"
}
trap cleanup EXIT
trap 'echo "$me: interrupted"; exit 130' INT
trap 'echo "$me: terminated"; exit 143' TERM

# ---- a. prerequisites
[ "$(id -u)" -eq 0 ] || skip "needs root (the single-node cluster's daemons run as root)"
for t in slurmctld slurmd sbatch squeue scancel scontrol sinfo munged mungekey; do
  command -v $t >/dev/null 2>&1 ||
    skip "$t not found (Debian packages slurmctld slurmd slurm-client munge: sh tools/install-deps.sh --slurm)"
done
[ -f "$slurm_local" ] || fail "$slurm_local: missing"

BD=${BHIVAE_DIR:-.}
BD=$(cd "$BD" 2>/dev/null && pwd) || fail "BHIVAE_DIR=$BHIVAE_DIR: no such folder"
[ -x "$BD/bhivae" ] && [ ! -d "$BD/bhivae" ] || fail "$BD/bhivae: not found (build first: make)"
if [ -f "$BD/bench-all" ]; then bench_all=$BD/bench-all; else bench_all=$topsrc/bench-all; fi
[ -f "$bench_all" ] || fail "bench-all: not found in $BD nor $topsrc"
grep -q -- '--backend' "$bench_all" || fail "$bench_all has no --backend option"
bhivae=$BD/bhivae
bench() { sh "$bench_all" "$@"; }
cd "$BD" || fail "cannot enter $BD"   # ./data and ./bhivae are the build folder's

profile=ci
"$bhivae" bench list --profile $profile >/dev/null 2>&1 || fail "bhivae bench list --profile $profile failed"
runs=$("$bhivae" bench list --profile $profile)
nruns=$(printf '%s\n' "$runs" | grep -c .)
[ "$nruns" -ge 2 ] || fail "profile $profile has $nruns runs; the test needs at least 2"
# the two runs the resubmission step breaks: the two below, else the first two of the profile
gone=t2-vae-d10-s1 bad=t1-vae-s1
printf '%s\n' "$runs" | grep -qx "$gone" && printf '%s\n' "$runs" | grep -qx "$bad" || {
  gone=$(printf '%s\n' "$runs" | sed -n 1p); bad=$(printf '%s\n' "$runs" | sed -n 2p)
}

# port_free PORT: no TCP socket listens on PORT
port_free() {
  hex=$(printf '%04X' "$1")
  ! cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
    awk -v h=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == h { f = 1 } END { exit !f }'
}
if [ -z "${SLURM_CTLD_PORT:-}" ] && [ -z "${SLURM_D_PORT:-}" ]; then
  p=16817
  while [ $p -lt 17017 ]; do
    port_free $p && port_free $((p + 1)) && break
    p=$((p + 2))
  done
  SLURM_CTLD_PORT=$p SLURM_D_PORT=$((p + 1))
fi
export SLURM_CTLD_PORT SLURM_D_PORT="${SLURM_D_PORT:-$((SLURM_CTLD_PORT + 1))}"

# sbatch/squeue input variables of the calling environment (an outer job, a user's
# SQUEUE_FORMAT) must not change what bench-all submits or what this test reads
for v in $(env | sed -n 's/^\(SBATCH_[A-Za-z0-9_]*\)=.*/\1/p; s/^\(SQUEUE_[A-Za-z0-9_]*\)=.*/\1/p'); do
  unset "$v"
done

# ---- b. the cluster, in fresh short folders
C=$(mktemp -d /tmp/bhs.XXXXXX) || fail "mktemp -d /tmp/bhs.XXXXXX failed"
W=$(mktemp -d "${TMPDIR:-/tmp}/bhivae-slurm-test.XXXXXX") || fail "mktemp -d failed"
case $W in
  *[!A-Za-z0-9._/+,@=-]*) W2=$W; W=""; rm -rf "$W2"
    W=$(mktemp -d /tmp/bhivae-slurm-test.XXXXXX) || fail "mktemp -d failed" ;;
esac
cluster_up=1   # from here on the trap stops whatever part of it started
sh "$slurm_local" up "$C" >"$W/up.log" 2>&1
st=$?
if [ $st -ne 0 ]; then
  reason=$(sed -n 's/^slurm-local: //p' "$W/up.log" | head -n 1)
  [ $st -eq 1 ] || fail "tools/slurm-local.sh up exited $st: $reason" "$W/up.log"
  echo "$me: SKIP: cannot bring a Slurm cluster up here: ${reason:-see below}"
  sed '/^slurm-local: /d' "$W/up.log" | tail -n 30
  exit 77
fi
for f in "$C/run/slurmctld.pid" "$C/run/slurmd.pid" "$C/munge/munged.pid"; do
  daemons="$daemons $(cat "$f" 2>/dev/null)"
done
export SLURM_CONF="$C/slurm.conf"
echo "$me: cluster up in $C (ports $SLURM_CTLD_PORT/$SLURM_D_PORT); outputs in $W"

# ---- helpers of the steps

# submit NAME: bench-all --backend slurm into $W/slurm, its output in $W/NAME.log; sets A (the
# array job, or "") and R (the report job, or "")
submit() {
  log=$W/$1.log
  bench --profile $profile --backend slurm --out "$W/slurm" >"$log" 2>&1 ||
    fail "$1: bench-all --backend slurm exited $?" "$log"
  A=$(sed -n 's/^bench-all: slurm: array job \([0-9][0-9]*\): .*/\1/p' "$log")
  R=$(sed -n 's/^bench-all: slurm: report job \([0-9][0-9]*\).*/\1/p' "$log")
  echo "$me: $1: $(grep -E 'to do|array job|report job|nothing to submit' "$log" |
    sed 's/^bench-all: //; s/ (logs: .*//; s/^\(slurm: report job [0-9]*\( ([^)]*)\)\{0,1\}\).*/\1/;
         s/^\(slurm: nothing to submit\).*/\1/' | tr '\n' ';' | sed 's/;$//; s/;/; /g')"
}

# status_counts: bench-all --status into $W/status.txt; its count line into sd sr sp sf sm
# (done, running, pending, failed, missing)
status_counts() {
  bench --status --profile $profile --out "$W/slurm" >"$W/status.txt" 2>&1 ||
    fail "bench-all --status exited $?" "$W/status.txt"
  line=$(grep '^bench-all: status: ' "$W/status.txt" | tail -n 1)
  counts=$(echo "$line" | sed -n 's/^bench-all: status: \([0-9]*\) done, \([0-9]*\) running, \([0-9]*\) pending, \([0-9]*\) failed, \([0-9]*\) missing.*/\1 \2 \3 \4 \5/p')
  [ -n "$counts" ] || fail "bench-all --status printed no count line" "$W/status.txt"
  # shellcheck disable=SC2086
  set -- $counts
  sd=$1 sr=$2 sp=$3 sf=$4 sm=$5
}

# jobcomp_state JOBID: the job's JobState and ExitCode in the cluster's jobcomp file
jobcomp_state() {
  grep "^JobId=$1 " "$C/log/jobcomp.txt" 2>/dev/null | tail -n 1 |
    sed -n 's/.* JobState=\([^ ]*\) .* ExitCode=\([^ ]*\).*/\1 \2/p'
}

# wait_jobs NAME: poll bench-all --status and squeue every 2 s until the queue is empty (15
# minutes at most), a progress line every 20 s; then every run must be done, the report job
# ($R) completed with exit 0 and summary.json written
wait_jobs() {
  name=$1
  t0=$(date +%s) last=$t0 first=1
  while :; do
    status_counts
    if [ -n "$first" ]; then
      # right after the submission the runs are queued: none may be missing or failed
      [ "$sf" -eq 0 ] && [ "$sm" -eq 0 ] ||
        fail "$name: right after the submission --status says $sf failed, $sm missing" "$W/status.txt"
      first=""
    fi
    q=$(squeue -h -o '%i %T' 2>"$W/squeue.err") || fail "squeue failed" "$W/squeue.err"
    [ -n "$q" ] || break
    now=$(date +%s)
    [ $((now - t0)) -lt 900 ] ||
      fail "$name: the jobs did not end within 15 minutes (queue: $(echo "$q" | tr '\n' ' '))" "$W/status.txt"
    if [ $((now - last)) -ge 20 ]; then
      echo "$me: $name: $((now - t0)) s: $sd done, $sr running, $sp pending, $sf failed, $sm missing;" \
        "$(echo "$q" | grep -c .) job(s) in the queue"
      last=$now
    fi
    sleep 2
  done
  status_counts
  [ "$sd" -eq "$nruns" ] ||
    fail "$name: $sd of $nruns runs done when the queue emptied ($sr running, $sp pending, $sf failed, $sm missing)" \
      "$W/status.txt"
  if [ -n "$R" ]; then
    n=0
    while [ -z "$(jobcomp_state "$R")" ] && [ $n -lt 20 ]; do sleep 0.5; n=$((n + 1)); done
    js=$(jobcomp_state "$R")
    [ "$js" = "COMPLETED 0:0" ] ||
      fail "$name: the report job $R ended as '${js:-unknown}' (JobState ExitCode)" \
        "$W/slurm/logs/slurm-report-$R.out" "$C/log/jobcomp.txt"
  fi
  [ -s "$W/slurm/reports/$profile/summary.json" ] ||
    fail "$name: no $W/slurm/reports/$profile/summary.json after the report job" \
      "$W/slurm/logs/slurm-report-$R.out"
  echo "$me: $name: the queue is empty after $(($(date +%s) - t0)) s; $sd of $nruns runs done"
}

# metric_scores FILE: "<metric> <score>" of each metric of a result file
metric_scores() {
  awk '/^  "metrics": \{/ { m = 1; next }
       m && /^  \}/ { m = 0 }
       m && /^    "[^"]*": \{/ { key = $1; sub(/:$/, "", key) }
       m && /^      "score":/ { v = $2; sub(/,$/, "", v); print key, v }' "$1"
}
# metric_block FILE: the "metrics" object of a result file without its timings ("seconds")
metric_block() {
  awk '/^  "metrics": \{/ { m = 1 } m && !/"seconds":/ { print } m && /^  \}/ { m = 0 }' "$1"
}

# compare_outputs NAME: local and Slurm give the same numbers; sets nchecks and nscores
compare_outputs() {
  out=$W/compare-$1.txt
  "$bhivae" compare "$W/local/reports/$profile/summary.json" "$W/slurm/reports/$profile/summary.json" \
    --tol mig=0 --tol sap=0 --tol zdiff=0 --tol probe=0 --tol factorvae=0 --tol dci=0 \
    >"$out" 2>&1 || fail "$1: bhivae compare (tolerance 0) found differences" "$out"
  last=$(tail -n 1 "$out")
  nchecks=$(echo "$last" | sed -n 's/^compare: \([0-9]*\) metric checks: \([0-9]*\) OK.*/\1/p')
  nok=$(echo "$last" | sed -n 's/^compare: \([0-9]*\) metric checks: \([0-9]*\) OK.*/\2/p')
  [ -n "$nchecks" ] && [ "$nchecks" -gt 0 ] && [ "$nchecks" = "$nok" ] ||
    fail "$1: bhivae compare: unexpected last line: $last" "$out"
  # bhivae compare allows 1e-12 even at tolerance 0: the result files must match as text
  nscores=0
  for id in $runs; do
    for side in local slurm; do
      f=$W/$side/results/$id.json
      [ -s "$f" ] || fail "$1: $f: missing"
      metric_scores "$f" >"$W/scores.$side"
      metric_block "$f" >"$W/metrics.$side"
    done
    [ -s "$W/scores.local" ] || fail "$1: no metric scores found in $W/local/results/$id.json"
    diff "$W/scores.local" "$W/scores.slurm" >"$W/diff.txt" ||
      fail "$1: $id: the metric scores differ (< local, > slurm)" "$W/diff.txt"
    diff "$W/metrics.local" "$W/metrics.slurm" >"$W/diff.txt" ||
      fail "$1: $id: the metrics' details differ (< local, > slurm)" "$W/diff.txt"
    nscores=$((nscores + $(grep -c . "$W/scores.local")))
  done
  echo "$me: $1: local = Slurm: bhivae compare $nchecks/$nchecks metric checks at tolerance 0;" \
    "$nscores scores and the metrics' details of $nruns result files identical"
}

# ---- c. the profile on Slurm
submit submit1
[ -n "$A" ] || fail "submit1: no 'slurm: array job <id>' line" "$W/submit1.log"
[ -n "$R" ] || fail "submit1: no 'slurm: report job <id>' line" "$W/submit1.log"
grep -q "array job $A: $nruns runs" "$W/submit1.log" ||
  fail "submit1: the array job does not hold the $nruns runs" "$W/submit1.log"
grep -q "report job $R .*afterany:$A" "$W/submit1.log" ||
  fail "submit1: the report job does not depend on the array (afterany:$A)" "$W/submit1.log"
R1=$R
# submitted again while the first submission is queued: its runs are left to it
submit submit1b
grep -q ", 0 to do\$" "$W/submit1b.log" ||
  fail "submit1b: runs queued in the first submission are submitted again" "$W/submit1b.log"
[ -z "$A" ] || fail "submit1b: an array job ($A) was submitted with nothing to do" "$W/submit1b.log"
R=$R1
wait_jobs submit1

# ---- d. the same profile here
echo "$me: the local run"
bench --profile $profile --out "$W/local" >"$W/local.log" 2>&1 ||
  fail "local bench-all exited $?" "$W/local.log"

# ---- e. the same numbers
compare_outputs first

# ---- f. resubmission: one result gone, one corrupt; exactly those two are redone
rm -f "$W/slurm/results/$gone.json"
echo 'garbage {' >"$W/slurm/results/$bad.json"
rm -f "$W/slurm/reports/$profile/summary.json"   # the new report job must write it again
for id in $runs; do
  [ "$id" = "$gone" ] || [ "$id" = "$bad" ] || cksum "$W/slurm/results/$id.json"
done >"$W/kept.before"
submit submit2
grep -q ", 2 to do\$" "$W/submit2.log" || fail "submit2: bench-all did not say '2 to do'" "$W/submit2.log"
[ -n "$A" ] && [ -n "$R" ] || fail "submit2: no array job or no report job" "$W/submit2.log"
grep -q "array job $A: 2 runs" "$W/submit2.log" || fail "submit2: the array does not hold 2 runs" "$W/submit2.log"
sub=$(grep -lx "$A" "$W"/slurm/slurm/*/array.id 2>/dev/null | head -n 1)
[ -n "$sub" ] || fail "submit2: no OUT/slurm/<stamp>/array.id holds $A"
sub=$(dirname "$sub")
sort "$sub/runs.txt" >"$W/runs.got"
printf '%s\n%s\n' "$gone" "$bad" | sort >"$W/runs.want"
diff "$W/runs.want" "$W/runs.got" >"$W/diff.txt" ||
  fail "submit2: $sub/runs.txt does not hold exactly $gone and $bad" "$W/diff.txt"
grep -q garbage "$W/slurm/results/$bad.json.invalid" 2>/dev/null ||
  fail "submit2: the corrupt result was not moved to results/$bad.json.invalid"
wait_jobs submit2
for id in $runs; do
  [ "$id" = "$gone" ] || [ "$id" = "$bad" ] || cksum "$W/slurm/results/$id.json"
done >"$W/kept.after"
diff "$W/kept.before" "$W/kept.after" >"$W/diff.txt" ||
  fail "submit2: results that were valid have been rewritten" "$W/diff.txt"
compare_outputs resubmitted

# nothing left to do: no array job (a report job is allowed)
submit submit3
grep -q ", 0 to do\$" "$W/submit3.log" || fail "submit3: bench-all did not say '0 to do'" "$W/submit3.log"
[ -z "$A" ] || fail "submit3: an array job ($A) was submitted with nothing to do" "$W/submit3.log"
wait_jobs submit3
compare_outputs final

# ---- g. --status lists every run as done
status_counts
for id in $runs; do
  grep -Eq "^$id +done\$" "$W/status.txt" || fail "--status does not list $id as done" "$W/status.txt"
done

# ---- h. down, then the verdict
teardown || fail "the cluster did not stop cleanly" "$W/down.log"
echo "$me: PASS (profile $profile, $nruns runs: local = Slurm exactly — bhivae compare" \
  "$nchecks metric checks at tolerance 0 and $nscores scores + metric details of results/*.json," \
  "after the first submission and after resubmitting 2 runs; --status all done;" \
  "$(($(date +%s) - start)) s)"
exit 0
