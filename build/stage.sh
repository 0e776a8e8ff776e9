#!/bin/sh
# Runs one stage of a make target and prints how long it took, and the CPU time its
# processes used (user and system: on a shared machine the honest measure of its work).
# Usage: build/stage.sh [-p] NAME COMMAND [ARGS...]
#   -p  prefixes each line of the stage's output with "NAME| " (for stages run side by side).
prefix=
[ "$1" = -p ] && { prefix=1; shift; }
name=$1; shift
start=$(date +%s)
if [ -n "$prefix" ]; then
	# The pipe loses the command's status (no pipefail in sh): it comes back through a file.
	rcfile=$(mktemp)
	{ "$@" 2>&1; echo $? >"$rcfile"; } | sed -u "s/^/$name| /"
	rc=$(cat "$rcfile"); rm -f "$rcfile"
else
	"$@"; rc=$?
fi
# `times`' second line: the user and system time of every process the stage waited for
# (in this shell, not a subshell of a $(...), whose children are none).
t=$(mktemp)
times >"$t"
cpu=$(tail -n 1 "$t" | sed 's/m/ /g; s/s//g' | awk '{ printf "%.0f", $1 * 60 + $2 + $3 * 60 + $4 }')
rm -f "$t"
echo "== stage $name: $(( $(date +%s) - start )) s, $cpu s CPU (exit $rc)"
exit $rc
