#!/usr/bin/env bash
# Verifies systemd/compliance-watch.service offline: syntax (systemd-analyze verify, which must
# print nothing) and hardening (systemd-analyze security, exposure 1.5 or lower).
set -euo pipefail
cd "$(dirname "$0")/.."
binary="${1:-$PWD/.build/debug/compliance-watch}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# verify checks that ExecStart= exists: point the copy at the built binary.
sed "s#/usr/bin/compliance-watch#$binary#g" systemd/compliance-watch.service > "$work/compliance-watch.service"
out=$(systemd-analyze verify --man=no --recursive-errors=no "$work/compliance-watch.service" 2>&1) || { echo "$out"; exit 1; }
if [ -n "$out" ]; then echo "systemd-analyze verify printed:"; echo "$out"; exit 1; fi
echo "systemd-analyze verify: ok"
systemd-analyze security --offline=yes --threshold=15 --no-pager "$work/compliance-watch.service" | tail -1
