#!/usr/bin/env bats
# Trust: exit 0 means every destination equals the source, on every path.
# Each test is one way a wrong copy used to be left behind with "ok": failed
# ranges forgotten by the map, a map that replaces a destination, overlap
# through a loop device or a partition, a stale map trusted, a stop not
# honoured, a refusal that left files changed.  (SPEC §1 refusals, §3 Map)

bats_require_minimum_version 1.5.0

load test_helper

MiB=$((1024 * 1024))

setup() {
	require_root
	M="$SCRATCH/map"
	FAULTS="$SCRATCH/faults"
}

# set_faults WORD...: the faults in force from the next open on (faultfs
# --faults): --read-fail=R, --write-fail=R, --fsync-fail; none: no faults
set_faults() {
	printf '%s\n' "$@" >"$FAULTS.new"
	mv "$FAULTS.new" "$FAULTS"
}

# faulty_file VAR NAME SIZE: a pattern-filled image behind faultfs whose
# faults come from $FAULTS (none at first)
faulty_file() {
	make_file "$SCRATCH/$2.img" "$3" pattern
	: >"$FAULTS"
	mount_faultfs "$1" "$SCRATCH/$2.img" --name="$2" --faults="$FAULTS" \
		--log="$SCRATCH/$2.log"
}

partitions_appear() { # DEV
	[[ -b ${1}p1 && -b ${1}p2 ]] && return 0
	partx -a "$1" 2>/dev/null
	[[ -b ${1}p1 && -b ${1}p2 ]]
}

# part_disk VAR: a 64 MiB loop device with a dos label, p1 at 1 MiB (16 MiB)
# and p2 at 20 MiB; partitions as ${VAR}p1, ${VAR}p2
part_disk() {
	local _p_img="$SCRATCH/disk.img" _p_dev
	truncate -s 64M "$_p_img"
	printf 'label: dos\nstart=2048, size=32768\nstart=40960\n' |
		sfdisk -q "$_p_img" || fail "sfdisk"
	make_loop_on "$_p_img" _p_dev -P
	# losetup -P does not always scan here: ask for the partitions, and
	# wait for their nodes (devtmpfs makes them, without udev)
	_helper_wait_for $$ 5 partitions_appear "$_p_dev" ||
		fail "no partitions on $_p_dev"
	printf -v "$1" '%s' "$_p_dev"
}

# --- 1, 5, 6: the map never claims work that is not on every destination -------

@test "-i --map: a destination write error stays failed until a run writes it; exit 0 only when equal" {
	make_file "$SCRATCH/src.img" 4M random
	faulty_file D dst 4M
	set_faults --write-fail=1M+4K
	kc 1 -i --map="$M" "$SCRATCH/src.img" "$D"
	[ "$(jq_ 'd["jobs"][0]["write_err"]')" -eq 1 ]
	run -0 grep -E '^failed 0 ' "$M"
	# the fault still there: the re-run tries again and fails again
	kc 1 -i --map="$M" "$SCRATCH/src.img" "$D"
	[ "$(jq_ 'd["jobs"][0]["errors"][0]["offset"]')" -eq $((1 * MiB)) ]
	# the fault gone: the re-run writes the range and only then says ok
	set_faults
	: >"$SCRATCH/dst.log"
	kc 0 -i --map="$M" "$SCRATCH/src.img" "$D"
	cmp "$SCRATCH/src.img" "$D"
	run -0 grep -E "^W $((1 * MiB)) " "$SCRATCH/dst.log"
	run -1 grep -E '^failed ' "$M"
	# and a finished job does no more I/O
	: >"$SCRATCH/dst.log"
	kc 0 -i --map="$M" "$SCRATCH/src.img" "$D"
	run -1 grep -E '^[RW] ' "$SCRATCH/dst.log"
}

@test "-i --map: a zero-filled unreadable source block stays failed; the re-run reads it again" {
	faulty_file S src 4M
	make_file "$SCRATCH/dst.img" 4M random
	set_faults --read-fail=2M+512
	kc 1 -i --map="$M" "$S" "$SCRATCH/dst.img"
	[ "$(jq_ 'd["jobs"][0]["read_err"]')" -eq 1 ]
	kc 1 -i --map="$M" "$S" "$SCRATCH/dst.img"
	set_faults
	kc 0 -i --map="$M" "$S" "$SCRATCH/dst.img"
	cmp "$S" "$SCRATCH/dst.img"
}

