#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# kcopy --sparse: holes of a regular-file source (SEEK_DATA/SEEK_HOLE) are
# never read; chunks that are all zero (holes, or read as zeros from any
# source) go to the destinations as write-zeroes (offload where every
# destination supports it, else zero writes) -- or, with --dest-is-zero, not
# at all.  Destinations always read back identical to the source (unless the
# --dest-is-zero promise is false).  The reports split the bytes into
# bytes_data / bytes_zeroed / bytes_skipped.
#
# How "never read" is proved: faultfs has no lseek, so through FUSE a file
# looks all data (SEEK_HOLE = EOF) and its --log cannot show skipped holes.
# Instead kcopy runs under strace on a sparse file of the test file system,
# and every read request on the source (io_submit IOCB_CMD_PREAD and
# pread64/preadv) is checked against the file's holes.

# shellcheck disable=SC2154 # $stderr is set by bats run --separate-stderr
load test_helper
bats_require_minimum_version 1.5.0

MiB=$((1024 * 1024))
KiB=1024

# The real interpreter, not a pyenv shim: it is started many times.
setup_file() {
	PY=$(python3 -c 'import sys; print(sys.executable)')
	export PY
}

setup() {
	require_root
}

# json_expect EXPR...: every python EXPR is true, with d = the JSON report in
# $output (from `run --separate-stderr`), j = its first job.
json_expect() {
	printf '%s\n' "$output" | "${PY:-python3}" -c '
import json, sys
try:
    d = json.load(sys.stdin)
except ValueError as e:
    sys.exit("not JSON (%s)" % e)
j = d["jobs"][0] if d.get("jobs") else None
bad = [e for e in sys.argv[1:] if not eval(e, {"d": d, "j": j})]
if bad:
    sys.exit("false: %s\nin %s" % ("; ".join(bad), json.dumps(d)))
' "$@" || fail "json_expect"
}

# put_data FILE OFF LEN: LEN random bytes at OFF (FILE not truncated)
put_data() {
	head -c "$(bytes_of "$3")" /dev/urandom |
		dd of="$1" bs=64K seek="$(bytes_of "$2")" oflag=seek_bytes conv=notrunc \
			status=none || fail "put_data $*"
}

# put_zero FILE OFF LEN: LEN zero bytes written (allocated, not a hole) at OFF
put_zero() {
	head -c "$(bytes_of "$3")" /dev/zero |
		dd of="$1" bs=64K seek="$(bytes_of "$2")" oflag=seek_bytes conv=notrunc \
			status=none || fail "put_zero $*"
}

# fill_ff PATH SIZE: a file of 0xff bytes
fill_ff() {
	head -c "$(bytes_of "$2")" /dev/zero | tr '\0' '\377' >"$1"
}

# holes_of FILE: "OFF LEN" per hole, by SEEK_DATA/SEEK_HOLE (a hole that
# reaches EOF ends at EOF)
holes_of() {
	"${PY:-python3}" -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
pos = 0
while pos < size:
    try:
        d = os.lseek(fd, pos, os.SEEK_DATA)
    except OSError:
        d = size
    if d > pos:
        print(pos, d - pos)
    if d >= size:
        break
    pos = os.lseek(fd, d, os.SEEK_HOLE)
' "$1"
}

# make_holey FILE: the layout used below, 4 MiB + 1000 bytes:
#   hole 0..1M | data 1M..1.5M | hole 1.5M..2.5M | data 2.5M..3M |
#   hole 3M..EOF (4M+1000, unaligned)
make_holey() {
	rm -f "$1"
	truncate -s $((4 * MiB + 1000)) "$1"
	put_data "$1" 1M 512K
	put_data "$1" 2560K 512K
	holes_ok "$1" "0 $MiB" "$((1536 * KiB)) $MiB" "$((3 * MiB)) $((MiB + 1000))"
}

# holes_ok FILE "OFF LEN"...: FILE's holes are exactly these (else skip: the
# file system does not report holes)
holes_ok() {
	local f=$1 got want
	shift
	got=$(holes_of "$f")
	want=$(printf '%s\n' "$@")
	if [[ $got != "$want" ]]; then
		skip "the file system does not report the expected holes in $f: $got"
	fi
}

