#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# kcopy -S / --sequential: no write to a destination is issued before every
# lower offset of that destination has been written; reads may run ahead.
# The order is proved from faultfs --log, which records each request as it
# reaches the daemon ("W OFF LEN"): under -S the W requests of a destination
# must tile its region in strictly ascending order, each starting where the
# previous one ended.  --delay-us makes every request take a while, so that
# writes issued together would reach the daemon in a shuffled order (shown by
# the test without -S) and so that serialised writes take measurably long.

# shellcheck disable=SC2154 # $stderr is set by bats run --separate-stderr
load test_helper
bats_require_minimum_version 1.5.0

MiB=$((1024 * 1024))

# The real interpreter, not a pyenv shim: it is started many times.
setup_file() {
	PY=$(python3 -c 'import sys; print(sys.executable)')
	export PY
}

setup() {
	require_root
}

# log_ascending LOG KINDS OFF LEN: the KINDS (W, F or WF) requests of LOG that touch
# [OFF, OFF+LEN) come in arrival order strictly ascending with no gap and no
# overlap: the first starts at OFF, each next one where the previous ended,
# the last ends at OFF+LEN.  Requests entirely outside the region are ignored
# (there must be none straddling its edges).
log_ascending() {
	"${PY:-python3}" - "$@" <<'EOF' || fail "log_ascending $*"
import sys
log, kind, off, ln = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
end = off + ln
reqs = []
for line in open(log):
    f = line.split()
    if f and f[0] in kind:
        o, n = int(f[1]), int(f[2])
        if o + n <= off or o >= end:
            continue
        reqs.append((o, n))
pos = off
for i, (o, n) in enumerate(reqs):
    if o < off or o + n > end:
        sys.exit("%s %d %d straddles the region %d+%d" % (kind, o, n, off, ln))
    if o != pos:
        ctx = " ".join("%d+%d" % r for r in reqs[max(0, i - 3):i + 3])
        sys.exit("%s request #%d at %d, expected %d (not ascending/contiguous): ... %s ..."
                 % (kind, i, o, pos, ctx))
    pos = o + n
if pos != end:
    sys.exit("%s requests end at %d, expected %d (%d requests)" % (kind, pos, end, len(reqs)))
print("%d %s requests, ascending" % (len(reqs), kind))
EOF
}

# log_inversions LOG KIND: how many times a KIND request starts below the
# previous one
log_inversions() {
	"${PY:-python3}" -c '
import sys
prev, inv = None, 0
for line in open(sys.argv[1]):
    f = line.split()
    if f and f[0] == sys.argv[2]:
        o = int(f[1])
        if prev is not None and o < prev:
            inv += 1
        prev = o
print(inv)
' "$@"
}

