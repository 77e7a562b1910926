#!/usr/bin/env bats
# Region syntax PATH[:OFFSET[+LENGTH]] / PATH:+LENGTH, every unit, paths that
# contain ':', and the alignment / bounds rules.  Every copy is checked byte
# for byte inside the region and untouched outside it.  (SPEC §1 Regions)

bats_require_minimum_version 1.5.0

load test_helper

MiB=$((1024 * 1024))

setup() {
	require_root
	SRC="$SCRATCH/src"
	DST="$SCRATCH/dst"
	make_file "$SRC" 4M random
	make_file "$DST" 4M random
	cp "$DST" "$SCRATCH/dst.orig"
}

size_of() { stat -c %s "$1"; }

# check_region SOFF DOFF LEN: DST[DOFF, DOFF+LEN) == SRC[SOFF, ...) and every
# other byte of DST is as before (DST keeps its 4 MiB size).
check_region() {
	local soff doff len end
	soff=$(bytes_of "$1") && doff=$(bytes_of "$2") && len=$(bytes_of "$3") || return 1
	end=$((doff + len))
	[ "$(size_of "$DST")" -eq $((4 * MiB)) ] || fail "dst size changed: $(size_of "$DST")"
	assert_same_range "$DST" "$doff" "$SRC" "$soff" "$len"
	assert_same_range "$DST" 0 "$SCRATCH/dst.orig" 0 "$doff"
	assert_same_range "$DST" "$end" "$SCRATCH/dst.orig" "$end" $((4 * MiB - end))
}

# copy_region SRC-SUFFIX DST-SUFFIX SOFF DOFF LEN
copy_region() {
	run -0 "$KCOPY" -q "$SRC$1" "$DST$2"
	check_region "$3" "$4" "$5"
}

# rand_loop VAR SIZE [losetup args...]: loop over random bytes; ${VAR}_ORIG
# keeps a copy of the original content.
rand_loop() {
	local _rl_var=$1 _rl_size=$2 _rl_img
	shift 2
	_rl_img=$(mktemp "$SCRATCH/img.XXXXXX")
	make_file "$_rl_img" "$_rl_size" random
	cp "$_rl_img" "$_rl_img.orig"
	make_loop_on "$_rl_img" "$_rl_var" "$@"
	printf -v "${_rl_var}_ORIG" '%s' "$_rl_img.orig"
}

# sparse_with_data FILE SIZE OFFSET DATAFILE: a sparse FILE of SIZE bytes with
# DATAFILE's bytes at OFFSET.
sparse_with_data() {
	rm -f "$1"
	truncate -s "$(bytes_of "$2")" "$1"
	dd if="$4" of="$1" bs=64K oflag=seek_bytes seek="$(bytes_of "$3")" conv=notrunc \
		status=none || fail "sparse_with_data $1"
}

# after `run --separate-stderr`: one stderr line "kcopy: ..." containing $1
assert_refusal_mentions() {
	[ "${#stderr_lines[@]}" -eq 1 ] ||
		fail "expected one line on stderr, got ${#stderr_lines[@]}: $stderr"
	[[ ${stderr_lines[0]} == "kcopy: "* ]] || fail "no 'kcopy: ' prefix: $stderr"
	[[ $stderr == *"$1"* ]] || fail "message does not mention '$1': $stderr"
}

assert_dst_unchanged() {
	cmp "$DST" "$SCRATCH/dst.orig" || fail "dst was modified"
}

# --- plain bytes ----------------------------------------------------------------

@test "SRC:OFFSET copies from OFFSET to the end of the source" {
	run -0 "$KCOPY" -q "$SRC:1048576" "$SCRATCH/new"
	[ "$(size_of "$SCRATCH/new")" -eq $((3 * MiB)) ]
	assert_same_range "$SCRATCH/new" 0 "$SRC" 1M 3M
}

@test "SRC:OFFSET+LENGTH copies exactly LENGTH bytes from OFFSET" {
	copy_region ":1048576+524288" "" 1M 0 512K
}

@test "SRC:+LENGTH copies the first LENGTH bytes" {
	copy_region ":+65536" "" 0 0 64K
}

