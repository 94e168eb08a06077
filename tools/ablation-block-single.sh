#!/bin/sh
# The block-vs-single ablation of the BHiVAE paper (§4.4, Fig. 8): supervised BHiVAE with the
# attribute block s^1 of 2 units ("block", blocks=2,2,2) against the same model with s^1 of one
# unit and c^3 one larger ("single", blocks=1,2,2), at d(z) = 10, 16 and 32; for each, the test
# accuracy of a logistic-regression probe that predicts the binary attribute from the whole z.
#
#   sh tools/ablation-block-single.sh OUT [STEPS]
#
# Environment (defaults in brackets):
#   BHIVAE   the command [./bhivae]          DATA     the dataset [dsprites]
#   ATTRS    the label of each level [factors:0=2,1,2: s^1 = "is a heart" (binary), s^2 = scale,
#            s^3 = orientation]; on CelebA the paper's choice is attrs:8,4,20 (Black_Hair, Bald,
#            Male) with TARGET=attrs:8
#   TARGET   the probe's binary attribute [factors:0=2]
#   SEED [1]  THREADS [1]  DIMS ["10 16 32"]  EXTRA (more --set options, e.g. "--set lr=5e-4")
# Runs that already finished (train.json present) are not trained again; an interrupted one is
# resumed.  Prints a table and writes OUT/ablation.tsv (kind, d(z), blocks, probe accuracy %).
set -eu
[ $# -ge 1 ] || { echo "usage: sh tools/ablation-block-single.sh OUT [STEPS]" >&2; exit 2; }
out=$1
steps=${2:-3000}
BHIVAE=${BHIVAE:-./bhivae}
DATA=${DATA:-dsprites}
ATTRS=${ATTRS:-factors:0=2,1,2}
TARGET=${TARGET:-factors:0=2}
SEED=${SEED:-1}
THREADS=${THREADS:-1}
DIMS=${DIMS:-10 16 32}
EXTRA=${EXTRA:-}
mkdir -p "$out" || { echo "ablation: cannot create $out" >&2; exit 1; }
[ -w "$out" ] || { echo "ablation: $out is not writable" >&2; exit 1; }

tsv="$out/ablation.tsv"
printf 'kind\tz_dim\tblocks\tprobe_accuracy\n' >"$tsv.tmp"
for d in $DIMS; do
  for kind in block single; do
    if [ "$kind" = block ]; then blocks=2,2,2; else blocks=1,2,2; fi
    run="$out/$kind-d$d"
    if [ ! -f "$run/train.json" ]; then
      if [ -f "$run/model.ckpt" ]; then
        # shellcheck disable=SC2086
        "$BHIVAE" train --resume --out "$run" --threads "$THREADS" --set steps="$steps"
      else
        # shellcheck disable=SC2086
        "$BHIVAE" train --model bhivae-sup --data "$DATA" --seed "$SEED" --out "$run" \
          --threads "$THREADS" --set z_dim="$d" --set blocks="$blocks" \
          --set attributes="$ATTRS" --set steps="$steps" $EXTRA
      fi
    fi
    acc=$("$BHIVAE" eval "$run" --metrics probe --probe-target "$TARGET" --threads "$THREADS" \
            --out "$run/eval-probe.json" | awk '$1 == "probe" { print $2 }')
    [ -n "$acc" ] || { echo "ablation: no probe accuracy for $run" >&2; exit 1; }
    printf '%s\t%s\t%s\t%s\n' "$kind" "$d" "$blocks" "$acc" >>"$tsv.tmp"
  done
done
mv "$tsv.tmp" "$tsv"
echo "block vs single, probe accuracy (%) for $TARGET on z ($DATA, $steps steps, seed $SEED):"
awk -F '\t' 'NR > 1 { a[$2, $1] = $4; if (!($2 in seen)) { seen[$2] = 1; order[++n] = $2 } }
  END { printf "%-6s %10s %10s\n", "d(z)", "block", "single";
        for (i = 1; i <= n; i++) printf "%-6s %10s %10s\n", order[i], a[order[i], "block"], a[order[i], "single"] }' "$tsv"
