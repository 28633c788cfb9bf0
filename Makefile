# handshaked: build, test and benchmark.
#
#   make            build the daemon, the CLI and the unit tests
#   make test       install missing Debian packages, build, run every test
#   make check      unit tests and replay tests (plain build)
#   make check-san  unit tests built with AddressSanitizer + UBSan
#   make bench      microbenchmarks: the tracking core, replay (bench-replay) and
#                   snapshots of 1M flows (bench-snapshot); bench-flow-hash (not
#                   in bench) times the flow hash one key at a time and in bursts
#   make bench-ab A=main B=.   the tracking core of two trees (directories or
#                   git revisions) timed side by side in one process, for changes
#                   of a percent (tests/bench/ab/ab_core.sh)
#   make demo       a lab with real connections through the daemon
#   make install    install the programs, the systemd unit, the configuration
#                   (never over an existing one) and the man pages
#   make test-service   the unit file (systemd-analyze), handshaked-rules and the
#                   notification protocol, without booting anything
#   make test-systemd   boot a Debian container with systemd-nspawn and run the
#                   service in it for real (root; the root file system is cached)
#
# Sanitized objects live in build-san/, plain ones in build/.

CC       ?= cc
CFLAGS   ?= -O2 -g
WARNINGS  = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wpointer-arith -Wcast-qual -Wformat=2 -Wvla
# The core (daemon/core, include/core) sees only its own headers, so it
# cannot reach an edge's interface; the edges see both.
CORE_CFLAGS = -std=gnu11 $(WARNINGS) -Iinclude/core -D_GNU_SOURCE -MMD -MP
HS_CFLAGS = -std=gnu11 $(WARNINGS) -Iinclude -Iinclude/core -D_GNU_SOURCE -MMD -MP
LIBS      = -lnetfilter_queue -lnfnetlink -lmnl -lyaml -lpcap -lpthread
TEST_LIBS = -lcmocka

SAN       ?= 0
ifeq ($(SAN),1)
BUILD     ?= build-san
SANFLAGS   = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else
BUILD     ?= build
SANFLAGS   =
endif

# Installation.  The configuration lives in /etc even under /usr/local,
# because that is where handshaked, handshakectl and handshaked-rules look
# by default; the unit passes -c $(SYSCONFDIR)/handshaked/handshaked.yaml.
PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/handshaked
INSTALL    ?= install
MAN8       = daemon/handshaked.8 daemon/handshakectl.8 daemon/handshaked-rules.8
MAN5       = conf/handshaked.yaml.5

