# shellcheck shell=bash
#
# nbd.bash - NBD servers for kcopy's bats tests (tests/nbd.bats).  Load it
# after test_helper (`load test_helper`, then `load helpers/nbd`): it uses
# register_cleanup, _helper_wait_for and SCRATCH from there.
#
# Every server listens on a Unix socket in SCRATCH, runs in the foreground as
# a child of the test (its pid known, never looked up by name), and is
# registered for cleanup before anything else can fail, so helper_teardown
# kills it whatever the test did.  Its stdout and stderr go to a log file
# beside the socket (shown when it fails to start).
#
# Functions (they set variables or register cleanup: never call them through
# `run`; all fail the test through bats-support's `fail`):
#   require_nbd_tools                      fail (CI=true) or skip without nbdkit,
#                                          nbdcopy, nbdinfo, qemu-nbd, qemu-img
#   start_nbdkit VAR [NBDKIT-ARGS...]      nbdkit ARGS on a fresh socket; VAR = its
#                                          URI (nbd+unix:///?socket=SOCK); also
#                                          VAR_PID, VAR_SOCK, VAR_LOG
#                                          (NBD_SOCKET=SOCK start_nbdkit ...: on
#                                          SOCK, e.g. to restart a killed server
#                                          under the same URI)
#   start_qemu_nbd VAR [QEMU-NBD-ARGS...]  the same for qemu-nbd (-t: persistent,
#                                          -e 16: up to 16 clients at once)
#   start_nbd_faulty VAR FILE OFF+LEN...   nbdkit eval plugin serving FILE (its size,
#                                          writable) whose writes touching any
#                                          OFF+LEN range fail with EIO (nothing of
#                                          that request is written); reads never fail
#   stop_nbd VAR [SIGNAL]                  kill VAR's server (default KILL), reap it
#   nbd_ddrescue_map MAPFILE SIZE OFF+LEN...
#                                          a GNU ddrescue mapfile for a SIZE-byte
#                                          image: the ranges bad ('-'), the rest
#                                          rescued ('+'), for nbdkit's ddrescue
#                                          filter (reads there fail with EIO)
#   nbd_read URI FILE                      the whole export into FILE (replaced)
#   nbd_write FILE URI                     FILE into the export from offset 0
#   nbd_size URI                           -> the export's size in bytes
#   nbd_cmp URI FILE [LEN]                 the export (its first LEN bytes) equals
#                                          FILE (its first LEN bytes; default: the
#                                          whole export and the whole FILE)
#   nbd_max_conns LOGFILE                  -> the most connections open at once, from
#                                          the log of nbdkit's log filter
#                                          (--filter=log ... logfile=LOGFILE)
#   nbd_busy_conns LOGFILE                 -> how many connections had requests
#   nbd_pidfile_cleanup PIDFILE            for a server kcopy starts itself
#                                          (`[ nbdkit -P PIDFILE ... ]`): kill the
#                                          pid in PIDFILE at teardown if it lives on
#   nbd_pidfile_gone PIDFILE [TIMEOUT_S]   the server of PIDFILE has exited (default
#                                          10 s), i.e. kcopy did not leak it

NBD_TOOLS=(nbdkit nbdcopy nbdinfo qemu-nbd qemu-img)

require_nbd_tools() {
	local t
	for t in "${NBD_TOOLS[@]}"; do
		if ! command -v "$t" >/dev/null 2>&1; then
			if [[ ${CI:-} == true ]]; then
				fail "needs $t (scripts/install-deps)"
			else
				skip "needs $t (scripts/install-deps)"
			fi
		fi
	done
}

_NBD_SEQ=0

