# shellcheck shell=bash
#
# test_helper.bash - common helpers for kcopy's bats tests.  Every .bats file
# starts with `load test_helper` (before defining its own setup/teardown).
#
# Variables
#   KCOPY     program under test (env overrides; relative paths are made absolute)
#   FAULTFS   fault-injection FUSE daemon (env overrides)
#   SCRATCH   per-test scratch dir ($BATS_TEST_TMPDIR/scratch), created on load
#
# Functions (all fail the test through bats-support's `fail` on error; none of
# them may be called through `run`, since they set variables / register cleanup)
#   require_root
#   bytes_of SIZE                          -> prints SIZE in bytes (4096, 8s, 4K, 1M, 2MB, 0x1000)
#   make_file PATH SIZE [random|zero|sparse|pattern]
#   make_loop VAR SIZE [losetup args...]   backing file in SCRATCH, --direct-io=on
#   make_loop_on FILE VAR [losetup args...]
#   mount_faultfs VAR IMAGE [faultfs args...]   VAR = path of the exposed file
#   loop_on_faultfs VAR FAULTFILE [losetup args...]
#   register_cleanup KIND ARGS...          loop DEV [BACKING] | fuse MNT PID | mount MNT | pid PID | cmd STRING
#   helper_teardown                        (called by the default teardown)
#   sha_of PATH [OFFSET LEN]
#   assert_zero_range PATH OFFSET LEN
#   assert_same_range A AOFF B BOFF LEN
#   json_get EXPR                          JSON on stdin, python expression on `d`
#   kc CODE ARGS...                        run kcopy --json ARGS, expecting exit CODE:
#                                          the JSON in $output, stderr in $stderr
#   jq_ EXPR                               json_get EXPR on the report in $output
#
# Waiting for a background process (never a bare `sleep N` before a signal:
# on a loaded machine the process may not have started, or may be done).
# Each fails the test if PID exits first or TIMEOUT_S (whole seconds) pass:
#   wait_kcopy_ready PID [TIMEOUT_S]       until kcopy PID has exec'd and catches
#                                          SIGINT, SIGTERM and SIGUSR1 (SigCgt in
#                                          /proc/PID/status); kcopy installs them
#                                          first thing in main (default 60 s)
#   wait_kcopy_progress PID FILE [MIN_BYTES [TIMEOUT_S]]
#                                          until FILE (kcopy's stderr with
#                                          --progress=json) has a line with
#                                          bytes_done >= MIN_BYTES (default 1);
#                                          that bytes_done is left in
#                                          KCOPY_PROGRESS.  Lines come at most once
#                                          a second, so the copy must last longer.
#   wait_lines PID FILE ERE [COUNT [TIMEOUT_S]]
#                                          until FILE has COUNT (default 1) lines
#                                          matching ERE, e.g. a faultfs --log line
#                                          ('^R '), a map record ('^done '), or a
#                                          helper process's "ready" line

_bats_lib_dir=/usr/lib/bats
for _lib in bats-support bats-assert bats-file; do
	if [[ -f "$_bats_lib_dir/$_lib/load.bash" ]]; then
		load "$_bats_lib_dir/$_lib/load"
	else
		bats_load_library "$_lib"
	fi
done
unset _lib _bats_lib_dir

# --- programs under test --------------------------------------------------

