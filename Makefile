# memvm: a small, fast KVM VMM with a strong memory story.
#   make            build build/memvm and build/memvm-ctl
#   make run        install what is missing, build memvm and the tiny guest, boot it
#   make install    memvm, memvm-ctl and their man pages into $(DESTDIR)$(PREFIX)
#   make check      install what is missing, run every test (SAN=1: ASan+UBSan)
#   make bench      benchmarks (ratios against peers and limits)
#   make fuzz       libFuzzer targets (FUZZ_SECONDS per target)
#   make format     rewrite the C sources as .clang-format says (check: make check-format)

SAN ?= 0
CC ?= gcc
BUILD := build

# Debian packages the build, tests and guest need; `make deps` installs the
# missing ones (as root) and does nothing when all are present.
DEB_PKGS := pkg-config libfdt-dev check libjansson-dev libseccomp-dev libcap-dev \
	libinih-dev device-tree-compiler gcc make binutils
GUEST_DEB_PKGS := linux-source-6.1 busybox-static flex bison bc libelf-dev \
	libssl-dev cpio xz-utils
FUZZ_DEB_PKGS := clang libclang-rt-14-dev
# End-to-end tests talk QMP with socat/jq and compare with QEMU side by side;
# clang-format (14 on Debian 12) for the format check (tests/lint/format.sh).
TEST_DEB_PKGS := socat jq qemu-system-x86 util-linux bc clang-format golang-go \
	golang-github-digitalocean-go-qemu-dev
FORMAT_DEB_PKGS := clang-format
BENCH_DEB_PKGS := bc qemu-system-x86 gnuplot-nox jq socat python3
# QEMU (TCG) and socat for the nested KVM host, busybox for its initramfs.
NESTED_DEB_PKGS := qemu-system-x86 socat busybox-static cpio

PKG_LIBS := jansson libseccomp libcap inih

CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -I. -MMD -MP \
	-fno-strict-aliasing -pthread
