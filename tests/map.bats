#!/usr/bin/env bats
# --map: finished-and-flushed work recorded atomically (every second and at
# exit); a re-run with the same map resumes; kill -9 at any moment followed
# by a re-run gives a byte-exact copy; foreign or damaged maps are refused
# with exit 2 and nothing written.  (SPEC §3 Map / resume)
#
# The kill -9 tests draw their kill points from a seed: KCOPY_SEED=N replays
# a run (the seed is printed as "# seed=N").  A kill point is a delay after
# kcopy is ready (its signal handlers are in place, just before its first
# I/O), not after its start: on a loaded machine the start-up alone can
# outlast a fixed delay.  A SIGINT waits for a progress line or a map
# record, so that there is work done to save.

bats_require_minimum_version 1.5.0

load test_helper

MiB=$((1024 * 1024))

setup() {
	require_root
	M="$SCRATCH/map"
}

# restore DEV ORIG: put the original (junk) bytes back, not with kcopy
restore() {
	dd if="$2" of="$1" bs=1M oflag=direct status=none || fail "restore $1"
}


seconds_of_ms() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }

# Loop counters are not named i: bats 1.8's `run` with flags assigns a global
# (or the caller's local) i in bats_version_lt.
seed_rng() {
	SEED=${KCOPY_SEED:-$RANDOM}
	echo "# seed=$SEED (replay with KCOPY_SEED=$SEED)" >&3
	RANDOM=$SEED
}

# kill_point MS ARGS...: start kcopy ARGS, kill -9 it MS ms after it is
# ready (if it is still running); $KILLED says whether it was killed, $RC
# its exit status
kill_point() {
	local ms=$1 delay
	shift
	start_kcopy "$@"
	wait_kcopy_ready "$KPID" || fail "seed=$SEED: $(cat "$ERR")"
	printf -v delay '%d.%03d' $((ms / 1000)) $((ms % 1000))
	sleep "$delay"
	KILLED=0
	if _helper_pid_alive "$KPID"; then
		kill -KILL "$KPID" 2>/dev/null && KILLED=1
	fi
	finish_kcopy
	[[ $KILLED == 1 || $RC == 0 ]] ||
		fail "seed=$SEED kill at $ms ms: kcopy failed on its own (exit $RC): $(cat "$ERR")"
}

# rerun_ok WHAT ARGS...: kcopy ARGS must succeed; its JSON report in $REPORT
rerun_ok() {
	local what=$1
	shift
	run --separate-stderr "$KCOPY" --json "$@"
	[ "$status" -eq 0 ] || fail "$what: re-run exit $status: $stderr"
	REPORT=$output
	[ "$(json_get 'd["status"]' <<<"$REPORT")" = ok ] || fail "$what: $REPORT"
}

skipped() { json_get 'sum(j["bytes_skipped"] for j in d["jobs"])' <<<"$REPORT"; }

# same WHAT A AOFF B BOFF LEN: byte-exact, with a message naming the kill point
same() {
	local what=$1
	shift
	run assert_same_range "$@"
	[ "$status" -eq 0 ] || fail "$what: $output"
}

