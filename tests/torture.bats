#!/usr/bin/env bats
# Torture: seeded random scenarios of faults, signals, kill -9 and re-runs
# with --map, all held to one invariant (SPEC §3 Map / resume, §5):
#
#     a run that exits 0 leaves every destination equal to the source,
#
# and exit statuses are only 0, 1, 130 or 137 (killed): never 2, since every
# map in a scenario is one that kcopy wrote itself.
#
# A scenario is built from its seed alone (tests/helpers/torture.bash has the
# PRNG): a source (a plain file, or a file behind faultfs for read faults;
# 1-4 MiB of random bytes, sometimes at an offset, sometimes with an
# unaligned tail when every region is a regular file) and 1-3 destinations
# (faultfs files for write and flush faults, plain files - sometimes missing
# or short at the start -, at most one loop device), each at a random
# offset; one command `kcopy -q --json [-i] [-j N] [-b SIZE] [--verify]
# --rate=R --map=M SRC DST...` (a whole copy takes 0.2-0.6 s, or 1.2-1.7 s
# so that the map is saved - and the destinations flushed - on the way),
# run again and again:
#   - runs 1 to 1-5: each with its own faults (faultfs --read-fail and
#     --write-fail ranges; --fsync-fail; --fsync-lose=N, N failed flushes
#     that lose the writes since the last good one; --delay-us; with
#     --verify, --corrupt-write ranges, silent corruption, alone and with
#     no signal; or none: faults come and go) and maybe a SIGINT or a
#     kill -9 at a random moment, once kcopy has its handlers in place;
#   - then a run without faults or signals, which must exit 0;
#   - after the first run that exits 0, one more run with read and write
#     faults in force, which must exit 0 too (a finished job does no I/O).
# After every exit 0, every destination region is compared with the
# source region.
#
# The faults change through faultfs --faults=FILE (re-read at every open),
# not by a remount: a remount gives the file another st_dev, and the map
# names regions by identity, so a correct kcopy could refuse the map.
#
# Which seeds run:
#   KCOPY_TORTURE_SEEDS='1234 1300-1310'   these seeds (spaces or commas)
#   KCOPY_TORTURE_COUNT=N KCOPY_TORTURE_BASE=B   seeds B..B+N-1 (20 from 1000)
# e.g.  KCOPY_TORTURE_SEEDS=1234 bats tests/torture.bats
#       make torture SEEDS=200        make torture SEED=1234
# (bats 1.8 has no dynamic tests, so all seeds run in one test; each prints
# a "# seed N: ..." line, and the failure lists every failing seed with its
# runs, the faults in force, the differing ranges and the replay command).
# The faults and signals drawn are the same on every replay of a seed; where
# a signal lands in the copy is a matter of timing.

bats_require_minimum_version 1.5.0

load test_helper
load helpers/torture

KiB=1024
MiB=$((1024 * 1024))
TT_MAX_RUNS=8

setup() {
	require_root
	register_cleanup cmd torture_cleanup
}

# --- seeds -------------------------------------------------------------------------

