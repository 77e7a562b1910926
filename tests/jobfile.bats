#!/usr/bin/env bats
# Job files (SPEC §4): copy/zero/wait lines, comments, shell-like quoting
# without expansion, per-line job options, command-line options for all,
# validation of every line before any I/O (errors as FILE:LINE:, exit 2,
# nothing written), barriers, independent failures, line numbers in reports.

bats_require_minimum_version 1.5.0

load test_helper

MiB=$((1024 * 1024))

setup() {
	require_root
	JF="$SCRATCH/jobs"
}

@test "comments, blank lines, quotes without expansion, and a barrier's ordering" {
	local dir="$SCRATCH/dir with spaces"
	mkdir -p "$dir"
	make_file "$dir/src #1" 4M pattern
	rand_loop S 8M
	rand_loop D1 4M
	rand_loop D2 4M
	rand_loop D3 4M
	# shellcheck disable=SC2016 # the $ are for kcopy, which must not expand them
	cat >"$JF" <<EOF
# a migration plan

	# indented comment
copy "$dir/src #1" $D1   # a '#' inside quotes is not a comment
copy '$S':4M+4M "$D2" 	'$SCRATCH/lit\$HOME'
copy $S:0+4M $SCRATCH/back\\ slash "$SCRATCH/dq\$USER \${x}" $SCRATCH/glob* $SCRATCH/~tilde

wait   # the job below reads what line 4 wrote
copy $D1 $D3
EOF
	run -0 --separate-stderr "$KCOPY" --json --rate=32M --job-file="$JF"
	[ "$(json_get 'd["status"]' <<<"$output")" = ok ]
	[ "$(json_get '[j["line"] for j in d["jobs"]]' <<<"$output")" = "[4, 5, 6, 9]" ]
	[ "$(json_get 'd["bytes"]' <<<"$output")" -eq $((16 * MiB)) ]
	[ "$(json_get 'd["jobs"][1]["dests"][1]["path"]' <<<"$output")" = "$SCRATCH/lit\$HOME" ]
	cmp "$dir/src #1" "$D1"
	assert_same_range "$S" 4M "$D2" 0 4M
	# no expansion, quoting only
	[ -f "$SCRATCH/lit\$HOME" ] || fail "no file named 'lit\$HOME': $(ls "$SCRATCH")"
	assert_same_range "$S" 4M "$SCRATCH/lit\$HOME" 0 4M
	[ -f "$SCRATCH/back slash" ] || fail "backslash-space not one word: $(ls "$SCRATCH")"
	[ -f "$SCRATCH/dq\$USER \${x}" ] || fail "double quotes expanded: $(ls "$SCRATCH")"
	[ -f "$SCRATCH/glob*" ] && [ -f "$SCRATCH/~tilde" ] || fail "glob or tilde expanded: $(ls "$SCRATCH")"
	# the job after 'wait' copied what line 4 had written
	cmp "$dir/src #1" "$D3"
	# the human report names every job by its line
	for l in 4 5 6 9; do
		grep -q "^line $l: copy " <<<"$stderr" || fail "no 'line $l:' in: $stderr"
	done
	grep -q "^kcopy: ok: 4 jobs" <<<"$stderr"
}

@test "--job-file=- reads the jobs from stdin" {
	rand_loop S 4M
	make_loop D 4M
	make_loop Z 1M
	run -0 --separate-stderr "$KCOPY" --json --job-file=- <<EOF
copy $S $D
# zero another device
zero $Z
EOF
	[ "$(json_get '[(j["line"], j["op"]) for j in d["jobs"]]' <<<"$output")" = '[[1, "copy"], [3, "zero"]]' ]
	cmp "$S" "$D"
	assert_zero_range "$Z" 0 1M
	# a job continued over two lines (backslash-newline) has its first line's number
	run -0 --separate-stderr "$KCOPY" --json --job-file=- <<EOF

zero \\
  $Z
copy $S $D
EOF
	[ "$(json_get '[j["line"] for j in d["jobs"]]' <<<"$output")" = "[2, 4]" ]
}

