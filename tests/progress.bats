#!/usr/bin/env bats
# Progress: a redrawn line when stderr is a terminal (or with --progress),
# nothing otherwise; --progress=json lines; -q silences it.  (SPEC §2, §5)
#
# The terminal is a pseudo-terminal from script(1) (util-linux/bsdutils):
# `script -qefc CMD /dev/null` runs CMD with stdout and stderr on a pty and
# copies everything to its own stdout, escape sequences included.

bats_require_minimum_version 1.5.0

load test_helper

MiB=$((1024 * 1024))

setup() {
	require_root
	command -v script >/dev/null || skip "script(1) not installed"
	local img
	img=$(mktemp "$SCRATCH/img.XXXXXX")
	make_file "$img" 32M random
	make_loop_on "$img" S
	make_loop D 32M
}

now_ns() { date +%s%N; }

# in_pty ARGS...: run kcopy ARGS on a pseudo-terminal; output in $PTY_OUT,
# exit status in $PTY_RC, wall time in $PTY_MS
in_pty() {
	local cmd t0 t1
	cmd=$(printf '%q ' "$KCOPY" "$@")
	PTY_OUT="$SCRATCH/pty.$RANDOM"
	t0=$(now_ns)
	PTY_RC=0
	script -qefc "$cmd" /dev/null </dev/null >"$PTY_OUT" 2>&1 || PTY_RC=$?
	t1=$(now_ns)
	PTY_MS=$(((t1 - t0) / 1000000))
}

# check_line_progress FILE MS: FILE holds progress lines ("\r\e[K... % ... ETA")
# drawn over MS milliseconds, then a cleared line and the human report
check_line_progress() {
	python3 - "$1" "$2" <<'EOF'
import re, sys
out = open(sys.argv[1], "rb").read().decode("utf-8", "replace")
ms = int(sys.argv[2])
draws = re.findall(r"\r\x1b\[K([^\r\n]*ETA[^\r\n]*)", out)
if not draws:
    sys.exit("no progress line drawn:\n%r" % out[:2000])
for d in draws:
    if not re.search(r"/ 32\.0 MiB \(\d+(\.\d+)?%\) .*/s ETA (\d\d:\d\d:\d\d|--:--:--)", d):
        sys.exit("malformed progress line %r" % d)
pcts = [float(re.search(r"\((\d+(?:\.\d+)?)%\)", d).group(1)) for d in draws]
if pcts != sorted(pcts):
    sys.exit("percentages go backwards: %r" % pcts)
# at most 10 draws a second (+1 for the first one, +1 for the last)
if len(draws) > 10 * ms / 1000 + 2:
    sys.exit("%d draws in %d ms" % (len(draws), ms))
# the line is cleared before the final report, and nothing follows on it
last = out.rfind("ETA")
rest = out[last:]
clear = rest.find("\r\x1b[K")
report = rest.find("copy ")
if clear < 0 or report < 0 or clear > report:
    sys.exit("progress line not cleared before the report: %r" % rest[:300])
if "kcopy: ok: 1 job" not in rest:
    sys.exit("no final report after the progress: %r" % rest[:300])
print("%d draws in %d ms" % (len(draws), ms))
EOF
}

@test "on a terminal: one progress line with done/total, %, rate, ETA, cleared before the report" {
	in_pty --rate=32M "$S" "$D"
	[ "$PTY_RC" -eq 0 ] || fail "exit $PTY_RC: $(cat -v "$PTY_OUT")"
	run -0 check_line_progress "$PTY_OUT" "$PTY_MS"
	echo "# $output" >&3
	cmp "$S" "$D"
}

@test "stderr not a terminal and no --progress: nothing is drawn" {
	run -0 --separate-stderr "$KCOPY" --rate=64M "$S" "$D"
	[[ $stderr != *ETA* && $stderr != *%* ]] || fail "progress drawn: $stderr"
	[[ $stderr != *$'\r'* && $stderr != *$'\e'* ]] || fail "control characters: $stderr"
	[[ $stderr == *"kcopy: ok: 1 job"* ]] || fail "no report: $stderr"
	[ -z "$output" ]
	cmp "$S" "$D"
}

