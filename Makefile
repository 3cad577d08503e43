# conc — build, test, install. `make help` lists the targets.
PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
AR      ?= ar
O       := build

WARN     := -Wall -Wextra -Werror
CPPFLAGS += -Ilib/include -Ilib -D_GNU_SOURCE
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -fPIC $(WARN)
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
URING_LIBS := $(shell pkg-config --libs liburing 2>/dev/null || echo -luring)

LIB_SRC   := $(sort $(wildcard lib/*/*.c))
LIB_HDR   := $(wildcard lib/include/*.h lib/include/conc/*.h lib/*/*.h)
LIB_OBJ   := $(LIB_SRC:%.c=$(O)/%.o)
ASAN_OBJ  := $(LIB_SRC:%.c=$(O)/asan/%.o)
BIN_SRC   := $(wildcard bin/*.c)
BINS      := $(BIN_SRC:%.c=%)
FI_OBJ    := $(LIB_SRC:%.c=$(O)/fi/%.o)
TEST_SRC  := $(sort $(wildcard tests/test_*.c))
TESTS     := $(TEST_SRC:tests/%.c=$(O)/tests/%)
# Fault-injection tests deliberately break the library: not under ASan.
ASAN_TESTS := $(patsubst tests/%.c,$(O)/asan/tests/%,$(filter-out tests/test_fi_%,$(TEST_SRC)))
TEST_HELPERS := $(patsubst tests/%.c,$(O)/tests/%,$(wildcard tests/helper_*.c)) \
	$(patsubst tests/%.c,$(O)/tests/%.so,$(wildcard tests/lib_*.c))
EX_SRC    := $(sort $(wildcard examples/*.c))
EXAMPLES  := $(EX_SRC:examples/%.c=$(O)/examples/%)
BENCH_SRC := $(sort $(wildcard bench/bench_*.c))
BENCHES   := $(BENCH_SRC:bench/%.c=$(O)/bench/%)
MANPAGES  := $(wildcard man/man*/*.[1-9])
TEST_HDR  := $(wildcard tests/*.h)
# The containers' consistency checks: test code, linked by the tests only.
CHECK_SRC := $(sort $(wildcard tests/check/*.c))
CHECK_HDR := $(wildcard tests/check/*.h)
BENCH_HDR := $(wildcard bench/*.h)

LIB := lib/libconc.a

.PHONY: all lib tests examples check test asan-test examples-run man-lint man-examples \
	man-examples-asan wait-point-check \
	no-pthread demo demo-run check-run tsan-test bench deps install uninstall clean help

all: $(LIB) $(BINS)

lib: $(LIB)

$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(O)/%.o: %.c $(LIB_HDR)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(O)/asan/%.o: %.c $(LIB_HDR)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SANFLAGS) -c -o $@ $<

# The test build of the library with the fault-injection switches compiled in.
$(O)/fi/%.o: %.c $(LIB_HDR)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -DCONC_FAULT_INJECTION $(CFLAGS) -c -o $@ $<

$(O)/fi/libconc.a: $(FI_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

# libFuzzer targets (fuzz/): the library instrumented for coverage, with
# ASan and UBSan. `make fuzz` runs each target 60 s, `make fuzz-check` 10 s.
FUZZ_CC    := clang-14
FUZZ_FLAGS := -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=undefined
FUZZ_SRC   := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZERS    := $(FUZZ_SRC:fuzz/%.c=$(O)/fuzz/%)
FUZZ_CHECK := $(FUZZERS)

$(O)/fuzz/lib/%.o: lib/%.c $(LIB_HDR)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) -std=gnu11 -Wall -Wextra $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(O)/fuzz/libconc.a: $(LIB_SRC:%.c=$(O)/fuzz/%.o)
	@rm -f $@
	$(AR) rcs $@ $^

$(O)/fuzz/fuzz_%: fuzz/fuzz_%.c $(wildcard fuzz/*.h) tests/own_clock.h $(O)/fuzz/libconc.a
	$(FUZZ_CC) $(CPPFLAGS) -std=gnu11 -Wall -Wextra $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(O)/fuzz/libconc.a $(URING_LIBS)

# Each target on its own corpus under build/fuzz; a finding is left there
# as crash-*/timeout-* and fails the run. An input may rightly take seconds
# (fuzz_queue: a lock word held by a forged owner makes each of its seven
# calls with timeout 0 wait its bounded second, 7.2 s in all), so a unit is
# a hang only past 30 s.
fuzz: $(FUZZERS)
fuzz-check: $(FUZZ_CHECK)
fuzz fuzz-check:
	@for f in $(filter $(O)/fuzz/fuzz_%,$^); do n=$$(basename $$f); mkdir -p $(O)/fuzz/corpus/$$n; \
	  echo "== $$n ($(if $(filter fuzz,$@),60,10) s)"; \
	  if ASAN_OPTIONS=detect_leaks=1 $$f -max_total_time=$(if $(filter fuzz,$@),60,10) \
	    -timeout=30 -print_final_stats=1 -artifact_prefix=$(O)/fuzz/$$n- \
	    $(O)/fuzz/corpus/$$n >$(O)/fuzz/$$n.log 2>&1; then \
	    grep -E '^stat::number_of_executed_units|^Done' $(O)/fuzz/$$n.log; \
	  else tail -40 $(O)/fuzz/$$n.log; echo "FAILED: $$n (log: $(O)/fuzz/$$n.log)"; exit 1; fi; done

# The shared objects' corruption harness (tests/test_ipc_chaos.c) run long
# under ASan+UBSan: CHAOS_SECONDS per object, CHAOS_SEED to replay. The
# test suite runs it for about a second per object.
CHAOS_SECONDS ?= 60
.PHONY: chaos
chaos: $(O)/asan/tests/test_ipc_chaos
	ASAN_OPTIONS=detect_leaks=0 CONC_CHAOS_SECONDS=$(CHAOS_SECONDS) \
	  $(if $(CHAOS_SEED),CONC_CHAOS_SEED=$(CHAOS_SEED)) $< --jobs=1 --verbose

# ThreadSanitizer: the library and one plain pthread program (Criterion
# does not run under TSan).
TSAN_OBJ := $(LIB_SRC:%.c=$(O)/tsan/%.o)

$(O)/tsan/%.o: %.c $(LIB_HDR)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fsanitize=thread -c -o $@ $<

$(O)/tsan/libconc.a: $(TSAN_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(O)/tsan/tsan_sync: tests/tsan_sync.c $(O)/tsan/libconc.a
	$(CC) $(CPPFLAGS) $(CFLAGS) -fsanitize=thread -o $@ $< $(O)/tsan/libconc.a -pthread $(URING_LIBS)

tsan-test: $(O)/tsan/tsan_sync
	TSAN_OPTIONS=halt_on_error=1:exitcode=66 $<

$(O)/asan/libconc.a: $(ASAN_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

bin/%: bin/%.c $(LIB)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LIB) $(URING_LIBS)

# conc-sem, conc-queue and conc-event share bin/tool.h.
bin/conc-sem bin/conc-queue bin/conc-event: bin/tool.h

# conc-run is split in bin/run/ (its own parts, shared with no other tool).
RUN_SRC := $(sort $(wildcard bin/run/*.c))
bin/conc-run: bin/conc-run.c $(RUN_SRC) $(wildcard bin/run/*.h) $(LIB)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ bin/conc-run.c $(RUN_SRC) $(LIB) -lm $(URING_LIBS)

$(O)/libcheck.a $(O)/asan/libcheck.a $(O)/fi/libcheck.a: $(CHECK_HDR)
$(O)/libcheck.a: $(CHECK_SRC:%.c=$(O)/%.o)
$(O)/asan/libcheck.a: $(CHECK_SRC:%.c=$(O)/asan/%.o)
$(O)/fi/libcheck.a: $(CHECK_SRC:%.c=$(O)/fi/%.o)
$(O)/libcheck.a $(O)/asan/libcheck.a $(O)/fi/libcheck.a:
	@rm -f $@
	$(AR) rcs $@ $(filter %.o,$^)

# Tests may use pthreads to exercise the primitives between threads; the
# library and the tools never do (see no-pthread).
$(O)/tests/%: tests/%.c $(TEST_HDR) $(O)/libcheck.a $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(O)/libcheck.a $(LIB) -lcriterion -pthread -ldl $(URING_LIBS)

$(O)/tests/test_fi_%: tests/test_fi_%.c $(TEST_HDR) $(O)/fi/libcheck.a $(O)/fi/libconc.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -DCONC_FAULT_INJECTION $(CFLAGS) -o $@ $< $(O)/fi/libcheck.a $(O)/fi/libconc.a -lcriterion -pthread -ldl $(URING_LIBS)

# The stress test loads these at run time.
# It runs the tool it tests (test_sem_tool preloads lib_semstop.so into it,
# test_queue_tool lib_growstop.so).
$(O)/tests/test_sem_tool $(O)/asan/tests/test_sem_tool: | bin/conc-sem $(O)/tests/lib_semstop.so
$(O)/tests/test_queue_tool $(O)/asan/tests/test_queue_tool: | bin/conc-queue $(O)/tests/lib_growstop.so

$(O)/tests/test_fi_thread: | $(patsubst tests/%.c,$(O)/tests/%.so,$(wildcard tests/lib_*.c))

$(O)/tests/lib_%.so: tests/lib_%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -shared -o $@ $< -ldl

$(O)/asan/tests/%: tests/%.c $(TEST_HDR) $(O)/asan/libcheck.a $(O)/asan/libconc.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SANFLAGS) -o $@ $< $(O)/asan/libcheck.a $(O)/asan/libconc.a -lcriterion -pthread -ldl $(URING_LIBS)

$(O)/examples/%: examples/%.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LIB) $(URING_LIBS)

$(O)/bench/%: bench/%.c $(BENCH_HDR) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LIB) -pthread -lrt $(URING_LIBS)

# bench_run times the tool itself.
$(O)/bench/bench_run: bin/conc-run

tests: $(TESTS) $(TEST_HELPERS)
examples: $(EXAMPLES)

# Every Criterion binary runs on its own so one failure names its file.
test: tests $(TEST_HELPERS) test-conc-run
	@set -e; for t in $(TESTS); do echo "== $$t"; $$t --jobs=2 || { echo "FAILED: $$t"; exit 1; }; done

# The tools, driven as a user would (tests/test_conc_run.sh), also built
# with ASan+UBSan.
# conc-sem, conc-queue, conc-event driven as a user would.
.PHONY: test-tools
test-tools: bin/conc-sem bin/conc-queue bin/conc-event
	@echo "== tests/test_tools.sh"; CONC_BIN=$(CURDIR)/bin sh tests/test_tools.sh
	@echo "== tests/test_tools_probe.sh"; CONC_BIN=$(CURDIR)/bin sh tests/test_tools_probe.sh
	@echo "== tests/test_tools_edge.sh"; CONC_BIN=$(CURDIR)/bin sh tests/test_tools_edge.sh
	@echo "== tests/test_tools_regress.sh"; CONC_BIN=$(CURDIR)/bin sh tests/test_tools_regress.sh

TOOLS_ASAN := $(O)/asan/bin/conc-sem $(O)/asan/bin/conc-queue $(O)/asan/bin/conc-event
$(TOOLS_ASAN): $(O)/asan/bin/%: bin/%.c bin/tool.h $(O)/asan/libconc.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SANFLAGS) -o $@ $< $(O)/asan/libconc.a $(URING_LIBS)

.PHONY: test-tools-asan
test-tools-asan: $(TOOLS_ASAN)
	@echo "== tests/test_tools.sh (ASan+UBSan)"; ASAN_OPTIONS=detect_leaks=0 CONC_BIN=$(CURDIR)/$(O)/asan/bin sh tests/test_tools.sh
	@echo "== tests/test_tools_probe.sh (ASan+UBSan)"; ASAN_OPTIONS=detect_leaks=0 CONC_BIN=$(CURDIR)/$(O)/asan/bin sh tests/test_tools_probe.sh
	@echo "== tests/test_tools_edge.sh (ASan+UBSan)"; ASAN_OPTIONS=detect_leaks=0 CONC_BIN=$(CURDIR)/$(O)/asan/bin sh tests/test_tools_edge.sh
	@echo "== tests/test_tools_regress.sh (ASan+UBSan)"; ASAN_OPTIONS=detect_leaks=0 CONC_BIN=$(CURDIR)/$(O)/asan/bin sh tests/test_tools_regress.sh

.PHONY: test-conc-run test-conc-run-asan
test-conc-run: bin/conc-run
	@echo "== tests/test_conc_run.sh"; CONC_RUN=$(CURDIR)/bin/conc-run sh tests/test_conc_run.sh
	@echo "== tests/test_conc_run_probe.sh"; CONC_RUN=$(CURDIR)/bin/conc-run sh tests/test_conc_run_probe.sh
	@echo "== tests/test_conc_run_diff.sh"; CONC_RUN=$(CURDIR)/bin/conc-run sh tests/test_conc_run_diff.sh
	@echo "== tests/test_conc_run_gnu.sh"; CONC_RUN=$(CURDIR)/bin/conc-run sh tests/test_conc_run_gnu.sh

$(O)/asan/bin/conc-run: bin/conc-run.c $(RUN_SRC) $(wildcard bin/run/*.h) $(O)/asan/libconc.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SANFLAGS) -o $@ bin/conc-run.c $(RUN_SRC) $(O)/asan/libconc.a -lm $(URING_LIBS)

test-conc-run-asan: $(O)/asan/bin/conc-run
	@echo "== tests/test_conc_run.sh (ASan+UBSan)"; ASAN_OPTIONS=detect_leaks=0 CONC_RUN=$(CURDIR)/$< sh tests/test_conc_run.sh
	@echo "== tests/test_conc_run_probe.sh (ASan+UBSan)"; ASAN_OPTIONS=detect_leaks=0 CONC_RUN=$(CURDIR)/$< sh tests/test_conc_run_probe.sh
	@echo "== tests/test_conc_run_diff.sh (ASan+UBSan)"; ASAN_OPTIONS=detect_leaks=0 CONC_RUN=$(CURDIR)/$< sh tests/test_conc_run_diff.sh
	@echo "== tests/test_conc_run_gnu.sh (ASan+UBSan)"; ASAN_OPTIONS=detect_leaks=0 CONC_RUN=$(CURDIR)/$< sh tests/test_conc_run_gnu.sh

asan-test: $(ASAN_TESTS) $(TEST_HELPERS) test-conc-run-asan test-tools-asan
	@set -e; for t in $(ASAN_TESTS); do echo "== $$t (ASan+UBSan)"; \
	  ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 $$t --jobs=2 || { echo "FAILED: $$t"; exit 1; }; done

examples-run: examples
	@set -e; for e in $(EXAMPLES); do echo "== $$e"; timeout 60 $$e >/dev/null || { echo "FAILED: $$e"; exit 1; }; done

man-lint:
	@out=$$(mandoc -Tlint -Wwarning $(MANPAGES) 2>&1); \
	if [ -n "$$out" ]; then echo "$$out"; exit 1; fi; echo "man pages lint clean ($(words $(MANPAGES)) pages)"

# The program in every page's EXAMPLES, built as a reader would (only
# <conc.h>, warnings as errors) and run under a timeout; names the page.
man-examples: $(LIB)
	@CC="$(CC)" LIBS="$(URING_LIBS)" O="$(O)" sh tests/man-examples.sh

# The same under ASan+UBSan, with the library built so too.
man-examples-asan: $(O)/asan/libconc.a
	@ASAN_OPTIONS=detect_leaks=0 CC="$(CC)" LIBS="$(URING_LIBS)" O="$(O)/asan" \
	  LIB=$(O)/asan/libconc.a EXCFLAGS="-std=gnu11 -O1 -g $(WARN) $(SANFLAGS)" \
	  sh tests/man-examples.sh

# Nothing outside lib/wait/ and lib/sys/ blocks on its own (lib/wait/wait.h)
# or handles a timespec (deadlines inside, converted in lib/sys/ only).
wait-point-check:
	@sh tests/check-wait-point.sh

no-pthread: all
	@hits=$$(for f in $(LIB) $(BINS); do nm -u $$f 2>/dev/null; done | grep -Eo '\bpthread_[A-Za-z_]+' | sort -u); \
	if [ -n "$$hits" ]; then echo "pthread symbols referenced: $$hits"; exit 1; fi; echo "no pthread_* symbols in libconc.a and bin/"

# deps first, alone: the rest needs the packages it installs.
check: deps
	@$(MAKE) --no-print-directory check-run

check-run: all no-pthread wait-point-check man-lint man-examples test test-conc-run test-tools examples-run asan-test tsan-test fuzz-check
	@echo "make check: all passed"

demo: deps
	@$(MAKE) --no-print-directory demo-run

demo-run: examples
	@for e in $(EXAMPLES); do \
	  n=$$(basename $$e); what=$$(sed -n 's|^/\* demo: \(.*\) \*/$$|\1|p' examples/$$n.c); \
	  printf '\n\033[1m== %s\033[0m — %s\n' "$$n" "$$what"; timeout 60 $$e || exit 1; done

# ---- other C libraries, releases and architectures (README: "Where it runs") ----

# musl (Debian's musl-tools): the library and every example, linked
# statically and run. musl-gcc searches no system headers: the kernel's and
# liburing's are linked into $(O)/musl/include; liburing.a needs only
# calloc/free from the C library. conc_thread_start() returns -ENOTSUP under
# musl, so the examples that need threads say so and end (demo style).
MUSL_CC    ?= musl-gcc
MUSL_INC   := $(O)/musl/include
MUSL_FLAGS := -isystem $(MUSL_INC) -include tests/musl/compat.h
MUSL_OBJ   := $(LIB_SRC:%.c=$(O)/musl/%.o)
MUSL_EX    := $(EX_SRC:examples/%.c=$(O)/musl/examples/%)
URING_A    := $(shell $(CC) -print-file-name=liburing.a)

$(MUSL_INC)/.done:
	@mkdir -p $(@D)
	@for d in linux asm-generic liburing liburing.h; do ln -sfn /usr/include/$$d $(@D)/$$d; done
	@ln -sfn /usr/include/$$($(CC) -dumpmachine)/asm $(@D)/asm
	@touch $@

$(O)/musl/%.o: %.c $(LIB_HDR) tests/musl/compat.h $(MUSL_INC)/.done
	@mkdir -p $(@D)
	$(MUSL_CC) $(CPPFLAGS) $(MUSL_FLAGS) $(CFLAGS) -c -o $@ $<

$(O)/musl/libconc.a: $(MUSL_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(O)/musl/examples/%: examples/%.c $(O)/musl/libconc.a
	@mkdir -p $(@D)
	$(MUSL_CC) $(CPPFLAGS) $(MUSL_FLAGS) $(CFLAGS) -static -o $@ $< $(O)/musl/libconc.a $(URING_A)

$(O)/musl/threads: tests/distros/threads.c $(O)/musl/libconc.a
	$(MUSL_CC) $(CPPFLAGS) $(MUSL_FLAGS) $(CFLAGS) -static -o $@ $< $(O)/musl/libconc.a $(URING_A)

.PHONY: musl check-distros check-aarch64
musl: $(O)/musl/libconc.a $(MUSL_EX) $(O)/musl/threads
	@$(O)/musl/threads
	@set -e; for e in $(MUSL_EX); do \
	  file $$e | grep -q 'statically linked' || { echo "not static: $$e"; exit 1; }; \
	  echo "== $$e"; timeout 60 $$e >/dev/null || { echo "FAILED: $$e"; exit 1; }; done
	@echo "musl: $(words $(MUSL_EX)) static examples ran"

# Debian releases: root filesystems made with debootstrap (created when
# missing, ~500 MB each, under CONC_CHROOTS=/work/chroots), the whole build
# and test run inside with chroot. Needs root; not in CI (see README).
DISTROS ?= bookworm trixie
check-distros:
	@bad=""; for d in $(DISTROS); do sh tests/distros/run.sh $$d || bad="$$bad $$d"; done; \
	if [ -n "$$bad" ]; then echo "check-distros: failed in$$bad"; exit 1; fi; echo "check-distros: all passed"

# aarch64: cross-built, run under qemu-aarch64 (user mode); what qemu-user
# does not emulate is skipped with the reason (tests/aarch64/run.sh).
check-aarch64:
	@sh tests/aarch64/run.sh

# Every figure: median [min median max] of BENCH_REPS runs (bench/bench.h),
# conc and its anchors taking turns in each; bench-table adds the README's
# table (bench/table.sh), keeping the output in $(O)/bench.out.
bench: $(BENCHES)
	@for b in $(BENCHES); do $$b || exit 1; done

.PHONY: bench-table
bench-table: $(BENCHES)
	@rm -f $(O)/bench.out; for b in $(BENCHES); do \
	  { $$b; echo $$? > $(O)/bench.rc; } | tee -a $(O)/bench.out; \
	  [ "$$(cat $(O)/bench.rc)" = 0 ] || exit 1; done; \
	echo; sh bench/table.sh $(O)/bench.out

deps:
	@sh .ci/deps

conc.pc: FORCE
	@printf 'prefix=%s\nlibdir=$${prefix}/lib\nincludedir=$${prefix}/include\n\nName: conc\nDescription: threads, processes, locks, queues and coroutines on raw Linux system calls\nVersion: %s\nRequires.private: liburing\nLibs: -L$${libdir} -lconc\nLibs.private: -luring\nCflags: -I$${includedir}\n' \
	  "$(PREFIX)" "$$(sed -n 's/#define CONC_VERSION "\(.*\)"/\1/p' lib/include/conc/base.h)" > $@

install: all conc.pc
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/conc $(DESTDIR)$(PREFIX)/bin
	install -m 644 $(LIB) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 conc.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	install -m 644 lib/include/conc.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 lib/include/conc/*.h $(DESTDIR)$(PREFIX)/include/conc/
	for b in $(BINS); do install -m 755 $$b $(DESTDIR)$(PREFIX)/bin/; done
	for d in man/man*; do install -d $(DESTDIR)$(PREFIX)/share/$$d; \
	  for p in $$d/*; do [ -f "$$p" ] && install -m 644 $$p $(DESTDIR)$(PREFIX)/share/$$d/; done; done

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/lib/libconc.a $(DESTDIR)$(PREFIX)/lib/pkgconfig/conc.pc
	rm -f $(DESTDIR)$(PREFIX)/include/conc.h
	rm -rf $(DESTDIR)$(PREFIX)/include/conc
	for b in $(BINS); do rm -f $(DESTDIR)$(PREFIX)/bin/$$(basename $$b); done
	for p in $(MANPAGES); do rm -f $(DESTDIR)$(PREFIX)/share/$$p; done

clean:
	rm -rf $(O) $(LIB) $(BINS) conc.pc

help:
	@echo "make            build lib/libconc.a and bin/*"
	@echo "make demo       build and run the examples as a guided tour"
	@echo "make check      every test, the examples, ASan+UBSan, TSan, man lint and man page examples, no-pthread check"
	@echo "make man-examples    compile and run the EXAMPLES program of every man page"
	@echo "make wait-point-check  no blocking call nor timespec outside lib/wait/ and lib/sys/"
	@echo "make fuzz       libFuzzer on every shared object (segments and their files, queue, map, list, arena, rsem, sync words) and a channel's peer, 60 s each (fuzz-check: 10 s)"
	@echo "make chaos      the shared objects' corruption harness under ASan, 60 s each (CHAOS_SECONDS, CHAOS_SEED)"
	@echo "make bench      benchmarks against glibc, pipes, eventfd (ratios)"
	@echo "make bench-table  the same, then the README's markdown table"
	@echo "make musl       static musl build of the library, every example run"
	@echo "make check-distros  build and test in Debian roots (root; DISTROS=$(DISTROS))"
	@echo "make check-aarch64  cross build, examples and man examples under qemu-aarch64"
	@echo "make install    PREFIX=$(PREFIX) DESTDIR=; make uninstall; make clean"

FORCE:
