#!/bin/sh
# Builds OpenWrt's own userland for the tests, once, into $CACHE: the daemons and
# tools a router runs (ubusd, uci, ucode, rpcd, uhttpd, procd, fw4, opkg, apk, LuCI),
# from the pinned `git archive` tarballs in $OPENWRT_SRC (default ../shared/openwrt-src,
# see its README.md). Nothing of theirs goes into the project's tree.
#
# The tree is laid out like a router's: $OPENWRT_ROOT/usr/{bin,sbin,lib,share},
# /www (LuCI's htdocs), /etc, /lib and /sbin (firewall4's and base-files' scripts).
# It is installed with the prefix $OPENWRT_ROOT/usr and an rpath to its usr/lib,
# so binaries run without LD_LIBRARY_PATH and ucode, rpcd and uhttpd find their
# modules and plugins there. Paths the daemons hard-code (/etc/config, /var/run,
# /usr/share/rpcd, /usr/share/acl.d, /www, /etc/init.d) are the lab's to provide,
# e.g. with bind mounts in its own mount namespace.
#
# The result lands in $CACHE/openwrt-<key>, the key hashing the tarballs' checksums,
# base-files and this script; it is built aside and renamed into place, so a finished
# tree is never rebuilt and two runs at once never see half of one.
# Prints shell assignments on stdout (OPENWRT_ROOT, OPENWRT_PATH, OPENWRT_SH,
# OPENWRT_SRC); logs go to stderr.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
project=$(cd "$here/../.." && pwd)
SRC=${OPENWRT_SRC:-$project/../shared/openwrt-src}
CACHE=${CACHE:-$HOME/.cache/meshwrt}
jobs=2

# name  upstream repository  commit: the tarball is $SRC/<name>-<commit>.tar.gz.
components="
libubox https://github.com/openwrt/libubox 1aa36ee774c8
libnl-tiny https://github.com/openwrt/libnl-tiny feca1d341d4b
ubus https://github.com/openwrt/ubus 3cc98db1a422
uci https://github.com/openwrt/uci 66127cd76c5d
jsonpath https://github.com/openwrt/jsonpath e5a07f468508
ucode https://github.com/jow-/ucode 81205a25437a
udebug https://github.com/openwrt/udebug 875e1a7af6ca
ubox https://github.com/openwrt/ubox 6f78fa496bf3
rpcd https://github.com/openwrt/rpcd 4476687403d8
uhttpd https://github.com/openwrt/uhttpd f682ccabee9e
procd https://github.com/openwrt/procd 2c1834abae17
firewall4 https://github.com/openwrt/firewall4 b6e5157527d3
opkg-lede https://github.com/openwrt/opkg-lede 38eccbb1fd69
apk-tools https://github.com/alpinelinux/apk-tools 90b974fd8510
iwinfo https://github.com/openwrt/iwinfo f5dd57a84cc3
lucihttp https://github.com/jow-/lucihttp 9b5b683fbb2b
luci https://github.com/openwrt/luci daf2e0bc2bfb
"

fail() {
	echo "openwrt: $*" >&2
	exit 1
}

[ -d "$SRC" ] || fail "no OpenWrt source directory $SRC (set OPENWRT_SRC; it holds git-archive tarballs of the repositories listed in test/openwrt/build.sh)"
SRC=$(cd "$SRC" && pwd)
[ -f "$SRC/SHA256SUMS" ] || fail "$SRC/SHA256SUMS is missing"

# Checks each tarball against SHA256SUMS; the lines checked become part of the key.
sums=$(echo "$components" | while read -r name repo commit; do
	[ -n "$name" ] || continue
	file=$name-$commit.tar.gz
	line=$(grep "  $file\$" "$SRC/SHA256SUMS" || true)
	[ -n "$line" ] || { echo "openwrt: $SRC/SHA256SUMS has no line for $file ($repo at $commit)" >&2; exit 1; }
	[ -f "$SRC/$file" ] || { echo "openwrt: $SRC/$file is missing: it is \`git archive --prefix=$name/\` of $repo at commit $commit" >&2; exit 1; }
	echo "$line"
done) || exit 1
(cd "$SRC" && echo "$sums" | sha256sum --check --quiet --strict >/dev/null 2>&1) || {
	bad=$(cd "$SRC" && echo "$sums" | sha256sum --check 2>/dev/null | grep -v ': OK$' | cut -d: -f1 | tr '\n' ' ')
	fail "checksum mismatch in $SRC for: $bad(compare with SHA256SUMS; each is \`git archive\` of the repository and commit listed in test/openwrt/build.sh)"
}
base=$SRC/base-files
[ -d "$base/package" ] || fail "$base is missing: it holds rc.common, functions.sh, procd.sh and configs from https://github.com/openwrt/openwrt (see $base/SOURCES.txt)"
basesum=$(cd "$base" && find package -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c 1-64)
key=$({ echo "$sums"; echo "$basesum"; sha256sum <"$0"; } | sha256sum | cut -c 1-12)
root=$CACHE/openwrt-$key