torture_seeds() {
	local w a b s
	TT_SEEDS=()
	if [[ -n ${KCOPY_TORTURE_SEEDS:-} ]]; then
		for w in ${KCOPY_TORTURE_SEEDS//,/ }; do
			if [[ $w =~ ^([0-9]+)-([0-9]+)$ ]]; then
				a=${BASH_REMATCH[1]} b=${BASH_REMATCH[2]}
				for ((s = a; s <= b; s++)); do TT_SEEDS+=("$s"); done
			elif [[ $w =~ ^[0-9]+$ ]]; then
				TT_SEEDS+=("$w")
			else
				fail "KCOPY_TORTURE_SEEDS: bad seed '$w'"
			fi
		done
	else
		a=${KCOPY_TORTURE_BASE:-1000} b=${KCOPY_TORTURE_COUNT:-20}
		[[ $a =~ ^[0-9]+$ && $b =~ ^[0-9]+$ ]] ||
			fail "KCOPY_TORTURE_BASE/COUNT: not numbers ('$a', '$b')"
		for ((s = a; s < a + b; s++)); do TT_SEEDS+=("$s"); done
	fi
	[[ ${#TT_SEEDS[@]} -gt 0 ]] || fail "no seeds"
}

# --- building a scenario --------------------------------------------------------------

pick() { # VAR WORD...: one of the words
	local _p_var=$1
	shift
	tt_rand $#
	shift "$TT_R"
	printf -v "$_p_var" '%s' "$1"
}

# ranges COUNT BASE LEN: COUNT random OFF+LEN ranges inside [BASE, BASE+LEN),
# 512-aligned, 512 B to 64 KiB long, comma-separated (-> TT_RANGES)
ranges() {
	local n=$1 base=$2 len=$3 k off l out=
	for ((k = 0; k < n; k++)); do
		tt_rand $((len / 512))
		off=$((base + TT_R * 512))
		tt_rand 128
		l=$(((TT_R + 1) * 512))
		((off + l <= base + len)) || l=$((base + len - off))
		out+="${out:+,}$off+$l"
	done
	TT_RANGES=$out
}

# faults_for NODE: one random fault set of a faultfs node (-> TT_WORDS); a
# source gets read faults, a destination write or fsync faults
faults_for() {
	local node=$1 words=() n fs=
	if tt_pct 65; then
		tt_rand 3
		n=$((TT_R + 1))
		if [[ $node == src ]]; then
			ranges "$n" "$S_OFF" "$L"
			words+=("--read-fail=$TT_RANGES")
		elif ((VERIFY)) && tt_pct 30; then
			# silent corruption, that only --verify can see (the run
			# gets no other fault and no signal: see build_scenario)
			ranges "$n" "${D_OFF[${node#d}]}" "$L"
			words+=("--corrupt-write=$TT_RANGES")
		else
			# a flush that fails; with --fsync-lose=N it loses the
			# writes since the last good one, and the flushes after the
			# first N succeed: in a run long enough to save the map on
			# the way, =1 fails that flush and lets the final one pass
			if ((DUR_MS < 1000)) && tt_pct 30; then
				pick fs --fsync-fail --fsync-lose=0 --fsync-lose=1 --fsync-lose=2
			elif ((DUR_MS >= 1000)) && tt_pct 50; then
				pick fs --fsync-fail --fsync-lose=1 --fsync-lose=1 --fsync-lose=2
			fi
			if tt_pct "$([[ -n $fs ]] && echo 30 || echo 80)"; then
				ranges "$n" "${D_OFF[${node#d}]}" "$L"
				words+=("--write-fail=$TT_RANGES")
			fi
			if [[ -n $fs ]]; then words+=("$fs"); fi
		fi
		if tt_pct 20; then
			pick n 100 500 2000
			words+=("--delay-us=$n")
		fi
	fi
	TT_WORDS="${words[*]}"
}

# build_scenario SEED DIR: the sets S_*, D_* (arrays), L, CMD, NODES, PLAN_*
build_scenario() {
	local seed=$1 dir=$2 d nd loops=0 tail=0 anyfuse=0 size extra slot node words
	tt_srand "$seed"

	# geometry
	tt_rand 49
	L=$(((16 + TT_R) * 64 * KiB)) # 1-4 MiB
	tt_rand 3
	nd=$((TT_R + 1))
	D_KIND=() D_OFF=() D_PATH=() D_CMP=() D_SIZE=() D_START=()
	for ((d = 0; d < nd; d++)); do
		pick "D_KIND[$d]" fuse fuse fuse file file file loop
		if [[ ${D_KIND[d]} == loop ]]; then
			if ((loops)); then D_KIND[d]=file; else loops=1; fi
		fi
		D_OFF[d]=0
		if tt_pct 35; then
			tt_rand 64
			D_OFF[d]=$(((TT_R + 1) * 4 * KiB))
		fi
	done
	pick S_KIND fuse fuse file file file
	S_OFF=0
	if tt_pct 25; then
		tt_rand 64
		S_OFF=$(((TT_R + 1) * 4 * KiB))
	fi
	# a scenario without faultfs at all would only test signals: rare
	if [[ $S_KIND == fuse || " ${D_KIND[*]} " == *" fuse "* ]]; then anyfuse=1; fi
	if ((!anyfuse)) && tt_pct 80; then
		D_KIND[0]=fuse
		if [[ " ${D_KIND[*]} " != *" loop "* ]]; then loops=0; fi
	fi
	# an unaligned tail only if every region is a regular file
	if ((!loops)) && tt_pct 40; then
		tt_rand 4095
		tail=$((TT_R + 1))
		L=$((L + tail))
	fi

	# the images: the source, and the destinations' old junk, of their
	# full size (or short, or missing)
	S_IMG="$dir/src.img"
	local gens=("$S_IMG" $((S_OFF + L)) "$seed")
	for ((d = 0; d < nd; d++)); do
		extra=0
		if ((!tail)) && tt_pct 50; then
			tt_rand 8
			extra=$(((TT_R + 1) * 64 * KiB))
		fi
		size=$((D_OFF[d] + L + extra))
		D_START[d]=full
		if [[ ${D_KIND[d]} == file ]]; then
			pick "D_START[$d]" full full full short missing
		fi
		case ${D_START[d]} in
		full) gens+=("$dir/d$d.img" "$size" $((seed * 10 + d + 1))) ;;
		short) gens+=("$dir/d$d.img" $(((D_OFF[d] + L) / 2 / 4096 * 4096)) $((seed * 10 + d + 1))) ;;
		esac
	done
	tt_gen "${gens[@]}"

	# the source
	if [[ $S_KIND == fuse ]]; then
		S_FAULTS="$dir/src.faults"
		: >"$S_FAULTS"
		tt_mount_faultfs S_PATH "$dir" src "$S_IMG" "$S_FAULTS"
	else
		S_PATH=$S_IMG
	fi
	S_ARG=$S_PATH
	((S_OFF == 0)) || S_ARG="$S_PATH:$S_OFF"

	# the destinations
	NODES=()
	if [[ $S_KIND == fuse ]]; then NODES+=(src); fi
	D_ARGS=()
	for ((d = 0; d < nd; d++)); do
		D_IMG="$dir/d$d.img"
		case ${D_KIND[d]} in
		fuse)
			D_FAULTS[d]="$dir/d$d.faults"
			: >"${D_FAULTS[d]}"
			tt_mount_faultfs "D_PATH[$d]" "$dir" "d$d" "$D_IMG" "${D_FAULTS[d]}"
			D_CMP[d]=$D_IMG
			NODES+=("d$d")
			;;
		file)
			D_PATH[d]=$D_IMG
			D_CMP[d]=$D_IMG
			;;
		loop)
			tt_loop "D_PATH[$d]" "$D_IMG"
			D_CMP[d]=${D_PATH[d]}
			;;
		esac
		if ((D_OFF[d])); then D_ARGS+=("${D_PATH[d]}:${D_OFF[d]}"); else D_ARGS+=("${D_PATH[d]}"); fi
	done

	# the command: the same for every run
	MAP="$dir/map"
	CMD=(-q --json)
	if tt_pct 50; then CMD+=(-i); fi
	if tt_pct 50; then
		tt_rand 8
		CMD+=(-j $((TT_R + 1)))
	fi
	if tt_pct 50; then
		pick size 64K 128K 256K 512K 1M
		CMD+=(-b "$size")
	fi
	VERIFY=0
	if tt_pct 25; then
		VERIFY=1
		CMD+=(--verify)
	fi
	# a whole copy takes 0.2 to 0.6 s (long enough to be interrupted), or
	# 1.2 to 1.7 s: then kcopy saves the map (and flushes) on the way too
	# (not with --verify, whose reading back is as slow again, twice)
	if ((VERIFY)) || tt_pct 70; then
		tt_rand 400
		DUR_MS=$((200 + TT_R))
	else
		tt_rand 500
		DUR_MS=$((1200 + TT_R))
	fi
	CMD+=("--rate=$((L * 1000 / DUR_MS / KiB))K" "--map=$MAP" "$S_ARG" "${D_ARGS[@]}")

	# the plan of every run, drawn now so that it depends on the seed only
	tt_rand 5
	PLAN_FAULTY=$((TT_R + 1)) # runs 1..PLAN_FAULTY have faults and signals
	PLAN_SIG=() PLAN_DELAY=()
	declare -gA PLAN_FAULTS=()
	for ((slot = 1; slot <= TT_MAX_RUNS; slot++)); do
		PLAN_SIG[slot]=none
		if tt_pct 30; then
			PLAN_SIG[slot]=INT
		elif tt_pct 40; then
			PLAN_SIG[slot]=KILL
		fi
		tt_rand "$DUR_MS"
		PLAN_DELAY[slot]=$TT_R # ms after kcopy is ready
		words=
		if tt_pct 20; then
			for node in "${NODES[@]}"; do PLAN_FAULTS[$slot,$node]=; done
		else
			for node in "${NODES[@]}"; do
				faults_for "$node"
				PLAN_FAULTS[$slot,$node]=$TT_WORDS
				words+=$TT_WORDS
			done
		fi
		# a silent corruption comes alone, in a run that ends: then
		# --verify sees it, and the run must not claim the range
		if [[ $words == *--corrupt-write* ]]; then
			for node in "${NODES[@]}"; do
				if [[ ${PLAN_FAULTS[$slot,$node]} != --corrupt-write* ]]; then
					PLAN_FAULTS[$slot,$node]=
				fi
			done
			PLAN_SIG[slot]=none
		fi
		# a run without faults nor signal would end the sequence: only
		# the clean run after the faulty ones is that
		if [[ -z $words && ${PLAN_SIG[slot]} == none ]]; then
			pick "PLAN_SIG[$slot]" INT KILL
		fi
	done
}

