#!/bin/sh
# Runs one stage of a make target and prints how long it took.
# Usage: build/stage.sh NAME COMMAND [ARGS...]
name=$1; shift
start=$(date +%s)
"$@"; rc=$?
echo "== stage $name: $(( $(date +%s) - start )) s (exit $rc)"
exit $rc