# strace_kcopy LOG ARGS...: run kcopy under strace (status/output as `run`)
strace_kcopy() {
	command -v strace >/dev/null || skip "strace not installed"
	local log=$1
	shift
	# LeakSanitizer cannot run under ptrace (sanitizer builds). --io=aio:
	# strace sees the offsets of io_submit's iocbs, never those of
	# io_uring's SQEs (shared memory), whichever backend is the default.
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		run --separate-stderr strace -f -y -s 64 -qq -o "$log" \
			-e trace=io_submit,pread64,preadv,preadv2,read,readv "$KCOPY" --io=aio "$@"
}

# source_reads LOG PATH: "OFF LEN" of every read request on PATH in the
# strace LOG (AIO and synchronous); fails on anything it cannot parse.
source_reads() {
	"${PY:-python3}" - "$@" <<'EOF'
import re, sys
log, path = sys.argv[1], sys.argv[2]
tag = "<%s>" % path
iocb = re.compile(r"aio_lio_opcode=IOCB_CMD_(\w+), aio_fildes=\d+<([^>]*)>.*?"
                  r"aio_nbytes=(\d+), aio_offset=(\d+)")
sync = re.compile(r"^\d+\s+(pread64|preadv2?|read|readv)\(\d+<([^>]*)>.*, (\d+)(?:, \d+)?\) += (-?\d+)")
out = []
for line in open(log):
    if "io_submit(" in line:
        if "..." in line.split("io_submit(", 1)[1].split("[", 1)[0] or re.search(r"\}, \.\.\.\]", line):
            sys.exit("strace abbreviated an io_submit array: " + line[:200])
        body = line.split("io_submit(", 1)[1]
        for part in body.split("{aio_data=")[1:]:
            m = iocb.search(part)
            if not m:
                if tag in part:
                    sys.exit("cannot parse iocb: " + part[:200])
                continue
            op, p, n, o = m.group(1), m.group(2), int(m.group(3)), int(m.group(4))
            if p != path:
                continue
            if op == "PREAD":
                out.append((o, n))
            elif op != "PWRITE":
                sys.exit("unexpected iocb %s on the source: %s" % (op, part[:200]))
        continue
    if tag in line:
        m = re.match(r"^\d+\s+pread64\(\d+<[^>]*>, .*, (\d+), (\d+)\) += (-?\d+)", line)
        if m:
            out.append((int(m.group(2)), int(m.group(1))))
            continue
        if re.match(r"^\d+\s+(read|readv|preadv2?)\(", line):
            sys.exit("unhandled read call on the source: " + line[:200])
for o, n in out:
    print(o, n)
EOF
}

# no_reads_in_holes LOG SRC: no read request on SRC touches a hole of SRC;
# prints the total bytes read.
no_reads_in_holes() {
	local reads holes
	reads=$(source_reads "$1" "$2") || { fail "source_reads: $reads"; return 1; }
	holes=$(holes_of "$2")
	[[ -n $holes ]] || { fail "no holes in $2"; return 1; }
	"${PY:-python3}" -c '
import sys
reads = [tuple(map(int, l.split())) for l in sys.argv[1].splitlines() if l.strip()]
holes = [tuple(map(int, l.split())) for l in sys.argv[2].splitlines() if l.strip()]
if not reads:
    sys.exit("no read requests on the source found in the strace log")
bad = [(o, n, h, hl) for o, n in reads for h, hl in holes if o < h + hl and h < o + n]
if bad:
    sys.exit("reads inside holes: " + ", ".join("%d+%d in hole %d+%d" % b for b in bad[:5]))
print(sum(n for o, n in reads))
' "$reads" "$holes" || fail "no_reads_in_holes $2"
}

# log_touching LOG KIND OFF LEN: the KIND requests of a faultfs log that
# overlap [OFF, OFF+LEN)
log_touching() {
	local a b
	a=$(bytes_of "$3") && b=$(bytes_of "$4") || return 1
	awk -v k="$2" -v a="$a" -v b="$((a + b))" '$1 == k && $2 < b && $2 + $3 > a' "$1"
}