@test "-i --map: a 512-byte source failure resumes on a block boundary of a 4 KiB destination" {
	faulty_file S src 4M
	make_file "$SCRATCH/dst.img" 4M random
	make_loop_on "$SCRATCH/dst.img" L --sector-size 4096
	set_faults --read-fail=$((2 * MiB + 512))+512
	kc 1 -i --map="$M" "$S" "$L"
	[ "$(jq_ 'd["jobs"][0]["read_err"]')" -eq 1 ]
	# the map's failed range starts mid-block of the destination: the
	# re-run goes on from that block's start (a write at +512 is EINVAL)
	run -0 grep -E "^failed 0 $((2 * MiB + 512)) 512" "$M"
	set_faults
	kc 0 -i --map="$M" "$S" "$L"
	[ "$(jq_ 'd["jobs"][0]["bytes_skipped"]')" -ge $((2 * MiB)) ]
	assert_same_range "$L" 0 "$S" 0 4M
}

@test "a failed flush is recorded: the re-run copies the whole region again" {
	make_file "$SCRATCH/src.img" 4M random
	faulty_file D dst 4M
	set_faults --fsync-fail
	kc 1 --map="$M" "$SCRATCH/src.img" "$D"
	run -1 grep -E '^done ' "$M"
	set_faults
	: >"$SCRATCH/dst.log"
	kc 0 --map="$M" "$SCRATCH/src.img" "$D"
	[ "$(jq_ 'd["jobs"][0]["bytes_skipped"]')" -eq 0 ]
	cmp "$SCRATCH/src.img" "$D"
}

@test "a --verify mismatch is recorded: the map takes it out of what is done" {
	make_file "$SCRATCH/src.img" 4M random
	faulty_file D dst 4M
	# the copy job's destination is changed by a later stage: verify sees it
	printf 'copy %s %s\nwait\nzero %s\n' "$SCRATCH/src.img" "$D" "$D:1M+4K" \
		>"$SCRATCH/jobs"
	kc 1 --verify --map="$M" --job-file="$SCRATCH/jobs"
	[ "$(jq_ 'd["jobs"][0]["verified"]')" = false ]
	run -0 grep -E "^failed 0 $((1 * MiB)) 4096\$" "$M"
	# the re-run (no --verify) copies that range again, and nothing else
	: >"$SCRATCH/dst.log"
	kc 0 --map="$M" --job-file="$SCRATCH/jobs"
	[ "$(jq_ 'd["jobs"][0]["bytes_skipped"]')" -gt 0 ]
	run -0 grep -E "^W $((1 * MiB)) " "$SCRATCH/dst.log"
	# ...and the later stage that zeroed it is done again after it
	assert_zero_range "$D" 1M 4K
	assert_same_range "$SCRATCH/src.img" 0 "$D" 0 1M
}

@test "a range an earlier stage redoes is redone by the later stages that read or write it" {
	make_file "$SCRATCH/src.img" 4M random
	faulty_file D mid 4M
	make_file "$SCRATCH/out.img" 4M random
	printf 'copy -i %s %s\nwait\ncopy %s %s\n' "$SCRATCH/src.img" "$D" "$D" \
		"$SCRATCH/out.img" >"$SCRATCH/jobs"
	set_faults --write-fail=1M+4K
	kc 1 --map="$M" --job-file="$SCRATCH/jobs"
	[ "$(jq_ 'd["jobs"][1]["write_err"]')" -eq 0 ]
	set_faults
	kc 0 --map="$M" --job-file="$SCRATCH/jobs"
	cmp "$SCRATCH/src.img" "$D"
	cmp "$SCRATCH/src.img" "$SCRATCH/out.img"
}

@test "a destination deleted after a run is copied again in full, whatever the map says" {
	make_file "$SCRATCH/src.img" 4M random
	kc 0 --map="$M" "$SCRATCH/src.img" "$SCRATCH/new.img"
	rm "$SCRATCH/new.img"
	kc 0 --map="$M" "$SCRATCH/src.img" "$SCRATCH/new.img"
	[ "$(jq_ 'd["jobs"][0]["bytes_skipped"]')" -eq 0 ]
	cmp "$SCRATCH/src.img" "$SCRATCH/new.img"
}

