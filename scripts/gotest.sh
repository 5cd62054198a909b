#!/usr/bin/env bash
# Runs go test with the given arguments, its output passed through, and on
# failure repeats at the end what failed: the --- FAIL lines with the lines
# that follow them, and a timeout's "running tests" list, which otherwise
# sits at the top of a goroutine dump thousands of lines long.
set -uo pipefail
GO=${GO:-go}
log=$(mktemp "${TMPDIR:-/tmp}/sluice-gotest.XXXXXX")
trap 'rm -f "$log"' EXIT
"$GO" test "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
if [ "$rc" -ne 0 ]; then
	echo
	echo "==== summary of the failures (go test exit $rc) ===="
	grep -E -A12 '^panic: test timed out|^[[:space:]]*--- FAIL' "$log" | grep -v -E '^[[:space:]]+/' | head -200
	grep -E '^(FAIL|ok)[[:space:]]' "$log"
fi
exit "$rc"