# reads_ahead LOG: R requests logged before the first W (the source and the
# destination share one log)
reads_ahead() {
	awk '$1 == "W" { exit } $1 == "R" { n++ } END { print n + 0 }' "$1"
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

@test "-S: writes reach a faultfs destination strictly in ascending order" {
	make_file "$SCRATCH/src.img" 4M random
	make_file "$SCRATCH/dst.img" 5M random
	cp "$SCRATCH/dst.img" "$SCRATCH/dst.orig"
	# source and destination log to the same file: R lines are the source's
	mount_faultfs S "$SCRATCH/src.img" --name=src --log="$SCRATCH/log" --delay-us=3000
	mount_faultfs D "$SCRATCH/dst.img" --name=dst --log="$SCRATCH/log" --delay-us=3000
	local t0 t1
	t0=$(now_ms)
	run -0 --separate-stderr "$KCOPY" --json -q -S -j 8 -b 64K "$S" "$D:512K"
	t1=$(now_ms)
	json_expect "d['status'] == 'ok'" "d['jobs'][0]['write_err'] == 0"
	assert_same_range "$SCRATCH/dst.img" 512K "$SCRATCH/src.img" 0 4M
	assert_same_range "$SCRATCH/dst.img" 0 "$SCRATCH/dst.orig" 0 512K
	assert_same_range "$SCRATCH/dst.img" 4608K "$SCRATCH/dst.orig" 4608K 512K

	log_ascending "$SCRATCH/log" W $((512 * 1024)) $((4 * MiB))
	[ "$(grep -c '^W ' "$SCRATCH/log")" -ge 64 ]
	# reads still run ahead of the writes
	local ahead
	ahead=$(reads_ahead "$SCRATCH/log")
	echo "R requests before the first W: $ahead"
	[ "$ahead" -ge 2 ]
	# 64 writes of 3 ms each, one after the other: at least 192 ms
	echo "took $((t1 - t0)) ms"
	[ $((t1 - t0)) -ge 192 ] || fail "64 x 3 ms writes took $((t1 - t0)) ms: not serialised"
}

@test "without -S the logged write order is not always ascending (the check can see disorder)" {
	make_file "$SCRATCH/src" 4M random
	truncate -s 4M "$SCRATCH/dst.img"
	local try inv=0
	for try in 1 2 3 4 5 6; do
		: >"$SCRATCH/log.$try"
		mount_faultfs D "$SCRATCH/dst.img" --name=d$try --log="$SCRATCH/log.$try" \
			--delay-us=10000
		run -0 "$KCOPY" -q -j 8 -b 64K "$SCRATCH/src" "$D"
		cmp "$SCRATCH/src" "$SCRATCH/dst.img"
		inv=$(log_inversions "$SCRATCH/log.$try" W)
		echo "try $try: $inv out-of-order writes"
		# the same copy with -S: none
		: >"$SCRATCH/slog.$try"
		mount_faultfs E "$SCRATCH/dst.img" --name=e$try --log="$SCRATCH/slog.$try" \
			--delay-us=2000
		run -0 "$KCOPY" -q -S -j 8 -b 64K "$SCRATCH/src" "$E"
		log_ascending "$SCRATCH/slog.$try" W 0 $((4 * MiB))
		((inv == 0)) || break
	done
	((inv > 0)) || fail "6 copies without -S all wrote in order: the log check cannot tell"
}

@test "-S: loop device over faultfs, and two destinations each in order" {
	make_file "$SCRATCH/src" $((3 * MiB)) random
	make_file "$SCRATCH/a.img" 4M random
	make_file "$SCRATCH/b.img" 3M random
	cp "$SCRATCH/a.img" "$SCRATCH/a.orig"
	mount_faultfs FA "$SCRATCH/a.img" --name=a --log="$SCRATCH/a.log" --delay-us=2000
	loop_on_faultfs LA "$FA"
	mount_faultfs FB "$SCRATCH/b.img" --name=b --log="$SCRATCH/b.log" --delay-us=1000
	run -0 --separate-stderr "$KCOPY" --json -q -S -j 8 -b 64K "$SCRATCH/src" "$LA:1M" "$FB"
	json_expect "d['status'] == 'ok'"
	assert_same_range "$LA" 1M "$SCRATCH/src" 0 3M
	assert_same_range "$SCRATCH/a.img" 1M "$SCRATCH/src" 0 3M
	assert_same_range "$SCRATCH/a.img" 0 "$SCRATCH/a.orig" 0 1M
	cmp "$SCRATCH/b.img" "$SCRATCH/src"
	log_ascending "$SCRATCH/a.log" W $MiB $((3 * MiB))
	log_ascending "$SCRATCH/b.log" W 0 $((3 * MiB))
}

@test "-S: bytes right for several destinations, regions and an unaligned file tail" {
	local size=$((3 * MiB + 100))
	make_file "$SCRATCH/src" "$size" random
	make_loop L 4M
	make_file "$SCRATCH/d2" 1M random
	run -0 "$KCOPY" -q -S -j 4 -b 128K "$SCRATCH/src" "$SCRATCH/d1" "$SCRATCH/d2:4K" \
		"$SCRATCH/d3:1M"
	cmp "$SCRATCH/src" "$SCRATCH/d1"
	assert_same_range "$SCRATCH/d2" 4096 "$SCRATCH/src" 0 "$size"
	[ "$(stat -c %s "$SCRATCH/d2")" -eq $((size + 4096)) ]
	assert_same_range "$SCRATCH/d3" 1M "$SCRATCH/src" 0 "$size"
	# a device destination, from a region of the source
	run -0 "$KCOPY" -q --sequential -b 64K "$SCRATCH/src:512K+2M" "$L:1M"
	assert_same_range "$L" 1M "$SCRATCH/src" 512K 2M
	assert_zero_range "$L" 0 1M
	assert_zero_range "$L" 3M 1M
}

@test "-S with -i: a warning that --ignore-errors is off" {
	make_file "$SCRATCH/ok" 1M random
	run -0 "$KCOPY" -S -i "$SCRATCH/ok" "$SCRATCH/ok.copy"
	assert_output --partial "--ignore-errors"
	assert_output --partial "warning"
	cmp "$SCRATCH/ok" "$SCRATCH/ok.copy"
	run -0 "$KCOPY" -i --sequential --zero "$SCRATCH/ok.copy"
	assert_output --partial "--ignore-errors"
	assert_zero_range "$SCRATCH/ok.copy" 0 1M
	# in a job file too
	printf 'copy -S -i %s %s\n' "$SCRATCH/ok" "$SCRATCH/ok.copy2" >"$SCRATCH/jobs"
	run -0 "$KCOPY" --job-file="$SCRATCH/jobs"
	assert_output --partial "--ignore-errors"
	cmp "$SCRATCH/ok" "$SCRATCH/ok.copy2"
}

@test "-i without -S keeps writing past a write error" {
	make_file "$SCRATCH/src" 2M random
	truncate -s 2M "$SCRATCH/d.img"
	mount_faultfs D "$SCRATCH/d.img" --log="$SCRATCH/d.log" --write-fail=$MiB+4096
	run -1 --separate-stderr "$KCOPY" --json -i -j 4 -b 64K "$SCRATCH/src" "$D"
	json_expect "d['status'] == 'errors'" "d['jobs'][0]['write_err'] == 1"
	assert_same_range "$SCRATCH/d.img" 0 "$SCRATCH/src" 0 1M
	assert_same_range "$SCRATCH/d.img" $((MiB + 4096)) "$SCRATCH/src" $((MiB + 4096)) \
		$((MiB - 4096))
}

@test "-S (with or without -i): nothing is written above a failed write" {
	# Under -S, once the write at 1 MiB has failed, that offset is never
	# written, so no write above it may be issued: not the rest of the copy,
	# and not block-by-block retries of the failed chunk either.
	make_file "$SCRATCH/src" 2M random
	local opts n=0
	for opts in "-S" "-S -i"; do
		n=$((n + 1))
		truncate -s 2M "$SCRATCH/d$n.img"
		mount_faultfs D "$SCRATCH/d$n.img" --name=d$n --log="$SCRATCH/d$n.log" \
			--write-fail=$MiB+4096
		# shellcheck disable=SC2086 # two words
		run -1 --separate-stderr "$KCOPY" --json $opts -j 4 -b 64K "$SCRATCH/src" "$D"
		json_expect "d['status'] == 'errors'" "d['jobs'][0]['write_err'] == 1" \
			"any(e['offset'] <= $MiB < e['offset'] + e['length'] for e in d['jobs'][0]['errors'])"
		assert_same_range "$SCRATCH/d$n.img" 0 "$SCRATCH/src" 0 1M
		log_ascending "$SCRATCH/d$n.log" W 0 $MiB
		run awk -v m=$MiB '$1 == "W" && $2 > m' "$SCRATCH/d$n.log"
		[ -z "$output" ] || fail "$opts: $(wc -l <<<"$output") writes above the failed offset $MiB, e.g. $(head -3 <<<"$output" | paste -sd,)"
		assert_zero_range "$SCRATCH/d$n.img" $((MiB + 65536)) $((MiB - 65536))
	done
}

@test "-S --sparse: zero chunks (fallocate) wait for the writes below them too" {
	# data 0..1M | hole 1M..2M: the hole goes to the destination as a
	# fallocate, which is a write like any other for -S
	rm -f "$SCRATCH/src"
	truncate -s 2M "$SCRATCH/src"
	head -c 1M /dev/urandom | dd of="$SCRATCH/src" conv=notrunc status=none
	make_file "$SCRATCH/d.img" 2M random
	mount_faultfs D "$SCRATCH/d.img" --log="$SCRATCH/d.log" --delay-us=20000
	run -0 --separate-stderr "$KCOPY" --json -q -S --sparse -j 8 -b 64K "$SCRATCH/src" "$D"
	json_expect "d['status'] == 'ok'"
	cmp "$SCRATCH/src" "$SCRATCH/d.img"
	log_ascending "$SCRATCH/d.log" WF 0 $((2 * MiB))
}

@test "-S --sparse: data after a zero run is copied (no hang)" {
	# data 0..1M | hole (or zeros) 1M..1.5M | data 1.5M..2M; a 2 MiB copy
	# takes milliseconds, so 10 s means it hangs
	rm -f "$SCRATCH/src"
	truncate -s 2M "$SCRATCH/src"
	head -c 1M /dev/urandom | dd of="$SCRATCH/src" conv=notrunc status=none
	head -c 512K /dev/urandom | dd of="$SCRATCH/src" bs=512K seek=3 conv=notrunc status=none
	cp "$SCRATCH/src" "$SCRATCH/bsrc.img"
	make_loop_on "$SCRATCH/bsrc.img" B
	local opt src n=0 bad=()
	for src in "$SCRATCH/src" "$B"; do
		for opt in "" --dest-is-zero --no-write-zeroes; do
			n=$((n + 1))
			truncate -s 2M "$SCRATCH/d$n"
			# shellcheck disable=SC2086
			run timeout -k 1 10 "$KCOPY" -q -S --sparse $opt -j 8 -b 64K "$src" "$SCRATCH/d$n"
			if [ "$status" -ne 0 ]; then
				bad+=("-S --sparse $opt from ${src##*/}: exit $status")
			elif ! cmp "$SCRATCH/src" "$SCRATCH/d$n"; then
				bad+=("-S --sparse $opt from ${src##*/}: copy differs")
			fi
		done
	done
	((${#bad[@]} == 0)) || fail "$(printf '%s\n' "${bad[@]}") (exit 124: hung, killed)"
}

@test "-S --zero: zero writes in ascending order, several destinations" {
	make_file "$SCRATCH/a.img" 4M random
	make_file "$SCRATCH/b.img" 2M random
	cp "$SCRATCH/a.img" "$SCRATCH/a.orig"
	mount_faultfs FA "$SCRATCH/a.img" --name=a --log="$SCRATCH/a.log" --delay-us=2000
	mount_faultfs FB "$SCRATCH/b.img" --name=b --log="$SCRATCH/b.log" --delay-us=1000
	run -0 --separate-stderr "$KCOPY" --json -q -S -j 8 -b 64K --no-write-zeroes --zero \
		"$FA:1M+2M" "$FB"
	json_expect "d['status'] == 'ok'" "d['jobs'][0]['zero_method'] == 'write'"
	assert_zero_range "$SCRATCH/a.img" 1M 2M
	assert_same_range "$SCRATCH/a.img" 0 "$SCRATCH/a.orig" 0 1M
	assert_same_range "$SCRATCH/a.img" 3M "$SCRATCH/a.orig" 3M 1M
	assert_zero_range "$SCRATCH/b.img" 0 2M
	log_ascending "$SCRATCH/a.log" W $MiB $((2 * MiB))
	log_ascending "$SCRATCH/b.log" W 0 $((2 * MiB))
}

@test "-S --zero: offload failing at run time, the fallback writes are in order" {
	make_file "$SCRATCH/a.img" 4M random
	mount_faultfs FA "$SCRATCH/a.img" --log="$SCRATCH/a.log" --delay-us=1000 --no-fallocate
	run -0 --separate-stderr "$KCOPY" --json -q -S -j 8 -b 64K --zero "$FA:512K"
	json_expect "d['status'] == 'ok'" "d['jobs'][0]['zero_method'] == 'write'"
	assert_zero_range "$SCRATCH/a.img" 512K $((4 * MiB - 512 * 1024))
	log_ascending "$SCRATCH/a.log" W $((512 * 1024)) $((4 * MiB - 512 * 1024))

	# a loop device over faultfs: the offload (BLKZEROOUT) in ascending pieces
	make_file "$SCRATCH/b.img" 4M random
	mount_faultfs FB "$SCRATCH/b.img" --name=b --log="$SCRATCH/b.log"
	loop_on_faultfs LB "$FB"
	run -0 --separate-stderr "$KCOPY" --json -q -S -j 8 -b 64K --zero "$LB:1M"
	json_expect "d['status'] == 'ok'"
	assert_zero_range "$LB" 1M 3M
	assert_zero_range "$SCRATCH/b.img" 1M 3M
}