@test "--progress forces the line when stderr is not a terminal" {
	local t0 t1
	t0=$(now_ns)
	"$KCOPY" --progress --rate=32M "$S" "$D" 2>"$SCRATCH/err"
	t1=$(now_ns)
	run -0 check_line_progress "$SCRATCH/err" $(((t1 - t0) / 1000000))
	cmp "$S" "$D"
}

@test "-q silences progress: on a terminal, and over --progress and --progress=json" {
	in_pty -q --rate=64M "$S" "$D"
	[ "$PTY_RC" -eq 0 ] || fail "exit $PTY_RC: $(cat -v "$PTY_OUT")"
	[ ! -s "$PTY_OUT" ] || fail "output with -q on a terminal: $(cat -v "$PTY_OUT")"
	for p in --progress --progress=json; do
		run -0 --separate-stderr "$KCOPY" -q "$p" --rate=64M "$S" "$D"
		[ -z "$stderr" ] || fail "-q $p: stderr not empty: $stderr"
		[ -z "$output" ]
	done
	# --json still prints with -q
	run -0 --separate-stderr "$KCOPY" -q --json "$S" "$D"
	[ -z "$stderr" ]
	[ "$(json_get 'd["status"]' <<<"$output")" = ok ]
	cmp "$S" "$D"
}

# json_progress OUTFILE ARGS...: run kcopy ARGS; every stderr line is written
# to OUTFILE as "SECONDS<TAB>LINE" (time of arrival); exit status in $JP_RC
json_progress() {
	local outfile=$1
	shift
	JP_RC=0
	python3 - "$outfile" "$KCOPY" "$@" <<'EOF' || JP_RC=$?
import subprocess, sys, time
out = open(sys.argv[1], "w")
p = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
t0 = time.monotonic()
for line in p.stderr:
    out.write("%.3f\t%s" % (time.monotonic() - t0, line.decode()))
    out.flush()
sys.exit(p.wait())
EOF
}