faults_file() { # NODE -> its --faults file
	if [[ $1 == src ]]; then echo "$S_FAULTS"; else echo "${D_FAULTS[${1#d}]}"; fi
}

describe_scenario() {
	local d s="source ${S_KIND}${S_OFF:+@$S_OFF} L=$L;"
	for d in "${!D_KIND[@]}"; do
		s+=" d$d ${D_KIND[d]}@${D_OFF[d]}"
		[[ ${D_START[d]} == full ]] || s+="(${D_START[d]})"
	done
	printf '%s' "$s"
}

# --- checks ------------------------------------------------------------------------------

# differing DEST_INDEX: a description of where dest d differs from the source
differing() {
	local d=$1
	"$TT_PY" - "$S_IMG" "$S_OFF" "${D_CMP[d]}" "${D_OFF[d]}" "$L" <<'EOF'
import sys
src, soff, dst, doff, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
with open(src, "rb") as f:
    f.seek(soff); a = f.read(n)
with open(dst, "rb") as f:
    f.seek(doff); b = f.read(n)
out, i, B = [], 0, 512
if len(b) < n:
    out.append("dest is short: %d of %d bytes" % (len(b), n))
while i < min(len(a), len(b)):
    if a[i:i + B] != b[i:i + B]:
        j = i
        while j < len(b) and a[j:j + B] != b[j:j + B]:
            j += B
        seg = b[i:j]
        what = "zeros" if seg.count(0) == len(seg) else "other bytes"
        out.append("dest offset %d+%d (copy offset %d) holds %s" % (doff + i, min(j, n) - i, i, what))
        i = j
    else:
        i += B
print("; ".join(out[:6]) + (" ..." if len(out) > 6 else ""))
EOF
}

