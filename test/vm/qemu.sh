#!/bin/sh
# Builds qemu-system-<cpu> from Debian trixie's qemu source (QEMU_VERSION), for the
# bench's MIPS router on an instruction clock (test/bench/mips.ts). bookworm's qemu
# 7.2 stalled there for good in about half the runs, always in a tailscaled round:
# the vCPU thread spun taking and dropping qemu's big lock without running a guest
# instruction (perf: no translated code at all), its main loop waited on that lock
# (gdb), and the monitor no longer answered. With -icount, time moves only as
# instructions run; qemu 10 reworked the MIPS CP0 timer for a guest that reads Count
# as the timer expires, which 7.2 could re-arm for that same instant (a zero-tick
# wait; qemu 10 clamps it to a full counter period, target/mips/system/cp0_timer.c).
# Only that one emulator is built, without tools, firmware blobs or displays.
#   qemu.sh mipsel     prints the path of qemu-system-mipsel
# Cached in $CACHE/qemu-<version>-<cpu>; the source comes through apt (trixie
# deb-src, build/setup.sh), the build's meson from PyPI into a venv beside it.
set -eu
CACHE=${CACHE:-$HOME/.cache/meshwrt}
QEMU_VERSION=1:10.0.13+ds-0+deb13u1
MESON_VERSION=1.5.0
cpu=${1:?usage: qemu.sh mipsel}
upstream=$(echo "$QEMU_VERSION" | sed 's/^[0-9]*://; s/+.*//')
out=$CACHE/qemu-$upstream-$cpu
bin=$out/qemu-system-$cpu
mkdir -p "$CACHE"
exec 9>"$out.lock"
flock 9
if [ -x "$bin" ]; then
	echo "$bin"
	exit 0
fi
echo "qemu.sh: building qemu-system-$cpu $upstream (once, some 15 minutes)" >&2
work=$(mktemp -d "$CACHE/qemu-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get source -q --download-only -o APT::Sandbox::User=root "qemu=$QEMU_VERSION" >&2)
tar -xJf "$work"/qemu_*.orig.tar.xz -C "$work"
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'qemu-*')
# qemu 10 wants a newer meson than bookworm's: PyPI's, in a venv that configure's own builds on.
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q "meson==$MESON_VERSION" pycotap==1.3.1 >&2
mkdir "$src/build"
# Debian's +ds source has no firmware blobs (install-blobs off); the VM boots its kernel directly.
(cd "$src/build" && ../configure --python="$work/venv/bin/python3" --target-list="$cpu-softmmu" \
	--enable-virtfs --disable-install-blobs --disable-docs --disable-werror --disable-tools \
	--disable-guest-agent --disable-gtk --disable-sdl --disable-vnc --disable-opengl \
	--disable-curses --disable-spice --disable-libusb --disable-usb-redir --disable-slirp \
	--disable-capstone --disable-rust >&2)
jobs=$(nproc 2>/dev/null || echo 2)
ninja -C "$src/build" -j"$jobs" "qemu-system-$cpu" >&2
mkdir -p "$out.tmp"
cp "$src/build/qemu-system-$cpu" "$out.tmp/"
rm -rf "$out"
mv "$out.tmp" "$out"
echo "$bin"
