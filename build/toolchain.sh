#!/bin/sh
# The cross toolchain: Zig from PyPI's `ziglang` wheel (its `zig cc` is clang with
# musl for every OpenWrt target we build), installed once into $CACHE/zig-<version>
# with pip, so a fresh machine gets it from the registry and nothing else.
#
# Usage: build/toolchain.sh [TARGET]
# Prints, for build/deps.sh: ZIG, and with a TARGET (an OpenWrt architecture name)
# TARGET_CC and TARGET_AR, the compiler and archiver for it (commands to run
# unquoted: no path here has blanks). The CPU and float ABI
# are those OpenWrt builds its packages for:
#   x86_64                    x86-64 baseline
#   aarch64_cortex-a53        Cortex-A53 (MT7981/MT7986, ...)
#   arm_cortex-a7_neon-vfpv4  Cortex-A7, hard float with NEON/VFPv4 (IPQ40xx), in
#                             Thumb-2, a quarter smaller than ARM code
#   mipsel_24kc               MIPS32r2 little-endian, soft float (MT7621)
#   mips_24kc                 MIPS32r2 big-endian, soft float (ath79)
# (OpenWrt's MIPS 24Kc targets are soft-float and their kernels emulate no FPU.)
set -eu
CACHE=${CACHE:-$HOME/.cache/meshwrt}
ZIG_VERSION=0.17.0
dir=$CACHE/zig-$ZIG_VERSION
zig=$dir/ziglang/zig

case "${1:-}" in
"") ;;
x86_64) triple=x86_64-linux-musl cpu=x86_64 ;;
aarch64_cortex-a53) triple=aarch64-linux-musl cpu=cortex_a53 ;;
arm_cortex-a7_neon-vfpv4) triple=thumb-linux-musleabihf cpu=cortex_a7 ;;
mipsel_24kc) triple=mipsel-linux-musleabi cpu=mips32r2+soft_float ;;
mips_24kc) triple=mips-linux-musleabi cpu=mips32r2+soft_float ;;
*)
	echo "toolchain: unknown target '$1' (x86_64, aarch64_cortex-a53, arm_cortex-a7_neon-vfpv4, mipsel_24kc, mips_24kc)" >&2
	exit 2
	;;
esac

if [ ! -x "$zig" ]; then
	start=$(date +%s)
	tmp=$dir.tmp.$$
	trap 'rm -rf "$tmp"' EXIT
	rm -rf "$tmp"
	python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$tmp" "ziglang==$ZIG_VERSION" >&2 ||
		{ echo "toolchain: pip could not install ziglang==$ZIG_VERSION from PyPI into $tmp" >&2; exit 1; }
	[ -x "$tmp/ziglang/zig" ] || { echo "toolchain: the ziglang $ZIG_VERSION wheel has no ziglang/zig" >&2; exit 1; }
	mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"
	trap - EXIT
	echo "toolchain: zig $ZIG_VERSION installed in $(( $(date +%s) - start )) s" >&2
fi
echo "ZIG='$zig'"
if [ -n "${1:-}" ]; then
	# Zig's own cache (musl and compiler-rt, built once per target) stays in $CACHE too.
	env="env ZIG_GLOBAL_CACHE_DIR=$CACHE/zig-cache"
	echo "TARGET_CC='$env $zig cc -target $triple -mcpu=$cpu'"
	echo "TARGET_AR='$env $zig ar'"
fi