@test "sparse: file source with holes at start, middle and end, unaligned EOF" {
	local size=$((4 * MiB + 1000))
	make_holey "$SCRATCH/src"
	# a new file, a random file longer than the copy, a random loop device
	make_file "$SCRATCH/d2" 5M random
	cp "$SCRATCH/d2" "$SCRATCH/d2.orig"
	make_file "$SCRATCH/l.img" 5M random
	make_loop_on "$SCRATCH/l.img" L
	run -0 --separate-stderr "$KCOPY" --json -q --sparse -b 64K \
		"$SCRATCH/src" "$SCRATCH/d1" "$SCRATCH/d2" "$L"
	[ "$stderr" = "" ]
	json_expect "d['status'] == 'ok'" "j['bytes'] == $size" \
		"j['bytes_data'] == $MiB" "j['bytes_zeroed'] == $((size - MiB))" \
		"j['bytes_skipped'] == 0" "j['write_err'] == 0 and j['read_err'] == 0"
	cmp "$SCRATCH/src" "$SCRATCH/d1"
	assert_same_range "$SCRATCH/d2" 0 "$SCRATCH/src" 0 "$size"
	assert_same_range "$SCRATCH/d2" "$size" "$SCRATCH/d2.orig" "$size" $((5 * MiB - size))
	[ "$(stat -c %s "$SCRATCH/d2")" -eq $((5 * MiB)) ]
	assert_same_range "$L" 0 "$SCRATCH/src" 0 "$size"
	# a source region to a device region that is a multiple of its blocks
	run -0 "$KCOPY" -q --sparse -b 64K "$SCRATCH/src:+$((4 * MiB))" "$L:512"
	assert_same_range "$L" 512 "$SCRATCH/src" 0 4M
}

@test "sparse: data at the unaligned end, several sub-job sizes" {
	local size=$((2 * MiB + 700)) b
	rm -f "$SCRATCH/src"
	truncate -s "$size" "$SCRATCH/src"
	put_data "$SCRATCH/src" 512K 512K
	put_data "$SCRATCH/src" 2M 700
	holes_ok "$SCRATCH/src" "0 $((512 * KiB))" "$MiB $MiB"
	for b in 4K 64K 512K 1M; do
		make_file "$SCRATCH/d$b" 3M random
		run -0 --separate-stderr "$KCOPY" --json -q --sparse -b "$b" -j 3 \
			"$SCRATCH/src" "$SCRATCH/n$b" "$SCRATCH/d$b"
		json_expect "j['bytes_data'] == $((512 * KiB + 700))" \
			"j['bytes_zeroed'] == $((size - 512 * KiB - 700))" "j['bytes_skipped'] == 0"
		cmp "$SCRATCH/src" "$SCRATCH/n$b"
		assert_same_range "$SCRATCH/d$b" 0 "$SCRATCH/src" 0 "$size"
	done
	# an all-hole file, and a file with no hole at all
	truncate -s 1M "$SCRATCH/empty"
	make_file "$SCRATCH/dfull" 1M random
	run -0 --separate-stderr "$KCOPY" --json -q --sparse "$SCRATCH/empty" "$SCRATCH/dfull"
	json_expect "j['bytes_data'] == 0" "j['bytes_zeroed'] == $MiB"
	assert_zero_range "$SCRATCH/dfull" 0 1M
	make_file "$SCRATCH/full" 1M random
	run -0 --separate-stderr "$KCOPY" --json -q --sparse "$SCRATCH/full" "$SCRATCH/dfull"
	json_expect "j['bytes_data'] == $MiB" "j['bytes_zeroed'] == 0"
	cmp "$SCRATCH/full" "$SCRATCH/dfull"
}

@test "sparse: holes of a file source are never read (strace)" {
	# hole 0..1M | data 1M..1.5M | hole 1.5M..2.5M | data 2.5M..3M | hole 3M..4M
	rm -f "$SCRATCH/src"
	truncate -s 4M "$SCRATCH/src"
	put_data "$SCRATCH/src" 1M 512K
	put_data "$SCRATCH/src" 2560K 512K
	holes_ok "$SCRATCH/src" "0 $MiB" "$((1536 * KiB)) $MiB" "$((3 * MiB)) $MiB"
	local opt total
	for opt in "" --dest-is-zero --no-write-zeroes; do
		rm -f "$SCRATCH/dst"
		strace_kcopy "$SCRATCH/st$opt" --json -q --sparse $opt -b 64K -j 4 \
			"$SCRATCH/src" "$SCRATCH/dst"
		[ "$status" -eq 0 ] || fail "kcopy under strace: $status $stderr"
		cmp "$SCRATCH/src" "$SCRATCH/dst"
		total=$(no_reads_in_holes "$SCRATCH/st$opt" "$SCRATCH/src")
		echo "$opt: $total source bytes read"
		# the data (1 MiB), and nothing more
		[ "$total" -eq "$MiB" ]
	done
	# a source region that starts in a hole and ends in data
	make_file "$SCRATCH/dst" 2M random
	strace_kcopy "$SCRATCH/st.region" -q --sparse -b 64K "$SCRATCH/src:512K+768K" \
		"$SCRATCH/dst:4K"
	[ "$status" -eq 0 ]
	assert_same_range "$SCRATCH/dst" 4K "$SCRATCH/src" 512K 768K
	total=$(no_reads_in_holes "$SCRATCH/st.region" "$SCRATCH/src")
	[ "$total" -eq $((256 * KiB)) ]
}

