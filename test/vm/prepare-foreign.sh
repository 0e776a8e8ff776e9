#!/bin/sh
# Prepares a VM of another CPU for the kernel-WireGuard tests and the bench's
# MIPS router (test/bench/mips.ts): Debian
# bookworm's kernel for that CPU, and a root of Debian's own packages for it
# (bash, iproute2, wireguard-tools, nftables, ping, iperf3, ...; this machine's x86
# binaries are no use there), all downloaded with apt and unpacked, never
# installed. The kernel's modules go into that root; the initramfs is the
# x86 VM's init (initramfs-init.sh) with the CPU's static busybox. The root
# is shared read-only over virtio-9p, as the x86 VM shares this machine's;
# on mipsel it is an ext2 image on virtio-blk instead (root.img), because
# qemu's 9p server answers in x86 errno numbers and MIPS numbers them
# otherwise: EOPNOTSUPP (95) for the security.capability that every exec
# reads arrives as ENOTSOCK, and no binary on 9p can run.
#   prepare-foreign.sh aarch64|mipsel     prints the directory
# Cached in $CACHE/vm-<cpu>/<key>, the key made of every package's version
# and these scripts. Needs the Debian architecture added (build/setup.sh).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
CACHE=${CACHE:-$HOME/.cache/meshwrt}
cpu=${1:?usage: prepare-foreign.sh aarch64|mipsel}
case $cpu in
aarch64) arch=arm64 kmeta=linux-image-arm64 ;;
mipsel) arch=mipsel kmeta=linux-image-4kc-malta ;;
*) echo "prepare-foreign.sh: no VM for CPU $cpu (aarch64 or mipsel)" >&2; exit 2 ;;
esac
# Test files in two lanes boot VMs at once: one prepares, the other waits and finds it done
# (a new key's build starts with rm -rf of the CPU's directory). The lock is beside it.
mkdir -p "$CACHE"
exec 9>"$CACHE/vm-$cpu.lock"
flock 9
dpkg --print-foreign-architectures | grep -qx "$arch" ||
	{ echo "prepare-foreign.sh: Debian architecture $arch is not added (run build/setup.sh)" >&2; exit 1; }
# Resolving the packages takes apt half a minute on a busy machine; their
# versions change only with apt's lists, so a prepare for the same lists (and
# these scripts) is reused at once.
lists=$({ stat -c '%n %s %Y' /var/lib/apt/lists/*_binary-"${arch}"_Packages* 2>/dev/null || true; } | cat - "$0" "$here/initramfs-init.sh" | sha256sum | cut -c1-16)
if [ -f "$CACHE/vm-$cpu/lists-$lists" ] && [ -f "$(cat "$CACHE/vm-$cpu/lists-$lists")/initrd.gz" ]; then
	cat "$CACHE/vm-$cpu/lists-$lists"
	exit 0
fi
kpkg=$(apt-cache depends "$kmeta:$arch" | sed -n "s/.*Depends: \(linux-image-[0-9][^ ]*\):$arch\$/\1/p" | head -n 1)
[ -n "$kpkg" ] || { echo "prepare-foreign.sh: apt knows no $kmeta:$arch (run build/setup.sh)" >&2; exit 1; }
kver=${kpkg#linux-image-}

# What the guest runs: the shell and tools the tests call (sysctl from procps
# for test/net's topologies), with every library they need (apt's dependency
# closure, this CPU's packages only).
tools="bash dash coreutils util-linux mount iproute2 wireguard-tools iputils-ping iperf3 kmod nftables procps"
# shellcheck disable=SC2046
pkgs=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances \
	$(for p in $tools; do echo "$p:$arch"; done) | grep -v '^ ' | grep -v '<' | grep ":$arch\$" | sort -u)
# shellcheck disable=SC2086
pinned=$(apt-cache show --no-all-versions $pkgs "$kpkg:$arch" "busybox-static:$arch" |
	sed -n 's/^Package: //p; s/^Version: //p' | paste -d= - - | sort)
key=$(printf '%s\n' "$pinned" | cat - "$0" "$here/initramfs-init.sh" | sha256sum | cut -c1-16)
dir=$CACHE/vm-$cpu/$key
if [ -f "$dir/initrd.gz" ]; then
	rm -f "$CACHE/vm-$cpu"/lists-* && echo "$dir" > "$CACHE/vm-$cpu/lists-$lists"
	echo "$dir"
	exit 0
fi
start=$(date +%s)
# A new key replaces the CPU's older ones.
rm -rf "$CACHE/vm-$cpu" && mkdir -p "$dir/dl" "$dir/root"
# shellcheck disable=SC2046
(cd "$dir/dl" && apt-get download -q -o APT::Sandbox::User=root $(printf '%s\n' "$pinned" | sed "s/=/:$arch=/") >&2)
for d in "$dir"/dl/*.deb; do
	case $d in */busybox-static_*) dpkg-deb -x "$d" "$dir/busybox" ;; *) dpkg-deb -x "$d" "$dir/root" ;; esac