_helper_abspath() { # PATH -> absolute path if PATH contains a '/'
	local p=$1
	if [[ $p == */* && $p != /* && -d "${p%/*}" ]]; then
		p="$(cd "${p%/*}" && pwd)/${p##*/}"
	fi
	printf '%s\n' "$p"
}

KCOPY=$(_helper_abspath "${KCOPY:-$BATS_TEST_DIRNAME/../kcopy}")
FAULTFS=$(_helper_abspath "${FAULTFS:-$BATS_TEST_DIRNAME/../build/faultfs}")
export KCOPY FAULTFS

# --- scratch dir and cleanup registry --------------------------------------

if [[ -n "${BATS_TEST_TMPDIR:-}" ]]; then
	SCRATCH="$BATS_TEST_TMPDIR/scratch"
	mkdir -p "$SCRATCH"
	SCRATCH=$(cd "$SCRATCH" && pwd -P)
	_HELPER_REGISTRY="$BATS_TEST_TMPDIR/.helper-cleanup"
	export SCRATCH
fi

require_root() {
	if [[ $EUID -ne 0 ]]; then
		if [[ ${CI:-} == true ]]; then
			fail "needs root"
		else
			skip "needs root"
		fi
	fi
}

# register_cleanup KIND ARGS...  (undone in reverse order by helper_teardown)
#   loop DEV [BACKING]  losetup -d DEV (only while DEV still backs BACKING)
#   fuse MNT PID    fusermount3 -u MNT (umount -l fallback), then wait for/kill PID
#   mount MNT       umount MNT (umount -l fallback)
#   pid PID         kill PID (TERM, then KILL)
#   cmd STRING      eval STRING
register_cleanup() {
	[[ -n "${_HELPER_REGISTRY:-}" ]] || fail "register_cleanup: no test tmpdir"
	local IFS=$'\t'
	printf '%s\n' "$*" >>"$_HELPER_REGISTRY"
}

_helper_warn() { printf 'test_helper: %s\n' "$*" >&2; }

_helper_loop_attached() { # DEV
	[[ -e "/sys/block/${1##*/}/loop/backing_file" ]]
}

# _helper_loop_backing DEV: the backing file of loop DEV as the kernel names
# it (without " (deleted)"); fails if DEV is not attached
_helper_loop_backing() {
	local b
	{ b=$(<"/sys/block/${1##*/}/loop/backing_file"); } 2>/dev/null || return 1
	printf '%s\n' "${b% (deleted)}"
}

# _helper_loop_ours DEV BACKING: DEV is attached, and to BACKING (if given).
# A device number is reused at once: another suite running beside this one
# (another clone's `make check`) may have attached its own file to DEV since
# ours was detached.
_helper_loop_ours() {
	local b
	b=$(_helper_loop_backing "$1") || return 1
	[[ -z ${2:-} || $b == "$2" ]]
}

_helper_detach_loop() { # DEV [BACKING]
	local dev=$1 back=${2:-} i j
	if ! _helper_loop_ours "$dev" "$back"; then
		_helper_loop_attached "$dev" &&
			_helper_warn "$dev now backs $(_helper_loop_backing "$dev"), not $back: left alone"
		return 0
	fi
	for ((i = 0; i < 10; i++)); do
		losetup -d "$dev" 2>/dev/null || true
		# a busy device is only marked autoclear; wait until it is gone
		for ((j = 0; j < 10; j++)); do
			_helper_loop_ours "$dev" "$back" || return 0
			sleep 0.05
		done
		udevadm settle 2>/dev/null || true
	done
	_helper_warn "could not detach $dev"
	return 1
}

_helper_pid_alive() { # PID: running and not a zombie (no fork: it is polled)
	local st
	{ read -r st <"/proc/$1/stat"; } 2>/dev/null || return 1
	st=${st##*) }
	st=${st%% *}
	[[ -n $st && $st != Z ]]
}

_helper_stop_pid() { # PID [grace-seconds]
	local pid=$1 grace=${2:-5} i
	for ((i = 0; i < grace * 20; i++)); do
		_helper_pid_alive "$pid" || break
		sleep 0.05
	done
	if _helper_pid_alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 40; i++)); do
			_helper_pid_alive "$pid" || break
			sleep 0.05
		done
	fi
	if _helper_pid_alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null || true
		sleep 0.1
	fi
	wait "$pid" 2>/dev/null || true # reap if it is our child
	! _helper_pid_alive "$pid"
}

_helper_is_mounted() { # MNT
	awk -v m="$1" '{ gsub(/\\040/, " ", $5); if ($5 == m) f = 1 } END { exit !f }' \
		/proc/self/mountinfo
}

