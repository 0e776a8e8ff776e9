# meshwrt: `make` builds the agent, `make test` runs every test, `make demo` shows it work.
OUT    := build/out
CACHE  ?= $(HOME)/.cache/meshwrt
export CACHE

TS_SOURCES := $(shell find agent/src -name '*.ts' 2>/dev/null)

all: $(OUT)/meshwrt
	@printf 'meshwrt: %s bytes (%s)\n' "$$(stat -c %s $(OUT)/meshwrt)" "$(OUT)/meshwrt"

# The JavaScript of the agent, one file, for QuickJS.
$(OUT)/meshwrt.js: $(TS_SOURCES) build/bundle.mjs package-lock.json
	@mkdir -p $(OUT)
	node build/bundle.mjs agent/src/main.ts $@

# QuickJS and mbedTLS built with musl, qjsc, and the static link.
include build/native.mk

# `make package`: .ipk (opkg) and .apk (apk-tools 3) of every target, and their indexes.
include build/package.mk

setup:
	@build/stage.sh setup build/setup.sh

peers:
	@build/stage.sh peers test/peers/install.sh

typecheck:
	npx tsc --noEmit -p tsconfig.test.json

# OpenWrt's own userland (ubusd, uci, rpcd, uhttpd, procd, fw4, opkg, apk, LuCI), built once
# from ../shared/openwrt-src into the cache; its paths on stdout, kept quiet here.
userland:
	@test/openwrt/build.sh >/dev/null

# The VMs' kernels and roots (test/vm/): Debian's packages, downloaded and unpacked once.
vm:
	@test/vm/prepare.sh >/dev/null && test/vm/prepare-foreign.sh aarch64 >/dev/null && test/vm/prepare-foreign.sh mipsel >/dev/null

# On a fresh machine the Go peers' build (the longest stage) runs beside the rest of the
# build, whose steps mostly use one core (zig, configure, downloads); lines carry their
# stage's name. Then every test file, in two lanes (test/run.mjs).
test: setup
	@build/stage.sh -p peers test/peers/install.sh & peers=$$!; \
	{ build/stage.sh -p userland $(MAKE) --no-print-directory userland && \
	  build/stage.sh -p build $(MAKE) --no-print-directory all && \
	  build/stage.sh -p cross $(MAKE) --no-print-directory cross-all && \
	  build/stage.sh -p package $(MAKE) --no-print-directory package && \
	  build/stage.sh -p typecheck $(MAKE) --no-print-directory typecheck && \
	  build/stage.sh -p vm $(MAKE) --no-print-directory vm; }; rest=$$?; \
	wait $$peers && [ $$rest = 0 ]
	@build/stage.sh tests node test/run.mjs

# Long runs: the fuzz suite with many iterations (FUZZ_SEED picks another
# sequence), and Headscale down for five minutes under a relayed ping.
FUZZ_ITERATIONS ?= 200000
soak: soak-fuzz soak-control soak-flap

soak-fuzz:
	FUZZ_ITERATIONS=$(FUZZ_ITERATIONS) npx vitest run test/fuzz

soak-control: setup peers all
	OUTAGE_SECONDS=300 npx vitest run test/integration/tailnet.test.ts -t "Headscale is down"

# An hour of Headscale and derper each down 10 s a minute; meshwrt's RSS and
# descriptors every 10 s, plotted into test/out/soak-flapping-60min.png, held flat.
SOAK_MINUTES ?= 60
soak-flap: setup peers all
	SOAK_MINUTES=$(SOAK_MINUTES) npx vitest run test/soak/flapping.test.ts

demo: setup peers all
	@$(OUT)/meshwrt --version
	@printf 'binary: %s bytes\n' "$$(stat -c %s $(OUT)/meshwrt)"
	npx vite-node test/demo/demo.ts

# Side by side with kernel WireGuard and tailscaled, in a 1-CPU VM; apart from `make test`.
bench: setup peers all
	npx vite-node test/bench/bench.ts

clean:
	rm -rf $(OUT)

.PHONY: all setup peers userland vm typecheck test soak soak-fuzz soak-control soak-flap demo bench clean
