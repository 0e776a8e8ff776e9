#!/bin/sh
# The guest's command runner: runs each cmd-N.sh that the host drops in the
# shared directory, in order, with bash, and leaves out-N, err-N and rc-N beside it.
S=/mnt/vmshare
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts
ln -sf /proc/self/fd /dev/fd
# /run is the guest's own; /tmp stays the host's (under the overlay), since a
# checkout or a cache there is what the tests run.
mount -t tmpfs tmpfs /run
mkdir -p /run/netns /run/wireguard
ip link set lo up
modprobe wireguard 2>"$S/modprobe.err" && echo ok > "$S/wireguard"
echo ready > "$S/ready"
n=1
while :; do
	if [ -f "$S/cmd-$n.sh" ]; then
		bash "$S/cmd-$n.sh" > "$S/out-$n" 2> "$S/err-$n" < /dev/null
		echo $? > "$S/rc-$n.tmp"
		mv "$S/rc-$n.tmp" "$S/rc-$n"
		n=$((n + 1))
	else
		sleep 0.02
	fi
done
