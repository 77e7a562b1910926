#!/usr/bin/env bats
# Reports people can script against, and messages that say what to do
# (SPEC §5): -q never hides an error; the byte counters add up for every
# job; a job's time includes its flush; the JSON schema in the man page is
# what kcopy prints; one-line refusals that name the argument and the fix.

bats_require_minimum_version 1.5.0

load test_helper

MiB=$((1024 * 1024))

setup() {
	require_root
	SRC="$SCRATCH/src.img"
	make_file "$SRC" 4M random
	FAULTS="$SCRATCH/faults"
}

# counters_add_up: for every job of the report in $output, data + zeroed +
# skipped = bytes
counters_add_up() {
	json_expect 'all(j["bytes_data"] + j["bytes_zeroed"] + j["bytes_skipped"] == j["bytes"] for j in d["jobs"])'
}

# refused_with TEXT ARGS...: exit 2, one line on stderr containing TEXT
refused_with() {
	local text=$1
	shift
	run -2 --separate-stderr "$KCOPY" "$@"
	[ "${#stderr_lines[@]}" -eq 1 ] || fail "not one line: $stderr"
	[[ $stderr == "kcopy: "*"$text"* ]] || fail "'$text' not in: $stderr"
}

# --- -q never hides an error --------------------------------------------------------

@test "-q with a read error, a verify mismatch and a failed flush: exit 1, one line each on stderr" {
	mount_faultfs S "$SRC" --name=src --read-fail=1M+512
	run -1 --separate-stderr "$KCOPY" -q -i "$S" "$SCRATCH/d.img"
	[[ $stderr == "kcopy: read error: source $S bytes 1048576-1049087 (512 bytes): Input/output error" ]] ||
		fail "$stderr"
	printf 'copy %s %s\nwait\nzero %s\n' "$SRC" "$SCRATCH/v.img" "$SCRATCH/v.img:1M+4K" \
		>"$SCRATCH/jobs"
	run -1 --separate-stderr "$KCOPY" -q --verify --job-file="$SCRATCH/jobs"
	[[ $stderr == "kcopy: line 1: verify mismatch: dest 0 $SCRATCH/v.img bytes 1048576-1052671 (4096 bytes): data differs (verify)" ]] ||
		fail "$stderr"
	make_file "$SCRATCH/f.img" 4M zero
	mount_faultfs F "$SCRATCH/f.img" --name=f --fsync-fail
	run -1 --separate-stderr "$KCOPY" -q "$SRC" "$F"
	[[ $stderr == "kcopy: flush failed: dest 0 $F bytes 0-4194303 (4194304 bytes): fdatasync: Input/output error" ]] ||
		fail "$stderr"
	# and with no error, nothing at all
	run -0 --separate-stderr "$KCOPY" -q "$SRC" "$SCRATCH/ok.img"
	[ -z "$stderr" ]
}

# --- the counters --------------------------------------------------------------------

@test "bytes_data, bytes_zeroed and bytes_skipped are filled for every job and add up to bytes" {
	kc 0 "$SRC" "$SCRATCH/a.img" "$SCRATCH/b.img"
	counters_add_up
	[ "$(jq_ 'd["jobs"][0]["bytes_data"]')" -eq $((4 * MiB)) ]
	kc 0 --zero "$SCRATCH/a.img"
	counters_add_up
	[ "$(jq_ 'd["jobs"][0]["bytes_zeroed"]')" -eq $((4 * MiB)) ]
	kc 0 --zero --no-write-zeroes "$SCRATCH/a.img"
	[ "$(jq_ 'd["jobs"][0]["bytes_zeroed"]')" -eq $((4 * MiB)) ]
	# an error that stops a job: what it did not reach is skipped
	mount_faultfs S "$SRC" --name=src --read-fail=2M+512
	kc 1 "$S" "$SCRATCH/c.img"
	counters_add_up
	[ "$(jq_ 'd["jobs"][0]["bytes"]')" -eq $((4 * MiB)) ]
	[ "$(jq_ 'd["jobs"][0]["bytes_skipped"]')" -gt 0 ]
}

