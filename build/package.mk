# `make package`: the .ipk files opkg installs, built here without an OpenWrt SDK
# (build/package.mjs writes the archives the way OpenWrt's ipkg-build does):
#   $(OUT)/meshwrt_<version>_$(PACKAGE_ARCH).ipk  and  $(OUT)/luci-app-meshwrt_<version>_all.ipk
# It prints the installed size of each and of both together (the budget is 1.5 MB).
# Included from the root Makefile, which defines OUT and the rule for $(OUT)/meshwrt.
# luci-app-meshwrt needs files under $(LUCI_DIR)/htdocs or $(LUCI_DIR)/root; without
# them the meshwrt .ipk is still built and the target fails with a message saying so.
PACKAGE_ARCH ?= x86_64
LUCI_DIR ?= luci-app

package: $(OUT)/meshwrt
	node build/package.mjs --binary $(OUT)/meshwrt --out $(OUT) --arch $(PACKAGE_ARCH) --luci-dir $(LUCI_DIR)

.PHONY: package
