# nanocell build. `make` builds ./nanocell; `make test` installs what is missing (Debian 12, as
# root), starts the engines and runs every test; see README.md for the other targets.

CC ?= cc
PKGS := libcurl yajl libseccomp libcap sqlite3 libmicrohttpd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
	-Wformat-security -Wswitch-default
OPT ?= -O2 -g
CFLAGS_ALL := -std=gnu17 -D_GNU_SOURCE $(OPT) $(WARN) -Isrc $(PKG_CFLAGS) $(SAN) $(CFLAGS)
LDFLAGS_ALL := $(SAN) $(LDFLAGS)

# BUILD is per flavour, so `make asan` never mixes objects with the normal build.
BUILD ?= build
BIN ?= nanocell

SRC_MAIN := src/main.c $(wildcard src/cmd/*.c)
SRC_LIB := $(filter-out $(SRC_MAIN),$(wildcard src/*.c src/*/*.c))
ASM_LIB := $(wildcard src/*/*.S)
OBJ_LIB := $(SRC_LIB:%.c=$(BUILD)/%.o) $(ASM_LIB:%.S=$(BUILD)/%.o)
OBJ_MAIN := $(SRC_MAIN:%.c=$(BUILD)/%.o)
LIB := $(BUILD)/libnanocell.a

# Test support: the fake engine and helpers, linked into every test binary.
SRC_TSUP := $(wildcard tests/support/*.c)
OBJ_TSUP := $(SRC_TSUP:%.c=$(BUILD)/%.o)
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(wildcard tests/unit/test_*.c))
INTEG_TESTS := $(patsubst tests/integration/%.c,$(BUILD)/tests/integration/%,$(wildcard tests/integration/test_*.c))
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
REPLAYS := $(patsubst tests/fuzz/fuzz_%.c,$(BUILD)/fuzz/replay_%,$(FUZZ_SRC))
BENCH_PROGS := $(patsubst tests/bench/%.c,$(BUILD)/tests/bench/%,$(wildcard tests/bench/*.c))
# Helper programs the CLI tests run (each one file linked with the library).
TOOLS := $(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(wildcard tests/tools/*.c))

# Static programs that run inside containers: one-file programs (tests/probe) and the reference
# agent, which is several files plus the util modules it shares with the host.
AGENT := $(BUILD)/static/images/agent/agent
AGENT_SRC := $(wildcard images/agent/*.c)
AGENT_UTIL := $(addprefix src/util/,error.c fileutil.c json.c relay.c strbuf.c strv.c timeutil.c \
	units.c xalloc.c)
# The host's schedule parser, so that the model's schedule_task tool checks a schedule first.
AGENT_SCHED := src/orch/cron.c src/orch/schedule.c src/util/tz.c src/util/tz_posix.c
# Debian's static yajl (libyajl-dev); the dynamic one cannot go into a FROM-scratch image.
YAJL_STATIC ?= /usr/lib/x86_64-linux-gnu/libyajl_s.a
STATIC_PROGS := $(patsubst %.c,$(BUILD)/static/%,$(wildcard tests/probe/*.c)) $(AGENT)

.PHONY: all deps test check tests asan fuzz fmt fmt-check check-banned clean images demo bench \
	install uninstall
# Keep every object: chained pattern rules would otherwise delete support objects after use.
.SECONDARY:

all: $(BIN)

deps:
	@scripts/install-deps.sh

$(BIN): $(OBJ_MAIN) $(LIB)
	@test -n "$(PKG_LIBS)" || { echo "missing libraries ($(PKGS)): run scripts/install-deps.sh" >&2; exit 1; }
	@$(if $(V),,echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $(OBJ_MAIN) $(LIB) $(PKG_LIBS)

$(LIB): $(OBJ_LIB)
	@rm -f $@
	$(Q)ar rcs $@ $^

# V=1 shows full command lines.
Q := $(if $(V),,@)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(V),,echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_ALL) -MMD -MP -c -o $@ $<

# Embedded data (.incbin) is assembled from the repository root; the data files are listed.
$(BUILD)/src/sandbox/builtin_profile.o: policies/seccomp/agent.json
$(BUILD)/src/proxy/builtin_policy.o: policies/egress.toml
$(BUILD)/%.o: %.S
	@mkdir -p $(@D)
	@$(if $(V),,echo "  AS      $<")
	$(Q)$(CC) -c -o $@ $<

$(BUILD)/tests/unit/%: tests/unit/%.c $(OBJ_TSUP) $(LIB)
	@mkdir -p $(@D)
	@$(if $(V),,echo "  TEST    $@")
	$(Q)$(CC) $(CFLAGS_ALL) -Itests -o $@ $< $(OBJ_TSUP) $(LIB) $(PKG_LIBS) $(CMOCKA_LIBS) -lpthread $(LDFLAGS_ALL)

$(BUILD)/tests/integration/%: tests/integration/%.c $(OBJ_TSUP) $(LIB)
	@mkdir -p $(@D)
	@$(if $(V),,echo "  TEST    $@")
	$(Q)$(CC) $(CFLAGS_ALL) -Itests -o $@ $< $(OBJ_TSUP) $(LIB) $(PKG_LIBS) $(CMOCKA_LIBS) -lpthread $(LDFLAGS_ALL)

$(BUILD)/tests/bench/%: tests/bench/%.c $(LIB)
	@mkdir -p $(@D)
	@$(if $(V),,echo "  BENCH   $@")
	$(Q)$(CC) $(CFLAGS_ALL) -o $@ $< $(LIB) $(PKG_LIBS) -lpthread $(LDFLAGS_ALL)

$(BUILD)/tests/support/%.o: tests/support/%.c
	@mkdir -p $(@D)
	@$(if $(V),,echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_ALL) -Itests -MMD -MP -c -o $@ $<

$(BUILD)/tests/tools/%: tests/tools/%.c $(LIB)
	@mkdir -p $(@D)
	@$(if $(V),,echo "  TOOL    $@")
	$(Q)$(CC) $(CFLAGS_ALL) -o $@ $< $(LIB) $(PKG_LIBS) -lpthread $(LDFLAGS_ALL)

# Replay binaries: each fuzz target with a plain main() that runs it over files and directories.
$(BUILD)/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay_main.c $(LIB)
	@mkdir -p $(@D)
	@$(if $(V),,echo "  REPLAY  $@")
	$(Q)$(CC) $(CFLAGS_ALL) -Itests -o $@ $< tests/fuzz/replay_main.c $(LIB) $(PKG_LIBS) $(LDFLAGS_ALL)

# An explicit target, so it wins over the pattern rule below for files under images/agent.
$(AGENT): $(AGENT_SRC) $(wildcard images/agent/*.h) $(AGENT_UTIL) $(AGENT_UTIL:.c=.h) \
		src/util/banned.h src/util/cleanup.h $(AGENT_SCHED) src/orch/cron.h src/orch/schedule.h \
		src/util/tz.h src/util/tz_internal.h
	@mkdir -p $(@D)
	@$(if $(V),,echo "  STATIC  $@")
	$(Q)$(CC) -std=gnu17 -D_GNU_SOURCE -O2 $(WARN) -Isrc -Iimages/agent -static -o $@ \
		$(AGENT_SRC) $(AGENT_UTIL) $(AGENT_SCHED) $(YAJL_STATIC)

# The agent's tests run the static binary as a subprocess.
$(BUILD)/tests/unit/test_agent: | $(AGENT)

$(BUILD)/static/%: %.c
	@mkdir -p $(@D)
	@$(if $(V),,echo "  STATIC  $@")
	$(Q)$(CC) -std=gnu17 -D_GNU_SOURCE -O2 $(WARN) -static -o $@ $<

tests: $(BIN) $(UNIT_TESTS) $(INTEG_TESTS) $(REPLAYS) $(STATIC_PROGS) $(TOOLS)

images: $(STATIC_PROGS)

# The quick start: build, start Docker if none answers, build the images, run one hardened turn.
demo:
	@scripts/install-deps.sh demo
	@$(MAKE) --no-print-directory all images
	@scripts/engine-up.sh
	@scripts/build-images.sh
	@scripts/demo.sh

# Benchmarks: nanocell against `docker run -i --rm` on the same image, in the same run.
bench: all images $(BENCH_PROGS)
	@scripts/engine-up.sh
	@scripts/build-images.sh
	@scripts/bench.sh
	@scripts/bench-daemon.sh
	@scripts/bench-ipc.sh
	@scripts/bench-proxy.sh

# The one test command (README, .ci/run): installs what is missing, builds, brings up Docker and
# Podman, and runs every layer. It ends with "N passed, N failed, N skipped".
test:
	@scripts/install-deps.sh
	@$(MAKE) --no-print-directory check

check: tests
	@tests/run.sh

# The same suite under AddressSanitizer and UBSan, in its own build directory.
# Under the sanitizers the daemon's long suites run on Docker only: on Podman they take the same
# code paths above the engine layer, which engine_run, test_engine and test_sandbox still cover
# there (libpod's create included). `make test` runs them all on every engine.
ASAN_SKIP := ^(podman|rootless-podman)/cli/engine_(serve|ipc|channels|pool|proxy|relay|doctor|termsafe|pull|ps_gc|compat)$$
asan:
	@scripts/install-deps.sh
	@$(MAKE) --no-print-directory BUILD=build/asan BIN=build/asan/nanocell OPT="-O1 -g" \
		SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" tests
	@NANOCELL_BIN=build/asan/nanocell NANOCELL_BUILD=build/asan NANOCELL_SKIP_STEPS='$(ASAN_SKIP)' \
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 tests/run.sh

# libFuzzer (clang): each target runs for FUZZ_SECONDS, starting from its committed corpus.
FUZZ_SECONDS ?= 60
fuzz:
	@scripts/fuzz.sh $(FUZZ_SECONDS)

FMT_FILES = $(shell git ls-files --cached --others --exclude-standard '*.c' '*.h' 2>/dev/null || find src tests images -name '*.[ch]')
fmt:
	clang-format -i $(FMT_FILES)

fmt-check:
	@clang-format --dry-run --Werror $(FMT_FILES)

check-banned:
	@scripts/check-banned.sh

# Installation: the binary, its man page, bash completion and the example configuration, under
# PREFIX (default /usr/local); DESTDIR stages it elsewhere (packaging). `make uninstall` with the
# same PREFIX and DESTDIR removes exactly these files.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/nanocell
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
INSTALL ?= install

install: $(BIN)
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(DOCDIR) \
		$(DESTDIR)$(BASHCOMPDIR)
	$(INSTALL) -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/nanocell
	$(INSTALL) -m 0644 docs/nanocell.1 $(DESTDIR)$(MANDIR)/man1/nanocell.1
	$(INSTALL) -m 0644 config.example.toml policies/mount-allowlist.example.toml \
		$(DESTDIR)$(DOCDIR)/
	$(INSTALL) -m 0644 completions/nanocell.bash $(DESTDIR)$(BASHCOMPDIR)/nanocell

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/nanocell $(DESTDIR)$(MANDIR)/man1/nanocell.1 \
		$(DESTDIR)$(DOCDIR)/config.example.toml $(DESTDIR)$(DOCDIR)/mount-allowlist.example.toml \
		$(DESTDIR)$(BASHCOMPDIR)/nanocell
	-rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null || true

clean:
	rm -rf build $(BIN)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
