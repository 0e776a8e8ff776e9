#!/bin/sh
# Builds the two C libraries the runtime links, once, into $CACHE:
#   QuickJS 2025-04-26: the engine only, with musl (no quickjs-libc), and a
#     qjsc for this machine that compiles the bundle to bytecode;
#   mbedTLS 3.6.6: TLS 1.2/1.3 client only, with musl and build/mbedtls_config.h.
# Their sources come from Debian's source packages through apt (trixie
# deb-src, set up by build/setup.sh); nothing of theirs is kept in the repo.
# Each build lands in a directory named by version (and, for mbedTLS, by the
# hash of our config), built aside and renamed into place: a finished
# directory is never rebuilt, and two makes at once never see half of one.
# In an OpenWrt SDK (QUICKJS_SRC set, see build/native.mk) QuickJS is built
# from that source into $OUT/quickjs with the SDK's compiler, and mbedTLS is
# the SDK's shared library.
# Prints, for native.mk: QJS_VERSION, QJSC, QJS_INC, QJS_LIB, TLS_CFLAGS, TLS_LIBS.
set -eu
cd "$(dirname "$0")/.."
CACHE=${CACHE:-$HOME/.cache/meshwrt}
QJS_VERSION=2025.04.26
MBEDTLS_VERSION=3.6.6
CC_TARGET=${CC_TARGET:-musl-gcc}
CFLAGS_TARGET="-Os -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables"
jobs=$(nproc 2>/dev/null || echo 2)

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

# unpack TARBALL DIR: the tarball's one top directory becomes DIR/src.
unpack() {
	mkdir -p "$2/x"
	tar xf "$1" -C "$2/x"
	mv "$2/x/"* "$2/src"
	rmdir "$2/x"
}

# Moves a finished build into place; a build that another make finished first wins.
settle() {
	mv -T "$1" "$2" 2>/dev/null || rm -rf "$1"
}

if [ -n "${QUICKJS_SRC:-}" ]; then
	qjs=${OUT:-build/out}/quickjs
	if [ ! -f "$qjs/libquickjs.a" ]; then
		mkdir -p "$qjs"
		def="-D_GNU_SOURCE -DCONFIG_VERSION=\"$(cat "$QUICKJS_SRC/VERSION")\""
		# shellcheck disable=SC2086
		${HOSTCC:-cc} -O2 $def -o "$qjs/qjsc" "$QUICKJS_SRC/qjsc.c" "$QUICKJS_SRC/quickjs.c" \
			"$QUICKJS_SRC/libregexp.c" "$QUICKJS_SRC/libunicode.c" "$QUICKJS_SRC/cutils.c" \
			$( [ -f "$QUICKJS_SRC/dtoa.c" ] && echo "$QUICKJS_SRC/dtoa.c") "$QUICKJS_SRC/quickjs-libc.c" \
			-lm -ldl -lpthread >&2 &
		pids=$!
		for f in quickjs libregexp libunicode cutils dtoa; do
			[ -f "$QUICKJS_SRC/$f.c" ] || continue
			# shellcheck disable=SC2086
			$CC_TARGET $CFLAGS_TARGET $def -c "$QUICKJS_SRC/$f.c" -o "$qjs/$f.o" >&2 &
			pids="$pids $!"
		done
		for pid in $pids; do
			wait "$pid" || { echo "deps: building QuickJS from $QUICKJS_SRC failed" >&2; exit 1; }
		done
		rm -f "$qjs/libquickjs.a" && ar rcs "$qjs/libquickjs.a" "$qjs/"*.o
	fi
	echo "QJS_VERSION='$(cat "$QUICKJS_SRC/VERSION")'"
	echo "QJSC='$qjs/qjsc'"
	echo "QJS_INC='$QUICKJS_SRC'"
	echo "QJS_LIB='$qjs/libquickjs.a'"
	if [ "${MBEDTLS:-}" = shared ]; then
		echo "TLS_CFLAGS=''"
		echo "TLS_LIBS='-lmbedtls -lmbedx509 -lmbedcrypto'"
		exit 0
	fi
