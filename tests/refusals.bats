#!/usr/bin/env bats
# The refusals of SPEC §1: each exits 2 with one line on stderr starting
# "kcopy: ", writes nothing and creates no file.  Plus argp's usage errors
# (exit 2, not 64) and --help/--usage/--version (exit 0).

bats_require_minimum_version 1.5.0

load test_helper

MiB=$((1024 * 1024))

setup() {
	require_root
	SRC="$SCRATCH/src"
	DST="$SCRATCH/dst"
	make_file "$SRC" 1M random
	make_file "$DST" 2M random
	DST_SHA=$(sha_of "$DST")
	SRC_SHA=$(sha_of "$SRC")
}

# refused [--mentions TEXT]... [--] ARGS...
# Runs kcopy ARGS (under a timeout, in case it blocks on a fifo) and checks:
# exit 2, exactly one stderr line starting "kcopy: " (containing every TEXT),
# SRC and DST unchanged, no file created or removed in SCRATCH.
refused() {
	local -a must=()
	local before after m
	while [[ $# -gt 0 ]]; do
		case $1 in
		--mentions) must+=("$2"); shift 2 ;;
		--) shift; break ;;
		*) break ;;
		esac
	done
	before=$(ls -A "$SCRATCH")
	run -2 --separate-stderr timeout 20 "$KCOPY" "$@"
	[ "${#stderr_lines[@]}" -eq 1 ] ||
		fail "kcopy $*: expected one line on stderr, got ${#stderr_lines[@]}: $stderr"
	[[ ${stderr_lines[0]} == "kcopy: "* ]] ||
		fail "kcopy $*: stderr does not start with 'kcopy: ': $stderr"
	for m in "${must[@]}"; do
		[[ $stderr == *"$m"* ]] || fail "kcopy $*: message does not mention '$m': $stderr"
	done
	after=$(ls -A "$SCRATCH")
	[ "$before" = "$after" ] ||
		fail "kcopy $*: SCRATCH changed: $(diff <(echo "$before") <(echo "$after"))"
	[ "$(sha_of "$DST")" = "$DST_SHA" ] || fail "kcopy $*: $DST was modified"
	[ "$(sha_of "$SRC")" = "$SRC_SHA" ] || fail "kcopy $*: $SRC was modified"
}

# rand_loop VAR SIZE [losetup args...]: loop over a backing file of random bytes
rand_loop() {
	local _rl_var=$1 _rl_size=$2 _rl_img
	shift 2
	_rl_img=$(mktemp "$SCRATCH/img.XXXXXX")
	make_file "$_rl_img" "$_rl_size" random
	make_loop_on "$_rl_img" "$_rl_var" "$@"
}

# --- options --------------------------------------------------------------------

@test "an unknown option is refused with exit 2 (not argp's 64) and nothing is written" {
	run -2 --separate-stderr "$KCOPY" --bogus "$SRC" "$DST"
	[[ $stderr == *"--bogus"* ]] || fail "message does not name --bogus: $stderr"
	run -2 --separate-stderr "$KCOPY" -x "$SRC" "$SCRATCH/new"
	[[ $stderr == *"x"* ]]
	[ "$(sha_of "$DST")" = "$DST_SHA" ]
	[ ! -e "$SCRATCH/new" ]
}

@test "an unknown option's refusal is one line starting 'kcopy: ' naming the option" {
	refused --mentions "--bogus" -- --bogus "$SRC" "$DST"
	refused --mentions "x" -- -x "$SRC" "$DST"
}

@test "argp usage errors (missing or unexpected option argument) exit 2, not 64" {
	run -2 "$KCOPY" "$SRC" "$DST" --sub-jobs
	run -2 "$KCOPY" "$SRC" "$DST" -j
	run -2 "$KCOPY" --zero=yes "$DST"
	run -2 "$KCOPY" --quiet=1 "$SRC" "$DST"
	[ "$(sha_of "$DST")" = "$DST_SHA" ]
}

