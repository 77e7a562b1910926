#!/usr/bin/env bats
# Copying: 1->1 between files and loop devices, 1->8, the destination-count
# limit, how file destinations are created / extended / never truncated,
# unaligned source sizes, zero-length jobs, and the engine and output options
# that must not change what is copied.  (SPEC §1, §2, §5)

bats_require_minimum_version 1.5.0

load test_helper

MiB=$((1024 * 1024))

setup() {
	require_root
	SRC="$SCRATCH/src"
}

# rand_loop VAR SIZE [losetup args...]: a loop device over a backing file of
# random bytes; the backing file's name is left in ${VAR}_IMG and a copy of its
# original content in ${VAR}_ORIG.
rand_loop() {
	local _rl_var=$1 _rl_size=$2 _rl_img
	shift 2
	_rl_img=$(mktemp "$SCRATCH/img.XXXXXX")
	make_file "$_rl_img" "$_rl_size" random
	cp "$_rl_img" "$_rl_img.orig"
	make_loop_on "$_rl_img" "$_rl_var" "$@"
	printf -v "${_rl_var}_IMG" '%s' "$_rl_img"
	printf -v "${_rl_var}_ORIG" '%s' "$_rl_img.orig"
}

# After `run --separate-stderr`: exactly one stderr line, "kcopy: ...".
assert_one_line_refusal() {
	[ "${#stderr_lines[@]}" -eq 1 ] ||
		fail "expected one line on stderr, got ${#stderr_lines[@]}: $stderr"
	[[ ${stderr_lines[0]} == "kcopy: "* ]] ||
		fail "stderr does not start with 'kcopy: ': $stderr"
}

size_of() { stat -c %s "$1"; }

# restore_loop DEV ORIG: put ORIG's bytes back on DEV (with dd, not kcopy)
restore_loop() {
	dd if="$2" of="$1" bs=1M oflag=direct conv=fsync status=none ||
		fail "restore_loop $1 failed"
}

# --- 1 -> 1 -----------------------------------------------------------------

@test "copies a regular file to a new regular file byte for byte" {
	make_file "$SRC" 3M random
	run -0 "$KCOPY" "$SRC" "$SCRATCH/dst"
	cmp "$SRC" "$SCRATCH/dst"
}

@test "copies a regular file to a loop device and leaves the bytes after the copy alone" {
	make_file "$SRC" 3M random
	rand_loop L 4M
	run -0 "$KCOPY" "$SRC" "$L"
	assert_same_range "$L" 0 "$SRC" 0 3M
	assert_same_range "$L" 3M "$L_ORIG" 3M 1M
}

@test "copies a loop device to another loop device byte for byte" {
	rand_loop A 4M
	make_loop B 4M
	run -0 "$KCOPY" "$A" "$B"
	assert_same_range "$B" 0 "$A_ORIG" 0 4M
	assert_same_range "$A" 0 "$A_ORIG" 0 4M
}

@test "copies a loop device to a new regular file of the device's size" {
	rand_loop L 4M
	run -0 "$KCOPY" "$L" "$SCRATCH/dst"
	[ "$(size_of "$SCRATCH/dst")" -eq $((4 * MiB)) ]
	cmp "$L_ORIG" "$SCRATCH/dst"
}

# --- 1 -> 8, and the limit ----------------------------------------------------

@test "copies one source to 8 destinations, files and loop devices mixed, in one run" {
	make_file "$SRC" 2M random
	make_file "$SCRATCH/short" 512K random
	make_file "$SCRATCH/long" 3M random
	cp "$SCRATCH/long" "$SCRATCH/long.orig"
	rand_loop L1 3M
	rand_loop L2 2M
	rand_loop L3 4M
	make_loop L4 2M
	run -0 "$KCOPY" "$SRC" "$SCRATCH/new1" "$L1" "$SCRATCH/short" "$L2" \
		"$SCRATCH/long" "$L3" "$SCRATCH/new2" "$L4"
	cmp "$SRC" "$SCRATCH/new1"
	cmp "$SRC" "$SCRATCH/new2"
	cmp "$SRC" "$SCRATCH/short"
	[ "$(size_of "$SCRATCH/long")" -eq $((3 * MiB)) ]
	assert_same_range "$SCRATCH/long" 0 "$SRC" 0 2M
	assert_same_range "$SCRATCH/long" 2M "$SCRATCH/long.orig" 2M 1M
	for l in "$L1" "$L2" "$L3" "$L4"; do
		assert_same_range "$l" 0 "$SRC" 0 2M
	done
	assert_same_range "$L1" 2M "$L1_ORIG" 2M 1M
	assert_same_range "$L3" 2M "$L3_ORIG" 2M 2M
}

