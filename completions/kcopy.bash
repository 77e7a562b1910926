# SPDX-License-Identifier: GPL-2.0
# bash completion for kcopy(1)                          -*- shell-script -*-
#
# The option list comes from the binary itself (`kcopy --long-options`
# prints one option a line: "--name" for a flag, "--name=" for an option
# that takes a value), so completion never drifts from the code.
# Self-contained: works with or without the bash-completion package.

_kcopy_long_options()
{
	local cmd=$1

	case $cmd in
	"~"/*) cmd=$HOME/${cmd#"~/"} ;;
	esac
	if [[ $cmd != */* ]] && ! type -P -- "$cmd" >/dev/null 2>&1; then
		cmd=kcopy
	fi
	"$cmd" --long-options 2>/dev/null
}

# Complete paths: regular files, directories to descend into, and block
# devices (which are files under /dev to compgen -f).
_kcopy_files()
{
	local cur=$1

	compopt -o filenames 2>/dev/null || :
	mapfile -t -O "${#COMPREPLY[@]}" COMPREPLY < <(compgen -f -- "$cur")
}

# Complete bmap files (*.bmap, from bmaptool create) and the directories
# that may hold them.
_kcopy_bmap_files()
{
	local cur=$1

	compopt -o filenames 2>/dev/null || :
	mapfile -t -O "${#COMPREPLY[@]}" COMPREPLY < <(
		compgen -d -- "$cur"
		compgen -f -X '!*.bmap' -- "$cur")
}

# Complete the last algorithm of "--hash=ALG[,ALG...]", among those not
# given yet; the reply keeps the ones before it.
_kcopy_hash_algs()
{
	local val=$1 head alg algs=

	head=${val%"${val##*,}"}
	for alg in sha256 sha1 xxh128 blake2b; do
		[[ ,$head == *",$alg,"* ]] || algs+=" $alg"
	done
	mapfile -t COMPREPLY < <(compgen -P "$head" -W "$algs" -- "${val##*,}")
}

_kcopy()
{
	local cur prev opt val i
	local -a words=("${COMP_WORDS[@]}")
	local cword=$COMP_CWORD

	COMPREPLY=()
	cur=${words[cword]}
	prev=
	((cword > 0)) && prev=${words[cword - 1]}

	# Find "--opt=value" whether or not '=' is in COMP_WORDBREAKS:
	# "--map=fo" may arrive as one word or as "--map" "=" "fo".
	opt='' val=''
	if [[ $cur == --*=* ]]; then
		opt=${cur%%=*}= val=${cur#*=}
	elif [[ $cur == "=" && $prev == --* ]]; then
		opt=$prev= val=
		cur=
	elif [[ $prev == "=" ]] && ((cword > 1)) &&
	     [[ ${words[cword - 2]} == --* ]]; then
		opt=${words[cword - 2]}= val=$cur
	fi

	if [[ -n $opt ]]; then
		case $opt in
		--progress=)
			mapfile -t COMPREPLY < <(compgen -W "json" -- "$val")
			;;
		--io=)
			mapfile -t COMPREPLY < <(compgen -W "aio uring" -- "$val")
			;;
		--connections=)
			# connections per NBD export, 1 to 16
			mapfile -t COMPREPLY < <(compgen -W "1 2 4 8 16" -- "$val")
			;;
		--map=|--job-file=)
			_kcopy_files "$val"
			;;
		--bmap=)
			_kcopy_bmap_files "$val"
			;;
		--hash=)
			# sha256, sha1, xxh128, blake2b, or a comma list of them
			_kcopy_hash_algs "$val"
			;;
		esac
		# With '=' not a word break, the reply replaces the whole word.
		if [[ $cur == --*=* ]]; then
			for i in "${!COMPREPLY[@]}"; do
				COMPREPLY[i]=$opt${COMPREPLY[i]}
			done
		fi
		return 0
	fi

	# Short options whose value is the next word.
	case $prev in
	-b|-j|-m|-t)
		return 0
		;;
	esac

	# After "--", every word is a region.
	for ((i = 1; i < cword; i++)); do
		if [[ ${words[i]} == -- ]]; then
			_kcopy_files "$cur"
			return 0
		fi
	done

	if [[ $cur == -* ]]; then
		local opts
		opts=$(_kcopy_long_options "${words[0]}")
		mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
		if ((${#COMPREPLY[@]} == 1)) && [[ ${COMPREPLY[0]} == *= ]]; then
			compopt -o nospace 2>/dev/null || :
		fi
		return 0
	fi

	_kcopy_files "$cur"
	return 0
}

complete -F _kcopy kcopy
