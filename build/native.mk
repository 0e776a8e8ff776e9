# The runtime: QuickJS (bytecode only), mbedTLS, our C host in agent/native,
# and a bundle compiled to bytecode. Any bundle $(OUT)/NAME.js becomes the
# binary $(OUT)/NAME.
#
# On this machine (the default): build/deps.sh builds QuickJS and mbedTLS
# from Debian's sources once into $(CACHE), and the binary is static, musl,
# -Os, stripped. `make all` builds for this machine with musl-gcc;
# `make cross TARGET=<OpenWrt arch>` builds the same binaries for a router
# CPU with Zig's cross compiler (build/toolchain.sh) into $(OUT)/<arch>/,
# and `make cross-all` for every arch in CROSS_TARGETS.
# In an OpenWrt SDK (openwrt-package/meshwrt/Makefile passes QUICKJS_SRC,
# CC, CFLAGS, LDFLAGS, HOSTCC, MBEDTLS=shared, EXTRA_LIBS): QuickJS is built
# from QUICKJS_SRC with the SDK's compiler, and mbedTLS is the SDK's shared
# library.
# The bundle is compiled to bytecode by build/qjsc-target.c, in the target's
# byte order (deps.sh asks the target compiler which it is).
NATIVE_SRC := $(wildcard agent/native/*.c)
NATIVE_HDR := $(wildcard agent/native/*.h)
BINARY_NAMES := meshwrt hostcheck portable wgcheck netmapscale
BINARIES   := $(addprefix $(OUT)/,$(BINARY_NAMES))
CROSS_TARGETS := x86_64 aarch64_cortex-a53 arm_cortex-a7_neon-vfpv4 mipsel_24kc mips_24kc
NATIVE_WARN := -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wno-cast-function-type
# The bundles a binary is made of; a cross build takes them from the x86 build's $(OUT).
JS_DIR ?= $(OUT)

ifdef QUICKJS_SRC
NATIVE_CC      := $(CC)
NATIVE_CFLAGS  := $(CFLAGS) -Os -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables -D_GNU_SOURCE $(NATIVE_WARN)
NATIVE_LDFLAGS := $(LDFLAGS) -Wl,--gc-sections -s
NATIVE_LIBS    := $(EXTRA_LIBS) -lm
export QUICKJS_SRC MBEDTLS HOSTCC
export CC_TARGET := $(CC) $(CFLAGS)
else
# deps.env says which compiler and flags (musl-gcc here, zig cc for a TARGET).
NATIVE_CC      := $$TARGET_CC
NATIVE_CFLAGS  := $$TARGET_CFLAGS -D_GNU_SOURCE $(NATIVE_WARN)
NATIVE_LDFLAGS := $$TARGET_LDFLAGS
NATIVE_LIBS    := -lm
endif

# Runs every time (it only tests for finished builds), rewrites deps.env only
# when a library changed, so the binaries relink only then. The temporary file is
# per shell: test files in two lanes run make at once.
$(OUT)/deps.env: build/deps.sh build/toolchain.sh build/qjsc-target.c build/lz4-pack.h build/mbedtls_config.h FORCE
	@mkdir -p $(OUT)
	@OUT=$(OUT) TARGET=$(TARGET) build/deps.sh > $@.$$$$.tmp && { cmp -s $@.$$$$.tmp $@ && rm -f $@.$$$$.tmp || mv $@.$$$$.tmp $@; }

# Our C, compiled once for every binary.
NATIVE_OBJ := $(patsubst agent/native/%.c,$(OUT)/native/%.o,$(NATIVE_SRC))
$(NATIVE_OBJ): $(OUT)/native/%.o: agent/native/%.c $(NATIVE_HDR) $(OUT)/deps.env
	@mkdir -p $(@D)
	@. "$(abspath $(OUT))/deps.env" && \
	$(NATIVE_CC) $(NATIVE_CFLAGS) -DQJS_VERSION="\"$$QJS_VERSION\"" -I"$$QJS_INC" $$TLS_CFLAGS -c $< -o $@

# The bytecode keeps no debug info (-s: no line tables or variable names, 30% of
# it): the bundle is minified, so a line number would say little anyway.
$(BINARIES): $(OUT)/%: $(JS_DIR)/%.js $(NATIVE_OBJ) $(OUT)/deps.env build/drop-sections.ld
	@. "$(abspath $(OUT))/deps.env" && \
	"$$QJSC" -s -e "$$QJS_ENDIAN" -N meshwrt_bytecode -o $@.bc.c $< && \
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

$(OUT)/wgcheck.js: test/vm/wgcheck.ts test/wg/read-cost.ts $(TS_SOURCES) build/bundle.mjs
	@mkdir -p $(OUT)
	node build/bundle.mjs $< $@

$(OUT)/netmapscale.js: test/bench/netmap-scale.ts $(TS_SOURCES) build/bundle.mjs
	@mkdir -p $(OUT)
	node build/bundle.mjs $< $@

# The same binaries for a router's CPU: the bundles are built here once, then a
# make of its own per target, with OUT=$(OUT)/<target>.
cross: $(addprefix $(OUT)/,$(addsuffix .js,$(BINARY_NAMES)))
	@case " $(CROSS_TARGETS) " in *" $(TARGET) "*) ;; \
	*) echo "make cross: TARGET must be one of: $(CROSS_TARGETS)" >&2; exit 2;; esac
	@$(MAKE) --no-print-directory OUT=$(OUT)/$(TARGET) JS_DIR=$(OUT) TARGET=$(TARGET) \
		$(addprefix $(OUT)/$(TARGET)/,$(BINARY_NAMES))
	@for b in $(BINARY_NAMES); do printf '%s: %s bytes\n' "$(OUT)/$(TARGET)/$$b" "$$(stat -c %s $(OUT)/$(TARGET)/$$b)"; done

cross-all:
	@for t in $(CROSS_TARGETS); do $(MAKE) --no-print-directory cross TARGET=$$t || exit 1; done

FORCE:
.PHONY: FORCE cross cross-all
