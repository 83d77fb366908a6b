#!/usr/bin/env bash
# Runs each fuzz target for a fixed time: scripts/fuzz.sh TIME pkg:Target...
set -euo pipefail
time=$1; shift
for t in "$@"; do
  pkg=${t%%:*}; name=${t##*:}
  echo "fuzz: $name ($pkg) for $time"
  go test -run='^$' -fuzz="^${name}\$" -fuzztime="$time" "$pkg"
done