# A valid first line writing D (junk) and F (missing file), then ERRLINES
# from line 2 on; kcopy must exit 2 naming JF:LINE and write nothing.
#   refuse LINE ERRLINES [PATTERN]
refuse() {
	local line=$1 body=$2 pattern=${3:-}
	printf 'copy %s:0+1M %s %s\n%s\n' "$S" "$D" "$F" "$body" >"$JF"
	run -2 --separate-stderr "$KCOPY" --job-file="$JF"
	[[ $stderr == "kcopy: $JF:$line: "* ]] ||
		fail "expected 'kcopy: $JF:$line: ...' for: $body
got: $stderr"
	[ "${#stderr_lines[@]}" -eq 1 ] || fail "more than one line: $stderr"
	if [[ -n $pattern ]]; then
		[[ $stderr =~ $pattern ]] || fail "message does not match /$pattern/: $stderr"
	fi
	[ -z "$output" ]
	cmp "$D" "$D_ORIG" || fail "destination written despite: $body"
	[ ! -e "$F" ] || fail "file destination created despite: $body"
}

@test "syntax and validation errors name FILE:LINE, exit 2, and nothing is written" {
	rand_loop S 8M
	rand_loop D 8M
	rand_loop E 8M
	F="$SCRATCH/newfile"
	refuse 2 "copy \"$S $E" "unterminated"
	refuse 3 "# fine
copy $S:'1M+1M $E:1M" "unterminated"
	refuse 2 "move $S $E" "move"
	refuse 2 "copy --bogus $S $E" "bogus"
	refuse 3 "wait
wait now"
	refuse 2 "copy $S"
	refuse 2 "zero"
	refuse 2 "copy $S:0+64M $E" "beyond|end"
	refuse 2 "copy $S:100 $E" "align"
	refuse 2 "copy $SCRATCH/nonexistent $E" "nonexistent"
	refuse 2 "copy $S:0+1M $E:4M+512K" "smaller"
	refuse 2 "copy $S:0+1M $E:1M $E:1M" "twice"
	refuse 2 "copy $S:0+1M $E $E:1M $E:2M $E:3M $E:4M $E:5M $E:6M $E:7M $SCRATCH/x9" "8"
	refuse 2 "copy $S:0+1M $SCRATCH" "directory|regular|block"
	# an error on a late line still stops everything
	refuse 6 "
# comment
copy $S:1M+1M $E

copy $S:2M+1M $E:9M" "small|beyond|end"
	# overlaps between jobs that run at the same time: either line may be
	# named, the message names the other one
	printf 'copy %s:0+1M %s %s\ncopy %s:0+2M %s:512K\n' "$S" "$D" "$F" "$S" "$D" >"$JF"
	run -2 --separate-stderr "$KCOPY" --job-file="$JF"
	[[ $stderr =~ ^kcopy:\ $JF:1:.*line\ 2 || $stderr =~ ^kcopy:\ $JF:2:.*line\ 1 ]] ||
		fail "overlap message: $stderr"
	cmp "$D" "$D_ORIG"
	[ ! -e "$F" ]
	# a job that writes what a concurrent job reads
	printf 'copy %s:0+1M %s %s\ncopy %s:0+1M %s\n' "$S" "$D" "$F" "$D" "$E" >"$JF"
	run -2 --separate-stderr "$KCOPY" --job-file="$JF"
	[[ $stderr =~ ^kcopy:\ $JF:[12]: ]] || fail "read/write overlap: $stderr"
	cmp "$D" "$D_ORIG"
	cmp "$E" "$E_ORIG"
	[ ! -e "$F" ]
}

@test "a job file without jobs, or that does not exist, is refused (exit 2)" {
	printf '# nothing\n\n   \nwait\n' >"$JF"
	run -2 --separate-stderr "$KCOPY" --job-file="$JF"
	[[ $stderr == "kcopy: $JF"* ]] || fail "$stderr"
	run -2 --separate-stderr "$KCOPY" --job-file="$SCRATCH/missing"
	[[ $stderr == "kcopy: "*missing* ]] || fail "$stderr"
	# and no SOURCE/DEST besides a job file
	make_file "$SCRATCH/a" 1M
	printf 'copy %s %s\n' "$SCRATCH/a" "$SCRATCH/b" >"$JF"
	run -2 --separate-stderr "$KCOPY" --job-file="$JF" "$SCRATCH/a" "$SCRATCH/c"
	[ ! -e "$SCRATCH/b" ]
	[ ! -e "$SCRATCH/c" ]
}

@test "overlapping jobs separated by 'wait' are accepted and run in order" {
	rand_loop S 8M
	rand_loop D 8M
	cat >"$JF" <<EOF
copy $S:0+4M $D:0
wait
copy $S:4M+4M $D:2M
EOF
	run -0 --separate-stderr "$KCOPY" --job-file="$JF"
	assert_same_range "$S" 0 "$D" 0 2M
	assert_same_range "$S" 4M "$D" 2M 4M
	assert_same_range "$D_ORIG" 6M "$D" 6M 2M
}

