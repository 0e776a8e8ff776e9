#!/bin/sh
# The router's OpenWrt side for the LuCI tests, in a private mount namespace
# (run it under `unshare -m --propagation private`): OpenWrt's /etc, /var/run,
# /tmp, /dev/log, /usr/share (rpcd's acl.d, LuCI's menu.d and ucode),
# /lib/functions and busybox as /bin/sh, each layered over this machine's own,
# so the daemons find the paths they hard-code; then ubusd, logd, procd, rpcd
# (in the router's network namespace, where procd starts meshwrt) and uhttpd
# with LuCI (on this machine's loopback, for the browser).
#
# Environment: ROOT (test/openwrt/build.sh's tree), PROJECT (the checkout), APP (luci-app/), LAB (this
# lab's directory, prepared by luci-lab.ts: etc/ is the upper layer of /etc,
# sbin/ holds meshwrt), NETNS (the router's network namespace), PORT.
# Writes $LAB/ready once everything answers; SIGTERM stops meshwrt through its
# init script, then the daemons.
set -eu

# Before /run is replaced: the router's network namespace, kept open as fd 9.
exec 9<"/run/netns/$NETNS"
in_router="nsenter --net=/proc/$$/fd/9"

# overlay TARGET LOWER...: read-only layers, the first on top.
overlay() {
	target=$1
	shift
	lower=$1
	shift
	for l in "$@"; do lower=$lower:$l; done
	mount -t overlay overlay -o "lowerdir=$lower" "$target"
}

# /run and /tmp start empty, as on a router; the checkout and the tree (the tests name files in
# them, and the agent is a link into build/out) may live under either: they stay at their paths.
keep=""
for dir in "$PROJECT" "$ROOT"; do
	case "$dir" in
	/tmp/* | /run/*)
		held=$LAB/held$(printf %s "$dir" | tr / _)
		mkdir -p "$held"
		mount --bind "$dir" "$held"
		keep="$keep $dir=$held"
		;;
	esac
done
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
for pair in $keep; do
	mkdir -p "${pair%%=*}"
	mount --bind "${pair#*=}" "${pair%%=*}"
done
mkdir -p "$LAB/etc.work" /var/run/ubus /run/lock /tmp/hosts
mount -t overlay overlay -o "lowerdir=$ROOT/etc:/etc,upperdir=$LAB/etc,workdir=$LAB/etc.work" /etc
mkdir -p /etc/rc.d
# A writable /dev for logd's /dev/log, where procd sends the agent's output.
mkdir -p "$LAB/dev" "$LAB/dev.work"
mount -t overlay overlay -o "lowerdir=/dev,upperdir=$LAB/dev,workdir=$LAB/dev.work" /dev
overlay /usr/share "$APP/root/usr/share" "$ROOT/usr/share" /usr/share
# rpcd reads acl.d under its install prefix, the tree's usr/: the package's file there too.
overlay "$ROOT/usr/share" "$APP/root/usr/share" "$ROOT/usr/share"
overlay /usr/lib "$ROOT/lib" /usr/lib
# OpenWrt's shell is busybox ash (the tree's bin/busybox points here, so not that layer).
mkdir -p "$LAB/bin"
ln -sf busybox "$LAB/bin/sh"
overlay /usr/bin "$LAB/bin" "$ROOT/usr/bin" /usr/bin
overlay /usr/sbin "$LAB/sbin" "$ROOT/sbin" "$ROOT/usr/sbin" /usr/sbin
mkdir -p "$LAB/www"
overlay "$LAB/www" "$APP/htdocs" "$ROOT/www"
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

log=$LAB/log
mkdir -p "$log"
pids=""
# On SIGTERM, or when anything here fails: meshwrt stopped as its init script
# stops it (it removes what it added), then the daemons.
stop() {
	trap - TERM INT EXIT
	[ -z "$pids" ] || /etc/init.d/meshwrt stop >>"$log/init.log" 2>&1 || true
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	wait
}
trap 'stop; exit 0' TERM INT
trap stop EXIT

# wait_for WHAT CMD...: up to 10 s.
wait_for() {
	what=$1
	shift
	n=0
	until "$@" >/dev/null 2>&1; do
		n=$((n + 1))
		[ "$n" -le 100 ] || { echo "luci-lab: $what did not come up" >&2; exit 1; }
		sleep 0.1
	done
}

$in_router ubusd -s /var/run/ubus/ubus.sock >>"$log/ubusd.log" 2>&1 &
pids="$pids $!"
wait_for ubusd test -S /var/run/ubus/ubus.sock
$in_router logd -S 256 >>"$log/logd.log" 2>&1 &
pids="$pids $!"
wait_for logd test -S /dev/log
$in_router procd -S >>"$log/procd.log" 2>&1 &
pids="$pids $!"
$in_router rpcd -s /var/run/ubus/ubus.sock >>"$log/rpcd.log" 2>&1 &
pids="$pids $!"
wait_for "procd's service object" ubus -t 1 list service
wait_for "rpcd's session object" ubus -t 1 list session
wait_for "rpcd's luci object" ubus -t 1 list luci
uhttpd -f -p "127.0.0.1:$PORT" -h "$LAB/www" -r OpenWrt -u /ubus \
	-o /cgi-bin/luci -O /usr/share/ucode/luci/uhttpd.uc -t 60 -T 30 -k 20 -A 1 -n 8 -N 100 -R \
	>>"$log/uhttpd.log" 2>&1 &
pids="$pids $!"

# As a router boots with the package installed: its init script enabled and run
# (it starts the agent only when the configuration allows it).
if [ "${BOOT:-1}" = 1 ]; then
	/etc/init.d/meshwrt enable >>"$log/init.log" 2>&1
	$in_router /etc/init.d/meshwrt start >>"$log/init.log" 2>&1
fi
echo ready >"$LAB/ready"
wait