_helper_umount() { # MNT [fuse]
	local mnt=$1 fuse=${2:-} i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		_helper_is_mounted "$mnt" || return 0
		if [[ -n $fuse ]]; then
			fusermount3 -u "$mnt" 2>/dev/null || umount "$mnt" 2>/dev/null || true
		else
			umount "$mnt" 2>/dev/null || true
		fi
		_helper_is_mounted "$mnt" || return 0
		sleep 0.1
	done
	_helper_warn "$mnt busy, lazy unmount"
	umount -l "$mnt" 2>/dev/null || true
	! _helper_is_mounted "$mnt"
}

# Loops whose backing file is below DIR (or deleted and was below DIR):
# "DEV<TAB>BACKING" lines.
_helper_loops_under() { # DIR
	local f b
	for f in /sys/block/loop*/loop/backing_file; do
		[[ -r $f ]] || continue
		{ b=$(<"$f"); } 2>/dev/null || continue
		b=${b% (deleted)}
		if [[ $b == "$1"/* ]]; then
			f=${f#/sys/block/}
			printf '/dev/%s\t%s\n' "${f%%/*}" "$b"
		fi
	done
}

_helper_mounts_under() { # DIR, deepest first
	awk -v d="$1/" '{ gsub(/\\040/, " ", $5); if (index($5, d) == 1) print $5 }' \
		/proc/self/mountinfo | sort -r
}

helper_teardown() {
	local rc=0 kind a b dev back mnt
	if [[ -n "${_HELPER_REGISTRY:-}" && -f "$_HELPER_REGISTRY" ]]; then
		while IFS=$'\t' read -r -u 9 kind a b; do
			case $kind in
			loop)
				# (shown with a failure: something else detached it)
				_helper_loop_attached "$a" || _helper_warn "$a (for $b) was detached before teardown"
				_helper_detach_loop "$a" "$b" || rc=1
				;;
			fuse)
				# loops stacked on this mount that were not registered
				while IFS=$'\t' read -r dev back; do
					[[ -n $dev ]] && { _helper_detach_loop "$dev" "$back" || rc=1; }
				done < <(_helper_loops_under "$a")
				_helper_umount "$a" fuse || rc=1
				if [[ -n $b ]]; then _helper_stop_pid "$b" || rc=1; fi
				;;
			mount) _helper_umount "$a" || rc=1 ;;
			pid) kill -TERM "$a" 2>/dev/null || true; _helper_stop_pid "$a" 1 || rc=1 ;;
			cmd) eval "$a" || rc=1 ;;
			esac
		done 9< <(tac "$_HELPER_REGISTRY")
		rm -f "$_HELPER_REGISTRY"
	fi
	# Sweep anything of ours that escaped the registry: loops backed by files
	# in this test's tmpdir, then mounts below it.
	if [[ -n "${SCRATCH:-}" ]]; then
		local root
		root=$(cd "$BATS_TEST_TMPDIR" 2>/dev/null && pwd -P) || root=$BATS_TEST_TMPDIR
		while IFS=$'\t' read -r dev back; do
			[[ -n $dev ]] || continue
			_helper_warn "sweeping leaked $dev"
			_helper_detach_loop "$dev" "$back" || rc=1
		done < <(_helper_loops_under "$root")
		while read -r mnt; do
			[[ -n $mnt ]] || continue
			_helper_warn "sweeping leaked mount $mnt"
			_helper_umount "$mnt" fuse || rc=1
		done < <(_helper_mounts_under "$root")
	fi
	return $rc
}

teardown() {
	helper_teardown
}

# _helper_starttime PID: the process's start time (field 22 of its stat),
# which tells a pid from a later process that reuses the number
_helper_starttime() {
	local st
	{ read -r st <"/proc/$1/stat"; } 2>/dev/null || return 1
	st=${st##*) }
	# shellcheck disable=SC2086 # the fields, split
	set -- $st
	printf '%s\n' "${20}"
}

# Each bats run that loads this file records its bats process in its run dir
# (BATS_RUN_TMPDIR, a bats-run-XXXXXX dir): "PID STARTTIME".
_HELPER_OWNER=.kcopy-owner

# _helper_run_gone PATH: PATH lies below the run dir of a bats run that is
# over: the dir is gone (bats removes it at the end of a run), or it names a
# bats process that is no longer running (the run was killed).  A run dir
# without an owner record counts as alive: it may be a run just starting,
# or one whose test_helper is older.
_helper_run_gone() {
	local dir owner pid start
	[[ $1 =~ ^(.*/bats-run-[^/]+)/ ]] || return 1
	dir=${BASH_REMATCH[1]}
	[[ -d $dir ]] || return 0
	{ owner=$(<"$dir/$_HELPER_OWNER"); } 2>/dev/null || return 1
	read -r pid start <<<"$owner"
	[[ -n $pid && -n $start ]] || return 1
	[[ $(_helper_starttime "$pid" 2>/dev/null) != "$start" ]]
}

