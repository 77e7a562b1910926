#!/usr/bin/env bats
# Flashing images (SPEC §6): --bmap (bmap-tools' block map, formats 1.3,
# 1.4 and 2.0): only mapped ranges are read and written, unmapped ranges of
# the destinations keep their bytes (as `bmaptool copy` leaves them) or,
# with --sparse, are zeroed; each range's checksum is checked as it passes;
# a bmap that is damaged or not the image's is refused before any write.
# Streamed sources: `-`, a FIFO, and gzip/xz/zstd/bzip2 files decoded in
# kcopy itself (by magic, not by name), or copied as they are with
# --no-decompress; the copy is as long as the stream.  --hash: the source's
# digests from the same pass, printed as sha256sum & co. print them, and in
# the JSON report; with --verify each destination's read-back digests too.
#
# The images are made once for the file (tests/helpers/flash.bash): a 64
# MiB sparse image with scattered extents, its bmap from `bmaptool create`,
# the same map rewritten as 1.3 (SHA-1) and 1.4, compressed copies, an ext4
# image, and what `bmaptool copy` writes over a destination full of junk
# (checked against bmaptool itself in setup_file).  Destinations start as
# that junk (every sector saying its own offset), so a byte kcopy should
# have left alone, or should have zeroed, shows.  Every kcopy run is bounded
# by a timeout (KC_TIMEOUT); a copy that must still be running when it is
# killed is made long by --rate, never by assuming a speed.

# shellcheck disable=SC2154 # $output, $stderr, $lines: set by bats' run
bats_require_minimum_version 1.5.0

load test_helper
load helpers/flash

MiB=$((1024 * 1024))

setup_file() {
	flash_fixtures
}

setup() {
	require_root
	require_flash_tools
	[[ -n ${FIX:-} && -f $REF ]] || fail "setup_file made no fixtures"
}

q() { printf '%q' "$1"; }

# digest ALG FILE -> the hex digest as its coreutils/xxhash tool prints it
digest() {
	case $1 in
	sha256) sha256sum <"$2" ;;
	sha1) sha1sum <"$2" ;;
	xxh128) xxh128sum <"$2" ;;
	blake2b) b2sum <"$2" ;;
	esac | cut -d' ' -f1
}

# sorted_eq WHAT EXPECTED-LINE...: $output's lines, in any order, are
# exactly these
sorted_eq() {
	local what=$1 want got
	shift
	want=$(printf '%s\n' "$@" | sort)
	got=$(printf '%s\n' "$output" | sort)
	[ "$want" = "$got" ] || fail "$what: stdout is
$output
expected (any order)
$want"
}

# private_img PATH: a copy of IMG (sparse, as the original) to change
private_img() {
	cp --sparse=always "$IMG" "$1" || fail "private_img $1"
}

# --- --bmap ------------------------------------------------------------------------

@test "--bmap 2.0: only mapped ranges go to every destination, the rest keeps its bytes, as bmaptool copy leaves it" {
	local d3="$SCRATCH/d3" d4="$SCRATCH/new.img"
	junk_loop D1
	junk_loop D2
	junk_file "$d3"
	kc 0 -q --bmap="$IMG_BMAP" "$IMG" "$D1" "$D2" "$d3" "$d4"
	json_expect 'd["status"] == "ok"' \
		"d['jobs'][0]['bytes'] == $IMG_SIZE" \
		"d['jobs'][0]['bytes_data'] == $IMG_MAPPED" \
		'(lambda j: j["bytes_data"] + j["bytes_zeroed"] + j["bytes_skipped"] == j["bytes"])(d["jobs"][0])'
	dev_equals "$D1" "$REF"
	dev_equals "$D2" "$REF"
	cmp "$d3" "$REF"
	# a file kcopy creates has nothing to keep: holes where unmapped, as long
	# as the image
	cmp "$d4" "$IMG"
	[ "$(stat -c %s "$d4")" -eq "$IMG_SIZE" ]
}

@test "--bmap 1.3 (SHA-1, BmapFileSHA1) and 1.4 write what 2.0 writes" {
	grep -q '<BmapFileSHA1>' "$IMG_BMAP13" && grep -q ' sha1="' "$IMG_BMAP13" &&
		! grep -q ChecksumType "$IMG_BMAP13" || fail "the 1.3 fixture is not 1.3"
	junk_loop D13
	junk_file "$SCRATCH/d14"
	kc 0 -q --bmap="$IMG_BMAP13" "$IMG" "$D13"
	json_expect "d['jobs'][0]['bytes_data'] == $IMG_MAPPED"
	dev_equals "$D13" "$REF"
	kc 0 -q --bmap="$IMG_BMAP14" "$IMG" "$SCRATCH/d14"
	cmp "$SCRATCH/d14" "$REF"
}

