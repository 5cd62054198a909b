# Sourced by the scripts that measure a three-node sluiced cluster
# (repl-partitions.sh, repl-ab.sh); not run on its own. Expects PORT set.

# start_sluiced_cluster BINDIR DIR CLUSTER_ID: three combined nodes on
# loopback, node i with its data in DIR/n<i>, its log in DIR/n<i>.log,
# listening on PORT+10i and its controller on PORT+10i+1. Sets PIDS (node
# i's at index i-1) and BOOT (node 1's address).
start_sluiced_cluster() {
	local bin=$1 d=$2 id=$3 voters="" i
	for i in 1 2 3; do
		voters+="${voters:+,}$i@127.0.0.1:$((PORT + i * 10 + 1))"
	done
	PIDS=()
	for i in 1 2 3; do
		SLUICE_CONTROLLER_QUORUM_VOTERS=$voters "$bin/sluiced" --node-id $i --cluster-id "$id" \
			--data-dir "$d/n$i" --listen "PLAINTEXT://127.0.0.1:$((PORT + i * 10)),CONTROLLER://127.0.0.1:$((PORT + i * 10 + 1))" \
			--log-level warn >"$d/n$i.log" 2>&1 &
		PIDS+=($!)
	done
	BOOT=127.0.0.1:$((PORT + 10))
}

# create_rf3_topic BINDIR TOPIC PARTITIONS: creates the topic with RF=3
# and min.insync.replicas=2 on BOOT, retried for 30 s while the quorum
# forms; fails when it never could.
create_rf3_topic() {
	local _
	for _ in $(seq 150); do
		"$1/sluice" topics create "$2" --brokers "$BOOT" --partitions "$3" --replication-factor 3 \
			--config min.insync.replicas=2 >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}

# ticks: the utime+stime of PIDS, in clock ticks (getconf CLK_TCK a second).
ticks() { local s=0 p; for p in "${PIDS[@]}"; do s=$((s + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $s; }
