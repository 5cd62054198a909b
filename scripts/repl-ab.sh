#!/usr/bin/env bash
# Compares two builds on the replicated produce path: each round starts a
# fresh three-node sluiced cluster of each build in turn (one cluster at
# a time), creates a one-partition topic with RF=3 and
# min.insync.replicas=2, and runs `sluice bench produce --acks all` RUNS
# times against its leader. Before every produce it writes and deletes a
# 1 GiB file (WARM) so the produce's page-cache writes, three copies, land
# on memory this VM holds: its hypervisor takes back free memory, and a
# first write into such a page costs ~15× (docs/BENCHMARKS.md, "The
# replication rows settled"). Without that step the same produce on one
# cluster fell from 279 to 111 MB/s over eight runs.
#
# Usage: scripts/repl-ab.sh A_BINDIR B_BINDIR [ROUNDS] [RUNS] [RECORD] [BYTES]
#   BINDIRs  each holds sluiced and sluice (go build -o BINDIR ./cmd/sluiced ./cmd/sluice)
#   ROUNDS   clusters per build, alternated A, B, A, B, ... (default 3)
#   RUNS     produces per cluster (default 6)
#   RECORD   record size in bytes (default 1024)
#   BYTES    bytes per produce (default 128M)
# Env:       DIR (a new directory under /tmp), PORT (19200: node i listens
#            on PORT+i, its controller on PORT+100+i, HTTP on PORT+200+i),
#            WARM (1024: MiB written and deleted before each produce; 0: off)
# Prints:    one line per produce (MB/s, p99, the leader's and the three
#            nodes' CPU-s/GB), then each build's medians and the
#            Mann-Whitney z of A against B (positive: A higher) for MB/s,
#            p99 and the three nodes' CPU-s/GB.
set -euo pipefail
usage="usage: scripts/repl-ab.sh A_BINDIR B_BINDIR [ROUNDS] [RUNS] [RECORD] [BYTES]"
A=${1:?$usage}
B=${2:?$usage}
ROUNDS=${3:-3}
RUNS=${4:-6}
RECORD=${5:-1024}
BYTES=${6:-128M}
PORT=${PORT:-19200}
WARM=${WARM:-1024}
DIR=${DIR:-$(mktemp -d /tmp/repl-ab.XXXXXX)}
for b in "$A" "$B"; do
	for t in sluiced sluice; do
		[ -x "$b/$t" ] || { echo "repl-ab: $b/$t missing ($usage)" >&2; exit 2; }
	done