# same_as_source D: cmp dest D's region with the source region
same_as_source() {
	local d=$1
	if [[ -b ${D_CMP[d]} ]]; then blockdev --flushbufs "${D_CMP[d]}" 2>/dev/null || true; fi
	cmp -s -n "$L" -i "$S_OFF:${D_OFF[d]}" "$S_IMG" "${D_CMP[d]}"
}

# summary OUT: the JSON report of a run in one line
summary() {
	"$TT_PY" - "$1" <<'EOF'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception:
    print("no report"); sys.exit()
p = [d.get("status")]
for j in d.get("jobs", []):
    p.append("data %s zeroed %s skipped %s" % (j.get("bytes_data"), j.get("bytes_zeroed"), j.get("bytes_skipped")))
    for e in j.get("errors", []):
        p.append("%s%s %d+%d %s" % (e["region"], "" if e["index"] is None else " %d" % e["index"],
                                    e["offset"], e["length"], e["error"]))
print("; ".join(str(x) for x in p))
EOF
}

# --- one scenario ------------------------------------------------------------------------------

# run_scenario SEED: TT_OK 1 and TT_VERDICT "ok ...", or TT_OK 0 and the
# violation in TT_VERDICT (several lines).  Returns 0 either way, so that a
# helper's failure (errexit) still stops the test.
run_scenario() {
	local seed=$1 dir="$SCRATCH/seed-$1" run phase sig node words faults ready line w kept
	local finished=0 codes=() history=() violation= d f
	rm -rf "$dir"
	mkdir -p "$dir"
	build_scenario "$seed" "$dir"
	TT_CMDLINE=$(printf '%q ' "$KCOPY" "${CMD[@]}")
	TT_CMDLINE=${TT_CMDLINE% }

	for ((run = 1; run <= TT_MAX_RUNS; run++)); do
		if ((finished)); then
			phase=confirm
		elif ((run <= PLAN_FAULTY)); then
			phase=faulty
		else
			phase=clean
		fi
		# the faults of this run (a finished job is re-run under read and
		# write faults, but no fsync fault: it does no I/O, but a flush
		# may be)
		faults=
		for node in "${NODES[@]}"; do
			words=
			[[ $phase == clean ]] || words=${PLAN_FAULTS[$run,$node]}
			if [[ $phase == confirm ]]; then
				kept=
				for w in $words; do
					[[ $w == --fsync* || $w == --corrupt* ]] || kept+=" $w"
				done
				words=$kept
				# (with --verify, no fault at all: a re-run might verify)
				((!VERIFY)) || words=
			fi
			words=$(echo $words) # squeeze blanks
			tt_set_faults "$(faults_file "$node")" $words
			[[ -z $words ]] || faults+="${faults:+; }$node: $words"
		done
		sig=none
		[[ $phase != faulty ]] || sig=${PLAN_SIG[run]}

		tt_start_kcopy "$dir/run$run.out" "$dir/run$run.err" "${CMD[@]}"
		ready=0
		# (stderr off: no "Killed" job notice from bash)
		{
			if [[ $sig != none ]] && tt_wait_ready "$TT_KPID"; then
				ready=1
				sleep "$(printf '%d.%03d' $((PLAN_DELAY[run] / 1000)) $((PLAN_DELAY[run] % 1000)))"
				tt_signal "$sig" "$TT_KPID"
			fi
			tt_wait_kcopy "$TT_KPID"
		} 2>/dev/null
		codes+=("$TT_RC")
		line="run $run ($phase): faults {${faults:-none}}, signal $sig"
		if ((ready)); then line+=" after ${PLAN_DELAY[run]} ms"; fi
		line+=" -> exit $TT_RC"
		if ((TT_HUNG)); then line+=" (HUNG, killed)"; fi
		history+=("$line")

		if ((TT_HUNG)); then
			violation="run $run hung (killed after ${TT_HANG_SECONDS:-120} s)"
		else
			case $TT_RC in
			0 | 1 | 130 | 137) ;;
			*) violation="run $run exited $TT_RC (only 0, 1, 130 or 137 may happen here)" ;;
			esac
		fi
		if [[ -z $violation && $TT_RC == 0 ]]; then
			for d in "${!D_KIND[@]}"; do
				if ! same_as_source "$d"; then
					violation="run $run exited 0 but dest $d (${D_KIND[d]} ${D_ARGS[d]}) differs from the source: $(differing "$d")"
					break
				fi
			done
		fi
		if [[ -z $violation && $phase == clean && $TT_RC != 0 ]]; then
			violation="run $run, without faults or signals, exited $TT_RC"
		fi
		if [[ -z $violation && $phase == confirm && $TT_RC != 0 ]]; then
			violation="run $run, a re-run of a finished job, exited $TT_RC"
		fi
		if [[ -n $violation && $TT_RC != 0 ]]; then
			for d in "${!D_KIND[@]}"; do
				if ! same_as_source "$d"; then
					violation+="; dest $d differs from the source: $(differing "$d")"
				fi
			done
		fi
		[[ -z $violation ]] || break
		[[ $phase != confirm ]] || break
		[[ $TT_RC != 0 ]] || finished=1
	done
	if [[ -z $violation ]] && ((!finished)); then
		violation="no run exited 0 in $TT_MAX_RUNS runs"
	fi

	if [[ -z $violation ]]; then
		TT_VERDICT="ok: $(describe_scenario); exits ${codes[*]}"
		if [[ -n ${KCOPY_TORTURE_VERBOSE:-} ]]; then
			TT_VERDICT+="
