#!/bin/sh
# fuzz/run.sh SECONDS [TARGET...] — replay fuzz/regress/, then fuzz each target for SECONDS
# (0: replay only).
#
# Run from the top of a build configured with `./configure --enable-fuzzers CC=clang` (or set
# FUZZ_BUILD to it).  Targets: npy npz idx celeba jpeg png (default: all).  Work files (seed
# corpora made by fuzz-seeds, the growing corpora, logs, crashing inputs) go to
# ${FUZZ_WORK:-$FUZZ_BUILD/fuzz-work}.  Exit status 1 when a regression input fails again or a
# new crash, leak, timeout or out-of-memory is found: the inputs are in $FUZZ_WORK/crashes/<target>/.
set -u
usage() { echo "usage: fuzz/run.sh SECONDS [npy|npz|idx|celeba|jpeg|png ...]" >&2; exit 2; }
[ $# -ge 1 ] || usage
secs=$1
shift
case $secs in '' | *[!0-9]*) usage ;; esac
src=$(cd "$(dirname "$0")" && pwd)
build=${FUZZ_BUILD:-.}
work=${FUZZ_WORK:-$build/fuzz-work}
targets=${*:-npy npz idx celeba jpeg png}
for t in $targets; do
  [ -x "$build/fuzz/fuzz-$t" ] || {
    echo "fuzz/run.sh: $build/fuzz/fuzz-$t: not built (./configure --enable-fuzzers CC=clang && make)" >&2
    exit 2
  }
done
mkdir -p "$work"
# The targets' scratch files (fuzz_util.c), on tmpfs when there is one; crashed inputs leave
# theirs behind, so the whole folder goes at the end.
shm=/dev/shm
[ -d "$shm" ] && [ -w "$shm" ] || shm=$work
BH_FUZZ_TMP=$(mktemp -d "$shm/bh_fuzz_run.XXXXXX") || exit 2
export BH_FUZZ_TMP
trap 'rm -rf "$BH_FUZZ_TMP"' EXIT
trap 'exit 130' INT TERM
rm -rf "$work/seeds"
"$build/fuzz/fuzz-seeds" "$work/seeds" || exit 2

# Largest input per target: a few times the biggest seed, small enough to keep executions fast.
max_len() {
  case $1 in
    npy) echo 4096 ;;
    celeba) echo 8192 ;;
    *) echo 32768 ;;
  esac
}

# Stack traces for UBSan findings; leaks count as failures (libFuzzer's default).
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

status=0
summary=""
for t in $targets; do
  bin=$build/fuzz/fuzz-$t
  # 1. every saved crashing input must now pass (libFuzzer runs file arguments once each)
  reg=ok
  if [ -d "$src/regress/$t" ] && [ -n "$(ls -A "$src/regress/$t" 2>/dev/null)" ]; then
    n=$(ls "$src/regress/$t" | wc -l)
    if "$bin" "$src/regress/$t"/* >"$work/$t.regress.log" 2>&1; then
      reg="ok ($n inputs)"
    else
      reg="FAILED (see $work/$t.regress.log)"
      status=1
    fi
  else
    reg="none"
  fi
  mkdir -p "$work/corpus/$t" "$work/crashes/$t"
  if [ "$secs" -eq 0 ]; then # replay only (libFuzzer reads -max_total_time=0 as "no limit")
    summary="$summary$t: regressions $reg
"
    continue
  fi
  # 2. fuzz: fork mode keeps going after a crash, so one run collects every distinct failure
  dict=""
  [ -f "$src/$t.dict" ] && dict="-dict=$src/$t.dict"
  echo "fuzz/run.sh: $t: ${secs}s (regressions: $reg)" >&2
  stamp=$work/crashes/$t.started
  : >"$stamp"
  "$bin" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
    -max_total_time="$secs" -max_len="$(max_len "$t")" -timeout=10 \
    -rss_limit_mb=2048 -malloc_limit_mb=512 \
    -artifact_prefix="$work/crashes/$t/" $dict \
    "$work/corpus/$t" "$work/seeds/$t" >"$work/$t.log" 2>&1
  crashes=$(find "$work/crashes/$t" -type f -newer "$stamp" | wc -l) # this run's only
  execs=$(grep -o 'exec/s:\? [0-9]*' "$work/$t.log" | tail -n1)
  cov=$(grep -o 'cov: [0-9]*' "$work/$t.log" | tail -n1)
  corpus=$(ls "$work/corpus/$t" | wc -l)
  [ "$crashes" -eq 0 ] || status=1
  summary="$summary$t: $cov, $execs, corpus $corpus, new failing inputs $crashes, regressions $reg
"
done
printf '%s' "$summary"
exit $status