@test "--bmap --sparse: unmapped ranges are zeroed, every destination equals the image (bmaptool copy to a new file)" {
	local d2="$SCRATCH/d2" bt="$SCRATCH/bmaptool.img"
	junk_loop D
	junk_file "$d2"
	kc 0 -q --sparse --bmap="$IMG_BMAP" "$IMG" "$D" "$d2"
	json_expect 'd["status"] == "ok"' "d['jobs'][0]['bytes'] == $IMG_SIZE" \
		'(lambda j: j["bytes_data"] + j["bytes_zeroed"] + j["bytes_skipped"] == j["bytes"])(d["jobs"][0])' \
		"d['jobs'][0]['bytes_data'] <= $IMG_MAPPED"
	dev_equals "$D" "$IMG"
	cmp "$d2" "$IMG"
	bmaptool -q copy --bmap "$IMG_BMAP" "$IMG" "$bt"
	cmp "$d2" "$bt"
}

@test "--bmap of an image whose size is not a multiple of the bmap's block size (a partial last block)" {
	junk_loop D 4M
	kc 0 -q --bmap="$ODD_BMAP" "$ODD" "$D"
	json_expect "d['jobs'][0]['bytes'] == $(stat -c %s "$ODD")"
	dev_equals "$D" "$ODD_REF" 4M
}

@test "an ext4 image flashed with --bmap: as bmaptool copy writes it, the file system checks clean, its files read back" {
	local new="$SCRATCH/new.img" f
	junk_loop D 48M
	kc 0 -q --bmap="$FS_BMAP" "$FSIMG" "$D" "$new"
	dev_equals "$D" "$FS_REF"
	cmp "$new" "$FSIMG"
	run -0 e2fsck -fn "$D"
	[ "$(blkid -p -o value -s LABEL "$D")" = flashtest ]
	for f in boot/kernel.img etc/blob etc/motd; do
		debugfs -R "cat /$f" "$D" 2>/dev/null | cmp - "$FS_ROOT/$f" ||
			fail "/$f on $D differs"
	done
}

@test "an image changed after its bmap was made: exit 1, the range reported; fixed, the same command with --map completes" {
	local img="$SCRATCH/img.raw" M="$SCRATCH/map" bad=$((5 * MiB + 8192)) mt
	private_img "$img"
	_flash_put "$img" "$bad" 4K random
	mt=$(stat -c %.9Y "$img")
	junk_loop D
	kc 1 --map="$M" --bmap="$IMG_BMAP" "$img" "$D"
	[[ ${stderr,,} == *checksum* || ${stderr,,} == *bmap* ]] ||
		fail "stderr says nothing of a checksum or the bmap: $stderr"
	json_expect 'd["status"] == "errors"' \
		"any(e['region'] == 'source' and e['offset'] <= $bad < e['offset'] + e['length'] for e in d['jobs'][0]['errors'])"
	# the image fixed in place: the same file (inode, size and mtime, as
	# the map names it) with the right bytes again
	patch_range "$img" "$IMG" "$bad" 4096
	touch -m -d "@$mt" "$img"
	kc 0 --map="$M" --bmap="$IMG_BMAP" "$img" "$D"
	json_expect 'd["status"] == "ok"'
	dev_equals "$D" "$REF"
}

@test "a change in an unmapped range of the image is neither noticed nor copied" {
	local img="$SCRATCH/img.raw"
	private_img "$img"
	_flash_put "$img" 20M 64K random
	junk_loop D
	kc 0 -q --bmap="$IMG_BMAP" "$img" "$D"
	dev_equals "$D" "$REF"
}

@test "a bmap whose ImageSize is not the image's size: exit 2, nothing written" {
	local big="$SCRATCH/big.raw" bm="$SCRATCH/bigger.bmap"
	junk_loop D
	junk_file "$SCRATCH/d2"
	# the image grown by 1 MiB since its bmap was made
	private_img "$big"
	truncate -s +1M "$big"
	flash_refused --mentions bmap --bmap="$IMG_BMAP" "$big" "$D" "$SCRATCH/d2" "$SCRATCH/new"
	# a well-formed bmap of an image one block longer
	bmap_mutate "$IMG_BMAP" "$bm" bigger
	flash_refused --mentions bmap --bmap="$bm" "$IMG" "$D" "$SCRATCH/d2" "$SCRATCH/new"
	# (--sparse would zero all the unmapped bytes: still nothing)
	flash_refused --mentions bmap --sparse --bmap="$IMG_BMAP" "$big" "$D"
}

