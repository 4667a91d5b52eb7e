#!/usr/bin/env bash
# Runs every benchmark in bench/ (by hand; CI does not). Each prints its ratio against the anchor
# it measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
for b in bench/*.ts; do
  echo "== $b"
  node --import tsx "$b"
done
