#!/usr/bin/env bats
# Tests of the test tooling itself: tests/helpers/faultfs.c and test_helper.bash.

load test_helper
bats_require_minimum_version 1.5.0

MiB=$((1024 * 1024))

setup() {
	require_root
	IMG="$SCRATCH/image"
	make_file "$IMG" 4M random
	IMG_SHA=$(sha_of "$IMG")
}

@test "faultfs exposes exactly one file with the image's size and content" {
	mount_faultfs F "$IMG" --name=dev0
	[ "$F" = "$FAULTFS_MNT/dev0" ]
	run ls -A "$FAULTFS_MNT"
	assert_success
	assert_output "dev0"
	[ "$(stat -c %s "$F")" -eq $((4 * MiB)) ]
	[ "$(stat -c %F "$F")" = "regular file" ]
	[ "$(sha_of "$F")" = "$IMG_SHA" ]
	run grep -F " $FAULTFS_MNT fuse.faultfs " /proc/mounts
	assert_success
	# other names do not exist and cannot be created
	run cat "$FAULTFS_MNT/other"
	assert_failure
	run touch "$FAULTFS_MNT/other"
	assert_failure
}

@test "faultfs: no attribute caching, image size changes show at once" {
	mount_faultfs F "$IMG"
	[ "$(stat -c %s "$F")" -eq $((4 * MiB)) ]
	truncate -s 8M "$IMG"
	[ "$(stat -c %s "$F")" -eq $((8 * MiB)) ]
	truncate -s 6M "$F"
	[ "$(stat -c %s "$IMG")" -eq $((6 * MiB)) ]
}

@test "faultfs: O_DIRECT read fails exactly when crossing a read-fail range" {
	# one bad sector inside block 256 (byte 1 MiB + 1024)
	mount_faultfs F "$IMG" --read-fail=$((MiB + 1024))+512
	run dd if="$F" of="$SCRATCH/out" iflag=direct bs=4096
	assert_failure
	assert_output --partial "Input/output error"
	assert_output --partial "256+0 records in"
	[ "$(stat -c %s "$SCRATCH/out")" -eq "$MiB" ]
	assert_same_range "$SCRATCH/out" 0 "$IMG" 0 1M

	# the blocks right before and after the bad one read fine
	run dd if="$F" of=/dev/null iflag=direct bs=4096 skip=255 count=1
	assert_success
	run dd if="$F" of="$SCRATCH/tail" iflag=direct bs=4096 skip=257
	assert_success
	assert_same_range "$SCRATCH/tail" 0 "$IMG" $((MiB + 4096)) $((3 * MiB - 4096))
	run dd if="$F" of=/dev/null iflag=direct bs=4096 skip=256 count=1
	assert_failure
	# 512-byte granularity: only the bad sector fails
	run dd if="$F" of=/dev/null iflag=direct bs=512 skip=2049 count=1
	assert_success
	run dd if="$F" of=/dev/null iflag=direct bs=512 skip=2050 count=1
	assert_failure
	run dd if="$F" of=/dev/null iflag=direct bs=512 skip=2051 count=1
	assert_success
}

@test "faultfs: several read-fail ranges, repeated and comma-separated" {
	mount_faultfs F "$IMG" --read-fail=0+512,8192+4096 --read-fail=$((3 * MiB))+1
	for blk in 0 2 768; do
		run dd if="$F" of=/dev/null iflag=direct bs=4096 skip=$blk count=1
		assert_failure
	done
	for blk in 1 3 767 769; do
		run dd if="$F" of=/dev/null iflag=direct bs=4096 skip=$blk count=1
		assert_success
	done
}

@test "faultfs: bad option values are refused" {
	[ -x "$FAULTFS" ] || fail "faultfs not built"
	mkdir "$SCRATCH/m"
	for bad in --read-fail=10 --read-fail=1+0 --write-fail=x+1 --read-fail=1+2,3; do
		run "$FAULTFS" -f --image="$IMG" --name=d "$bad" "$SCRATCH/m"
		assert_failure
		assert_output --partial "range"
	done
	run "$FAULTFS" -f --name=d "$SCRATCH/m"
	assert_failure
	run mountpoint -q "$SCRATCH/m"
	assert_failure
}

