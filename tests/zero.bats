#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# kcopy --zero: every destination zeroed over its own region, with the
# write-zeroes offload when every destination supports it (zero_method
# "offload"), else -- or with --no-write-zeroes, or when the offload fails at
# run time -- by writing one shared zero buffer (zero_method "write").
# Zeros are checked with cmp against /dev/zero inside the region, and the
# bytes outside it against a copy taken before.

# shellcheck disable=SC2154 # $stderr is set by bats run --separate-stderr
load test_helper
bats_require_minimum_version 1.5.0

MiB=$((1024 * 1024))

setup() {
	require_root
}

# random_loop VAR SIZE ORIG [losetup args...]: a loop device over a copy of
# ORIG, a new file of SIZE random bytes (ORIG keeps the "before" content).
random_loop() {
	local _rl_var=$1 _rl_size=$2 _rl_orig=$3
	shift 3
	make_file "$_rl_orig" "$_rl_size" random
	cp "$_rl_orig" "$_rl_orig.img"
	make_loop_on "$_rl_orig.img" "$_rl_var" "$@"
}

# random_file PATH SIZE: PATH random, PATH.orig a copy of it
random_file() {
	make_file "$1" "$2" random
	cp "$1" "$1.orig"
}

# zeroed_only PATH ORIG OFF LEN: PATH is zero over [OFF, OFF+LEN) and equal to
# ORIG everywhere else (and has ORIG's size).
zeroed_only() {
	local path=$1 orig=$2 off len size end
	off=$(bytes_of "$3") && len=$(bytes_of "$4") || return 1
	size=$(stat -c %s "$orig")
	if [[ -b $path ]]; then
		[ "$(blockdev --getsize64 "$path")" -eq "$size" ] ||
			{ fail "$path: size changed"; return 1; }
	else
		[ "$(stat -c %s "$path")" -eq "$size" ] ||
			{ fail "$path: size $(stat -c %s "$path"), expected $size"; return 1; }
	fi
	end=$((off + len))
	if ((len > 0)); then
		assert_zero_range "$path" "$off" "$len" || return 1
	fi
	if ((off > 0)); then
		assert_same_range "$path" 0 "$orig" 0 "$off" || return 1
	fi
	if ((end < size)); then
		assert_same_range "$path" "$end" "$orig" "$end" $((size - end)) || return 1
	fi
}

# The real interpreter, not a pyenv shim: it is started many times.
setup_file() {
	PY=$(python3 -c 'import sys; print(sys.executable)')
	export PY
}

# fill_ff PATH SIZE: a file of 0xff bytes (non-zero, cheap to make)
fill_ff() {
	local size
	size=$(bytes_of "$2") || return 1
	head -c "$size" /dev/zero | tr '\0' '\377' >"$1"
}

# check_writes_cover LOG OFF LEN: the W requests of LOG tile [OFF, OFF+LEN)
# exactly: nothing outside, no byte twice, no gap.
check_writes_cover() {
	"${PY:-python3}" - "$@" <<'EOF'
import sys
log, off, ln = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ws = []
for line in open(log):
    f = line.split()
    if f[0] == "W":
        ws.append((int(f[1]), int(f[2])))
ws.sort()
pos = off
for o, n in ws:
    if o != pos:
        sys.exit("W requests do not tile %d+%d: at %d expected %d (%s)" % (off, ln, o, pos, ws))
    pos = o + n
if pos != off + ln:
    sys.exit("W requests end at %d, expected %d" % (pos, off + ln))
EOF
}