@test "DST:OFFSET writes the copy at OFFSET of the destination and nowhere else" {
	copy_region ":+524288" ":2097152" 0 2M 512K
}

@test "DST:OFFSET+LENGTH with LENGTH equal to the copy writes exactly there" {
	copy_region ":512+4096" ":8192+4096" 512 8K 4K
}

@test "an offset of 0 and a LENGTH equal to the whole source are accepted" {
	copy_region ":0+4194304" ":0" 0 0 4M
}

# --- units -------------------------------------------------------------------

@test "unit s is 512-byte sectors" {
	copy_region ":8s+16s" ":24s" 4096 12288 8192
}

@test "unit K is 1024 bytes" {
	copy_region ":4K+12K" ":100K" 4096 102400 12288
}

@test "unit KiB is 1024 bytes" {
	copy_region ":4KiB+12KiB" ":100KiB" 4096 102400 12288
}

@test "unit M is 1 MiB" {
	copy_region ":1M+1M" ":2M" 1M 2M 1M
}

@test "unit MiB is 1 MiB" {
	copy_region ":1MiB+1MiB" ":2MiB" 1M 2M 1M
}

@test "unit KB is 1000 bytes (512KB = 512000)" {
	copy_region ":512KB+1024KB" ":1024KB" 512000 1024000 1024000
}

@test "unit MB is 1000000 bytes (offset 512MB in a sparse source)" {
	make_file "$SCRATCH/data" 64K random
	sparse_with_data "$SCRATCH/sparse" 520MB 512000000 "$SCRATCH/data"
	run -0 "$KCOPY" -q "$SCRATCH/sparse:512MB+64K" "$DST:1M"
	assert_same_range "$DST" 1M "$SCRATCH/data" 0 64K
	assert_same_range "$DST" 0 "$SCRATCH/dst.orig" 0 1M
	assert_same_range "$DST" $((MiB + 65536)) "$SCRATCH/dst.orig" $((MiB + 65536)) $((3 * MiB - 65536))
	# and as a destination offset
	run -0 "$KCOPY" -q "$SCRATCH/data" "$SCRATCH/sparse2:512MB"
	[ "$(size_of "$SCRATCH/sparse2")" -eq $((512000000 + 65536)) ]
	assert_same_range "$SCRATCH/sparse2" 512000000 "$SCRATCH/data" 0 64K
	assert_zero_range "$SCRATCH/sparse2" 511934464 65536
}

@test "units G, GiB and GB (offsets in a sparse source)" {
	make_file "$SCRATCH/a" 64K random
	make_file "$SCRATCH/b" 64K random
	rm -f "$SCRATCH/sparse"
	truncate -s 1100M "$SCRATCH/sparse"
	dd if="$SCRATCH/a" of="$SCRATCH/sparse" bs=64K oflag=seek_bytes seek=1000000000 \
		conv=notrunc status=none
	dd if="$SCRATCH/b" of="$SCRATCH/sparse" bs=64K oflag=seek_bytes seek=$((1024 * MiB)) \
		conv=notrunc status=none
	run -0 "$KCOPY" -q "$SCRATCH/sparse:1GB+64K" "$SCRATCH/o1"
	cmp "$SCRATCH/a" "$SCRATCH/o1"
	run -0 "$KCOPY" -q "$SCRATCH/sparse:1G+64K" "$SCRATCH/o2"
	cmp "$SCRATCH/b" "$SCRATCH/o2"
	run -0 "$KCOPY" -q "$SCRATCH/sparse:1GiB+64KiB" "$SCRATCH/o3"
	cmp "$SCRATCH/b" "$SCRATCH/o3"
}

@test "0x hex offsets and lengths" {
	copy_region ":0x1000+0x2000" ":0x200000" 4096 2M 8192
}

@test "mixed units in OFFSET and LENGTH (sectors + hex, K + bytes)" {
	copy_region ":2s+0x800" ":4K" 1024 4096 2048
}

# --- paths with ':' -------------------------------------------------------------

