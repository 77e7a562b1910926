#!/usr/bin/env bats
# Signals: SIGINT/SIGTERM stop issuing, drain, flush, print the partial report
# and exit 130; a second SIGINT during the drain changes nothing; SIGUSR1
# prints a status line and the copy goes on.  (SPEC §3 Signals, §5)
#
# Signals are sent only once kcopy has installed its handlers (seen in
# /proc/PID/status SigCgt, wait_kcopy_ready); before that the default action
# would apply, as with dd.  A test that needs work done before the signal
# waits for a --progress=json line (wait_kcopy_progress) or a faultfs log
# line, never for a fixed time; a copy that must still be running when the
# signal lands is made long by --rate (its duration is bounded below by
# size / rate whatever the load), never by assuming a speed.

bats_require_minimum_version 1.5.0

load test_helper

MiB=$((1024 * 1024))

setup() {
	require_root
}


# assert_interrupted_json LENGTH: $OUT holds one JSON report of an interrupted
# run of one job of LENGTH bytes that did part of the work; sets BYTES
assert_interrupted_json() {
	local len=$1 bytes
	[ "$(wc -l <"$OUT")" -eq 1 ] || fail "stdout is not one line: $(cat "$OUT")"
	[ "$(json_get 'd["status"]' <"$OUT")" = interrupted ] || fail "status: $(cat "$OUT")"
	# bytes is the job's length; what was done is in the counters (with
	# one sub-job, -j 1, chunks finish in order: a prefix)
	[ "$(json_get 'd["bytes"]' <"$OUT")" -eq "$len" ]
	[ "$(json_get 'd["jobs"][0]["bytes"]' <"$OUT")" -eq "$len" ]
	bytes=$(json_get 'd["jobs"][0]["bytes_data"] + d["jobs"][0]["bytes_zeroed"]' <"$OUT")
	[ "$bytes" -gt 0 ] || fail "nothing reported done: $(cat "$OUT")"
	[ "$bytes" -lt "$len" ] || fail "the whole job reported done: $(cat "$OUT")"
	[ "$(json_get 'd["jobs"][0]["read_err"]' <"$OUT")" -eq 0 ]
	[ "$(json_get 'd["jobs"][0]["write_err"]' <"$OUT")" -eq 0 ]
	BYTES=$bytes
}

@test "SIGINT mid-copy: exit 130, partial JSON, destination byte-exact up to the reported bytes" {
	rand_loop S 64M
	rand_loop D 64M
	# 64 MiB at 16 MiB/s: about 4 s however idle the machine; the signal
	# goes once a progress line shows data copied (about 1 s in)
	start_kcopy --json --progress=json -j 1 --rate=16M "$S" "$D"
	wait_kcopy_progress "$KPID" "$ERR"
	kill -INT "$KPID"
	finish_kcopy
	[ "$RC" -eq 130 ] || fail "exit $RC: $(cat "$ERR")"
	assert_interrupted_json $((64 * MiB))
	local bytes=$BYTES
	echo "# interrupted after $bytes bytes" >&3
	assert_same_range "$S" 0 "$D" 0 "$bytes"
	# it stopped issuing: far beyond what was in flight (8 sub-jobs of
	# 512 KiB), the destination still holds its old bytes
	local from=$((bytes + 8 * MiB))
	if ((from < 64 * MiB)); then
		assert_same_range "$D" "$from" "$D_ORIG" "$from" $((64 * MiB - from))
	fi
	# the partial human report on stderr
	grep -q "interrupted" "$ERR" || fail "no partial report: $(cat "$ERR")"
	grep -q "^kcopy: interrupted: 1 job" "$ERR" || fail "no summary line: $(cat "$ERR")"
}

@test "SIGTERM mid-copy: same as SIGINT, exit 130 with the partial report" {
	rand_loop S 48M
	rand_loop D 48M
	# about 4 s; the signal once data has been copied (about 1 s in)
	start_kcopy --json --progress=json -j 1 --rate=12M "$S" "$D"
	wait_kcopy_progress "$KPID" "$ERR"
	kill -TERM "$KPID"
	finish_kcopy
	[ "$RC" -eq 130 ] || fail "exit $RC: $(cat "$ERR")"
	assert_interrupted_json $((48 * MiB))
	local bytes=$BYTES
	assert_same_range "$S" 0 "$D" 0 "$bytes"
	grep -q "^kcopy: interrupted: 1 job" "$ERR" || fail "no summary line: $(cat "$ERR")"
	grep -q "interrupted" "$ERR"
}

