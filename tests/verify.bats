#!/usr/bin/env bats
# --verify: after all jobs, every destination is read back and compared with
# its source (or with zeros for a zero job); mismatches are reported as
# ranges per destination at absolute offsets, exit 1, JSON "verified".
#
# A destination is altered between its copy and the verify honestly, by a
# later job of the same run: `copy S D`, `wait`, `zero D:OFF+LEN`.  The verify
# runs after every job has ended, so the copy job must see the zeroed range
# as a mismatch, exactly there, and the zero job must verify clean.  Sources
# hold the "pattern" data (no zero bytes), so a mismatch covers every byte
# of the zeroed range.

bats_require_minimum_version 1.5.0

load test_helper

MiB=$((1024 * 1024))
KiB=1024

setup() {
	require_root
	JF="$SCRATCH/jobs"
	local img
	img=$(mktemp "$SCRATCH/img.XXXXXX")
	make_file "$img" 8M pattern
	make_loop_on "$img" S
}

# mismatches JOB: "[[index, offset, length], ...]" of a job's verify errors
mismatches() {
	json_get "[[e['index'], e['offset'], e['length']] for e in d['jobs'][$1]['errors'] if e['region'] == 'dest' and 'verify' in e['error']]"
}

@test "--verify passes on a good copy to two destinations (exit 0, verified true)" {
	make_loop D1 8M
	make_loop D2 16M
	run -0 --separate-stderr "$KCOPY" --json --verify "$S" "$D1" "$D2:4M"
	[ "$(json_get 'd["status"]' <<<"$output")" = ok ]
	[ "$(json_get 'd["jobs"][0]["verified"]' <<<"$output")" = true ]
	[ "$(json_get 'd["jobs"][0]["errors"]' <<<"$output")" = "[]" ]
	grep -q "verified" <<<"$stderr" || fail "human report does not say verified: $stderr"
	cmp "$S" "$D1"
	assert_same_range "$S" 0 "$D2" 4M 8M
}

@test "without --verify, \"verified\" is null" {
	make_loop D 8M
	run -0 --separate-stderr "$KCOPY" --json "$S" "$D"
	[ "$(json_get 'd["jobs"][0]["verified"]' <<<"$output")" = null ]
}

@test "--zero --verify checks zeros: passes with the offload and with zero buffers" {
	make_loop D 8M
	make_file "$D" 8M random
	run -0 --separate-stderr "$KCOPY" --json --verify --zero "$D"
	[ "$(json_get 'd["jobs"][0]["verified"]' <<<"$output")" = true ]
	assert_zero_range "$D" 0 8M
	make_file "$D" 8M random
	run -0 --separate-stderr "$KCOPY" --json --verify --zero --no-write-zeroes "$D:1M+4M"
	[ "$(json_get 'd["jobs"][0]["verified"]' <<<"$output")" = true ]
	assert_zero_range "$D" 1M 4M
}

@test "--verify catches a destination altered after its copy: exact range, exit 1" {
	make_loop D 16M
	# the copy lands at 4 MiB in D; the zero job changes 64 KiB of it
	cat >"$JF" <<EOF
copy $S $D:4M
wait
zero $D:$((5 * MiB))+64K
EOF
	run -1 --separate-stderr "$KCOPY" --json --verify --job-file="$JF"
	[ "$(json_get 'd["status"]' <<<"$output")" = errors ]
	[ "$(json_get '[j["verified"] for j in d["jobs"]]' <<<"$output")" = "[false, true]" ]
	# at the absolute offset in D, exactly the zeroed range
	[ "$(mismatches 0 <<<"$output")" = "[[0, $((5 * MiB)), $((64 * KiB))]]" ] ||
		fail "mismatches: $(mismatches 0 <<<"$output")"
	[ "$(json_get 'd["jobs"][0]["read_err"]' <<<"$output")" -eq 0 ]
	[ "$(json_get 'd["jobs"][1]["errors"]' <<<"$output")" = "[]" ]
	# the human report names the destination and the byte range
	grep -qE "mismatch.*$D.*$((5 * MiB))-$((5 * MiB + 64 * KiB - 1))" <<<"$stderr" ||
		fail "no mismatch range in the human report: $stderr"
	grep -q "FAILED" <<<"$stderr"
	# the copy itself was right, the zero job ran after it
	assert_same_range "$S" 0 "$D" 4M 1M
	assert_zero_range "$D" 5M 64K
	assert_same_range "$S" $((MiB + 64 * KiB)) "$D" $((5 * MiB + 64 * KiB)) $((7 * MiB - 64 * KiB))
}

@test "--verify reports each altered range of each destination separately" {
	make_loop D1 8M
	make_loop D2 8M
	# two ranges in D2, one across the 512 KiB sub-job boundary; D1 untouched
	cat >"$JF" <<EOF
copy $S $D1 $D2
wait
zero $D2:$((512 * KiB - 8 * KiB))+16K
zero $D2:6M+4K
EOF
	run -1 --separate-stderr "$KCOPY" --json --verify --job-file="$JF"
	[ "$(json_get '[j["verified"] for j in d["jobs"]]' <<<"$output")" = "[false, true, true]" ]
	run -0 python3 -c '
import json, sys
d = json.load(sys.stdin)
errs = [e for e in d["jobs"][0]["errors"] if e["region"] == "dest"]
if any(e["index"] != 1 for e in errs):
    sys.exit("a mismatch reported on the untouched destination 0: %r" % errs)
covered = set()
for e in errs:
    covered |= set(range(e["offset"], e["offset"] + e["length"]))
want = set(range(512 * 1024 - 8192, 512 * 1024 + 8192)) | set(range(6 << 20, (6 << 20) + 4096))
if covered != want:
    sys.exit("mismatch ranges %r do not cover exactly the altered bytes" % errs)
print(json.dumps([[e["offset"], e["length"]] for e in errs]))
' <<<"$output"
	# one range per altered extent (adjacent pieces merged)
	[ "$output" = "[[$((512 * KiB - 8 * KiB)), $((16 * KiB))], [$((6 * MiB)), 4096]]" ] ||
		fail "ranges not merged per extent: $output"
}

@test "--verify of a zero job catches data written over the zeros afterwards" {
	make_loop D 8M
	make_file "$D" 8M random
	cat >"$JF" <<EOF
zero $D
wait
copy $S:0+64K $D:128K
EOF
	run -1 --separate-stderr "$KCOPY" --json --verify --job-file="$JF"
	[ "$(json_get '[j["verified"] for j in d["jobs"]]' <<<"$output")" = "[false, true]" ]
	[ "$(mismatches 0 <<<"$output")" = "[[0, $((128 * KiB)), $((64 * KiB))]]" ] ||
		fail "mismatches: $(mismatches 0 <<<"$output")"
	assert_zero_range "$D" 0 128K
	assert_same_range "$S" 0 "$D" 128K 64K
	assert_zero_range "$D" 192K $((8 * MiB - 192 * KiB))
}
