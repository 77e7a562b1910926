#!/usr/bin/env bats
# NBD regions (SPEC §6, issue 15): nbd+unix:// URIs as sources and
# destinations, with region suffixes; servers kcopy starts itself
# (`[ CMD ... ]`, socket activation); the refusals before any write (no path
# part, cannot connect, read-only, too small, signature); server errors as
# exact failed ranges; a server killed mid-copy; resume after kill -9 and
# SIGINT; --zero and --sparse through WRITE_ZEROES and block status;
# --verify, flush, --connections, job files.
#
# The servers (nbdkit, qemu-nbd) listen on Unix sockets in the test's
# scratch dir; tests/helpers/nbd.bash starts them, reads exports back with
# nbdcopy, and kills them at teardown whatever happened.  A copy that must
# still be running when something is killed is made long by --rate, never by
# assuming a speed (as in signals.bats and map.bats).

bats_require_minimum_version 1.5.0

load test_helper
load helpers/nbd

MiB=$((1024 * 1024))
KiB=1024
EIO_TEXT="Input/output error"

setup() {
	require_root
	require_nbd_tools
	SRC="$SCRATCH/src.img"
	make_file "$SRC" 4M random
}

# --- helpers -------------------------------------------------------------------

# Every kcopy run is bounded: a kcopy that hangs (say, waiting for a server
# that waits for it) fails its test in $KC_TIMEOUT s instead of stalling
# the suite.
KC_TIMEOUT=${KC_TIMEOUT:-30}

# kc CODE ARGS...: as test_helper's, under the timeout
kc() {
	local code=$1
	shift
	run "-$code" --separate-stderr timeout -k 5 "$KC_TIMEOUT" "$KCOPY" --json "$@"
}

# start_kcopy, finish_kcopy (test_helper.bash): a kcopy still running after
# KC_TIMEOUT s fails its test
KCOPY_WAIT_S=$KC_TIMEOUT

# refused [--mentions TEXT]... [--server-says] [--] ARGS...: kcopy ARGS exits
# 2 with exactly one stderr line, starting "kcopy: " and containing every
# TEXT; no file in SCRATCH is created, removed or changed (servers' exports
# are checked by the callers).  --server-says: a server kcopy started may
# have printed lines of its own too (its stderr is kcopy's); still exactly
# one line is kcopy's
# shellcheck disable=SC2154 # $stderr and $stderr_lines are set by `run --separate-stderr`
refused() {
	local -a must=() ours=()
	local before after m l noise=0
	while [[ $# -gt 0 ]]; do
		case $1 in
		--mentions) must+=("$2"); shift 2 ;;
		--server-says) noise=1; shift ;;
		--) shift; break ;;
		*) break ;;
		esac
	done
	before=$(_scratch_state)
	run -2 --separate-stderr timeout -k 5 "$KC_TIMEOUT" "$KCOPY" "$@"
	if ((noise)); then
		for l in "${stderr_lines[@]}"; do
			[[ $l == "kcopy: "* ]] && ours+=("$l")
		done
		[ "${#ours[@]}" -eq 1 ] ||
			fail "kcopy $*: expected one 'kcopy: ' line on stderr, got ${#ours[@]}: $stderr"
	else
		[ "${#stderr_lines[@]}" -eq 1 ] ||
			fail "kcopy $*: expected one line on stderr, got ${#stderr_lines[@]}: $stderr"
		[[ ${stderr_lines[0]} == "kcopy: "* ]] ||
			fail "kcopy $*: stderr does not start with 'kcopy: ': $stderr"
	fi
	for m in "${must[@]}"; do
		[[ $stderr == *"$m"* ]] || fail "kcopy $*: message does not mention '$m': $stderr"
	done
	after=$(_scratch_state)
	[ "$before" = "$after" ] ||
		fail "kcopy $*: SCRATCH changed: $(diff <(echo "$before") <(echo "$after"))"
}

# names and checksums of SCRATCH's regular files (not the servers' logs)
_scratch_state() {
	local f
	for f in "$SCRATCH"/* "$SCRATCH"/.[!.]*; do
		[[ -e $f && $f != *.log ]] || continue
		if [[ -f $f ]]; then
			printf '%s %s\n' "${f##*/}" "$(sha256sum <"$f" | cut -d' ' -f1)"
		else
			printf '%s\n' "${f##*/}"
		fi
	done
}