done
rm -rf "$dir/dl"
r=$dir/root
# dpkg's maintainer scripts never ran: the links and mount points they would make.
[ -e "$r/bin/sh" ] || ln -s dash "$r/bin/sh"
mkdir -p "$r/proc" "$r/sys" "$r/dev" "$r/run" "$r/tmp" "$r/root" "$r/mnt" "$r/usr/local/bin"
chmod 1777 "$r/tmp"
depmod -b "$r" "$kver"
mods="kernel/drivers/virtio/virtio_pci.ko kernel/net/9p/9pnet_virtio.ko kernel/fs/9p/9p.ko kernel/fs/overlayfs/overlay.ko"
init=$(cat "$here/initramfs-init.sh")
if [ "$cpu" = mipsel ]; then
	mods="$mods kernel/drivers/block/virtio_blk.ko kernel/crypto/crc32c_generic.ko kernel/fs/ext4/ext4.ko"
	# The disk appears a moment after its driver loads.
	init=$(printf '%s\n' "$init" | sed 's|^mount -t 9p .* hostroot /host$|while [ ! -b /dev/vda ]; do sleep 0.1; done; mount -t ext4 -o ro /dev/vda /host|')
	printf '%s\n' "$init" | grep -q 'mount -t ext4 -o ro /dev/vda /host$' ||
		{ echo "prepare-foreign.sh: initramfs-init.sh no longer mounts hostroot in one line" >&2; exit 1; }
	mke2fs -q -F -t ext2 -L root -d "$r" "$dir/root.img" "$(( $(du -sm "$r" | cut -f1) * 5 / 4 + 64 ))M" >&2
fi

# The initramfs: the CPU's busybox, the modules that mount the root, our init.
moddir=$r/lib/modules/$kver
ird=$dir/initramfs
mkdir -p "$ird/bin" "$ird/modules"
cp "$dir/busybox/bin/busybox" "$ird/bin/busybox"
: > "$ird/modules/order"
for m in $mods; do
	deps=$(sed -n "s|^$m: *||p" "$moddir/modules.dep" | tr ' ' '\n' | tac)
	for d in $deps $m; do
		[ -n "$d" ] || continue
		b=$(basename "$d")
		grep -qx "$b" "$ird/modules/order" && continue
		cp "$moddir/$d" "$ird/modules/$b"
		echo "$b" >> "$ird/modules/order"
	done
done
printf '%s\n' "$init" > "$ird/init"
chmod 755 "$ird/init"
printf '%s\n' "$kver" > "$ird/kernel-version"
# The root already holds the modules: the init's bind mount is onto itself.
printf '%s\n' "/lib/modules/$kver" > "$ird/modules-dir"
(cd "$ird" && find . | cpio -o -H newc --quiet | gzip -1) > "$dir/initrd.gz.tmp"
cp "$r/boot/vmlinuz-$kver" "$dir/vmlinuz"
printf '%s\n' "$kver" > "$dir/kernel-version"
mv "$dir/initrd.gz.tmp" "$dir/initrd.gz"
echo "$dir" > "$CACHE/vm-$cpu/lists-$lists"
echo "vm-$cpu: kernel $kver and a root of $(printf '%s\n' "$pinned" | wc -l) packages prepared in $(( $(date +%s) - start )) s" >&2
echo "$dir"