@test "--throttle 0, 101 and 1.5 are refused naming the value" {
	refused --mentions "throttle" --mentions "0" -- --throttle 0 "$SRC" "$DST"
	refused --mentions "101" -- --throttle 101 "$SRC" "$DST"
	refused --mentions "1.5" -- --throttle 1.5 "$SRC" "$DST"
	refused --mentions "1.5" -- -t1.5 "$SRC" "$DST"
	refused --mentions "abc" -- --throttle=abc "$SRC" "$DST"
}

@test "--sub-jobs=0 is refused" {
	refused --mentions "sub-jobs" -- --sub-jobs=0 "$SRC" "$DST"
	refused --mentions "sub-jobs" -- -j 0 "$SRC" "$DST"
}

@test "--sub-job-size=0 and a size that is not a multiple of 4 KiB (6K) are refused" {
	refused --mentions "sub-job-size" -- --sub-job-size=0 "$SRC" "$DST"
	refused --mentions "6K" -- --sub-job-size=6K "$SRC" "$DST"
	refused --mentions "6K" -- -b 6K "$SRC" "$DST"
	refused --mentions "1000" -- -b 1000 "$SRC" "$DST"
}

@test "-m junk and --rate=junk are refused naming the value" {
	refused --mentions "junk" -- -m junk "$SRC" "$DST"
	refused --mentions "junk" -- --memory=junk "$SRC" "$DST"
	refused --mentions "junk" -- --rate=junk "$SRC" "$DST"
}

# --- arguments ------------------------------------------------------------------

@test "zero destinations are refused (copy and --zero)" {
	refused -- "$SRC"
	refused -- --zero
}

@test "a missing source (no arguments at all) is refused" {
	refused --
	refused -- -q
}

@test "a nonexistent source is refused naming it, and the destination file is not created" {
	refused --mentions "$SCRATCH/nosuch" -- "$SCRATCH/nosuch" "$SCRATCH/new"
	refused --mentions "$SCRATCH/nosuch" -- "$SCRATCH/nosuch" "$DST"
}

@test "a directory is refused as source and as destination" {
	mkdir "$SCRATCH/dir"
	refused --mentions "$SCRATCH/dir" -- "$SCRATCH/dir" "$DST"
	refused --mentions "$SCRATCH/dir" -- "$SRC" "$SCRATCH/dir"
	refused --mentions "$SCRATCH/dir" -- "$SRC" "$DST:1M" "$SCRATCH/dir"
	[ -z "$(ls -A "$SCRATCH/dir")" ]
}

@test "a character device (/dev/null) is refused as source and as destination" {
	refused --mentions "/dev/null" -- /dev/null "$DST"
	refused --mentions "/dev/null" -- "$SRC" /dev/null
	refused --mentions "/dev/zero" -- "$SRC" "$DST" /dev/zero
}

@test "a fifo is refused as a destination, without blocking (as a source it is a stream: flash.bats)" {
	mkfifo "$SCRATCH/fifo"
	refused --mentions "$SCRATCH/fifo" -- "$SRC" "$SCRATCH/fifo"
}

@test "an unaligned OFFSET or LENGTH is refused (source, file destination, loop destination)" {
	rand_loop L 2M
	sha=$(sha_of "$L")
	refused --mentions "not aligned" -- "$SRC:100" "$DST"
	refused --mentions "$SRC" -- "$SRC:+1000" "$DST"
	refused --mentions "not aligned" -- "$SRC" "$DST:100"
	refused --mentions "$DST" -- "$SRC:+4K" "$DST:0+4100"
	refused --mentions "not aligned" -- "$SRC" "$L:1000"
	refused --mentions "$L" -- "$SRC:+4K" "$L:0+5000"
	refused --mentions "$L" -- "$L:0+1000" "$DST"
	[ "$(sha_of "$L")" = "$sha" ]
}

@test "a source region beyond the end is refused" {
	rand_loop L 1M
	refused --mentions "$SRC" -- "$SRC:2M" "$DST"
	refused --mentions "$SRC" -- "$SRC:512K+1M" "$DST"
	refused --mentions "$L" -- "$L:1M+4K" "$DST"
}

@test "a destination loop device smaller than the source is refused, the device unchanged" {
	rand_loop L 512K
	sha=$(sha_of "$L")
	refused --mentions "$L" -- "$SRC" "$L"
	[ "$(sha_of "$L")" = "$sha" ]
	rand_loop M 2M
	shm=$(sha_of "$M")
	# room from the offset to the end is 512K, the copy is 1M
	refused --mentions "$M" -- "$SRC" "$SCRATCH/new" "$M:1536K"
	[ "$(sha_of "$M")" = "$shm" ]
}