@test "9 destinations are refused with exit 2 and nothing is written or created" {
	make_file "$SRC" 1M random
	make_file "$SCRATCH/old" 2M random
	old_sha=$(sha_of "$SCRATCH/old")
	rand_loop L1 2M
	rand_loop L2 2M
	rand_loop L3 2M
	sha1=$(sha_of "$L1") sha2=$(sha_of "$L2") sha3=$(sha_of "$L3")
	run -2 --separate-stderr "$KCOPY" "$SRC" "$SCRATCH/n1" "$L1" "$SCRATCH/n2" "$L2" \
		"$SCRATCH/old" "$L3" "$SCRATCH/n3" "$SCRATCH/n4" "$SCRATCH/n5"
	assert_one_line_refusal
	for n in n1 n2 n3 n4 n5; do
		[ ! -e "$SCRATCH/$n" ] || fail "$n was created"
	done
	[ "$(sha_of "$SCRATCH/old")" = "$old_sha" ]
	[ "$(sha_of "$L1")" = "$sha1" ]
	[ "$(sha_of "$L2")" = "$sha2" ]
	[ "$(sha_of "$L3")" = "$sha3" ]
}

@test "9 destinations are refused with --zero too, and none is zeroed" {
	local -a dests=()
	for k in 1 2 3 4 5 6 7 8 9; do
		make_file "$SCRATCH/z$k" 64K random
		dests+=("$SCRATCH/z$k")
	done
	before=$(cat "${dests[@]}" | sha256sum)
	run -2 --separate-stderr "$KCOPY" --zero "${dests[@]}"
	assert_one_line_refusal
	[ "$(cat "${dests[@]}" | sha256sum)" = "$before" ]
	# 8 are fine
	run -0 "$KCOPY" -q --zero "${dests[@]:0:8}"
	for k in 1 2 3 4 5 6 7 8; do assert_zero_range "$SCRATCH/z$k" 0 64K; done
	[ "$(sha_of "$SCRATCH/z9")" != "$(sha_of "$SCRATCH/z1")" ]
}

# --- file destinations: created, extended, never truncated -------------------

@test "a missing destination file is created with mode 0666 & ~umask (644 under umask 022)" {
	make_file "$SRC" 64K random
	run -0 bash -c 'umask 022 && exec "$@"' sh "$KCOPY" "$SRC" "$SCRATCH/d022"
	[ "$(stat -c %a "$SCRATCH/d022")" = 644 ]
	run -0 bash -c 'umask 077 && exec "$@"' sh "$KCOPY" "$SRC" "$SCRATCH/d077"
	[ "$(stat -c %a "$SCRATCH/d077")" = 600 ]
	run -0 bash -c 'umask 000 && exec "$@"' sh "$KCOPY" "$SRC" "$SCRATCH/d000"
	[ "$(stat -c %a "$SCRATCH/d000")" = 666 ]
	[ "$(stat -c %F "$SCRATCH/d022")" = "regular file" ]
	cmp "$SRC" "$SCRATCH/d022"
}

@test "a destination file shorter than the copy is extended to the copy's length" {
	make_file "$SRC" 3M random
	make_file "$SCRATCH/dst" 1M random
	run -0 "$KCOPY" "$SRC" "$SCRATCH/dst"
	[ "$(size_of "$SCRATCH/dst")" -eq $((3 * MiB)) ]
	cmp "$SRC" "$SCRATCH/dst"
}

@test "a destination file longer than the copy is never truncated and keeps its bytes beyond the copy" {
	make_file "$SRC" 2M random
	make_file "$SCRATCH/dst" 5M random
	cp "$SCRATCH/dst" "$SCRATCH/orig"
	run -0 "$KCOPY" "$SRC" "$SCRATCH/dst"
	[ "$(size_of "$SCRATCH/dst")" -eq $((5 * MiB)) ]
	assert_same_range "$SCRATCH/dst" 0 "$SRC" 0 2M
	assert_same_range "$SCRATCH/dst" 2M "$SCRATCH/orig" 2M 3M
}

@test "an existing destination file keeps its mode" {
	make_file "$SRC" 64K random
	make_file "$SCRATCH/dst" 64K random
	chmod 0640 "$SCRATCH/dst"
	run -0 "$KCOPY" "$SRC" "$SCRATCH/dst"
	[ "$(stat -c %a "$SCRATCH/dst")" = 640 ]
	cmp "$SRC" "$SCRATCH/dst"
}

# --- unaligned source sizes ---------------------------------------------------

