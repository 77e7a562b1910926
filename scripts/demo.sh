#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# demo.sh - a one-minute look at kcopy: clone a 64 MiB image to two copies
# in one pass, then prove with cmp(1) that the copies are identical.
#
# Usage: scripts/demo.sh            (make demo builds ./kcopy first)
# KCOPY=/path/to/kcopy overrides the binary (default: ./kcopy beside scripts/).

set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KCOPY=${KCOPY:-$root/kcopy}

if [[ ! -x "$KCOPY" ]]; then
	echo "demo: $KCOPY not found; run 'make' (or 'make demo') first" >&2
	exit 1
fi

# /var/tmp rather than /tmp: /tmp is often tmpfs, which refuses O_DIRECT
# (kcopy would fall back to buffered I/O, with a warning).
tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/kcopy-demo.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

echo "== making sample.img: 64 MiB of random data with a header, in $tmp"
head -c $((64 << 20)) /dev/urandom > sample.img
printf 'KCOPY-DEMO-IMAGE v1 %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" |
	dd of=sample.img conv=notrunc status=none
echo "   header: $(head -n1 sample.img)"

echo
echo "== \$ kcopy sample.img copy1.img copy2.img"
rc=0
"$KCOPY" sample.img copy1.img copy2.img || rc=$?
if ((rc != 0)); then
	echo "demo: kcopy exited with status $rc" >&2
	exit 1
fi

echo
echo "== comparing each copy with sample.img"
status=0
for f in copy1.img copy2.img; do
	if cmp sample.img "$f"; then
		echo "$f: identical"
	else
		echo "$f: DIFFERS" >&2
		status=1
	fi
done
echo "   copy1.img header: $(head -n1 copy1.img)"
exit "$status"
