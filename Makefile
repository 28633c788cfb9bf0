# handshaked: build, test and benchmark.
#
#   make            build the daemon, the CLI and the unit tests
#   make test       install missing Debian packages, build, run every test
#   make check      unit tests only (plain build)
#   make check-san  unit tests built with AddressSanitizer + UBSan
#   make bench      microbenchmark of the tracking core
#   make demo       a lab with real connections through the daemon
#
# Sanitized objects live in build-san/, plain ones in build/.

CC       ?= cc
CFLAGS   ?= -O2 -g
WARNINGS  = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wpointer-arith -Wcast-qual -Wformat=2 -Wvla
HS_CFLAGS = -std=gnu11 $(WARNINGS) -Iinclude -D_GNU_SOURCE -MMD -MP
LIBS      = -lnetfilter_queue -lnfnetlink -lmnl -lyaml -lpthread
TEST_LIBS = -lcmocka

SAN       ?= 0
ifeq ($(SAN),1)
BUILD     ?= build-san
SANFLAGS   = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else
BUILD     ?= build
SANFLAGS   =
endif

PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin

# Every daemon/*.c except the two programs' main files is library code,
# shared by the daemon, the CLI, the unit tests, fuzzers and benchmarks.
PROGRAM_SRCS = daemon/main.c daemon/handshakectl.c
LIB_SRCS     = $(filter-out $(PROGRAM_SRCS),$(wildcard daemon/*.c))
LIB_OBJS     = $(LIB_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS    = $(wildcard tests/unit/test_*.c)
UNIT_BINS    = $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
UNIT_HELPERS = $(filter-out $(UNIT_SRCS),$(wildcard tests/unit/*.c))
UNIT_HELPER_OBJS = $(UNIT_HELPERS:%.c=$(BUILD)/%.o)
BENCH_SRCS   = $(wildcard tests/bench/*.c)
BENCH_BINS   = $(BENCH_SRCS:tests/bench/%.c=$(BUILD)/bench/%)
PROGRAMS     = $(if $(wildcard daemon/main.c),$(BUILD)/handshaked) \
               $(if $(wildcard daemon/handshakectl.c),$(BUILD)/handshakectl)

.PHONY: all check check-san test bench bench-e2e demo clean deps test-netns
all: $(PROGRAMS) $(UNIT_BINS) $(BENCH_BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(HS_CFLAGS) $(CFLAGS) $(SANFLAGS) -c $< -o $@

$(BUILD)/libhs.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/handshaked: $(BUILD)/daemon/main.o $(BUILD)/libhs.a
	$(CC) $(CFLAGS) $(SANFLAGS) $^ $(LIBS) -o $@

$(BUILD)/handshakectl: $(BUILD)/daemon/handshakectl.o $(BUILD)/libhs.a
	$(CC) $(CFLAGS) $(SANFLAGS) $^ $(LIBS) -o $@

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(UNIT_HELPER_OBJS) $(BUILD)/libhs.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SANFLAGS) $^ $(TEST_LIBS) $(LIBS) -o $@

# Benchmark programs: every tests/bench/*.c is one program.
$(BUILD)/bench/%: $(BUILD)/tests/bench/%.o $(BUILD)/libhs.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SANFLAGS) $^ $(LIBS) -o $@

# Unit tests: each test binary runs on its own; any failure fails the target.
check: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

check-san:
	$(MAKE) SAN=1 check

deps:
	@tests/install-deps

test: deps
	$(MAKE) all
	$(MAKE) check
	$(MAKE) check-san
	$(MAKE) test-netns

test-netns: all
	@if [ -x tests/netns/run ]; then tests/netns/run; else echo "tests/netns/run: not present yet"; fi

demo: deps
	$(MAKE) all
	tests/netns/demo.sh

bench: $(BUILD)/bench/bench_core
	taskset -c 1 $(BUILD)/bench/bench_core

bench-e2e: all deps
	tests/bench/bench_e2e.sh

clean:
	rm -rf build build-san

-include $(shell find build build-san -name '*.d' 2>/dev/null)
