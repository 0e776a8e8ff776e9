#!/bin/sh
# Builds what the runtime links, and the bytecode compiler, once, into $CACHE:
#   QuickJS 2025-04-26: the engine only (no quickjs-libc), for the target;
#   qjsc-target (build/qjsc-target.c): this machine's compiler of the bundle to
#     bytecode, writing regular expressions in the target's byte order;
#   mbedTLS 3.6.6: TLS 1.2/1.3 client only, with build/mbedtls_config.h.
# Their sources come from Debian's source packages through apt (trixie deb-src,
# set up by build/setup.sh), unpacked once into $CACHE; nothing of theirs is kept
# in the repo.
#
# TARGET (an OpenWrt architecture, see build/toolchain.sh) builds with Zig's
# cross compiler; without it the libraries are for this machine (x86_64) with
# musl-gcc, for `make all`. Each library lands in a directory named by its
# version, the target and a hash of the compiler command and flags (and, for
# mbedTLS, of our config); it is built aside and renamed into place: a finished
# directory is never rebuilt, and two makes at once never see half of one.
#
# In an OpenWrt SDK (QUICKJS_SRC set, see build/native.mk) QuickJS is built from
# that source into $OUT/quickjs with the SDK's compiler (CC_TARGET), qjsc-target
# with HOSTCC, and mbedTLS is the SDK's shared library.
#
# Prints, for native.mk: TARGET_CC, TARGET_CFLAGS, TARGET_LDFLAGS, QJS_VERSION,
# QJSC, QJS_ENDIAN, QJS_INC, QJS_LIB, TLS_CFLAGS, TLS_LIBS.
set -eu
cd "$(dirname "$0")/.."
CACHE=${CACHE:-$HOME/.cache/meshwrt}
QJS_VERSION=2025.04.26
MBEDTLS_VERSION=3.6.6
TARGET=${TARGET:-}
jobs=$(nproc 2>/dev/null || echo 2)
[ "$jobs" -le 2 ] || jobs=2

# -Os, each function and object in its own section for --gc-sections, no unwind
# tables (C has no exceptions; a crash needs no backtrace).
OPT="-Os -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables -fno-unwind-tables"
if [ -n "${QUICKJS_SRC:-}" ]; then
	cc=${CC_TARGET:?CC_TARGET is set by native.mk in an SDK build}
	cflags=$OPT
	ldflags=""
	ar='ar'
	key=sdk
elif [ -z "$TARGET" ]; then
	cc=musl-gcc
	cflags=$OPT
	ldflags="-static -Wl,--gc-sections -s"
	ar='ar'
	key=x86_64-musl-gcc
else
	eval "$(build/toolchain.sh "$TARGET")"
	cc=$TARGET_CC
	# Link-time optimisation over our C, QuickJS and mbedTLS: the libraries are
	# LLVM bitcode, optimised with the program at each link. (Zig defines NDEBUG
	# when optimising: QuickJS's asserts are compiled out.)
	cflags="$OPT -flto"
	ldflags="-static -Wl,--gc-sections -s -Wl,-T,$(pwd)/build/drop-sections.ld"
	ar=$TARGET_AR
	key=$TARGET
fi
hash() { printf '%s\n' "$@" | sha256sum | cut -c 1-12; }

# The target's byte order, from its compiler's predefined macros.
if printf '' | $cc -dM -E -x c - 2>/dev/null | grep -q '__BYTE_ORDER__ __ORDER_BIG_ENDIAN__'; then
	endian=big
elif printf '' | $cc -dM -E -x c - 2>/dev/null | grep -q '__BYTE_ORDER__ __ORDER_LITTLE_ENDIAN__'; then
	endian=little
else
	echo "deps: cannot tell the byte order of the target compiler ($cc)" >&2
	exit 1
fi