@test "a destination with an explicit LENGTH smaller than the copy is refused" {
	rand_loop L 2M
	sha=$(sha_of "$L")
	refused --mentions "$DST" -- "$SRC" "$DST:0+512K"
	refused --mentions "$L" -- "$SRC" "$L:0+512K"
	refused --mentions "$SCRATCH/new" -- "$SRC" "$SCRATCH/new:+4K"
	[ "$(sha_of "$L")" = "$sha" ]
}

# --- overlaps and duplicates -------------------------------------------------------

@test "a destination overlapping the source in the same file is refused" {
	refused --mentions "$SRC" -- "$SRC" "$SRC"
	refused --mentions "$SRC" -- "$SRC:0+512K" "$SRC:256K"
	refused --mentions "$SRC" -- "$SRC:256K" "$SRC:0"
	refused --mentions "$SRC" -- "$SRC" "$SRC:512K"
	# the same file through a hard link (same st_dev + st_ino)
	ln "$SRC" "$SCRATCH/hard"
	refused -- "$SRC:0+512K" "$SCRATCH/hard:256K"
}

@test "non-overlapping regions of the same file are accepted and copied" {
	cp "$SRC" "$SCRATCH/orig"
	run -0 "$KCOPY" -q "$SRC:0+512K" "$SRC:512K"
	assert_same_range "$SRC" 512K "$SCRATCH/orig" 0 512K
	assert_same_range "$SRC" 0 "$SCRATCH/orig" 0 512K
}

@test "a file of unaligned size copied to a non-overlapping region past its own end is accepted and copied" {
	make_file "$SCRATCH/odd" 10000 random
	cp "$SCRATCH/odd" "$SCRATCH/odd.orig"
	run -0 "$KCOPY" -q "$SCRATCH/odd" "$SCRATCH/odd:16K"
	[ "$(stat -c %s "$SCRATCH/odd")" -eq $((16384 + 10000)) ]
	assert_same_range "$SCRATCH/odd" 0 "$SCRATCH/odd.orig" 0 10000
	assert_same_range "$SCRATCH/odd" 16K "$SCRATCH/odd.orig" 0 10000
	assert_zero_range "$SCRATCH/odd" 10000 $((16384 - 10000))
}

@test "a destination overlapping the source on the same loop device is refused, also via a symlink" {
	rand_loop L 4M
	sha=$(sha_of "$L")
	ln -s "$L" "$SCRATCH/link"
	refused --mentions "$L" -- "$L" "$L"
	refused -- "$L:0+2M" "$L:1M"
	refused -- "$L:1M+1M" "$SCRATCH/link:1536K"
	refused -- "$SCRATCH/link:0+2M" "$L"
	[ "$(sha_of "$L")" = "$sha" ]
}

@test "two destinations that overlap each other are refused (file, hard link, loop)" {
	rand_loop L 4M
	sha=$(sha_of "$L")
	refused --mentions "$DST" -- "$SRC" "$DST" "$DST:512K"
	ln "$DST" "$SCRATCH/hard"
	refused -- "$SRC" "$DST:1M" "$SCRATCH/hard:1536K"
	refused --mentions "$L" -- "$SRC" "$L:1M" "$L:1536K"
	refused -- "$SRC" "$SCRATCH/new" "$L" "$DST" "$L:512K"
	[ "$(sha_of "$L")" = "$sha" ]
}

@test "adjacent destination regions on one device do not overlap and are accepted" {
	rand_loop L 4M
	run -0 "$KCOPY" -q "$SRC" "$L" "$L:1M" "$DST" "$DST:1M"
	for off in 0 1M; do
		assert_same_range "$L" "$off" "$SRC" 0 1M
		assert_same_range "$DST" "$off" "$SRC" 0 1M
	done
}