@test "sparse: a hole at an unaligned end of file is not read either (strace)" {
	make_holey "$SCRATCH/src"
	local opt total
	for opt in "" --dest-is-zero; do
		rm -f "$SCRATCH/dst"
		strace_kcopy "$SCRATCH/st$opt" --json -q --sparse $opt -b 64K -j 4 \
			"$SCRATCH/src" "$SCRATCH/dst"
		[ "$status" -eq 0 ] || fail "kcopy under strace: $status $stderr"
		cmp "$SCRATCH/src" "$SCRATCH/dst"
		total=$(no_reads_in_holes "$SCRATCH/st$opt" "$SCRATCH/src")
		[ "$total" -eq "$MiB" ]
	done
}

@test "sparse: without --sparse the holes are read (the strace check can see reads)" {
	make_holey "$SCRATCH/src"
	strace_kcopy "$SCRATCH/st" -q -b 64K "$SCRATCH/src" "$SCRATCH/dst"
	[ "$status" -eq 0 ]
	cmp "$SCRATCH/src" "$SCRATCH/dst"
	run no_reads_in_holes "$SCRATCH/st" "$SCRATCH/src"
	assert_failure
	assert_output --partial "reads inside holes"
}

@test "sparse: block device source with zero runs, zero chunks by offload, not written" {
	# random | zero 1M..2M | random 2M..2.5M | zero 2.5M..4M (written zeros)
	make_file "$SCRATCH/s.img" 4M random
	put_zero "$SCRATCH/s.img" 1M 1M
	put_zero "$SCRATCH/s.img" 2560K 1536K
	make_loop_on "$SCRATCH/s.img" S
	make_file "$SCRATCH/d.img" 4M random
	mount_faultfs D "$SCRATCH/d.img" --log="$SCRATCH/d.log"
	make_file "$SCRATCH/l.img" 4M random
	make_loop_on "$SCRATCH/l.img" L
	run -0 --separate-stderr "$KCOPY" --json -q --sparse -b 64K "$S" "$D" "$L"
	json_expect "d['status'] == 'ok'" "j['bytes_data'] == $((1536 * KiB))" \
		"j['bytes_zeroed'] == $((2560 * KiB))" "j['bytes_skipped'] == 0" \
		"j['zero_method'] == 'offload'"
	cmp "$SCRATCH/s.img" "$SCRATCH/d.img"
	assert_same_range "$L" 0 "$SCRATCH/s.img" 0 4M
	# the zero runs were not written as data, but given to fallocate
	run log_touching "$SCRATCH/d.log" W $MiB $MiB
	assert_output ""
	run log_touching "$SCRATCH/d.log" W $((2560 * KiB)) $((1536 * KiB))
	assert_output ""
	run log_touching "$SCRATCH/d.log" F $MiB $MiB
	refute_output ""
	# the data was written, and no fallocate touched it
	run log_touching "$SCRATCH/d.log" W 0 $MiB
	refute_output ""
	run log_touching "$SCRATCH/d.log" F 0 $MiB
	assert_output ""
	run log_touching "$SCRATCH/d.log" F 2M 512K
	assert_output ""
}

