#!/bin/busybox sh
# PID 1 of the test VM: load the virtio, 9p and overlay modules, mount the
# host's root read-only with a tmpfs on top, put the VM kernel's modules at
# /lib/modules, mount the per-VM share, and hand over to the guest runner.
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /host /rw /newroot
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
while read -r m; do insmod "/modules/$m"; done < /modules/order
ver=$(cat /kernel-version)
moddir=$(cat /modules-dir)
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro hostroot /host
mount -t tmpfs -o size=256m tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work /newroot
mkdir -p "/newroot/lib/modules/$ver" /newroot/mnt/vmshare
mount --bind "/newroot$moddir" "/newroot/lib/modules/$ver"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 share /newroot/mnt/vmshare
for d in proc sys dev; do mount --move /$d /newroot/$d; done
exec switch_root /newroot /bin/sh /mnt/vmshare/guest.sh