@test "zero: loop device region by the write-zeroes offload, outside untouched" {
	random_loop L 4M "$SCRATCH/orig"
	[ "$(cat "/sys/block/${L##*/}/queue/write_zeroes_max_bytes")" -gt 0 ]

	run -0 --separate-stderr "$KCOPY" --json -q --zero "$L:1M+1M"
	[ "$stderr" = "" ]
	json_expect "d['status'] == 'ok'" \
		"d['bytes'] == $MiB" \
		"len(d['jobs']) == 1" \
		"d['jobs'][0]['op'] == 'zero'" \
		"d['jobs'][0]['source'] is None" \
		"d['jobs'][0]['zero_method'] == 'offload'" \
		"d['jobs'][0]['write_err'] == 0" \
		"d['jobs'][0]['dests'][0]['offset'] == $MiB" \
		"d['jobs'][0]['dests'][0]['length'] == $MiB"
	zeroed_only "$L" "$SCRATCH/orig" 1M 1M
}

@test "zero: loop device to its end with --no-write-zeroes writes zeros" {
	random_loop L 4M "$SCRATCH/orig"
	run -0 --separate-stderr "$KCOPY" --json -q --no-write-zeroes --zero "$L:1536K"
	json_expect "d['status'] == 'ok'" \
		"d['jobs'][0]['zero_method'] == 'write'" \
		"d['jobs'][0]['dests'][0]['length'] == $((4 * MiB - 1536 * 1024))" \
		"d['bytes'] == $((4 * MiB - 1536 * 1024))"
	zeroed_only "$L" "$SCRATCH/orig" 1536K $((4 * MiB - 1536 * 1024))

	# the human report says how and names the path
	random_loop M 1M "$SCRATCH/orig2"
	run -0 "$KCOPY" --zero --no-write-zeroes "$M"
	assert_output --partial "$M"
	zeroed_only "$M" "$SCRATCH/orig2" 0 1M
}

@test "zero: whole loop device, offload and --no-write-zeroes" {
	local opt method
	for opt in "" --no-write-zeroes; do
		random_loop L 2M "$SCRATCH/orig$opt"
		run -0 --separate-stderr "$KCOPY" --json -q $opt --zero "$L"
		method=offload
		[[ -z $opt ]] || method="write"
		json_expect "d['jobs'][0]['zero_method'] == '$method'" \
			"d['jobs'][0]['dests'][0]['length'] == $((2 * MiB))"
		zeroed_only "$L" "$SCRATCH/orig$opt" 0 2M
	done
}

@test "zero: regular files, offload and --no-write-zeroes, never resized" {
	local opt method
	for opt in "" --no-write-zeroes; do
		method=offload
		[[ -z $opt ]] || method="write"
		# a region inside the file
		random_file "$SCRATCH/f$opt" 3M
		run -0 --separate-stderr "$KCOPY" --json -q $opt --zero "$SCRATCH/f$opt:64K+1M"
		json_expect "d['status'] == 'ok'" \
			"d['jobs'][0]['zero_method'] == '$method'" \
			"d['jobs'][0]['dests'][0]['length'] == $MiB"
		zeroed_only "$SCRATCH/f$opt" "$SCRATCH/f$opt.orig" 64K 1M

		# from an offset to the end
		random_file "$SCRATCH/g$opt" 3M
		run -0 --separate-stderr "$KCOPY" --json -q $opt --zero "$SCRATCH/g$opt:2M"
		json_expect "d['jobs'][0]['zero_method'] == '$method'"
		zeroed_only "$SCRATCH/g$opt" "$SCRATCH/g$opt.orig" 2M 1M
	done
}

@test "zero: a file region to its unaligned end (size 1M+100, :512)" {
	local opt size=$((MiB + 100))
	for opt in "" --no-write-zeroes; do
		make_file "$SCRATCH/t$opt" "$size" random
		cp "$SCRATCH/t$opt" "$SCRATCH/t$opt.orig"
		run -0 --separate-stderr "$KCOPY" --json -q $opt --zero "$SCRATCH/t$opt:512"
		json_expect "d['status'] == 'ok'" \
			"d['jobs'][0]['dests'][0]['length'] == $((size - 512))" \
			"d['bytes'] == $((size - 512))"
		zeroed_only "$SCRATCH/t$opt" "$SCRATCH/t$opt.orig" 512 $((size - 512))
		# the very last bytes, explicitly
		run -0 cmp -n 100 -i "$MiB:0" "$SCRATCH/t$opt" /dev/zero
	done
	# an unaligned LENGTH that does not end at EOF is refused
	random_file "$SCRATCH/u" "$size"
	run -2 "$KCOPY" --zero "$SCRATCH/u:512+100"
	cmp "$SCRATCH/u" "$SCRATCH/u.orig"
}

@test "zero: several destinations of different sizes, each over its own region" {
	local opt method i
	for opt in "" --no-write-zeroes; do
		method=offload
		[[ -z $opt ]] || method="write"
		random_loop A 2M "$SCRATCH/a$opt"
		random_loop B 3M "$SCRATCH/b$opt"
		random_file "$SCRATCH/c$opt" $((MiB + 100))
		random_file "$SCRATCH/d$opt" 2M
		random_loop E 4M "$SCRATCH/e$opt" --sector-size 4096
		run -0 --separate-stderr "$KCOPY" --json -q $opt -b 64K --zero \
			"$A" "$B:1M+512K" "$SCRATCH/c$opt:4K" "$SCRATCH/d$opt:+64K" "$E:3M"
		json_expect "d['status'] == 'ok'" \
			"len(d['jobs']) == 1" \
			"d['jobs'][0]['zero_method'] == '$method'" \
			"d['jobs'][0]['write_err'] == 0" \
			"[x['length'] for x in d['jobs'][0]['dests']] == \
				[$((2 * MiB)), $((512 * 1024)), $((MiB + 100 - 4096)), 65536, $MiB]" \
			"[x['offset'] for x in d['jobs'][0]['dests']] == [0, $MiB, 4096, 0, $((3 * MiB))]"
		zeroed_only "$A" "$SCRATCH/a$opt" 0 2M
		zeroed_only "$B" "$SCRATCH/b$opt" 1M 512K
		zeroed_only "$SCRATCH/c$opt" "$SCRATCH/c$opt.orig" 4K $((MiB + 100 - 4096))
		zeroed_only "$SCRATCH/d$opt" "$SCRATCH/d$opt.orig" 0 64K
		zeroed_only "$E" "$SCRATCH/e$opt" 3M 1M
	done
}

@test "zero: eight destinations are fine, nine are refused" {
	local i args=()
	for i in 1 2 3 4 5 6 7 8; do
		random_file "$SCRATCH/f$i" $((i * 64 * 1024))
		args+=("$SCRATCH/f$i")
	done
	run -0 --separate-stderr "$KCOPY" --json -q --zero "${args[@]}"
	json_expect "len(d['jobs'][0]['dests']) == 8"
	for i in 1 2 3 4 5 6 7 8; do
		zeroed_only "$SCRATCH/f$i" "$SCRATCH/f$i.orig" 0 $((i * 64 * 1024))
	done
	random_file "$SCRATCH/f9" 64K
	random_file "$SCRATCH/f1" 64K
	run -2 "$KCOPY" --zero "${args[@]}" "$SCRATCH/f9"
	cmp "$SCRATCH/f9" "$SCRATCH/f9.orig"
	cmp "$SCRATCH/f1" "$SCRATCH/f1.orig"
}

@test "zero: 4096-byte-sector loop, aligned regions zeroed, unaligned refused" {
	local opt method
	for opt in "" --no-write-zeroes; do
		method=offload
		[[ -z $opt ]] || method="write"
		random_loop L 4M "$SCRATCH/o$opt" --sector-size 4096
		[ "$(blockdev --getss "$L")" -eq 4096 ]
		run -0 --separate-stderr "$KCOPY" --json -q $opt --zero "$L:12K+1036K"
		json_expect "d['jobs'][0]['zero_method'] == '$method'"
		zeroed_only "$L" "$SCRATCH/o$opt" 12K 1036K
	done

	random_loop L 4M "$SCRATCH/u" --sector-size 4096
	# 512-aligned but not 4096-aligned offset, length, or both
	for r in 512+4096 4096+512 4096+6K 1M+1000 3584; do
		run -2 "$KCOPY" --zero "$L:$r"
		assert_output --partial "$L:$r"
		run -2 "$KCOPY" --zero --no-write-zeroes "$L:$r"
	done
	# in a destination list, one unaligned region refuses the whole job
	random_file "$SCRATCH/f" 1M
	run -2 "$KCOPY" --zero "$SCRATCH/f" "$L:512"
	cmp "$SCRATCH/f" "$SCRATCH/f.orig"
	[ "$(sha_of "$L")" = "$(sha_of "$SCRATCH/u")" ]
}

@test "zero: a device with a filesystem signature is refused without --force" {
	command -v mkfs.ext4 >/dev/null || skip "mkfs.ext4 not installed"
	make_loop L 8M
	mkfs.ext4 -q -L kcopyzero "$L"
	blockdev --flushbufs "$L"
	local before
	before=$(sha_of "$L")

	run -2 "$KCOPY" --zero "$L:1M+1M"
	assert_output --partial "ext4"
	[ "$(sha_of "$L")" = "$before" ]
	run -2 "$KCOPY" --zero --no-write-zeroes "$L"
	[ "$(sha_of "$L")" = "$before" ]
	# one signed destination among clean ones: nothing is written anywhere
	random_file "$SCRATCH/f" 1M
	run -2 "$KCOPY" --zero "$SCRATCH/f" "$L"
	cmp "$SCRATCH/f" "$SCRATCH/f.orig"
	[ "$(sha_of "$L")" = "$before" ]

	run -0 "$KCOPY" -q --force --zero "$L"
	assert_zero_range "$L" 0 8M
	run blkid -p "$L"
	assert_failure
}

@test "zero: a device in use is refused even with --force, nothing written" {
	# held open with O_EXCL by another process
	random_loop L 4M "$SCRATCH/orig"
	"${PY:-python3}" -c '
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_EXCL)
print("held", flush=True)
time.sleep(120)
' "$L" >"$SCRATCH/holder.out" 3>&- &
	local holder=$!
	register_cleanup pid "$holder"
	wait_lines "$holder" "$SCRATCH/holder.out" '^held$' || fail "could not hold $L"
	run -2 "$KCOPY" --zero "$L:1M+1M"
	assert_output --partial "$L"
	run -2 "$KCOPY" --force --zero --no-write-zeroes "$L"
	random_file "$SCRATCH/f" 1M
	run -2 "$KCOPY" --force --zero "$SCRATCH/f" "$L:1M"
	cmp "$SCRATCH/f" "$SCRATCH/f.orig"
	[ "$(sha_of "$L")" = "$(sha_of "$SCRATCH/orig")" ]
}

@test "zero: a mounted device is refused even with --force" {
	command -v mkfs.ext4 >/dev/null || skip "mkfs.ext4 not installed"
	make_loop L 8M
	mkfs.ext4 -q "$L"
	mkdir "$SCRATCH/mnt"
	mount "$L" "$SCRATCH/mnt"
	register_cleanup mount "$SCRATCH/mnt"
	echo hello >"$SCRATCH/mnt/file"
	sync
	run -2 "$KCOPY" --force --zero "$L:4M+1M"
	assert_output --partial "$L"
	run -2 "$KCOPY" --force --zero --no-write-zeroes "$L"
	umount "$SCRATCH/mnt"
	run -0 fsck.ext4 -n "$L"
	mount -o ro "$L" "$SCRATCH/mnt"
	[ "$(cat "$SCRATCH/mnt/file")" = hello ]
}

@test "zero: the usual refusals, nothing written" {
	random_file "$SCRATCH/f" 1M
	random_file "$SCRATCH/g" 1M
	mkdir "$SCRATCH/dir"
	run -2 "$KCOPY" --zero
	run -2 "$KCOPY" --zero "$SCRATCH/f" "$SCRATCH/dir"
	assert_output --partial "$SCRATCH/dir"
	run -2 "$KCOPY" --zero "$SCRATCH/f" "$SCRATCH/f"
	run -2 "$KCOPY" --zero "$SCRATCH/f:+512K" "$SCRATCH/f:256K+512K"
	run -2 "$KCOPY" --zero "$SCRATCH/g" "$SCRATCH/f:100"
	run -2 "$KCOPY" --zero "$SCRATCH/g" /dev/null
	# a device region beyond the end of the device
	random_loop L 1M "$SCRATCH/lorig"
	run -2 "$KCOPY" --zero "$SCRATCH/g" "$L:512K+1M"
	run -2 "$KCOPY" --zero "$SCRATCH/g" "$L:2M"
	cmp "$SCRATCH/f" "$SCRATCH/f.orig"
	cmp "$SCRATCH/g" "$SCRATCH/g.orig"
	[ "$(sha_of "$L")" = "$(sha_of "$SCRATCH/lorig")" ]
	# adjacent regions of one file are fine
	run -0 "$KCOPY" -q --zero "$SCRATCH/f:+512K" "$SCRATCH/f:512K+512K"
	assert_zero_range "$SCRATCH/f" 0 1M
}

@test "zero: a missing file is refused, unless a LENGTH says what to create" {
	random_file "$SCRATCH/f" 1M
	run -2 --separate-stderr "$KCOPY" --zero "$SCRATCH/f" "$SCRATCH/typo"
	[ "$stderr" = "kcopy: $SCRATCH/typo: No such file or directory (give a LENGTH to create it)" ]
	run -2 "$KCOPY" --zero "$SCRATCH/typo:4096"
	[ ! -e "$SCRATCH/typo" ]
	cmp "$SCRATCH/f" "$SCRATCH/f.orig"
	# with a LENGTH the file is created and zeroed over it
	run -0 --separate-stderr "$KCOPY" -q --zero "$SCRATCH/new:4096+1M"
	[ "$(stat -c %s "$SCRATCH/new")" -eq $((4096 + 1024 * 1024)) ]
	assert_zero_range "$SCRATCH/new" 0 $((4096 + 1024 * 1024))
}

@test "zero: offload on a regular file is fallocate(ZERO_RANGE), no writes" {
	fill_ff "$SCRATCH/img" 2M
	cp "$SCRATCH/img" "$SCRATCH/orig"
	mount_faultfs F "$SCRATCH/img" --log="$SCRATCH/log"
	run -0 --separate-stderr "$KCOPY" --json -q --zero "$F:256K+1M"
	json_expect "d['jobs'][0]['zero_method'] == 'offload'"
	zeroed_only "$SCRATCH/img" "$SCRATCH/orig" 256K 1M
	run grep -c '^W ' "$SCRATCH/log"
	assert_output 0
	# FALLOC_FL_ZERO_RANGE (16), with or without KEEP_SIZE (1), covering the region
	"${PY:-python3}" - "$SCRATCH/log" $((256 * 1024)) $MiB <<'EOF'
import sys
log, off, ln = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
cov = []
for line in open(log):
    f = line.split()
    if f[0] != "F":
        continue
    o, n, mode = int(f[1]), int(f[2]), int(f[3])
    assert mode & 16, "fallocate mode %d is not ZERO_RANGE: %s" % (mode, line)
    assert off <= o and o + n <= off + ln, "fallocate outside the region: " + line
    cov.append((o, n))
cov.sort()
pos = off
for o, n in cov:
    assert o == pos, "gap or overlap at %d: %s" % (pos, cov)
    pos = o + n
assert pos == off + ln, "region not covered: %s" % cov
EOF
}

@test "zero: --no-write-zeroes writes the region exactly once, nothing outside" {
	fill_ff "$SCRATCH/img" 2M
	cp "$SCRATCH/img" "$SCRATCH/orig"
	mount_faultfs F "$SCRATCH/img" --log="$SCRATCH/log"
	run -0 --separate-stderr "$KCOPY" --json -q -b 64K --no-write-zeroes --zero "$F:128K+1M"
	json_expect "d['jobs'][0]['zero_method'] == 'write'"
	zeroed_only "$SCRATCH/img" "$SCRATCH/orig" 128K 1M
	run grep -c '^F ' "$SCRATCH/log"
	assert_output 0
	check_writes_cover "$SCRATCH/log" $((128 * 1024)) $MiB
}

@test "zero: offload failing with EOPNOTSUPP at run time falls back to writes" {
	# faultfs --no-fallocate: a regular file (so kcopy picks the offload)
	# whose fallocate returns EOPNOTSUPP. 40 MiB: more than one offload piece.
	fill_ff "$SCRATCH/img" 40M
	cp "$SCRATCH/img" "$SCRATCH/orig"
	mount_faultfs F "$SCRATCH/img" --no-fallocate --log="$SCRATCH/log"
	run -0 --separate-stderr "$KCOPY" --json -q --zero "$F:1M+38M"
	[ "$stderr" = "" ]
	json_expect "d['status'] == 'ok'" \
		"d['jobs'][0]['zero_method'] == 'write'" \
		"d['jobs'][0]['write_err'] == 0" \
		"d['jobs'][0]['errors'] == []" \
		"d['bytes'] == $((38 * MiB))"
	zeroed_only "$SCRATCH/img" "$SCRATCH/orig" 1M 38M
	# the offload was tried, then every byte written exactly once
	run grep -c '^F ' "$SCRATCH/log"
	[ "$output" -ge 1 ]
	check_writes_cover "$SCRATCH/log" $MiB $((38 * MiB))
}

@test "zero: run-time fallback with a second destination that does support the offload" {
	fill_ff "$SCRATCH/img" 3M
	cp "$SCRATCH/img" "$SCRATCH/orig"
	mount_faultfs F "$SCRATCH/img" --no-fallocate --log="$SCRATCH/log"
	random_file "$SCRATCH/plain" 2M
	random_loop L 4M "$SCRATCH/lorig"
	for order in 1 2; do
		if [[ $order == 1 ]]; then
			run -0 --separate-stderr "$KCOPY" --json -q -j 4 -b 128K --zero \
				"$SCRATCH/plain:+1M" "$F:512K+2M" "$L:1M"
		else
			cp "$SCRATCH/orig" "$SCRATCH/img"
			random_file "$SCRATCH/plain" 2M
			random_loop L 4M "$SCRATCH/lorig"
			: >"$SCRATCH/log"
			run -0 --separate-stderr "$KCOPY" --json -q -j 4 -b 128K --zero \
				"$F:512K+2M" "$SCRATCH/plain:+1M" "$L:1M"
		fi
		json_expect "d['status'] == 'ok'" \
			"d['jobs'][0]['zero_method'] == 'write'"
		zeroed_only "$SCRATCH/img" "$SCRATCH/orig" 512K 2M
		zeroed_only "$SCRATCH/plain" "$SCRATCH/plain.orig" 0 1M
		zeroed_only "$L" "$SCRATCH/lorig" 1M 3M
		check_writes_cover "$SCRATCH/log" $((512 * 1024)) $((2 * MiB))
	done
}

@test "zero: zero-length zero jobs succeed at once and write nothing" {
	fill_ff "$SCRATCH/img" 1M
	cp "$SCRATCH/img" "$SCRATCH/orig"
	mount_faultfs F "$SCRATCH/img" --log="$SCRATCH/log"
	random_loop L 1M "$SCRATCH/lorig"
	random_file "$SCRATCH/f" $((MiB + 100))
	local r
	for r in "$F:+0" "$F:512K+0" "$F:1M" "$L:+0" "$L:1M" "$SCRATCH/f:+0" "$SCRATCH/f:1M+0"; do
		run -0 --separate-stderr "$KCOPY" --json -q --force --zero "$r"
		[ "$stderr" = "" ]
		json_expect "d['status'] == 'ok'" \
			"d['bytes'] == 0" \
			"d['jobs'][0]['bytes'] == 0" \
			"d['jobs'][0]['write_err'] == 0"
		if [[ $r == "$F"* ]]; then
			run -0 --separate-stderr "$KCOPY" --json -q --force --no-write-zeroes --zero "$r"
			json_expect "d['bytes'] == 0"
		fi
	done
	# several zero-length destinations in one job
	run -0 "$KCOPY" -q --zero "$F:+0" "$L:+0" "$SCRATCH/f:4K+0"
	run grep -E '^[WF] ' "$SCRATCH/log"
	assert_output ""
	cmp "$SCRATCH/img" "$SCRATCH/orig"
	[ "$(sha_of "$L")" = "$(sha_of "$SCRATCH/lorig")" ]
	cmp "$SCRATCH/f" "$SCRATCH/f.orig"
}

@test "copy: zero-length copy jobs succeed at once and write nothing" {
	fill_ff "$SCRATCH/img" 1M
	cp "$SCRATCH/img" "$SCRATCH/orig"
	mount_faultfs F "$SCRATCH/img" --log="$SCRATCH/log"
	random_file "$SCRATCH/src" 1M
	random_file "$SCRATCH/dst" 1M
	random_loop L 1M "$SCRATCH/lorig"
	# --force: random bytes on $L can look like a signature (libblkid found
	# hfsplus once); this test is about writing nothing
	run -0 --separate-stderr "$KCOPY" --json -q --force "$SCRATCH/src:+0" "$F" "$L" "$SCRATCH/dst:4K"
	json_expect "d['status'] == 'ok'" \
		"d['bytes'] == 0" \
		"d['jobs'][0]['op'] == 'copy'"
	run -0 "$KCOPY" -q "$SCRATCH/src:1M" "$F:512K"
	run -0 "$KCOPY" -q "$L:512K+0" "$SCRATCH/dst"
	run grep -E '^[WF] ' "$SCRATCH/log"
	assert_output ""
	cmp "$SCRATCH/img" "$SCRATCH/orig"
	cmp "$SCRATCH/dst" "$SCRATCH/dst.orig"
	[ "$(sha_of "$L")" = "$(sha_of "$SCRATCH/lorig")" ]
}
