#!/usr/bin/env bash
# Compares the broker CPU per GB of two builds by running them side by
# side: each round starts a fresh sluiced of each build, each driven by a
# kgobench producer of its own, all four at the same time, so a swing of
# the host's speed (which moves this machine's cells by ±15% within
# minutes) falls on both builds at once. The builds swap ports every
# round. The two brokers and two producers share the cores, so the
# figures are not the matrix's; their ratio is what this measures
# (docs/BENCHMARKS.md, "records of the common shape walked in one loop").
#
# Usage: scripts/ab-side-by-side.sh BASE_BINDIR NEW_BINDIR [ROUNDS] [RECORD] [BYTES]
#   BINDIRs  each holds sluiced; kgobench (and kfakeserver, for
#            BASE_BROKER=kfake) come from BASE_BINDIR
#            (cd bench/peers && go build -o BINDIR ./cmd/kgobench ./cmd/kfakeserver)
#   ROUNDS   pairs (default 10)
#   RECORD   record size in bytes (default 100)
#   BYTES    produced to each broker per round (default 512M)
# Env:       PARTITIONS (16), DIR (a new directory under /tmp),
#            PORTS ("19342 19442"; each broker also listens on its port + 1),
#            TOPIC (matrix),
#            CONNS=N: the producer is `sluice bench produce --producers N
#            --batch-bytes 2×RECORD` instead (the matrix's conns-100 row
#            with CONNS=100 RECORD=512; sluice comes from BASE_BINDIR),
#            E2E_RATE=R: the client is `kgobench e2e --rate R --duration
#            E2E_DURATION (10s)` instead, a producer at R records/s and a
#            consumer at the log's end (BYTES is then unused),
#            BASE_BROKER=kfake: the base side is BASE_BINDIR's kfakeserver
#            (persisting to its data directory, as the matrix's kfake
#            cells), so NEW is compared with the peer at the same moments:
#            the matrix's "broker CPU ≤ 0.7× kfake's" rows without the
#            host's swings between cells,
#            LIMIT=x: also count the rounds whose paired ratio is at most x
#            (0.7 for those rows)
# Prints:    one line per broker per round (with its client's CPU per GB
#            and latencies), then the medians, the paired ratio new/base
#            (median, range), in how many rounds new was lower, and the
#            clients' paired CPU ratio.
set -euo pipefail
BASE=${1:?usage: scripts/ab-side-by-side.sh BASE_BINDIR NEW_BINDIR [ROUNDS] [RECORD] [BYTES]}
NEW=${2:?usage: scripts/ab-side-by-side.sh BASE_BINDIR NEW_BINDIR [ROUNDS] [RECORD] [BYTES]}
ROUNDS=${3:-10}
RECORD=${4:-100}
BYTES=${5:-512M}
PARTITIONS=${PARTITIONS:-16}
read -r P1 P2 <<<"${PORTS:-19342 19442}"
TOPIC=${TOPIC:-matrix}
CONNS=${CONNS:-}
KGOBENCH=$BASE/kgobench
CLIENT=$KGOBENCH
[ -z "$CONNS" ] || [ -n "${E2E_RATE:-}" ] || CLIENT=$BASE/sluice
BASE_BROKER=${BASE_BROKER:-sluiced}
case $BASE_BROKER in
sluiced) BASE_SERVER=$BASE/sluiced ;;
kfake) BASE_SERVER=$BASE/kfakeserver ;;
*) echo "ab-side-by-side: BASE_BROKER=$BASE_BROKER: sluiced or kfake" >&2; exit 2 ;;
esac
for f in "$BASE_SERVER" "$NEW/sluiced" "$CLIENT"; do
	[ -x "$f" ] || { echo "ab-side-by-side: $f: not an executable" >&2; exit 2; }
done
WORK=${DIR:-}
if [ -z "$WORK" ]; then
	WORK=$(mktemp -d /tmp/ab-side-by-side.XXXXXX)
	made=$WORK
fi
mkdir -p "$WORK"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$WORK"/data-* ${made:+"$made"}
}
trap cleanup EXIT