@test "a path containing ':' whose tail is not a region is a path (a:b, x:1.5G)" {
	cp "$SRC" "$SCRATCH/a:b"
	cp "$SRC" "$SCRATCH/x:1.5G"
	run -0 "$KCOPY" -q "$SCRATCH/a:b" "$SCRATCH/c:d"
	cmp "$SRC" "$SCRATCH/c:d"
	# a new file named like a failed suffix is created when written DIR/./NAME
	run -0 "$KCOPY" -q "$SCRATCH/x:1.5G" "$SCRATCH/./y:1.5G"
	cmp "$SRC" "$SCRATCH/y:1.5G"
	[ ! -e "$SCRATCH/c" ] && [ ! -e "$SCRATCH/y" ]
}

@test "a missing destination named like dst:1.5K is refused (a typo?); DIR/./dst:1.5K creates it" {
	run -2 --separate-stderr "$KCOPY" -q "$SRC" "$DST:1.5K"
	[[ $stderr == *"not creating a file of that name"*"${DST%/*}/./${DST##*/}:1.5K"* ]] ||
		fail "$stderr"
	[ ! -e "$DST:1.5K" ]
	run -0 "$KCOPY" -q "$SRC" "${DST%/*}/./${DST##*/}:1.5K"
	cmp "$SRC" "$DST:1.5K"
	assert_dst_unchanged
}

@test "a path containing ':' still takes a region suffix after its last ':'" {
	cp "$SRC" "$SCRATCH/a:b"
	cp "$DST" "$SCRATCH/c:d"
	run -0 "$KCOPY" -q "$SCRATCH/a:b:1M+64K" "$SCRATCH/c:d:2M"
	assert_same_range "$SCRATCH/c:d" 2M "$SRC" 1M 64K
	assert_same_range "$SCRATCH/c:d" 0 "$SCRATCH/dst.orig" 0 2M
	assert_same_range "$SCRATCH/c:d" $((2 * MiB + 65536)) "$SCRATCH/dst.orig" \
		$((2 * MiB + 65536)) $((2 * MiB - 65536))
}

@test "a fractional size (1.5G) in a source is rejected with a message naming it when no such path exists" {
	run -2 --separate-stderr "$KCOPY" "$SRC:1.5G" "$DST"
	assert_refusal_mentions "1.5G"
	run -2 --separate-stderr "$KCOPY" "$SRC:0+1.5M" "$DST"
	assert_refusal_mentions "1.5M"
	assert_dst_unchanged
}

@test "a bad unit suffix (1Q) is rejected with a message naming it" {
	run -2 --separate-stderr "$KCOPY" "$SRC:1Q" "$DST"
	assert_refusal_mentions "1Q"
	assert_dst_unchanged
}

# --- loop device regions ----------------------------------------------------------

@test "a destination region at an offset on a loop device leaves the bytes before and after unchanged" {
	rand_loop L 4M
	before=$(sha_of "$L" 0 1M)
	after=$(sha_of "$L" 1536K 2560K)
	run -0 "$KCOPY" -q "$SRC:2M+512K" "$L:1M"
	assert_same_range "$L" 1M "$SRC" 2M 512K
	[ "$(sha_of "$L" 0 1M)" = "$before" ]
	[ "$(sha_of "$L" 1536K 2560K)" = "$after" ]
	# the same with an explicit, equal LENGTH
	run -0 "$KCOPY" -q "$SRC:+64K" "$L:3M+64K"
	assert_same_range "$L" 3M "$SRC" 0 64K
	assert_same_range "$L" $((3 * MiB + 65536)) "$L_ORIG" $((3 * MiB + 65536)) $((MiB - 65536))
	assert_same_range "$L" 0 "$L_ORIG" 0 1M
}

@test "a source region on a loop device copies just that region" {
	rand_loop L 4M
	run -0 "$KCOPY" -q "$L:3M+8s" "$DST:4K"
	assert_same_range "$DST" 4K "$L_ORIG" 3M 4K
	assert_same_range "$DST" 0 "$SCRATCH/dst.orig" 0 4K
	assert_same_range "$DST" 8K "$SCRATCH/dst.orig" 8K $((4 * MiB - 8192))
}

# --- bounds and alignment -----------------------------------------------------------

