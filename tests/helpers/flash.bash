# shellcheck shell=bash
#
# flash.bash - fixtures for the flashing tests (tests/flash.bats): sparse
# raw images, their bmap files (bmaptool create), compressed copies, junk
# destinations, and what `bmaptool copy` writes.  Load it after test_helper
# (`load test_helper`, then `load helpers/flash`).
#
# The fixtures are made once per file, by flash_fixtures in setup_file, in
# $BATS_FILE_TMPDIR/fix ($FIX), and are read-only for the tests: a test that
# changes an image or a bmap works on its own copy in SCRATCH.
#
#   JUNK        64 MiB of test_helper's "pattern" (each sector says its own
#               offset): what every destination holds before a copy, so that
#               "left as it was" and "zeroed" are both visible
#   IMG         img.raw: a 64 MiB sparse image, random data in 7 extents at
#               scattered, 4K-aligned-or-not offsets (the first block, one
#               ending at the image's end), and 256 KiB of written (allocated)
#               zeros at 40 MiB, which a bmap maps: they must be copied
#   IMG_BMAP    img.bmap, `bmaptool create` (format 2.0, SHA-256)
#   IMG_BMAP13  the same map in format 1.3 (SHA-1: sha1= attributes,
#               BmapFileSHA1), made from IMG_BMAP by bmap_to_v1
#   IMG_BMAP14  the same map in format 1.4 (2.0's elements under version
#               "1.4", as bmap-tools 3.0 wrote it by mistake)
#   IMG_SIZE, IMG_MAPPED   the image's size, and the bytes its bmap maps
#   IMG.gz IMG.xz IMG.zst IMG.bz2   gzip -k, xz -0 -k -T0, zstd -q, bzip2 -1 -k
#   REF         what `bmaptool copy --bmap IMG_BMAP IMG` writes over JUNK
#               (on a loop device); also checked against bmap_apply's model
#   ODD ODD_BMAP ODD_REF    a 3 MiB + 1536 byte image (its last bmap block is
#               partial), data up to its end; its reference over JUNK's
#               first 4 MiB
#   FSIMG FS_BMAP FS_REF FS_ROOT   a 48 MiB ext4 image (mkfs.ext4 -d FS_ROOT,
#               label "flashtest", a few files), its bmap, its reference
#               over JUNK's first 48 MiB
#
# Functions (never through `run`: they set variables or fail the test):
#   require_flash_tools                    fail (CI=true) or skip without the tools
#   flash_fixtures                         setup_file: make all of the above
#   junk_file PATH [SIZE]                  PATH = the first SIZE (64M) bytes of JUNK
#   junk_loop VAR [SIZE]                   a loop device over a junk_file in SCRATCH;
#                                          its original bytes in ${VAR}_ORIG
#   bmap_apply BMAP IMAGE BASE OUT         the model of `bmaptool copy`: OUT = BASE
#                                          with BMAP's ranges of IMAGE written over it
#   bmap_mapped BMAP                       -> bytes BMAP maps (ranges clipped to ImageSize)
#   bmap_rechecksum FILE                   recompute FILE's BmapFileChecksum (or
#                                          BmapFileSHA1) in place
#   bmap_to_v1 IN OUT VERSION IMAGE        IN (2.0) rewritten as 1.3 or 1.4
#   bmap_mutate IN OUT KIND                a damaged copy of IN: comment (a comment
#                                          edited, checksum left stale), range (a
#                                          range edited, checksum stale), truncated
#                                          (cut mid-element: broken XML), notxml,
#                                          swap (first two ranges swapped), overlap
#                                          (the second range starts inside the
#                                          first), past-end (a range past
#                                          BlocksCount), bigger (ImageSize and
#                                          BlocksCount one block more); all but
#                                          comment/range/truncated/notxml with a
#                                          correct file checksum
#   bmaptool_ref BMAP IMAGE BASE OUT       OUT = BASE after `bmaptool copy` onto a
#                                          loop device over it (root)
#   kc CODE ARGS...                        kcopy --json ARGS under a timeout, exit CODE
#   kcr CODE ARGS...                       kcopy ARGS (no --json) under a timeout
#   kc_pipe CODE PRODUCER ARGS...          bash -c "PRODUCER | kcopy ARGS" (kcopy under
#                                          the timeout; PRODUCER is a shell command
#                                          line, its words already quoted)
#   flash_refused [--mentions TEXT]... ARGS...
#                                          kcopy ARGS exits 2 with one stderr line
#                                          "kcopy: ..." (mentioning each TEXT, case-
#                                          insensitively) and no file in SCRATCH is
#                                          created, removed or changed
#   scratch_state                          -> names, sizes, digests of SCRATCH's files
#   dev_equals DEV FILE [LEN]              the first LEN bytes (default: FILE's size)
#                                          of DEV (or a file) equal FILE's

