#!/usr/bin/env bash
# Runs every test file under test/ with node's test runner (through tsx for TypeScript).
# Node 20 cannot discover .ts files or expand quoted globs itself, so the list is built here,
# and an empty list is a failure rather than a silent pass.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(find test -name '*.test.ts' | sort)
if [ "${#files[@]}" -eq 0 ]; then echo "no test files found" >&2; exit 1; fi
# A test that hangs (e.g. a failing bare assert.ok, whose message Node builds by re-reading the
# call site) fails after 10 minutes instead of holding CI until its limit.
exec node --import tsx --test --test-concurrency=1 --test-timeout=600000 "$@" "${files[@]}"
