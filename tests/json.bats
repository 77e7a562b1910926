#!/usr/bin/env bats
# --json: the final report of SPEC §5 on stdout, its fields, types and values.

bats_require_minimum_version 1.5.0

load test_helper

MiB=$((1024 * 1024))

setup() {
	require_root
	SRC="$SCRATCH/src"
	make_file "$SRC" 3M random
}

# check_schema: every field of SPEC §5 is present in $output with the right
# type (ints are not bools; seconds is a number).  Values are checked by the
# tests themselves.
check_schema() {
	local problems
	problems=$(python3 -c '
import json, sys
d = json.loads(sys.argv[1])
bad = []
def isint(v): return isinstance(v, int) and not isinstance(v, bool)
def isnum(v): return isinstance(v, (int, float)) and not isinstance(v, bool)
def need(obj, key, pred, what, where):
    if not isinstance(obj, dict) or key not in obj:
        bad.append("%s: missing %r" % (where, key)); return
    if not pred(obj[key]):
        bad.append("%s.%s = %r is not %s" % (where, key, obj[key], what))
need(d, "status", lambda v: v in ("ok", "errors", "interrupted"), "a status", "top")
need(d, "bytes", isint, "an int", "top")
need(d, "seconds", isnum, "a number", "top")
need(d, "jobs", lambda v: isinstance(v, list) and len(v) > 0, "a non-empty list", "top")
for i, j in enumerate(d.get("jobs") or []):
    w = "jobs[%d]" % i
    need(j, "line", lambda v: v is None or isint(v), "int|null", w)
    need(j, "op", lambda v: v in ("copy", "zero"), "copy|zero", w)
    reg = lambda v: (isinstance(v, dict) and isinstance(v.get("path"), str)
                     and isint(v.get("offset")) and isint(v.get("length")))
    need(j, "source", lambda v: v is None or reg(v), "{path,offset,length}|null", w)
    need(j, "dests", lambda v: isinstance(v, list) and len(v) > 0 and all(map(reg, v)),
         "a list of {path,offset,length}", w)
    need(j, "bytes", isint, "an int", w)
    need(j, "read_err", lambda v: v in (0, 1) and isint(v), "0|1", w)
    need(j, "write_err", isint, "an int", w)
    need(j, "errors", lambda v: isinstance(v, list), "a list", w)
    need(j, "verified", lambda v: v is True or v is False or v is None, "true|false|null", w)
if bad:
    print("\n".join(bad)); sys.exit(1)
' "$1" 2>&1) || fail "JSON report does not follow SPEC §5: $problems
$1"
}

# json_assert JSON EXPR...: each EXPR is a python expression over `d` (the
# parsed JSON), `J` (d["jobs"][0]) and `env` (the environment) that must be
# true; all failing ones are reported together.  One python run per call.
json_assert() {
	local problems
	problems=$(python3 -c '
import json, os, sys
d = json.loads(sys.argv[1])
J = d["jobs"][0] if isinstance(d.get("jobs"), list) and d["jobs"] else None
env = dict(os.environ)
bad = []
for e in sys.argv[2:]:
    try:
        ok = eval(e, {"d": d, "J": J, "env": env, "json": json})
    except Exception as x:
        ok, e = False, "%s  (raised %r)" % (e, x)
    if ok is not True:
        bad.append("not true: " + e)
if bad:
    print("\n".join(bad)); sys.exit(1)
' "$@" 2>&1) || fail "$problems
JSON: $1"
}

@test "--json output is one JSON object that python3 -m json.tool parses" {
	run -0 --separate-stderr "$KCOPY" --json "$SRC" "$SCRATCH/d"
	python3 -m json.tool <<<"$output" >/dev/null
	json_assert "$output" 'isinstance(d, dict)'
	cmp "$SRC" "$SCRATCH/d"
}

@test "a 1->4 copy of N bytes reports every SPEC §5 field with the right types and values" {
	export N=$((3 * MiB))
	make_loop L1 4M
	make_loop L2 3M
	export D1="$SCRATCH/d1" D2="$SCRATCH/d2" L1 L2 SRC
	run -0 --separate-stderr "$KCOPY" --json "$SRC" "$D1" "$L1" "$D2" "$L2"
	check_schema "$output"
	json_assert "$output" \
		'd["status"] == "ok"' \
		'd["bytes"] == int(env["N"])' \
		'd["seconds"] > 0' \
		'len(d["jobs"]) == 1' \
		'J["line"] is None' \
		'J["op"] == "copy"' \
		'J["source"] == {"path": env["SRC"], "offset": 0, "length": int(env["N"])}' \
		'[x["path"] for x in J["dests"]] == [env["D1"], env["L1"], env["D2"], env["L2"]]' \
		'[x["offset"] for x in J["dests"]] == [0, 0, 0, 0]' \
		'[x["length"] for x in J["dests"]] == [int(env["N"])] * 4' \
		'J["bytes"] == int(env["N"])' \
		'J["read_err"] == 0' \
		'J["write_err"] == 0' \
		'J["errors"] == []' \
		'J["verified"] is None' \
		'J["zero_method"] is None'
	cmp "$SRC" "$D1"
	cmp "$SRC" "$D2"
	assert_same_range "$L1" 0 "$SRC" 0 3M
	assert_same_range "$L2" 0 "$SRC" 0 3M
}

@test "--json for a job with regions at offsets reports absolute offsets and the copy length" {
	make_file "$SCRATCH/d" 4M random
	make_loop L 2M
	export D="$SCRATCH/d" L SRC
	run -0 --separate-stderr "$KCOPY" --json "$SRC:1M+512K" "$D:2M" "$L:512K"
	check_schema "$output"
	json_assert "$output" \
		'J["source"] == {"path": env["SRC"], "offset": 1048576, "length": 524288}' \
		'J["dests"] == [{"path": env["D"], "offset": 2097152, "length": 524288}, {"path": env["L"], "offset": 524288, "length": 524288}]' \
		'J["bytes"] == 524288' \
		'd["bytes"] == 524288'
	assert_same_range "$D" 2M "$SRC" 1M 512K
	assert_same_range "$L" 512K "$SRC" 1M 512K
}

@test "--json reports a destination's length as the copy length, also when it was given a larger LENGTH" {
	make_loop L 4M
	run -0 --separate-stderr "$KCOPY" -q --json "$SRC:+1M" "$SCRATCH/d:0+2M" "$L:1M+3M"
	check_schema "$output"
	json_assert "$output" \
		'[(x["offset"], x["length"]) for x in J["dests"]] == [(0, 1048576), (1048576, 1048576)]' \
		'J["bytes"] == 1048576'
}

@test "--json with --zero reports op zero, source null and a zero_method" {
	make_file "$SCRATCH/z" 1M random
	make_file "$SCRATCH/big" 4M random
	export Z="$SCRATCH/z" BIG="$SCRATCH/big"
	run -0 --separate-stderr "$KCOPY" --json --zero "$Z" "$BIG:1M+1M"
	check_schema "$output"
	json_assert "$output" \
		'd["status"] == "ok"' \
		'J["op"] == "zero"' \
		'J["source"] is None' \
		'"zero_method" in J' \
		'isinstance(J["zero_method"], str) and len(J["zero_method"]) > 0' \
		'J["dests"] == [{"path": env["Z"], "offset": 0, "length": 1048576}, {"path": env["BIG"], "offset": 1048576, "length": 1048576}]' \
		'J["bytes"] == 1048576' \
		'd["bytes"] == 1048576' \
		'J["errors"] == []' \
		'J["read_err"] == 0 and J["write_err"] == 0'
	assert_zero_range "$Z" 0 1M
	assert_zero_range "$BIG" 1M 1M
	# and with zero buffers instead of the offload
	run -0 --separate-stderr "$KCOPY" --json --zero --no-write-zeroes "$Z"
	check_schema "$output"
	json_assert "$output" 'J["op"] == "zero"' 'isinstance(J["zero_method"], str)'
}

@test "-q --json prints the JSON on stdout and nothing on stderr" {
	make_loop L 4M
	run -0 --separate-stderr "$KCOPY" -q --json "$SRC" "$L"
	[ -z "$stderr" ] || fail "stderr not empty: $stderr"
	check_schema "$output"
	json_assert "$output" 'd["status"] == "ok"'
}

@test "--json without -q keeps stdout pure JSON and the human report on stderr" {
	run -0 --separate-stderr "$KCOPY" --json "$SRC" "$SCRATCH/d"
	check_schema "$output"
	[[ $stderr == *"$SRC"* ]] || fail "no human report on stderr: $stderr"
}

@test "--json with --verify reports verified true" {
	run -0 --separate-stderr "$KCOPY" -q --json --verify "$SRC" "$SCRATCH/d1" "$SCRATCH/d2"
	check_schema "$output"
	json_assert "$output" 'J["verified"] is True'
}

@test "--json for a job file lists each job with its line number; top-level bytes is the sum" {
	make_file "$SCRATCH/z" 512K random
	printf '# two jobs\ncopy %s %s\n\nzero %s\n' "$SRC:+1M" "$SCRATCH/d" "$SCRATCH/z" \
		>"$SCRATCH/jobs"
	run -0 --separate-stderr "$KCOPY" -q --json --job-file="$SCRATCH/jobs"
	check_schema "$output"
	json_assert "$output" \
		'len(d["jobs"]) == 2' \
		'sorted((j["line"], j["op"], j["bytes"]) for j in d["jobs"]) == [(2, "copy", 1048576), (4, "zero", 524288)]' \
		'd["bytes"] == 1048576 + 524288'
	assert_same_range "$SCRATCH/d" 0 "$SRC" 0 1M
	assert_zero_range "$SCRATCH/z" 0 512K
}

@test "a failed write of the JSON report to stdout (/dev/full) gives a non-zero exit" {
	run --separate-stderr bash -c '"$0" --json -q "$1" "$2" >/dev/full' "$KCOPY" "$SRC" "$SCRATCH/d1"
	assert_failure
	[ -n "$stderr" ] || fail "no message about the failed write"
	run bash -c '"$0" --json "$1" "$2" >/dev/full 2>/dev/null' "$KCOPY" "$SRC" "$SCRATCH/d2"
	assert_failure
}

@test "--json escapes paths with quotes, backslashes, tabs, newlines and UTF-8" {
	local name=$'we"ird\\pa\tth\nnamé'
	cp "$SRC" "$SCRATCH/$name"
	run -0 --separate-stderr "$KCOPY" -q --json "$SCRATCH/$name" "$SCRATCH/$name.out"
	check_schema "$output"
	export P="$SCRATCH/$name"
	json_assert "$output" 'J["source"]["path"] == env["P"]' \
		'J["dests"][0]["path"] == env["P"] + ".out"'
	cmp "$SRC" "$SCRATCH/$name.out"
}

@test "--json with a path that is not valid UTF-8 still prints valid (UTF-8) JSON" {
	local name=$'bad\xffname'
	cp "$SRC" "$SCRATCH/$name"
	run -0 bash -c '"$0" -q --json "$1" "$2" >"$3"' "$KCOPY" "$SCRATCH/$name" \
		"$SCRATCH/out" "$SCRATCH/report.json"
	cmp "$SRC" "$SCRATCH/out"
	run python3 -m json.tool "$SCRATCH/report.json"
	assert_success
}