@test "a source file of unaligned size (1000, 4097, 1M+333 bytes) is copied exactly to a new file" {
	for n in 1000 4097 $((MiB + 333)); do
		make_file "$SCRATCH/u$n" "$n" random
		run -0 "$KCOPY" "$SCRATCH/u$n" "$SCRATCH/d$n"
		[ "$(size_of "$SCRATCH/d$n")" -eq "$n" ] || fail "d$n has size $(size_of "$SCRATCH/d$n")"
		cmp "$SCRATCH/u$n" "$SCRATCH/d$n"
	done
}

@test "a source file of unaligned size overwrites an existing longer file only up to its size" {
	for n in 1000 4097 $((MiB + 333)); do
		make_file "$SCRATCH/u$n" "$n" random
		make_file "$SCRATCH/d$n" 2M random
		cp "$SCRATCH/d$n" "$SCRATCH/o$n"
		run -0 "$KCOPY" "$SCRATCH/u$n" "$SCRATCH/d$n"
		[ "$(size_of "$SCRATCH/d$n")" -eq $((2 * MiB)) ]
		assert_same_range "$SCRATCH/d$n" 0 "$SCRATCH/u$n" 0 "$n"
		assert_same_range "$SCRATCH/d$n" "$n" "$SCRATCH/o$n" "$n" $((2 * MiB - n))
	done
}

@test "a source file of unaligned size is copied to a loop device: tail exact, bytes after it untouched" {
	rand_loop L 2M
	for n in 1000 4097 $((MiB + 333)); do
		make_file "$SCRATCH/u$n" "$n" random
		run -0 "$KCOPY" "$SCRATCH/u$n" "$L"
		assert_same_range "$L" 0 "$SCRATCH/u$n" 0 "$n"
		assert_same_range "$L" "$n" "$L_ORIG" "$n" $((2 * MiB - n))
		restore_loop "$L" "$L_ORIG" # for the next size
	done
}

@test "a source file of unaligned size is copied to a loop device region at an offset" {
	rand_loop L 4M
	make_file "$SCRATCH/u" 4097 random
	run -0 "$KCOPY" "$SCRATCH/u" "$L:1M"
	assert_same_range "$L" 0 "$L_ORIG" 0 1M
	assert_same_range "$L" 1M "$SCRATCH/u" 0 4097
	assert_same_range "$L" $((MiB + 4097)) "$L_ORIG" $((MiB + 4097)) $((3 * MiB - 4097))
}

# --- zero-length jobs ---------------------------------------------------------

@test "an empty source file is a zero-length job: exit 0, destinations unchanged" {
	: >"$SCRATCH/empty"
	make_file "$SCRATCH/dst" 1M random
	dsha=$(sha_of "$SCRATCH/dst")
	rand_loop L 1M
	lsha=$(sha_of "$L")
	run -0 "$KCOPY" "$SCRATCH/empty" "$SCRATCH/dst" "$L"
	[ "$(sha_of "$SCRATCH/dst")" = "$dsha" ]
	[ "$(size_of "$SCRATCH/dst")" -eq "$MiB" ]
	[ "$(sha_of "$L")" = "$lsha" ]
}

@test "a zero-length source region (src:+0, src:1M+0) exits 0 and writes nothing" {
	make_file "$SRC" 2M random
	make_file "$SCRATCH/dst" 1M random
	dsha=$(sha_of "$SCRATCH/dst")
	rand_loop L 1M
	lsha=$(sha_of "$L")
	run -0 "$KCOPY" "$SRC:+0" "$SCRATCH/dst" "$L"
	run -0 "$KCOPY" "$SRC:1M+0" "$SCRATCH/dst:512K" "$L:512K"
	[ "$(sha_of "$SCRATCH/dst")" = "$dsha" ]
	[ "$(size_of "$SCRATCH/dst")" -eq "$MiB" ]
	[ "$(sha_of "$L")" = "$lsha" ]
}

# --- options that must not change what is copied -----------------------------

@test "--buffered copies file->file, file->loop and loop->file correctly" {
	make_file "$SRC" $((3 * MiB + 333)) random
	run -0 "$KCOPY" --buffered "$SRC" "$SCRATCH/d1"
	cmp "$SRC" "$SCRATCH/d1"
	rand_loop L 4M
	run -0 "$KCOPY" --buffered "$SRC" "$L"
	assert_same_range "$L" 0 "$SRC" 0 $((3 * MiB + 333))
	assert_same_range "$L" $((3 * MiB + 333)) "$L_ORIG" $((3 * MiB + 333)) $((MiB - 333))
	run -0 "$KCOPY" --buffered "$L" "$SCRATCH/d2"
	[ "$(size_of "$SCRATCH/d2")" -eq $((4 * MiB)) ]
	assert_same_range "$SCRATCH/d2" 0 "$L" 0 4M
}

