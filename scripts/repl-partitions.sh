#!/usr/bin/env bash
# Replicated produce across many partitions, sluiced beside Apache Kafka,
# driven by Kafka's own producer. Each round starts a fresh three-node
# sluiced cluster, then a fresh three-node Apache Kafka cluster
# (bench/peers kafkaserver --nodes 3: combined KRaft nodes, 512m heaps),
# one at a time, on the same cores. On each: a topic of PARTITIONS
# partitions, RF=3, min.insync.replicas=2; a warm-up of 100,000 records;
# then Kafka's ProducerPerformance with its defaults (acks=all,
# idempotence on, linger.ms 5, batch.size 16 KiB, one producer) sends
# RECORDS records of RECORD bytes as fast as it can. `make bench-repl`
# measures one partition with sluice bench; this is the many-partition
# shape with the client Kafka users run (docs/BENCHMARKS.md, "Replicated
# produce across many partitions").
#
# Usage: scripts/repl-partitions.sh BINDIR [PARTITIONS] [RECORDS] [ROUNDS]
#   BINDIR      holds sluiced and sluice (go build -o BINDIR/ ./cmd/sluiced
#               ./cmd/sluice) and kafkaserver (cd bench/peers && go build
#               -o BINDIR/ ./cmd/kafkaserver)
#   PARTITIONS  default 100
#   RECORDS     default 400000
#   ROUNDS      default 2
# Env:          RECORD (1024), KAFKA_LIB (e2e/java/lib: cd e2e/java && mvn
#               -q -B dependency:copy-dependencies -DoutputDirectory=lib),
#               PORT (22000: sluiced's nodes listen on PORT+10, +20, +30 and
#               the ports after each), DIR (a new directory under /tmp)
# Prints:       per round and broker: MB/s, the producer's p50/p99, the
#               three brokers' CPU-seconds per GB (utime+stime from
#               /proc/PID/stat), the producer's; then sluiced ÷ Kafka per
#               round for MB/s, p99 and the brokers' CPU per GB. Failed
#               sends (ProducerPerformance counts only the acknowledged)
#               are named on the round's line, and the warm-up's on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:?usage: scripts/repl-partitions.sh BINDIR [PARTITIONS] [RECORDS] [ROUNDS]}
PARTS=${2:-100}
RECORDS=${3:-400000}
ROUNDS=${4:-2}
RECORD=${RECORD:-1024}
LIB=${KAFKA_LIB:-$PWD/e2e/java/lib}
PORT=${PORT:-22000}
for f in sluiced sluice kafkaserver; do
	[ -x "$BIN/$f" ] || { echo "repl-partitions: $BIN/$f: not an executable" >&2; exit 2; }