@test "a bmap edited after bmaptool wrote it (BmapFileChecksum, BmapFileSHA1 stale): exit 2, nothing written" {
	local kind
	junk_loop D
	junk_file "$SCRATCH/d2"
	for kind in comment range; do
		bmap_mutate "$IMG_BMAP" "$SCRATCH/$kind.bmap" "$kind"
		flash_refused --mentions bmap --bmap="$SCRATCH/$kind.bmap" "$IMG" "$D" "$SCRATCH/d2" "$SCRATCH/new"
	done
	bmap_mutate "$IMG_BMAP13" "$SCRATCH/v13.bmap" comment
	flash_refused --mentions bmap --bmap="$SCRATCH/v13.bmap" "$IMG" "$D" "$SCRATCH/d2" "$SCRATCH/new"
}

@test "a broken bmap (cut XML, not XML, ranges out of order, overlapping, past the image's end): exit 2, nothing written" {
	local kind
	junk_loop D
	junk_file "$SCRATCH/d2"
	for kind in truncated notxml swap overlap past-end; do
		bmap_mutate "$IMG_BMAP" "$SCRATCH/$kind.bmap" "$kind"
		flash_refused --mentions bmap --bmap="$SCRATCH/$kind.bmap" "$IMG" "$D" "$SCRATCH/d2" "$SCRATCH/new"
	done
	# one that does not exist
	flash_refused --mentions "$SCRATCH/none.bmap" --bmap="$SCRATCH/none.bmap" "$IMG" "$D"
}

@test "--bmap with --map: kill -9 mid-copy, then again: exit 0, every destination as bmaptool copy writes it" {
	local M="$SCRATCH/map"
	junk_loop D1
	junk_loop D2
	# 3.7 MiB mapped at 1 MiB/s: a map save (every second) comes before the end
	start_kcopy -q --rate=1M --map="$M" --bmap="$IMG_BMAP" "$IMG" "$D1" "$D2"
	wait_lines "$KPID" "$M" '^done '
	kill -KILL "$KPID" 2>/dev/null || true
	finish_kcopy
	[ "$RC" -eq 137 ] || fail "the copy ended (exit $RC) before the kill: $(cat "$ERR")"
	# again, unthrottled (the map is of the regions, not of the rate)
	kc 0 -q --map="$M" --bmap="$IMG_BMAP" "$IMG" "$D1" "$D2"
	json_expect 'd["status"] == "ok"' 'd["jobs"][0]["bytes_skipped"] > 0'
	dev_equals "$D1" "$REF"
	dev_equals "$D2" "$REF"
	# and once more: nothing left to do
	kc 0 -q --map="$M" --bmap="$IMG_BMAP" "$IMG" "$D1" "$D2"
	json_expect "d['jobs'][0]['bytes_skipped'] == $IMG_SIZE"
}

@test "--bmap --verify: exit 0, verified true, the unmapped junk kept" {
	junk_loop D
	junk_file "$SCRATCH/d2"
	kc 0 -q --verify --bmap="$IMG_BMAP" "$IMG" "$D" "$SCRATCH/d2"
	json_expect 'd["status"] == "ok"' 'd["jobs"][0]["verified"] is True'
	dev_equals "$D" "$REF"
	cmp "$SCRATCH/d2" "$REF"
}

@test "--bmap for the copy of a job file" {
	local jf="$SCRATCH/jobs"
	junk_loop D1
	junk_file "$SCRATCH/d2"
	printf '# flash the image twice\ncopy %s %s %s\n' "$(q "$IMG")" "$(q "$D1")" \
		"$(q "$SCRATCH/d2")" >"$jf"
	kc 0 -q --bmap="$IMG_BMAP" --job-file="$jf"
	json_expect 'd["status"] == "ok"' 'd["jobs"][0]["line"] == 2' \
		"d['jobs'][0]['bytes'] == $IMG_SIZE" "d['jobs'][0]['bytes_data'] == $IMG_MAPPED"
	dev_equals "$D1" "$REF"
	cmp "$SCRATCH/d2" "$REF"
}