@test "-b/-j/-m variations all give identical copies" {
	make_file "$SRC" $((3 * MiB + 12288)) random
	rand_loop L 4M
	local -a sets=(
		"-b 4K -j 1 -m 4K"
		"-b 1M -j 32"
		"-b 64K -j 3 -m 128K"
		"--sub-job-size=128K --sub-jobs=5 --memory=1M"
		"-b 8K -j 64 -m 64K"
		"-j 1"
		"-b 2M"
	)
	local s setno=0
	for s in "${sets[@]}"; do
		setno=$((setno + 1))
		# shellcheck disable=SC2086 # word splitting of the option set is wanted
		run -0 "$KCOPY" -q $s "$SRC" "$SCRATCH/d$setno" "$L"
		cmp "$SRC" "$SCRATCH/d$setno" || fail "file copy differs with: $s"
		assert_same_range "$L" 0 "$SRC" 0 $((3 * MiB + 12288))
		assert_same_range "$L" $((3 * MiB + 12288)) "$L_ORIG" $((3 * MiB + 12288)) $((MiB - 12288))
		restore_loop "$L" "$L_ORIG" # so that each run must write it all
	done
}

@test "copies with 4096-byte-sector loop devices as source and destination" {
	rand_loop A 4M --sector-size 4096
	make_loop B 4M --sector-size 4096
	[ "$(blockdev --getss "$A")" -eq 4096 ]
	[ "$(blockdev --getss "$B")" -eq 4096 ]
	run -0 "$KCOPY" "$A" "$B"
	assert_same_range "$B" 0 "$A_ORIG" 0 4M
	# 4K-sector device -> file, file -> 4K-sector device at an aligned offset
	run -0 "$KCOPY" "$A:1M+1M" "$SCRATCH/f"
	[ "$(size_of "$SCRATCH/f")" -eq "$MiB" ]
	assert_same_range "$SCRATCH/f" 0 "$A_ORIG" 1M 1M
	make_file "$SRC" 64K random
	run -0 "$KCOPY" "$SRC" "$B:8K"
	assert_same_range "$B" 0 "$A_ORIG" 0 8K
	assert_same_range "$B" 8K "$SRC" 0 64K
	assert_same_range "$B" $((8192 + 65536)) "$A_ORIG" $((8192 + 65536)) $((4 * MiB - 8192 - 65536))
	# 4K-sector device -> 512-byte-sector device
	make_loop C 4M
	run -0 "$KCOPY" "$A" "$C"
	assert_same_range "$C" 0 "$A_ORIG" 0 4M
}

@test "a 4097-byte file is copied to a 4096-sector loop device without touching the rest of its last block" {
	rand_loop L 1M --sector-size 4096
	make_file "$SCRATCH/u" 4097 random
	run -0 "$KCOPY" "$SCRATCH/u" "$L"
	assert_same_range "$L" 0 "$SCRATCH/u" 0 4097
	assert_same_range "$L" 4097 "$L_ORIG" 4097 $((MiB - 4097))
}

@test "--no-flush still copies" {
	make_file "$SRC" 2M random
	rand_loop L 2M
	run -0 "$KCOPY" --no-flush "$SRC" "$SCRATCH/dst" "$L"
	cmp "$SRC" "$SCRATCH/dst"
	assert_same_range "$L" 0 "$SRC" 0 2M
}

@test "--quiet leaves stdout and stderr empty on success" {
	make_file "$SRC" 1M random
	make_loop L 1M
	run -0 --separate-stderr "$KCOPY" --quiet "$SRC" "$SCRATCH/dst" "$L"
	[ -z "$stderr" ] || fail "stderr not empty: $stderr"
	[ -z "$output" ] || fail "stdout not empty: $output"
	run -0 --separate-stderr "$KCOPY" -q "$SRC" "$SCRATCH/dst2"
	[ -z "$stderr" ] || fail "stderr not empty: $stderr"
	cmp "$SRC" "$SCRATCH/dst"
	cmp "$SRC" "$SCRATCH/dst2"
	assert_same_range "$L" 0 "$SRC" 0 1M
}

@test "the human report goes to stderr and names the source and destination paths" {
	make_file "$SRC" 1M random
	make_loop L 2M
	run -0 --separate-stderr "$KCOPY" "$SRC" "$SCRATCH/dst" "$L"
	[ -z "$output" ] || fail "stdout not empty: $output"
	[[ $stderr == *"$SRC"* ]] || fail "report does not name $SRC: $stderr"
	[[ $stderr == *"$SCRATCH/dst"* ]] || fail "report does not name $SCRATCH/dst: $stderr"
	[[ $stderr == *"$L"* ]] || fail "report does not name $L: $stderr"
}