@test "--progress=json: lines parse, at most one a second, bytes_done monotonic, bytes_total constant" {
	# the devices' speed now, without a --rate: whether the copy can keep up
	# with the --rate at all (a loaded machine makes every device slow)
	local speed
	speed=$("$KCOPY" -q --json "$S" "$D" | json_get 'd["bytes"] / d["seconds"]')
	make_file "$D" 32M zero
	json_progress "$SCRATCH/lines" --progress=json --rate=10M "$S" "$D"
	[ "$JP_RC" -eq 0 ] || fail "exit $JP_RC: $(cat "$SCRATCH/lines")"
	cmp "$S" "$D"
	run -0 python3 - "$SCRATCH/lines" $((32 * MiB)) $((10 * MiB)) "$speed" <<'EOF'
import json, sys
total, rate_asked, speed = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
recs = []
for l in open(sys.argv[1]):
    t, line = l.rstrip("\n").split("\t", 1)
    if line.startswith("{"):
        d = json.loads(line)
        for k in ("bytes_done", "bytes_total", "rate"):
            if not isinstance(d.get(k), int) or d[k] < 0:
                sys.exit("bad %s in %r" % (k, line))
        recs.append((float(t), d))
    elif line.startswith("\r") or "ETA" in line:
        sys.exit("a progress line besides the JSON: %r" % line)
if len(recs) < 3:
    sys.exit("only %d JSON lines for a 3 s copy" % len(recs))
done = [d["bytes_done"] for _, d in recs]
if done != sorted(done):
    sys.exit("bytes_done goes backwards: %r" % done)
if any(d["bytes_total"] != total for _, d in recs):
    sys.exit("bytes_total not constant %d: %r" % (total, [d["bytes_total"] for _, d in recs]))
if done[-1] != total:
    sys.exit("last line does not say done: %r" % done)
# at most once a second (the final line, printed at the end, may be sooner).
# The times are of arrival here, and a busy machine may hold up this reader
# (not kcopy) for a while, which brings two arrivals closer: so no two lines
# within half a second, and no more lines than seconds (+1) over any stretch.
times = [t for t, _ in recs[:-1]]
for (a, b) in zip(times, times[1:]):
    if b - a < 0.5:
        sys.exit("two lines %.3f s apart: %r" % (b - a, [t for t, _ in recs]))
for i in range(len(times)):
    for j in range(i + 1, len(times)):
        if j - i > times[j] - times[i] + 1:
            sys.exit("%d lines in %.3f s: %r" % (j - i + 1, times[j] - times[i], times))
# "rate" is the current rate in bytes/s: of the order of the --rate while the
# copy runs (completions lag admissions by up to --memory, so not exact); it
# is never far over the --rate, and not far under it when the devices,
# unthrottled, are well above it
mid = [d["rate"] for t, d in recs if 0 < d["bytes_done"] < total and t > 1.5]
for r in mid:
    if r > 1.6 * rate_asked:
        sys.exit("rate %d far over the --rate %d: %r" % (r, rate_asked, [d for _, d in recs]))
    if speed >= 4 * rate_asked and r < 0.5 * rate_asked:
        sys.exit("rate %d far under the --rate %d (the devices do %d B/s): %r"
                 % (r, rate_asked, speed, [d for _, d in recs]))
print("%d lines%s" % (len(recs), "" if speed >= 4 * rate_asked else
      "; note: the devices do only %.1f MiB/s, the rate's lower bound is not asserted" % (speed / 2**20)))
EOF
	echo "# $output" >&3
}

@test "--progress=json with a job file: per-job entries with line numbers, summing up" {
	make_loop D2 8M
	cat >"$SCRATCH/jobs" <<EOF
copy $S:0+16M $D:0+16M
copy $S:16M+8M $D2
wait
copy $S:24M+8M $D:16M
EOF
	json_progress "$SCRATCH/lines" --progress=json --rate=12M --job-file="$SCRATCH/jobs"
	[ "$JP_RC" -eq 0 ] || fail "exit $JP_RC: $(cat "$SCRATCH/lines")"
	run -0 python3 - "$SCRATCH/lines" <<'EOF'
import json, sys
recs = [json.loads(l.split("\t", 1)[1]) for l in open(sys.argv[1])
        if l.split("\t", 1)[1].startswith("{")]
if len(recs) < 2:
    sys.exit("only %d lines" % len(recs))
prev = None
for d in recs:
    jobs = d.get("jobs")
    if not isinstance(jobs, list) or [j.get("line") for j in jobs] != [1, 2, 4]:
        sys.exit("no per-job entries with lines 1, 2, 4: %r" % d)
    if sum(j["bytes_done"] for j in jobs) != d["bytes_done"]:
        sys.exit("jobs do not add up to bytes_done: %r" % d)
    if sum(j["bytes_total"] for j in jobs) != d["bytes_total"]:
        sys.exit("jobs do not add up to bytes_total: %r" % d)
    if [j["bytes_total"] for j in jobs] != [16 << 20, 8 << 20, 8 << 20]:
        sys.exit("per-job bytes_total: %r" % d)
    if prev and any(a["bytes_done"] > b["bytes_done"] for a, b in zip(prev, jobs)):
        sys.exit("a job's bytes_done goes backwards: %r then %r" % (prev, jobs))
    prev = jobs
if recs[-1]["bytes_done"] != 32 << 20:
    sys.exit("not finished: %r" % recs[-1])
EOF
	assert_same_range "$S" 0 "$D" 0 16M
	assert_same_range "$S" 16M "$D2" 0 8M
	assert_same_range "$S" 24M "$D" 16M 8M
}