# _nbd_new_socket: a fresh socket path in SCRATCH -> _NBD_SOCK
_nbd_new_socket() {
	if [[ -n ${NBD_SOCKET:-} ]]; then
		_NBD_SOCK=$NBD_SOCKET
	else
		_NBD_SEQ=$((_NBD_SEQ + 1))
		_NBD_SOCK="$SCRATCH/nbd$_NBD_SEQ.sock"
	fi
	# sun_path is 108 bytes with its NUL
	((${#_NBD_SOCK} < 108)) ||
		{ fail "socket path too long for AF_UNIX (${#_NBD_SOCK}): $_NBD_SOCK"; return 1; }
	rm -f "$_NBD_SOCK" "$_NBD_SOCK.pid"
}

nbd_uri() { # SOCK
	printf 'nbd+unix:///?socket=%s\n' "$1"
}

_nbd_answers() { # URI (any export name: list them)
	nbdinfo --list "$1" >/dev/null 2>&1
}

# _nbd_started VAR KIND PID: wait until the server answers, then set the
# caller's variables
_nbd_started() {
	local _n_var=$1 _n_kind=$2 _n_pid=$3 _n_uri _n_r=0
	_n_uri=$(nbd_uri "$_NBD_SOCK")
	# a loaded machine can take seconds to start it
	_helper_wait_for "$_n_pid" 60 _nbd_answers "$_n_uri" || _n_r=$?
	case $_n_r in
	0) ;;
	1) fail "$_n_kind exited at start: $(cat "$_NBD_SOCK.log")"; return 1 ;;
	*) fail "$_n_kind does not answer on $_NBD_SOCK after 60 s: $(cat "$_NBD_SOCK.log")"; return 1 ;;
	esac
	printf -v "$_n_var" '%s' "$_n_uri"
	printf -v "${_n_var}_PID" '%s' "$_n_pid"
	printf -v "${_n_var}_SOCK" '%s' "$_NBD_SOCK"
	printf -v "${_n_var}_LOG" '%s' "$_NBD_SOCK.log"
}

# start_nbdkit VAR [NBDKIT-ARGS...]
# e.g. start_nbdkit D memory 16M; start_nbdkit S -r file "$img";
#      start_nbdkit D --filter=delay memory 16M wdelay=50ms
start_nbdkit() {
	local _n_var=$1 _n_pid
	shift
	_nbd_new_socket || return 1
	# fd 3 closed, or bats waits for the server at the end of the test
	nbdkit -f -U "$_NBD_SOCK" -P "$_NBD_SOCK.pid" "$@" >"$_NBD_SOCK.log" 2>&1 3>&- &
	_n_pid=$!
	register_cleanup pid "$_n_pid"
	_nbd_started "$_n_var" nbdkit "$_n_pid"
}

# start_qemu_nbd VAR [QEMU-NBD-ARGS...]  e.g. start_qemu_nbd D -f qcow2 out.qcow2
start_qemu_nbd() {
	local _n_var=$1 _n_pid
	shift
	_nbd_new_socket || return 1
	qemu-nbd -k "$_NBD_SOCK" --pid-file="$_NBD_SOCK.pid" -t -e 16 "$@" \
		>"$_NBD_SOCK.log" 2>&1 3>&- &
	_n_pid=$!
	register_cleanup pid "$_n_pid"
	_nbd_started "$_n_var" qemu-nbd "$_n_pid"
}

# start_nbd_faulty VAR FILE OFF+LEN...
start_nbd_faulty() {
	local _n_var=$1 _n_file=$2 _n_r _n_o _n_l _n_cond=false
	shift 2
	_n_file=$(_helper_abspath "$_n_file")
	[[ -f $_n_file ]] || { fail "start_nbd_faulty: no file $_n_file"; return 1; }
	for _n_r in "$@"; do
		_n_o=$(bytes_of "${_n_r%+*}") && _n_l=$(bytes_of "${_n_r#*+}") || return 1
		# the request [$4, $4+$3) meets [o, o+l)
		_n_cond+=" || { [ \$4 -lt $((_n_o + _n_l)) ] && [ \$((\$4 + \$3)) -gt $_n_o ]; }"
	done
	# (the scripts are run by /bin/sh with: method handle count offset [flags])
	start_nbdkit "$_n_var" eval \
		thread_model='echo parallel' \
		get_size="stat -L -c %s '$_n_file'" \
		pread="exec dd if='$_n_file' iflag=skip_bytes,count_bytes skip=\$4 count=\$3 bs=64K status=none" \
		can_write='exit 0' can_flush='exit 0' can_multi_conn='exit 0' \
		flush="sync '$_n_file'" \
		pwrite="if $_n_cond; then cat >/dev/null; echo 'EIO injected write fault' >&2; exit 1; fi
exec dd of='$_n_file' oflag=seek_bytes seek=\$4 conv=notrunc bs=64K status=none"
}

# stop_nbd VAR [SIGNAL]
stop_nbd() {
	local _n_pidv="${1}_PID" _n_sig=${2:-KILL} i
	local _n_pid=${!_n_pidv}
	[[ -n $_n_pid ]] || { fail "stop_nbd: no ${_n_pidv}"; return 1; }
	kill "-$_n_sig" "$_n_pid" 2>/dev/null || true
	for ((i = 0; i < 200; i++)); do
		_helper_pid_alive "$_n_pid" || break
		sleep 0.05
	done
	wait "$_n_pid" 2>/dev/null || true
	! _helper_pid_alive "$_n_pid" || { fail "stop_nbd: $_n_pid still running"; return 1; }
}

