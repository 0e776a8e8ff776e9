#!/bin/sh
# Builds test/peers/tka-vectors (tailscale's tka package at the pinned version, from the Go
# module proxy or its cache) once, keyed by its sources, and prints the cached binary's path.
# Its `gen` output is written next to it as vectors.json.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
CACHE=${CACHE:-$HOME/.cache/meshwrt}
key=$(cat "$here/main.go" "$here/go.mod" "$here/go.sum" "$0" | sha256sum | cut -c1-12)
dir=$CACHE/tka-vectors-$key
if [ ! -x "$dir/tka-vectors" ] || [ ! -s "$dir/vectors.json" ]; then
	command -v go >/dev/null 2>&1 || { echo "vectors.sh: go is not installed" >&2; exit 1; }
	mkdir -p "$dir"
	(cd "$here" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -o "$dir/tka-vectors.new" .) >&2
	"$dir/tka-vectors.new" gen > "$dir/vectors.json.new"
	mv "$dir/vectors.json.new" "$dir/vectors.json"
	mv "$dir/tka-vectors.new" "$dir/tka-vectors"
fi
echo "$dir/tka-vectors"
