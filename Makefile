# kcopy Makefile
#
# Layout of the build (redis style):
#   make                 ./kcopy from src/*.c (objects in build/obj/)
#   make helpers         build/faultfs (tests/helpers/faultfs.c, needs fuse3)
#   make unit            C unit tests, built with ASan+UBSan, and run
#   make check           install-deps, all, helpers, unit, sim, analyze, fuzz-smoke, lint-man,
#                        bats, check-asan, check-valgrind
#   make check-asan      build-asan/kcopy (ASan+UBSan) and the bats suite again
#   make lint-man        mandoc -Tlint and groff -ww on man/kcopy.1
#   make analyze         clang's static analyzer (scan-build) on src/*.c: any finding fails
#   make analyze-gcc     gcc -fanalyzer on src/*.c, for reference (not in check: GCC 12
#                        takes a realloc into a member of a heap array's element for a leak)
#   make fuzz            libFuzzer targets (clang, ASan+UBSan) in build/fuzz/, each run for
#                        FUZZ_SECONDS (60) from tests/fuzz/corpus/; FUZZ_TARGETS picks them
#   make fuzz-smoke      the same, FUZZ_SMOKE_SECONDS (5) each
#   make sim             the engine and the map on a simulated backend (tests/sim/, ASan+UBSan):
#                        the backend's self-test, then SEEDS=N (2000) seeded scenarios from
#                        BASE=B (1); SEED=1234 replays one, verbosely; SIM_FLAGS=--null-tick
#                        adds driver options (--null-tick: verifies without a tick too)
#   make sim-selftest    the simulated backend's own test
#   make torture         tests/torture.bats alone, on many seeds: SEEDS=N (100)
#                        seeds from BASE=B (1000), or SEED='1234 1300-1310'
#   make install         PREFIX=/usr/local DESTDIR=
#   make demo | bench | bench-sweep | clean
#
# User CFLAGS/LDFLAGS are added to the project's flags, never replace them:
#   make CFLAGS=-O0      (comes last, so it wins over -O2)
#   make V=1             show the full compiler command lines
#
# The bats suite uses loop devices and must run serially: never pass -j to
# bats (BATS_ARGS is for filters such as BATS_ARGS='-f zero').

PREFIX ?= /usr/local
BINDIR = $(PREFIX)/bin
MANDIR = $(PREFIX)/share/man
BASHCOMPDIR = $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR = $(PREFIX)/share/zsh/site-functions
INSTALL = install

PKG_CONFIG ?= pkg-config
BATS ?= bats
BATS_ARGS ?=

STD = -std=gnu11
WARN = -Wall -Wextra -Werror
OPT = -O2
DEBUG = -g
DEPFLAGS = -MMD -MP
SANITIZE = -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=all

# Evaluated when used (not at parse time), so that `make check` can install
# the -dev packages first and still find their flags.
BLKID_CFLAGS = $(shell $(PKG_CONFIG) --cflags blkid)
BLKID_LIBS = $(shell $(PKG_CONFIG) --libs blkid)
FUSE_CFLAGS = $(shell $(PKG_CONFIG) --cflags fuse3)
FUSE_LIBS = $(shell $(PKG_CONFIG) --libs fuse3)
# src/stream.c: gzip, xz, zstd; Debian ships no .pc file for libbz2.
STREAM_PKGS = zlib liblzma libzstd
STREAM_LIBS = $(shell $(PKG_CONFIG) --libs $(STREAM_PKGS)) -lbz2
STREAM_STATIC_LIBS = $(shell $(PKG_CONFIG) --static --libs $(STREAM_PKGS)) -lbz2
# src/digest.c: SHA-256, SHA-1, BLAKE2b (libcrypto), XXH128 (libxxhash).
DIGEST_LIBS = $(shell $(PKG_CONFIG) --libs libcrypto libxxhash)

VERSION = 0.1.0
FINAL_CFLAGS = $(STD) $(WARN) $(OPT) $(DEBUG) -DKCOPY_VERSION=\"$(VERSION)\" $(CFLAGS) $(DEPFLAGS) \
	       $(BLKID_CFLAGS)