fetch() { # fetch PACKAGE VERSION -> path of the orig tarball in $CACHE/src
	mkdir -p "$CACHE/src"
	tarball=$(ls "$CACHE/src/$1_$2".orig.tar.* 2>/dev/null | head -n 1 || true)
	if [ -z "$tarball" ]; then
		(cd "$CACHE/src" && apt-get source --download-only -q "$1=$2"* >&2 2>/dev/null) ||
			(cd "$CACHE/src" && apt-get source --download-only -q "$1" >&2)
		tarball=$(ls "$CACHE/src/$1_$2".orig.tar.* 2>/dev/null | head -n 1 || true)
		[ -n "$tarball" ] || { echo "deps: apt-get source $1 gave no $1_$2 (run build/setup.sh)" >&2; exit 1; }
	fi
	echo "$tarball"
}

# Moves a finished build into place; a build that another make finished first wins.
settle() {
	mv -T "$1" "$2" 2>/dev/null || rm -rf "$1"
}

# source PACKAGE VERSION -> $CACHE/PACKAGE-VERSION-src, the tarball unpacked once.
source_dir() {
	dir=$CACHE/$1-$2-src
	if [ ! -d "$dir" ]; then
		tarball=$(fetch "$1" "$2")
		tmp=$dir.tmp.$$
		rm -rf "$tmp" && mkdir -p "$tmp"
		tar xf "$tarball" -C "$tmp"
		settle "$tmp/"* "$dir"
		rm -rf "$tmp"
	fi
	echo "$dir"
}

# compile_all OUTDIR [FLAGS...]: compiles each of $files to OUTDIR/<name>.o, $jobs at a time.
compile_all() {
	out=$1 && shift
	# shellcheck disable=SC2016,SC2086
	printf '%s\n' $files | OBJ_DIR=$out xargs -P "$jobs" -I{} \
		sh -c 'f=$1 && shift && exec "$@" -c "$f" -o "$OBJ_DIR/$(basename "$f" .c).o"' sh {} $cc $cflags "$@"
}

if [ -n "${QUICKJS_SRC:-}" ]; then
	qsrc=$QUICKJS_SRC
	qjs=${OUT:-build/out}/quickjs
	qjsc=${OUT:-build/out}/qjsc-target/qjsc-target
else
	qsrc=$(source_dir quickjs "$QJS_VERSION")
	qjs=$CACHE/quickjs-$QJS_VERSION-$key-$(hash "$cc" "$cflags")
	qjsc=$CACHE/qjsc-target-$QJS_VERSION-$(hash "$(cat build/qjsc-target.c build/lz4-pack.h)")/qjsc-target
fi
# The version as a C string: the quotes are meant literally (SC2089/SC2090).
# shellcheck disable=SC2089
qdef="-D_GNU_SOURCE -DCONFIG_VERSION=\"$(cat "$qsrc/VERSION")\""

# qjsc-target runs here, at build time, so it is built for this machine.
if [ ! -x "$qjsc" ]; then
	start=$(date +%s)
	dir=$(dirname "$qjsc")
	tmp=$dir.tmp.$$
	rm -rf "$tmp" && mkdir -p "$tmp"
	# shellcheck disable=SC2086,SC2090
	${HOSTCC:-cc} -O2 $qdef -I"$qsrc" -o "$tmp/qjsc-target" build/qjsc-target.c "$qsrc/quickjs.c" \
		"$qsrc/libunicode.c" "$qsrc/cutils.c" "$qsrc/dtoa.c" -lm -lpthread >&2 ||
		{ rm -rf "$tmp"; echo "deps: building build/qjsc-target.c with $qsrc failed" >&2; exit 1; }
	mkdir -p "$(dirname "$dir")"
	settle "$tmp" "$dir"
	echo "deps: qjsc-target built in $(( $(date +%s) - start )) s" >&2
fi