@test "--bmap with a compressed image (gzip, xz, zstd, bzip2, zstd on stdin): the bmap is of the decoded image" {
	local fmt
	for fmt in gz xz zst bz2; do
		junk_file "$SCRATCH/d.$fmt"
		kc 0 -q --bmap="$IMG_BMAP" "$IMG.$fmt" "$SCRATCH/d.$fmt"
		json_expect "d['jobs'][0]['bytes'] == $IMG_SIZE" "d['jobs'][0]['bytes_data'] == $IMG_MAPPED"
		cmp "$SCRATCH/d.$fmt" "$REF" || fail "$fmt: not what bmaptool copy writes"
	done
	junk_loop D
	kc_pipe 0 "zstdcat $(q "$IMG.zst")" --json -q --bmap="$IMG_BMAP" - "$D"
	dev_equals "$D" "$REF"
}

@test "a stream shorter than its bmap's ImageSize: exit 1" {
	junk_file "$SCRATCH/d"
	kc_pipe 1 "head -c 32M $(q "$IMG")" --json --bmap="$IMG_BMAP" - "$SCRATCH/d"
	json_expect 'd["status"] == "errors"'
	[ -n "$stderr" ] || fail "exit 1 without a word on stderr"
}

# --- streamed and compressed sources ------------------------------------------------

@test "SOURCE '-' (a pipe): to every destination; a new file is exactly as long as the stream" {
	local new="$SCRATCH/new.img"
	junk_loop D
	kc_pipe 0 "cat $(q "$IMG")" --json -q - "$D" "$new"
	json_expect 'd["status"] == "ok"' "d['jobs'][0]['bytes'] == $IMG_SIZE"
	cmp "$new" "$IMG"
	dev_equals "$D" "$IMG"
}

@test "a FIFO source" {
	local fifo="$SCRATCH/fifo" new="$SCRATCH/new.img"
	mkfifo "$fifo"
	cat "$IMG" >"$fifo" 3>&- &
	register_cleanup pid $!
	kc 0 -q "$fifo" "$new"
	json_expect "d['jobs'][0]['bytes'] == $IMG_SIZE"
	cmp "$new" "$IMG"
}

# compressed_source EXT TOOL: a copy of IMG.EXT under a name that says
# nothing of it is decoded by kcopy itself (no program executed), into a
# new file exactly as long as the image
compressed_source() {
	local src="$SCRATCH/firmware" new="$SCRATCH/new.img" st="$SCRATCH/strace"
	cp "$IMG.$1" "$src"
	run --separate-stderr timeout -k 5 "$KC_TIMEOUT" \
		strace -f -qq --seccomp-bpf -e trace=execve -o "$st" "$KCOPY" --json -q "$src" "$new"
	_kc_status 0 "(under strace) --json -q $src $new"
	json_expect 'd["status"] == "ok"' "d['jobs'][0]['bytes'] == $IMG_SIZE"
	cmp "$new" "$IMG"
	[ "$(grep -c 'execve(' "$st")" -eq 1 ] || fail "$2 data: programs executed: $(cat "$st")"
}

@test "a gzip-compressed source is recognised by its magic and decoded in-process" {
	compressed_source gz gzip
}

@test "an xz-compressed source is recognised by its magic and decoded in-process" {
	compressed_source xz xz
}

@test "a zstd-compressed source is recognised by its magic and decoded in-process" {
	compressed_source zst zstd
}

@test "a bzip2-compressed source is recognised by its magic and decoded in-process" {
	compressed_source bz2 bzip2
}

@test "a compressed stream on stdin (xz through a pipe) is decoded too" {
	local new="$SCRATCH/new.img"
	kc_pipe 0 "cat $(q "$IMG.xz")" --json -q - "$new"
	json_expect "d['jobs'][0]['bytes'] == $IMG_SIZE"
	cmp "$new" "$IMG"
}

@test "--no-decompress copies a compressed file's bytes as they are" {
	local new="$SCRATCH/new.gz"
	kc 0 -q --no-decompress "$IMG.gz" "$new"
	json_expect "d['jobs'][0]['bytes'] == $(stat -c %s "$IMG.gz")"
	cmp "$new" "$IMG.gz"
}