@test "after a resume the split adds up: resumed bytes are skipped, the rest data or zeroed" {
	local M="$SCRATCH/map"
	make_file "$SCRATCH/big.img" 32M random
	"$KCOPY" -q --rate=16M --map="$M" "$SCRATCH/big.img" "$SCRATCH/d.img" 3>&- &
	local pid=$!
	register_cleanup pid "$pid"
	# a map with work done in it has been saved
	wait_lines "$pid" "$M" '^done '
	kill -INT "$pid"
	wait "$pid" || true
	kc 0 --map="$M" "$SCRATCH/big.img" "$SCRATCH/d.img"
	counters_add_up
	[ "$(jq_ 'd["jobs"][0]["bytes_skipped"]')" -gt 0 ]
	[ "$(jq_ 'd["jobs"][0]["bytes_data"]')" -gt 0 ]
	cmp "$SCRATCH/big.img" "$SCRATCH/d.img"
	# a zero job resumed says what it zeroed
	printf 'zero %s\n' "$SCRATCH/d.img:0+8M" >"$SCRATCH/jobs"
	kc 0 --map="$SCRATCH/zmap" --job-file="$SCRATCH/jobs"
	[ "$(jq_ 'd["jobs"][0]["bytes_zeroed"]')" -eq $((8 * MiB)) ]
	kc 0 --map="$SCRATCH/zmap" --job-file="$SCRATCH/jobs"
	[ "$(jq_ 'd["jobs"][0]["bytes_skipped"]')" -eq $((8 * MiB)) ]
	counters_add_up
}

@test "a job with nothing left to do says so instead of a rate" {
	kc 0 --map="$SCRATCH/m" "$SRC" "$SCRATCH/d.img"
	kc 0 --map="$SCRATCH/m" "$SRC" "$SCRATCH/d.img"
	[[ $stderr == *"nothing left to do: 4.0 MiB already done"* ]] || fail "$stderr"
	[[ $stderr != *"/s)"*"nothing"* && $stderr != *"copied 4.0 MiB in"* ]] || fail "$stderr"
}

@test "an interrupted job's bytes is its length; its counters say what was done" {
	make_file "$SCRATCH/big.img" 32M random
	"$KCOPY" --json --progress=json --rate=16M "$SCRATCH/big.img" "$SCRATCH/d.img" \
		>"$SCRATCH/out" 2>"$SCRATCH/err" 3>&- &
	local pid=$!
	register_cleanup pid "$pid"
	# the signal once a progress line shows data copied
	wait_kcopy_progress "$pid" "$SCRATCH/err"
	kill -INT "$pid"
	wait "$pid" || true
	output=$(cat "$SCRATCH/out")
	[ "$(jq_ 'd["status"]')" = interrupted ]
	[ "$(jq_ 'd["jobs"][0]["bytes"]')" -eq $((32 * MiB)) ]
	[ "$(jq_ 'd["bytes"]')" -eq $((32 * MiB)) ]
	[ "$(jq_ 'd["jobs"][0]["bytes_data"]')" -lt $((32 * MiB)) ]
}

@test "a job's seconds include the flush of its destinations" {
	make_file "$SCRATCH/f.img" 4M zero
	mount_faultfs F "$SCRATCH/f.img" --name=f --fsync-delay-us=1500000
	kc 0 "$SRC" "$F"
	json_expect 'd["jobs"][0]["seconds"] >= 1.5'
	[[ $stderr =~ copied\ 4.0\ MiB\ in\ ([0-9.]+)\ s ]] || fail "$stderr"
	python3 -c 'import sys; sys.exit(float(sys.argv[1]) < 1.5)' "${BASH_REMATCH[1]}" ||
		fail "human time ${BASH_REMATCH[1]} s leaves out the flush"
}

@test "--rate holds a short copy too: 2 MiB at 1M/s takes at least 2 s" {
	make_file "$SCRATCH/two.img" 2M random
	kc 0 --rate=1M "$SCRATCH/two.img" "$SCRATCH/d.img"
	json_expect 'd["jobs"][0]["seconds"] >= 1.95'
	cmp "$SCRATCH/two.img" "$SCRATCH/d.img"
}

# --- messages ----------------------------------------------------------------------------