FLASH_TOOLS=(bmaptool xxh128sum b2sum sha1sum sha256sum gzip xz zstd bzip2
	mkfs.ext4 e2fsck debugfs blkid strace python3 mkfifo)

require_flash_tools() {
	local t
	for t in "${FLASH_TOOLS[@]}"; do
		if ! command -v "$t" >/dev/null 2>&1; then
			if [[ ${CI:-} == true ]]; then
				fail "needs $t (scripts/install-deps: bmap-tools xxhash gzip xz-utils zstd bzip2 e2fsprogs)"
			else
				skip "needs $t (scripts/install-deps)"
			fi
		fi
	done
}

# Every kcopy run is bounded: a kcopy that waits forever for a stream that
# never ends (or a writer that never comes) fails its test after
# $KC_TIMEOUT s instead of stalling the suite.  Generous: ASan runs too.
KC_TIMEOUT=${KC_TIMEOUT:-60}
# start_kcopy / finish_kcopy (test_helper.bash) under the same bound
# shellcheck disable=SC2034 # read by finish_kcopy
KCOPY_WAIT_S=$KC_TIMEOUT

# (the exit status checked here, not by `run -N`: a failure shows stderr)
# shellcheck disable=SC2154 # $status, $output, $stderr: set by run
_kc_status() { # CODE WHAT
	[ "$status" -eq "$1" ] || fail "kcopy $2: exit $status, expected $1; stderr: $stderr
stdout: ${output:0:2000}"
}

kc() {
	local code=$1
	shift
	run --separate-stderr timeout -k 5 "$KC_TIMEOUT" "$KCOPY" --json "$@"
	_kc_status "$code" "--json $*"
}

kcr() {
	local code=$1
	shift
	run --separate-stderr timeout -k 5 "$KC_TIMEOUT" "$KCOPY" "$@"
	_kc_status "$code" "$*"
}

# kc_pipe CODE PRODUCER ARGS...: e.g. kc_pipe 0 "zstdcat $(printf %q "$F")" --json - "$D"
kc_pipe() {
	local code=$1 producer=$2
	shift 2
	run --separate-stderr bash -c \
		"$producer | timeout -k 5 \"\$KC_TIMEOUT\" \"\$KCOPY\" \"\$@\"" _ "$@"
	_kc_status "$code" "$* (from: $producer)"
}
export KC_TIMEOUT

# --- the model of bmap files -------------------------------------------------