@test "sparse: holes of a file source reach the destination as fallocate, not writes" {
	rm -f "$SCRATCH/src"
	truncate -s 4M "$SCRATCH/src"
	put_data "$SCRATCH/src" 1M 512K
	put_data "$SCRATCH/src" 2560K 512K
	holes_ok "$SCRATCH/src" "0 $MiB" "$((1536 * KiB)) $MiB" "$((3 * MiB)) $MiB"
	fill_ff "$SCRATCH/d.img" 4M
	mount_faultfs D "$SCRATCH/d.img" --log="$SCRATCH/d.log"
	run -0 --separate-stderr "$KCOPY" --json -q --sparse -b 64K "$SCRATCH/src" "$D"
	json_expect "j['bytes_data'] == $MiB" "j['bytes_zeroed'] == $((3 * MiB))"
	cmp "$SCRATCH/src" "$SCRATCH/d.img"
	local r
	for r in "0 $MiB" "$((1536 * KiB)) $MiB" "$((3 * MiB)) $MiB"; do
		# shellcheck disable=SC2086
		run log_touching "$SCRATCH/d.log" W $r
		assert_output ""
		# shellcheck disable=SC2086
		run log_touching "$SCRATCH/d.log" F $r
		refute_output ""
	done
	run log_touching "$SCRATCH/d.log" F 1M 512K
	assert_output ""
}

@test "sparse: --no-write-zeroes writes zero buffers for the zero runs" {
	make_file "$SCRATCH/s.img" 2M random
	put_zero "$SCRATCH/s.img" 512K 1M
	make_loop_on "$SCRATCH/s.img" S
	make_file "$SCRATCH/d.img" 2M random
	mount_faultfs D "$SCRATCH/d.img" --log="$SCRATCH/d.log"
	run -0 --separate-stderr "$KCOPY" --json -q --sparse --no-write-zeroes -b 64K "$S" "$D"
	json_expect "j['bytes_data'] == $MiB" "j['bytes_zeroed'] == $MiB" \
		"j['zero_method'] == 'write'"
	cmp "$SCRATCH/s.img" "$SCRATCH/d.img"
	run grep -c '^F ' "$SCRATCH/d.log"
	assert_output 0
	run log_touching "$SCRATCH/d.log" W 512K 1M
	refute_output ""
}

@test "sparse: offload failing at run time falls back to zero writes, still identical" {
	make_holey "$SCRATCH/src"
	fill_ff "$SCRATCH/d.img" 5M
	mount_faultfs D "$SCRATCH/d.img" --log="$SCRATCH/d.log" --no-fallocate
	make_file "$SCRATCH/other" 5M random
	run -0 --separate-stderr "$KCOPY" --json -q --sparse -b 64K "$SCRATCH/src" "$D" \
		"$SCRATCH/other"
	json_expect "d['status'] == 'ok'" "j['write_err'] == 0" "j['errors'] == []" \
		"j['bytes_data'] + j['bytes_zeroed'] == j['bytes']" "j['zero_method'] == 'write'"
	assert_same_range "$SCRATCH/d.img" 0 "$SCRATCH/src" 0 $((4 * MiB + 1000))
	assert_same_range "$SCRATCH/other" 0 "$SCRATCH/src" 0 $((4 * MiB + 1000))
	run log_touching "$SCRATCH/d.log" W 0 $MiB
	refute_output ""

	# a block device source with zero runs, the same way
	make_file "$SCRATCH/s.img" 2M random
	put_zero "$SCRATCH/s.img" 0 1M
	make_loop_on "$SCRATCH/s.img" S
	fill_ff "$SCRATCH/e.img" 2M
	mount_faultfs E "$SCRATCH/e.img" --no-fallocate
	run -0 --separate-stderr "$KCOPY" --json -q --sparse -b 64K "$S" "$E"
	json_expect "d['status'] == 'ok'" "j['bytes_zeroed'] == $MiB"
	cmp "$SCRATCH/s.img" "$SCRATCH/e.img"
}

@test "sparse: a FUSE file source (no SEEK_HOLE there): zero chunks found by content" {
	make_holey "$SCRATCH/src.img"
	mount_faultfs F "$SCRATCH/src.img" --log="$SCRATCH/src.log"
	make_file "$SCRATCH/dst" 5M random
	run -0 --separate-stderr "$KCOPY" --json -q --sparse -b 64K "$F" "$SCRATCH/dst"
	json_expect "d['status'] == 'ok'" "j['bytes_data'] + j['bytes_zeroed'] == j['bytes']" \
		"j['bytes_zeroed'] >= $((3 * MiB))"
	assert_same_range "$SCRATCH/dst" 0 "$SCRATCH/src.img" 0 $((4 * MiB + 1000))
	# every byte was read (FUSE reports no holes); a sanity check of the log
	[ "$(awk '$1 == "R" { n += $3 } END { print n + 0 }' "$SCRATCH/src.log")" -ge $((4 * MiB)) ]
}