@test "refusals name the argument, the bad part and the fix, one line each" {
	mkdir "$SCRATCH/dir"
	refused_with "is a directory, not a job file" --job-file="$SCRATCH/dir"
	refused_with "--job-file given twice" --job-file=a --job-file=b
	refused_with "'-1': a size cannot be negative" "$SCRATCH/nosuch:-1" "$SCRATCH/d.img"
	refused_with "nothing follows the ':'" "$SCRATCH/nosuch:" "$SCRATCH/d.img"
	refused_with "'1.5G': sizes are whole numbers" "$SCRATCH/nosuch:1.5G" "$SCRATCH/d.img"
	refused_with "'E' is not a unit" --zero "$SCRATCH/f:4M+8E"
	[ ! -e "$SCRATCH/f:4M+8E" ] && [ ! -e "$SCRATCH/f" ]
	# a mistyped suffix never becomes a new file's name...
	refused_with "write $SCRATCH/./j4.img:8E to create it" "$SRC" "$SCRATCH/j4.img:8E"
	[ ! -e "$SCRATCH/j4.img:8E" ]
	# ...unless asked for with ./
	cd "$SCRATCH"
	run -0 "$KCOPY" -q "$SRC" ./j4.img:8E
	cmp "$SRC" "$SCRATCH/j4.img:8E"
	run -0 "$KCOPY" -q "$SRC" "$SCRATCH/./j5.img:9Q"
	cmp "$SRC" "$SCRATCH/j5.img:9Q"
	# an existing file named like a region
	cp "$SRC" "$SCRATCH/col:4096"
	refused_with "write 'col:4096:0' to mean all of it" col:4096 "$SCRATCH/d.img"
	run -0 "$KCOPY" -q col:4096:0 "$SCRATCH/d.img"
	# '-' is not a file name
	refused_with "write ./- for a file named '-'" "$SRC" -
	[ ! -e "$SCRATCH/-" ]
}

@test "in use and signatures are said in words, naming the argument as given" {
	rand_loop L 8M
	# held open exclusively by another program, which says when it holds it
	python3 -c '
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_EXCL)
with open(sys.argv[2], "w") as f:
    f.write("held\n")
time.sleep(60)' "$L" "$SCRATCH/held" 3>&- &
	local holder=$!
	register_cleanup pid "$holder"
	wait_lines "$holder" "$SCRATCH/held" '^held$'
	refused_with "$L:1M: device is in use" "$SRC" "$L:1M"
	rand_loop S 8M
	mkswap -q -L swaplbl "$S" 2>/dev/null || mkswap -L swaplbl "$S" >/dev/null
	run -2 --separate-stderr "$KCOPY" "$SRC" "$S"
	[[ $stderr == *"carries a signature: swap (label 'swaplbl')"* ]] || fail "$stderr"
	[[ $stderr != *other* ]] || fail "$stderr"
	rand_loop E 8M
	mkfs.ext4 -q -F "$E"
	run -2 --separate-stderr "$KCOPY" "$SRC" "$E"
	[[ $stderr == *"carries a signature: ext4 file system"* ]] || fail "$stderr"
}

@test "a source that shrinks during the copy is reported as such" {
	make_file "$SCRATCH/s.img" 8M random
	# the file is cut short while kcopy waits between chunks
	"$KCOPY" --json --progress=json -b 1M --rate=2M "$SCRATCH/s.img" \
		"$SCRATCH/d.img" >"$SCRATCH/out" 2>"$SCRATCH/err" 3>&- &
	local pid=$!
	register_cleanup pid "$pid"
	# 8 MiB at 2 MiB/s: cut the file once a progress line shows data copied
	wait_kcopy_progress "$pid" "$SCRATCH/err"
	truncate -s 2M "$SCRATCH/s.img"
	local rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 1 ] || fail "exit $rc: $(cat "$SCRATCH/err")"
	grep -q "the source shrank" "$SCRATCH/err" || fail "$(cat "$SCRATCH/err")"
}

@test "a verify cut short by SIGINT says so" {
	make_file "$SCRATCH/d.img" 8M zero
	mount_faultfs D "$SCRATCH/d.img" --name=d --log="$SCRATCH/d.log"
	# --rate holds the verify's reads too; it starts when the log shows a read
	"$KCOPY" --json --verify --rate=8M "$SRC" "$D" >"$SCRATCH/out" \
		2>"$SCRATCH/err" 3>&- &
	local pid=$!
	register_cleanup pid "$pid"
	wait_lines "$pid" "$SCRATCH/d.log" '^R '
	kill -INT "$pid"
	wait "$pid" || true
	output=$(cat "$SCRATCH/out")
	[ "$(jq_ 'd["status"]')" = interrupted ]
	grep -q "verification interrupted" "$SCRATCH/err" || fail "$(cat "$SCRATCH/err")"
	[ "$(jq_ 'd["jobs"][0]["verified"]')" = null ]
}

@test "a later stage may read a file an earlier stage creates" {
	printf 'copy %s %s\nwait\ncopy %s %s\n' "$SRC" "$SCRATCH/mid.img" \
		"$SCRATCH/mid.img" "$SCRATCH/out.img" >"$SCRATCH/jobs"
	kc 0 --job-file="$SCRATCH/jobs"
	cmp "$SRC" "$SCRATCH/out.img"
}

