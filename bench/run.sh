#!/usr/bin/env bash
# Runs every benchmark in bench/ (by hand; CI does not), or only those named (`bash bench/run.sh
# layer-store-open`). Each prints its ratio against the anchor it measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$#" -gt 0 ]; then benches=(); for n in "$@"; do benches+=("bench/${n%.ts}.ts"); done; else benches=(bench/*.ts); fi
for b in "${benches[@]}"; do
  [ -f "$b" ] || { echo "no benchmark $b" >&2; exit 1; }
  echo "== $b"
  node --import tsx "$b"
done
