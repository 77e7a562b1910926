#!/usr/bin/env bats
# --rate (a token bucket over the whole run) and --throttle (kcopyd's share
# of wall time with I/O in flight), alone and together.  (SPEC §2, §3
# Throttle)
#
# Only ratios and lower bounds on time are asserted for the throttle; the
# rate is asserted within 10% of what was asked for.  Note that SIZE units
# are powers of 1024: --rate=20M is 20 MiB/s.

bats_require_minimum_version 1.5.0

load test_helper

MiB=$((1024 * 1024))

setup() {
	require_root
}

now_ns() { date +%s%N; }

# rand_loop VAR SIZE: a loop device over SIZE random bytes
rand_loop() {
	local _img
	_img=$(mktemp "$SCRATCH/img.XXXXXX")
	make_file "$_img" "$2" random
	make_loop_on "$_img" "$1"
}

# junk DEV: fill a device with random bytes (so a copy that does nothing shows)
junk() {
	head -c "$(blockdev --getsize64 "$1")" /dev/urandom |
		dd of="$1" bs=1M iflag=fullblock oflag=direct status=none ||
		fail "junk $1"
}

# slow_loop VAR SIZE DELAY_US: a loop device over a faultfs file of SIZE random
# bytes whose every request takes DELAY_US.  The image is left in ${VAR}_IMG.
slow_loop() {
	local _img
	_img=$(mktemp "$SCRATCH/slow.XXXXXX")
	make_file "$_img" "$2" random
	mount_faultfs _sl_f "$_img" --delay-us="$3"
	loop_on_faultfs "$1" "$_sl_f"
	printf -v "${1}_IMG" '%s' "$_img"
}

# within PCT ACTUAL EXPECTED: |ACTUAL - EXPECTED| <= PCT% of EXPECTED
within() {
	python3 -c '
import sys
pct, a, e = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
sys.exit(0 if abs(a - e) <= e * pct / 100 else 1)' "$@"
}

# json_rate: bytes / seconds of a kcopy JSON report on stdin
json_rate() { json_get 'd["bytes"] / d["seconds"]'; }

@test "--rate=20M: a 64 MiB copy takes at least 3 s and runs within 10% of 20 MiB/s" {
	rand_loop S 64M
	make_loop D 64M
	local t0 t1 wall rate
	t0=$(now_ns)
	run -0 --separate-stderr "$KCOPY" --json --rate=20M "$S" "$D"
	t1=$(now_ns)
	wall=$(((t1 - t0) / 1000000))
	[ "$(json_get 'd["status"]' <<<"$output")" = ok ]
	[ "$(json_get 'd["bytes"]' <<<"$output")" -eq $((64 * MiB)) ]
	[ "$wall" -ge 3000 ] || fail "took only $wall ms"
	rate=$(json_rate <<<"$output")
	within 10 "$rate" $((20 * MiB)) || fail "measured $rate B/s, asked for $((20 * MiB))"
	# the reported time cannot exceed the wall clock, which also counts
	# process start-up and exit (unbounded on a loaded machine, so the wall
	# clock only bounds from below)
	local reported
	reported=$(json_get 'int(d["seconds"] * 1000)' <<<"$output")
	[ "$reported" -le $((wall + 50)) ] ||
		fail "reported $reported ms, the process took $wall ms"
	cmp "$S" "$D"
}

@test "--rate is one bucket for the whole run: two concurrent jobs share it" {
	rand_loop S 32M
	make_loop D1 16M
	make_loop D2 16M
	cat >"$SCRATCH/jobs" <<EOF
copy $S:0+16M $D1
copy $S:16M+16M $D2
EOF
	run -0 --separate-stderr "$KCOPY" --json --rate=16M --job-file="$SCRATCH/jobs"
	[ "$(json_get 'd["bytes"]' <<<"$output")" -eq $((32 * MiB)) ]
	# 32 MiB at 16 MiB/s in all: about 2 s, not 1 s
	within 10 "$(json_rate <<<"$output")" $((16 * MiB)) ||
		fail "aggregate rate $(json_rate <<<"$output") B/s: $output"
	assert_same_range "$S" 0 "$D1" 0 16M
	assert_same_range "$S" 16M "$D2" 0 16M
}