# Once per bats run: detach loops and unmount faultfs mounts left behind by
# an earlier run that crashed.  Another suite may be running beside this one
# (`make check` in another clone): its loops are backed by files below its
# own live run dir and are never touched, even when the backing file is
# already deleted (a test may delete it, or its teardown is under way).
_helper_reap_stale() {
	local f b dev
	for f in /sys/block/loop*/loop/backing_file; do
		[[ -r $f ]] || continue
		{ b=$(<"$f"); } 2>/dev/null || continue
		b=${b% (deleted)}
		[[ $b == */bats-run-*/test/* ]] || continue
		_helper_run_gone "$b" || continue
		dev=${f#/sys/block/}
		dev=/dev/${dev%%/*}
		_helper_warn "detaching stale $dev ($b)"
		losetup -d "$dev" 2>/dev/null || true
	done
	awk '$3 == "fuse.faultfs" { gsub(/\\040/, " ", $2); print $2 }' /proc/mounts |
		while read -r b; do
			[[ $b == */bats-run-*/test/* ]] || continue
			_helper_run_gone "$b" || continue
			_helper_warn "lazy-unmounting stale $b"
			umount -l "$b" 2>/dev/null || true
		done
}
if [[ $EUID -eq 0 && -n "${BATS_RUN_TMPDIR:-}" && ! -e "$BATS_RUN_TMPDIR/$_HELPER_OWNER" ]]; then
	if [[ -n ${BATS_ROOT_PID:-} ]] && _h_start=$(_helper_starttime "$BATS_ROOT_PID"); then
		printf '%s %s\n' "$BATS_ROOT_PID" "$_h_start" >"$BATS_RUN_TMPDIR/$_HELPER_OWNER"
	else
		: >"$BATS_RUN_TMPDIR/$_HELPER_OWNER"
	fi
	unset _h_start
	_helper_reap_stale
fi

# --- sizes and files -------------------------------------------------------

# bytes_of SIZE: 4096, 8s (sectors), 4K/4KiB/4k (1024), 2MB (1000), 0x1000
bytes_of() {
	local s=$1 n unit mul
	if [[ $s =~ ^0[xX][0-9a-fA-F]+$ ]]; then
		printf '%d\n' "$s"
		return
	fi
	[[ $s =~ ^([0-9]+)([a-zA-Z]*)$ ]] || { fail "bytes_of: bad size '$s'"; return 1; }
	n=${BASH_REMATCH[1]} unit=${BASH_REMATCH[2]}
	case $unit in
	"" | c) mul=1 ;;
	s) mul=512 ;;
	[kK] | KiB) mul=1024 ;;
	[mM] | MiB) mul=$((1024 ** 2)) ;;
	[gG] | GiB) mul=$((1024 ** 3)) ;;
	[tT] | TiB) mul=$((1024 ** 4)) ;;
	KB | kB) mul=1000 ;;
	MB) mul=$((1000 ** 2)) ;;
	GB) mul=$((1000 ** 3)) ;;
	TB) mul=$((1000 ** 4)) ;;
	*) fail "bytes_of: bad unit in '$s'"; return 1 ;;
	esac
	printf '%d\n' $((10#$n * mul))
}

# _helper_gen N MODE: N bytes of MODE data on stdout.
#   pattern: every 512-byte sector holds its own byte offset, "%015d\n" x 32
_helper_gen() {
	local n=$1 mode=$2
	case $mode in
	random) head -c "$n" /dev/urandom ;;
	zero | sparse) head -c "$n" /dev/zero ;;
	pattern)
		python3 -c '
import sys
n = int(sys.argv[1]); out = sys.stdout.buffer; off = 0
while off < n:
    chunk = bytearray()
    end = min(n, off + (1 << 20))
    s = off
    while s < end:
        chunk += (b"%015d\n" % s) * 32
        s += 512
    out.write(bytes(chunk[: end - off]))
    off = end
' "$n"
		;;
	*) fail "make_file: bad mode '$mode' (random|zero|sparse|pattern)"; return 1 ;;
	esac
}

# make_file PATH SIZE [random|zero|sparse|pattern]   (default random)
# A regular file is replaced (sparse: a hole of SIZE bytes); a block device is
# overwritten from offset 0 and flushed.
make_file() {
	local path=$1 size mode=${3:-random}
	size=$(bytes_of "$2") || return 1
	if [[ -b $path ]]; then
		_helper_gen "$size" "$mode" |
			dd of="$path" bs=1M iflag=fullblock conv=notrunc,fsync status=none ||
			fail "make_file: writing $path failed"
		blockdev --flushbufs "$path" 2>/dev/null || true
		return
	fi
	if [[ $mode == sparse ]]; then
		{ rm -f "$path" && truncate -s "$size" "$path"; } || fail "make_file: $path"
		return
	fi
	_helper_gen "$size" "$mode" >"$path" || fail "make_file: writing $path failed"
	[[ $(stat -c %s "$path") -eq $size ]] || fail "make_file: $path has wrong size"
}

# --- loop devices -----------------------------------------------------------

# (Locals below are prefixed _h_ so that printf -v VAR reaches the caller's
# variable whatever its name.)

# make_loop_on FILE VAR [losetup args...]
make_loop_on() {
	local _h_file=$1 _h_var=$2 _h_dev
	shift 2
	require_root
	[[ -e $_h_file ]] || { fail "make_loop_on: $_h_file does not exist"; return 1; }
	_h_dev=$(losetup -f --show --direct-io=on "$@" "$_h_file") ||
		{ fail "make_loop_on: losetup $* $_h_file failed"; return 1; }
	# with its backing file: teardown detaches DEV only while it is still ours
	register_cleanup loop "$_h_dev" "$(_helper_loop_backing "$_h_dev")"
	printf -v "$_h_var" '%s' "$_h_dev"
}

# make_loop VAR SIZE [losetup args...]   backing file (sparse, zeros) in SCRATCH
make_loop() {
	local _h_var=$1 _h_size _h_file
	_h_size=$(bytes_of "$2") || return 1
	shift 2
	require_root
	_h_file=$(mktemp "$SCRATCH/kcopy-test-loop.XXXXXX") || fail "make_loop: mktemp"
	truncate -s "$_h_size" "$_h_file" || fail "make_loop: truncate $_h_file"
	make_loop_on "$_h_file" "$_h_var" "$@"
}

# --- faultfs ----------------------------------------------------------------

# mount_faultfs VAR IMAGE [faultfs args...]
# Mounts $FAULTFS on a fresh directory in SCRATCH; VAR is set to the exposed
# file (MNT/NAME, NAME from --name=, default "disk").  The daemon's pid is left
# in FAULTFS_PID, its mount point in FAULTFS_MNT, its stderr in $FAULTFS_MNT.err.
mount_faultfs() {
	local _h_var=$1 _h_image=$2 _h_name=disk _h_a _h_mnt _h_pid _h_i=0
	shift 2
	require_root
	[[ -x $FAULTFS ]] || { fail "faultfs not built: $FAULTFS (run make)"; return 1; }
	[[ -f $_h_image || " $* " == *" --size="* ]] ||
		{ fail "mount_faultfs: no image $_h_image"; return 1; }
	_h_image=$(_helper_abspath "$_h_image")
	[[ $_h_image == /* ]] || _h_image="$PWD/$_h_image"
	for _h_a in "$@"; do
		[[ $_h_a == --name=* ]] && _h_name=${_h_a#--name=}
	done
	[[ " $* " == *" --name="* ]] || set -- "--name=$_h_name" "$@"
	_h_mnt=$(mktemp -d "$SCRATCH/faultfs.XXXXXX") || fail "mount_faultfs: mktemp"
	# fd 3 must be closed or bats waits for the daemon at the end of the test
	"$FAULTFS" -f --image="$_h_image" "$@" "$_h_mnt" >"$_h_mnt.err" 2>&1 3>&- &
	_h_pid=$!
	register_cleanup fuse "$_h_mnt" "$_h_pid"
	# (a loaded machine can take seconds to start it)
	_helper_wait_for "$_h_pid" 60 mountpoint -q "$_h_mnt" || _h_i=$?
	case $_h_i in
	0) ;;
	1) fail "faultfs exited: $(cat "$_h_mnt.err")"; return 1 ;;
	*) fail "faultfs did not mount $_h_mnt: $(cat "$_h_mnt.err")"; return 1 ;;
	esac
	[[ -f "$_h_mnt/$_h_name" ]] || { fail "faultfs: $_h_mnt/$_h_name missing"; return 1; }
	# shellcheck disable=SC2034 # for the caller
	FAULTFS_PID=$_h_pid FAULTFS_MNT=$_h_mnt
	printf -v "$_h_var" '%s' "$_h_mnt/$_h_name"
}

# loop_on_faultfs VAR FAULTFILE [losetup args...]
# nomerges=2: otherwise the block layer merges a bad sector's request with its
# good neighbours and they fail together.
loop_on_faultfs() {
	local _h_var=$1 _h_file=$2 _h_ldev
	shift 2
	make_loop_on "$_h_file" _h_ldev "$@" || return 1
	echo 2 >"/sys/block/${_h_ldev##*/}/queue/nomerges" ||
		{ fail "loop_on_faultfs: cannot set nomerges on $_h_ldev"; return 1; }
	printf -v "$_h_var" '%s' "$_h_ldev"
}

# --- waiting for a background process ----------------------------------------

# _helper_wait_for PID TIMEOUT_S CMD...: poll CMD every 10 ms until it
# succeeds.  Returns 0 then, 1 if PID exits (or is a zombie) first, 2 after
# TIMEOUT_S seconds.  CMD is tried once more after PID is seen gone, for what
# it left behind just before it exited.
_helper_wait_for() {
	local _w_pid=$1 _w_end
	_w_end=$((${EPOCHREALTIME//[.,]/} + $2 * 1000000))
	shift 2
	while :; do
		"$@" && return 0
		if ! _helper_pid_alive "$_w_pid"; then
			"$@" && return 0
			return 1
		fi
		((${EPOCHREALTIME//[.,]/} < _w_end)) || return 2
		sleep 0.01
	done
}

# SigCgt bits: SIGINT (2) 0x2, SIGUSR1 (10) 0x200, SIGTERM (15) 0x4000
_HELPER_KCOPY_SIGS=$((0x2 | 0x200 | 0x4000))

# PID has exec'd (a child forked by this shell shows the shell's handlers
# until it execs) and catches all of _HELPER_KCOPY_SIGS
_helper_catches_stop() {
	local k v cgt=
	[[ -e /proc/$1/exe && ! /proc/$1/exe -ef $BASH ]] || return 1
	{
		while read -r k v; do
			[[ $k == SigCgt: ]] && { cgt=$v; break; }
		done <"/proc/$1/status"
	} 2>/dev/null
	[[ -n $cgt ]] && (((16#$cgt & _HELPER_KCOPY_SIGS) == _HELPER_KCOPY_SIGS))
}

# wait_kcopy_ready PID [TIMEOUT_S]
wait_kcopy_ready() {
	local pid=$1 timeout=${2:-60} r=0
	_helper_wait_for "$pid" "$timeout" _helper_catches_stop "$pid" || r=$?
	case $r in
	0) return 0 ;;
	1) fail "wait_kcopy_ready: process $pid exited before installing its signal handlers" ;;
	*) fail "wait_kcopy_ready: process $pid has no SIGINT/SIGTERM/SIGUSR1 handlers after $timeout s" ;;
	esac
	return 1
}

# FILE has a complete --progress=json line with bytes_done >= MIN; sets
# KCOPY_PROGRESS to the last such bytes_done
_helper_progress_seen() { # FILE MIN
	local line n=
	[[ -r $1 ]] || return 1
	# a line still being written has no newline yet: read skips it
	while IFS= read -r line; do
		[[ $line =~ ^\{\"bytes_done\":\ *([0-9]+) ]] && n=${BASH_REMATCH[1]}
	done <"$1"
	[[ -n $n ]] && ((n >= $2)) || return 1
	KCOPY_PROGRESS=$n
}

# wait_kcopy_progress PID FILE [MIN_BYTES [TIMEOUT_S]]
wait_kcopy_progress() {
	local pid=$1 file=$2 min=${3:-1} timeout=${4:-60} r=0
	# shellcheck disable=SC2034 # for the caller
	KCOPY_PROGRESS=
	_helper_wait_for "$pid" "$timeout" _helper_progress_seen "$file" "$min" || r=$?
	case $r in
	0) return 0 ;;
	1) fail "wait_kcopy_progress: process $pid exited before reporting $min bytes done: $(tail -n 5 "$file" 2>/dev/null)" ;;
	*) fail "wait_kcopy_progress: no progress line with $min bytes done after $timeout s: $(tail -n 5 "$file" 2>/dev/null)" ;;
	esac
	return 1
}

_helper_lines_seen() { # FILE ERE COUNT
	local n
	[[ -r $1 ]] || return 1
	n=$(grep -cE -- "$2" "$1") || true
	((${n:-0} >= $3))
}

# wait_lines PID FILE ERE [COUNT [TIMEOUT_S]]
wait_lines() {
	local pid=$1 file=$2 ere=$3 count=${4:-1} timeout=${5:-60} r=0
	_helper_wait_for "$pid" "$timeout" _helper_lines_seen "$file" "$ere" "$count" || r=$?
	case $r in
	0) return 0 ;;
	1) fail "wait_lines: process $pid exited before $file had $count lines like '$ere': $(tail -n 5 "$file" 2>/dev/null)" ;;
	*) fail "wait_lines: $file has not $count lines like '$ere' after $timeout s: $(tail -n 5 "$file" 2>/dev/null)" ;;
	esac
	return 1
}

# --- content checks ----------------------------------------------------------

# Drop a block device's page cache, so buffered reads see O_DIRECT writes
# made through another path (e.g. the loop's backing file).
_helper_flush_bdev() {
	[[ -b $1 ]] && blockdev --flushbufs "$1" 2>/dev/null
	return 0
}

# sha_of PATH [OFFSET LEN] -> sha256 hex of the whole file or of the byte range
sha_of() {
	local path=$1 off len
	_helper_flush_bdev "$path"
	if [[ $# -ge 3 ]]; then
		off=$(bytes_of "$2") && len=$(bytes_of "$3") || return 1
		dd if="$path" iflag=skip_bytes,count_bytes skip="$off" count="$len" \
			bs=1M status=none | sha256sum | cut -d' ' -f1
	else
		sha256sum <"$path" | cut -d' ' -f1
	fi
}

# assert_zero_range PATH OFFSET LEN
assert_zero_range() {
	local path=$1 off len out
	off=$(bytes_of "$2") && len=$(bytes_of "$3") || return 1
	_helper_flush_bdev "$path"
	if ! out=$(cmp -n "$len" -i "$off:0" "$path" /dev/zero 2>&1); then
		fail "assert_zero_range $path $off+$len: ${out:-not zero}"
	fi
}

# assert_same_range A AOFF B BOFF LEN
assert_same_range() {
	local a=$1 aoff b=$3 boff len out
	aoff=$(bytes_of "$2") && boff=$(bytes_of "$4") && len=$(bytes_of "$5") || return 1
	_helper_flush_bdev "$a"
	_helper_flush_bdev "$b"
	if ! out=$(cmp -n "$len" -i "$aoff:$boff" "$a" "$b" 2>&1); then
		fail "assert_same_range $a:$aoff $b:$boff len $len: ${out:-differ}"
	fi
}

# json_get EXPR: evaluate python EXPR with `d` = JSON from stdin.  Strings are
# printed raw, None as null, booleans as true/false, lists/dicts as JSON.
json_get() {
	python3 -c '
import json, sys
d = json.load(sys.stdin)
v = eval(sys.argv[1], {"d": d, "json": json})
if v is None:
    print("null")
elif isinstance(v, bool):
    print("true" if v else "false")
elif isinstance(v, (dict, list)):
    print(json.dumps(v, sort_keys=True))
else:
    print(v)
' "$1"
}

# rand_loop VAR SIZE: a loop device over SIZE random bytes; a copy of the
# original bytes is left in ${VAR}_ORIG
rand_loop() {
	local _img
	_img=$(mktemp "$SCRATCH/img.XXXXXX")
	make_file "$_img" "$2" random
	cp "$_img" "$_img.orig"
	make_loop_on "$_img" "$1"
	printf -v "${1}_ORIG" '%s' "$_img.orig"
}

# kc CODE ARGS...: run kcopy --json ARGS, expecting exit CODE; the JSON
# report in $output, the human report in $stderr
# start_kcopy ARGS...: kcopy in the background, stdout in $OUT, stderr in
# $ERR, pid in $KPID (killed at the test's end if still running)
start_kcopy() {
	OUT="$SCRATCH/out.$RANDOM" ERR="$SCRATCH/err.$RANDOM"
	"$KCOPY" "$@" >"$OUT" 2>"$ERR" 3>&- &
	KPID=$!
	register_cleanup pid "$KPID"
}

# finish_kcopy: wait for $KPID, its exit status in $RC; a kcopy still
# running after KCOPY_WAIT_S (120) s is killed and fails the test
finish_kcopy() {
	local w=0

	_helper_wait_for "$KPID" "${KCOPY_WAIT_S:-120}" false || w=$?
	if ((w == 2)); then
		kill -KILL "$KPID" 2>/dev/null
		wait "$KPID" 2>/dev/null
		fail "kcopy still running after ${KCOPY_WAIT_S:-120} s: $(cat "$ERR")"
		return 1
	fi
	RC=0
	wait "$KPID" 2>/dev/null || RC=$? # (no "Killed" job notice)
}

# zero_range FILE OFF LEN / patch_range FILE FROM OFF LEN (FROM's bytes there)
zero_range() {
	dd if=/dev/zero of="$1" bs=64K seek="$2" count="$3" oflag=seek_bytes \
		iflag=count_bytes conv=notrunc status=none || fail "zero_range $*"
}
patch_range() {
	dd if="$2" of="$1" bs=64K skip="$3" seek="$3" count="$4" \
		iflag=skip_bytes,count_bytes oflag=seek_bytes conv=notrunc status=none ||
		fail "patch_range $*"
}

kc() {
	local code=$1
	shift
	run "-$code" --separate-stderr "$KCOPY" --json "$@"
}

# jq_ EXPR: a python expression on the JSON report `d` in $output
jq_() {
	json_get "$1" <<<"$output"
}

# json_expect EXPR...: every python EXPR is true, with d = the JSON report in
# $output (from `run --separate-stderr`).
json_expect() {
	printf '%s\n' "$output" | "${PY:-python3}" -c '
import json, sys
try:
    d = json.load(sys.stdin)
except ValueError as e:
    sys.exit("not JSON (%s)" % e)
bad = [e for e in sys.argv[1:] if not eval(e, {"d": d})]
if bad:
    sys.exit("false: %s\nin %s" % ("; ".join(bad), json.dumps(d)))
' "$@" || fail "json_expect"
}