@test "a failed job does not stop the others; -i on a line keeps that job going" {
	local img="$SCRATCH/bad.img" bad=$((MiB + 8192))
	make_file "$img" 4M random
	mount_faultfs BADF "$img" --read-fail=$bad+4096
	loop_on_faultfs B "$BADF"
	rand_loop S 4M
	make_loop D1 4M
	make_loop D2 4M
	make_loop D3 4M
	make_loop D4 4M
	cat >"$JF" <<EOF
copy $B $D1
copy -i $B $D2
copy $S $D3
wait
copy $S $D4
EOF
	run -1 --separate-stderr "$KCOPY" --json --job-file="$JF"
	grep -q "^line 1: " <<<"$stderr"
	grep -q "read error" <<<"$stderr" || fail "no read error in the report: $stderr"
	[ "$(json_get 'd["status"]' <<<"$output")" = errors ]
	[ "$(json_get '[j["line"] for j in d["jobs"]]' <<<"$output")" = "[1, 2, 3, 5]" ]
	[ "$(json_get '[j["read_err"] for j in d["jobs"]]' <<<"$output")" = "[1, 1, 0, 0]" ]
	# line 2 (-i): everything but the bad block copied, the block zeroed,
	# the failed range reported at its absolute offset
	assert_same_range "$img" 0 "$D2" 0 $bad
	assert_zero_range "$D2" $bad 4096
	assert_same_range "$img" $((bad + 4096)) "$D2" $((bad + 4096)) $((4 * MiB - bad - 4096))
	run -0 json_get '[(e["region"], e["offset"], e["length"]) for e in d["jobs"][1]["errors"]]' <<<"$output"
	[ "$output" = "[[\"source\", $bad, 4096]]" ] || fail "errors of line 2: $output"
	# the good jobs, concurrent and after the barrier, are complete
	cmp "$S" "$D3"
	cmp "$S" "$D4"
}

@test "job options per line, client options from the command line for all" {
	make_loop Z 4M
	cat >"$JF" <<EOF
zero $Z:0+1M
zero --no-write-zeroes $Z:1M+1M
zero $Z:2M+2M
EOF
	run -0 --separate-stderr "$KCOPY" --json --job-file="$JF"
	[ "$(json_get '[j["zero_method"] for j in d["jobs"]]' <<<"$output")" = '["offload", "write", "offload"]' ]
	run -0 --separate-stderr "$KCOPY" --json --no-write-zeroes --job-file="$JF"
	[ "$(json_get '[j["zero_method"] for j in d["jobs"]]' <<<"$output")" = '["write", "write", "write"]' ]
	assert_zero_range "$Z" 0 4M
}

@test "--force / -f on a line allows that line's signature; -f on the command line allows all" {
	command -v mkfs.ext4 >/dev/null || skip "mkfs.ext4 not installed"
	rand_loop S 8M
	make_loop X 8M
	make_loop Y 8M
	mkfs.ext4 -q -F -L kcopytest "$X"
	mkfs.ext4 -q -F "$Y"
	local xsum ysum
	xsum=$(sha_of "$X") ysum=$(sha_of "$Y")
	# line 2 forgot -f
	printf 'copy -f %s %s\ncopy %s %s\n' "$S" "$X" "$S" "$Y" >"$JF"
	run -2 --separate-stderr "$KCOPY" --job-file="$JF"
	[[ $stderr == "kcopy: $JF:2: "*ext4* ]] || fail "$stderr"
	[ "$(sha_of "$X")" = "$xsum" ]
	[ "$(sha_of "$Y")" = "$ysum" ]
	# the label is named too
	printf 'copy %s %s\n' "$S" "$X" >"$JF"
	run -2 --separate-stderr "$KCOPY" --job-file="$JF"
	[[ $stderr == "kcopy: $JF:1: "*kcopytest* ]] || fail "label not named: $stderr"
	# --force as a long option on each line
	printf 'copy --force %s %s\ncopy -f %s %s\n' "$S" "$X" "$S" "$Y" >"$JF"
	run -0 --separate-stderr "$KCOPY" --job-file="$JF"
	cmp "$S" "$X"
	cmp "$S" "$Y"
	# -f on the command line for lines without it
	mkfs.ext4 -q -F "$X"
	mkfs.ext4 -q -F "$Y"
	printf 'zero %s\nzero %s\n' "$X" "$Y" >"$JF"
	run -2 --separate-stderr "$KCOPY" --job-file="$JF"
	run -0 --separate-stderr "$KCOPY" -f --job-file="$JF"
	assert_zero_range "$X" 0 8M
	assert_zero_range "$Y" 0 8M
}