#   command: $TT_CMDLINE"
			for ((f = 0; f < ${#history[@]}; f++)); do
				TT_VERDICT+="
#   ${history[f]}
#       report: $(summary "$dir/run$((f + 1)).out")"
			done
		fi
	else
		TT_VERDICT="seed $seed: VIOLATION: $violation
  scenario: $(describe_scenario)
  command: $TT_CMDLINE
  faults in force: ${faults:-none}"
		for ((f = 0; f < ${#history[@]}; f++)); do
			TT_VERDICT+="
  ${history[f]}
      report: $(summary "$dir/run$((f + 1)).out")"
			if [[ -s $dir/run$((f + 1)).err ]]; then
				TT_VERDICT+="
      stderr: $(head -c 600 "$dir/run$((f + 1)).err" | tr '\n' '|')"
			fi
		done
		TT_VERDICT+="
  map: $(grep -E '^(done|failed) ' "$MAP" 2>/dev/null | head -8 | tr '\n' '|')
  replay: KCOPY_TORTURE_SEEDS=$seed bats tests/torture.bats"
	fi
	torture_cleanup || _helper_warn "torture: cleanup of seed $seed was not clean"
	rm -f "$dir"/*.img
	TT_OK=1
	if [[ -n $violation ]]; then TT_OK=0; fi
}

@test "torture: faults, SIGINT, kill -9 and re-runs with --map; exit 0 => every destination equals the source" {
	torture_seeds
	local seed failed=() report= t0=$SECONDS
	echo "# torture: ${#TT_SEEDS[@]} seeds (${TT_SEEDS[0]}...), kcopy $KCOPY" >&3
	for seed in "${TT_SEEDS[@]}"; do
		run_scenario "$seed"
		if ((TT_OK)); then
			echo "# seed $seed: $TT_VERDICT" >&3
		else
			failed+=("$seed")
			report+="$TT_VERDICT"$'\n'
			echo "# seed $seed: FAILED (${TT_VERDICT%%$'\n'*})" >&3
		fi
	done
	echo "# torture: ${#TT_SEEDS[@]} seeds in $((SECONDS - t0)) s, ${#failed[@]} failed${failed:+: ${failed[*]}}" >&3
	if ((${#failed[@]})); then
		fail "${#failed[@]} of ${#TT_SEEDS[@]} seeds broke the invariant: ${failed[*]}
$report
replay all: KCOPY_TORTURE_SEEDS='${failed[*]}' bats tests/torture.bats"
	fi
}

# What the torture relies on: faultfs --faults puts a new fault set in force
# at the next open, and the file keeps its identity (no remount).
@test "torture: faultfs --faults changes the faults at the next open, same st_dev and st_ino" {
	local img="$SCRATCH/f.img" faults="$SCRATCH/f.faults" F id
	tt_gen "$img" $((1 * MiB)) 1
	: >"$faults"
	tt_mount_faultfs F "$SCRATCH" f "$img" "$faults"
	id=$(stat -c '%d %i' "$F")
	run -0 dd if="$F" of=/dev/null bs=4K skip=1 count=1 iflag=direct status=none
	tt_set_faults "$faults" --read-fail=4096+512 --write-fail=8192+512 --fsync-fail
	run -1 dd if="$F" of=/dev/null bs=4K skip=1 count=1 iflag=direct status=none
	run -0 dd if="$F" of=/dev/null bs=4K skip=2 count=1 iflag=direct status=none
	run -1 dd if=/dev/zero of="$F" bs=4K seek=2 count=1 oflag=direct conv=notrunc status=none
	run -1 dd if=/dev/zero of="$F" bs=4K seek=3 count=1 oflag=direct conv=notrunc,fsync status=none
	assert_output --partial "fsync failed"
	# the write into the write-fail range left the image as it was
	tt_gen "$SCRATCH/orig" $((1 * MiB)) 1
	cmp -n 4096 -i 8192:8192 "$img" "$SCRATCH/orig"
	# faults gone; a bad word fails the open and keeps the faults in force
	: >"$faults"
	run -0 dd if="$F" of=/dev/null bs=4K skip=1 count=1 iflag=direct status=none
	tt_set_faults "$faults" --read-fail=4096+512 --bogus
	run -1 dd if="$F" of=/dev/null bs=4K count=1 iflag=direct status=none
	assert_output --partial "Invalid argument"
	# --fsync-lose=1: the first flush fails and undoes the writes before it,
	# the next one succeeds and keeps what was written since
	tt_set_faults "$faults" --fsync-lose=1
	run -0 python3 - "$F" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
os.pwrite(fd, b"\1" * 4096, 0)
try:
    os.fdatasync(fd)
    sys.exit("the first fdatasync succeeded")
except OSError:
    pass
os.pwrite(fd, b"\2" * 4096, 8192)
os.fdatasync(fd)
EOF
	cmp -n 8192 "$img" "$SCRATCH/orig"
	cmp -n 4096 -i 8192:0 "$img" <(head -c 4096 /dev/zero | tr '\0' '\2')
	# --corrupt-write: the write succeeds, its bytes in the range inverted
	tt_set_faults "$faults" --corrupt-write=$((16384 + 512))+1024
	run -0 dd if=/dev/zero of="$F" bs=4K seek=4 count=1 oflag=direct conv=notrunc status=none
	cmp -n 512 -i 16384:0 "$img" /dev/zero
	cmp -n 1024 -i $((16384 + 512)):0 "$img" <(head -c 1024 /dev/zero | tr '\0' '\377')
	cmp -n 2560 -i $((16384 + 1536)):0 "$img" /dev/zero
	[ "$(stat -c '%d %i' "$F")" = "$id" ]
	torture_cleanup
}