@test "faultfs: a write into a write-fail range fails and leaves the image unchanged" {
	mount_faultfs F "$IMG" --write-fail=$((2 * MiB))+4096
	make_file "$SCRATCH/new" 1M random
	cp "$IMG" "$SCRATCH/orig"

	# exactly the bad block
	run dd if="$SCRATCH/new" of="$F" oflag=direct conv=notrunc bs=4096 count=1 seek=512
	assert_failure
	assert_output --partial "Input/output error"
	# a 64 KiB write that only partly overlaps fails as a whole
	run dd if="$SCRATCH/new" of="$F" oflag=direct,seek_bytes conv=notrunc bs=64K count=1 \
		seek=$((2 * MiB - 32768))
	assert_failure
	[ "$(sha_of "$IMG")" = "$IMG_SHA" ]

	# a write next to the range goes through
	run dd if="$SCRATCH/new" of="$F" oflag=direct conv=notrunc bs=4096 count=1 seek=511
	assert_success
	assert_same_range "$IMG" $((511 * 4096)) "$SCRATCH/new" 0 4096
	assert_same_range "$IMG" 0 "$SCRATCH/orig" 0 $((511 * 4096))
	assert_same_range "$IMG" $((2 * MiB)) "$SCRATCH/orig" $((2 * MiB)) $((2 * MiB))
	assert_same_range "$F" 0 "$IMG" 0 4M
}

@test "faultfs: fallocate zero/punch into a write-fail range fails, fsync-fail, no-fallocate" {
	mount_faultfs F "$IMG" --write-fail=$MiB+4096
	run fallocate -z -o $MiB -l 4096 "$F"
	assert_failure
	run fallocate -p -o $((MiB - 4096)) -l 8192 "$F"
	assert_failure
	[ "$(sha_of "$IMG")" = "$IMG_SHA" ]
	run fallocate -z -o 0 -l 4096 "$F"
	assert_success
	assert_zero_range "$IMG" 0 4096
	run dd if=/dev/zero of="$F" bs=4096 count=1 oflag=direct conv=notrunc,fsync
	assert_success

	# --size creates the image; --no-fallocate; --fsync-fail
	mount_faultfs G "$SCRATCH/other.img" --size=1M --no-fallocate --fsync-fail
	[ "$(stat -c %s "$SCRATCH/other.img")" -eq "$MiB" ]
	run fallocate -z -o 0 -l 4096 "$G"
	assert_failure
	assert_output --partial "Operation not supported"
	run dd if=/dev/urandom of="$G" bs=4096 count=1 oflag=direct conv=notrunc
	assert_success
	run dd if=/dev/zero of="$G" bs=4096 count=1 oflag=direct conv=notrunc,fsync
	assert_failure
	assert_output --partial "Input/output error"
}

@test "faultfs: --log records every request in order" {
	mount_faultfs F "$IMG" --log="$SCRATCH/log"
	for blk in 5 1 3; do
		dd if=/dev/zero of="$F" oflag=direct conv=notrunc bs=4096 count=1 seek=$blk status=none
	done
	dd if="$F" of=/dev/null iflag=direct bs=8192 skip=2 count=1 status=none
	run grep -E '^[RW] ' "$SCRATCH/log"
	assert_output "W 20480 4096
W 4096 4096
W 12288 4096
R 16384 8192"
	assert_zero_range "$IMG" 4096 4096
	assert_zero_range "$IMG" 20480 4096
	assert_same_range "$IMG" 8192 "$F" 8192 4096
}

@test "faultfs: concurrent O_DIRECT AIO requests are served in parallel" {
	command -v fio >/dev/null || skip "fio not installed"
	mount_faultfs F "$IMG" --delay-us=500000 --log="$SCRATCH/log"
	run -0 fio --name=par --filename="$F" --ioengine=libaio --direct=1 --rw=read \
		--bs=4k --size=32k --iodepth=8 --iodepth_batch_submit=8 --output-format=terse
	[ "$(grep -c '^R ' "$SCRATCH/log")" -eq 8 ]
	# fio's own runtime of the read phase (terse field 9, ms), not the wall
	# clock: fio's start-up on a cold, busy machine once took 3.6 s by itself.
	# 8 requests x 500 ms cannot take less than 4 s if served one at a time.
	local ms
	ms=$(cut -d';' -f9 <<<"${lines[0]}")
	[ "$ms" -ge 500 ] || fail "read phase took $ms ms: the delay was not applied"
	[ "$ms" -lt 2500 ] || fail "read phase took $ms ms: requests were serialised"
}