@test "a map names canonical paths and identities: from another directory, or over other files, it is refused" {
	mkdir "$SCRATCH/a" "$SCRATCH/b"
	make_file "$SCRATCH/a/src.img" 4M random
	make_file "$SCRATCH/b/src.img" 4M random
	cd "$SCRATCH/a"
	kc 0 --map="$M" src.img dst.img
	cd "$SCRATCH/b"
	cp "$SCRATCH/b/src.img" "$SCRATCH/b/dst.img"
	kc 2 --map="$M" src.img dst.img
	[[ $stderr == *"belongs to other"* ]] || fail "$stderr"
	cmp "$SCRATCH/b/src.img" "$SCRATCH/b/dst.img"
	# the same names over a replaced source file: refused too
	cd "$SCRATCH/a"
	cp src.img src2.img && mv src2.img src.img
	kc 2 --map="$M" src.img dst.img
	[[ $stderr == *"belongs to other"* ]] || fail "$stderr"
}

@test "a source file written to since the map was saved is another file: refused" {
	make_file "$SCRATCH/src.img" 4M random
	kc 0 --map="$M" "$SCRATCH/src.img" "$SCRATCH/dst.img"
	printf 'new' | dd of="$SCRATCH/src.img" bs=1 seek=2000000 conv=notrunc status=none
	kc 2 --map="$M" "$SCRATCH/src.img" "$SCRATCH/dst.img"
	rm "$M"
	kc 0 --map="$M" "$SCRATCH/src.img" "$SCRATCH/dst.img"
	cmp "$SCRATCH/src.img" "$SCRATCH/dst.img"
}

@test "the map is saved before the first I/O: a crash then leaves a map that knows the new files" {
	make_file "$SCRATCH/src.img" 4M random
	"$KCOPY" -q --rate=64K --map="$M" "$SCRATCH/src.img" "$SCRATCH/new.img" 3>&- &
	local pid=$!
	register_cleanup pid "$pid"
	wait_lines "$pid" "$M" '^objects 0 .* file:'
	kill -KILL "$pid"
	wait "$pid" || true
	run -0 grep -E '^objects 0 file:.* file:[0-9]+:[0-9]+:4194304$' "$M"
	kc 0 --map="$M" "$SCRATCH/src.img" "$SCRATCH/new.img"
	cmp "$SCRATCH/src.img" "$SCRATCH/new.img"
}

# --- 7: the map loader ----------------------------------------------------------