# nbd_ddrescue_map MAPFILE SIZE OFF+LEN...  (ranges ascending, not overlapping)
nbd_ddrescue_map() {
	local map=$1 size pos=0 r o l
	size=$(bytes_of "$2") || return 1
	shift 2
	{
		echo "# Mapfile. Created by kcopy's tests/helpers/nbd.bash"
		echo "# current_pos  current_status  current_pass"
		echo "0x00000000     +               1"
		echo "#      pos        size  status"
		for r in "$@"; do
			o=$(bytes_of "${r%+*}") && l=$(bytes_of "${r#*+}") || return 1
			((o >= pos)) || { fail "nbd_ddrescue_map: ranges not ascending"; return 1; }
			((o > pos)) && printf '0x%08X  0x%08X  +\n' "$pos" $((o - pos))
			printf '0x%08X  0x%08X  -\n' "$o" "$l"
			pos=$((o + l))
		done
		((size > pos)) && printf '0x%08X  0x%08X  +\n' "$pos" $((size - pos))
	} >"$map" || fail "nbd_ddrescue_map: cannot write $map"
}

# nbd_read URI FILE
nbd_read() {
	local out
	rm -f "$2"
	out=$(nbdcopy -- "$1" "$2" 2>&1) || { fail "nbd_read $1: $out"; return 1; }
}

# nbd_write FILE URI
nbd_write() {
	local out
	out=$(nbdcopy -- "$1" "$2" 2>&1) || { fail "nbd_write $1 -> $2: $out"; return 1; }
}

# nbd_size URI
nbd_size() {
	nbdinfo --size "$1" || fail "nbd_size $1"
}

# nbd_cmp URI FILE [LEN]
nbd_cmp() {
	local uri=$1 file=$2 tmp out
	tmp=$(mktemp "$SCRATCH/nbd-read.XXXXXX") || { fail "nbd_cmp: mktemp"; return 1; }
	nbd_read "$uri" "$tmp" || return 1
	if [[ $# -ge 3 ]]; then
		out=$(cmp -n "$(bytes_of "$3")" "$tmp" "$file" 2>&1) ||
			{ fail "export $uri and $file differ (first $3): $out"; return 1; }
	else
		out=$(cmp "$tmp" "$file" 2>&1) || { fail "export $uri and $file differ: $out"; return 1; }
	fi
	rm -f "$tmp"
}

# _nbd_kill_pidfile PIDFILE: teardown of a server kcopy started
_nbd_kill_pidfile() {
	local pid
	[[ -s $1 ]] || return 0
	pid=$(<"$1")
	[[ $pid =~ ^[0-9]+$ ]] || return 0
	if _helper_pid_alive "$pid"; then
		_helper_warn "server $pid of $1 still running at teardown: killed"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	return 0
}

nbd_pidfile_cleanup() { # PIDFILE
	rm -f "$1"
	register_cleanup cmd "_nbd_kill_pidfile '$1'"
}

_nbd_pidfile_dead() { # PIDFILE
	local pid
	[[ -s $1 ]] || return 1
	pid=$(<"$1")
	! _helper_pid_alive "$pid"
}

# nbd_pidfile_gone PIDFILE [TIMEOUT_S]
nbd_pidfile_gone() {
	local pf=$1 t=${2:-10} i
	[[ -s $pf ]] || { fail "nbd_pidfile_gone: the server never wrote $pf"; return 1; }
	for ((i = 0; i < t * 20; i++)); do
		_nbd_pidfile_dead "$pf" && return 0
		sleep 0.05
	done
	fail "the server kcopy started ($(<"$pf")) still runs ${t} s after kcopy exited"
}

# nbd_max_conns LOGFILE
nbd_max_conns() {
	awk '$4 == "Connect" { n++; if (n > m) m = n } $4 == "Disconnect" { n-- }
		END { print m + 0 }' "$1"
}

# nbd_busy_conns LOGFILE: connections whose Disconnect line counts transactions > 0
nbd_busy_conns() {
	awk '$4 == "Disconnect" { for (i = 5; i <= NF; i++) if ($i ~ /^transactions=[1-9]/) n++ }
		END { print n + 0 }' "$1"
}