@test "a second SIGINT during the drain corrupts nothing; destinations are flushed" {
	# Every source read takes 500 ms, 8 in flight: the drain after the first
	# SIGINT takes long enough for the second one to land inside it.
	local simg dimg gap=0.1 gap2=0.05
	simg="$SCRATCH/src.img" dimg="$SCRATCH/dst.img"
	make_file "$simg" 8M random
	make_file "$dimg" 8M random
	cp "$dimg" "$dimg.orig"
	mount_faultfs SF "$simg" --delay-us=500000 --name=src --log="$SCRATCH/src.log"
	loop_on_faultfs S "$SF"
	mount_faultfs DF "$dimg" --name=dst --log="$SCRATCH/dst.log"
	start_kcopy --json -j 1 -b 64K "$S" "$DF"
	# The first SIGINT once the first chunk's write has been issued (an
	# interrupted job reports the done prefix), as soon as the next read
	# reaches the source: that read has just begun its 500 ms.
	wait_lines "$KPID" "$SCRATCH/dst.log" '^W 0 '
	local reads
	reads=$(grep -c '^R ' "$SCRATCH/src.log")
	wait_lines "$KPID" "$SCRATCH/src.log" '^R ' $((reads + 1))
	kill -INT "$KPID"
	# a deliberate gap inside the drain, then the premise: kcopy is still
	# draining (a 500 ms read was in flight)
	sleep "$gap"
	_helper_pid_alive "$KPID" ||
		fail "kcopy exited within $gap s of SIGINT with a 500 ms read in flight: no drain?"
	kill -INT "$KPID"
	sleep "$gap2"
	kill -TERM "$KPID" 2>/dev/null || true
	finish_kcopy
	[ "$RC" -eq 130 ] || fail "exit $RC: $(cat "$ERR")"
	assert_interrupted_json $((8 * MiB))
	local bytes=$BYTES
	echo "# interrupted after $bytes bytes" >&3
	assert_same_range "$simg" 0 "$dimg" 0 "$bytes"
	grep -q "^kcopy: interrupted: 1 job" "$ERR" || fail "no summary line: $(cat "$ERR")"
	# the destination was flushed after its last write
	local last_w last_s
	last_w=$(grep -n '^W ' "$SCRATCH/dst.log" | tail -1 | cut -d: -f1)
	last_s=$(grep -n '^S ' "$SCRATCH/dst.log" | tail -1 | cut -d: -f1)
	[ -n "$last_w" ] || fail "nothing was written"
	[ -n "$last_s" ] && [ "$last_s" -gt "$last_w" ] ||
		fail "no flush after the last write: $(tail -5 "$SCRATCH/dst.log")"
}

@test "SIGINT in a job file: the running group drains, later groups are not started" {
	rand_loop S 64M
	rand_loop D1 64M
	rand_loop D2 8M
	cat >"$SCRATCH/jobs" <<EOF
# a long job, then a barrier, then a short one
copy $S $D1
wait
copy $S:0+8M $D2
EOF
	# the first group lasts about 4 s at 16 MiB/s; the signal once data has
	# been copied
	start_kcopy --json --progress=json -j 1 --rate=16M --job-file="$SCRATCH/jobs"
	wait_kcopy_progress "$KPID" "$ERR"
	kill -INT "$KPID"
	finish_kcopy
	[ "$RC" -eq 130 ] || fail "exit $RC: $(cat "$ERR")"
	[ "$(json_get 'd["status"]' <"$OUT")" = interrupted ]
	[ "$(json_get '[j["line"] for j in d["jobs"]]' <"$OUT")" = "[2, 4]" ]
	local b1
	b1=$(json_get 'd["jobs"][0]["bytes_data"]' <"$OUT")
	[ "$b1" -gt 0 ]
	[ "$b1" -lt $((64 * MiB)) ]
	[ "$(json_get 'd["jobs"][1]["bytes_data"]' <"$OUT")" -eq 0 ]
	[ "$(json_get 'd["bytes"]' <"$OUT")" -eq $((72 * MiB)) ]
	assert_same_range "$S" 0 "$D1" 0 "$b1"
	# the job after the barrier never wrote
	cmp "$D2" "$D2_ORIG"
	grep -q "not started" "$ERR" || fail "report does not say 'not started': $(cat "$ERR")"
}