fi

qjs=$CACHE/quickjs-$QJS_VERSION-1
if [ -z "${QUICKJS_SRC:-}" ] && [ ! -f "$qjs/libquickjs.a" ]; then
	start=$(date +%s)
	tarball=$(fetch quickjs "$QJS_VERSION")
	tmp=$qjs.tmp.$$
	trap 'rm -rf "$tmp"' EXIT
	rm -rf "$tmp" && mkdir -p "$tmp/obj"
	unpack "$tarball" "$tmp"
	src=$tmp/src
	def="-D_GNU_SOURCE -DCONFIG_VERSION=\"$(cat "$src/VERSION")\""
	# qjsc runs here, at build time, so it is built for this machine (with its libc).
	# shellcheck disable=SC2086
	gcc -O2 $def -o "$tmp/qjsc" "$src/qjsc.c" "$src/quickjs.c" "$src/libregexp.c" "$src/libunicode.c" \
		"$src/cutils.c" "$src/dtoa.c" "$src/quickjs-libc.c" -lm -ldl -lpthread &
	pids=$!
	for f in quickjs libregexp libunicode cutils dtoa; do
		# shellcheck disable=SC2086
		$CC_TARGET $CFLAGS_TARGET $def -c "$src/$f.c" -o "$tmp/obj/$f.o" &
		pids="$pids $!"
	done
	for pid in $pids; do
		wait "$pid" || { echo "deps: building QuickJS failed" >&2; exit 1; }
	done
	ar rcs "$tmp/libquickjs.a" "$tmp/obj/"*.o
	rm -rf "$tmp/obj"
	settle "$tmp" "$qjs"
	trap - EXIT
	echo "deps: QuickJS $QJS_VERSION built in $(( $(date +%s) - start )) s" >&2
fi

conf=$(sha256sum build/mbedtls_config.h | cut -c 1-12)
tls=$CACHE/mbedtls-$MBEDTLS_VERSION-$conf
if [ ! -f "$tls/libmbedtls.a" ]; then
	start=$(date +%s)
	tarball=$(fetch mbedtls "$MBEDTLS_VERSION")
	tmp=$tls.tmp.$$
	trap 'rm -rf "$tmp"' EXIT
	rm -rf "$tmp" && mkdir -p "$tmp/obj" "$tmp/conf"
	unpack "$tarball" "$tmp"
	cp build/mbedtls_config.h "$tmp/conf/mbedtls_config.h"
	# Every library file: the config leaves most of them empty, and --gc-sections the rest.
	ls "$tmp/src/library/"*.c | xargs -P "$jobs" -I{} sh -c \
		'f={}; '"$CC_TARGET $CFLAGS_TARGET"' -I"'"$tmp"'/src/include" -I"'"$tmp"'/conf" -DMBEDTLS_CONFIG_FILE="<mbedtls_config.h>" -c "$f" -o "'"$tmp"'/obj/$(basename "$f" .c).o"'
	ar rcs "$tmp/libmbedtls.a" "$tmp/obj/"*.o
	rm -rf "$tmp/obj" "$tmp/src/library" "$tmp/src/tests" "$tmp/src/programs" "$tmp/src/framework"
	settle "$tmp" "$tls"
	trap - EXIT
	echo "deps: mbedTLS $MBEDTLS_VERSION built in $(( $(date +%s) - start )) s" >&2
fi

if [ -z "${QUICKJS_SRC:-}" ]; then
	echo "QJS_VERSION='$(cat "$qjs/src/VERSION")'"
	echo "QJSC='$qjs/qjsc'"
	echo "QJS_INC='$qjs/src'"
	echo "QJS_LIB='$qjs/libquickjs.a'"
fi
echo "TLS_CFLAGS='-I$tls/src/include -I$tls/conf -DMBEDTLS_CONFIG_FILE=<mbedtls_config.h>'"
echo "TLS_LIBS='$tls/libmbedtls.a'"