# errors_are [JOB=N] REGION:INDEX:OFF:LEN[:TEXT] ...: the job's JSON errors
# are exactly these ranges (any order); TEXT defaults to $EIO_TEXT
errors_are() {
	local job=0 out
	if [[ ${1:-} == JOB=* ]]; then
		job=${1#JOB=}
		shift
	fi
	out=$(python3 -c '
import json, sys
d = json.loads(sys.argv[1])
job = int(sys.argv[2])
want = []
for a in sys.argv[4:]:
    p = a.split(":", 4)
    r, i, o, l = p[:4]
    want.append({"region": r, "index": None if i == "null" else int(i),
                 "offset": int(o), "length": int(l),
                 "error": p[4] if len(p) > 4 else sys.argv[3]})
got = d["jobs"][job]["errors"]
key = lambda e: json.dumps(e, sort_keys=True)
if sorted(got, key=key) != sorted(want, key=key):
    print("errors of job %d:\n  got  %s\n  want %s" % (job, json.dumps(got), json.dumps(want)))
    sys.exit(1)
' "$output" "$job" "$EIO_TEXT" "$@" 2>&1) || fail "$out"
}

# human_has TEXT...: a line of the human report ($stderr) contains every TEXT
human_has() {
	local l t ok
	while IFS= read -r l; do
		ok=1
		for t in "$@"; do [[ $l == *"$t"* ]] || { ok=0; break; }; done
		((ok)) && return 0
	done <<<"$stderr"
	fail "no line with all of [$*] in:
$stderr"
}


# filled_memory VAR SIZE [NBDKIT-ARG...]: nbdkit memory SIZE holding random
# bytes, kept in $SCRATCH/VAR.orig; ARGs starting with '-' (--filter=...) go
# before the plugin, the others (KEY=VALUE) after it
filled_memory() {
	local _f_var=$1 _f_size=$2 _f_a
	local -a _f_opts=() _f_params=()
	shift 2
	for _f_a in "$@"; do
		if [[ $_f_a == -* ]]; then _f_opts+=("$_f_a"); else _f_params+=("$_f_a"); fi
	done
	make_file "$SCRATCH/$_f_var.orig" "$_f_size" random
	start_nbdkit "$_f_var" "${_f_opts[@]}" memory "$_f_size" "${_f_params[@]}"
	nbd_write "$SCRATCH/$_f_var.orig" "${!_f_var}"
}

# export_sha URI: sha256 of the whole export
export_sha() {
	nbd_read "$1" "$SCRATCH/sha.tmp" && sha256sum <"$SCRATCH/sha.tmp" | cut -d' ' -f1
	rm -f "$SCRATCH/sha.tmp"
}

# --- copies ---------------------------------------------------------------------

@test "file -> NBD, NBD -> file, NBD -> NBD: byte-exact, URIs in the reports" {
	start_nbdkit D memory 4M
	start_nbdkit E memory 4M
	kc 0 "$SRC" "$D"
	json_expect "d['status'] == 'ok'" "d['jobs'][0]['bytes'] == $((4 * MiB))" \
		"d['jobs'][0]['write_err'] == 0 and d['jobs'][0]['read_err'] == 0" \
		"'$D_SOCK' in d['jobs'][0]['dests'][0]['path']"
	[[ $stderr == *"$D_SOCK"* ]] || fail "the human report does not name $D: $stderr"
	nbd_cmp "$D" "$SRC"
	kc 0 "$D" "$SCRATCH/back.img"
	json_expect "'$D_SOCK' in d['jobs'][0]['source']['path']" \
		"d['jobs'][0]['source']['length'] == $((4 * MiB))"
	cmp "$SRC" "$SCRATCH/back.img"
	kc 0 "$D" "$E"
	nbd_cmp "$E" "$SRC"
}

@test "region suffixes on URIs: :OFFSET+LENGTH, :OFFSET and :+LENGTH, on sources and destinations" {
	filled_memory D 4M
	cp "$SCRATCH/D.orig" "$SCRATCH/want"
	# 2 MiB from the file's 1 MiB into the export at 512 KiB
	kc 0 "$SRC:1M+2M" "$D:512K"
	json_expect "d['jobs'][0]['bytes'] == $((2 * MiB))" \
		"d['jobs'][0]['dests'][0]['offset'] == $((512 * KiB))"
	dd if="$SRC" of="$SCRATCH/want" bs=64K skip=$MiB seek=$((512 * KiB)) count=$((2 * MiB)) \
		iflag=skip_bytes,count_bytes oflag=seek_bytes conv=notrunc status=none
	nbd_cmp "$D" "$SCRATCH/want"
	# an NBD source region with OFFSET+LENGTH, and with +LENGTH only
	kc 0 "$D:512K+2M" "$SCRATCH/mid"
	json_expect "d['jobs'][0]['source']['offset'] == $((512 * KiB))" \
		"d['jobs'][0]['source']['length'] == $((2 * MiB))"
	assert_same_range "$SCRATCH/mid" 0 "$SRC" 1M 2M
	[ "$(stat -c %s "$SCRATCH/mid")" -eq $((2 * MiB)) ]
	kc 0 "$D:+1M" "$SCRATCH/head"
	cmp "$SCRATCH/head" <(head -c $MiB "$SCRATCH/want")
	# a source URI with only :OFFSET runs to the export's end
	kc 0 "$D:3M" "$SCRATCH/tail"
	[ "$(stat -c %s "$SCRATCH/tail")" -eq $MiB ]
	assert_same_range "$SCRATCH/tail" 0 "$SCRATCH/want" 3M 1M
}

@test "unaligned lengths (100 bytes, 1M+512) into NBD exports; the rest untouched" {
	filled_memory D 4M
	make_file "$SCRATCH/s100" 100 random
	make_file "$SCRATCH/s1m" $((MiB + 512)) random
	kc 0 "$SCRATCH/s100" "$D"
	json_expect "d['jobs'][0]['bytes'] == 100"
	cp "$SCRATCH/D.orig" "$SCRATCH/want"
	dd if="$SCRATCH/s100" of="$SCRATCH/want" conv=notrunc status=none
	nbd_cmp "$D" "$SCRATCH/want"
	kc 0 "$SCRATCH/s1m" "$D:2M"
	json_expect "d['jobs'][0]['bytes'] == $((MiB + 512))"
	dd if="$SCRATCH/s1m" of="$SCRATCH/want" bs=512 seek=4096 conv=notrunc status=none
	nbd_cmp "$D" "$SCRATCH/want"
	# and back out of the export into a new file
	kc 0 "$D:2M+$((MiB + 512))" "$SCRATCH/back"
	cmp "$SCRATCH/back" "$SCRATCH/s1m"
}

@test "one copy to a file, a loop device and two NBD exports: all equal to the source" {
	make_loop L 4M
	start_nbdkit D1 memory 4M
	make_file "$SCRATCH/q.img" 4M zero
	start_qemu_nbd D2 -f raw "$SCRATCH/q.img"
	kc 0 "$SRC" "$SCRATCH/out.img" "$D1" "$L" "$D2"
	json_expect "d['status'] == 'ok'" "len(d['jobs'][0]['dests']) == 4" \
		"d['jobs'][0]['write_err'] == 0" "d['jobs'][0]['bytes_data'] == $((4 * MiB))"
	cmp "$SRC" "$SCRATCH/out.img"
	assert_same_range "$L" 0 "$SRC" 0 4M
	nbd_cmp "$D1" "$SRC"
	nbd_cmp "$D2" "$SRC"
	cmp "$SRC" "$SCRATCH/q.img"
}

@test "qemu-nbd on a raw file over a Unix socket as destination, at an offset" {
	make_file "$SCRATCH/raw.img" 8M pattern
	cp "$SCRATCH/raw.img" "$SCRATCH/want"
	start_qemu_nbd Q -f raw "$SCRATCH/raw.img"
	kc 0 "$SRC" "$Q:2M"
	dd if="$SRC" of="$SCRATCH/want" bs=1M seek=2 conv=notrunc status=none
	stop_nbd Q TERM
	cmp "$SCRATCH/raw.img" "$SCRATCH/want"
}

@test "[ qemu-nbd -f qcow2 out.qcow2 ] as destination, [ nbdkit file src.img ] as source; the servers exit" {
	# (4 MiB each way: a kcopy that does not exit by itself fails in 15 s)
	# shellcheck disable=SC2030 # for this test only
	local KC_TIMEOUT=15
	qemu-img create -q -f qcow2 "$SCRATCH/out.qcow2" 4M
	nbd_pidfile_cleanup "$SCRATCH/q.pid"
	kc 0 -- "$SRC" \
		[ qemu-nbd -f qcow2 --pid-file="$SCRATCH/q.pid" "$SCRATCH/out.qcow2" ]
	json_expect "d['status'] == 'ok'" "d['jobs'][0]['bytes'] == $((4 * MiB))"
	nbd_pidfile_gone "$SCRATCH/q.pid"
	run -0 qemu-img compare -f raw -F qcow2 "$SRC" "$SCRATCH/out.qcow2"
	nbd_pidfile_cleanup "$SCRATCH/k.pid"
	kc 0 -- \
		[ nbdkit -P "$SCRATCH/k.pid" -r file "$SRC" ] "$SCRATCH/copy.img"
	json_expect "d['status'] == 'ok'" "d['jobs'][0]['bytes'] == $((4 * MiB))"
	nbd_pidfile_gone "$SCRATCH/k.pid"
	cmp "$SRC" "$SCRATCH/copy.img"
}

@test "export names: nbd+unix:///NAME?socket=... reaches that export; another name is refused (exit 2)" {
	make_file "$SCRATCH/named.img" 4M zero
	start_qemu_nbd Q -f raw -x disk1 "$SCRATCH/named.img"
	local good="nbd+unix:///disk1?socket=$Q_SOCK" bad="nbd+unix:///disk2?socket=$Q_SOCK"
	kc 0 "$SRC:+2M" "$good"
	assert_same_range "$SCRATCH/named.img" 0 "$SRC" 0 2M
	refused --mentions "$bad" -- "$SRC" "$bad"
	assert_zero_range "$SCRATCH/named.img" 2M 2M
}

# --- refusals -------------------------------------------------------------------

@test "nbd://host:10809 without a path is refused with the hint (exit 2)" {
	refused -- "$SRC" nbd://host:10809
	[ "$stderr" = "kcopy: nbd://host:10809: an NBD URI needs a path: nbd://host:10809/ for the default export" ]
	refused -- nbd://host:10809 "$SCRATCH/new"
	[ "$stderr" = "kcopy: nbd://host:10809: an NBD URI needs a path: nbd://host:10809/ for the default export" ]
}

@test "a URI that does not connect is refused naming it (exit 2); a local destination beside it is not written" {
	local bad
	bad=$(nbd_uri "$SCRATCH/nothing.sock")
	make_file "$SCRATCH/dst" 4M random
	refused --mentions "$bad" --mentions "cannot connect" -- "$SRC" "$SCRATCH/dst" "$bad"
	refused --mentions "$bad" --mentions "cannot connect" -- "$SRC" "$bad" "$SCRATCH/new"
	refused --mentions "$bad" --mentions "cannot connect" -- "$bad" "$SCRATCH/dst"
	refused --mentions "$bad:1M+1M" --mentions "cannot connect" -- "$SRC:+1M" "$SCRATCH/dst" "$bad:1M+1M"
}

@test "a read-only export is refused as destination (exit 2), and is fine as a source" {
	start_nbdkit R -r file "$SRC"
	make_file "$SCRATCH/dst" 4M random
	make_file "$SCRATCH/other" 4M random
	refused --mentions "$R" --mentions "read-only" -- "$SCRATCH/other" "$SCRATCH/dst" "$R"
	refused --mentions "$R" --mentions "read-only" -- --zero "$R"
	# qemu-nbd -r too
	start_qemu_nbd Q -r -f raw "$SCRATCH/other"
	refused --mentions "$Q" --mentions "read-only" -- "$SRC" "$Q"
	# as a source
	kc 0 "$R" "$SCRATCH/dst"
	cmp "$SRC" "$SCRATCH/dst"
}

@test "[ ... ] groups: no closing ], an empty group, a server that cannot start: exit 2, nothing written" {
	make_file "$SCRATCH/dst" 4M random
	refused -- "$SRC" [ nbdkit memory 4M
	refused -- "$SRC" "$SCRATCH/dst" [ ]
	refused --server-says --mentions "[ $SCRATCH/no-such-server ]" --mentions "cannot connect" \
		-- "$SRC" "$SCRATCH/dst" [ "$SCRATCH/no-such-server" ]
	refused --server-says --mentions "cannot connect" -- "$SRC" "$SCRATCH/dst" [ false ]
	# a failing server as the source
	refused --server-says --mentions "cannot connect" -- [ nbdkit no-such-plugin ] "$SCRATCH/dst"
}

@test "an export too small for the copy is refused (exit 2) naming the URI; nothing written" {
	filled_memory D 1M
	make_file "$SCRATCH/dst" 4M random
	refused --mentions "$D" -- "$SRC" "$SCRATCH/dst" "$D"
	refused --mentions "$D:512K" -- "$SRC:+1M" "$D:512K"
	refused --mentions "$D:+512K" -- "$SRC:+1M" "$D:+512K"
	# a region past the export's end, as a source
	refused --mentions "$D:2M" -- "$D:2M" "$SCRATCH/dst"
	nbd_cmp "$D" "$SCRATCH/D.orig"
	# exactly the export's size is fine
	kc 0 "$SRC:+1M" "$D"
	nbd_cmp "$D" "$SRC" 1M
}

@test "an NBD destination with an ext4 signature is refused without --force, written with it" {
	make_file "$SCRATCH/fs.img" 8M zero
	mkfs.ext4 -q -F -L nbdlabel "$SCRATCH/fs.img"
	cp "$SCRATCH/fs.img" "$SCRATCH/fs.orig"
	start_nbdkit F file "$SCRATCH/fs.img"
	refused --mentions "ext4" --mentions "nbdlabel" --mentions "$F" -- "$SRC" "$F"
	refused --mentions "ext4" -- --zero "$F:4M"
	refused --mentions "ext4" -- "$SRC" "$SCRATCH/new" "$F:4M"
	cmp "$SCRATCH/fs.img" "$SCRATCH/fs.orig"
	# shellcheck disable=SC2031 # the file-wide value
	run -0 timeout -k 5 "$KC_TIMEOUT" "$KCOPY" -q --force "$SRC" "$F:2M"
	assert_same_range "$SCRATCH/fs.img" 2M "$SRC" 0 4M
	assert_same_range "$SCRATCH/fs.img" 0 "$SCRATCH/fs.orig" 0 2M
}

@test "the same URI twice: overlapping regions refused, disjoint ones allowed" {
	start_nbdkit D memory 8M
	refused --mentions "$D" -- "$SRC" "$D" "$D"
	refused -- "$SRC" "$D:0+4M" "$D:2M"
	refused -- "$D:+4M" "$D:2M"
	kc 0 "$SRC" "$D:0" "$D:4M"
	nbd_read "$D" "$SCRATCH/back"
	assert_same_range "$SCRATCH/back" 0 "$SRC" 0 4M
	assert_same_range "$SCRATCH/back" 4M "$SRC" 0 4M
}

# trace_mark TRACE: what nbdkit's log filter wrote to TRACE so far is not
# kcopy's (trace_of_kcopy leaves it out).  (Truncating TRACE would not do:
# nbdkit goes on writing at its own file offset.)
declare -gA TRACE_FROM=()
trace_mark() {
	TRACE_FROM[$1]=$(stat -c %s "$1")
}

# trace_of_kcopy TRACE: once every connection kcopy opened is closed, its
# part of TRACE (from trace_mark on) in TRACE.kcopy; what comes later (the
# test's own reads) is not kcopy's
_trace_closed() { # TRACE: kcopy's part of it, every connection closed?
	local c d
	tail -c +$((${TRACE_FROM[$1]:-0} + 1)) "$1" >"$1.kcopy"
	c=$(grep -c ' Connect ' "$1.kcopy") d=$(grep -c ' Disconnect ' "$1.kcopy")
	((c > 0 && c == d))
}
trace_of_kcopy() {
	_helper_wait_for $$ 10 _trace_closed "$1" ||
		fail "kcopy's connections not all closed: $(grep -E 'Connect|Disconnect' "$1.kcopy")"
}

@test "--connections: 0 and 17 refused (exit 2); 2 opens two connections to a multi-conn export, default 4, one without multi-conn" {
	make_file "$SCRATCH/dst" 4M random
	refused --mentions "connections" -- --connections=0 "$SRC" "$SCRATCH/dst"
	refused --mentions "connections" -- --connections=17 "$SRC" "$SCRATCH/dst"
	make_file "$SCRATCH/big" 16M random
	start_nbdkit M --filter=log memory 16M logfile="$SCRATCH/m.trace"
	kc 0 --connections=2 -b 1M "$SCRATCH/big" "$M"
	trace_of_kcopy "$SCRATCH/m.trace"
	nbd_cmp "$M" "$SCRATCH/big"
	[ "$(nbd_max_conns "$SCRATCH/m.trace.kcopy")" -eq 2 ] ||
		fail "--connections=2: $(nbd_max_conns "$SCRATCH/m.trace.kcopy") at once: $(grep -E 'Connect|Disconnect' "$SCRATCH/m.trace.kcopy")"
	[ "$(nbd_busy_conns "$SCRATCH/m.trace.kcopy")" -eq 2 ] ||
		fail "requests not spread over both connections: $(grep Disconnect "$SCRATCH/m.trace.kcopy")"
	# the default, 4
	start_nbdkit N --filter=log memory 16M logfile="$SCRATCH/n.trace"
	kc 0 "$SCRATCH/big" "$N"
	trace_of_kcopy "$SCRATCH/n.trace"
	nbd_cmp "$N" "$SCRATCH/big"
	[ "$(nbd_max_conns "$SCRATCH/n.trace.kcopy")" -eq 4 ] ||
		fail "default: $(nbd_max_conns "$SCRATCH/n.trace.kcopy") at once: $(grep -E 'Connect|Disconnect' "$SCRATCH/n.trace.kcopy")"
	[ "$(nbd_busy_conns "$SCRATCH/n.trace.kcopy")" -eq 4 ] ||
		fail "requests not spread over the 4 connections: $(grep Disconnect "$SCRATCH/n.trace.kcopy")"
	# an export without multi-conn gets one connection, whatever --connections says
	start_nbdkit S --filter=log --filter=multi-conn memory 16M \
		multi-conn-mode=disable logfile="$SCRATCH/s.trace"
	kc 0 --connections=8 "$SCRATCH/big" "$S"
	trace_of_kcopy "$SCRATCH/s.trace"
	nbd_cmp "$S" "$SCRATCH/big"
	[ "$(nbd_max_conns "$SCRATCH/s.trace.kcopy")" -eq 1 ] ||
		fail "no multi-conn: $(nbd_max_conns "$SCRATCH/s.trace.kcopy") at once: $(grep -E 'Connect|Disconnect' "$SCRATCH/s.trace.kcopy")"
}

@test "flush before ok (NBD_CMD_FLUSH), none with --no-flush" {
	start_nbdkit D --filter=log memory 4M logfile="$SCRATCH/d.trace"
	trace_mark "$SCRATCH/d.trace"
	kc 0 "$SRC" "$D"
	trace_of_kcopy "$SCRATCH/d.trace"
	grep -q ' Flush ' "$SCRATCH/d.trace.kcopy" || fail "no flush: $(cat "$SCRATCH/d.trace.kcopy")"
	# the flush after the last write
	[ "$(grep -E ' (Write|Flush) ' "$SCRATCH/d.trace.kcopy" | tail -n 1 | cut -d' ' -f4)" = Flush ] ||
		fail "a write after the last flush: $(grep -E ' (Write|Flush) ' "$SCRATCH/d.trace.kcopy" | tail -n 3)"
	trace_mark "$SCRATCH/d.trace"
	kc 0 --no-flush "$SRC" "$D"
	trace_of_kcopy "$SCRATCH/d.trace"
	grep -q ' Write ' "$SCRATCH/d.trace.kcopy" || fail "no write logged: $(cat "$SCRATCH/d.trace.kcopy")"
	! grep -q ' Flush ' "$SCRATCH/d.trace.kcopy" || fail "flush with --no-flush"
	nbd_cmp "$D" "$SRC"
}

# --- server errors --------------------------------------------------------------

@test "read faults on an NBD source (ddrescue filter): exit 1, exact ranges, read_err 1" {
	local b1=$((2 * MiB + 4096)) b2=$((3 * MiB + 512))
	nbd_ddrescue_map "$SCRATCH/rescue.map" 4M $b1+1024 $b2+512
	start_nbdkit S --filter=ddrescue file "$SRC" ddrescue-mapfile="$SCRATCH/rescue.map"
	# without --ignore-errors: the first error stops the job
	kc 1 -j 1 "$S" "$SCRATCH/out"
	json_expect "d['status'] == 'errors'" "d['jobs'][0]['read_err'] == 1" \
		"d['jobs'][0]['write_err'] == 0" "d['jobs'][0]['bytes_data'] == $((2 * MiB))"
	errors_are source:null:$b1:1024
	human_has source "$S" $b1 1024 "$EIO_TEXT"
	assert_same_range "$SCRATCH/out" 0 "$SRC" 0 2M
	# with it: only the bad blocks are lost, written as zeros
	make_file "$SCRATCH/out" 4M pattern
	kc 1 -i "$S" "$SCRATCH/out"
	json_expect "d['jobs'][0]['read_err'] == 1" "d['jobs'][0]['bytes_data'] == $((4 * MiB))"
	errors_are source:null:$b1:1024 source:null:$b2:512
	cp "$SRC" "$SCRATCH/want"
	zero_range "$SCRATCH/want" $b1 1024
	zero_range "$SCRATCH/want" $b2 512
	cmp "$SCRATCH/out" "$SCRATCH/want"
}

@test "EIO write faults on one of two NBD destinations: exact range, write_err 2, exit 1" {
	# (the eval plugin forks per request: a 2 MiB copy in 32 KiB sub-jobs)
	local bad=$((MiB + 8192))
	start_nbdkit D0 memory 2M
	make_file "$SCRATCH/d1.img" 2M pattern
	cp "$SCRATCH/d1.img" "$SCRATCH/d1.orig"
	start_nbd_faulty D1 "$SCRATCH/d1.img" $bad+1024
	# without --ignore-errors the job stops at the failing chunk
	kc 1 -j 1 -b 32K "$SRC:+2M" "$D0" "$D1"
	json_expect "d['status'] == 'errors'" "d['jobs'][0]['read_err'] == 0" \
		"d['jobs'][0]['write_err'] == 2"
	errors_are dest:1:$bad:1024
	human_has "dest 1" "$D1" $bad 1024 "$EIO_TEXT"
	nbd_cmp "$D0" "$SRC" 1M
	assert_same_range "$SCRATCH/d1.img" 0 "$SRC" 0 1M
	# with it: dest 0 complete, dest 1 all but the bad range, which keeps its bytes
	kc 1 -i -b 32K "$SRC:+2M" "$D0" "$D1"
	json_expect "d['jobs'][0]['write_err'] == 2" "d['jobs'][0]['read_err'] == 0"
	errors_are dest:1:$bad:1024
	nbd_cmp "$D0" "$SRC" 2M
	head -c $((2 * MiB)) "$SRC" >"$SCRATCH/want"
	patch_range "$SCRATCH/want" "$SCRATCH/d1.orig" $bad 1024
	cmp "$SCRATCH/d1.img" "$SCRATCH/want"
}

@test "EPERM write faults (protect filter) on dest 0 of a mixed copy with --ignore-errors: the errno text, both ranges" {
	local p1=$((512 * KiB)) p2=$((3 * MiB + 4096))
	start_nbdkit P --filter=protect memory 4M \
		protect=$p1-$((p1 + 4095)) protect=$p2-$((p2 + 511))
	kc 1 -i -b 256K "$SRC" "$P" "$SCRATCH/out"
	json_expect "d['jobs'][0]['write_err'] == 1" "d['jobs'][0]['read_err'] == 0"
	errors_are "dest:0:$p1:4096:Operation not permitted" "dest:0:$p2:512:Operation not permitted"
	human_has "dest 0" "$P" $p1 4096 "Operation not permitted"
	cmp "$SRC" "$SCRATCH/out"
	cp "$SRC" "$SCRATCH/want"
	zero_range "$SCRATCH/want" $p1 4096
	zero_range "$SCRATCH/want" $p2 512
	nbd_cmp "$P" "$SCRATCH/want"
}

# --- zero and sparse ------------------------------------------------------------

@test "--zero an NBD export, whole and a region" {
	filled_memory D 4M
	kc 0 --zero "$D:1M+1M"
	json_expect "d['jobs'][0]['op'] == 'zero'" "d['jobs'][0]['bytes'] == $MiB"
	cp "$SCRATCH/D.orig" "$SCRATCH/want"
	zero_range "$SCRATCH/want" $MiB $MiB
	nbd_cmp "$D" "$SCRATCH/want"
	kc 0 --zero "$D"
	json_expect "d['jobs'][0]['bytes'] == $((4 * MiB))" "d['jobs'][0]['bytes_zeroed'] == $((4 * MiB))"
	nbd_cmp "$D" /dev/zero 4M
	# by NBD_CMD_WRITE_ZEROES, not by writing zero buffers
	filled_memory T 4M --filter=log logfile="$SCRATCH/t.trace"
	trace_mark "$SCRATCH/t.trace"
	kc 0 --zero "$T"
	trace_of_kcopy "$SCRATCH/t.trace"
	grep -q ' Zero ' "$SCRATCH/t.trace.kcopy" || fail "no Zero request: $(cat "$SCRATCH/t.trace.kcopy")"
	! grep -q ' Write ' "$SCRATCH/t.trace.kcopy" ||
		fail "zero buffers written: $(grep ' Write ' "$SCRATCH/t.trace.kcopy" | head -3)"
	nbd_cmp "$T" /dev/zero 4M
}

@test "--zero through the nozero filter (no WRITE_ZEROES, or fast zero refused): still all zeros" {
	local mode i=0
	for mode in "zeromode=none" "zeromode=emulate fastzeromode=slow" \
		"zeromode=plugin fastzeromode=slow" "zeromode=emulate fastzeromode=none"; do
		i=$((i + 1))
		# shellcheck disable=SC2086 # the mode's words
		filled_memory Z$i 4M --filter=nozero $mode
		local uri=Z$i
		kc 0 --zero "${!uri}"
		json_expect "d['status'] == 'ok'" "d['jobs'][0]['bytes_zeroed'] == $((4 * MiB))"
		nbd_cmp "${!uri}" /dev/zero 4M
	done
	# and a sparse copy of a file with holes through one of them
	truncate -s 4M "$SCRATCH/holes"
	dd if="$SRC" of="$SCRATCH/holes" bs=64K count=1 seek=20 conv=notrunc status=none
	kc 0 --sparse -b 64K "$SCRATCH/holes" "$Z1"
	nbd_cmp "$Z1" "$SCRATCH/holes"
}

@test "--sparse from a sparse file into an NBD export holding data" {
	filled_memory D 4M
	truncate -s 4M "$SCRATCH/holes"
	dd if="$SRC" of="$SCRATCH/holes" bs=64K count=2 seek=8 conv=notrunc status=none
	dd if="$SRC" of="$SCRATCH/holes" bs=64K count=1 seek=63 conv=notrunc status=none
	kc 0 --sparse -b 64K "$SCRATCH/holes" "$D"
	json_expect "d['jobs'][0]['bytes_data'] == $((3 * 64 * KiB))" \
		"d['jobs'][0]['bytes_zeroed'] == $((4 * MiB - 3 * 64 * KiB))"
	nbd_cmp "$D" "$SCRATCH/holes"
}

@test "--sparse with an NBD source: holes by block status are zeroed or skipped, result equal" {
	truncate -s 4M "$SCRATCH/holes"
	dd if="$SRC" of="$SCRATCH/holes" bs=64K count=1 seek=0 conv=notrunc status=none
	dd if="$SRC" of="$SCRATCH/holes" bs=64K count=3 seek=20 conv=notrunc status=none
	dd if="$SRC" of="$SCRATCH/holes" bs=64K count=1 seek=63 conv=notrunc status=none
	start_nbdkit S -r --filter=log file "$SCRATCH/holes" logfile="$SCRATCH/s.trace"
	nbdinfo --map "$S" | grep -q hole || fail "the file plugin reports no holes: $(nbdinfo --map "$S")"
	trace_mark "$SCRATCH/s.trace"
	make_file "$SCRATCH/out" 4M random
	kc 0 --sparse -b 64K "$S" "$SCRATCH/out"
	json_expect "d['jobs'][0]['bytes_data'] == $((5 * 64 * KiB))" \
		"d['jobs'][0]['bytes_zeroed'] == $((4 * MiB - 5 * 64 * KiB))"
	cmp "$SCRATCH/out" "$SCRATCH/holes"
	# the holes were never read: every Read lies in [0, 64K), [20*64K, 23*64K)
	# or [63*64K, 4M)
	trace_of_kcopy "$SCRATCH/s.trace"
	grep -q ' Read ' "$SCRATCH/s.trace.kcopy" || fail "no Read logged"
	local d t c kind _id off cnt rest o e k=$((64 * KiB)) bad=
	while read -r d t c kind _id off cnt rest; do
		[[ $kind == Read && $off == offset=* && $cnt == count=* ]] || continue
		o=$((${off#offset=})) e=$((o + ${cnt#count=}))
		((e <= k || (o >= 20 * k && e <= 23 * k) || o >= 63 * k)) || bad+="$d $t $c $kind $off $cnt"$'\n'
	done <"$SCRATCH/s.trace.kcopy"
	[[ -z $bad ]] || fail "holes read: $bad"
	# into a fresh (zero) memory export with --dest-is-zero: the holes skipped
	start_nbdkit D memory 4M
	kc 0 --sparse --dest-is-zero -b 64K "$S" "$D"
	json_expect "d['jobs'][0]['bytes_data'] == $((5 * 64 * KiB))" \
		"d['jobs'][0]['bytes_skipped'] == $((4 * MiB - 5 * 64 * KiB))"
	nbd_cmp "$D" "$SCRATCH/holes"
}

@test "--verify with NBD destinations (nbdkit and qemu-nbd qcow2)" {
	start_nbdkit D memory 4M
	qemu-img create -q -f qcow2 "$SCRATCH/v.qcow2" 4M
	start_qemu_nbd Q -f qcow2 "$SCRATCH/v.qcow2"
	kc 0 --verify "$SRC" "$D" "$Q"
	json_expect "d['status'] == 'ok'" "d['jobs'][0]['verified'] is True"
	nbd_cmp "$D" "$SRC"
	nbd_cmp "$Q" "$SRC"
}

@test "--verify against a server that drops writes (nbdkit null): mismatch, exit 1, verified false" {
	start_nbdkit N null 4M
	start_nbdkit D memory 4M
	kc 1 --verify "$SRC" "$D" "$N"
	json_expect "d['status'] == 'errors'" "d['jobs'][0]['verified'] is False" \
		"d['jobs'][0]['read_err'] == 0"
	nbd_cmp "$D" "$SRC"
	grep -qi "mismatch" <<<"$stderr" || fail "no mismatch in the human report: $stderr"
	[[ $stderr == *"$N_SOCK"* ]] || fail "the mismatch does not name $N: $stderr"
}

@test "a map names NBD regions by URI: the same map with another export is refused (exit 2)" {
	local M="$SCRATCH/map"
	start_nbdkit D memory 4M
	start_nbdkit E memory 4M
	kc 0 --map="$M" "$SRC" "$D"
	grep -qF "$D_SOCK" "$M" || fail "the map does not name $D: $(cat "$M")"
	cp "$M" "$M.before"
	refused --mentions "$M" -- --map="$M" "$SRC" "$E"
	cmp "$M" "$M.before"
	nbd_cmp "$E" /dev/zero 4M
	# the right one: nothing to do
	kc 0 --map="$M" "$SRC" "$D"
	json_expect "d['jobs'][0]['bytes_skipped'] == $((4 * MiB))"
}

# --- servers killed, kcopy killed ----------------------------------------------

@test "a destination's server killed mid-copy: exit 1, that destination failed, the other complete, map saved; a re-run completes" {
	local M="$SCRATCH/map"
	make_file "$SCRATCH/big" 16M random
	start_nbdkit D0 memory 16M
	make_file "$SCRATCH/d1.img" 16M zero
	start_nbdkit D1 --filter=delay file "$SCRATCH/d1.img" delay-write=20ms
	# 16 MiB at 8 MiB/s: about 2 s; the server goes once data has been copied
	start_kcopy --json --progress=json --rate=8M --map="$M" "$SCRATCH/big" "$D0" "$D1"
	wait_kcopy_progress "$KPID" "$ERR" $((2 * MiB))
	stop_nbd D1 KILL
	finish_kcopy
	[ "$RC" -eq 1 ] || fail "exit $RC: $(cat "$ERR")"
	output=$(cat "$OUT")
	json_expect "d['status'] == 'errors'" "d['jobs'][0]['write_err'] == 2" \
		"d['jobs'][0]['read_err'] == 0" \
		"len(d['jobs'][0]['errors']) > 0" \
		"all(e['region'] == 'dest' and e['index'] == 1 for e in d['jobs'][0]['errors'])" \
		"max(e['offset'] + e['length'] for e in d['jobs'][0]['errors']) == $((16 * MiB))"
	grep -q "$D1_SOCK" "$ERR" || fail "the human report does not name $D1: $(cat "$ERR")"
	# the errno says the connection is gone (not, say, EINVAL)
	json_expect "all(any(t in e['error'] for t in ('not connected', 'shutdown', 'Broken pipe', 'reset by peer', 'Input/output error')) for e in d['jobs'][0]['errors'])"
	# the other destination went on to the end
	nbd_cmp "$D0" "$SCRATCH/big"
	[ -s "$M" ] || fail "no map saved"
	# the same server, back under the same URI: the re-run finishes the job
	NBD_SOCKET="$D1_SOCK" start_nbdkit D1 file "$SCRATCH/d1.img"
	kc 0 --map="$M" "$SCRATCH/big" "$D0" "$D1"
	cmp "$SCRATCH/d1.img" "$SCRATCH/big"
	nbd_cmp "$D0" "$SCRATCH/big"
}

@test "kill -9 of kcopy mid-copy to an NBD destination; the re-run with the same --map completes" {
	local M="$SCRATCH/map"
	make_file "$SCRATCH/big" 16M random
	start_nbdkit D --filter=delay memory 16M delay-write=10ms
	start_kcopy -q --rate=8M --map="$M" "$SCRATCH/big" "$D"
	wait_lines "$KPID" "$M" '^done ' || fail "$(cat "$ERR")"
	kill -KILL "$KPID"
	finish_kcopy
	[ "$RC" -eq 137 ] || fail "kcopy was not killed (exit $RC): $(cat "$ERR")"
	kc 0 --map="$M" "$SCRATCH/big" "$D"
	json_expect "d['status'] == 'ok'" "d['jobs'][0]['bytes_skipped'] > 0"
	nbd_cmp "$D" "$SCRATCH/big"
	# a finished job re-run with its map: nothing to do, success
	kc 0 --map="$M" "$SCRATCH/big" "$D"
	json_expect "d['jobs'][0]['bytes_skipped'] == $((16 * MiB))"
}

@test "SIGINT during a copy to NBD: exit 130, partial report, map saved, resume completes" {
	local M="$SCRATCH/map"
	make_file "$SCRATCH/big" 16M random
	start_nbdkit D --filter=delay memory 16M delay-write=10ms
	start_kcopy --json --progress=json --rate=8M --map="$M" "$SCRATCH/big" "$D"
	wait_kcopy_progress "$KPID" "$ERR"
	kill -INT "$KPID"
	finish_kcopy
	[ "$RC" -eq 130 ] || fail "exit $RC: $(cat "$ERR")"
	[ "$(json_get 'd["status"]' <"$OUT")" = interrupted ] || fail "$(cat "$OUT")"
	local done_bytes
	done_bytes=$(json_get 'd["jobs"][0]["bytes_data"]' <"$OUT")
	((done_bytes > 0 && done_bytes < 16 * MiB)) || fail "bytes_data $done_bytes"
	[ -s "$M" ] || fail "no map saved on SIGINT"
	kc 0 --map="$M" "$SCRATCH/big" "$D"
	json_expect "d['status'] == 'ok'" "d['jobs'][0]['bytes_skipped'] >= $done_bytes"
	nbd_cmp "$D" "$SCRATCH/big"
}

# --- job files --------------------------------------------------------------------

@test "a job file with NBD regions and [ ... ] word groups" {
	local JF="$SCRATCH/jobs"
	start_nbdkit D memory 8M
	nbd_pidfile_cleanup "$SCRATCH/j1.pid"
	nbd_pidfile_cleanup "$SCRATCH/j2.pid"
	qemu-img create -q -f qcow2 "$SCRATCH/j.qcow2" 4M
	cat >"$JF" <<EOF
# NBD regions in a job file
copy $SRC $D "$SCRATCH/a.img"
copy $SRC:+1M $D:6M
wait
copy $D:+4M [ qemu-nbd -f qcow2 --pid-file=$SCRATCH/j1.pid "$SCRATCH/j.qcow2" ]
copy -- [ nbdkit -P "$SCRATCH/j2.pid" -r file "$SRC" ] "$SCRATCH/b.img"
zero $D:7M+1M
EOF
	# (--connections=1: the default's 4 connections to the nbdkit of line 6
	# are the subject of the "[ qemu-nbd ... ] as destination" test above)
	kc 0 --connections=1 --job-file="$JF"
	json_expect "d['status'] == 'ok'" "[j['line'] for j in d['jobs']] == [2, 3, 5, 6, 7]" \
		"d['bytes'] == $((4 * MiB + MiB + 4 * MiB + 4 * MiB + MiB))"
	nbd_pidfile_gone "$SCRATCH/j1.pid"
	nbd_pidfile_gone "$SCRATCH/j2.pid"
	cmp "$SRC" "$SCRATCH/a.img"
	cmp "$SRC" "$SCRATCH/b.img"
	run -0 qemu-img compare -f raw -F qcow2 "$SRC" "$SCRATCH/j.qcow2"
	nbd_read "$D" "$SCRATCH/dback"
	assert_same_range "$SCRATCH/dback" 0 "$SRC" 0 4M
	assert_same_range "$SCRATCH/dback" 6M "$SRC" 0 1M
	assert_zero_range "$SCRATCH/dback" 7M 1M
	# a refused line (read-only export) names FILE:LINE and nothing runs
	start_nbdkit R -r memory 4M
	printf 'copy %s %s\ncopy %s %s\n' "$SRC" "$SCRATCH/c.img" "$SRC" "$R" >"$JF"
	refused --mentions "$JF:2" --mentions "read-only" -- --job-file="$JF"
	[ ! -e "$SCRATCH/c.img" ]
	# --connections is global, not a job option
	printf 'copy --connections=2 %s %s\n' "$SRC" "$R" >"$JF"
	refused --mentions "$JF:1" --mentions "connections" -- --job-file="$JF"
}

@test "nbds+unix:// (TLS with a pre-shared key): copies both ways; the plain URI is refused (exit 2)" {
	local psk=$SCRATCH/keys.psk sock=$SCRATCH/tls.sock uri pid
	printf 'alice:%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$psk"
	chmod 600 "$psk"
	nbdkit -f --tls=require --tls-psk="$psk" -U "$sock" memory 4M \
		>"$SCRATCH/tls.log" 2>&1 3>&- &
	pid=$!
	register_cleanup pid "$pid"
	uri="nbds+unix://alice@/?socket=$sock&tls-psk-file=$psk"
	_helper_wait_for "$pid" 60 nbdinfo --size "$uri" >/dev/null 2>&1 ||
		fail "the TLS server did not answer: $(cat "$SCRATCH/tls.log")"
	kc 0 "$SRC" "$uri"
	kc 0 "$uri" "$SCRATCH/back.img"
	cmp "$SRC" "$SCRATCH/back.img"
	kc 2 "$SRC" "$(nbd_uri "$sock")"
	[[ $stderr == *"$sock"*"TLS"* ]] || fail "no TLS reason: $stderr"
}

@test "libnbd (and its TLS and XML libraries) is loaded only when a region is on NBD" {
	start_nbdkit D memory 4M
	LD_DEBUG=libs "$KCOPY" -q "$SRC" "$SCRATCH/local.img" 2>"$SCRATCH/ld.local"
	cmp "$SRC" "$SCRATCH/local.img"
	if grep -q 'libnbd\|libgnutls' "$SCRATCH/ld.local"; then
		fail "a local copy loaded libnbd: $(grep 'libnbd\|libgnutls' "$SCRATCH/ld.local")"
	fi
	LD_DEBUG=libs "$KCOPY" -q "$SRC" "$D" 2>"$SCRATCH/ld.nbd"
	grep -q 'libnbd' "$SCRATCH/ld.nbd" || fail "libnbd not loaded for an NBD copy"
	nbd_cmp "$D" "$SRC"
}