@test "maps without a full identity, with signs or ranges outside their job are refused, nothing written" {
	make_file "$SCRATCH/src.img" 1M random
	make_file "$SCRATCH/dst.img" 1M random
	cp "$SCRATCH/dst.img" "$SCRATCH/dst.orig"
	kc 0 --map="$M.good" "$SCRATCH/src.img" "$SCRATCH/new.img"
	local good bad
	good=$(cat "$M.good")
	refused() {
		printf '%s\n' "$1" >"$M"
		# a valid checksum, so that the content itself is judged
		python3 - "$M" <<'EOF'
import sys
p = sys.argv[1]
lines = [l for l in open(p).read().split("\n") if l and not l.startswith("end ")]
body = "".join(l + "\n" for l in lines)
h = 0xcbf29ce484222325
for c in body.encode():
    h ^= c
    h = (h * 0x100000001b3) % (1 << 64)
open(p, "w").write(body + "end %016x\n" % h)
EOF
		run -2 --separate-stderr "$KCOPY" --map="$M" "$SCRATCH/src.img" "$SCRATCH/dst.img"
		cmp "$SCRATCH/dst.img" "$SCRATCH/dst.orig" || fail "written with map: $1"
	}
	good=${good//new.img/dst.img}
	good=$(grep -v '^objects' <<<"$good")
	refused ""	# just an end record
	refused "$(grep -v '^jobs' <<<"$good")"
	refused "$(grep -v '^job 0' <<<"$good")"
	refused "$(sed 's/^done 0 0 [0-9]*/done 0 0 -1/' <<<"$good")"
	refused "$(sed 's/^done 0 0 [0-9]*/done 0 0 2097152/' <<<"$good")"
	refused "$(sed 's/^done 0 0 /done 0 00 /' <<<"$good")"
	refused "$(sed 's/^done 0 0 /done 1 0 /' <<<"$good")"
	refused "$(sed 's/^done 0 0 [0-9]*/done 0 1048576 1/' <<<"$good")"
}

# --- 2, 3: the map and the job file are never a region; the temporary file -------

@test "a map that is a destination, the source, a loop device's backing file, or the job file is refused" {
	make_file "$SCRATCH/src.img" 1M random
	make_file "$SCRATCH/dst.img" 1M random
	cp "$SCRATCH/dst.img" "$SCRATCH/dst.orig"
	kc 2 --map="$SCRATCH/dst.img" "$SCRATCH/src.img" "$SCRATCH/dst.img"
	[[ $stderr == *"map is also a destination"* ]] || fail "$stderr"
	kc 2 --map="$SCRATCH/src.img" "$SCRATCH/src.img" "$SCRATCH/dst.img"
	kc 2 --map="$SCRATCH/new.img" "$SCRATCH/src.img" "$SCRATCH/new.img"
	[ ! -e "$SCRATCH/new.img" ]
	cd "$SCRATCH"
	kc 2 --map=./new.img src.img "$SCRATCH/new.img"
	[ ! -e "$SCRATCH/new.img" ]
	cmp "$SCRATCH/dst.img" "$SCRATCH/dst.orig"
	# the backing file of a destination loop device
	make_file "$SCRATCH/back.img" 1M random
	cp "$SCRATCH/back.img" "$SCRATCH/back.orig"
	make_loop_on "$SCRATCH/back.img" L
	kc 2 --map="$SCRATCH/back.img" "$SCRATCH/src.img" "$L"
	cmp "$SCRATCH/back.img" "$SCRATCH/back.orig"
	# from a job file, and the job file itself
	printf 'copy %s %s\n' "$SCRATCH/src.img" "$SCRATCH/dst.img" >"$SCRATCH/jobs"
	kc 2 --map="$SCRATCH/dst.img" --job-file="$SCRATCH/jobs"
	printf 'copy %s %s\n' "$SCRATCH/src.img" "$SCRATCH/jobs2" >"$SCRATCH/jobs2"
	kc 2 --job-file="$SCRATCH/jobs2"
	[[ $stderr == *"job file is also a destination"* ]] || fail "$stderr"
	cmp "$SCRATCH/dst.img" "$SCRATCH/dst.orig"
}

@test "the map's temporary file never overwrites a file or follows a symlink" {
	make_file "$SCRATCH/src.img" 1M random
	echo precious >"$SCRATCH/m.tmp"
	make_file "$SCRATCH/victim.img" 1M random
	cp "$SCRATCH/victim.img" "$SCRATCH/victim.orig"
	ln -s "$SCRATCH/victim.img" "$SCRATCH/q.tmp"
	kc 0 --map="$SCRATCH/m" "$SCRATCH/src.img" "$SCRATCH/d1.img"
	kc 0 --map="$SCRATCH/q" "$SCRATCH/src.img" "$SCRATCH/d2.img"
	[ "$(cat "$SCRATCH/m.tmp")" = precious ]
	cmp "$SCRATCH/victim.img" "$SCRATCH/victim.orig"
	[ -L "$SCRATCH/q.tmp" ]
	# a destination named like the map's temporary file is just a destination
	kc 0 --map="$SCRATCH/m2" "$SCRATCH/src.img" "$SCRATCH/m2.tmp"
	kc 0 --map="$SCRATCH/m2" "$SCRATCH/src.img" "$SCRATCH/m2.tmp"
	[ "$(jq_ 'd["jobs"][0]["bytes_skipped"]')" -eq $MiB ]
	cp "$SCRATCH/src.img" "$SCRATCH/m.tmp"
	cmp "$SCRATCH/src.img" "$SCRATCH/m.tmp"
	grep -q '^kcopy-map 2$' "$SCRATCH/m"
}

@test "a map held by another run is refused (exit 2), nothing written" {
	make_file "$SCRATCH/src.img" 1M random
	make_file "$SCRATCH/dst.img" 1M random
	cp "$SCRATCH/dst.img" "$SCRATCH/dst.orig"
	: >"$M"
	flock "$M" sleep 60 3>&- &
	local holder=$!
	register_cleanup pid "$holder"
	_helper_wait_for "$holder" 10 locked "$M" || fail "$M was never locked"
	kc 2 --map="$M" "$SCRATCH/src.img" "$SCRATCH/dst.img"
	[[ $stderr == *"in use by another kcopy"* ]] || fail "$stderr"
	cmp "$SCRATCH/dst.img" "$SCRATCH/dst.orig"
}

# --- 4: overlap and "in use" on the storage underneath ----------------------------

@test "a loop device over the source file overlaps it (both directions); disjoint ranges are allowed" {
	make_file "$SCRATCH/s.img" 64M random
	cp "$SCRATCH/s.img" "$SCRATCH/s.orig"
	make_loop_on "$SCRATCH/s.img" L
	kc 2 "$SCRATCH/s.img:0+48M" "$L:16M"
	[[ $stderr == *"overlaps the source"* ]] || fail "$stderr"
	kc 2 "$L:0+48M" "$SCRATCH/s.img:16M"
	kc 2 "$SCRATCH/s.img:0+16M" "$SCRATCH/dst.img" "$L:8M+16M"
	cmp "$SCRATCH/s.img" "$SCRATCH/s.orig"
	[ ! -e "$SCRATCH/dst.img" ]
	# through a loop device with an offset
	make_loop_on "$SCRATCH/s.img" L2 --offset=$((32 * MiB))
	kc 2 "$SCRATCH/s.img:32M+4M" "$L2:1M"
	cmp "$SCRATCH/s.img" "$SCRATCH/s.orig"
	# no shared byte: fine
	kc 0 "$SCRATCH/s.img:0+16M" "$L:16M+16M"
	assert_same_range "$SCRATCH/s.orig" 0 "$SCRATCH/s.img" $((16 * MiB)) 16M
}

@test "a whole disk and its own partition overlap (both directions); disjoint regions are allowed" {
	part_disk W
	make_file "${W}p1" 16M random
	local orig
	orig=$(sha_of "$W")
	# the partition starts at 1 MiB: 512K+8M of the disk is inside it
	kc 2 "$W:512K+8M" "${W}p1"
	[[ $stderr == *"overlaps the source"* ]] || fail "$stderr"
	kc 2 "${W}p1:0+8M" "$W:512K"
	make_file "$SCRATCH/src.img" 8M random
	kc 2 "$SCRATCH/src.img" "${W}p1" "$W:4M"
	[[ $stderr == *"overlaps destination"* ]] || fail "$stderr"
	[ "$(sha_of "$W")" = "$orig" ]
	# the disk's first MiB and a partition: no shared byte, both written
	make_file "$SCRATCH/small.img" 512K random
	kc 0 --force "$SCRATCH/small.img" "$W:512K+512K" "${W}p2:0+512K"
	assert_same_range "$SCRATCH/small.img" 0 "$W" 512K 512K
	assert_same_range "$SCRATCH/small.img" 0 "${W}p2" 0 512K
}

@test "a regular-file destination under a mounted loop device is in use" {
	make_file "$SCRATCH/src.img" 1M random
	truncate -s 32M "$SCRATCH/fs.img"
	mkfs.ext4 -q -F "$SCRATCH/fs.img"
	make_loop_on "$SCRATCH/fs.img" L
	mkdir "$SCRATCH/mnt"
	mount "$L" "$SCRATCH/mnt"
	register_cleanup mount "$SCRATCH/mnt"
	local before
	before=$(sha_of "$SCRATCH/fs.img")
	kc 2 --force "$SCRATCH/src.img" "$SCRATCH/fs.img:16M"
	[[ $stderr == *"in use"*"$L"* ]] || fail "$stderr"
	[ "$(sha_of "$SCRATCH/fs.img")" = "$before" ]
}

# --- 8: a stop is honoured while --rate waits ---------------------------------------

locked() { ! flock -n "$1" true 2>/dev/null; }	# FILE: someone holds its flock
gone() { ! _helper_pid_alive "$1"; }		# PID: exited
has_data() { [[ -e $1 ]] && (($(stat -c %b "$1") > 0)); }	# FILE: blocks written

# stop_rate SIGNAL RATE: a --rate-limited copy stops on SIGNAL; prints seconds
stop_rate() {
	local sig=$1 rate=$2 pid t0 t1 rc=0
	make_file "$SCRATCH/src.img" 8M random
	rm -f "$SCRATCH/dst.img"
	"$KCOPY" -q --rate="$rate" "$SCRATCH/src.img" "$SCRATCH/dst.img" 3>&- &
	pid=$!
	register_cleanup pid "$pid"
	# the stop handlers in place (the first thing kcopy does), and the first
	# chunk written: from here on it waits for the rate
	wait_kcopy_ready "$pid"
	_helper_wait_for "$pid" 60 has_data "$SCRATCH/dst.img" ||
		fail "--rate=$rate: no chunk written"
	t0=$(date +%s%N)
	kill "-$sig" "$pid"
	_helper_wait_for $$ 20 gone "$pid" ||
		fail "--rate=$rate: still running 20 s after SIG$sig"
	t1=$(date +%s%N)
	wait "$pid" || rc=$?
	[ "$rc" -eq 130 ] || fail "--rate=$rate SIG$sig: exit $rc"
	echo "# --rate=$rate: stopped $(( (t1 - t0) / 1000000 )) ms after SIG$sig" >&3
}

@test "SIGINT and SIGTERM stop a copy waiting under --rate=1 and --rate=10K" {
	stop_rate INT 1
	stop_rate TERM 1
	stop_rate INT 10K
	stop_rate TERM 10K
}

@test "a SIGINT already pending when kcopy starts is honoured: exit 130, nothing written" {
	make_file "$SCRATCH/src.img" 1M random
	# blocked and ignored (as for a background job): kept pending over exec
	run -130 --separate-stderr python3 -c '
import os, signal, sys
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT])
signal.signal(signal.SIGINT, signal.SIG_IGN)
os.kill(os.getpid(), signal.SIGINT)
os.execv(sys.argv[1], sys.argv[1:])
' "$KCOPY" "$SCRATCH/src.img" "$SCRATCH/dst.img"
	[[ $stderr == *"interrupted before anything was written"* ]] || fail "$stderr"
	[ ! -e "$SCRATCH/dst.img" ]
}