print() {
	echo "OPENWRT_ROOT='$root'"
	echo "OPENWRT_PATH='$root/usr/sbin:$root/usr/bin:$root/sbin'"
	echo "OPENWRT_SH='$(command -v busybox) sh'"
	echo "OPENWRT_SRC='$SRC'"
}

if [ -f "$root/.complete" ]; then
	print
	exit 0
fi

for tool in cmake meson ninja pkg-config gcc busybox; do
	command -v "$tool" >/dev/null || fail "$tool is missing (build/setup.sh installs build/apt-packages.txt)"
done

start=$(date +%s)
mkdir -p "$CACHE"
tmp=$root.tmp.$$
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp"
mkdir -p "$tmp/src" "$tmp/build"
dest=$tmp/dest
stage=$dest$root # what `make install` writes, under DESTDIR, for the final prefix
echo "$components" | while read -r name repo commit; do
	[ -n "$name" ] || continue
	tar xzf "$SRC/$name-$commit.tar.gz" -C "$tmp/src"
done
s=$tmp/src
log=$tmp/build.log
echo "openwrt: building the userland into $root (log: $log while it runs)" >&2

# Components that include ucode's headers need _GNU_SOURCE ($gnu, for them only):
# defined empty, as most of their files do, since a differing redefinition is an
# error under their -Werror.
# Debian's json-c headers sit in /usr/include/json-c; OpenWrt's sources include
# <json-c/json.h> and, in places, <json.h>.
gnu=-D_GNU_SOURCE=
export CFLAGS="-O2 -g0 -I$stage/usr/include -I/usr/include/json-c \
 -Wno-error=stringop-overread -Wno-error=format-overflow -Wno-error=unused-result \
 -Wno-error=stringop-truncation -Wno-error=maybe-uninitialized -Wno-error=dangling-pointer \
 -Wno-error=use-after-free -Wno-error=array-bounds"
export LDFLAGS="-L$stage/usr/lib -Wl,-rpath-link,$stage/usr/lib -Wl,-rpath,$root/usr/lib"
export PKG_CONFIG_PATH="$stage/usr/lib/pkgconfig"

step() { # step NAME: logs which component is being built
	echo "openwrt: $1" >&2
	echo "==== $1" >>"$log"
}

run() { # run CMD...: into the log; on failure, its tail on stderr
	"$@" >>"$log" 2>&1 || {
		tail -n 20 "$log" >&2
		fail "building failed: $* (in $(pwd))"
	}
}

cm() { # cm NAME [CMAKE OPTIONS]: configure, build and install one CMake project
	name=$1
	shift
	step "$name"
	CFLAGS="$CFLAGS ${extra:-}" run cmake -S "$s/$name" -B "$tmp/build/$name" -G Ninja \
		-DCMAKE_INSTALL_PREFIX="$root/usr" -DCMAKE_INSTALL_LIBDIR=lib \
		-DCMAKE_PREFIX_PATH="$stage/usr" -DCMAKE_FIND_ROOT_PATH="$stage" \
		-DCMAKE_INSTALL_RPATH="$root/usr/lib" -DCMAKE_BUILD_TYPE=None "$@"
	run ninja -C "$tmp/build/$name" -j "$jobs"
	DESTDIR=$dest run ninja -C "$tmp/build/$name" install
}