@test "a source region starting beyond the end is refused (exit 2), nothing written" {
	run -2 --separate-stderr "$KCOPY" "$SRC:5M" "$DST"
	assert_refusal_mentions "$SRC"
	run -2 --separate-stderr "$KCOPY" "$SRC:3M+2M" "$DST"
	assert_refusal_mentions "$SRC"
	run -2 --separate-stderr "$KCOPY" "$SRC:+8M" "$DST"
	assert_refusal_mentions "$SRC"
	assert_dst_unchanged
	rand_loop L 1M
	run -2 --separate-stderr "$KCOPY" "$L:2M" "$DST"
	assert_refusal_mentions "$L"
	run -2 --separate-stderr "$KCOPY" "$L:512K+1M" "$DST"
	assert_refusal_mentions "$L"
	assert_dst_unchanged
}

@test "a source region starting exactly at the end is a zero-length copy" {
	run -0 "$KCOPY" -q "$SRC:4M" "$DST"
	assert_dst_unchanged
}

@test "an unaligned offset (:100) is refused with 'not aligned', source or destination" {
	run -2 --separate-stderr "$KCOPY" "$SRC:100" "$DST"
	assert_refusal_mentions "not aligned"
	run -2 --separate-stderr "$KCOPY" "$SRC" "$DST:100"
	assert_refusal_mentions "not aligned"
	run -2 --separate-stderr "$KCOPY" "$SRC:+4K" "$DST:4100"
	assert_refusal_mentions "not aligned"
	assert_dst_unchanged
}

@test "an offset aligned to 512 but not to a 4096-sector loop device is refused with 'not aligned'" {
	rand_loop L 1M --sector-size 4096
	sha=$(sha_of "$L")
	run -2 --separate-stderr "$KCOPY" "$SRC:+4K" "$L:512"
	assert_refusal_mentions "not aligned"
	run -2 --separate-stderr "$KCOPY" "$L:512+4K" "$DST"
	assert_refusal_mentions "not aligned"
	[ "$(sha_of "$L")" = "$sha" ]
	assert_dst_unchanged
}

@test "an unaligned LENGTH on a loop device is refused (exit 2), as source or destination" {
	rand_loop L 1M
	sha=$(sha_of "$L")
	run -2 --separate-stderr "$KCOPY" "$L:0+1000" "$DST"
	assert_refusal_mentions "$L"
	run -2 --separate-stderr "$KCOPY" "$SRC:+512" "$L:0+1000"
	assert_refusal_mentions "$L"
	[ "$(sha_of "$L")" = "$sha" ]
	assert_dst_unchanged
	rand_loop Q 1M --sector-size 4096
	run -2 --separate-stderr "$KCOPY" "$Q:0+512" "$DST"
	assert_refusal_mentions "$Q"
}

@test "an unaligned LENGTH in a file is refused unless the region ends at the file's end" {
	run -2 --separate-stderr "$KCOPY" "$SRC:+1000" "$DST"
	assert_refusal_mentions "$SRC"
	assert_dst_unchanged
	make_file "$SCRATCH/odd" 10000 random
	# ends at EOF: accepted, by default and explicitly
	run -0 "$KCOPY" -q "$SCRATCH/odd:4096" "$SCRATCH/o1"
	[ "$(size_of "$SCRATCH/o1")" -eq 5904 ]
	assert_same_range "$SCRATCH/o1" 0 "$SCRATCH/odd" 4096 5904
	run -0 "$KCOPY" -q "$SCRATCH/odd:4096+5904" "$DST:1M"
	assert_same_range "$DST" 1M "$SCRATCH/odd" 4096 5904
	assert_same_range "$DST" 0 "$SCRATCH/dst.orig" 0 1M
	assert_same_range "$DST" $((MiB + 5904)) "$SCRATCH/dst.orig" $((MiB + 5904)) $((3 * MiB - 5904))
	# does not end at EOF: refused
	run -2 --separate-stderr "$KCOPY" "$SCRATCH/odd:4096+5000" "$SCRATCH/o2"
	assert_refusal_mentions "$SCRATCH/odd"
	[ ! -e "$SCRATCH/o2" ]
}
