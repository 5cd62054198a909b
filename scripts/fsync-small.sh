#!/usr/bin/env bash
# Measures one run of the matrix's fsync-16x1k shape (sluiced --fsync
# always, 16 producers, 1 KiB records in 16 KiB requests, 16 partitions)
# and what it costs the disk: the broker's CPU per GB, its fsyncs (from
# /metrics), the block device's write requests per fsync and the bytes it
# wrote per byte produced. Alternate two builds to compare them
# (docs/BENCHMARKS.md, "zeros written ahead").
#
# Usage: scripts/fsync-small.sh BINDIR [BYTES] [DEVICE]
#   BINDIR  holds sluiced and sluice
#   BYTES   produced after a 4 MiB warm-up (default 128M)
#   DEVICE  the block device under /tmp (default: found with findmnt)
# Env:      DIR (default a new directory under /tmp), PORT (19342),
#           HTTP_PORT (18081), RECORD (1024) and BATCH (16384) for other
#           shapes
# Prints:   MB/s=… cpu-s/GB=… fsyncs=… requests/fsync=… writes/fsync=…
#           disk/data=… p50=…
set -euo pipefail
BIN=${1:?usage: scripts/fsync-small.sh BINDIR [BYTES] [DEVICE]}
BYTES=${2:-128M}
DEV=${3:-}
PORT=${PORT:-19342}
HTTP_PORT=${HTTP_PORT:-18081}
RECORD=${RECORD:-1024}
BATCH=${BATCH:-16384}
if [ -z "$DEV" ]; then
	src=$(findmnt -no SOURCE --target "${DIR:-/tmp}")
	DEV=$(basename "$src")
fi
STAT=/sys/block/$DEV/stat
[ -r "$STAT" ] || { echo "fsync-small: no $STAT; name the device (e.g. vda)" >&2; exit 1; }
DATA=${DIR:-$(mktemp -d)}
mkdir -p "$DATA"
"$BIN/sluiced" --data-dir "$DATA" --listen 127.0.0.1:$PORT --num-partitions 16 --log-level error \
	--fsync always --http-listen 127.0.0.1:$HTTP_PORT >/dev/null 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; [ -n "${DIR:-}" ] || rm -rf "$DATA"' EXIT
for _ in $(seq 100); do
	(echo >/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break
	sleep 0.1
done
produce() {
	"$BIN/sluice" bench produce --brokers 127.0.0.1:$PORT --topic fsync --partitions 16 --producers 16 \
		--record-size "$RECORD" --batch-bytes "$BATCH" --acks 1 --json --total-bytes "$1"
}
fsyncs() { curl -s 127.0.0.1:$HTTP_PORT/metrics | awk '/^sluice_fsync_duration_seconds_count/ {print $2}'; }
ticks() { awk '{print $14 + $15}' /proc/$PID/stat; }
produce 4M >/dev/null
t0=$(ticks) f0=$(fsyncs)
read -r w0 s0 < <(awk '{print $5, $7}' "$STAT")
OUT=$(produce "$BYTES")
read -r w1 s1 < <(awk '{print $5, $7}' "$STAT")
t1=$(ticks) f1=$(fsyncs)
echo "$OUT" | python3 -c "
import json, os, sys
d = json.load(sys.stdin)
b = d['bytes']; hz = os.sysconf('SC_CLK_TCK')
fs = max(1.0, float('$f1') - float('$f0'))
print('MB/s=%.1f cpu-s/GB=%.2f fsyncs=%d requests/fsync=%.2f writes/fsync=%.2f disk/data=%.2f p50=%.2fms' % (
    d['mb_per_s'], ($t1 - $t0) / hz / (b / 1e9), fs, b / $BATCH / fs,
    ($w1 - $w0) / fs, ($s1 - $s0) * 512 / b, d['latency']['p50_ms']))
"