cm libubox -DBUILD_LUA=OFF -DBUILD_EXAMPLES=OFF
cm libnl-tiny
cm ubus -DBUILD_LUA=OFF -DBUILD_EXAMPLES=OFF
cm uci -DBUILD_LUA=OFF
cm ucode -DUBUS_SUPPORT=ON -DUCI_SUPPORT=ON -DULOOP_SUPPORT=ON -DRTNL_SUPPORT=ON \
	-DNL80211_SUPPORT=ON -DDIGEST_SUPPORT=OFF -DDIGEST_SUPPORT_EXTENDED=OFF
cm udebug -DRUNSTATEDIR=/var/run
cm ubox
cm opkg-lede -DBUILD_TESTS=OFF -DENABLE_USIGN=OFF
# glibc 2.36 has no strlcpy: libbsd's, declared without pulling in features.h
# (which would define _DEFAULT_SOURCE before files that define it themselves).
printf '#include <stddef.h>\nsize_t strlcpy(char *, const char *, size_t);\n' >"$tmp/strlcpy.h"
bsd="-include $tmp/strlcpy.h"
extra="$gnu $bsd" cm rpcd -DIWINFO_SUPPORT=OFF -DCMAKE_C_STANDARD_LIBRARIES=-lbsd
# As OpenWrt's rpcd package installs it: every session may check its own access (LuCI does, or calls the session expired).
mkdir -p "$stage/usr/share/rpcd/acl.d" && cp "$s/rpcd/unauthenticated.json" "$stage/usr/share/rpcd/acl.d/"
extra=$gnu cm uhttpd -DTLS_SUPPORT=OFF -DLUA_SUPPORT=OFF -DUBUS_SUPPORT=ON -DUCODE_SUPPORT=ON
extra="$gnu $bsd" cm procd -DJAIL_SUPPORT=OFF -DSECCOMP_SUPPORT=OFF -DUTRACE_SUPPORT=OFF \
	-DCMAKE_C_STANDARD_LIBRARIES=-lbsd
extra=$gnu cm lucihttp -DBUILD_LUA=OFF -DBUILD_TESTS=OFF -DBUILD_UCODE=ON

# jsonpath builds only inside its own source tree.
step jsonpath
(cd "$s/jsonpath" && run cmake . -DCMAKE_INSTALL_PREFIX="$root/usr" -DCMAKE_PREFIX_PATH="$stage/usr" \
	-DCMAKE_INSTALL_RPATH="$root/usr/lib" && run make -j "$jobs" && DESTDIR=$dest run make install)
ln -sf jsonpath "$stage/usr/bin/jsonfilter"

# apk-tools 3: static libapk, so `apk` is one binary; no Lua, docs or help text.
step apk-tools
run meson setup "$tmp/build/apk-tools" "$s/apk-tools" --prefix="$root/usr" --libdir=lib \
	--default-library=static -Dlua=disabled -Ddocs=disabled -Dhelp=disabled -Dpython=disabled \
	-Dtests=disabled -Dzstd=enabled
run ninja -C "$tmp/build/apk-tools" -j "$jobs"
DESTDIR=$dest run ninja -C "$tmp/build/apk-tools" install

# LuCI: rpcd-mod-luci and the C parts of luci-base and ucode-mod-html are single
# files (rpcd-mod-luci's CMakeLists wants a newer cmake than Debian's), compiled here;
# the rest is copied as luci.mk installs it: htdocs to /www, ucode to
# /usr/share/ucode/luci, root/ to /.
step luci
l=$s/luci
cc_so() { # cc_so OUT SOURCES... [FLAGS]: one shared object with the tree's rpath
	out=$1
	shift
	mkdir -p "$(dirname "$out")"
	# shellcheck disable=SC2086
	run gcc -shared -fPIC $gnu $CFLAGS $LDFLAGS -o "$out" "$@"
}
cc_so "$stage/usr/lib/rpcd/luci.so" "$l/libs/rpcd-mod-luci/src/luci.c" -I"$s/iwinfo/include" -I"$s/rpcd/include" \
	-I/usr/include/libnl3 -lubox -lubus -luci -ldl -lnl-3
run gcc -std=gnu17 -o "$tmp/build/lemon" "$l/modules/luci-base/src/contrib/lemon.c"
(cd "$l/modules/luci-base/src/lib" && cp ../contrib/lempar.c . && run "$tmp/build/lemon" -q plural_formula.y)
cc_so "$stage/usr/lib/ucode/luci/core.so" -DNDEBUG "$l/modules/luci-base/src/lib/luci.c" \
	"$l/modules/luci-base/src/lib/lmo.c" "$l/modules/luci-base/src/lib/plural_formula.c" -lcrypt