# --- 9: all or nothing --------------------------------------------------------------

@test "a destination that cannot be extended leaves every file as it was" {
	make_file "$SCRATCH/src.img" 1M random
	mkdir "$SCRATCH/newdir"
	truncate -s 1M "$SCRATCH/big.img"
	# ext4 files end at 16 TiB: extending there fails after the others were done
	kc 2 "$SCRATCH/src.img" "$SCRATCH/newdir/new1.img" "$SCRATCH/big.img:17T" \
		"$SCRATCH/short.img"
	[ ! -e "$SCRATCH/newdir/new1.img" ]
	[ "$(stat -c %s "$SCRATCH/big.img")" -eq $MiB ]
	[ ! -e "$SCRATCH/short.img" ]
}

@test "a new destination in a directory that cannot be written to is refused before any file is touched" {
	make_file "$SCRATCH/src.img" 1M random
	truncate -s 4K "$SCRATCH/short.img"
	mkdir "$SCRATCH/ro"
	chattr +i "$SCRATCH/ro"
	register_cleanup cmd "chattr -i '$SCRATCH/ro'"
	kc 2 "$SCRATCH/src.img" "$SCRATCH/short.img" "$SCRATCH/ro/new.img"
	[[ $stderr == *"ro/new.img: cannot create"* ]] || fail "$stderr"
	[ "$(stat -c %s "$SCRATCH/short.img")" -eq 4096 ]
}

# --- 10: the aio ring --------------------------------------------------------------

@test "nine jobs at -j 1024 fit the system's aio limit and copy correctly" {
	local i
	: >"$SCRATCH/jobs"
	for ((i = 0; i < 9; i++)); do
		make_file "$SCRATCH/s$i.img" 2M random
		echo "copy $SCRATCH/s$i.img $SCRATCH/d$i.img" >>"$SCRATCH/jobs"
	done
	kc 0 -j 1024 -b 4K --job-file="$SCRATCH/jobs"
	for ((i = 0; i < 9; i++)); do
		cmp "$SCRATCH/s$i.img" "$SCRATCH/d$i.img"
	done
}