RESULTS=$WORK/results
: >"$RESULTS"
for i in $(seq 1 "$ROUNDS"); do
	if ((i % 2)); then port_base=$P1 port_new=$P2; else port_base=$P2 port_new=$P1; fi
	pids=()
	declare -A bpid=()
	for v in base new; do
		if [ $v = base ]; then bin=$BASE port=$port_base; else bin=$NEW port=$port_new; fi
		data=$WORK/data-$v-$i
		rm -rf "$data" # left by an earlier run in the same DIR
		mkdir -p "$data"
		if [ $v = base ] && [ "$BASE_BROKER" = kfake ]; then
			server=("$BASE_SERVER" --data-dir "$data" --port "$port" --partitions "$PARTITIONS")
		else
			server=("$bin/sluiced" --data-dir "$data" --listen "127.0.0.1:$port"
				--num-partitions "$PARTITIONS" --log-level warn)
		fi
		"${server[@]}" >"$WORK/broker-$v.log" 2>&1 &
		bpid[$v]=$!
		pids+=($!)
	done
	sleep 1
	prod=()
	for v in base new; do
		if [ $v = base ]; then port=$port_base; else port=$port_new; fi
		common=(--topic "$TOPIC" --partitions "$PARTITIONS" --record-size "$RECORD" --acks 1
			--brokers "127.0.0.1:$port" --broker-pid "${bpid[$v]}")
		if [ -n "${E2E_RATE:-}" ]; then
			"$KGOBENCH" e2e "${common[@]}" --rate "$E2E_RATE" --duration "${E2E_DURATION:-10s}" --warmup 2s \
				>"$WORK/round-$v.out" 2>"$WORK/round-$v.err" &
		elif [ -n "$CONNS" ]; then
			"$CLIENT" bench produce "${common[@]}" --total-bytes "$BYTES" --producers "$CONNS" \
				--batch-bytes $((2 * RECORD)) >"$WORK/round-$v.out" 2>"$WORK/round-$v.err" &
		else
			"$CLIENT" produce "${common[@]}" --total-bytes "$BYTES" >"$WORK/round-$v.out" 2>"$WORK/round-$v.err" &
		fi
		prod+=($!)
	done
	wait "${prod[@]}"
	for v in base new; do
		kill "${bpid[$v]}"
		wait "${bpid[$v]}" 2>/dev/null || true
		line=$(head -1 "$WORK/round-$v.out")
		cpu=$(grep -o 'broker-cpu-s/GB=[0-9.]*' <<<"$line" | cut -d= -f2)
		mbs=$(grep -o 'MB/s=[0-9.]*' <<<"$line" | cut -d= -f2)
		ccpu=$(grep -o 'client-cpu-s/GB=[0-9.]*' <<<"$line" | cut -d= -f2)
		lat=$(grep -o 'p50=[0-9.]*[mµu]*s p99=[0-9.]*[mµu]*s' <<<"$line" || true)
		[ -n "$cpu" ] || { echo "ab-side-by-side: round $i $v: no result" >&2; cat "$WORK/round-$v.err" >&2; exit 1; }
		echo "round $i $v MB/s=$mbs broker-cpu-s/GB=$cpu client-cpu-s/GB=${ccpu:-?} $lat"
		echo "$i $v $cpu ${ccpu:-0}" >>"$RESULTS"
	done
	pids=()
	# Emptied, not deleted, as the matrix's cells (compare's retire): ext4
	# without a journal scans past recently deleted inodes when it
	# allocates new ones, which made each round of 1,000 partitions (1,000
	# new directories and files) dearer than the round before.
	find "$WORK"/data-*-"$i" -type f -exec truncate -s 0 {} +
done

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
base_med=$(awk '$2=="base"{print $3}' "$RESULTS" | median)
new_med=$(awk '$2=="new"{print $3}' "$RESULTS" | median)
ratios=$(awk '$2=="base"{b[$1]=$3} $2=="new"{n[$1]=$3} END {for (i in b) printf "%.3f\n", n[i]/b[i]}' "$RESULTS")
ratio_med=$(median <<<"$ratios")
lo=$(sort -g <<<"$ratios" | head -1)
hi=$(sort -g <<<"$ratios" | tail -1)
lower=$(awk '$1<1' <<<"$ratios" | wc -l)
echo "broker CPU-s/GB median: base $base_med, new $new_med; paired ratio new/base median $ratio_med ($lo-$hi); new lower in $lower of $ROUNDS rounds"
cratios=$(awk '$2=="base"{b[$1]=$4} $2=="new"{n[$1]=$4} END {for (i in b) if (b[i] > 0) printf "%.3f\n", n[i]/b[i]}' "$RESULTS")
if [ -n "$cratios" ]; then
	echo "client CPU-s/GB: paired ratio new/base median $(median <<<"$cratios") ($(sort -g <<<"$cratios" | head -1)-$(sort -g <<<"$cratios" | tail -1))"
fi
if [ -n "${LIMIT:-}" ]; then
	within=$(awk -v l="$LIMIT" '$1<=l' <<<"$ratios" | wc -l)
	echo "paired ratio new/base at most $LIMIT in $within of $ROUNDS rounds"
fi
