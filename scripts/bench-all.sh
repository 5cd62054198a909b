#!/usr/bin/env bash
# Runs every figure of docs/BENCHMARKS.md in one go, each next to the limit
# it is judged against, measured in the same run on the same disk:
#   floors (loopback TCP -> file, sendfile -> loopback), fio fsync'd
#   sequential write bandwidth, produce/consume from the page cache,
#   produce beyond the page cache (2x the dirty limit), fsync=always with 16
#   producers, p99 at half the peak rate, broker RSS while serving 10 GB,
#   and a clean restart over 20 GB of segments.
#
# Usage: scripts/bench-all.sh [WORKDIR]   (default ./.bench; needs ~25 GB)
# Env:   BIN=dir with sluiced and sluice (default: builds into WORKDIR/bin)
#        SKIP_BIG=1 skips the runs beyond the page cache and the 20 GB restart
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-./.bench}
mkdir -p "$W"
W=$(cd "$W" && pwd)
if [ -z "${BIN:-}" ]; then
	BIN=$W/bin
	go build -o "$BIN/sluiced" ./cmd/sluiced
	go build -o "$BIN/sluice" ./cmd/sluice
fi
command -v fio >/dev/null || { [ "$(id -u)" -eq 0 ] && apt-get install -y -qq fio >/dev/null; } || {
	echo "bench-all: needs fio (apt-get install fio)" >&2; exit 1; }

PORT=19500
B=127.0.0.1:$PORT
PID=
log() { printf '\n### %s\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

start() { # start FSYNC [extra flags]
	local fsync=$1; shift
	"$BIN/sluiced" --data-dir "$W/data" --listen "$B" --fsync "$fsync" --log-level warn "$@" >"$W/sluiced.log" 2>&1 &
	PID=$!
	for _ in $(seq 1 100); do
		grep -q "listening" "$W/sluiced.log" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "sluiced did not start" >&2; cat "$W/sluiced.log" >&2; exit 1
}
stop() { [ -n "$PID" ] && kill -TERM "$PID" && wait "$PID" || true; PID=; }
# clean: every measurement starts from the same page-cache state (nothing
# dirty, nothing cached), else results swing with what ran before.
clean() { sync; [ "$(id -u)" -eq 0 ] && echo 3 >/proc/sys/vm/drop_caches || true; }
fresh() { stop; rm -rf "$W/data"; clean; }
fio_write() { # fio_write BYTES: fsync'd sequential write bandwidth of BYTES
	clean
	run fio --name=seqwrite --directory="$W" --rw=write --bs=1M --size="$1" --ioengine=psync \
		--fsync=32 --end_fsync=1 --group_reporting | grep -E "WRITE:"
	rm -f "$W"/seqwrite.*
}

trap 'stop' EXIT

dirty_limit() { # bytes the kernel lets be dirty before writers block
	local bytes ratio avail
	bytes=$(cat /proc/sys/vm/dirty_bytes)
	if [ "$bytes" -gt 0 ]; then echo "$bytes"; return; fi
	ratio=$(cat /proc/sys/vm/dirty_ratio)
	avail=$(awk '/MemAvailable/ {print $2}' /proc/meminfo) # kB; bash does the 64-bit math
	echo $((avail * 1024 * ratio / 100))
}

log "machine"
run nproc; run free -g; uname -r
echo "dirty limit: $(dirty_limit) bytes"

if [ -z "${SKIP_SMALL:-}" ]; then
log "floors (same run)"
clean
run "$BIN/sluice" bench floor --total-bytes 1G --dir "$W"

log "fio: fsync'd sequential write bandwidth (the disk's limit)"
fio_write 4G

log "produce from the page cache: 16 KiB records, acks=1, 4 partitions"
fresh; start never
run "$BIN/sluice" bench produce --brokers "$B" --topic T --partitions 4 --record-size 16384 \
	--total-bytes 1073741824 --acks 1 --floor --dir "$W" --broker-pid "$PID"
log "consume from the page cache"
run "$BIN/sluice" bench consume --brokers "$B" --topic T --floor --dir "$W" --broker-pid "$PID"
log "p99 at a fixed rate (set RATE to half the peak above; default 300MB/s)"
run "$BIN/sluice" bench produce --brokers "$B" --topic R --partitions 4 --record-size 16384 \
	--duration 20s --rate "${RATE:-300MB/s}" --acks 1 --broker-pid "$PID"

fi

if [ -z "${SKIP_BIG:-}" ]; then
	big=$(( $(dirty_limit) * 2 ))
	log "beyond the page cache: $big bytes (2x the dirty limit); first fio writes as much, fsync'd"
	fio_write "$big"
	fresh; start never
	run "$BIN/sluice" bench produce --brokers "$B" --topic BIG --partitions 4 --record-size 16384 \
		--total-bytes "$big" --acks 1 --broker-pid "$PID"
	log "consume it all (broker RSS while serving it)"
	run "$BIN/sluice" bench consume --brokers "$B" --topic BIG --broker-pid "$PID"

	log "fill to 20 GB, then a clean restart"
	run "$BIN/sluice" bench produce --brokers "$B" --topic BIG --partitions 4 --record-size 16384 \
		--total-bytes "$((21474836480 - big))" --acks 1
	du -sh "$W/data"
	stop
	t0=$(date +%s%N)
	start never
	t1=$(date +%s%N)
	printf 'clean restart over %s: %d ms until listening (0.1 s polling included)\n' \
		"$(du -sh "$W/data" | cut -f1)" $(((t1 - t0) / 1000000))
fi

log "fsync=always, 16 producers (fio first: 4 GiB, fsync'd)"
fio_write 4G
fresh; start always
run "$BIN/sluice" bench produce --brokers "$B" --topic F --partitions 4 --record-size 16384 \
	--total-bytes 4G --acks 1 --producers 16 --broker-pid "$PID"
fresh
