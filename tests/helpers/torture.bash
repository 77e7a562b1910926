# shellcheck shell=bash
#
# torture.bash - helpers for tests/torture.bats (loaded after test_helper).
#
# The torture test runs many scenarios inside one bats test, so what a
# scenario sets up (faultfs daemons, loop devices, kcopy processes) is not put
# in test_helper's cleanup registry: a registry entry lives until the end of
# the test, and by then a PID or a loop device number may belong to someone
# else.  These helpers keep their own list of what is live
# ($BATS_TEST_TMPDIR/.torture-live), undo all of it at the end of every
# scenario (torture_cleanup), and hook torture_cleanup into the registry once,
# so that a test that stops half-way (a failed helper) still releases
# everything.  A process is only ever signalled after checking, in
# /proc/PID/cmdline, that it is still the program we started; a loop device is
# only detached if its backing file is still ours.
#
# Functions
#   tt_srand SEED / tt_rand N (-> TT_R) / tt_pct P (true P% of the time)
#       a xorshift32 PRNG in bash arithmetic: the same draws for a seed on
#       every bash version (bash's own RANDOM changed between versions)
#   tt_gen FILE SIZE SEED...         SIZE deterministic random bytes
#   tt_mount_faultfs VAR DIR NAME IMAGE FAULTS
#       faultfs over IMAGE, exposed as DIR/NAME.mnt/NAME (VAR), with the fault
#       set read from the file FAULTS at every open (faultfs --faults)
#   tt_set_faults FAULTS WORD...     replace the fault set (atomically)
#   tt_loop VAR FILE                 a --direct-io=on loop device over FILE
#   tt_start_kcopy OUT ERR ARGS...   kcopy in the background (-> TT_KPID)
#   tt_wait_ready PID                until kcopy catches SIGINT (SigCgt bit 1)
#   tt_signal SIG PID                signal kcopy PID if it is still kcopy
#   tt_wait_kcopy PID                reap it (-> TT_RC), kill -9 it if hung
#   torture_cleanup                  release everything on the live list

TT_LIVE="${BATS_TEST_TMPDIR:-/nonexistent}/.torture-live"

# The python interpreter itself, not a version manager's shim in front of it,
# which takes a third of a second to start.
TT_PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || TT_PY=
[[ -n $TT_PY && -x $TT_PY ]] || TT_PY=python3

# --- the PRNG ----------------------------------------------------------------

tt_srand() { # SEED
	local x=$((($1 * 2654435761 + 0x9e3779b9) & 0xffffffff)) i
	[[ $x -ne 0 ]] || x=1
	_TT_X=$x
	for ((i = 0; i < 8; i++)); do tt_rand 2; done
}

tt_rand() { # N -> TT_R in [0, N)
	local x=$_TT_X
	x=$((x ^ ((x << 13) & 0xffffffff)))
	x=$((x ^ (x >> 17)))
	x=$((x ^ ((x << 5) & 0xffffffff)))
	_TT_X=$x
	TT_R=$((x % $1))
}

tt_pct() { # P: true with probability P %
	tt_rand 100
	[[ $TT_R -lt $1 ]]
}

# tt_gen FILE SIZE SEED [FILE SIZE SEED...]: SIZE bytes that depend only on
# SEED, in each FILE
tt_gen() {
	"$TT_PY" -S -c '
import random, sys
a = sys.argv[1:]
for i in range(0, len(a), 3):
    path, n, seed = a[i], int(a[i + 1]), int(a[i + 2])
    r = random.Random(seed)
    with open(path, "wb") as f:
        while n > 0:
            k = min(n, 1 << 20)
            f.write(r.randbytes(k))
            n -= k
' "$@" || fail "tt_gen $*"
}

# --- the live list -------------------------------------------------------------

_tt_live_add() { # KIND A B
	local IFS=$'\t'
	printf '%s\n' "$*" >>"$TT_LIVE"
}