# _flash_py CMD ARGS...: the bmap tools below, in python (stdlib only; the
# file is handled as text, as bmaptool itself computes its checksum over
# the file's bytes with the checksum's own digits zeroed)
_flash_py() {
	"${PY:-python3}" - "$@" <<'EOF'
import hashlib, re, sys

def read(p):
    with open(p, "rb") as f:
        return f.read().decode()

def write(p, s):
    with open(p, "wb") as f:
        f.write(s.encode())

def field(txt, name):
    return int(re.search(r"<%s>\s*(\d+)\s*</%s>" % (name, name), txt).group(1))

RANGE = re.compile(r'<Range(?P<attrs>[^>]*)>\s*(?P<a>\d+)(?:\s*-\s*(?P<b>\d+))?\s*</Range>')

def ranges(txt):
    for m in RANGE.finditer(txt):
        a = int(m.group("a"))
        b = int(m.group("b") or a)
        yield a, b, m

def rechecksum(txt):
    m = re.search(r"<(BmapFileChecksum|BmapFileSHA1)>\s*([0-9a-fA-F]+)\s*</\1>", txt)
    if not m:
        sys.exit("no bmap file checksum")
    alg = "sha1" if m.group(1) == "BmapFileSHA1" else \
        re.search(r"<ChecksumType>\s*(\w+)\s*</ChecksumType>", txt).group(1)
    n = len(hashlib.new(alg).hexdigest())
    zeroed = txt[:m.start(2)] + "0" * n + txt[m.start(2) + len(m.group(2)):]
    # bmaptool zeroes the first occurrence of the digest in the file
    h = hashlib.new(alg, zeroed.encode()).hexdigest()
    return txt[:m.start(2)] + h + txt[m.start(2) + len(m.group(2)):]

cmd, args = sys.argv[1], sys.argv[2:]

if cmd == "apply":            # BMAP IMAGE BASE OUT
    txt = read(args[0])
    bs, size = field(txt, "BlockSize"), field(txt, "ImageSize")
    with open(args[1], "rb") as f:
        img = f.read()
    with open(args[2], "rb") as f:
        out = bytearray(f.read())
    if len(img) != size:
        sys.exit("image is %d bytes, bmap says %d" % (len(img), size))
    for a, b, _ in ranges(txt):
        s, e = a * bs, min((b + 1) * bs, size)
        if len(out) < e:
            out.extend(b"\0" * (e - len(out)))
        out[s:e] = img[s:e]
    with open(args[3], "wb") as f:
        f.write(out)

elif cmd == "mapped":         # BMAP
    txt = read(args[0])
    bs, size = field(txt, "BlockSize"), field(txt, "ImageSize")
    print(sum(min((b + 1) * bs, size) - a * bs for a, b, _ in ranges(txt)))

elif cmd == "rechecksum":     # FILE
    write(args[0], rechecksum(read(args[0])))

elif cmd == "to_v1":          # IN OUT VERSION IMAGE
    txt = read(args[0])
    version = args[2]
    if 'version="2.0"' not in txt:
        sys.exit("not a 2.0 bmap")
    txt = txt.replace('version="2.0"', 'version="%s"' % version, 1)
    if version == "1.3":
        # 1.0-1.3: SHA-1 only, no ChecksumType; "sha1" where 2.0 says
        # "chksum" and BmapFileSHA1 for BmapFileChecksum (bmaptool's
        # BmapCopy._parse_bmap)
        bs, size = field(txt, "BlockSize"), field(txt, "ImageSize")
        with open(args[3], "rb") as f:
            img = f.read()
        txt = re.sub(r"\n[ \t]*<!-- Type of checksum used in this file -->[ \t]*\n"
                     r"[ \t]*<ChecksumType>[^<]*</ChecksumType>[ \t]*\n", "\n", txt)
        txt = re.sub(r"<BmapFileChecksum>\s*[0-9a-f]+\s*</BmapFileChecksum>",
                     "<BmapFileSHA1> " + "0" * 40 + " </BmapFileSHA1>", txt)
        def one(m):
            a = int(m.group("a"))
            b = int(m.group("b") or a)
            h = hashlib.sha1(img[a * bs:min((b + 1) * bs, size)]).hexdigest()
            body = m.group(0)[m.group(0).index(">") + 1:]
            return '<Range sha1="%s">%s' % (h, body)
        txt = RANGE.sub(one, txt)
        txt = txt.replace("The 'chksum' attribute", "The 'sha1' attribute")
        if "chksum" in txt or "ChecksumType" in txt:
            sys.exit("2.0 elements left in the 1.3 bmap")
    elif version != "1.4":
        sys.exit("version 1.3 or 1.4")
    write(args[1], rechecksum(txt))

elif cmd == "mutate":         # IN OUT KIND
    txt = read(args[0])
    kind = args[2]
    rs = list(ranges(txt))
    if len(rs) < 2:
        sys.exit("need two ranges")
    (a0, b0, m0), (a1, b1, m1) = rs[0], rs[1]
    fix = True
    if kind == "comment":
        txt, n = re.subn(r"<!-- Image size in bytes: ", "<!-- Image size, in bytes: ", txt, 1)
        if not n:
            sys.exit("no comment to edit")
        fix = False
    elif kind == "range":
        # one more block in the first range, the file checksum left stale
        txt = txt[:m0.start("a")] + str(a0) + " - " + str(b0 + 1) + txt[m0.end(m0.lastindex):]
        fix = False
    elif kind == "truncated":
        cut = m1.start() + 10
        txt = txt[:cut]
        fix = False
    elif kind == "notxml":
        txt = "this is not a block map\n"
        fix = False
    elif kind == "swap":
        l0, l1 = m0.group(0), m1.group(0)
        txt = txt[:m0.start()] + l1 + txt[m0.end():m1.start()] + l0 + txt[m1.end():]
    elif kind == "overlap":
        # the second range starts on the first's last block
        s = m1.group(0)
        new = s.replace(m1.group("a"), str(b0), 1)
        txt = txt[:m1.start()] + new + txt[m1.end():]
    elif kind == "past-end":
        blocks = field(txt, "BlocksCount")
        last = rs[-1][2]
        extra = '\n        <Range chksum="%s"> %d - %d </Range>' % (
            "0" * 64 if "chksum=" in txt else "", blocks + 4, blocks + 7)
        txt = txt[:last.end()] + extra + txt[last.end():]
    elif kind == "bigger":
        bs = field(txt, "BlockSize")
        size, blocks = field(txt, "ImageSize"), field(txt, "BlocksCount")
        txt = re.sub(r"<ImageSize>\s*\d+\s*</ImageSize>",
                     "<ImageSize> %d </ImageSize>" % (size + bs), txt)
        txt = re.sub(r"<BlocksCount>\s*\d+\s*</BlocksCount>",
                     "<BlocksCount> %d </BlocksCount>" % (blocks + 1), txt)
    else:
        sys.exit("unknown mutation " + kind)
    if fix:
        txt = rechecksum(txt)
    write(args[1], txt)

else:
    sys.exit("unknown command " + cmd)
EOF
}