@test "the map is human-readable; a finished job re-run with its map does no I/O and succeeds" {
	local simg="$SCRATCH/src.img" dimg="$SCRATCH/dst.img"
	make_file "$simg" 8M random
	make_file "$dimg" 8M random
	mount_faultfs SF "$simg" --name=src --log="$SCRATCH/src.log"
	mount_faultfs DF "$dimg" --name=dst --log="$SCRATCH/dst.log"
	run -0 --separate-stderr "$KCOPY" --json --map="$M" "$SF" "$DF"
	cmp "$simg" "$dimg"
	[ "$(json_get 'd["jobs"][0]["bytes_skipped"]' <<<"$output")" -eq 0 ]
	# readable: a comment, a header, the job, what is done, a checksum
	run -0 cat "$M"
	[[ ${lines[0]} == "#"* ]] || fail "no leading comment: $output"
	assert_line "kcopy-map 2"
	assert_line "job 0 copy src $SF 0 $((8 * MiB)) dst $DF 0 $((8 * MiB))"
	# what the names are: device, inode and size of each file
	assert_line --regexp "^objects 0 file:[0-9]+:[0-9]+:$((8 * MiB)):[0-9]+\.[0-9]{9} file:[0-9]+:[0-9]+:$((8 * MiB))\$"
	assert_line "done 0 0 $((8 * MiB))"
	assert_line --regexp '^end [0-9a-f]+$'
	# no temporary file left beside it
	! compgen -G "$M.tmp*" >/dev/null || fail "left behind: $(compgen -G "$M.tmp*")"
	# the re-run: success, everything skipped, no read or write at all
	: >"$SCRATCH/src.log"
	: >"$SCRATCH/dst.log"
	local before
	before=$(sha_of "$M")
	run -0 --separate-stderr "$KCOPY" --json --map="$M" "$SF" "$DF"
	[ "$(json_get 'd["status"]' <<<"$output")" = ok ]
	[ "$(json_get 'd["jobs"][0]["bytes"]' <<<"$output")" -eq $((8 * MiB)) ]
	[ "$(json_get 'd["jobs"][0]["bytes_skipped"]' <<<"$output")" -eq $((8 * MiB)) ]
	# (only the look at the source's first bytes: is it a compressed image?)
	run grep -E '^[RW] ' "$SCRATCH/src.log" "$SCRATCH/dst.log"
	run grep -vE ':R 0 [0-9]+$' <<<"$output"
	[ "$status" -ne 0 ] || fail "I/O on a re-run of a finished job: $output"
	cmp "$simg" "$dimg"
	run -0 cat "$M"
	assert_line "done 0 0 $((8 * MiB))"
}

@test "kill -9 at 10 random moments of a --rate-limited copy with --map, each re-run is byte-exact" {
	seed_rng
	rand_loop S 32M
	rand_loop D 32M
	local pt ms killed=0 finished=0 sk
	for ((pt = 0; pt < 10; pt++)); do
		# stratified: one point in each 60 ms slice of 0-600 ms; the copy
		# takes at least ~0.9 s at 32 MiB/s, which leaves room for a busy
		# machine's delays in this shell between kcopy's start and the kill
		ms=$((pt * 60 + RANDOM % 60))
		restore "$D" "$D_ORIG"
		rm -f "$M" "$M".tmp*
		kill_point "$ms" -q --rate=32M --map="$M" "$S" "$D"
		rerun_ok "seed=$SEED kill at $ms ms" -q --rate=32M --map="$M" "$S" "$D"
		same "seed=$SEED kill at $ms ms" "$S" 0 "$D" 0 32M
		sk=$(skipped)
		if ((KILLED)); then
			killed=$((killed + 1))
		else
			finished=$((finished + 1))
			# it had finished: the re-run skips everything
			[ "$sk" -eq $((32 * MiB)) ] ||
				fail "seed=$SEED: re-run of a finished copy skipped $sk bytes"
		fi
	done
	echo "# $killed killed, $finished finished before the kill" >&3
	[ "$killed" -ge 5 ] || fail "seed=$SEED: only $killed of 10 kill points hit a running copy"
}

@test "kill -9 after a map save (late in a 4 s copy): the re-run skips work and is byte-exact" {
	seed_rng
	rand_loop S 48M
	rand_loop D 48M
	local pt ms sk snap delay
	for ((pt = 0; pt < 3; pt++)); do
		# 0.3-1.5 s after the first save that records work done (about 1 s
		# in), before the end: 48 MiB at 12 MiB/s take at least ~3.9 s
		ms=$((300 + pt * 400 + RANDOM % 400))
		restore "$D" "$D_ORIG"
		rm -f "$M" "$M".tmp*
		start_kcopy -q --rate=12M --map="$M" "$S" "$D"
		# a map is saved while the copy runs (every second), not only at the end
		wait_lines "$KPID" "$M" '^done ' || fail "seed=$SEED: $(cat "$ERR")"
		snap=$(awk '$1 == "done" { n += $4 } END { print n + 0 }' "$M")
		delay=$(seconds_of_ms "$ms")
		sleep "$delay"
		kill -KILL "$KPID" 2>/dev/null || true
		finish_kcopy
		[ "$RC" -eq 137 ] ||
			fail "seed=$SEED: the copy ended (exit $RC) before the kill $ms ms after a map save"
		[ "$snap" -gt 0 ] || fail "seed=$SEED: the map records nothing done"
		rerun_ok "seed=$SEED late kill at $ms ms" -q --rate=12M --map="$M" "$S" "$D"
		same "seed=$SEED late kill at $ms ms" "$S" 0 "$D" 0 48M
		sk=$(skipped)
		echo "# kill $ms ms after a save: map said $snap done, re-run skipped $sk" >&3
		[ "$sk" -gt 0 ] || fail "seed=$SEED late kill at $ms ms: re-run skipped nothing"
		[ "$sk" -ge "$snap" ] || fail "seed=$SEED: skipped $sk < $snap recorded"
		[ "$sk" -lt $((48 * MiB)) ] || fail "seed=$SEED: skipped everything"
	done
}

