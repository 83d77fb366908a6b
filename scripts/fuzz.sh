#!/usr/bin/env bash
# Runs each fuzz target for a fixed time: scripts/fuzz.sh TIME pkg:Target...
# FUZZ_MINIMIZE sets -fuzzminimizetime. The short runs in `make test` set it
# to 0: minimising a new input when the time runs out can make `go test`
# fail with "context deadline exceeded" although nothing failed. A failing
# input is still reported and saved under testdata/fuzz.
set -euo pipefail
time=$1; shift
minimize=()
if [ -n "${FUZZ_MINIMIZE:-}" ]; then minimize=(-fuzzminimizetime="$FUZZ_MINIMIZE"); fi
for t in "$@"; do
  pkg=${t%%:*}; name=${t##*:}
  echo "fuzz: $name ($pkg) for $time"
  go test -run='^$' -fuzz="^${name}\$" -fuzztime="$time" "${minimize[@]}" "$pkg"
done
