#!/bin/sh
# Installs what the build and the tests need on a fresh Debian 12 machine:
# Debian packages (and a trixie deb-src entry for the QuickJS and mbedTLS
# sources), and the npm packages of package-lock.json. Idempotent and quick
# when everything is already there.
set -eu
cd "$(dirname "$0")/.."

src=/etc/apt/sources.list.d/meshwrt-trixie-src.sources
missing=$(grep -v '^#' build/apt-packages.txt | while read -r p; do
	[ -n "$p" ] || continue
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
done)
# The test VMs of other CPUs (test/vm/prepare-foreign.sh) unpack Debian's
# arm64 and mipsel packages, which apt lists only for added architectures.
foreign=$(for a in arm64 mipsel; do dpkg --print-foreign-architectures | grep -qx "$a" || echo "$a"; done)
for a in $foreign; do dpkg --add-architecture "$a"; done
if [ ! -f "$src" ] || [ -n "$missing" ] || [ -n "$foreign" ]; then
	if [ ! -f "$src" ]; then
		# Source packages only: trixie's binaries never mix into this bookworm system.
		cat >"$src" <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
	fi
	apt-get update -q
	if [ -n "$missing" ]; then
		# shellcheck disable=SC2086
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
	fi
fi

# `npm install` rather than `npm ci`: the lock this npm writes leaves out
# other platforms' optional binaries (rollup's), which `npm ci` then refuses;
# install still takes every version from the lock.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
	npm install --no-audit --no-fund
fi
