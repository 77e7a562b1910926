#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0
#
# Shell completion and the man page both follow the binary's own option list
# (`kcopy --long-options`: "--name" for a flag, "--name=" for an option that
# takes a value), so neither can drift from the code.

bats_require_minimum_version 1.5.0

load test_helper

ROOT="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
MAN="$ROOT/man/kcopy.1"

# Run the bash completion function as bash would for the words "$@" (the
# last word is the one being completed); the reply is in COMPREPLY.
complete_words() {
	# The completion runs `kcopy --long-options`: find the kcopy under test.
	PATH="$(dirname "$KCOPY"):$PATH"
	# shellcheck source=../completions/kcopy.bash
	source "$ROOT/completions/kcopy.bash"
	COMP_WORDS=("$@")
	COMP_CWORD=$(($# - 1))
	COMP_LINE="$*"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_kcopy kcopy "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
	echo "completions for [$*]: ${COMPREPLY[*]}"
}

has_reply() {
	local want=$1 r
	for r in "${COMPREPLY[@]}"; do
		[[ $r == "$want" ]] && return 0
	done
	echo "missing completion: $want" >&2
	return 1
}

# The man page source with roff escapes removed: "\-\-sub\-jobs" -> "--sub-jobs".
man_text() {
	sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\&//g' "$MAN"
}

@test "kcopy --long-options prints one well-formed option a line" {
	run "$KCOPY" --long-options
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -gt 10 ]
	for opt in "${lines[@]}"; do
		[[ $opt =~ ^--[a-z][a-z-]*=?$ ]] || { echo "bad line: '$opt'"; false; }
	done
}

@test "completion script is valid bash and registers _kcopy" {
	bash -n "$ROOT/completions/kcopy.bash"
	run bash -c "source '$ROOT/completions/kcopy.bash' && complete -p kcopy"
	[ "$status" -eq 0 ]
	[[ $output == *"-F _kcopy"* ]]
}

@test "bash completion: --sub offers --sub-job-size= and --sub-jobs=" {
	complete_words kcopy --sub
	has_reply --sub-job-size=
	has_reply --sub-jobs=
	[ "${#COMPREPLY[@]}" -eq 2 ]
}

@test "bash completion: every long option completes from its own prefix" {
	local opt
	for opt in $("$KCOPY" --long-options); do
		complete_words kcopy "${opt%=}"
		has_reply "$opt"
	done
}

@test "bash completion: --progress= offers json" {
	complete_words kcopy --progress = j
	[ "${COMPREPLY[*]}" = json ]
	# '=' not in COMP_WORDBREAKS: the word arrives whole
	complete_words kcopy --progress=j
	[ "${COMPREPLY[*]}" = --progress=json ]
}

@test "bash completion: --io= offers aio and uring" {
	complete_words kcopy --io = u
	[ "${COMPREPLY[*]}" = uring ]
	complete_words kcopy --io=
	[ "${COMPREPLY[*]}" = "--io=aio --io=uring" ]
}

@test "bash completion: --map= and --job-file= complete file names" {
	cd "$BATS_TEST_TMPDIR"
	touch resume.map migrate.jobs
	complete_words kcopy --map = resu
	[ "${COMPREPLY[*]}" = resume.map ]
	complete_words kcopy --job-file=migr
	[ "${COMPREPLY[*]}" = --job-file=migrate.jobs ]
}

@test "bash completion: regions complete as paths" {
	cd "$BATS_TEST_TMPDIR"
	touch golden.img
	complete_words kcopy --zero gold
	[ "${COMPREPLY[*]}" = golden.img ]
	complete_words kcopy golden.img /dev/nul
	has_reply /dev/null
	complete_words kcopy -- --not-an-option
	[ "${#COMPREPLY[@]}" -eq 0 ]
}

@test "man page documents every option of kcopy --long-options" {
	local text opt name missing=()
	text=$(man_text)
	run "$KCOPY" --long-options
	[ "$status" -eq 0 ]
	for opt in "${lines[@]}"; do
		name=${opt%=}
		[[ $name == --long-options ]] && continue	# hidden, for completion
		grep -qE -- "(^|[^[:alnum:]-])${name}([^[:alnum:]-]|$)" <<<"$text" ||
			missing+=("$name")
	done
	if ((${#missing[@]})); then
		echo "not in man/kcopy.1: ${missing[*]}"
		false
	fi
}

@test "every option the man page lists under OPTIONS exists in kcopy" {
	local documented opt missing=() all
	all=" $("$KCOPY" --long-options | sed 's/=$//' | tr '\n' ' ') "
	# Tag lines of .TP entries between .SH OPTIONS and the next .SH.
	documented=$(man_text | awk '
		/^\.SH / { in_opts = ($2 == "OPTIONS") }
		in_opts && tp { print; tp = 0; next }
		in_opts && /^\.TP/ { tp = 1 }' |
		grep -oE -- '--[a-z][a-z-]*' | sort -u)
	[ -n "$documented" ]
	for opt in $documented; do
		case $opt in
		--help|--usage|--version) continue ;;	# argp's own
		--long-options) continue ;;	# hidden, listed by itself nowhere
		esac
		[[ $all == *" $opt "* ]] || missing+=("$opt")
	done
	if ((${#missing[@]})); then
		echo "documented but not accepted by kcopy: ${missing[*]}"
		false
	fi
}

# zsh is in scripts/install-deps: under CI a missing zsh is a failure.
need_zsh() {
	command -v zsh >/dev/null && return 0
	[[ ${CI:-} == true ]] && fail "zsh not installed (scripts/install-deps installs it)"
	skip "zsh not installed"
}

@test "zsh completion has valid syntax" {
	need_zsh
	zsh -n "$ROOT/completions/_kcopy"
}

# Run _kcopy's body in zsh with _call_program and _arguments replaced by
# stand-ins that run the command and print the specs, one a line.
zsh_specs() {
	zsh -f -c '
		_call_program() { shift; "$@"; }
		_arguments() { print -rl -- "$@"; }
		words=("$1")
		source "$2"' zsh "$KCOPY" "$ROOT/completions/_kcopy"
}

@test "zsh completion: one spec per option of kcopy --long-options, files for regions" {
	need_zsh
	run -0 zsh_specs
	local opt
	while read -r opt; do
		case $opt in
		--progress|--progress=) assert_line --partial -- "--progress=-[show progress]" ;;
		--map=|--job-file=) assert_line -- "${opt}-:file:_files" ;;
		--io=) assert_line -- "--io=-[kernel I/O interface]:interface:(aio uring)" ;;
		--*=) assert_line -- "${opt}-:value: " ;;
		*) assert_line -- "$opt" ;;
		esac
	done < <("$KCOPY" --long-options)
	assert_line '*:region:_files'
	assert_line -- '--sub-job-size=-:value: '
	assert_line -- '--zero'
}

@test "the man page's grep index of long options matches kcopy --long-options" {
	local index want
	index=$(sed -n 's/^\.\\" \(--.*\)$/\1/p' "$MAN" | tr ' ' '\n' | sort)
	want=$( { "$KCOPY" --long-options | sed 's/=$//'; echo --long-options; } | sort)
	[ "$index" = "$want" ] || fail "index: $(echo $index) / kcopy: $(echo $want)"
}