FINAL_LDFLAGS = $(LDFLAGS) $(DEBUG)
FINAL_LIBS = $(BLKID_LIBS) $(STREAM_LIBS) $(DIGEST_LIBS) -laio -luring -lpthread

# kcopy is linked dynamically: libnbd (with GnuTLS, libxml2 and ICU, about
# 5 MiB resident) is opened with dlopen only when a region is on NBD
# (src/libnbd-api.h), which a static binary cannot do safely; without it
# the libraries keep about 1.4 MiB resident. STATIC=1 links the rest
# statically, for a build without NBD (dlopen then fails, with a message).
STATIC ?= 0
ifeq ($(STATIC),1)
PROG_LDFLAGS = $(FINAL_LDFLAGS) -static
PROG_LIBS = $(shell $(PKG_CONFIG) --static --libs blkid) $(STREAM_STATIC_LIBS) -laio -luring -lpthread
else
PROG_LDFLAGS = $(FINAL_LDFLAGS)
PROG_LIBS = $(FINAL_LIBS)
endif

# The sanitizer build: its own object directory, -O1.
ASAN_CFLAGS = $(STD) $(WARN) -O1 $(DEBUG) -DKCOPY_VERSION=\"$(VERSION)\" $(SANITIZE) $(CFLAGS) \
	      $(DEPFLAGS) $(BLKID_CFLAGS)
ASAN_LDFLAGS = $(LDFLAGS) $(DEBUG) $(SANITIZE)
ASAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# The fuzz targets: clang and libFuzzer, with ASan+UBSan. The src objects are
# instrumented for coverage (fuzzer-no-link); only the link adds libFuzzer's
# main. A target is tests/fuzz/fuzz_NAME.c, its seeds tests/fuzz/corpus/NAME/;
# adding NAME to FUZZ_TARGETS is all it takes.
CLANG ?= clang
FUZZ_TARGETS = size region jobfile map bmap
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 5
FUZZ_MAX_LEN ?= 4096
FUZZ_SANITIZE = -fsanitize=address,undefined -fno-omit-frame-pointer \
		-fno-sanitize-recover=all
FUZZ_CFLAGS = $(STD) $(WARN) -O1 $(DEBUG) -DKCOPY_VERSION=\"$(VERSION)\" $(FUZZ_SANITIZE) \
	      -fsanitize=fuzzer-no-link $(CFLAGS) $(DEPFLAGS) $(BLKID_CFLAGS)
FUZZ_LDFLAGS = $(LDFLAGS) $(DEBUG) $(FUZZ_SANITIZE) -fsanitize=fuzzer
FUZZ_ENV = UBSAN_OPTIONS=print_stacktrace=1

# Static analysis: the normal build's flags (-Werror included), one stamp per
# file so that only what changed is analysed again.
SCAN_BUILD ?= scan-build

ifndef V
QUIET_CC = @printf '    %-6s %s\n' CC $<;
QUIET_LINK = @printf '    %-6s %s\n' LINK $@;
QUIET_AR = @printf '    %-6s %s\n' AR $@;
QUIET_ANALYZE = @printf '    %-6s %s\n' ANALYZE $<;
endif

