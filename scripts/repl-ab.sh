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
#            on PORT+10i, its controller on PORT+10i+1; sluiced-cluster.sh),
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
# shellcheck source=scripts/sluiced-cluster.sh
. "$(dirname "$0")/sluiced-cluster.sh"
HZ=$(getconf CLK_TCK)
PIDS=()
stop() {
	[ ${#PIDS[@]} -gt 0 ] && kill "${PIDS[@]}" 2>/dev/null && wait "${PIDS[@]}" 2>/dev/null
	PIDS=()
}
trap 'stop; rm -rf "$DIR/cluster"' EXIT

# leader BINDIR: the node id of r3's leader, once there is one.
leader() {
	local _ id
	for _ in $(seq 100); do
		id=$("$1/sluice" topics describe r3 --brokers "$BOOT" --output json 2>/dev/null |
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
		[ -n "$id" ] && { echo "$id"; return 0; }
		sleep 0.3
	done
	return 1
}

# cluster BINDIR LABEL: one cluster, RUNS produces, a line each.
cluster() {
	local bin=$1 label=$2 d=$DIR/cluster
	rm -rf "$d"
	mkdir -p "$d"
	start_sluiced_cluster "$bin" "$d" repl-ab
	create_rf3_topic "$bin" r3 1 || { echo "repl-ab: $label: cannot create the topic (logs in $d)" >&2; exit 1; }
	local id
	id=$(leader "$bin") || { echo "repl-ab: $label: no leader for r3" >&2; exit 1; }
	local addr=127.0.0.1:$((PORT + id * 10)) lpid=${PIDS[$((id - 1))]}
	"$bin/sluice" bench produce --brokers "$addr" --topic r3 --acks all --record-size 16384 \
		--total-bytes 64M >/dev/null 2>&1
	local r t0 t1 out
	for r in $(seq "$RUNS"); do
		if [ "$WARM" -gt 0 ]; then
			dd if=/dev/zero of="$DIR/warm" bs=1M count="$WARM" status=none
			rm -f "$DIR/warm"
		fi
		t0=$(ticks)
		out=$("$bin/sluice" bench produce --brokers "$addr" --topic r3 --acks all --record-size "$RECORD" \
			--total-bytes "$BYTES" --broker-pid "$lpid" 2>&1 | grep 'MB/s=' | tail -1)
		t1=$(ticks)
		echo "$out" | awk -v label="$label" -v all="$(awk "BEGIN{printf \"%.2f\", ($t1-$t0)/$HZ/($mib/1024)}")" '{
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
