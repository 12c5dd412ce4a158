# tcplab — run as your user; the test binaries elevate themselves through
# cargo's runner (ci/as-root: `sudo -E` unless already root).
CARGO ?= cargo
CASES := $(sort $(basename $(notdir $(wildcard cases/*.case))))

.PHONY: help deps test case record list build clean-check soak bench kernels

help:
	@echo "make test              build and run the whole suite (needs root or sudo)"
	@echo "make case NAME=teardown  run one case and print what it observed"
	@echo "make record NAME=teardown  run one case and rewrite its expectations from what it observed"
	@echo "make list              list the cases"
	@echo "make soak [N=100 M=20] the fast cases N times, then M times under CPU load"
	@echo "make bench [QUICK=1]   the timing table (target/tcplab/bench.md); QUICK=1 skips the 61 s case"
	@echo "make kernels [KERNELS=\"6.1 6.12\"]  the unit tests and cases on other kernels, each booted in a VM"

# libpcap's headers are needed to build, nftables (nft) and procps (sysctl)
# by the fault and sysctl tests; install them where missing.
deps:
	@ci/install-deps --quiet-if-present

build: deps
	$(CARGO) build --tests --bins

test: deps
	$(CARGO) test

list:
	@for c in $(CASES); do echo $$c; done

case: deps
	@if [ -z "$(NAME)" ]; then echo "usage: make case NAME=<case>; cases: $(CASES)"; exit 2; fi
	@if [ ! -f cases/$(NAME).case ]; then echo "no case named '$(NAME)' (no cases/$(NAME).case); cases: $(CASES)"; exit 2; fi
	TCPLAB_SHOW=1 $(CARGO) test -q --test cases -- --exact $(NAME)

# Record mode: rewrite cases/NAME.case's packets, sockets and fds blocks
# from what the run observed (README, "Recording"); `git diff` shows it.
record: deps
	@if [ -z "$(NAME)" ]; then echo "usage: make record NAME=<case>; cases: $(CASES)"; exit 2; fi
	@if [ ! -f cases/$(NAME).case ]; then echo "no case named '$(NAME)' (no cases/$(NAME).case); cases: $(CASES)"; exit 2; fi
	TCPLAB_RECORD=1 $(CARGO) test -q --test cases -- --exact $(NAME)

# The host namespace before and after the suite must be identical.
clean-check: deps
	ci/check-host-untouched $(CARGO) test

# Flake hunt: fast cases N times, then M times under stress-ng --cpu 2.
soak: deps
	N=$(or $(N),100) M=$(or $(M),20) ci/soak

# The timing table (README, "Benchmark"): builds the suite as you, then
# runs bench/main.rs as root through cargo's runner; prints the table and
# writes target/tcplab/bench.md. QUICK=1 leaves out the 61-second case and
# the 10,000-connection row.
bench: deps
	@ci/install-deps --bench
	@cases=$$($(CARGO) test --no-run --test cases --message-format=json | \
		sed -n 's/.*"name":"cases".*"executable":"\([^"]*\)".*/\1/p' | tail -n 1); \
	if [ -z "$$cases" ]; then echo "make bench: cargo named no test binary for cases"; exit 1; fi; \
	TCPLAB_CASES_BIN=$$cases $(CARGO) bench -q --profile dev --bench tcplab -- $(if $(QUICK),--quick)

# The kernel matrix (README, "Other kernels"): the unit tests and the
# cases inside VMs booting other kernels (default: Debian 12's 6.1 and
# 6.12; a version, a linux-image package, a vmlinuz path or `host`),
# one report with a kernel column (target/kernels/latest/report/).
# Installs QEMU, virtme-ng and virtiofsd first where missing. Fails where
# no VM can boot.
# A failed test runs once more on its kernel (flaky if it passes then):
# under QEMU's TCG an emulator stall can fail one timing window in a boot.
RETRIES ?= 1
kernels: deps
	@ci/install-deps --kernels
	ci/kernels --retries $(RETRIES) $(KERNELS)
