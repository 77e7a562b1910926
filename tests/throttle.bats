#!/usr/bin/env bats
# --rate (a token bucket over the whole run) and --throttle (kcopyd's share
# of wall time with I/O in flight), alone and together.  (SPEC §2, §3
# Throttle)
#
# No absolute speed is assumed: a loaded machine (another `make check`
# beside this one) makes every device slow.  So
#   - the throttle is asserted by ratios against the same copy without it,
#     run in the same test (before and after, the faster of the two);
#   - a --rate is a cap: the average is asserted to be at most the cap + 10%
#     always, and close to the cap only when the same copy without a cap,
#     measured in the same test (before and after, the slower of the two),
#     is well above it -- otherwise that bound is not asserted (a "# note"
#     says so);
#   - lower bounds on time follow from the cap (size / rate), whatever the load.
# Note that SIZE units are powers of 1024: --rate=20M is 20 MiB/s.

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

# json_rate: bytes / seconds of a kcopy JSON report on stdin
json_rate() { json_get 'd["bytes"] / d["seconds"]'; }

# speed ARGS...: bytes/s of kcopy ARGS without --rate or --throttle (by its
# JSON seconds): what the devices of this test do now
speed() {
	local out
	out=$("$KCOPY" -q --json "$@") || { fail "kcopy $* failed: $out"; return 1; }
	json_rate <<<"$out"
}

# seconds ARGS...: kcopy's JSON seconds for kcopy ARGS (which must succeed)
seconds() {
	local out
	out=$("$KCOPY" -q --json "$@") || { fail "kcopy $* failed: $out"; return 1; }
	json_get 'd["seconds"]' <<<"$out"
}

min() { python3 -c 'import sys; print(min(float(a) for a in sys.argv[1:]))' "$@"; }

# assert_rate RATE CAP SPEED FACTOR LOW: the average RATE (B/s) of a run with
# --rate=CAP is at most CAP + 10%; and, if SPEED (the same copy without the
# cap, measured in this test) is at least FACTOR x CAP, at least LOW x CAP.
assert_rate() {
	local rate=$1 cap=$2 speed=$3 factor=$4 low=$5 mib
	mib=$(python3 -c "print('%.1f MiB/s' % ($speed / 2**20))")
	python3 -c "import sys; sys.exit(0 if $rate <= 1.1 * $cap else 1)" ||
		fail "rate $rate B/s is over the cap $cap B/s + 10%"
	if python3 -c "import sys; sys.exit(0 if $speed >= $factor * $cap else 1)"; then
		python3 -c "import sys; sys.exit(0 if $rate >= $low * $cap else 1)" ||
			fail "rate $rate B/s is under $low x the cap $cap B/s, on devices that do $mib without it"
	else
		echo "# note: the devices do only $mib without the cap (under ${factor}x it): the rate's lower bound is not asserted" >&3
	fi
}

@test "--rate=20M: a 64 MiB copy takes at least 3 s, at most 20 MiB/s + 10%, within 10% of it on fast devices" {
	rand_loop S 64M
	make_loop D 64M
	local t0 t1 wall rate v1 v2
	v1=$(speed "$S" "$D")
	junk "$D"
	t0=$(now_ns)
	run -0 --separate-stderr "$KCOPY" --json --rate=20M "$S" "$D"
	t1=$(now_ns)
	wall=$(((t1 - t0) / 1000000))
	[ "$(json_get 'd["status"]' <<<"$output")" = ok ]
	[ "$(json_get 'd["bytes"]' <<<"$output")" -eq $((64 * MiB)) ]
	# 64 MiB at 20 MiB/s is 3.2 s, less a burst of well under 0.2 s: the cap
	# bounds the time from below whatever the load
	[ "$wall" -ge 3000 ] || fail "took only $wall ms"
	rate=$(json_rate <<<"$output")
	cmp "$S" "$D"
	v2=$(speed "$S" "$D")
	assert_rate "$rate" $((20 * MiB)) "$(min "$v1" "$v2")" 4 0.9
	# the reported time cannot exceed the wall clock, which also counts
	# process start-up and exit (unbounded on a loaded machine, so the wall
	# clock only bounds from below)
	local reported
	reported=$(json_get 'int(d["seconds"] * 1000)' <<<"$output")
	[ "$reported" -le $((wall + 50)) ] ||
		fail "reported $reported ms, the process took $wall ms"
}

