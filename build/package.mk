# `make package`: the feed of meshwrt packages for OpenWrt, built here without an SDK, for
# every architecture in CROSS_TARGETS (build/native.mk):
#   $(OUT)/packages/<arch>/  meshwrt and luci-app-meshwrt as .ipk (opkg, OpenWrt 24.10) and
#   .apk (apk-tools 3, OpenWrt 25.12), with the indexes Packages, Packages.gz, packages.adb.
# Each arch's binary comes from `make cross` (only meshwrt is built here); the .apk files
# and packages.adb are written by apk-tools' own `apk mkpkg` and `apk mkndx`, from the
# OpenWrt userland test/openwrt/build.sh builds into the cache. build/feed.mjs prints the
# size table and fails on a binary over 1 MiB or an install over 1.5 MB.
# Included from the root Makefile, which defines OUT and the rule for $(OUT)/meshwrt.js.
LUCI_DIR ?= luci-app

package: $(OUT)/meshwrt.js
	@for t in $(CROSS_TARGETS); do \
		$(MAKE) --no-print-directory OUT=$(OUT)/$$t JS_DIR=$(OUT) TARGET=$$t $(OUT)/$$t/meshwrt || exit 1; \
	done
	@eval "$$(sh test/openwrt/build.sh)" && \
	node build/feed.mjs --apk "$$OPENWRT_ROOT/usr/bin/apk" --bin-dir $(OUT) --out $(OUT)/packages \
		--luci-dir $(LUCI_DIR) $(CROSS_TARGETS)

.PHONY: package