cc_so "$stage/usr/lib/ucode/html.so" "$l/contrib/package/ucode-mod-html/src/html.c"
# po2lmo compiles translations (luci-base's catalogs here, an app's own in a test) into the
# .lmo files the dispatcher loads from /usr/lib/lua/luci/i18n, named as luci.mk names them.
b=$l/modules/luci-base/src
# shellcheck disable=SC2086
run gcc $CFLAGS -DNDEBUG -o "$stage/usr/bin/po2lmo" "$b/po2lmo.c" "$b/lib/lmo.c" "$b/lib/plural_formula.c"
mkdir -p "$stage/usr/lib/lua/luci/i18n"
for po in "$l"/modules/luci-base/po/*/base.po; do
	lang=$(basename "$(dirname "$po")")
	case $lang in
	bn_BD) lang=bn ;; nb_NO) lang=no ;; pt_BR) lang=pt-br ;; zh_Hans) lang=zh-cn ;; zh_Hant) lang=zh-tw ;;
	esac
	run "$stage/usr/bin/po2lmo" "$po" "$stage/usr/lib/lua/luci/i18n/base.$lang.lmo"
done
for m in modules/luci-base modules/luci-mod-status modules/luci-mod-system themes/luci-theme-bootstrap; do
	d=$l/$m
	if [ -d "$d/htdocs" ]; then mkdir -p "$stage/www" && cp -R "$d/htdocs/." "$stage/www/"; fi
	if [ -d "$d/ucode" ]; then mkdir -p "$stage/usr/share/ucode/luci" && cp -R "$d/ucode/." "$stage/usr/share/ucode/luci/"; fi
	if [ -d "$d/root" ]; then cp -R "$d/root/." "$stage/"; fi
done
echo "export const revision = 'daf2e0bc2bfb', branch = 'master';" >"$stage/usr/share/ucode/luci/version.uc"

# firewall4 is ucode and shell: its root/ as the package installs it.
step firewall4
cp -R "$s/firewall4/root/." "$stage/"

# base-files: the shell libraries init scripts source, at their router paths.
step base-files
b=$base/package
mkdir -p "$stage/etc/config" "$stage/lib/functions" "$stage/lib/config" "$stage/sbin" "$stage/etc/init.d" "$stage/bin"
cp -R "$b/base-files/files/." "$stage/"
cp "$b/system/procd/files/procd.sh" "$stage/lib/functions/procd.sh"
cp "$b/system/procd/files/hotplug.json" "$b/system/procd/files/hotplug-preinit.json" "$stage/etc/"
cp "$b/system/procd/files/service" "$stage/sbin/service"
cp "$b/system/uci/files/lib/config/uci.sh" "$stage/lib/config/uci.sh"
cp "$b/system/rpcd/files/rpcd.config" "$stage/etc/config/rpcd"
cp "$b/system/rpcd/files/rpcd.init" "$stage/etc/init.d/rpcd"
cp "$b/network/services/uhttpd/files/uhttpd.config" "$stage/etc/config/uhttpd"
cp "$b/network/services/uhttpd/files/uhttpd.init" "$stage/etc/init.d/uhttpd"
chmod 755 "$stage/sbin/service" "$stage/etc/init.d/"* "$stage/sbin/fw4"
# OpenWrt's shell is busybox ash: the scripts need `export -n`, pipefail, fd 1000.
ln -sf "$(command -v busybox)" "$stage/bin/busybox"
ln -sf busybox "$stage/bin/sh"
ln -sf busybox "$stage/bin/ash"
# OpenWrt calls the opkg binary opkg, and keeps uhttpd in sbin.
ln -sf opkg-cl "$stage/usr/bin/opkg"
mv "$stage/usr/bin/uhttpd" "$stage/usr/sbin/uhttpd"

rm -rf "$stage/usr/include" "$stage/usr/lib/pkgconfig"
touch "$stage/.complete"
mv -T "$stage" "$root" 2>/dev/null || [ -f "$root/.complete" ] || fail "could not move the build into $root"
echo "openwrt: built in $(( $(date +%s) - start )) s: $root" >&2
print