@test "a new destination deeper than PATH_MAX is created, as dd does" {
	local d="$SCRATCH/deep" depth
	mkdir "$d"
	cd "$d"
	for ((depth = 0; depth < 22; depth++)); do
		mkdir "$(printf 'd%.0s' {1..200})"
		cd "$(printf 'd%.0s' {1..200})"
	done
	[ "${#PWD}" -gt 4096 ]
	run -0 --separate-stderr "$KCOPY" -q --map=m "$SRC" new.img
	cmp "$SRC" new.img
	cd "$SCRATCH"
	rm -rf "$d"
}

# --- JSON ------------------------------------------------------------------------------

@test "a path that is not UTF-8 comes with its bytes in path_bytes; valid ones without" {
	local name
	name=$(printf '%s/x\xff\xfe' "$SCRATCH")
	kc 0 "$SRC" "$name"
	json_expect 'd["jobs"][0]["dests"][0]["path_bytes"].endswith("78fffe")' \
		'"path_bytes" not in d["jobs"][0]["source"]'
	python3 -c 'import sys, json; d = json.loads(sys.argv[1]); print(bytes.fromhex(d["jobs"][0]["dests"][0]["path_bytes"]) == sys.argv[2].encode("utf-8", "surrogateescape"))' \
		"$output" "$name" | grep -q True
}

@test "the man page's JSON schema is what kcopy prints: every key printed is in it, every key in it is printed" {
	local keys="$SCRATCH/keys"
	: >"$keys"
	collect() { printf '%s\n' "$output" >>"$keys"; }
	# a copy with --verify to a non-UTF-8 name, with a source read error
	mount_faultfs S "$SRC" --name=src --read-fail=1M+512
	kc 1 -i --verify "$S" "$(printf '%s/x\xff' "$SCRATCH")"
	collect
	# a zero job from a job file (line numbers, null source, zero_method)
	printf 'zero %s\n' "$SCRATCH/z.img:0+1M" >"$SCRATCH/jobs"
	kc 0 --job-file="$SCRATCH/jobs"
	collect
	python3 - "$keys" "$BATS_TEST_DIRNAME/../man/kcopy.1" <<'EOF'
import json, re, sys
printed = set()
def walk(v):
    if isinstance(v, dict):
        for k, x in v.items():
            printed.add(k)
            walk(x)
    elif isinstance(v, list):
        for x in v:
            walk(x)
for line in open(sys.argv[1]):
    if line.strip():
        walk(json.loads(line))
man = open(sys.argv[2]).read()
block = man[man.index(".SS Reports"):man.index(".SS Progress and signals")]
ex = block[block.index(".EX"):block.index(".EE")]
schema = set(re.findall(r'"([a-z_]+)":', ex))
# every schema key is also explained below the block
documented = set(re.findall(r'^\.I[R]? (.*)$', block, re.M))
explained = set()
for d in documented:
    explained.update(re.findall(r'[a-z_]+', d))
errors = []
if printed - schema:
    errors.append("printed, not in the schema: %s" % sorted(printed - schema))
if schema - printed:
    errors.append("in the schema, never printed: %s" % sorted(schema - printed))
if schema - explained:
    errors.append("in the schema, not explained: %s" % sorted(schema - explained))
if errors:
    sys.exit("; ".join(errors))
EOF
}

# --- the human report --------------------------------------------------------------------

@test "eight destinations, two failing: one line per destination with its state" {
	local dests=() i
	for ((i = 0; i < 8; i++)); do
		dests+=("$SCRATCH/d$i.img")
	done
	make_file "$SCRATCH/bad3.img" 4M zero
	mount_faultfs B3 "$SCRATCH/bad3.img" --name=b3 --write-fail=1M+4K
	make_file "$SCRATCH/bad6.img" 4M zero
	mount_faultfs B6 "$SCRATCH/bad6.img" --name=b6 --fsync-fail
	dests[3]=$B3
	dests[6]=$B6
	kc 1 -i --verify "$SRC" "${dests[@]}"
	[ "$(jq_ 'd["jobs"][0]["write_err"]')" -eq $(((1 << 3) | (1 << 6))) ]
	for ((i = 0; i < 8; i++)); do
		case $i in
		3) [[ $stderr == *"  dest 3 $B3: FAILED: 1 write error (4.0 KiB), 1 verify mismatch (4.0 KiB)"* ]] ||
			fail "dest 3: $stderr" ;;
		6) [[ $stderr == *"  dest 6 $B6: FAILED: flush failed"$'\n'* ]] || fail "dest 6: $stderr" ;;
		*) [[ $stderr == *"  dest $i ${dests[$i]}: ok, verified"* ]] || fail "dest $i: $stderr" ;;
		esac
	done
	echo "$stderr" | sed 's/^/# /' >&3
}