@test "--rate caps a zero job too" {
	make_loop D 32M
	junk "$D"
	local rate
	run -0 --separate-stderr "$KCOPY" --json --rate=32M --zero --no-write-zeroes "$D"
	rate=$(json_rate <<<"$output")
	# a cap: never more than 10% over; and the bucket is not grossly wasted
	python3 -c "import sys; sys.exit(0 if 0.7 * 32 * 2**20 <= $rate <= 1.1 * 32 * 2**20 else 1)" ||
		fail "rate $rate B/s for --rate=32M: $output"
	assert_zero_range "$D" 0 32M
}

@test "--throttle=25 vs 100 on a slow device: throughput ratio <= 0.6" {
	# 192 requests of 64 KiB, 8 in flight, 50 ms each: ~1.2-1.5 s unthrottled,
	# long enough for the throttle's 1-second accounting
	slow_loop S 12M 50000
	make_loop D 12M
	local t100 t25 ratio
	run -0 --separate-stderr "$KCOPY" --json -b 64K -t 100 "$S" "$D"
	t100=$(json_get 'd["seconds"]' <<<"$output")
	cmp "$S_IMG" "$D"
	junk "$D"
	run -0 --separate-stderr "$KCOPY" --json -b 64K -t 25 "$S" "$D"
	t25=$(json_get 'd["seconds"]' <<<"$output")
	cmp "$S_IMG" "$D"
	ratio=$(python3 -c "print('%.3f' % ($t100 / $t25))")
	echo "# throttle 100: ${t100}s, throttle 25: ${t25}s, throughput ratio $ratio" >&3
	python3 -c "import sys; sys.exit(0 if $t100 / $t25 <= 0.6 else 1)" ||
		fail "throughput ratio 25%/100% is $ratio (t100=$t100 t25=$t25)"
}

@test "--rate with --throttle: the rate cap holds when the throttle does not bind" {
	rand_loop S 32M
	make_loop D 32M
	run -0 --separate-stderr "$KCOPY" --json --rate=16M --throttle=50 "$S" "$D"
	local rate
	rate=$(json_rate <<<"$output")
	within 10 "$rate" $((16 * MiB)) || fail "rate $rate B/s with --throttle=50: $output"
	cmp "$S" "$D"
}

@test "--throttle with --rate: the throttle still binds when the rate does not" {
	# 8 MiB in 64 KiB requests of 50 ms: ~0.8 s without the throttle
	slow_loop S 8M 50000
	make_loop D 8M
	local tfree tthr
	run -0 --separate-stderr "$KCOPY" --json -b 64K --rate=1G "$S" "$D"
	tfree=$(json_get 'd["seconds"]' <<<"$output")
	junk "$D"
	run -0 --separate-stderr "$KCOPY" --json -b 64K --rate=1G -t 25 "$S" "$D"
	tthr=$(json_get 'd["seconds"]' <<<"$output")
	cmp "$S_IMG" "$D"
	echo "# --rate=1G: ${tfree}s, --rate=1G -t 25: ${tthr}s" >&3
	python3 -c "import sys; sys.exit(0 if $tfree / $tthr <= 0.6 else 1)" ||
		fail "throughput ratio with -t 25 is $tfree/$tthr"
}

@test "--rate and --throttle values out of range are refused (exit 2)" {
	make_file "$SCRATCH/s" 1M random
	for bad in --rate=0 --rate=x --rate=1.5M --throttle=0 --throttle=101 --throttle=1.5 \
		--throttle=-5 --throttle=; do
		run -2 --separate-stderr "$KCOPY" "$bad" "$SCRATCH/s" "$SCRATCH/d"
		[[ $stderr == "kcopy: "* ]] || fail "$bad: $stderr"
		[ ! -e "$SCRATCH/d" ] || fail "$bad: destination created"
	done
}