LDFLAGS := -pthread
# Hardened: stack protector, PIE, full RELRO, format checks, and
# _FORTIFY_SOURCE=3 except under the sanitizers (which replace those checks).
CFLAGS += -fstack-protector-strong -fPIE -Wformat -Wformat-security
LDFLAGS += -pie -Wl,-z,relro,-z,now
ifeq ($(SAN),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
else
CFLAGS += -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3
endif
# Recursively expanded so pkg-config runs only after `deps` has installed it.
LIBS = $(shell pkg-config --libs $(PKG_LIBS) 2>/dev/null) -lfdt

# vmm/ctl/ is memvm-ctl, a QMP client: it links the ground floor (vmm/lib/),
# the sandbox, jansson and libseccomp only.
CTL_SRCS := $(wildcard vmm/ctl/*.c)
BASE_SRCS := $(wildcard vmm/lib/*.c) $(wildcard vmm/sandbox/*.c)
LIB_SRCS := $(wildcard vmm/*/*.c memory/*.c devices/*.c balloon/*.c)
LIB_SRCS := $(filter-out $(CTL_SRCS),$(LIB_SRCS))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
BASE_OBJS := $(BASE_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_SECONDS ?= 10

.PHONY: FORCE all run check check-unit check-format format bench fuzz clean deps deps-guest deps-fuzz deps-bench deps-test deps-nested deps-format guest payloads install

all: $(BUILD)/memvm $(BUILD)/memvm-ctl

# Rebuild everything when the flags change (e.g. SAN=1 after a plain build).
$(BUILD)/.flags: FORCE
	@mkdir -p $(BUILD)
	@echo '$(CC) $(CFLAGS) $(LDFLAGS)' | cmp -s - $@ || echo '$(CC) $(CFLAGS) $(LDFLAGS)' > $@
FORCE:

# Keep test objects between runs.
.SECONDARY:

$(BUILD)/obj/%.o: %.c $(BUILD)/.flags
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libmemvm.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/memvm: $(BUILD)/obj/vmm/main.o $(BUILD)/libmemvm.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/memvm-ctl: $(CTL_SRCS:%.c=$(BUILD)/obj/%.o) $(BASE_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs jansson libseccomp libcap 2>/dev/null)

$(BUILD)/obj/tests/%.o: tests/%.c $(BUILD)/.flags
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(BUILD)/libmemvm.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs check 2>/dev/null) $(LIBS)

# go-qemu, Debian's QMP client library for Go, drives memvm in
# tests/e2e/goqemu.sh: built offline from Debian's GOPATH, statically.
GOQEMU_CHECK := $(BUILD)/tests/goqemu-check
$(GOQEMU_CHECK): tests/goqemu/main.go
	@mkdir -p $(dir $@)
	GOPATH=/usr/share/gocode GO111MODULE=off GOCACHE=$(abspath $(BUILD))/gocache CGO_ENABLED=0 \
		go build -o $@ ./tests/goqemu

deps:
	@missing=""; for p in $(DEB_PKGS) $(EXTRA_DEB_PKGS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "memvm: missing packages:$$missing; run 'make deps' as root or apt-get install them" >&2; exit 1; fi; \
		echo "deps: installing$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	fi

deps-guest:
	@$(MAKE) --no-print-directory deps EXTRA_DEB_PKGS="$(GUEST_DEB_PKGS)"

deps-fuzz:
	@$(MAKE) --no-print-directory deps EXTRA_DEB_PKGS="$(FUZZ_DEB_PKGS)"

# The nested KVM host (guests/nested/) for machines without /dev/kvm.
deps-nested:
	@$(MAKE) --no-print-directory deps EXTRA_DEB_PKGS="$(NESTED_DEB_PKGS)"

-include guests/guest.mk
include guests/payloads/payloads.mk

deps-test:
	@$(MAKE) --no-print-directory deps EXTRA_DEB_PKGS="$(TEST_DEB_PKGS)"

check: deps deps-guest deps-fuzz deps-test deps-nested
	@$(MAKE) --no-print-directory all $(UNIT_BINS) $(FUZZ_BINS) $(GOQEMU_CHECK) payloads guest
	@SAN=$(SAN) BUILD=$(BUILD) bash tests/run.sh

check-unit: all $(UNIT_BINS)
	@SAN=$(SAN) BUILD=$(BUILD) ONLY=unit bash tests/run.sh

deps-format:
	@$(MAKE) --no-print-directory deps EXTRA_DEB_PKGS="$(FORMAT_DEB_PKGS)"

# The C layout check alone (make check runs it too, in its part "lint").
check-format: deps-format
	@bash tests/lint/format.sh

# Rewrites the C files in place as .clang-format says.
format: deps-format
	@bash tests/lint/format.sh --fix

run: deps deps-guest deps-nested
	@$(MAKE) --no-print-directory all guest
	@echo "memvm: booting the tiny guest (Ctrl-A x quits). In another terminal:"
	@echo "  $(BUILD)/memvm-ctl -s $(BUILD)/qmp.sock balloon 96M    # or: watch, stats, info balloon"
	@BUILD=$(BUILD) bash guests/run.sh

# libFuzzer targets are built with clang from source, separate from $(BUILD)/obj.
$(BUILD)/fuzz/%: tests/fuzz/%.c $(LIB_SRCS)
	@mkdir -p $(dir $@)
	clang -std=gnu11 -g -O1 -D_GNU_SOURCE -I. -pthread -fsanitize=fuzzer,address,undefined \
		-o $@ $< $(LIB_SRCS) $(LIBS)

fuzz: $(FUZZ_BINS)
	@set -e; for f in $(FUZZ_BINS); do \
		mkdir -p $(BUILD)/fuzz/corpus-$$(basename $$f); \
		echo "fuzz: $$f for $(FUZZ_SECONDS)s"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(BUILD)/fuzz/corpus-$$(basename $$f) 2>&1 | tail -3; \
	done

deps-bench:
	@$(MAKE) --no-print-directory deps EXTRA_DEB_PKGS="$(BENCH_DEB_PKGS)"

bench: deps deps-bench deps-guest deps-nested
	@$(MAKE) --no-print-directory all payloads guest
	@BUILD=$(BUILD) bash tests/bench/run.sh

# Installs memvm, memvm-ctl and their man pages under $(DESTDIR)$(PREFIX).
PREFIX ?= /usr/local
install: all
	install -D -m 0755 $(BUILD)/memvm $(DESTDIR)$(PREFIX)/bin/memvm
	install -D -m 0755 $(BUILD)/memvm-ctl $(DESTDIR)$(PREFIX)/bin/memvm-ctl
	install -D -m 0644 man/memvm.1 $(DESTDIR)$(PREFIX)/share/man/man1/memvm.1
	install -D -m 0644 man/memvm-ctl.1 $(DESTDIR)$(PREFIX)/share/man/man1/memvm-ctl.1

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