@test "a loop device too small for the stream: exit 1 naming it; a big enough destination of the same run gets the whole image" {
	local new="$SCRATCH/new.img"
	junk_loop SMALL 32M
	# (a gzip stream through a pipe: nothing tells its length before its end)
	kc_pipe 1 "cat $(q "$IMG.gz")" --json "-" "$SMALL" "$new"
	[[ $stderr == *"$SMALL"* ]] || fail "stderr does not name $SMALL: $stderr"
	json_expect 'd["status"] == "errors"' \
		'd["jobs"][0]["write_err"] & 1' 'not d["jobs"][0]["write_err"] & 2' \
		"any(e['region'] == 'dest' and e['index'] == 0 and e['offset'] == $((32 * MiB)) for e in d['jobs'][0]['errors'])"
	cmp "$new" "$IMG"
	dev_equals "$SMALL" "$IMG" 32M
}

@test "a truncated or corrupt compressed image ends with exit 1 or 2 and a message, never 0" {
	local fmt how src size
	for fmt in gz xz zst bz2; do
		size=$(stat -c %s "$IMG.$fmt")
		for how in truncated corrupt; do
			src="$SCRATCH/$how.$fmt"
			if [[ $how == truncated ]]; then
				head -c $((size / 2)) "$IMG.$fmt" >"$src"
			else
				cp "$IMG.$fmt" "$src"
				head -c 64 /dev/urandom |
					dd of="$src" bs=64 seek=$((size / 2)) oflag=seek_bytes conv=notrunc status=none
			fi
			run --separate-stderr timeout -k 5 "$KC_TIMEOUT" "$KCOPY" -q "$src" "$SCRATCH/d.$how.$fmt"
			[[ $status == 1 || $status == 2 ]] || fail "$how $fmt: exit $status: $stderr"
			[[ ${stderr,,} =~ truncat|corrupt|unexpected|premature|incomplete|damaged|invalid|crc|checksum|decod|compress|format|end\ of ]] ||
				fail "$how $fmt: exit $status, stderr does not say what is wrong: $stderr"
		done
	done
}

@test "kill -9 of a compressed-stream copy with --map, then the same command: exit 0, destinations equal the image" {
	local M="$SCRATCH/map" new="$SCRATCH/new.img"
	junk_loop D
	# 64 MiB decoded at 20 MiB/s: more than 3 s, a map save every second
	start_kcopy -q --rate=20M --map="$M" "$IMG.zst" "$D" "$new"
	wait_lines "$KPID" "$M" '^done '
	kill -KILL "$KPID" 2>/dev/null || true
	finish_kcopy
	[ "$RC" -eq 137 ] || fail "the copy ended (exit $RC) before the kill: $(cat "$ERR")"
	kc 0 -q --rate=20M --map="$M" "$IMG.zst" "$D" "$new"
	json_expect 'd["status"] == "ok"' 'd["jobs"][0]["bytes_skipped"] > 0'
	dev_equals "$D" "$IMG"
	cmp "$new" "$IMG"
	[ "$(stat -c %s "$new")" -eq "$IMG_SIZE" ]
}

@test "--verify with a stream source: exit 0, verified true" {
	local new="$SCRATCH/new.img"
	junk_loop D
	kc_pipe 0 "zstdcat $(q "$IMG.zst")" --json -q --verify - "$D" "$new"
	json_expect 'd["status"] == "ok"' 'd["jobs"][0]["verified"] is True'
	dev_equals "$D" "$IMG"
	cmp "$new" "$IMG"
}

# --- --hash -------------------------------------------------------------------------

@test "--hash=sha256 prints sha256sum's line, NAME as given, and nothing else on stdout" {
	cd "$FIX"
	kcr 0 --hash=sha256 img.raw "$SCRATCH/d"
	[ "$output" = "$(sha256sum img.raw)" ] || fail "stdout: $output"
	kcr 0 -q --hash=sha256 "$IMG" "$SCRATCH/d2"
	[ "$output" = "$(sha256sum "$IMG")" ] || fail "stdout: $output"
	[ -z "$stderr" ] || fail "-q, no error, yet stderr: $stderr"
	cmp "$SCRATCH/d2" "$IMG"
}

@test "--hash with sha256, sha1, xxh128 and blake2b: one line each, as sha256sum, sha1sum, xxh128sum and b2sum print them" {
	kcr 0 -q --hash=xxh128,sha256,blake2b,sha1 "$IMG" "$SCRATCH/d"
	sorted_eq "four digests" "$(sha256sum "$IMG")" "$(sha1sum "$IMG")" \
		"$(xxh128sum "$IMG")" "$(b2sum "$IMG")"
}

