#!/bin/sh
# The guest's command runner: runs each cmd-N.sh that the host drops in the
# shared directory, in order, with bash, and leaves out-N, err-N and rc-N beside it.
# In bash: its read waits between looks without a process of its own, where a
# `sleep` forked 50 times a second took 3% of the VM's one CPU (make bench's perf).
[ -n "$BASH_VERSION" ] || exec /bin/bash "$0" "$@"
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
mkfifo /run/runner-idle
exec 9<>/run/runner-idle
echo ready > "$S/ready"
n=1
while :; do
	if [ -f "$S/cmd-$n.sh" ]; then
		bash "$S/cmd-$n.sh" > "$S/out-$n" 2> "$S/err-$n" < /dev/null 9<&-
		echo $? > "$S/rc-$n.tmp"
		mv "$S/rc-$n.tmp" "$S/rc-$n"
		n=$((n + 1))
	else
		read -r -t 0.02 -u 9 _ || :
	fi
done