SRC = $(sort $(wildcard src/*.c))
OBJ = $(patsubst src/%.c,build/obj/%.o,$(SRC))
ASAN_OBJ = $(patsubst src/%.c,build-asan/obj/%.o,$(SRC))
# Everything but main.o, for the unit tests (as an archive: a test pulls in
# only the modules it uses).
ASAN_LIB_OBJ = $(filter-out build-asan/obj/main.o,$(ASAN_OBJ))

FUZZ_OBJ = $(patsubst src/%.c,build/fuzz/obj/%.o,$(filter-out src/main.c,$(SRC)))
FUZZ_TEST_OBJ = $(patsubst %,build/fuzz/tests/fuzz_%.o,$(FUZZ_TARGETS))
FUZZ_BIN = $(patsubst %,build/fuzz/fuzz_%,$(FUZZ_TARGETS))

ANALYZE_OK = $(patsubst src/%.c,build/analyze/%.ok,$(SRC))
ANALYZE_GCC_OK = $(patsubst src/%.c,build/analyze-gcc/%.ok,$(SRC))

UNIT_SRC = $(sort $(wildcard tests/unit/test_*.c))
UNIT_OBJ = $(patsubst tests/unit/%.c,build/tests/obj/%.o,$(UNIT_SRC))
UNIT_BIN = $(patsubst tests/unit/%.c,build/tests/%,$(UNIT_SRC))

PROG = kcopy
ASAN_PROG = build-asan/kcopy
FAULTFS = build/faultfs

.PHONY: sim sim-selftest
.PHONY: all helpers unit check check-asan check-valgrind test-bats lint-man install \
	uninstall clean demo bench bench-sweep analyze analyze-gcc fuzz fuzz-smoke torture

all: $(PROG)

# --- the program ----------------------------------------------------------

$(PROG): $(OBJ)
	$(QUIET_LINK)$(CC) $(PROG_LDFLAGS) -o $@ $^ $(PROG_LIBS)

# The same objects linked dynamically, for valgrind: it cannot follow
# malloc inside a static glibc.
DYN_PROG = build/kcopy-dynamic
$(DYN_PROG): $(OBJ)
	$(QUIET_LINK)$(CC) $(FINAL_LDFLAGS) -o $@ $^ $(FINAL_LIBS)

build/obj/%.o: src/%.c | build/obj
	$(QUIET_CC)$(CC) $(FINAL_CFLAGS) -c -o $@ $<

$(ASAN_PROG): $(ASAN_OBJ)
	$(QUIET_LINK)$(CC) $(ASAN_LDFLAGS) -o $@ $^ $(FINAL_LIBS)

build-asan/obj/%.o: src/%.c | build-asan/obj
	$(QUIET_CC)$(CC) $(ASAN_CFLAGS) -c -o $@ $<

build-asan/libkcopy.a: $(ASAN_LIB_OBJ)
	@rm -f $@
	$(QUIET_AR)$(AR) rcs $@ $^

build/obj build-asan/obj build/tests/obj build/bats build/bats-asan \
build/fuzz/obj build/fuzz/tests build/analyze build/analyze-gcc:
	@mkdir -p $@

# --- test helpers -----------------------------------------------------------

helpers: $(FAULTFS)

$(FAULTFS): tests/helpers/faultfs.c | build/obj
	$(QUIET_CC)$(CC) $(STD) $(WARN) $(OPT) $(DEBUG) $(CFLAGS) \
		-MMD -MP -MF build/obj/faultfs.d $(FUSE_CFLAGS) \
		$(FINAL_LDFLAGS) -o $@ $< $(FUSE_LIBS)

# --- unit tests (always with ASan + UBSan) ----------------------------------

build/tests/obj/%.o: tests/unit/%.c | build/tests/obj
	$(QUIET_CC)$(CC) $(ASAN_CFLAGS) -Isrc -Itests/unit -c -o $@ $<

build/tests/%: build/tests/obj/%.o build-asan/libkcopy.a
	$(QUIET_LINK)$(CC) $(ASAN_LDFLAGS) -o $@ $^ $(FINAL_LIBS)

unit: $(UNIT_BIN)
	@pass=0; fail=0; \
	for t in $(UNIT_BIN); do \
		echo "--- $$t"; \
		if $(ASAN_ENV) ./$$t; then pass=$$((pass + 1)); \
		else echo "FAIL: $$t"; fail=$$((fail + 1)); fi; \
	done; \
	echo "unit: $$pass passed, $$fail failed"; \
	test $$fail -eq 0

# --- the simulation (always with ASan + UBSan) -----------------------------
#
# The real engine and map (everything but main.o, from the unit tests'
# archive) on tests/sim/sim-io.c. The pool's create and put are wrapped, so
# that the driver can check the bound and catch a slot given back while I/O
# on it is in flight, with no test hook in src/. SEEDS and BASE have the
# torture test's names, and their own defaults here unless given.

SIM_SRC = $(sort $(wildcard tests/sim/*.c))
SIM_OBJ = $(patsubst tests/sim/%.c,build/sim/obj/%.o,$(SIM_SRC))
SIM_BIN = build/sim/sim
SIM_SELFTEST = build/sim/sim-selftest
SIM_WRAP = -Wl,--wrap=pool_create,--wrap=pool_put
sim_given = $(filter command line environment,$(origin $(1)))
SIM_SEEDS = $(if $(call sim_given,SEEDS),$(SEEDS),2000)
SIM_BASE = $(if $(call sim_given,BASE),$(BASE),1)

build/sim/obj:
	@mkdir -p $@

build/sim/obj/%.o: tests/sim/%.c | build/sim/obj
	$(QUIET_CC)$(CC) $(ASAN_CFLAGS) -Isrc -Itests/sim -Itests/unit -c -o $@ $<

$(SIM_SELFTEST): build/sim/obj/sim-selftest.o build/sim/obj/sim-io.o \
		 build/sim/obj/sim-stubs.o build-asan/obj/io.o
	$(QUIET_LINK)$(CC) $(ASAN_LDFLAGS) -o $@ $^

$(SIM_BIN): build/sim/obj/sim.o build/sim/obj/sim-io.o build/sim/obj/sim-stubs.o \
	    build-asan/libkcopy.a
	$(QUIET_LINK)$(CC) $(ASAN_LDFLAGS) $(SIM_WRAP) -o $@ $^ $(FINAL_LIBS)

sim-selftest: $(SIM_SELFTEST)
	@echo "--- $(SIM_SELFTEST)"; $(ASAN_ENV) ./$(SIM_SELFTEST)

sim: sim-selftest $(SIM_BIN)
	@$(ASAN_ENV) ./$(SIM_BIN) $(SIM_FLAGS) \
		$(if $(SEED),--seed=$(SEED) -v,--seeds=$(SIM_SEEDS) --base=$(SIM_BASE))

# --- static analysis --------------------------------------------------------
#
# scan-build --status-bugs fails on any finding (its HTML report is kept in
# build/analyze/report/); its output is shown only then, or with V=1.

analyze: $(ANALYZE_OK)
	@echo "analyze: $(words $(SRC)) files, no findings"

build/analyze/%.ok: src/%.c | build/analyze
	$(QUIET_ANALYZE)out=$$($(SCAN_BUILD) --status-bugs -o build/analyze/report \
		--use-cc=$(CLANG) $(CLANG) $(FINAL_CFLAGS) -MF build/analyze/$*.d -MT $@ \
		-c -o /dev/null $< 2>&1) || \
		{ echo "$$out"; echo "analyze: $<: findings (scan-build)"; exit 1; }; \
	$(if $(V),echo "$$out";) touch $@

analyze-gcc: $(ANALYZE_GCC_OK)
	@echo "analyze-gcc: $(words $(SRC)) files, no findings"

build/analyze-gcc/%.ok: src/%.c | build/analyze-gcc
	$(QUIET_ANALYZE)$(CC) $(FINAL_CFLAGS) -fanalyzer -MF build/analyze-gcc/$*.d -MT $@ \
		-c -o /dev/null $< && touch $@

# --- fuzzing ----------------------------------------------------------------
#
# Each target runs from a scratch copy of its corpus (build/fuzz/run/NAME/),
# so that the inputs libFuzzer adds stay out of the repository. A crash, a
# leak, a broken property or a hang (-timeout) fails make, naming the target
# and the saved input; the full libFuzzer log is build/fuzz/run/NAME/log.

build/fuzz/obj/%.o: src/%.c | build/fuzz/obj
	$(QUIET_CC)$(CLANG) $(FUZZ_CFLAGS) -c -o $@ $<

build/fuzz/tests/%.o: tests/fuzz/%.c | build/fuzz/tests
	$(QUIET_CC)$(CLANG) $(FUZZ_CFLAGS) -Isrc -Itests/fuzz -c -o $@ $<

build/fuzz/libkcopy.a: $(FUZZ_OBJ)
	@rm -f $@
	$(QUIET_AR)$(AR) rcs $@ $^

build/fuzz/fuzz_%: build/fuzz/tests/fuzz_%.o build/fuzz/libkcopy.a
	$(QUIET_LINK)$(CLANG) $(FUZZ_LDFLAGS) -o $@ $^ $(FINAL_LIBS)

# $(call run-fuzz,SECONDS)
# On a finding, the log is shown from the first report line (a broken
# property, a sanitizer's or libFuzzer's ERROR) to its end.
define run-fuzz
	@fail=0; \
	for t in $(FUZZ_TARGETS); do \
		run=build/fuzz/run/$$t; log=$$run/log; \
		rm -rf $$run/corpus $$log && mkdir -p $$run/corpus $$run/crash; \
		if [ -d tests/fuzz/corpus/$$t ]; then \
			cp -R tests/fuzz/corpus/$$t/. $$run/corpus/; fi; \
		if $(FUZZ_ENV) build/fuzz/fuzz_$$t -max_total_time=$(1) \
			-max_len=$(FUZZ_MAX_LEN) -timeout=10 \
			-artifact_prefix=$$run/crash/ $$run/corpus > $$log 2>&1; then \
			runs=$$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) .*/\1 runs in \2 s/p' $$log); \
			echo "fuzz: $$t: $$runs, corpus of $$(ls $$run/corpus | wc -l), no finding"; \
			continue; \
		fi; \
		first=$$(grep -n -m 1 -E 'property violated|runtime error:|ERROR: ' $$log | cut -d: -f1); \
		tail -n +$${first:-1} $$log | tail -n 80; \
		input=$$(sed -n 's/.*Test unit written to \(.*\)$$/\1/p' $$log | tail -n 1); \
		if [ -n "$$input" ]; then \
			echo "fuzz: $$t FAILED on $$input"; \
			echo "fuzz: reproduce with: build/fuzz/fuzz_$$t $$input"; \
		else \
			echo "fuzz: $$t FAILED, no input saved (see $$log)"; \
		fi; \
		fail=1; \
	done; \
	exit $$fail
endef

fuzz: $(FUZZ_BIN)
	$(call run-fuzz,$(FUZZ_SECONDS))

fuzz-smoke: $(FUZZ_BIN)
	$(call run-fuzz,$(FUZZ_SMOKE_SECONDS))

# --- the man page -----------------------------------------------------------

lint-man:
	@out=$$(mandoc -Tlint -Wwarning man/kcopy.1 2>&1) || \
		{ echo "$$out"; echo "lint-man: mandoc failed"; exit 1; }; \
	if [ -n "$$out" ]; then echo "$$out"; exit 1; fi; \
	out=$$(groff -man -ww -z man/kcopy.1 2>&1) || \
		{ echo "$$out"; echo "lint-man: groff failed"; exit 1; }; \
	if [ -n "$$out" ]; then echo "$$out"; exit 1; fi; \
	echo "lint-man: man/kcopy.1 is clean"

# --- the bats suite ---------------------------------------------------------
#
# Serial on purpose (loop devices). The TAP report is kept in build/bats*/ and
# summed up in one "N passed, N failed" line.

# $(call run-bats,BINARY,REPORT-DIR,LABEL,ENV)
define run-bats
	@rm -rf $(2) && mkdir -p $(2)
	@rc=0; \
	$(4) KCOPY=$(1) FAULTFS=$(CURDIR)/$(FAULTFS) \
		$(BATS) --print-output-on-failure --report-formatter tap \
		--output $(2) $(BATS_ARGS) $(or $(5),tests/) || rc=$$?; \
	r=$(2)/report.tap; \
	if [ -f $$r ]; then \
		pass=$$(grep '^ok ' $$r | grep -vc '# skip'); \
		skip=$$(grep '^ok ' $$r | grep -c '# skip'); \
		fail=$$(grep -c '^not ok ' $$r); \
		echo "$(3): $$pass passed, $$fail failed, $$skip skipped"; \
	fi; \
	exit $$rc
endef

test-bats: all helpers
	$(call run-bats,$(CURDIR)/$(PROG),build/bats,bats,)

# In `make check` the sanitizer pass leaves out the two files that are
# about time and servers rather than memory (the rate and throttle
# measurements, the NBD servers' round trips): they run in the plain pass,
# and here with `make check-asan ASAN_BATS=tests/`.
ASAN_BATS ?= $(filter-out tests/throttle.bats tests/nbd.bats,$(sort $(wildcard tests/*.bats)))
check-asan: $(ASAN_PROG) helpers
	$(call run-bats,$(CURDIR)/$(ASAN_PROG),build/bats-asan,bats-asan,$(ASAN_ENV),$(ASAN_BATS))

# The error tests once more under valgrind (the plain objects): no leak or
# invalid access on any error path.
check-valgrind: $(DYN_PROG) helpers
	$(call run-bats,$(CURDIR)/tests/helpers/kcopy-valgrind,build/bats-valgrind,bats-valgrind,KCOPY_REAL=$(CURDIR)/$(DYN_PROG) KCOPY_IO=aio,tests/errors.bats)

# The torture test (20 seeds in `make check`) on more seeds, or on the seeds
# to replay: make torture SEEDS=200 | make torture SEED=1234 | BASE=5000
SEEDS ?= 100
BASE ?= 1000
torture: all helpers
	$(call run-bats,$(CURDIR)/$(PROG),build/bats-torture,torture,KCOPY_TORTURE_COUNT=$(SEEDS) \
		KCOPY_TORTURE_BASE=$(BASE) $(if $(SEED),KCOPY_TORTURE_SEEDS='$(SEED)'),tests/torture.bats)

# Each step in its own make, in order: the first one installs what the later
# ones (and the pkg-config look-ups) need. The simulation runs 1,000 seeds
# here (`make sim` alone: 2,000), to keep a CI run under 15 minutes.
CHECK_SIM_SEEDS ?= 1000
check:
	bash scripts/install-deps
	$(MAKE) -j2 all helpers
	$(MAKE) unit
	$(MAKE) sim SEEDS=$(CHECK_SIM_SEEDS)
	$(MAKE) -k -j2 analyze
	$(MAKE) fuzz-smoke
	$(MAKE) lint-man
	$(MAKE) test-bats
	$(MAKE) check-asan
	$(MAKE) check-valgrind

# --- install ----------------------------------------------------------------

install: all
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR)
	$(INSTALL) -m 0755 $(PROG) $(DESTDIR)$(BINDIR)/kcopy
	$(INSTALL) -m 0644 man/kcopy.1 $(DESTDIR)$(MANDIR)/man1/kcopy.1
	$(INSTALL) -m 0644 completions/kcopy.bash $(DESTDIR)$(BASHCOMPDIR)/kcopy
	$(INSTALL) -m 0644 completions/_kcopy $(DESTDIR)$(ZSHCOMPDIR)/_kcopy

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/kcopy $(DESTDIR)$(MANDIR)/man1/kcopy.1 \
		$(DESTDIR)$(BASHCOMPDIR)/kcopy $(DESTDIR)$(ZSHCOMPDIR)/_kcopy

# --- demo and benchmarks ----------------------------------------------------

demo:
	bash scripts/install-deps
	$(MAKE) all
	KCOPY=$(CURDIR)/$(PROG) bash scripts/demo.sh

bench: all
	@if [ ! -x bench/run ]; then \
		echo "make bench: bench/run does not exist (or is not executable)" >&2; \
		exit 1; fi
	KCOPY=$(CURDIR)/$(PROG) bench/run

bench-sweep: all
	@if [ ! -x bench/run ]; then \
		echo "make bench-sweep: bench/run does not exist (or is not executable)" >&2; \
		exit 1; fi
	KCOPY=$(CURDIR)/$(PROG) bench/run --sweep

clean:
	rm -rf build build-asan $(PROG)

# Keep the unit-test and fuzz-harness objects (make would delete them as
# intermediates).
.SECONDARY: $(UNIT_OBJ) $(FUZZ_TEST_OBJ) $(SIM_OBJ)

-include $(OBJ:.o=.d) $(ASAN_OBJ:.o=.d) $(UNIT_OBJ:.o=.d) build/obj/faultfs.d \
	 $(FUZZ_OBJ:.o=.d) $(FUZZ_TEST_OBJ:.o=.d) $(SIM_OBJ:.o=.d) $(ANALYZE_OK:.ok=.d) $(ANALYZE_GCC_OK:.ok=.d)