@test "sparse --dest-is-zero: zero runs skipped, no I/O to the destinations there" {
	# file source: holes skipped without a read or a write
	make_holey "$SCRATCH/src"
	truncate -s 5M "$SCRATCH/d.img"
	mount_faultfs D "$SCRATCH/d.img" --log="$SCRATCH/d.log"
	run -0 --separate-stderr "$KCOPY" --json -q --sparse --dest-is-zero -b 64K \
		"$SCRATCH/src" "$D"
	json_expect "d['status'] == 'ok'" "j['bytes_data'] == $MiB" "j['bytes_zeroed'] == 0" \
		"j['bytes_skipped'] == $((3 * MiB + 1000))" "j['zero_method'] is None"
	assert_same_range "$SCRATCH/d.img" 0 "$SCRATCH/src" 0 $((4 * MiB + 1000))
	local r
	for r in "0 $MiB" "$((1536 * KiB)) $MiB" "$((3 * MiB)) $((MiB + 1000))"; do
		# shellcheck disable=SC2086
		run log_touching "$SCRATCH/d.log" W $r
		assert_output ""
		# shellcheck disable=SC2086
		run log_touching "$SCRATCH/d.log" F $r
		assert_output ""
	done

	# a destination file that does not exist yet still gets the full size
	run -0 "$KCOPY" -q --sparse --dest-is-zero -b 64K "$SCRATCH/src" "$SCRATCH/new"
	cmp "$SCRATCH/src" "$SCRATCH/new"

	# block device source: zero runs read, but not written
	make_file "$SCRATCH/s.img" 3M random
	put_zero "$SCRATCH/s.img" 0 1M
	put_zero "$SCRATCH/s.img" 2M 1M
	make_loop_on "$SCRATCH/s.img" S
	make_loop L 3M
	truncate -s 3M "$SCRATCH/e.img"
	mount_faultfs E "$SCRATCH/e.img" --log="$SCRATCH/e.log"
	run -0 --separate-stderr "$KCOPY" --json -q --sparse --dest-is-zero -b 64K "$S" "$E" "$L"
	json_expect "j['bytes_data'] == $MiB" "j['bytes_zeroed'] == 0" \
		"j['bytes_skipped'] == $((2 * MiB))"
	cmp "$SCRATCH/s.img" "$SCRATCH/e.img"
	assert_same_range "$L" 0 "$SCRATCH/s.img" 0 3M
	run grep -E '^[WF] ' "$SCRATCH/e.log"
	refute_output ""
	run log_touching "$SCRATCH/e.log" W 0 $MiB
	assert_output ""
	run log_touching "$SCRATCH/e.log" W 2M 1M
	assert_output ""
	run grep -c '^F ' "$SCRATCH/e.log"
	assert_output 0
}

@test "sparse --dest-is-zero: a false promise leaves the old bytes in the zero runs" {
	# Documented behaviour: kcopy trusts --dest-is-zero and does not look.
	make_holey "$SCRATCH/src"
	fill_ff "$SCRATCH/dst" $((4 * MiB + 1000))
	run -0 --separate-stderr "$KCOPY" --json -q --sparse --dest-is-zero -b 64K \
		"$SCRATCH/src" "$SCRATCH/dst"
	json_expect "j['bytes_skipped'] == $((3 * MiB + 1000))"
	# data copied ...
	assert_same_range "$SCRATCH/dst" 1M "$SCRATCH/src" 1M 512K
	assert_same_range "$SCRATCH/dst" 2560K "$SCRATCH/src" 2560K 512K
	# ... the holes' ranges still hold the 0xff bytes that were there
	fill_ff "$SCRATCH/ff" $((4 * MiB + 1000))
	assert_same_range "$SCRATCH/dst" 0 "$SCRATCH/ff" 0 1M
	assert_same_range "$SCRATCH/dst" 1536K "$SCRATCH/ff" 0 1M
	assert_same_range "$SCRATCH/dst" 3M "$SCRATCH/ff" 0 $((MiB + 1000))
	run -1 cmp -s "$SCRATCH/src" "$SCRATCH/dst"

	# the same from a block device source's zero runs
	make_file "$SCRATCH/s.img" 2M random
	put_zero "$SCRATCH/s.img" 512K 1M
	make_loop_on "$SCRATCH/s.img" S
	fill_ff "$SCRATCH/d2" 2M
	run -0 "$KCOPY" -q --sparse --dest-is-zero -b 64K "$S" "$SCRATCH/d2"
	assert_same_range "$SCRATCH/d2" 0 "$SCRATCH/s.img" 0 512K
	assert_same_range "$SCRATCH/d2" 512K "$SCRATCH/ff" 0 1M
	assert_same_range "$SCRATCH/d2" 1536K "$SCRATCH/s.img" 1536K 512K
}