@test "SIGUSR1 prints a status line to stderr and the copy goes on" {
	rand_loop S 32M
	make_loop D 32M
	# about 4 s at 8 MiB/s.  The first SIGUSR1 once data has been copied,
	# the second once the copy has gone on past what the first one printed.
	local status_re="^kcopy: [0-9]+ of $((32 * MiB)) bytes"
	start_kcopy --progress=json --rate=8M "$S" "$D"
	wait_kcopy_progress "$KPID" "$ERR"
	kill -USR1 "$KPID"
	wait_lines "$KPID" "$ERR" "$status_re"
	local first
	first=$(grep -E "$status_re" "$ERR" | head -n 1 | awk '{ print $2 }')
	wait_kcopy_progress "$KPID" "$ERR" $((first + 1))
	kill -USR1 "$KPID"
	finish_kcopy
	[ "$RC" -eq 0 ] || fail "exit $RC: $(cat "$ERR")"
	cmp "$S" "$D"
	local -a st
	mapfile -t st < <(grep -E "$status_re" "$ERR")
	[ "${#st[@]}" -eq 2 ] || fail "expected 2 status lines: $(cat "$ERR")"
	local d1 d2
	d1=$(awk '{ print $2 }' <<<"${st[0]}")
	d2=$(awk '{ print $2 }' <<<"${st[1]}")
	[ "$d1" -gt 0 ] && [ "$d1" -lt "$d2" ] && [ "$d2" -lt $((32 * MiB)) ] ||
		fail "status lines do not progress: ${st[*]}"
	# the status lines come before the final report
	local n_st n_sum
	n_st=$(grep -nE "^kcopy: [0-9]+ of " "$ERR" | tail -1 | cut -d: -f1)
	n_sum=$(grep -n "^kcopy: ok: 1 job" "$ERR" | cut -d: -f1)
	[ -n "$n_sum" ] && [ "$n_st" -lt "$n_sum" ] || fail "order: $(cat "$ERR")"
}

@test "SIGINT during --verify: exit 130, interrupted, verified is null (not true)" {
	rand_loop S 16M
	make_loop D 16M
	# the copy takes about 2 s at 8 MiB/s, then the verify reads source and
	# destination at the same rate (about 4 s).  The signal once a progress
	# line says the copy is done (at most a second after its end): in the
	# verify.
	start_kcopy --json --progress=json --verify --rate=8M "$S" "$D"
	wait_kcopy_progress "$KPID" "$ERR" $((16 * MiB))
	kill -INT "$KPID"
	finish_kcopy
	[ "$RC" -eq 130 ] || fail "exit $RC: $(cat "$ERR")"
	[ "$(json_get 'd["status"]' <"$OUT")" = interrupted ]
	[ "$(json_get 'd["jobs"][0]["verified"]' <"$OUT")" = null ] ||
		fail "an interrupted verify is not a result: $(cat "$OUT")"
	[ "$(json_get 'd["jobs"][0]["errors"]' <"$OUT")" = "[]" ]
	# the copy itself had finished
	[ "$(json_get 'd["jobs"][0]["bytes"]' <"$OUT")" -eq $((16 * MiB)) ] ||
		fail "not interrupted in the verify phase: $(cat "$OUT")"
	cmp "$S" "$D"
	! grep -q "^  verified" "$ERR" || fail "human report says verified: $(cat "$ERR")"
}

@test "an offload wipe of a 64 GiB sparse loop device reports progress and stops at once on SIGINT" {
	local GiB=$((1024 * MiB)) big=$((64 * 1024 * MiB)) t0 t1 bytes
	make_loop D 64G
	[ "$(cat "/sys/block/${D#/dev/}/queue/write_zeroes_max_bytes")" -gt 0 ] ||
		fail "this loop device has no write-zeroes offload"
	# old data at the start and near the end
	make_file "$SCRATCH/head" 1M random
	dd if="$SCRATCH/head" of="$D" bs=1M oflag=direct conv=notrunc status=none
	dd if="$SCRATCH/head" of="$D" bs=1M seek=$((60 * 1024)) oflag=direct conv=notrunc status=none
	# --rate=1G: a 64 s wipe, in offload pieces between which kcopy serves
	# progress and signals
	start_kcopy -f --zero --json --progress=json --rate=1G "$D"
	# the signal once a progress line shows the wipe under way
	wait_kcopy_progress "$KPID" "$ERR"
	local seen=$KCOPY_PROGRESS
	t0=$EPOCHREALTIME
	kill -INT "$KPID"
	finish_kcopy
	t1=$EPOCHREALTIME
	[ "$RC" -eq 130 ] || fail "exit $RC: $(cat "$ERR")"
	assert_interrupted_json "$big"
	bytes=$BYTES
	# far sooner than the work that was left would take at the --rate (about
	# 60 s): under a sixth of it
	awk -v a="$t0" -v b="$t1" -v left=$(((big - bytes) / GiB)) 'BEGIN { exit !(b - a < left / 6) }' ||
		fail "took $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') s to stop, with $(((big - bytes) / GiB)) s of work left"
	[ "$(json_get 'd["jobs"][0]["zero_method"]' <"$OUT")" = offload ]
	[ "$bytes" -ge "$seen" ] || fail "reported $bytes bytes, a progress line said $seen"
	[ "$bytes" -lt $((32 * GiB)) ] || fail "the rate did not hold: $bytes bytes"
	assert_zero_range "$D" 0 1M
	assert_same_range "$D" $((60 * GiB)) "$SCRATCH/head" 0 1M
}