@test "the same destination given twice is refused (file, new file, loop)" {
	rand_loop L 2M
	sha=$(sha_of "$L")
	refused --mentions "$DST" -- "$SRC" "$DST" "$DST"
	refused -- "$SRC" "$SCRATCH/new" "$SCRATCH/new"
	refused --mentions "$L" -- "$SRC" "$L" "$L"
	# the same file under another spelling of its path
	refused -- "$SRC" "$DST" "$SCRATCH/./dst"
	[ "$(sha_of "$L")" = "$sha" ]
}

@test "the same loop device via two paths (/dev/loopN and a symlink to it) counts as the same destination" {
	rand_loop L 2M
	sha=$(sha_of "$L")
	ln -s "$L" "$SCRATCH/link"
	refused -- "$SRC" "$L" "$SCRATCH/link"
	refused -- "$SRC" "$SCRATCH/link" "$DST" "$L"
	[ "$(sha_of "$L")" = "$sha" ]
}

@test "a destination file that cannot be created (missing directory) is refused; earlier destinations are not created" {
	make_file "$SCRATCH/short" 512K random
	sha=$(sha_of "$SCRATCH/short")
	refused --mentions "$SCRATCH/missing/f" -- "$SRC" "$SCRATCH/new" "$SCRATCH/short" "$SCRATCH/missing/f"
	[ "$(stat -c %s "$SCRATCH/short")" -eq 524288 ]
	[ "$(sha_of "$SCRATCH/short")" = "$sha" ]
}

@test "a dangling symlink into a missing directory as destination is refused with exit 2; other destinations are neither created nor extended" {
	make_file "$SCRATCH/short" 512K random
	sha=$(sha_of "$SCRATCH/short")
	ln -s "$SCRATCH/missing/x" "$SCRATCH/dangling"
	refused --mentions "$SCRATCH/dangling" -- "$SRC" "$SCRATCH/new" "$SCRATCH/short" "$SCRATCH/dangling"
	[ "$(stat -c %s "$SCRATCH/short")" -eq 524288 ] ||
		fail "short was extended to $(stat -c %s "$SCRATCH/short") bytes"
	[ "$(sha_of "$SCRATCH/short")" = "$sha" ]
}

@test "a file destination offset past the largest possible file size is refused with exit 2; nothing created or extended" {
	make_file "$SCRATCH/short" 512K random
	sha=$(sha_of "$SCRATCH/short")
	# 2^63 - 512: offset + length does not fit in off_t on any file system
	refused --mentions "$SCRATCH/huge" -- "$SRC" "$SCRATCH/short" "$SCRATCH/new" \
		"$SCRATCH/huge:9223372036854775296"
	[ "$(stat -c %s "$SCRATCH/short")" -eq 524288 ] ||
		fail "short was extended to $(stat -c %s "$SCRATCH/short") bytes"
	[ "$(sha_of "$SCRATCH/short")" = "$sha" ]
}

# --- devices in use, signatures ------------------------------------------------------

@test "a mounted loop device is refused as 'in use', and --force does not override it" {
	rand_loop L 8M
	mkfs.ext4 -q -F -L testlabel -E lazy_itable_init=0,lazy_journal_init=0 "$L"
	mkdir "$SCRATCH/mnt"
	mount "$L" "$SCRATCH/mnt"
	register_cleanup mount "$SCRATCH/mnt"
	echo hello >"$SCRATCH/mnt/file"
	sync
	refused --mentions "in use" --mentions "$L" -- "$SRC" "$L"
	refused --mentions "in use" -- --force "$SRC" "$L"
	refused --mentions "in use" -- -f "$SRC" "$DST:1M" "$L:1M"
	refused --mentions "in use" -- --zero --force "$L"
	umount "$SCRATCH/mnt"
	# nothing of the source landed on the device, and the file system is intact
	run cmp -s -n "$MiB" "$SRC" "$L"
	assert_failure
	run -0 e2fsck -fn "$L"
	mount -o ro "$L" "$SCRATCH/mnt"
	[ "$(cat "$SCRATCH/mnt/file")" = hello ]
}