done
case $BYTES in
*K) mib=$(awk "BEGIN{print ${BYTES%K}/1024}") ;;
*M) mib=${BYTES%M} ;;
*G) mib=$((${BYTES%G} * 1024)) ;;
*) mib=$(awk "BEGIN{print $BYTES/1048576}") ;;
esac
results=$DIR/results.txt
: >"$results"
pids=()
stop() {
	[ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null && wait "${pids[@]}" 2>/dev/null
	pids=()
}
trap 'stop; rm -rf "$DIR/cluster"' EXIT

# cluster BINDIR LABEL: one cluster, RUNS produces, a line each.
cluster() {
	local bin=$1 label=$2 d=$DIR/cluster voters="" boot="" i
	rm -rf "$d"
	mkdir -p "$d"
	for i in 1 2 3; do
		voters+="${voters:+,}$i@127.0.0.1:$((PORT + 100 + i))"
		boot+="${boot:+,}127.0.0.1:$((PORT + i))"
	done
	for i in 1 2 3; do
		SLUICE_CONTROLLER_QUORUM_VOTERS=$voters "$bin/sluiced" --node-id "$i" --cluster-id repl-ab \
			--data-dir "$d/n$i" --listen "PLAINTEXT://127.0.0.1:$((PORT + i)),CONTROLLER://127.0.0.1:$((PORT + 100 + i))" \
			--http-listen "127.0.0.1:$((PORT + 200 + i))" --log-level warn >"$DIR/$label-n$i.log" 2>&1 &
		pids+=($!)
	done
	local ok=""
	for _ in $(seq 100); do
		if "$bin/sluice" topics create r3 --brokers "$boot" --partitions 1 --replication-factor 3 \
			--config min.insync.replicas=2 >/dev/null 2>&1; then
			ok=1
			break
		fi
		sleep 0.3
	done
	[ -n "$ok" ] || { echo "repl-ab: $label: cannot create the topic (logs in $DIR)" >&2; exit 1; }
	local leader=""
	for _ in $(seq 100); do
		leader=$("$bin/sluice" topics describe r3 --brokers "$boot" --output json 2>/dev/null |
			python3 -c 'import json,sys
def find(x):
    if isinstance(x,dict):
        for k,v in x.items():
            if k=="leader" and isinstance(v,int) and v>0: return v
            r=find(v)
            if r: return r
    if isinstance(x,list):
        for v in x:
            r=find(v)
            if r: return r
print(find(json.load(sys.stdin)) or "")' 2>/dev/null || true)
		[ -n "$leader" ] && break
		sleep 0.3
	done
	[ -n "$leader" ] || { echo "repl-ab: $label: no leader for r3" >&2; exit 1; }
	local addr=127.0.0.1:$((PORT + leader)) lpid=${pids[$((leader - 1))]}
	cpu() {
		local s=0 p
		for p in "${pids[@]}"; do s=$((s + $(awk '{print $14+$15}' "/proc/$p/stat"))); done
		echo "$s"
	}
	"$bin/sluice" bench produce --brokers "$addr" --topic r3 --acks all --record-size 16384 \
		--total-bytes 64M >/dev/null 2>&1
	local r c0 c1 out
	for r in $(seq "$RUNS"); do
		if [ "$WARM" -gt 0 ]; then
			dd if=/dev/zero of="$DIR/warm" bs=1M count="$WARM" status=none
			rm -f "$DIR/warm"
		fi
		c0=$(cpu)
		out=$("$bin/sluice" bench produce --brokers "$addr" --topic r3 --acks all --record-size "$RECORD" \
			--total-bytes "$BYTES" --broker-pid "$lpid" 2>&1 | grep 'MB/s=' | tail -1)
		c1=$(cpu)
		echo "$out" | awk -v label="$label" -v all="$(awk "BEGIN{printf \"%.2f\", ($c1-$c0)/100/($mib/1024)}")" '{
			for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
			sub(/ms$/, "", v["p99"]); if (v["p99"] ~ /s$/) { sub(/s$/, "", v["p99"]); v["p99"] *= 1000 }
			printf "%s MB/s %s p99 %s leader %s all %s\n", label, v["MB/s"], v["p99"], v["broker-cpu-s/GB"], all }' |
			tee -a "$results"
	done
	stop
}

for round in $(seq "$ROUNDS"); do
	cluster "$A" A
	cluster "$B" B
done
python3 - "$results" <<'EOF'
import statistics as st, sys
d = {"A": [], "B": []}
for line in open(sys.argv[1]):
    f = line.split()
    d[f[0]].append((float(f[2]), float(f[4]), float(f[8])))
for k in "AB":
    c = list(zip(*d[k]))
    print("%s: %d produces, medians: %.0f MB/s, p99 %.1f ms, three nodes %.2f CPU-s/GB" % (k, len(d[k]), *(st.median(x) for x in c)))
zs = []
for i, name in enumerate(("MB/s", "p99", "CPU-s/GB")):
    a = [x[i] for x in d["A"]]; b = [x[i] for x in d["B"]]
    u = sum((x > y) + 0.5 * (x == y) for x in a for y in b)
    n1, n2 = len(a), len(b)
    zs.append("%s %.1f" % (name, (u - n1 * n2 / 2) / ((n1 * n2 * (n1 + n2 + 1) / 12) ** 0.5)))
print("Mann-Whitney z, A against B: " + ", ".join(zs))
EOF
