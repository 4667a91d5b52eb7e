#!/usr/bin/env bash
# Prints the path of a debootstrap minbase rootfs tar (Debian bookworm), building it once.
# The mirror is the one apt on this machine already uses.
set -euo pipefail
cache=${STRATA_BENCH_CACHE:-/var/tmp/strata-bench}
out=$cache/bookworm-minbase.tar
if [ ! -s "$out" ]; then
  command -v debootstrap >/dev/null || { echo "debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
  mirror=$(apt-cache policy | grep -oE 'https?://[^ ]+' | grep -E '/debian/?$' | head -1 || true)
  [ -n "$mirror" ] || { echo "no Debian mirror found in apt's sources" >&2; exit 1; }
  mkdir -p "$cache"
  work=$(mktemp -d "$cache/rootfs.XXXXXX")
  debootstrap --variant=minbase bookworm "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  tar --numeric-owner --xattrs --format=pax -cf "$work/rootfs.tar" -C "$work/root" .
  mv "$work/rootfs.tar" "$out"
  rm -rf "$work"
fi
echo "$out"