@test "a loop device held open exclusively by another program is refused as 'in use'" {
	rand_loop L 2M
	sha=$(sha_of "$L")
	python3 -c '
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_EXCL)
open(sys.argv[2], "w").write("held\n")
time.sleep(60)
' "$L" "$SCRATCH/held" 3>&- &
	local holder=$!
	register_cleanup pid "$holder"
	wait_lines "$holder" "$SCRATCH/held" '^held$' || fail "holder did not start"
	refused --mentions "in use" -- "$SRC" "$L"
	refused --mentions "in use" -- --force "$SRC" "$L"
	[ "$(sha_of "$L")" = "$sha" ]
}

@test "an ext4-signed loop device is refused naming ext4 and its label, then accepted with --force" {
	rand_loop L 8M
	mkfs.ext4 -q -F -L testlabel "$L"
	sha=$(sha_of "$L")
	refused --mentions "ext4" --mentions "testlabel" --mentions "$L" -- "$SRC" "$L"
	refused --mentions "ext4" -- "$SRC" "$SCRATCH/new" "$DST:1M" "$L:4M"
	[ "$(sha_of "$L")" = "$sha" ]
	run -0 "$KCOPY" -q --force "$SRC" "$L"
	assert_same_range "$L" 0 "$SRC" 0 1M
	run -0 "$KCOPY" -q -f "$SRC" "$L:2M"
	assert_same_range "$L" 2M "$SRC" 0 1M
}

@test "--zero also refuses a signed loop device without --force, and zeroes it with --force" {
	rand_loop L 8M
	mkfs.ext4 -q -F -L testlabel "$L"
	sha=$(sha_of "$L")
	refused --mentions "ext4" --mentions "testlabel" -- --zero "$L"
	refused --mentions "ext4" -- --zero "$DST" "$L:4M"
	[ "$(sha_of "$L")" = "$sha" ]
	run -0 "$KCOPY" -q --zero --force "$L"
	assert_zero_range "$L" 0 8M
}

@test "a partition table (dos) and a swap signature are refused naming what was found" {
	rand_loop P 4M
	python3 -c '
import struct, sys
mbr = bytearray(512)
mbr[446:462] = struct.pack("<B3sB3sII", 0, b"\0\0\0", 0x83, b"\0\0\0", 2048, 4096)
mbr[510:512] = b"\x55\xaa"
with open(sys.argv[1], "r+b") as f:
    f.write(mbr)
' "$P"
	blockdev --flushbufs "$P"
	sha=$(sha_of "$P")
	refused --mentions "dos" -- "$SRC" "$P"
	[ "$(sha_of "$P")" = "$sha" ]
	rand_loop S 4M
	mkswap -q -L swaplbl "$S" 2>/dev/null || mkswap -L swaplbl "$S" >/dev/null
	sha=$(sha_of "$S")
	refused --mentions "swap" --mentions "swaplbl" -- "$SRC" "$S"
	[ "$(sha_of "$S")" = "$sha" ]
}

# --- job files -------------------------------------------------------------------------

@test "a job file with a syntax error is refused with FILE:LINE and no job runs" {
	printf '# jobs\ncopy %s %s\ncopy "%s %s\n' "$SRC" "$SCRATCH/new" "$SRC" "$DST" \
		>"$SCRATCH/jobs"
	refused --mentions "$SCRATCH/jobs:3" -- --job-file="$SCRATCH/jobs"
	printf 'copy %s %s\n\nfrobnicate %s %s\n' "$SRC" "$SCRATCH/new" "$SRC" "$DST" \
		>"$SCRATCH/jobs2"
	refused --mentions "$SCRATCH/jobs2:3" -- --job-file="$SCRATCH/jobs2"
}

# --- help and version -----------------------------------------------------------------

@test "--help, --usage and --version exit 0 and print on stdout only" {
	run -0 --separate-stderr "$KCOPY" --help
	[[ $output == *"Usage:"* ]]
	[[ $output == *"--zero"* ]]
	[ -z "$stderr" ]
	run -0 --separate-stderr "$KCOPY" -?
	[[ $output == *"Usage:"* ]]
	run -0 --separate-stderr "$KCOPY" --usage
	[[ $output == *"Usage:"* ]]
	[ -z "$stderr" ]
	run -0 --separate-stderr "$KCOPY" --version
	[[ $output == "kcopy "* ]]
	[ -z "$stderr" ]
	run -0 "$KCOPY" -V
	[[ $output == "kcopy "* ]]
}