@test "faultfs: AIO batch gets EIO only for the bad range" {
	command -v fio >/dev/null || skip "fio not installed"
	mount_faultfs F "$IMG" --read-fail=$((3 * 4096))+4096
	run fio --name=err --filename="$F" --ioengine=libaio --direct=1 --rw=read \
		--bs=4k --size=32k --iodepth=8 --iodepth_batch_submit=8 \
		--continue_on_error=read --output-format=json --output="$SCRATCH/fio.json"
	assert_success
	[ "$(json_get 'd["jobs"][0]["total_err"]' <"$SCRATCH/fio.json")" -eq 1 ]
	[ "$(json_get 'd["jobs"][0]["read"]["io_bytes"]' <"$SCRATCH/fio.json")" -eq $((7 * 4096)) ]
}

@test "faultfs: loop device on top returns EIO only for the bad sectors" {
	mount_faultfs F "$IMG" --read-fail=$((100 * 512))+1024 --write-fail=$((200 * 512))+512
	loop_on_faultfs L "$F"
	[ "$(cat "/sys/block/${L##*/}/queue/nomerges")" -eq 2 ]
	[ "$(blockdev --getsize64 "$L")" -eq $((4 * MiB)) ]
	for s in 99 102 103; do
		run dd if="$L" of=/dev/null iflag=direct bs=512 skip=$s count=1
		assert_success
	done
	for s in 100 101; do
		run dd if="$L" of=/dev/null iflag=direct bs=512 skip=$s count=1
		assert_failure
		assert_output --partial "Input/output error"
	done
	# whole-device direct read stops at the first bad 4 KiB block (sector 96..103)
	run dd if="$L" of=/dev/null iflag=direct bs=4096
	assert_failure
	assert_output --partial "12+0 records in"
	# writes: sector 200 fails, 199 and 201 succeed
	run dd if=/dev/zero of="$L" oflag=direct bs=512 seek=200 count=1
	assert_failure
	for s in 199 201; do
		run dd if=/dev/zero of="$L" oflag=direct bs=512 seek=$s count=1
		assert_success
	done
	assert_zero_range "$IMG" $((199 * 512)) 512
	assert_zero_range "$IMG" $((201 * 512)) 512
	run cmp -s -n 512 -i $((200 * 512)):0 "$IMG" /dev/zero
	assert_failure # sector 200 kept its random content
}

@test "make_loop: sizes, sector size, content helpers" {
	make_loop A 8M
	make_loop B 4M --sector-size 4096
	[ "$(blockdev --getsize64 "$A")" -eq $((8 * MiB)) ]
	[ "$(blockdev --getss "$B")" -eq 4096 ]
	assert_zero_range "$A" 0 8M
	make_file "$A" 2M pattern
	make_file "$SCRATCH/pat" 2M pattern
	[ "$(sha_of "$A" 0 2M)" = "$(sha_of "$SCRATCH/pat")" ]
	run dd if="$A" bs=1 skip=$((3 * 512)) count=16 status=none
	assert_output "000000000001536"
	assert_zero_range "$A" 2M 6M
	dd if="$IMG" of="$B" oflag=direct bs=1M status=none
	[ "$(sha_of "$B")" = "$IMG_SHA" ]
	assert_same_range "$B" 4096 "$IMG" 4096 8192
	run assert_same_range "$B" 0 "$A" 0 4096
	assert_failure
	[ "$(bytes_of 8s)" -eq 4096 ]
	[ "$(bytes_of 2MB)" -eq 2000000 ]
	[ "$(bytes_of 0x1000)" -eq 4096 ]
	[ "$(bytes_of 1KiB)" -eq 1024 ]
	[ "$(echo '{"jobs":[{"write_err":3,"ok":true,"e":null}]}' | json_get 'd["jobs"][0]["write_err"]')" = 3 ]
	[ "$(echo '{"jobs":[{"write_err":3,"ok":true,"e":null}]}' | json_get 'd["jobs"][0]["ok"]')" = true ]
	[ "$(echo '{"jobs":[{"write_err":3,"ok":true,"e":null}]}' | json_get 'd["jobs"][0]["e"]')" = null ]
}

@test "helper_teardown removes loops and mounts, also after a failing test" {
	local dir="$SCRATCH/inner"
	mkdir -p "$dir"
	cp "$BATS_TEST_DIRNAME/test_helper.bash" "$dir/"
	local at=@ # a literal at-test line here would be taken for a test of this file
	cat >"$dir/inner.bats" <<EOF
load test_helper
bats_require_minimum_version 1.5.0
${at}test "leaks on failure" {
	make_file "\$SCRATCH/img" 1M
	mount_faultfs F "\$SCRATCH/img"
	loop_on_faultfs L "\$F"
	make_loop M 1M
	losetup -f --direct-io=on "\$SCRATCH/img"   # unregistered: found by the sweep
	echo "\$FAULTFS_MNT \$FAULTFS_PID \$L \$M \$BATS_TEST_TMPDIR" >"$dir/state"
	false
}
EOF
	# a clean environment: the outer run's BATS_* variables and its libexec
	# dir on PATH confuse a nested bats
	local path
	path=$(tr ':' '\n' <<<"$PATH" | grep -v bats-core | paste -sd:)
	run env -i PATH="$path" HOME="$HOME" FAULTFS="$FAULTFS" bats "$dir/inner.bats" 3>&-
	assert_failure
	assert_output --partial "not ok 1 leaks on failure"
	local mnt pid l m tmp
	read -r mnt pid l m tmp <"$dir/state"
	[ -n "$tmp" ]
	run mountpoint -q "$mnt"
	assert_failure
	if _helper_pid_alive "$pid"; then fail "faultfs $pid still running"; fi
	run _helper_loop_attached "$l"
	assert_failure
	run _helper_loop_attached "$m"
	assert_failure
	run _helper_loops_under "$tmp"
	assert_output ""
	run grep -F "$tmp" /proc/mounts
	assert_failure
}

@test "the stale-loop reaper spares a running suite's loops, even with deleted backing files" {
	# Three fake bats run dirs, as another suite's would be: one whose bats
	# process is alive (this run's own), one whose recorded process is gone
	# (a run that was killed), one without an owner record (a run starting).
	local live="$SCRATCH/bats-run-live" dead="$SCRATCH/bats-run-dead"
	local young="$SCRATCH/bats-run-young" gone="$SCRATCH/bats-run-gone" r
	for r in "$live" "$dead" "$young" "$gone"; do
		mkdir -p "$r/test/1"
		make_file "$r/test/1/img" 1M
	done
	printf '%s %s\n' "$BATS_ROOT_PID" "$(_helper_starttime "$BATS_ROOT_PID")" >"$live/$_HELPER_OWNER"
	# this run's pid with another start time: a reused pid, not the owner
	printf '%s 1\n' "$BATS_ROOT_PID" >"$dead/$_HELPER_OWNER"
	local Llive Ldeleted Ldead Lyoung Lgone
	make_loop_on "$live/test/1/img" Llive
	cp "$live/test/1/img" "$live/test/1/img2"
	make_loop_on "$live/test/1/img2" Ldeleted
	rm "$live/test/1/img2" # the test that owns it deleted its backing file
	make_loop_on "$dead/test/1/img" Ldead
	make_loop_on "$young/test/1/img" Lyoung
	make_loop_on "$gone/test/1/img" Lgone
	rm -r "$gone" # bats removed the run dir, the loop leaked
	run -0 _helper_reap_stale
	_helper_loop_attached "$Llive" || fail "reaped a loop of a running suite"
	_helper_loop_attached "$Ldeleted" || fail "reaped a running suite's loop over a deleted file"
	_helper_loop_attached "$Lyoung" || fail "reaped a loop of a run without an owner record"
	! _helper_loop_attached "$Ldead" || fail "kept a loop of a run whose bats process is gone"
	! _helper_loop_attached "$Lgone" || fail "kept a loop whose run dir is gone"
}

@test "teardown detaches a registered loop only while it still backs the registered file" {
	make_file "$SCRATCH/a" 1M
	make_file "$SCRATCH/b" 1M
	local L back
	make_loop_on "$SCRATCH/a" L
	back=$(_helper_loop_backing "$L")
	[ "$back" = "$SCRATCH/a" ]
	# ours is detached, and another suite attaches its file to the same number
	losetup -d "$L"
	losetup --direct-io=on "$L" "$SCRATCH/b" || skip "$L was taken by someone else meanwhile"
	register_cleanup loop "$L" "$SCRATCH/b"
	run -0 _helper_detach_loop "$L" "$back"
	[ "$(_helper_loop_backing "$L")" = "$SCRATCH/b" ] || fail "detached another file's loop"
	run -0 _helper_detach_loop "$L" "$SCRATCH/b"
	! _helper_loop_attached "$L"
}