bmap_apply() { _flash_py apply "$@" || fail "bmap_apply $*"; }
bmap_mapped() { _flash_py mapped "$1" || fail "bmap_mapped $1"; }
bmap_rechecksum() { _flash_py rechecksum "$1" || fail "bmap_rechecksum $1"; }
bmap_to_v1() { _flash_py to_v1 "$@" || fail "bmap_to_v1 $*"; }
bmap_mutate() { _flash_py mutate "$@" || fail "bmap_mutate $*"; }

# --- destinations --------------------------------------------------------------

junk_file() {
	local size
	size=$(bytes_of "${2:-64M}") || return 1
	head -c "$size" "$JUNK" >"$1" || fail "junk_file $1"
}

junk_loop() {
	local _jf
	_jf=$(mktemp "$SCRATCH/junk.XXXXXX") || fail "junk_loop: mktemp"
	junk_file "$_jf" "${2:-64M}"
	cp "$_jf" "$_jf.orig"
	make_loop_on "$_jf" "$1"
	printf -v "${1}_ORIG" '%s' "$_jf.orig"
}

# dev_equals DEV FILE [LEN]
dev_equals() {
	local len out
	len=${3:-$(stat -c %s "$2")}
	len=$(bytes_of "$len") || return 1
	_helper_flush_bdev "$1"
	out=$(cmp -n "$len" "$1" "$2" 2>&1) || fail "$1 differs from $2 (first $len bytes): ${out:-differ}"
}

# bmaptool_ref BMAP IMAGE BASE OUT: what bmaptool writes onto a block device
# holding BASE (a regular-file destination it would truncate).  The loop is
# attached and detached here, in one function (it runs in setup_file too,
# where there is no per-test cleanup registry).
bmaptool_ref() {
	local bmap=$1 image=$2 base=$3 out=$4 dev rc=0 log
	cp "$base" "$out" || return 1
	dev=$(losetup -f --show "$out") || return 1
	log=$(bmaptool -q copy --bmap "$bmap" "$image" "$dev" 2>&1) || rc=$?
	losetup -d "$dev" || rc=1
	((rc == 0)) || printf 'bmaptool_ref %s: %s\n' "$bmap" "$log" >&2
	return $rc
}

