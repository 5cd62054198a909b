#!/usr/bin/env bash
# Counts the instructions sluiced executes in user space per produced
# record under valgrind's callgrind. Unlike CPU seconds, the count does
# not move with the host's load or with what the host charges for a fresh
# page (docs/BENCHMARKS.md, "what the host charges for a fresh page"), so
# two builds of the broker can be compared on one machine in any state;
# the kernel's share (the system calls themselves) is not counted.
#
# Usage: scripts/callgrind-produce.sh SHAPE [BINDIR]
#   SHAPE   conns-100  100 connections, one 512 B record per request,
#                      16 partitions, 8 MiB (the matrix row's shape)
#           16x100     one connection, 100 B records, 16 partitions, 32 MiB
#           16x1k      one connection, 1 KiB records, 16 partitions, 64 MiB
#   BINDIR  holds sluiced and sluice (default: built into a temporary dir)
# Env:      OUT=file for the profile (default /tmp/callgrind-SHAPE.out),
#           PORT (default 19398),
#           GODEBUG_EXTRA: more GODEBUG settings for sluiced (comma-separated,
#           e.g. gcshrinkstackoff=1); GOGC and the like pass through as is
# Prints:   SHAPE records=N instructions=I per-record=I/N
# and keeps the profile for `callgrind_annotate --auto=no OUT`.
#
# sluiced runs with --timer-slack 0 (it otherwise executes itself again
# to set the slack, and valgrind cannot follow /proc/self/exe) and
# GODEBUG=asyncpreemptoff=1 (callgrind 3.19 aborts on the runtime's
# preemption signals). Counting starts after a 2 MiB warm-up on the same
# topic, so start-up and topic creation are left out.
set -euo pipefail
cd "$(dirname "$0")/.."
SHAPE=${1:?usage: scripts/callgrind-produce.sh conns-100|16x100|16x1k [BINDIR]}
for t in valgrind callgrind_control callgrind_annotate; do
	command -v $t >/dev/null || { echo "callgrind-produce: needs $t (Debian: apt-get install valgrind)" >&2; exit 1; }
done
BIN=${2:-}
BUILT=
if [ -z "$BIN" ]; then
	BIN=$(mktemp -d)
	BUILT=$BIN
	go build -o "$BIN/" ./cmd/sluiced ./cmd/sluice
fi
case $SHAPE in
conns-100) ARGS=(--producers 100 --record-size 512 --batch-bytes 1024) TOTAL=8M ;;
16x100) ARGS=(--producers 1 --record-size 100) TOTAL=32M ;;
16x1k) ARGS=(--producers 1 --record-size 1024) TOTAL=64M ;;
*) echo "callgrind-produce: unknown shape $SHAPE" >&2; exit 2 ;;
esac
OUT=${OUT:-/tmp/callgrind-$SHAPE.out}
PORT=${PORT:-19398}
DATA=$(mktemp -d)
rm -f "$OUT" "$OUT".*
GODEBUG=asyncpreemptoff=1${GODEBUG_EXTRA:+,$GODEBUG_EXTRA} valgrind --tool=callgrind --callgrind-out-file="$OUT" \
	"$BIN/sluiced" --data-dir "$DATA" --listen 127.0.0.1:$PORT --num-partitions 16 \
	--log-level error --timer-slack 0 >"$OUT.log" 2>&1 &
VG=$!
# SIGKILL: callgrind 3.19 also asserts on the SIGTERM sluiced would handle.
trap 'kill -KILL $VG 2>/dev/null; wait $VG 2>/dev/null; rm -rf "$DATA" $BUILT' EXIT
for _ in $(seq 300); do
	(echo >/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break
	kill -0 $VG 2>/dev/null || { echo "callgrind-produce: sluiced under valgrind exited; see $OUT.log" >&2; exit 1; }
	sleep 0.2
done
produce() {
	"$BIN/sluice" bench produce --brokers 127.0.0.1:$PORT --topic callgrind --partitions 16 \
		--acks 1 --json "${ARGS[@]}" --total-bytes "$1"
}
produce 2M >/dev/null
callgrind_control -z $VG >/dev/null
RECORDS=$(produce $TOTAL | python3 -c 'import json, sys; print(json.load(sys.stdin)["records"])')
callgrind_control -d $VG >/dev/null
PROFILE=$OUT.1 # callgrind_control's first dump
[ -s "$PROFILE" ] || { echo "callgrind-produce: no profile in $PROFILE; see $OUT.log" >&2; exit 1; }
IR=$(callgrind_annotate --auto=no "$PROFILE" | awk '/PROGRAM TOTALS/ && !n {gsub(",", "", $1); print $1; n = 1}')
mv "$PROFILE" "$OUT"
echo "$SHAPE records=$RECORDS instructions=$IR per-record=$((IR / RECORDS))"
