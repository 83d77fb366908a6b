#!/usr/bin/env bash
# Runs each fuzz target for a fixed time: scripts/fuzz.sh TIME pkg:Target...
# FUZZ_MINIMIZE sets -fuzzminimizetime. The short runs in `make test` set it
# to 0: minimising a new input when the time runs out can make `go test`
# fail with "context deadline exceeded" although nothing failed. A failing
# input is still reported and saved under testdata/fuzz.
#
# Go 1.26's fuzzing coordinator has a race at the end of a timed run
# (go.dev/issue/75804, fixed in Go 1.27): a worker stopped by the deadline
# can be reported as a failure, "context deadline exceeded", with no
# failing input (here about one target in 24 per `make test`). A run that
# fails that way and saves no input is run again, up to three times in
# all; a run that saves an input, or fails three times, fails.
set -euo pipefail
time=$1; shift
minimize=()
if [ -n "${FUZZ_MINIMIZE:-}" ]; then minimize=(-fuzzminimizetime="$FUZZ_MINIMIZE"); fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# inputs PKG NAME: the saved failing inputs of a target, one per line.
inputs() { ls "$1/testdata/fuzz/$2" 2>/dev/null || true; }

for t in "$@"; do
  pkg=${t%%:*}; name=${t##*:}
  for attempt in 1 2 3; do
    echo "fuzz: $name ($pkg) for $time"
    before=$(inputs "$pkg" "$name")
    if go test -run='^$' -fuzz="^${name}\$" -fuzztime="$time" "${minimize[@]}" "$pkg" 2>&1 | tee "$out"; then
      break
    fi
    if [ "$attempt" -lt 3 ] && [ "$(inputs "$pkg" "$name")" = "$before" ] &&
      grep -qx '    context deadline exceeded' "$out"; then
      echo "fuzz: $name stopped with \"context deadline exceeded\" and saved no input (go.dev/issue/75804); again"
      continue
    fi
    exit 1
  done
done