done
ls "$LIB"/kafka-tools-*.jar >/dev/null 2>&1 || {
	echo "repl-partitions: no Kafka jars in $LIB (cd e2e/java && mvn -q -B dependency:copy-dependencies -DoutputDirectory=lib)" >&2
	exit 2
}
command -v java >/dev/null || { echo "repl-partitions: needs java (Debian: apt-get install openjdk-17-jre-headless)" >&2; exit 2; }
WORK=${DIR:-$(mktemp -d)}
mkdir -p "$WORK"
PIDS=()
STOPPER=
cleanup() {
	[ ${#PIDS[@]} -eq 0 ] || kill "${PIDS[@]}" 2>/dev/null || true
	[ -z "$STOPPER" ] || kill "$STOPPER" 2>/dev/null || true
	wait 2>/dev/null || true
}
trap 'cleanup; [ -n "${DIR:-}" ] || rm -rf "$WORK"' EXIT

# shellcheck source=scripts/sluiced-cluster.sh
. scripts/sluiced-cluster.sh
java_tool() { java -cp "$LIB/*" "$@" 2> >(grep -v '^SLF4J' >&2); }

# start_sluiced D: three combined nodes (sluiced-cluster.sh) and the topic;
# sets PIDS and BOOT.
start_sluiced() {
	start_sluiced_cluster "$BIN" "$1" repl-partitions
	create_rf3_topic "$BIN" bench "$PARTS" && return 0
	echo "repl-partitions: sluiced: cannot create the topic; see $1/n*.log" >&2
	return 1
}

# start_kafka D: kafkaserver --nodes 3; sets PIDS (the JVMs), STOPPER and BOOT.
start_kafka() {
	local d=$1
	"$BIN/kafkaserver" --nodes 3 --dir "$d" --lib "$LIB" >"$d/kafkaserver.out" 2>&1 &
	STOPPER=$!
	for _ in $(seq 240); do
		grep -q '^bootstrap=' "$d/kafkaserver.out" && break
		kill -0 $STOPPER 2>/dev/null || { echo "repl-partitions: kafkaserver exited; see $d" >&2; return 1; }
		sleep 0.5
	done
	mapfile -t PIDS < <(sed -n 's/^node=[0-9]* pid=\([0-9]*\) .*/\1/p' "$d/kafkaserver.out")
	BOOT=$(sed -n 's/^bootstrap=\([^,]*\).*/\1/p' "$d/kafkaserver.out")
	[ ${#PIDS[@]} -eq 3 ] && [ -n "$BOOT" ] || { echo "repl-partitions: kafkaserver did not start; see $d" >&2; return 1; }
	java_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOT" --create --topic bench \
		--partitions "$PARTS" --replication-factor 3 --config min.insync.replicas=2 >/dev/null
}

stop_cluster() {
	if [ -n "$STOPPER" ]; then
		kill "$STOPPER" 2>/dev/null || true
		wait "$STOPPER" 2>/dev/null || true
	else
		kill "${PIDS[@]}" 2>/dev/null || true
		wait "${PIDS[@]}" 2>/dev/null || true
	fi
	PIDS=() STOPPER=
}

perf_test() {
	java_tool org.apache.kafka.tools.ProducerPerformance --topic bench --num-records "$1" --record-size "$RECORD" \
		--throughput -1 --producer-props "bootstrap.servers=$BOOT"
}

HZ=$(getconf CLK_TCK)
RESULTS=$WORK/results
: >"$RESULTS"
for round in $(seq "$ROUNDS"); do
	for broker in sluiced kafka; do
		d=$WORK/$broker-$round
		mkdir -p "$d"
		"start_$broker" "$d"
		sleep 2
		warm=$(perf_test 100000 2>&1 | grep -c 'Exception' || true)
		[ "$warm" -eq 0 ] || echo "round $round $broker: the warm-up had $warm failed sends (not counted)" >&2
		t0=$(ticks)
		out=$({ /usr/bin/time -f 'CLIENT %U %S' bash -c "$(declare -f java_tool perf_test); LIB='$LIB' BOOT='$BOOT' RECORD=$RECORD perf_test $RECORDS"; } 2>&1)
		t1=$(ticks)
		stop_cluster
		rm -rf "$d"
		python3 - "$broker" "$round" "$RECORDS" "$RECORD" "$HZ" "$t0" "$t1" "$out" >>"$RESULTS" <<-'EOF'
			import re, sys
			broker, rnd, n, size, hz, t0, t1, out = sys.argv[1:]
			gb = int(n) * int(size) / 1e9
			line = [l for l in out.splitlines() if 'records sent' in l and '50th' in l]
			client = [l for l in out.splitlines() if l.startswith('CLIENT')]
			if not line or not client:
			    sys.exit('repl-partitions: no result from the producer:\n' + out)
			mbs = float(re.search(r'\(([0-9.]+) MB/sec\)', line[0]).group(1))
			p50, p99 = (int(re.search(r'(\d+) ms %s' % q, line[0]).group(1)) for q in ('50th', '99th'))
			cu = sum(float(x) for x in client[0].split()[1:])
			failed = sum('Exception' in l for l in out.splitlines())
			print(broker, rnd, mbs, p50, p99, (int(t1) - int(t0)) / int(hz) / gb, cu / gb, failed)
		EOF
		tail -1 "$RESULTS" | awk -v parts="$PARTS" '{printf "round %s %-7s %d partitions: %7.1f MB/s  p50 %5d ms  p99 %5d ms  brokers %6.2f CPU-s/GB  producer %6.2f CPU-s/GB%s\n", $2, $1, parts, $3, $4, $5, $6, $7, ($8 > 0 ? "  FAILED SENDS " $8 : "")}'
	done
done
python3 - "$RESULTS" <<-'EOF'
	import statistics, sys
	rows = [l.split() for l in open(sys.argv[1])]
	by = {(r[0], r[1]): r for r in rows}
	ratios = {'MB/s': [], 'p99': [], 'brokers CPU-s/GB': []}
	for (b, rnd), s in by.items():
	    if b != 'sluiced' or ('kafka', rnd) not in by:
	        continue
	    k = by[('kafka', rnd)]
	    for name, i in (('MB/s', 2), ('p99', 4), ('brokers CPU-s/GB', 5)):
	        ratios[name].append(float(s[i]) / float(k[i]))
	for name, v in ratios.items():
	    if v:
	        print('sluiced / kafka %-17s median %.2f (%s)' % (name, statistics.median(v), ', '.join('%.2f' % x for x in v)))
EOF