@test "kill -9 at random moments of a job file with --map, each re-run is byte-exact" {
	seed_rng
	rand_loop S 16M
	rand_loop D1 8M
	rand_loop D2 8M
	rand_loop D3 8M
	local jf="$SCRATCH/jobs" pt ms killed=0
	cat >"$jf" <<EOF
# two concurrent copies, then one that reads what the first wrote
copy $S:0+8M $D1
copy $S:8M+8M $D2
wait
copy $D1 $D3
EOF
	for ((pt = 0; pt < 6; pt++)); do
		# one point in each 70 ms slice of 0-420 ms (the run takes at least
		# ~0.7 s at 32 MiB/s)
		ms=$((pt * 70 + RANDOM % 70))
		restore "$D1" "$D1_ORIG"
		restore "$D2" "$D2_ORIG"
		restore "$D3" "$D3_ORIG"
		rm -f "$M" "$M".tmp*
		kill_point "$ms" -q --rate=32M --map="$M" --job-file="$jf"
		killed=$((killed + KILLED))
		rerun_ok "seed=$SEED job file, kill at $ms ms" -q --rate=32M --map="$M" --job-file="$jf"
		[ "$(json_get '[j["line"] for j in d["jobs"]]' <<<"$REPORT")" = "[2, 3, 5]" ]
		same "seed=$SEED job file, kill at $ms ms (line 2)" "$S" 0 "$D1" 0 8M
		same "seed=$SEED job file, kill at $ms ms (line 3)" "$S" 8M "$D2" 0 8M
		same "seed=$SEED job file, kill at $ms ms (line 5)" "$S" 0 "$D3" 0 8M
	done
	echo "# $killed of 6 kill points hit a running job file" >&3
	[ "$killed" -ge 3 ]
}

@test "SIGINT with --map saves the map; the re-run resumes after what was reported" {
	rand_loop S 32M
	rand_loop D 32M
	# about 4 s at 8 MiB/s; the signal once data has been copied
	start_kcopy --json --progress=json --rate=8M --map="$M" "$S" "$D"
	wait_kcopy_progress "$KPID" "$ERR"
	kill -INT "$KPID"
	finish_kcopy
	[ "$RC" -eq 130 ] || fail "exit $RC: $(cat "$ERR")"
	local done_bytes
	done_bytes=$(json_get 'd["jobs"][0]["bytes_data"]' <"$OUT")
	[ "$done_bytes" -gt 0 ]
	[ "$done_bytes" -lt $((32 * MiB)) ]
	[ -s "$M" ] || fail "no map saved on SIGINT"
	rerun_ok "after SIGINT" -q --map="$M" "$S" "$D"
	[ "$(skipped)" -ge "$done_bytes" ] ||
		fail "re-run skipped $(skipped), the interrupted run reported $done_bytes"
	assert_same_range "$S" 0 "$D" 0 32M
}

# A valid, partial map of S -> D in $M (and a pristine copy in $M.good); the
# bytes of D at that point in $D_AFTER.
partial_map() {
	rand_loop S 16M
	rand_loop D 16M
	# about 4 s at 4 MiB/s; the signal once a saved map records work done
	start_kcopy -q --rate=4M --map="$M" "$S" "$D"
	wait_lines "$KPID" "$M" '^done ' || fail "$(cat "$ERR")"
	kill -INT "$KPID"
	finish_kcopy
	[ "$RC" -eq 130 ] || fail "exit $RC: $(cat "$ERR")"
	grep -q '^done ' "$M" || fail "no done record: $(cat "$M")"
	cp "$M" "$M.good"
	D_AFTER="$SCRATCH/d.after"
	dd if="$D" of="$D_AFTER" bs=1M iflag=direct status=none
}