@test "--hash of stdin names it '-'; of a compressed source it is the decoded image's digest" {
	kc_pipe 0 "cat $(q "$IMG")" -q --hash=sha256,xxh128 - "$SCRATCH/d"
	# (xxh128sum itself calls stdin "stdin"; kcopy names the argument, "-",
	# as sha256sum and b2sum do)
	sorted_eq "stdin" "$(sha256sum <"$IMG")" "$(digest xxh128 "$IMG")  -"
	kcr 0 -q --hash=sha256 "$IMG.zst" "$SCRATCH/d2"
	[ "$output" = "$(zstdcat "$IMG.zst" | sha256sum | cut -d' ' -f1)  $IMG.zst" ] ||
		fail "stdout: $output"
	kc_pipe 0 "cat $(q "$IMG.bz2")" -q --hash=blake2b - "$SCRATCH/d3"
	[ "$output" = "$(bzcat "$IMG.bz2" | b2sum)" ] || fail "stdout: $output"
}

@test "--hash of a region: the region's bytes, NAME the argument as given" {
	kcr 0 -q --hash=sha256 "$IMG:1M+4M" "$SCRATCH/d"
	[ "$output" = "$(sha_of "$IMG" 1M 4M)  $IMG:1M+4M" ] || fail "stdout: $output"
}

@test "--hash with --json: each job's source has \"hashes\", and stdout is the JSON alone" {
	local jf="$SCRATCH/jobs" s b
	printf 'copy %s %s\ncopy %s %s\n' "$(q "$IMG")" "$(q "$SCRATCH/d1")" \
		"$(q "$IMG.gz")" "$(q "$SCRATCH/d2")" >"$jf"
	kc 0 -q --hash=sha256,blake2b --job-file="$jf"
	s=$(digest sha256 "$IMG") b=$(digest blake2b "$IMG")
	json_expect "d['jobs'][0]['source']['hashes'] == {'sha256': '$s', 'blake2b': '$b'}" \
		"d['jobs'][1]['source']['hashes'] == {'sha256': '$s', 'blake2b': '$b'}"
	cmp "$SCRATCH/d2" "$IMG"
}

@test "--hash with --verify: each destination's read-back digests (lines 'HEX  DEST'; JSON dests[i].hashes)" {
	local s x
	s=$(digest sha256 "$IMG") x=$(digest xxh128 "$IMG")
	junk_loop D
	kcr 0 -q --verify --hash=sha256,xxh128 "$IMG" "$D" "$SCRATCH/d2"
	sorted_eq "--verify" "$s  $IMG" "$x  $IMG" "$s  $D" "$x  $D" \
		"$s  $SCRATCH/d2" "$x  $SCRATCH/d2"
	kc 0 -q --verify --hash=sha256,xxh128 "$IMG" "$D" "$SCRATCH/d3"
	json_expect 'd["jobs"][0]["verified"] is True' \
		"d['jobs'][0]['source']['hashes'] == {'sha256': '$s', 'xxh128': '$x'}" \
		"all(e['hashes'] == {'sha256': '$s', 'xxh128': '$x'} for e in d['jobs'][0]['dests'])" \
		'len(d["jobs"][0]["dests"]) == 2'
}

@test "an unknown --hash algorithm: exit 2 with one line, nothing written" {
	local alg
	junk_loop D
	junk_file "$SCRATCH/d2"
	for alg in md5 sha256,crc32 SHA-512; do
		flash_refused --mentions "${alg##*,}" --hash="$alg" "$IMG" "$D" "$SCRATCH/d2" "$SCRATCH/new"
	done
	flash_refused --hash= "$IMG" "$D" "$SCRATCH/new"
}

@test "--hash with --bmap: the digest of the whole image, holes as zeros" {
	junk_file "$SCRATCH/d"
	kcr 0 -q --bmap="$IMG_BMAP" --hash=sha256,sha1 "$IMG" "$SCRATCH/d"
	sorted_eq "--bmap" "$(sha256sum "$IMG")" "$(sha1sum "$IMG")"
	cmp "$SCRATCH/d" "$REF"
	junk_file "$SCRATCH/d2"
	kcr 0 -q --bmap="$IMG_BMAP" --hash=xxh128 "$IMG.zst" "$SCRATCH/d2"
	[ "$output" = "$(digest xxh128 "$IMG")  $IMG.zst" ] || fail "stdout: $output"
	cmp "$SCRATCH/d2" "$REF"
}
