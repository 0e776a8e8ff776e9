# The runtime: QuickJS (bytecode only), mbedTLS, our C host in agent/native,
# and a bundle compiled to bytecode. Any bundle $(OUT)/NAME.js becomes the
# binary $(OUT)/NAME.
#
# On this machine (the default): build/deps.sh builds QuickJS and mbedTLS
# from Debian's sources once into $(CACHE), and the binary is static, musl,
# -Os, stripped.
# In an OpenWrt SDK (openwrt-package/meshwrt/Makefile passes QUICKJS_SRC,
# CC, CFLAGS, LDFLAGS, HOSTCC, MBEDTLS=shared, EXTRA_LIBS): QuickJS is built
# from QUICKJS_SRC with the SDK's compiler, and mbedTLS is the SDK's shared
# library.
NATIVE_SRC := $(wildcard agent/native/*.c)
NATIVE_HDR := $(wildcard agent/native/*.h)
BINARIES   := $(OUT)/meshwrt $(OUT)/hostcheck $(OUT)/portable $(OUT)/wgcheck $(OUT)/netmapscale
NATIVE_WARN := -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wno-cast-function-type
NATIVE_OPT  := -Os -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables -D_GNU_SOURCE

ifdef QUICKJS_SRC
NATIVE_CC      := $(CC)
NATIVE_CFLAGS  := $(CFLAGS) $(NATIVE_OPT) $(NATIVE_WARN)
NATIVE_LDFLAGS := $(LDFLAGS) -Wl,--gc-sections -s
NATIVE_LIBS    := $(EXTRA_LIBS) -lm
export QUICKJS_SRC MBEDTLS HOSTCC
export CC_TARGET := $(CC) $(CFLAGS)
else
NATIVE_CC      := musl-gcc
NATIVE_CFLAGS  := $(NATIVE_OPT) $(NATIVE_WARN)
NATIVE_LDFLAGS := -static -Wl,--gc-sections -s
NATIVE_LIBS    := -lm
endif

# Runs every time (it only tests for finished builds), rewrites deps.env only
# when a library changed, so the binaries relink only then.
$(OUT)/deps.env: build/deps.sh build/mbedtls_config.h FORCE
	@mkdir -p $(OUT)
	@OUT=$(OUT) build/deps.sh > $@.tmp && { cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@; }

# Our C, compiled once for every binary.
NATIVE_OBJ := $(patsubst agent/native/%.c,$(OUT)/native/%.o,$(NATIVE_SRC))
$(NATIVE_OBJ): $(OUT)/native/%.o: agent/native/%.c $(NATIVE_HDR) $(OUT)/deps.env
	@mkdir -p $(@D)
	@. "$(abspath $(OUT))/deps.env" && \
	$(NATIVE_CC) $(NATIVE_CFLAGS) -DQJS_VERSION="\"$$QJS_VERSION\"" -I"$$QJS_INC" $$TLS_CFLAGS -c $< -o $@

$(BINARIES): $(OUT)/%: $(OUT)/%.js $(NATIVE_OBJ) $(OUT)/deps.env
	@. "$(abspath $(OUT))/deps.env" && \
	"$$QJSC" -c -N meshwrt_bytecode -o $@.bc.c $< && \
	$(NATIVE_CC) $(NATIVE_CFLAGS) -I"$$QJS_INC" -c $@.bc.c -o $@.bc.o && \
	$(NATIVE_CC) $(NATIVE_CFLAGS) $(NATIVE_LDFLAGS) -o $@.tmp $(NATIVE_OBJ) $@.bc.o "$$QJS_LIB" $$TLS_LIBS $(NATIVE_LIBS) && \
	mv $@.tmp $@ && rm -f $@.bc.c $@.bc.o

# Test entries: the same runtime running the host check and the portable suites.
$(OUT)/hostcheck.js: test/native/hostcheck.ts $(TS_SOURCES) build/bundle.mjs
	@mkdir -p $(OUT)
	node build/bundle.mjs $< $@

$(OUT)/portable.js: test/portable/runtime-entry.ts $(wildcard test/portable/*.ts) $(TS_SOURCES) build/bundle.mjs
	@mkdir -p $(OUT)
	node build/bundle.mjs $< $@

$(OUT)/wgcheck.js: test/vm/wgcheck.ts $(TS_SOURCES) build/bundle.mjs
	@mkdir -p $(OUT)
	node build/bundle.mjs $< $@

$(OUT)/netmapscale.js: test/bench/netmap-scale.ts $(TS_SOURCES) build/bundle.mjs
	@mkdir -p $(OUT)
	node build/bundle.mjs $< $@

FORCE:
.PHONY: FORCE
