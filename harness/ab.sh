#!/usr/bin/env bash
# Times two builds of the harness side by side, one per core, and prints B's rate against A's.
#
#   harness/ab.sh A B CONTACTS ROUNDS [PROFILE]
#
# A and B: paths to two `tropa-harness` binaries (build each commit with
# `cargo build --release -p tropa-harness` and copy `target/release/tropa-harness` away).
# PROFILE: 1 or 50 segments (default 50). Both runs share the host at the same moment, and the
# one started first alternates between rounds, so the host's drift falls on both alike; a pair
# still differs by a few per cent, so read the spread of several rounds, not one ratio.
set -euo pipefail
if [ $# -lt 4 ]; then
  echo "usage: $0 A B CONTACTS ROUNDS [PROFILE]" >&2
  exit 2
fi
a=$1 b=$2 n=$3 rounds=$4 profile=${5:-50}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
rate() { grep -o '[0-9]* events/s' "$1" | head -1 | cut -d' ' -f1; }
for r in $(seq "$rounds"); do
  if [ $((r % 2)) = 1 ]; then
    "$a" --profile "$profile" --contacts "$n" >"$out/a" 2>&1 &
    "$b" --profile "$profile" --contacts "$n" >"$out/b" 2>&1 &
  else
    "$b" --profile "$profile" --contacts "$n" >"$out/b" 2>&1 &
    "$a" --profile "$profile" --contacts "$n" >"$out/a" 2>&1 &
  fi
  wait
  ra=$(rate "$out/a") rb=$(rate "$out/b")
  python3 -c "print(f'A {$ra} B {$rb} {100 * ($rb / $ra - 1):+.1f} %')"
done