@test "--rate is one bucket for the whole run: two concurrent jobs share it" {
	rand_loop S 32M
	make_loop D1 16M
	make_loop D2 16M
	cat >"$SCRATCH/jobs" <<EOF
copy $S:0+16M $D1
copy $S:16M+16M $D2
EOF
	local v1 v2 rate
	v1=$(speed --job-file="$SCRATCH/jobs")
	junk "$D1"
	junk "$D2"
	run -0 --separate-stderr "$KCOPY" --json --rate=16M --job-file="$SCRATCH/jobs"
	[ "$(json_get 'd["bytes"]' <<<"$output")" -eq $((32 * MiB)) ]
	rate=$(json_rate <<<"$output")
	assert_same_range "$S" 0 "$D1" 0 16M
	assert_same_range "$S" 16M "$D2" 0 16M
	v2=$(speed --job-file="$SCRATCH/jobs")
	# 32 MiB at 16 MiB/s in all: about 2 s, not 1 s (a bucket per job would
	# let the aggregate reach 32 MiB/s, over the cap). The lower bound is
	# 0.8: the run's seconds end with the flush of two loop devices, which
	# a busy host disk once stretched by 0.3 s (0.86 x the cap, under ASan).
	assert_rate "$rate" $((16 * MiB)) "$(min "$v1" "$v2")" 4 0.8
}

@test "--rate caps a zero job too" {
	make_loop D 32M
	local rate v1 v2
	v1=$(speed --zero --no-write-zeroes "$D")
	junk "$D"
	run -0 --separate-stderr "$KCOPY" --json --rate=32M --zero --no-write-zeroes "$D"
	rate=$(json_rate <<<"$output")
	assert_zero_range "$D" 0 32M
	v2=$(speed --zero --no-write-zeroes "$D")
	# a cap: never more than 10% over; and the bucket is not grossly wasted
	assert_rate "$rate" $((32 * MiB)) "$(min "$v1" "$v2")" 4 0.7
}

@test "--throttle=25 vs 100 on a slow device: throughput ratio <= 0.6" {
	# 192 requests of 64 KiB, 8 in flight, 50 ms each: ~1.2-1.5 s unthrottled,
	# long enough for the throttle's 1-second accounting
	slow_loop S 12M 50000
	make_loop D 12M
	local t100 t100a t100b t25 ratio
	t100a=$(seconds -b 64K -t 100 "$S" "$D")
	cmp "$S_IMG" "$D"
	junk "$D"
	run -0 --separate-stderr "$KCOPY" --json -b 64K -t 25 "$S" "$D"
	t25=$(json_get 'd["seconds"]' <<<"$output")
	cmp "$S_IMG" "$D"
	# unthrottled once more: a load that came and went during one of the
	# runs shows as a difference; the faster one is the device's speed
	t100b=$(seconds -b 64K -t 100 "$S" "$D")
	t100=$(min "$t100a" "$t100b")
	ratio=$(python3 -c "print('%.3f' % ($t100 / $t25))")
	echo "# throttle 100: ${t100a}s and ${t100b}s, throttle 25: ${t25}s, throughput ratio $ratio" >&3
	python3 -c "import sys; sys.exit(0 if $t100 / $t25 <= 0.6 else 1)" ||
		fail "throughput ratio 25%/100% is $ratio (t100=$t100 t25=$t25)"
}

@test "--rate with --throttle: the rate cap holds when the throttle does not bind" {
	rand_loop S 32M
	make_loop D 32M
	local rate v1 v2
	v1=$(speed "$S" "$D")
	junk "$D"
	run -0 --separate-stderr "$KCOPY" --json --rate=16M --throttle=50 "$S" "$D"
	rate=$(json_rate <<<"$output")
	cmp "$S" "$D"
	v2=$(speed "$S" "$D")
	# The throttle counts the time with any I/O in flight.  At the cap, a
	# chunk is issued CAP / sub-job-size times a second and is in flight for
	# up to sub-jobs x sub-job-size / SPEED (8 sub-jobs share the device), so
	# I/O is in flight up to 8 x CAP / SPEED of the time: the throttle at 50%
	# surely does not bind only when SPEED >= 16 x CAP.  On a slower (loaded)
	# device it may, and then only the cap is asserted.
	assert_rate "$rate" $((16 * MiB)) "$(min "$v1" "$v2")" 16 0.9
}

@test "--throttle with --rate: the throttle still binds when the rate does not" {
	# 8 MiB in 64 KiB requests of 50 ms: ~0.8 s without the throttle
	slow_loop S 8M 50000
	make_loop D 8M
	local tfree tfreea tfreeb tthr
	tfreea=$(seconds -b 64K --rate=1G "$S" "$D")
	junk "$D"
	run -0 --separate-stderr "$KCOPY" --json -b 64K --rate=1G -t 25 "$S" "$D"
	tthr=$(json_get 'd["seconds"]' <<<"$output")
	cmp "$S_IMG" "$D"
	tfreeb=$(seconds -b 64K --rate=1G "$S" "$D")
	tfree=$(min "$tfreea" "$tfreeb")
	echo "# --rate=1G: ${tfreea}s and ${tfreeb}s, --rate=1G -t 25: ${tthr}s" >&3
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