# refused ARGS...: kcopy --map=$M ARGS exits 2 naming the map, writes nothing
# to D and leaves the map as it was
refused() {
	local before
	before=$(sha_of "$M")
	run -2 --separate-stderr "$KCOPY" --map="$M" "$@"
	[[ $stderr == "kcopy: "*"$M"* ]] || fail "message does not name the map: $stderr"
	[ "${#stderr_lines[@]}" -eq 1 ] || fail "not one line: $stderr"
	cmp "$D" "$D_AFTER" || fail "destination written with a refused map"
	[ "$(sha_of "$M")" = "$before" ] || fail "the refused map was changed"
}

@test "a corrupted map is refused (exit 2) and nothing is written" {
	partial_map
	# a done record that claims 4 KiB more than was done
	python3 - "$M.good" "$M" <<'EOF'
import sys
lines = open(sys.argv[1]).read().split("\n")
i = next(i for i, l in enumerate(lines) if l.startswith("done "))
w = lines[i].split()
w[3] = str(int(w[3]) + 4096)
lines[i] = " ".join(w)
open(sys.argv[2], "w").write("\n".join(lines))
EOF
	! cmp -s "$M" "$M.good" || fail "corruption did not change the map"
	refused "$S" "$D"
	# the checksum record missing
	grep -v '^end ' "$M.good" >"$M"
	refused "$S" "$D"
	# cut in the middle of a line
	head -c $(($(stat -c %s "$M.good") - 5)) "$M.good" >"$M"
	refused "$S" "$D"
	# data after the end
	{ cat "$M.good"; echo "done 0 0 4096"; } >"$M"
	refused "$S" "$D"
	# another format version
	sed 's/^kcopy-map 2$/kcopy-map 1/' "$M.good" >"$M"
	refused "$S" "$D"
	# not a map at all
	head -c 4096 /dev/urandom >"$M"
	refused "$S" "$D"
	printf 'hello\n' >"$M"
	refused "$S" "$D"
	# the good map still works
	cp "$M.good" "$M"
	rerun_ok "good map" -q --map="$M" "$S" "$D"
	[ "$(skipped)" -gt 0 ]
	assert_same_range "$S" 0 "$D" 0 16M
}

@test "a map of other regions is refused (exit 2) and nothing is written" {
	partial_map
	make_loop E 16M
	cp "$M.good" "$M"
	refused "$S:0+8M" "$D"
	refused "$S:8M+8M" "$D"
	refused "$S:0+8M" "$D:8M"
	refused "$S" "$D" "$E"
	refused "$E" "$D"
	refused --zero "$D"
	# a map of a job file used for a single copy, and the other way round
	printf 'copy %s %s\nzero %s\n' "$S" "$D" "$E" >"$SCRATCH/jobs"
	refused --job-file="$SCRATCH/jobs"
	printf 'copy %s %s\n' "$E" "$D" >"$SCRATCH/jobs2"
	refused --job-file="$SCRATCH/jobs2"
	# the right regions still resume
	rerun_ok "right regions" -q --map="$M" "$S" "$D"
	[ "$(skipped)" -gt 0 ]
	assert_same_range "$S" 0 "$D" 0 16M
}

@test "a --map path that cannot be written is refused before anything is written" {
	rand_loop S 4M
	rand_loop D 4M
	mkdir "$SCRATCH/adir"
	run -2 --separate-stderr "$KCOPY" --map="$SCRATCH/adir" "$S" "$D"
	[[ $stderr == "kcopy: "*adir* ]] || fail "$stderr"
	cmp "$D" "$D_ORIG"
	run -2 --separate-stderr "$KCOPY" --map="$SCRATCH/nodir/map" "$S" "$D"
	[[ $stderr == "kcopy: "*nodir* ]] || fail "$stderr"
	cmp "$D" "$D_ORIG"
}