# daemon/core/*.c is the pure core: parsing, state machine, flow table,
# timers, policy evaluation.  It does no I/O and reads no clock (time is an
# argument); `make check-core` proves it from the symbols its objects use.
# Every other daemon/*.c except the programs' main files is an edge.  Both
# go into one library shared by the daemon, the CLI, the unit tests,
# fuzzers and benchmarks.
PROGRAM_SRCS = daemon/main.c daemon/handshakectl.c daemon/handshaked_rules.c
CORE_SRCS    = $(wildcard daemon/core/*.c)
CORE_OBJS    = $(CORE_SRCS:%.c=$(BUILD)/%.o)
EDGE_SRCS    = $(filter-out $(PROGRAM_SRCS),$(wildcard daemon/*.c))
LIB_SRCS     = $(CORE_SRCS) $(EDGE_SRCS)
LIB_OBJS     = $(LIB_SRCS:%.c=$(BUILD)/%.o)
# The only library functions the core may call: memory, strings and
# formatting into buffers.  Anything else (read, send, clock_gettime,
# getrandom, printf to a stream, ...) fails check-core.  bcmp is clang's
# memcmp where only equality is asked.
CORE_ALLOWED = memcpy memset memmove memcmp bcmp memchr strlen strcmp strncmp strcasecmp strncasecmp strchr \
               strrchr strstr strspn strcspn strtoul strtoull snprintf vsnprintf inet_ntop inet_pton \
               malloc calloc realloc free mmap munmap madvise __errno_location __stack_chk_fail \
               __snprintf_chk __vsnprintf_chk __memcpy_chk __memset_chk __memmove_chk \
               __strcpy_chk __strcat_chk __assert_fail abort qsort bsearch
UNIT_SRCS    = $(wildcard tests/unit/test_*.c)
UNIT_BINS    = $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
UNIT_HELPERS = $(filter-out $(UNIT_SRCS),$(wildcard tests/unit/*.c))
UNIT_HELPER_OBJS = $(UNIT_HELPERS:%.c=$(BUILD)/%.o)
BENCH_SRCS   = $(wildcard tests/bench/*.c)
BENCH_BINS   = $(BENCH_SRCS:tests/bench/%.c=$(BUILD)/bench/%)
PROGRAMS     = $(if $(wildcard daemon/main.c),$(BUILD)/handshaked) \
               $(if $(wildcard daemon/handshakectl.c),$(BUILD)/handshakectl) \
               $(if $(wildcard daemon/handshaked_rules.c),$(BUILD)/handshaked-rules)

.PHONY: all check check-core check-replay check-modules check-san check-clang check-bench-ab test bench bench-ab bench-query bench-replay bench-snapshot bench-flow-hash bench-e2e demo clean deps test-netns fuzz install uninstall \
        test-service test-systemd
FUZZ_SECONDS ?= 60
all: $(PROGRAMS) $(UNIT_BINS) $(BENCH_BINS)

$(BUILD)/daemon/core/%.o: daemon/core/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CORE_CFLAGS) $(CFLAGS) $(SANFLAGS) -c $< -o $@

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(HS_CFLAGS) $(CFLAGS) $(SANFLAGS) -c $< -o $@

# The core's purity, checked on the plain build: every undefined symbol of
# its objects is another core symbol or in CORE_ALLOWED.
check-core: $(CORE_OBJS)
	@tests/check_core_purity $(CORE_OBJS) -- $(CORE_ALLOWED)
	@tests/check_prefetch $(BUILD)/daemon/core/table.o

$(BUILD)/libhs.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/handshaked: $(BUILD)/daemon/main.o $(BUILD)/libhs.a
	$(CC) $(CFLAGS) $(SANFLAGS) $^ $(LIBS) -o $@

$(BUILD)/handshakectl: $(BUILD)/daemon/handshakectl.o $(BUILD)/libhs.a
	$(CC) $(CFLAGS) $(SANFLAGS) $^ $(LIBS) -o $@

$(BUILD)/handshaked-rules: $(BUILD)/daemon/handshaked_rules.o $(BUILD)/libhs.a
	$(CC) $(CFLAGS) $(SANFLAGS) $^ $(LIBS) -o $@

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(UNIT_HELPER_OBJS) $(BUILD)/libhs.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SANFLAGS) $^ $(TEST_LIBS) $(LIBS) -o $@

# Benchmark programs: every tests/bench/*.c is one program.
$(BUILD)/bench/%: $(BUILD)/tests/bench/%.o $(BUILD)/libhs.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SANFLAGS) $^ $(LIBS) -o $@

# No two modules may depend on each other, directly or through others (a
# module is a header and the sources that implement it).  Two cycles are
# known and accepted: a flow record holds its endpoints' states while the
# state machine updates flow records (the machine's window checks among
# them, in hs_tcp_window.h, inline for the table's per-packet path), and
# the configuration loader's modules all fill the one struct hs_config
# that hs_config.h defines.
check-modules:
	@tests/check_module_cycles --allow flow,tcp_state --allow flow,tcp_state,tcp_window \
		--allow config,config_policy,config_walk include daemon

# Unit tests: each test binary runs on its own; any failure fails the target.
check: $(UNIT_BINS) check-core check-modules check-replay
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

# handshaked -r on captures the tests craft (tests/replay/pcapgen.py).
check-replay: $(BUILD)/handshaked
	/usr/bin/python3 tests/replay/test_replay.py $(BUILD)/handshaked
	/usr/bin/python3 tests/netns/replay_check.py selftest

check-san:
	$(MAKE) SAN=1 check

# The same with clang, which warns where GCC does not (casts in library
# macros, string concatenation in arrays) and compiles memcmp differently.
check-clang:
	$(MAKE) CC=clang BUILD=build-clang all check

deps:
	@tests/install-deps

# Every tier runs with HS_SKIP_IS_FAILURE=1: a tier or test that cannot
# run here (no root, no namespaces, no clang) fails instead of passing.
test: export HS_SKIP_IS_FAILURE = 1
test: deps
	$(MAKE) all
	$(MAKE) check
	$(MAKE) check-san
	$(MAKE) check-clang
	$(MAKE) check-bench-ab
	$(MAKE) test-netns
	$(MAKE) fuzz FUZZ_SECONDS=60
	$(MAKE) test-service
	$(MAKE) test-systemd

test-netns: all
	@if [ -x tests/netns/run ]; then tests/netns/run; else echo "tests/netns/run: not present yet"; fi

# The service without booting: systemd-analyze verify and security on the
# unit, the man pages, handshaked-rules in a private network namespace, and
# the daemon against a fake NOTIFY_SOCKET.
test-service: all
	tests/systemd/run

# The service booted for real: a cached Debian root, systemd-nspawn, and
# start, reload, watchdog, stop and the journal checked through systemctl.
test-systemd: all
	tests/systemd/boot.sh

# The unit is installed with its paths rewritten to SBINDIR and SYSCONFDIR.
# The configuration is installed only if there is none: an upgrade must
# never replace the operator's file.  Without DESTDIR (a real install) the
# system user is created and systemd is told about the new unit.
install: $(BUILD)/handshaked $(BUILD)/handshakectl $(BUILD)/handshaked-rules
	$(INSTALL) -d -m 0755 $(DESTDIR)$(SBINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
		$(DESTDIR)$(SYSCONFDIR)/handshaked $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(DOCDIR)/examples
	$(INSTALL) -m 0755 $(BUILD)/handshaked $(BUILD)/handshakectl $(BUILD)/handshaked-rules $(DESTDIR)$(SBINDIR)/
	sed -e 's|/usr/local/sbin/|$(SBINDIR)/|g' -e 's|/etc/handshaked/|$(SYSCONFDIR)/handshaked/|g' \
		systemd/handshaked.service >$(DESTDIR)$(UNITDIR)/handshaked.service.tmp
	chmod 0644 $(DESTDIR)$(UNITDIR)/handshaked.service.tmp
	mv -f $(DESTDIR)$(UNITDIR)/handshaked.service.tmp $(DESTDIR)$(UNITDIR)/handshaked.service
	$(INSTALL) -m 0644 systemd/handshaked.sysusers.conf $(DESTDIR)$(SYSUSERSDIR)/handshaked.conf
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/handshaked/handshaked.yaml ]; then \
		echo "kept the existing $(DESTDIR)$(SYSCONFDIR)/handshaked/handshaked.yaml"; \
	else \
		echo "$(INSTALL) -m 0644 conf/handshaked.yaml $(DESTDIR)$(SYSCONFDIR)/handshaked/handshaked.yaml"; \
		$(INSTALL) -m 0644 conf/handshaked.yaml $(DESTDIR)$(SYSCONFDIR)/handshaked/handshaked.yaml; \
	fi
	$(INSTALL) -m 0644 conf/examples/*.yaml $(DESTDIR)$(DOCDIR)/examples/
	$(INSTALL) -m 0644 $(MAN8) $(DESTDIR)$(MANDIR)/man8/
	$(INSTALL) -m 0644 $(MAN5) $(DESTDIR)$(MANDIR)/man5/
	@if [ -z "$(DESTDIR)" ] && command -v systemd-sysusers >/dev/null 2>&1; then \
		echo "systemd-sysusers $(SYSUSERSDIR)/handshaked.conf"; \
		systemd-sysusers $(SYSUSERSDIR)/handshaked.conf; \
	fi
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then \
		echo "systemctl daemon-reload"; systemctl daemon-reload; \
	fi

# Leaves the configuration and the handshaked user alone: they are the
# operator's, and files may still be owned by the user.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/handshaked $(DESTDIR)$(SBINDIR)/handshakectl $(DESTDIR)$(SBINDIR)/handshaked-rules
	rm -f $(DESTDIR)$(UNITDIR)/handshaked.service $(DESTDIR)$(SYSUSERSDIR)/handshaked.conf
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man8/,$(notdir $(MAN8))) $(addprefix $(DESTDIR)$(MANDIR)/man5/,$(notdir $(MAN5)))
	rm -rf $(DESTDIR)$(DOCDIR)
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	@echo "kept $(DESTDIR)$(SYSCONFDIR)/handshaked/ and the handshaked user; remove them by hand if wanted"

# libFuzzer targets (clang): each runs FUZZ_SECONDS; crashes are saved in build-fuzz/.
fuzz:
	tests/fuzz/run $(FUZZ_SECONDS)

demo: deps
	$(MAKE) all
	tests/netns/demo.sh

bench: $(BUILD)/bench/bench_core bench-replay bench-snapshot bench-query
	taskset -c 1 $(BUILD)/bench/bench_core

# What handshakectl's count, summary, top and list cost on a table of 1M flows.
bench-query: $(BUILD)/bench/bench_query
	taskset -c 1 $(BUILD)/bench/bench_query

# Saving and loading a snapshot of 1M flows (state.dir), against a raw dump of the records.
bench-snapshot: $(BUILD)/bench/bench_snapshot
	taskset -c 1 $(BUILD)/bench/bench_snapshot

# handshaked -r over a generated capture of 1M packets in 100k connections, on one core.
bench-replay: $(BUILD)/bench/bench_replay
	taskset -c 1 $(BUILD)/bench/bench_replay

# The flow hash one key at a time against bursts of 32 (hs_flow_hash_burst).
bench-flow-hash: $(BUILD)/bench/bench_flow_hash
	taskset -c 1 $(BUILD)/bench/bench_flow_hash

bench-e2e: all deps
	tests/bench/bench_e2e.sh

# Two trees' cores side by side (A, B: directories or git revisions; FLOWS, ROUNDS optional).
A ?= main
B ?= .
bench-ab:
	CC="$(CC)" tests/bench/ab/ab_core.sh $(A) $(B) $(FLOWS) $(ROUNDS)

# The side-by-side benchmark still builds and runs: a revision against the
# working tree, small and in one layout (its figures mean nothing here).
check-bench-ab:
	@mkdir -p $(BUILD)
	CC="$(CC)" AB_QUICK=1 AB_TASKSET= tests/bench/ab/ab_core.sh $(if $(wildcard .git),HEAD,.) . 20000 400 | tee $(BUILD)/check-bench-ab.log
	@grep -q '^B/A geometric mean over 2 runs: [0-9]' $(BUILD)/check-bench-ab.log

clean:
	rm -rf build build-san build-clang

-include $(shell find build build-san build-clang -name '*.d' 2>/dev/null)