# scratch_state: names, sizes and digests of SCRATCH's regular files (not
# junk_loop's *.orig copies, which nothing writes); xxh128: they are big
scratch_state() {
	local f
	for f in "$SCRATCH"/* "$SCRATCH"/.[!.]*; do
		[[ -e $f && $f != *.orig ]] || continue
		if [[ -f $f ]]; then
			printf '%s %s %s\n' "${f##*/}" "$(stat -c %s "$f")" \
				"$(xxh128sum <"$f" | cut -d' ' -f1)"
		else
			printf '%s\n' "${f##*/}"
		fi
	done
}

# shellcheck disable=SC2154 # $stderr, $stderr_lines: run --separate-stderr
flash_refused() {
	local -a must=()
	local before after m
	while [[ $# -gt 0 ]]; do
		case $1 in
		--mentions) must+=("$2"); shift 2 ;;
		--) shift; break ;;
		*) break ;;
		esac
	done
	before=$(scratch_state)
	run -2 --separate-stderr timeout -k 5 "$KC_TIMEOUT" "$KCOPY" "$@"
	[ "${#stderr_lines[@]}" -eq 1 ] ||
		fail "kcopy $*: expected one line on stderr, got ${#stderr_lines[@]}: $stderr"
	[[ ${stderr_lines[0]} == "kcopy: "* ]] ||
		fail "kcopy $*: stderr does not start with 'kcopy: ': $stderr"
	for m in "${must[@]}"; do
		[[ ${stderr,,} == *"${m,,}"* ]] || fail "kcopy $*: message does not mention '$m': $stderr"
	done
	after=$(scratch_state)
	[ "$before" = "$after" ] ||
		fail "kcopy $*: SCRATCH changed: $(diff <(echo "$before") <(echo "$after"))"
}

# --- the fixtures --------------------------------------------------------------

# _flash_put FILE OFF LEN random|zero: LEN bytes at OFF, FILE not truncated
_flash_put() {
	local src=/dev/urandom
	[[ $4 == zero ]] && src=/dev/zero
	head -c "$(bytes_of "$3")" "$src" |
		dd of="$1" bs=64K seek="$(bytes_of "$2")" oflag=seek_bytes conv=notrunc \
			status=none
}

_flash_die() {
	printf 'flash_fixtures: %s\n' "$*" >&2
	return 1
}