# PID is running and not a zombie (without a fork: it is polled)
_tt_alive() {
	local s
	{ read -r s <"/proc/$1/stat"; } 2>/dev/null || return 1
	s=${s##*) }
	[[ ${s:0:1} != Z ]]
}

# the first word of /proc/PID/cmdline is PROG
_tt_is() { # PID PROG
	local c=
	[[ -r /proc/$1/cmdline ]] || return 1
	IFS= read -r -d '' c <"/proc/$1/cmdline" 2>/dev/null || true
	[[ $c == "$2" ]]
}

# stop our child PID (which runs PROG): wait GRACE seconds, then TERM, KILL
_tt_stop() { # PID PROG GRACE
	local pid=$1 prog=$2 grace=$3 i sig
	for sig in "" TERM KILL; do
		if [[ -n $sig ]] && _tt_is "$pid" "$prog"; then
			kill -s "$sig" "$pid" 2>/dev/null || true
		fi
		for ((i = 0; i < grace * 20; i++)); do
			_tt_alive "$pid" || break 2
			sleep 0.05
		done
		grace=2
	done
	wait "$pid" 2>/dev/null || true
	! _tt_alive "$pid" || ! _tt_is "$pid" "$prog"
}

_tt_detach() { # DEV FILE: only if DEV is still a loop over FILE
	local dev=$1 file=$2 b f=/sys/block/${1##*/}/loop/backing_file i
	for ((i = 0; i < 50; i++)); do
		[[ -r $f ]] || return 0
		b=$(<"$f") 2>/dev/null || return 0
		[[ ${b% (deleted)} == "$file" ]] || return 0
		losetup -d "$dev" 2>/dev/null || true
		sleep 0.05
	done
	_helper_warn "torture: could not detach $dev"
	return 1
}

# torture_cleanup: kcopy processes, loop devices, faultfs mounts, newest first
torture_cleanup() {
	local kind a b rc=0
	[[ -f $TT_LIVE ]] || return 0
	while IFS=$'\t' read -r -u 9 kind a b; do
		case $kind in
		kcopy) _tt_stop "$a" "$KCOPY" 0 || rc=1 ;;
		loop) _tt_detach "$a" "$b" || rc=1 ;;
		fuse)
			_helper_umount "$a" fuse || rc=1
			_tt_stop "$b" "$FAULTFS" 5 || rc=1
			;;
		esac
	done 9< <(tac "$TT_LIVE")
	: >"$TT_LIVE"
	return $rc
}

# --- faultfs, loops ------------------------------------------------------------

tt_set_faults() { # FAULTS WORD...
	local f=$1
	shift
	printf '%s\n' "$*" >"$f.new" && mv -f "$f.new" "$f" || fail "tt_set_faults $f"
}

# tt_mount_faultfs VAR DIR NAME IMAGE FAULTS
tt_mount_faultfs() {
	local _t_var=$1 _t_mnt="$2/$3.mnt" _t_name=$3 _t_img=$4 _t_faults=$5 _t_pid _t_i
	[[ -x $FAULTFS ]] || { fail "faultfs not built: $FAULTFS (run make helpers)"; return 1; }
	mkdir -p "$_t_mnt"
	# fd 3 closed, or bats waits for the daemon at the end of the test
	"$FAULTFS" -f --image="$_t_img" --name="$_t_name" --faults="$_t_faults" "$_t_mnt" \
		>"$_t_mnt.err" 2>&1 3>&- &
	_t_pid=$!
	_tt_live_add fuse "$_t_mnt" "$_t_pid"
	for ((_t_i = 0; _t_i < 200; _t_i++)); do
		mountpoint -q "$_t_mnt" && break
		_tt_alive "$_t_pid" || break
		sleep 0.05
	done
	[[ -f $_t_mnt/$_t_name ]] ||
		{ fail "faultfs did not mount $_t_mnt: $(cat "$_t_mnt.err")"; return 1; }
	printf -v "$_t_var" '%s' "$_t_mnt/$_t_name"
}

tt_loop() { # VAR FILE
	local _t_dev
	_t_dev=$(losetup -f --show --direct-io=on "$2") || { fail "losetup $2 failed"; return 1; }
	_tt_live_add loop "$_t_dev" "$2"
	printf -v "$1" '%s' "$_t_dev"
}

# --- kcopy -----------------------------------------------------------------------

tt_start_kcopy() { # OUT ERR ARGS...
	local out=$1 err=$2
	shift 2
	"$KCOPY" "$@" >"$out" 2>"$err" 3>&- &
	TT_KPID=$!
	_tt_live_add kcopy "$TT_KPID"
}

# tt_wait_ready PID: 0 once PID catches SIGINT (its handlers are in place),
# 1 if it ended (or never got there within ~15 s)
tt_wait_ready() {
	local pid=$1 k v i
	for ((i = 0; i < 3000; i++)); do
		[[ -r /proc/$pid/status ]] || return 1
		while read -r k v; do
			case $k in
			State:) [[ $v != Z* ]] || return 1 ;;
			SigCgt:)
				if (((16#$v & 2) != 0)); then return 0; fi
				break
				;;
			esac
		done <"/proc/$pid/status" 2>/dev/null || return 1
		sleep 0.005
	done
	return 1
}

tt_signal() { # SIG PID
	_tt_is "$2" "$KCOPY" && kill -s "$1" "$2" 2>/dev/null
	return 0
}

# tt_wait_kcopy PID: TT_RC = its exit status (137 after kill -9); TT_HUNG=1
# if it had to be killed after TT_HANG_SECONDS (a watchdog for hangs only)
tt_wait_kcopy() {
	local pid=$1 i
	TT_HUNG=0
	for ((i = 0; i < ${TT_HANG_SECONDS:-120} * 50; i++)); do
		_tt_alive "$pid" || break
		sleep 0.02
	done
	if _tt_alive "$pid"; then
		TT_HUNG=1
		tt_signal KILL "$pid"
	fi
	TT_RC=0
	wait "$pid" 2>/dev/null || TT_RC=$?
}
