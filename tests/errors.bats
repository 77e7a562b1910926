#!/usr/bin/env bats
# I/O errors users can act on: real faults (faultfs files and loop devices on
# top of them), --ignore-errors with bad-block isolation, exact read_err /
# write_err bitmasks, every failed range in the human and the JSON report.
#
# Also meant to run under valgrind:
#     KCOPY=tests/helpers/kcopy-valgrind bats tests/errors.bats
# Every kcopy run below goes through `run -N`, so valgrind's own error exit
# (99) fails the test.

bats_require_minimum_version 1.5.0

load test_helper

MiB=$((1024 * 1024))
KiB=1024
CHUNK=$((1024 * KiB)) # the default sub-job size
EIO_TEXT="Input/output error"

setup() {
	require_root
	SRC_IMG="$SCRATCH/src.img"
	make_file "$SRC_IMG" 4M random
}

# --- helpers -------------------------------------------------------------------

# (kc and jq_ come from test_helper.bash)

# faulty_src VAR [faultfs args...]: $SRC_IMG behind faultfs
faulty_src() {
	mount_faultfs "$1" "$SRC_IMG" --name=src "${@:2}"
}

# faulty_dst VAR NAME [SIZE] -- [faultfs args...]: a fresh image NAME.img
# filled with a pattern (kept as NAME.orig to compare with) behind faultfs
faulty_dst() {
	local _e_var=$1 _e_name=$2 _e_size=4M
	shift 2
	if [[ ${1:-} != -- ]]; then
		_e_size=$1
		shift
	fi
	[[ ${1:-} == -- ]] && shift
	make_file "$SCRATCH/$_e_name.img" "$_e_size" pattern
	cp "$SCRATCH/$_e_name.img" "$SCRATCH/$_e_name.orig"
	mount_faultfs "$_e_var" "$SCRATCH/$_e_name.img" --name="$_e_name" "$@"
}


# expect_zeroed EXPECTED SRC [OFF+LEN...]: EXPECTED = SRC with the ranges zeroed
expect_zeroed() {
	local out=$1 src=$2 r
	cp "$src" "$out"
	for r in "${@:3}"; do zero_range "$out" "${r%+*}" "${r#*+}"; done
}

