#!/bin/sh
# Prepares the VM that gives tests a kernel with WireGuard: Debian's kernel
# (the current linux-image-*-amd64 of bookworm, downloaded with apt and
# unpacked, never installed), its module index, and a busybox initramfs that
# mounts this machine's root read-only over virtio-9p with a tmpfs overlay.
# Cached in $CACHE/vm; prints the directory. Idempotent and quick when cached.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
CACHE=${CACHE:-$HOME/.cache/meshwrt}
# Test files in two lanes boot VMs at once: one prepares, the other waits and finds it done
# (the build below starts with rm -rf of the directory the other would be filling).
mkdir -p "$CACHE/vm"
exec 9>"$CACHE/vm/.prepare.lock"
flock 9
pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n 1)
[ -n "$pkg" ] || { echo "prepare.sh: apt knows no linux-image-amd64 (run apt-get update)" >&2; exit 1; }
ver=${pkg#linux-image-}
dir=$CACHE/vm/$ver
if [ -f "$dir/initrd.gz" ] && [ -f "$dir/init.stamp" ] && cmp -s "$here/initramfs-init.sh" "$dir/init.stamp"; then
	echo "$dir"
	exit 0
fi
start=$(date +%s)
rm -rf "$dir" && mkdir -p "$dir/dl"
(cd "$dir/dl" && apt-get download -q "$pkg" >&2 2>/dev/null || (cd "$dir/dl" && apt-get download "$pkg" >&2))
dpkg-deb -x "$dir"/dl/*.deb "$dir/root"
rm -rf "$dir/dl"
depmod -b "$dir/root" "$ver"

# The initramfs: busybox, the modules that mount the root, and our init.
ird=$dir/initramfs
mkdir -p "$ird/bin" "$ird/modules"
cp /bin/busybox "$ird/bin/busybox"
mods="kernel/drivers/virtio/virtio_pci.ko kernel/net/9p/9pnet_virtio.ko kernel/fs/9p/9p.ko kernel/fs/overlayfs/overlay.ko"
: > "$ird/modules/order"
for m in $mods; do
	# Dependencies first, in the order modules.dep lists them (deepest last, so reversed).
	deps=$(sed -n "s|^$m: *||p" "$dir/root/lib/modules/$ver/modules.dep" | tr ' ' '\n' | tac)
	for d in $deps $m; do
		[ -n "$d" ] || continue
		b=$(basename "$d")
		grep -qx "$b" "$ird/modules/order" && continue
		cp "$dir/root/lib/modules/$ver/$d" "$ird/modules/$b"
		echo "$b" >> "$ird/modules/order"
	done
done
cp "$here/initramfs-init.sh" "$ird/init"
chmod 755 "$ird/init"
printf '%s\n' "$ver" > "$ird/kernel-version"
printf '%s\n' "$dir/root/lib/modules/$ver" > "$ird/modules-dir"
(cd "$ird" && find . | cpio -o -H newc --quiet | gzip -1) > "$dir/initrd.gz"
cp "$dir/root/boot/vmlinuz-$ver" "$dir/vmlinuz"
cp "$here/initramfs-init.sh" "$dir/init.stamp"
echo "vm: kernel $ver prepared in $(( $(date +%s) - start )) s" >&2
echo "$dir"
