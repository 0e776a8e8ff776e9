#!/bin/sh
# Builds the pinned real peers once from the Go module proxy and caches them outside the repo:
#   $CACHE/peers/headscale-<v>/headscale
#   $CACHE/peers/tailscale-<v>/{tailscale,tailscaled,derper}
#   $CACHE/peers/tailscale-<v>/{tailscale,tailscaled}   for each v in TAILSCALE_MATRIX
#   $CACHE/peers/headscale-<v>/headscale                  for HEADSCALE_NEWEST
# Idempotent: a peer whose binaries are cached is skipped. Prints how long each build took.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=test/peers/versions.env
. "$here/versions.env"
CACHE=${CACHE:-$HOME/.cache/meshwrt}
peers=$CACHE/peers
mkdir -p "$peers"

command -v go >/dev/null 2>&1 || { echo "install.sh: go is not installed (needed to build the test peers)" >&2; exit 1; }
export GOFLAGS=-buildvcs=false CGO_ENABLED=0
ldflags='-s -w'

elapsed() { echo $(( $(date +%s) - $1 )); }

# tailscale, tailscaled, derper: `go install` of the three commands at one pinned version.
ts_dir=$peers/tailscale-$TAILSCALE_VERSION
if [ -x "$ts_dir/tailscale" ] && [ -x "$ts_dir/tailscaled" ] && [ -x "$ts_dir/derper" ]; then
	echo "peers: tailscale $TAILSCALE_VERSION cached in $ts_dir"
else
	start=$(date +%s)
	tmp=$(mktemp -d "$peers/.tailscale.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	echo "peers: building tailscale, tailscaled, derper $TAILSCALE_VERSION (go install)"
	GOBIN=$tmp go install -trimpath -ldflags="$ldflags" \
		"$TAILSCALE_MODULE/cmd/tailscale@$TAILSCALE_VERSION" \
		"$TAILSCALE_MODULE/cmd/tailscaled@$TAILSCALE_VERSION" \
		"$TAILSCALE_MODULE/cmd/derper@$TAILSCALE_VERSION"
	rm -rf "$ts_dir"
	chmod 755 "$tmp"
	mv "$tmp" "$ts_dir"
	trap - EXIT
	echo "peers: built tailscale $TAILSCALE_VERSION in $(elapsed "$start") s"
fi

# The version matrix's clients: only the two commands a node needs (derper stays pinned).
for v in $TAILSCALE_MATRIX; do
	dir=$peers/tailscale-$v
	if [ -x "$dir/tailscale" ] && [ -x "$dir/tailscaled" ]; then
		echo "peers: tailscale $v cached in $dir"
		continue
	fi
	start=$(date +%s)
	tmp=$(mktemp -d "$peers/.tailscale.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	echo "peers: building tailscale, tailscaled $v (go install, version matrix)"
	GOBIN=$tmp go install -trimpath -ldflags="$ldflags" \
		"$TAILSCALE_MODULE/cmd/tailscale@$v" \
		"$TAILSCALE_MODULE/cmd/tailscaled@$v"
	rm -rf "$dir"
	chmod 755 "$tmp"
	mv "$tmp" "$dir"
	trap - EXIT
	echo "peers: built tailscale $v in $(elapsed "$start") s"
done

# headscale: `go install ...@version` fails on this proxy (its @v/list, read for the deprecation
# check, answers 403), so download the module and build its command inside the module cache.
build_headscale() {
	v=$1
	hs_dir=$peers/headscale-$v
	if [ -x "$hs_dir/headscale" ]; then
		echo "peers: headscale $v cached in $hs_dir"
		return
	fi
	start=$(date +%s)
	tmp=$(mktemp -d "$peers/.headscale.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	echo "peers: building headscale $v (go mod download + go build)"
	# Any directory outside a module will do for `go mod download MODULE@VERSION`.
	src=$(cd "$tmp" && GOFLAGS=-mod=mod go mod download -json "$HEADSCALE_MODULE@$v" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
	if [ -z "$src" ] || [ ! -d "$src" ]; then echo "install.sh: go mod download gave no directory for headscale $v" >&2; exit 1; fi
	(cd "$src" && go build -trimpath -ldflags="$ldflags" -o "$tmp/headscale" ./cmd/headscale)
	rm -rf "$hs_dir"
	chmod 755 "$tmp"
	mv "$tmp" "$hs_dir"
	trap - EXIT
	echo "peers: built headscale $v in $(elapsed "$start") s"
}
build_headscale "$HEADSCALE_VERSION"
build_headscale "$HEADSCALE_NEWEST"