# same_file A B [LEN]: byte-exact (first LEN bytes, default: all of both)
same_file() {
	local out
	_helper_flush_bdev "$1"
	_helper_flush_bdev "$2"
	if [[ $# -ge 3 ]]; then
		out=$(cmp -n "$3" "$1" "$2" 2>&1) || fail "$1 and $2 differ: $out"
	else
		out=$(cmp "$1" "$2" 2>&1) || fail "$1 and $2 differ: $out"
	fi
}

# errors_are [JOB=N] REGION:INDEX:OFF:LEN ...: the job's JSON errors array is
# exactly these ranges (any order), each with exactly the fields region,
# index (null for the source, an int for a destination), offset, length and
# error, and error = "Input/output error".
errors_are() {
	local job=0 out
	if [[ ${1:-} == JOB=* ]]; then
		job=${1#JOB=}
		shift
	fi
	out=$(python3 -c '
import json, sys
d = json.loads(sys.argv[1])
job = int(sys.argv[2])
text = sys.argv[3]
want = []
for a in sys.argv[4:]:
    r, i, o, l = a.split(":")
    want.append({"region": r, "index": None if i == "null" else int(i),
                 "offset": int(o), "length": int(l), "error": text})
got = d["jobs"][job]["errors"]
bad = []
for e in got:
    if sorted(e) != ["error", "index", "length", "offset", "region"]:
        bad.append("fields: %r" % e)
    elif e["region"] not in ("source", "dest"):
        bad.append("region: %r" % e)
    elif e["region"] == "source" and e["index"] is not None:
        bad.append("a source error has an index: %r" % e)
    elif e["region"] == "dest" and type(e["index"]) is not int:
        bad.append("a dest error without an int index: %r" % e)
    elif type(e["offset"]) is not int or type(e["length"]) is not int:
        bad.append("offset/length not integers: %r" % e)
    elif type(e["error"]) is not str:
        bad.append("error not a string: %r" % e)
key = lambda e: json.dumps(e, sort_keys=True)
if not bad and sorted(got, key=key) != sorted(want, key=key):
    bad.append("errors of job %d:\n  got  %s\n  want %s" % (job,
        json.dumps(got), json.dumps(want)))
if bad:
    print("\n".join(bad))
    sys.exit(1)
' "$output" "$job" "$EIO_TEXT" "$@" 2>&1) || fail "$out"
}

# shellcheck disable=SC2154 # $stderr is set by `run --separate-stderr`
# human_has REGION PATH OFF LEN: a line of the human report (stderr) names
# the region ("source" or "dest N"), the path, the range and the error text
human_has() {
	local region=$1 path=$2 off=$3 len=$4 l
	while IFS= read -r l; do
		[[ $l == *"$region"* && $l == *"$path"* && $l == *"$off"* &&
			$l == *"$len"* && $l == *"$EIO_TEXT"* ]] && return 0
	done <<<"$stderr"
	fail "no report line for $region $path offset $off length $len ($EIO_TEXT) in:
$stderr"
}

# job_is [JOB=N] READ_ERR WRITE_ERR BYTES: the job's bitmasks and bytes, and
# the run's status "errors"
job_is() {
	local job=0
	if [[ ${1:-} == JOB=* ]]; then
		job=${1#JOB=}
		shift
	fi
	local got
	got=$(jq_ "'%s %s %s %s' % (d['status'], d['jobs'][$job]['read_err'], d['jobs'][$job]['write_err'], d['jobs'][$job]['bytes_data'])")
	[[ $got == "errors $1 $2 $3" ]] ||
		fail "job $job: status read_err write_err bytes_data = '$got', want 'errors $1 $2 $3'"
}

# no_request_from LOG KIND OFF: no KIND (R/W) request at an offset >= OFF
no_request_from() {
	local bad
	bad=$(awk -v k="$2" -v o="$3" '$1 == k && $2 >= o' "$1" | head -5)
	[[ -z $bad ]] || fail "$1: $2 requests at or after $3:
$bad"
}

# --- source faults on files -----------------------------------------------------

@test "source bad range, no --ignore-errors: exit 1, exact range, no new sub-jobs after it" {
	local bad=$((2 * CHUNK + 4096)) # in the third chunk, two 512-byte blocks
	faulty_src F --read-fail=$bad+1024 --log="$SCRATCH/src.log"
	kc 1 -j 1 "$F" "$SCRATCH/out"
	job_is 1 0 $((2 * CHUNK))
	# bytes is the job's length; what was not reached counts as skipped
	[ "$(jq_ 'd["bytes"]')" -eq $((4 * MiB)) ]
	[ "$(jq_ 'd["jobs"][0]["bytes_skipped"]')" -eq $((2 * CHUNK)) ]
	errors_are source:null:$bad:1024
	human_has source "$F" $bad 1024
	# the chunks before the failing one are copied
	assert_same_range "$SCRATCH/out" 0 "$SRC_IMG" 0 $((2 * CHUNK))
	# with one sub-job, the error stopped the job: nothing read after that chunk
	no_request_from "$SCRATCH/src.log" R $((3 * CHUNK))
}

@test "source bad ranges with --ignore-errors: only the bad blocks are lost, written as zeros" {
	local b1=$((MiB + 4096)) b2=$((3 * MiB + 512))
	faulty_src F --read-fail=$b1+1024,$b2+512
	make_file "$SCRATCH/out" 4M pattern # old content must not survive either
	kc 1 -i "$F" "$SCRATCH/out"
	job_is 1 0 $((4 * MiB))
	[ "$(jq_ 'd["bytes"]')" -eq $((4 * MiB)) ]
	errors_are source:null:$b1:1024 source:null:$b2:512
	human_has source "$F" $b1 1024
	human_has source "$F" $b2 512
	expect_zeroed "$SCRATCH/want" "$SRC_IMG" $b1+1024 $b2+512
	same_file "$SCRATCH/out" "$SCRATCH/want"
}

@test "--ignore-errors: a reused pool buffer never leaks stale data into bad blocks (-j 1 -m 512K)" {
	# chunk 0 goes through the only pool buffer first; chunk 1 then fails in
	# that same buffer; its bad block must come out as zeros, not chunk 0's bytes
	local bad=$((CHUNK + 4096)) bad2=$((3 * CHUNK + 8192))
	faulty_src F --read-fail=$bad+512,$bad2+1024
	run cmp -s -n 512 -i 4096:0 "$SRC_IMG" /dev/zero
	assert_failure # chunk 0's block at the same place is not zero
	make_file "$SCRATCH/out" 4M pattern
	kc 1 -i -j 1 -m 512K -b 512K "$F" "$SCRATCH/out"
	job_is 1 0 $((4 * MiB))
	errors_are source:null:$bad:512 source:null:$bad2:1024
	assert_zero_range "$SCRATCH/out" $bad 512
	assert_zero_range "$SCRATCH/out" $bad2 1024
	expect_zeroed "$SCRATCH/want" "$SRC_IMG" $bad+512 $bad2+1024
	same_file "$SCRATCH/out" "$SCRATCH/want"
}

@test "adjacent bad blocks are coalesced into one range, also across sub-jobs; others stay apart" {
	local a=$((MiB + 512)) x=$((2 * CHUNK - 512)) c=$((3 * MiB))
	# two adjacent 512-byte ranges; one straddling the chunk 1/2 boundary;
	# two ranges with one good block between them
	faulty_src F --read-fail=$a+512,$((a + 512))+512,$x+1024,$c+512,$((c + 1024))+512
	kc 1 -i "$F" "$SCRATCH/out"
	job_is 1 0 $((4 * MiB))
	errors_are source:null:$a:1024 source:null:$x:1024 source:null:$c:512 \
		source:null:$((c + 1024)):512
	human_has source "$F" $a 1024
	human_has source "$F" $x 1024
	expect_zeroed "$SCRATCH/want" "$SRC_IMG" $a+1024 $x+1024 $c+512 $((c + 1024))+512
	same_file "$SCRATCH/out" "$SCRATCH/want"
}

@test "faults in the first and the last sub-job (read, then write)" {
	local last=$((4 * MiB - 512))
	faulty_src F --read-fail=0+512,$last+512
	kc 1 -i "$F" "$SCRATCH/out"
	job_is 1 0 $((4 * MiB))
	errors_are source:null:0:512 source:null:$last:512
	human_has source "$F" 0 512
	human_has source "$F" $last 512
	expect_zeroed "$SCRATCH/want" "$SRC_IMG" 0+512 $last+512
	same_file "$SCRATCH/out" "$SCRATCH/want"

	faulty_dst G d0 -- --write-fail=0+4096,$((4 * MiB - 4096))+4096
	kc 1 -i "$SRC_IMG" "$G"
	job_is 0 1 $((4 * MiB))
	errors_are dest:0:0:4096 dest:0:$((4 * MiB - 4096)):4096
	human_has "dest 0" "$G" 0 4096
	human_has "dest 0" "$G" $((4 * MiB - 4096)) 4096
	cp "$SRC_IMG" "$SCRATCH/want0"
	patch_range "$SCRATCH/want0" "$SCRATCH/d0.orig" 0 4096
	patch_range "$SCRATCH/want0" "$SCRATCH/d0.orig" $((4 * MiB - 4096)) 4096
	same_file "$SCRATCH/d0.img" "$SCRATCH/want0"
}

@test "a source region at an offset: reported offsets are absolute (source and dest)" {
	local bad=$((2 * MiB + 4096)) # inside src:1M+2M, 1 MiB + 4 KiB into it
	local half=$((512 * KiB))
	local wbad=$((half + MiB + 8192)) # inside dst:512K, 1 MiB + 8 KiB into it
	faulty_src F --read-fail=$bad+512
	faulty_dst G d0 -- --write-fail=$wbad+512
	kc 1 -i "$F:1M+2M" "$G:512K"
	job_is 1 1 $((2 * MiB))
	errors_are source:null:$bad:512 dest:0:$wbad:512
	human_has source "$F" $bad 512
	human_has "dest 0" "$G" $wbad 512
	# dest = its old content, with src[1M, 3M) at 512K, the bad source block
	# as zeros and the bad dest block untouched
	cp "$SCRATCH/d0.orig" "$SCRATCH/want"
	dd if="$SRC_IMG" of="$SCRATCH/want" bs=64K skip=$MiB seek=$half count=$((2 * MiB)) \
		iflag=skip_bytes,count_bytes oflag=seek_bytes conv=notrunc status=none
	zero_range "$SCRATCH/want" $((bad - MiB + half)) 512
	patch_range "$SCRATCH/want" "$SCRATCH/d0.orig" $wbad 512
	same_file "$SCRATCH/d0.img" "$SCRATCH/want"
}

# --- destination faults on files --------------------------------------------------

@test "write fault on destination 2 of 3 with --ignore-errors: write_err 4, dests 0 and 1 byte-exact" {
	local bad=$((MiB + 8192))
	faulty_dst G d2 -- --write-fail=$bad+1024
	kc 1 -i "$SRC_IMG" "$SCRATCH/out0" "$SCRATCH/out1" "$G"
	job_is 0 4 $((4 * MiB))
	errors_are dest:2:$bad:1024
	human_has "dest 2" "$G" $bad 1024
	same_file "$SCRATCH/out0" "$SRC_IMG"
	same_file "$SCRATCH/out1" "$SRC_IMG"
	# dest 2: everything but the bad range, which keeps its old content
	cp "$SRC_IMG" "$SCRATCH/want"
	patch_range "$SCRATCH/want" "$SCRATCH/d2.orig" $bad 1024
	same_file "$SCRATCH/d2.img" "$SCRATCH/want"
}

@test "write fault on destination 2 of 3 without --ignore-errors: write_err 4, exit 1, job stops" {
	local bad=$((2 * CHUNK + 8192))
	faulty_dst G d2 -- --write-fail=$bad+1024 --log="$SCRATCH/d2.log"
	kc 1 -j 1 "$SRC_IMG" "$SCRATCH/out0" "$SCRATCH/out1" "$G"
	[ "$(jq_ "'%s %s %s' % (d['status'], d['jobs'][0]['read_err'], d['jobs'][0]['write_err'])")" = "errors 0 4" ]
	errors_are dest:2:$bad:1024
	human_has "dest 2" "$G" $bad 1024
	local bytes
	bytes=$(jq_ 'd["jobs"][0]["bytes_data"]')
	((bytes >= 2 * CHUNK && bytes <= 3 * CHUNK)) || fail "bytes_data $bytes"
	assert_same_range "$SCRATCH/out0" 0 "$SRC_IMG" 0 $((2 * CHUNK))
	assert_same_range "$SCRATCH/out1" 0 "$SRC_IMG" 0 $((2 * CHUNK))
	assert_same_range "$SCRATCH/d2.img" 0 "$SRC_IMG" 0 $((2 * CHUNK))
	# one sub-job: nothing written after the failing chunk
	no_request_from "$SCRATCH/d2.log" W $((3 * CHUNK))
}

@test "faults on two destinations: both bits, the third destination unaffected" {
	local b0=$((CHUNK + 512)) b2=$((3 * MiB + 4096))
	faulty_dst G0 d0 -- --write-fail=$b0+512
	faulty_dst G2 d2 -- --write-fail=$b2+2048
	kc 1 -i "$SRC_IMG" "$G0" "$SCRATCH/out1" "$G2"
	job_is 0 5 $((4 * MiB))
	errors_are dest:0:$b0:512 dest:2:$b2:2048
	human_has "dest 0" "$G0" $b0 512
	human_has "dest 2" "$G2" $b2 2048
	same_file "$SCRATCH/out1" "$SRC_IMG"
	cp "$SRC_IMG" "$SCRATCH/want0"
	patch_range "$SCRATCH/want0" "$SCRATCH/d0.orig" $b0 512
	same_file "$SCRATCH/d0.img" "$SCRATCH/want0"
	cp "$SRC_IMG" "$SCRATCH/want2"
	patch_range "$SCRATCH/want2" "$SCRATCH/d2.orig" $b2 2048
	same_file "$SCRATCH/d2.img" "$SCRATCH/want2"

	# a read fault and a write fault in one job: both kinds of bit
	faulty_src F --read-fail=$((2 * MiB))+512
	faulty_dst G1 d1 -- --write-fail=$MiB+512
	kc 1 -i "$F" "$SCRATCH/o0" "$G1"
	job_is 1 2 $((4 * MiB))
	errors_are source:null:$((2 * MiB)):512 dest:1:$MiB:512
	expect_zeroed "$SCRATCH/want" "$SRC_IMG" $((2 * MiB))+512
	same_file "$SCRATCH/o0" "$SCRATCH/want"
}

# --- unaligned file tails -------------------------------------------------------

@test "a fault in an unaligned file tail (read and write), and next to it" {
	local size=$((4 * MiB + 100)) tail=$((4 * MiB))
	make_file "$SRC_IMG" $size random

	# the 100-byte tail of the source is unreadable
	faulty_src F --read-fail=$tail+100
	make_file "$SCRATCH/out" $size pattern
	kc 1 -i "$F" "$SCRATCH/out"
	job_is 1 0 $size
	errors_are source:null:$tail:100
	human_has source "$F" $tail 100
	[ "$(stat -c %s "$SCRATCH/out")" -eq $size ]
	expect_zeroed "$SCRATCH/want" "$SRC_IMG" $tail+100
	same_file "$SCRATCH/out" "$SCRATCH/want"

	# the block before the tail is bad, the tail itself is fine
	faulty_src F2 --read-fail=$((tail - 512))+512
	rm -f "$SCRATCH/out2"
	kc 1 -i "$F2" "$SCRATCH/out2"
	job_is 1 0 $size
	errors_are source:null:$((tail - 512)):512
	[ "$(stat -c %s "$SCRATCH/out2")" -eq $size ]
	expect_zeroed "$SCRATCH/want2" "$SRC_IMG" $((tail - 512))+512
	same_file "$SCRATCH/out2" "$SCRATCH/want2"

	# the destination's tail cannot be written
	faulty_dst G d0 $size -- --write-fail=$tail+100
	kc 1 -i "$SRC_IMG" "$G" "$SCRATCH/out3"
	job_is 0 1 $size
	errors_are dest:0:$tail:100
	human_has "dest 0" "$G" $tail 100
	same_file "$SCRATCH/out3" "$SRC_IMG"
	cp "$SRC_IMG" "$SCRATCH/want3"
	patch_range "$SCRATCH/want3" "$SCRATCH/d0.orig" $tail 100
	same_file "$SCRATCH/d0.img" "$SCRATCH/want3"
}

# --- sequential -------------------------------------------------------------------

@test "--sequential with a read fault stops at it (with and without --ignore-errors)" {
	local bad=$((2 * CHUNK + 4096)) opt
	faulty_src F --read-fail=$bad+512
	for opt in "" -i; do
		# slow destination writes: the failed read of chunk 2 comes back while
		# chunks 0 and 1 still wait for their turn to be written; they are
		# below the fault and must still be written
		faulty_dst G "seq$opt" -- --log="$SCRATCH/seq$opt.log" --delay-us=100000
		kc 1 -S $opt "$F" "$G"
		job_is 1 0 $((2 * CHUNK))
		errors_are source:null:$bad:512
		human_has source "$F" $bad 512
		if [[ $opt == -i ]]; then
			[[ $stderr == *"--sequential turns --ignore-errors off"* ]] ||
				fail "no warning about -i: $stderr"
		fi
		# everything below the failing chunk, and nothing at or after it
		assert_same_range "$SCRATCH/seq$opt.img" 0 "$SRC_IMG" 0 $((2 * CHUNK))
		assert_same_range "$SCRATCH/seq$opt.img" $((2 * CHUNK)) "$SCRATCH/seq$opt.orig" \
			$((2 * CHUNK)) $((4 * MiB - 2 * CHUNK))
		no_request_from "$SCRATCH/seq$opt.log" W $((2 * CHUNK))
	done
}

@test "--sequential with a write fault stops at it: no write above the bad block" {
	local bad=$((2 * CHUNK + 4096))
	faulty_dst G seq -- --write-fail=$bad+512 --log="$SCRATCH/seq.log"
	kc 1 -S "$SRC_IMG" "$G"
	[ "$(jq_ "'%s %s %s' % (d['status'], d['jobs'][0]['read_err'], d['jobs'][0]['write_err'])")" = "errors 0 1" ]
	errors_are dest:0:$bad:512
	human_has "dest 0" "$G" $bad 512
	assert_same_range "$SCRATCH/seq.img" 0 "$SRC_IMG" 0 $((2 * CHUNK))
	# sequential: no write may be issued above a block that was not written
	no_request_from "$SCRATCH/seq.log" W $((bad + 1))
	assert_same_range "$SCRATCH/seq.img" $((bad + 512)) "$SCRATCH/seq.orig" $((bad + 512)) \
		$((4 * MiB - bad - 512))
}

# --- several jobs ------------------------------------------------------------------

@test "job file: a failing job stops alone, the other jobs go on" {
	local bad=$((MiB + 4096))
	faulty_src F --read-fail=$bad+512
	cat >"$SCRATCH/jobs" <<EOF
copy $F $SCRATCH/o1
copy $SRC_IMG $SCRATCH/o2
copy -i $F $SCRATCH/o3
EOF
	kc 1 --job-file="$SCRATCH/jobs"
	[ "$(jq_ 'd["status"]')" = errors ]
	[ "$(jq_ '[j["line"] for j in d["jobs"]]')" = "[1, 2, 3]" ]
	[ "$(jq_ "'%s %s' % (d['jobs'][0]['read_err'], d['jobs'][0]['write_err'])")" = "1 0" ]
	errors_are JOB=0 source:null:$bad:512
	[ "$(jq_ 'd["jobs"][0]["bytes_data"]')" -lt $((4 * MiB)) ]
	job_is JOB=2 1 0 $((4 * MiB))
	errors_are JOB=2 source:null:$bad:512
	[ "$(jq_ "'%s %s %s %s' % (d['jobs'][1]['read_err'], d['jobs'][1]['write_err'], d['jobs'][1]['bytes'], d['jobs'][1]['errors'])")" = "0 0 $((4 * MiB)) []" ]
	same_file "$SCRATCH/o2" "$SRC_IMG"
	expect_zeroed "$SCRATCH/want" "$SRC_IMG" $bad+512
	same_file "$SCRATCH/o3" "$SCRATCH/want"
	[ "$(jq_ 'd["bytes"]')" -eq $(($(jq_ 'sum(j["bytes"] for j in d["jobs"])'))) ]
}

# --- flush failures ------------------------------------------------------------------

# flush_error_in JOB INDEX OFF LEN: an error of dest INDEX inside [OFF, OFF+LEN)
flush_error_in() {
	local out
	out=$(python3 -c '
import json, sys
d = json.loads(sys.argv[1])
job, idx, off, ln = map(int, sys.argv[2:6])
es = [e for e in d["jobs"][job]["errors"] if e["region"] == "dest" and e["index"] == idx]
ok = [e for e in es if e["error"] == "flush failed: " + sys.argv[6] and e["offset"] >= off
      and e["length"] > 0 and e["offset"] + e["length"] <= off + ln]
if not ok:
    print("no flush error for dest %d in %s" % (idx, json.dumps(d["jobs"][job]["errors"])))
    sys.exit(1)
' "$output" "$@" "$EIO_TEXT" 2>&1) || fail "$out"
}

@test "--fsync-fail on a destination: the flush failure is exit 1 and reported" {
	faulty_dst G d1 -- --fsync-fail
	kc 1 "$SRC_IMG" "$SCRATCH/out0" "$G"
	job_is 0 2 $((4 * MiB))
	flush_error_in 0 1 0 $((4 * MiB))
	[ "$(jq_ '[e for e in d["jobs"][0]["errors"] if e["index"] != 1]')" = "[]" ]
	[[ $stderr == *"dest 1"*"$G"*"$EIO_TEXT"* ]] || fail "flush error not in the report: $stderr"
	same_file "$SCRATCH/out0" "$SRC_IMG"
	same_file "$SCRATCH/d1.img" "$SRC_IMG"

	# a region at an offset: the error stays inside it
	kc 1 "$SRC_IMG:+1M" "$G:2M"
	job_is 0 1 $MiB
	flush_error_in 0 0 $((2 * MiB)) $MiB
}

@test "--fsync-fail on two destinations: both bits" {
	faulty_dst G0 d0 -- --fsync-fail
	faulty_dst G2 d2 -- --fsync-fail
	kc 1 "$SRC_IMG" "$G0" "$SCRATCH/out1" "$G2"
	job_is 0 5 $((4 * MiB))
	flush_error_in 0 0 0 $((4 * MiB))
	flush_error_in 0 2 0 $((4 * MiB))
	same_file "$SCRATCH/out1" "$SRC_IMG"
}

@test "--fsync-fail with --verify: a flush failure still exits 1" {
	faulty_dst G d0 -- --fsync-fail
	kc 1 --verify "$SRC_IMG" "$G"
	[ "$(jq_ 'd["status"]')" = errors ]
	[ "$(jq_ 'd["jobs"][0]["write_err"]')" -eq 1 ]
	flush_error_in 0 0 0 $((4 * MiB))
}

# --- loop devices on faultfs --------------------------------------------------------

@test "loop device: source bad sectors with and without --ignore-errors" {
	local bad=$((2 * CHUNK + 4096))
	faulty_src F --read-fail=$bad+1024
	loop_on_faultfs L "$F"
	make_loop D 4M
	make_file "$D" 4M pattern

	kc 1 -j 1 "$L" "$D"
	job_is 1 0 $((2 * CHUNK))
	errors_are source:null:$bad:1024
	human_has source "$L" $bad 1024
	assert_same_range "$D" 0 "$SRC_IMG" 0 $((2 * CHUNK))

	kc 1 -i "$L" "$D"
	job_is 1 0 $((4 * MiB))
	errors_are source:null:$bad:1024
	expect_zeroed "$SCRATCH/want" "$SRC_IMG" $bad+1024
	same_file "$D" "$SCRATCH/want"

	# stale memory: one reused pool buffer
	make_file "$D" 4M pattern
	kc 1 -i -j 1 -m 512K "$L" "$D"
	job_is 1 0 $((4 * MiB))
	errors_are source:null:$bad:1024
	same_file "$D" "$SCRATCH/want"
}

@test "loop device with 4 KiB logical blocks: the whole bad logical block is lost and reported" {
	local bad=$((MiB + 4096 + 1024)) blk=$((MiB + 4096))
	faulty_src F --read-fail=$bad+512
	loop_on_faultfs L "$F" --sector-size 4096
	[ "$(blockdev --getss "$L")" -eq 4096 ]
	make_loop D 4M --sector-size 4096
	make_file "$D" 4M pattern
	kc 1 -i "$L" "$D"
	job_is 1 0 $((4 * MiB))
	errors_are source:null:$blk:4096
	expect_zeroed "$SCRATCH/want" "$SRC_IMG" $blk+4096
	same_file "$D" "$SCRATCH/want"
}

@test "loop devices: write fault on destination 2 of 3, then on destinations 0 and 2" {
	local bad=$((MiB + 8192))
	faulty_dst G d2 -- --write-fail=$bad+1024
	loop_on_faultfs L2 "$G"
	make_loop D0 4M
	make_loop D1 4M
	kc 1 -i "$SRC_IMG" "$D0" "$D1" "$L2"
	job_is 0 4 $((4 * MiB))
	errors_are dest:2:$bad:1024
	human_has "dest 2" "$L2" $bad 1024
	same_file "$D0" "$SRC_IMG"
	same_file "$D1" "$SRC_IMG"
	cp "$SRC_IMG" "$SCRATCH/want2"
	patch_range "$SCRATCH/want2" "$SCRATCH/d2.orig" $bad 1024
	same_file "$L2" "$SCRATCH/want2"

	local b0=$((3 * MiB + 512))
	faulty_dst G0 d0 -- --write-fail=$b0+512
	loop_on_faultfs L0 "$G0"
	make_file "$D1" 4M pattern
	kc 1 -i "$SRC_IMG" "$L0" "$D1" "$L2"
	job_is 0 5 $((4 * MiB))
	errors_are dest:0:$b0:512 dest:2:$bad:1024
	same_file "$D1" "$SRC_IMG"
	cp "$SRC_IMG" "$SCRATCH/want0"
	patch_range "$SCRATCH/want0" "$SCRATCH/d0.orig" $b0 512
	same_file "$L0" "$SCRATCH/want0"
}

@test "loop devices: faults on the first and the last sub-job" {
	local last=$((4 * MiB - 512))
	faulty_src F --read-fail=0+512,$last+512
	loop_on_faultfs L "$F"
	faulty_dst G d0 -- --write-fail=0+1024,$((4 * MiB - 1024))+1024
	loop_on_faultfs LD "$G"
	make_loop D 4M
	make_file "$D" 4M pattern
	kc 1 -i "$L" "$D" "$LD"
	job_is 1 2 $((4 * MiB))
	errors_are source:null:0:512 source:null:$last:512 \
		dest:1:0:1024 dest:1:$((4 * MiB - 1024)):1024
	expect_zeroed "$SCRATCH/want" "$SRC_IMG" 0+512 $last+512
	same_file "$D" "$SCRATCH/want"
	patch_range "$SCRATCH/want" "$SCRATCH/d0.orig" 0 1024
	patch_range "$SCRATCH/want" "$SCRATCH/d0.orig" $((4 * MiB - 1024)) 1024
	same_file "$LD" "$SCRATCH/want"
}

@test "loop devices: --sequential with a read fault stops at it" {
	local bad=$((2 * CHUNK + 4096))
	faulty_src F --read-fail=$bad+512
	loop_on_faultfs L "$F"
	faulty_dst G seq -- --log="$SCRATCH/seq.log" --delay-us=100000 # see above
	loop_on_faultfs LD "$G"
	kc 1 -S "$L" "$LD"
	job_is 1 0 $((2 * CHUNK))
	errors_are source:null:$bad:512
	assert_same_range "$LD" 0 "$SRC_IMG" 0 $((2 * CHUNK))
	assert_same_range "$LD" $((2 * CHUNK)) "$SCRATCH/seq.orig" $((2 * CHUNK)) \
		$((4 * MiB - 2 * CHUNK))
	no_request_from "$SCRATCH/seq.log" W $((2 * CHUNK))
}