# flash_fixtures: in setup_file.  Without the tools it makes nothing (the
# tests' setup then fails or skips through require_flash_tools).
flash_fixtures() {
	local t spec fmt
	local -a s
	for t in "${FLASH_TOOLS[@]}"; do
		command -v "$t" >/dev/null 2>&1 || return 0
	done
	PY=$(python3 -c 'import sys; print(sys.executable)')
	FIX="$BATS_FILE_TMPDIR/fix"
	mkdir -p "$FIX"
	JUNK="$FIX/junk" IMG="$FIX/img.raw" IMG_BMAP="$FIX/img.bmap"
	IMG_BMAP13="$FIX/img-1.3.bmap" IMG_BMAP14="$FIX/img-1.4.bmap" REF="$FIX/ref"
	ODD="$FIX/odd.raw" ODD_BMAP="$FIX/odd.bmap" ODD_REF="$FIX/odd.ref"
	FSIMG="$FIX/fs.raw" FS_BMAP="$FIX/fs.bmap" FS_REF="$FIX/fs.ref" FS_ROOT="$FIX/root"
	export PY FIX JUNK IMG IMG_BMAP IMG_BMAP13 IMG_BMAP14 REF ODD ODD_BMAP ODD_REF \
		FSIMG FS_BMAP FS_REF FS_ROOT

	_helper_gen $((64 << 20)) pattern >"$JUNK" || _flash_die "junk" || return 1

	# the main image: extents at scattered offsets, some not 4K-aligned in
	# the file (bmaptool rounds them out to its blocks), one at the very end
	truncate -s 64M "$IMG" || return 1
	for spec in 0:64K 1028K:300K 5M:1M 17420K:1M 33M:512K 48M:512K 65412K:124K; do
		_flash_put "$IMG" "${spec%%:*}" "${spec#*:}" random || _flash_die "$spec" || return 1
	done
	_flash_put "$IMG" 40M 256K zero || return 1
	bmaptool -q create -o "$IMG_BMAP" "$IMG" || _flash_die "bmaptool create" || return 1
	grep -q 'version="2.0"' "$IMG_BMAP" || _flash_die "bmaptool wrote no 2.0 bmap" || return 1
	bmap_to_v1 "$IMG_BMAP" "$IMG_BMAP13" 1.3 "$IMG" || return 1
	bmap_to_v1 "$IMG_BMAP" "$IMG_BMAP14" 1.4 "$IMG" || return 1
	IMG_SIZE=$(stat -c %s "$IMG")
	IMG_MAPPED=$(bmap_mapped "$IMG_BMAP") || return 1
	export IMG_SIZE IMG_MAPPED
	# (side by side, and the faster presets: xz and bzip2 still take a
	# second or so each on the random extents)
	local -a zpids=()
	for fmt in "gzip -k" "xz -0 -k -T0" "zstd -q" "bzip2 -1 -k"; do
		$fmt "$IMG" 3>&- &
		zpids+=($!)
	done
	for t in "${zpids[@]}"; do
		wait "$t" || _flash_die "compressing failed" || return 1
	done

	# an image whose last bmap block is partial
	truncate -s $((3 * 1024 * 1024 + 1536)) "$ODD" || return 1
	_flash_put "$ODD" 4K 40K random && _flash_put "$ODD" $((3 * 1024 * 1024 - 8192)) 9728 random ||
		return 1
	bmaptool -q create -o "$ODD_BMAP" "$ODD" || return 1

	# a real file system, filled without mounting it
	mkdir -p "$FS_ROOT/etc" "$FS_ROOT/boot" || return 1
	head -c 3M /dev/urandom >"$FS_ROOT/boot/kernel.img"
	head -c 700K /dev/urandom >"$FS_ROOT/etc/blob"
	echo "flashed by kcopy" >"$FS_ROOT/etc/motd"
	truncate -s 48M "$FSIMG" || return 1
	mkfs.ext4 -q -F -E nodiscard -L flashtest -d "$FS_ROOT" "$FSIMG" ||
		_flash_die "mkfs.ext4 -d" || return 1
	bmaptool -q create -o "$FS_BMAP" "$FSIMG" || return 1

	# the references: the model, and (as root) bmaptool copy itself, which
	# must agree with it -- and accept the 1.3 and 1.4 files made here
	head -c 4M "$JUNK" >"$FIX/junk4" && head -c 48M "$JUNK" >"$FIX/junk48" || return 1
	bmap_apply "$IMG_BMAP" "$IMG" "$JUNK" "$REF" || return 1
	bmap_apply "$ODD_BMAP" "$ODD" "$FIX/junk4" "$ODD_REF" || return 1
	bmap_apply "$FS_BMAP" "$FSIMG" "$FIX/junk48" "$FS_REF" || return 1
	if [[ $EUID -eq 0 ]]; then
		for spec in "$IMG_BMAP:$IMG:$JUNK:$REF" "$IMG_BMAP13:$IMG:$JUNK:$REF" \
			"$IMG_BMAP14:$IMG:$JUNK:$REF" "$ODD_BMAP:$ODD:$FIX/junk4:$ODD_REF" \
			"$FS_BMAP:$FSIMG:$FIX/junk48:$FS_REF"; do
			IFS=: read -r -a s <<<"$spec"
			bmaptool_ref "${s[0]}" "${s[1]}" "${s[2]}" "$FIX/bmaptool.out" ||
				_flash_die "bmaptool copy ${s[0]} failed" || return 1
			cmp -s "$FIX/bmaptool.out" "${s[3]}" ||
				_flash_die "bmaptool copy ${s[0]} differs from the model" || return 1
		done
		rm -f "$FIX/bmaptool.out"
	fi
}