if [ ! -f "$qjs/libquickjs.a" ]; then
	start=$(date +%s)
	tmp=$qjs.tmp.$$
	rm -rf "$tmp" && mkdir -p "$tmp/obj"
	files=$(for f in quickjs libregexp libunicode cutils dtoa; do echo "$qsrc/$f.c"; done)
	# shellcheck disable=SC2086,SC2090
	compile_all "$tmp/obj" $qdef || { rm -rf "$tmp"; echo "deps: building QuickJS for ${TARGET:-$key} failed" >&2; exit 1; }
	$ar rcs "$tmp/libquickjs.a" "$tmp/obj/"*.o
	rm -rf "$tmp/obj"
	settle "$tmp" "$qjs"
	echo "deps: QuickJS $QJS_VERSION for ${TARGET:-$key} built in $(( $(date +%s) - start )) s" >&2
fi

printf "TARGET_CC='%s'\nTARGET_CFLAGS='%s'\nTARGET_LDFLAGS='%s'\n" "$cc" "$cflags" "$ldflags"
echo "QJS_VERSION='$(cat "$qsrc/VERSION")'"
echo "QJSC='$qjsc'"
echo "QJS_ENDIAN='$endian'"
echo "QJS_INC='$qsrc'"
echo "QJS_LIB='$qjs/libquickjs.a'"

if [ "${MBEDTLS:-}" = shared ]; then
	echo "TLS_CFLAGS=''"
	echo "TLS_LIBS='-lmbedtls -lmbedx509 -lmbedcrypto'"
	exit 0
fi

tsrc=$(source_dir mbedtls "$MBEDTLS_VERSION")
# The record cipher every relayed packet goes through (ChaCha20-Poly1305, the
# first suite we offer) at -O2: GCC's -Os calls its quarter rounds instead of
# inlining them, 3x slower under emulation (66 -> 21 us per 1,400 bytes in
# qemu-x86_64); ~1.5 KB more on every target.
fast_files="chacha20 poly1305 chachapoly"
tls=$CACHE/mbedtls-$MBEDTLS_VERSION-$key-$(hash "$cc" "$cflags" "$(cat build/mbedtls_config.h)" "$fast_files -O2")
if [ ! -f "$tls/libmbedtls.a" ]; then
	start=$(date +%s)
	tmp=$tls.tmp.$$
	rm -rf "$tmp" && mkdir -p "$tmp/obj" "$tmp/conf"
	cp build/mbedtls_config.h "$tmp/conf/mbedtls_config.h"
	# Every library file: the config leaves most of them empty, and --gc-sections the rest.
	files=$(ls "$tsrc/library/"*.c)
	compile_all "$tmp/obj" -I"$tsrc/include" -I"$tmp/conf" -DMBEDTLS_CONFIG_FILE="<mbedtls_config.h>" ||
		{ rm -rf "$tmp"; echo "deps: building mbedTLS for ${TARGET:-$key} failed" >&2; exit 1; }
	files=$(for f in $fast_files; do echo "$tsrc/library/$f.c"; done)
	# The last -O given wins.
	compile_all "$tmp/obj" -I"$tsrc/include" -I"$tmp/conf" -DMBEDTLS_CONFIG_FILE="<mbedtls_config.h>" -O2 ||
		{ rm -rf "$tmp"; echo "deps: building mbedTLS's cipher at -O2 for ${TARGET:-$key} failed" >&2; exit 1; }
	$ar rcs "$tmp/libmbedtls.a" "$tmp/obj/"*.o
	rm -rf "$tmp/obj"
	settle "$tmp" "$tls"
	echo "deps: mbedTLS $MBEDTLS_VERSION for ${TARGET:-$key} built in $(( $(date +%s) - start )) s" >&2
fi
echo "TLS_CFLAGS='-I$tsrc/include -I$tls/conf -DMBEDTLS_CONFIG_FILE=<mbedtls_config.h>'"
echo "TLS_LIBS='$tls/libmbedtls.a'"