@test "sparse: --dest-is-zero needs --sparse" {
	make_file "$SCRATCH/src" 1M random
	make_file "$SCRATCH/dst" 1M random
	cp "$SCRATCH/dst" "$SCRATCH/dst.orig"
	run -2 "$KCOPY" --dest-is-zero "$SCRATCH/src" "$SCRATCH/dst"
	assert_output --partial "--dest-is-zero"
	cmp "$SCRATCH/dst" "$SCRATCH/dst.orig"
}

@test "sparse: --sparse with --zero is refused, nothing written" {
	make_file "$SCRATCH/dst" 1M random
	cp "$SCRATCH/dst" "$SCRATCH/dst.orig"
	run -2 --separate-stderr "$KCOPY" --zero --sparse "$SCRATCH/dst"
	[ "$stderr" = "kcopy: --sparse applies to copies; --zero writes only zeros anyway" ]
	cmp "$SCRATCH/dst" "$SCRATCH/dst.orig"
}

@test "sparse: allocated zero blocks of a file source count as zeros too" {
	make_file "$SCRATCH/src" 2M random
	put_zero "$SCRATCH/src" 256K 512K
	holes_ok "$SCRATCH/src"
	make_file "$SCRATCH/dst" 2M random
	run -0 --separate-stderr "$KCOPY" --json -q --sparse -b 64K "$SCRATCH/src" "$SCRATCH/dst"
	json_expect "j['bytes_data'] == $((1536 * KiB))" "j['bytes_zeroed'] == $((512 * KiB))"
	cmp "$SCRATCH/src" "$SCRATCH/dst"
	make_file "$SCRATCH/dst" 2M random
	run -0 --separate-stderr "$KCOPY" --json -q --sparse --dest-is-zero -b 64K \
		"$SCRATCH/src" "$SCRATCH/dst"
	json_expect "j['bytes_data'] == $((1536 * KiB))" "j['bytes_skipped'] == $((512 * KiB))"
}

@test "sparse: the human report gives data, zeroed and skipped bytes" {
	make_holey "$SCRATCH/src"
	run -0 --separate-stderr "$KCOPY" --json --sparse -b 64K "$SCRATCH/src" "$SCRATCH/dst"
	local data zeroed
	data=$(json_get 'd["jobs"][0]["bytes_data"]' <<<"$output")
	zeroed=$(json_get 'd["jobs"][0]["bytes_zeroed"]' <<<"$output")
	[[ $stderr == *data* && $stderr == *zero* && $stderr == *skip* ]] ||
		fail "human report lacks the split: $stderr"
	# how the zeros went: the file destination takes fallocate
	[ "$(json_get 'd["jobs"][0]["zero_method"]' <<<"$output")" = offload ]
	[[ $stderr == *"zeroed by write-zeroes offload"* ]] ||
		fail "human report does not say how the zeros went: $stderr"
	# the figures, in bytes or rounded to MiB
	[[ $stderr == *"$data"* || $stderr == *"1.0 MiB as data"* ]] ||
		fail "human report lacks the data bytes $data: $stderr"
	[[ $stderr == *"$zeroed"* || $stderr == *"3.0 MiB zeroed"* ]] ||
		fail "human report lacks the zeroed bytes $zeroed: $stderr"
	truncate -s 5M "$SCRATCH/z"
	run -0 --separate-stderr "$KCOPY" --json --sparse --dest-is-zero -b 64K \
		"$SCRATCH/src" "$SCRATCH/z"
	[[ $stderr == *"$((3 * MiB + 1000))"* || $stderr == *"3.0 MiB skipped"* ]] ||
		fail "skipped bytes not reported: $stderr"
	cmp -n $((4 * MiB + 1000)) "$SCRATCH/src" "$SCRATCH/z"
}
