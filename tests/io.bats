#!/usr/bin/env bats
# The kernel interface (--io=aio|uring): both backends copy, zero, verify,
# resume and report faults alike, on files and loop devices; an unknown
# one is refused before anything is written.  (SPEC §2; io.h's contract)

bats_require_minimum_version 1.5.0

load test_helper

MiB=$((1024 * 1024))
BACKENDS="aio uring"

setup() {
	require_root
	SRC="$SCRATCH/src"
}

@test "--io: an unknown interface is refused with exit 2, nothing written" {
	make_file "$SRC" 1M random
	run -2 --separate-stderr "$KCOPY" --io=posix "$SRC" "$SCRATCH/new"
	[[ $stderr == "kcopy: --io: 'posix' is not one of aio, uring"* ]] ||
		fail "unexpected message: $stderr"
	[ ! -e "$SCRATCH/new" ]
	run -2 --separate-stderr "$KCOPY" --io= "$SRC" "$SCRATCH/new"
	[ ! -e "$SCRATCH/new" ]
}

@test "--io: both backends copy files and loop devices, unaligned ends included, byte for byte" {
	local io
	make_file "$SRC" $((5 * MiB + 777)) random
	make_loop L 8M
	for io in $BACKENDS; do
		rm -f "$SCRATCH/f.$io" "$SCRATCH/g.$io"
		run -0 "$KCOPY" -q --io=$io "$SRC" "$SCRATCH/f.$io" "$L" "$SCRATCH/g.$io"
		cmp "$SRC" "$SCRATCH/f.$io"
		cmp "$SRC" "$SCRATCH/g.$io"
		assert_same_range "$L" 0 "$SRC" 0 $((5 * MiB + 512))
		# a 4 KiB copy, and one shorter than a block
		head -c 4096 "$SRC" >"$SCRATCH/s4k"
		run -0 "$KCOPY" -q --io=$io "$SCRATCH/s4k" "$SCRATCH/d4k.$io"
		cmp "$SCRATCH/s4k" "$SCRATCH/d4k.$io"
		head -c 100 "$SRC" >"$SCRATCH/s100"
		run -0 "$KCOPY" -q --io=$io --verify "$SCRATCH/s100" "$SCRATCH/d100.$io"
		cmp "$SCRATCH/s100" "$SCRATCH/d100.$io"
	done
}

@test "--io: both backends zero with the offload and with zero writes, and verify it" {
	local io mode
	make_loop L 4M
	for io in $BACKENDS; do
		for mode in "" --no-write-zeroes; do
			make_file "$L" 4M random
			make_file "$SCRATCH/z" $((3 * MiB + 100)) random
			kc 0 --io=$io --zero $mode --verify "$L" "$SCRATCH/z"
			[ "$(jq_ 'd["jobs"][0]["verified"]')" = true ]
			if [ -z "$mode" ]; then
				[ "$(jq_ 'd["jobs"][0]["zero_method"]')" = offload ]
			else
				[ "$(jq_ 'd["jobs"][0]["zero_method"]')" = write ]
			fi
			assert_zero_range "$L" 0 4M
			assert_zero_range "$SCRATCH/z" 0 $((3 * MiB + 100))
			[ "$(stat -c %s "$SCRATCH/z")" -eq $((3 * MiB + 100)) ]
		done
	done
}

@test "--io: both backends report a read fault, a write fault and a failed flush exactly" {
	local io img="$SCRATCH/src.img"
	make_file "$img" 4M random
	mount_faultfs F "$img" --name=src --read-fail=$((MiB + 4096))+512
	make_file "$SCRATCH/d.img" 4M pattern
	mount_faultfs G "$SCRATCH/d.img" --name=d --write-fail=$((2 * MiB))+1024 --fsync-fail
	for io in $BACKENDS; do
		kc 1 --io=$io --ignore-errors "$F" "$SCRATCH/out.$io" "$G"
		json_expect 'd["jobs"][0]["read_err"] == 1' 'd["jobs"][0]["write_err"] == 2'
		json_expect "[(e['region'], e['index'], e['offset'], e['length']) for e in d['jobs'][0]['errors'] if not e['error'].startswith('flush')] == [('source', None, $((MiB + 4096)), 512), ('dest', 1, $((2 * MiB)), 1024)]"
		json_expect "any(e['error'].startswith('flush failed') and e['index'] == 1 for e in d['jobs'][0]['errors'])"
		# everything else of the source arrived; the bad block is zeros
		assert_same_range "$SCRATCH/out.$io" 0 "$img" 0 $((MiB + 4096))
		assert_zero_range "$SCRATCH/out.$io" $((MiB + 4096)) 512
		assert_same_range "$SCRATCH/out.$io" $((MiB + 4608)) "$img" $((MiB + 4608)) $((3 * MiB - 4608))
	done
}

@test "--io: a map written with one backend resumes with the other" {
	make_file "$SRC" 8M random
	make_file "$SCRATCH/dst" 8M pattern
	# a slow run, stopped once its map holds done work
	"$KCOPY" --io=aio --rate=4M --progress=json --map="$SCRATCH/m" \
		"$SRC" "$SCRATCH/dst" 2>"$SCRATCH/progress" &
	local pid=$!
	wait_kcopy_ready "$pid"
	wait_kcopy_progress "$pid" "$SCRATCH/progress" $((2 * MiB))
	wait_lines "$pid" "$SCRATCH/m" '^done '
	kill -INT "$pid"
	local rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 130 ] || fail "the stopped run exited $rc, not 130"
	kc 0 --io=uring --map="$SCRATCH/m" "$SRC" "$SCRATCH/dst"
	[ "$(jq_ 'd["jobs"][0]["bytes_skipped"]')" -gt 0 ]
	cmp "$SRC" "$SCRATCH/dst"
}

@test "--io: where io_uring is switched off, the default falls back to aio; --io=uring is refused, nothing written" {
	local knob=/proc/sys/kernel/io_uring_disabled old
	[[ -w $knob ]] || fail "no $knob on this kernel"
	old=$(cat "$knob")
	register_cleanup cmd "echo $old >$knob"
	make_file "$SRC" 1M random
	echo 2 >"$knob"
	run -0 "$KCOPY" -q "$SRC" "$SCRATCH/dst"
	cmp "$SRC" "$SCRATCH/dst"
	run -2 --separate-stderr "$KCOPY" --io=uring "$SRC" "$SCRATCH/new"
	[[ $stderr == "kcopy: cannot set up asynchronous I/O (uring): "* ]] ||
		fail "unexpected message: $stderr"
	[ ! -e "$SCRATCH/new" ]
	echo "$old" >"$knob"
}
