package e2e

// Transactions through client libraries in other languages (issue 16):
// confluent-kafka-python (librdkafka) and kafkajs commit, abort and get
// fenced by a second producer with the same transactional id; a
// read_committed reader sees exactly the committed records. The scripts
// are py/confluent.py (txn, read) and node/txn.js.

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
)

// startTxnBroker starts sluiced with a small __transaction_state, so the
// coordinator loads quickly.
func startTxnBroker(t *testing.T) *daemon {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "server.properties")
	if err := os.WriteFile(cfg, []byte("transaction.state.log.num.partitions=3\noffsets.topic.num.partitions=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return start(t, t.TempDir(), "--config", cfg, "--group-initial-rebalance-delay", "0")
}

// keysOf is the second field (the key) of each line starting with word,
// or the third when the lines are "record P OFFSET KEY …", sorted.
func keysOf(lines []string, word string) []string {
	var ks []string
	for _, f := range withPrefix(lines, word) {
		if word == "record" {
			ks = append(ks, f[2])
		} else {
			ks = append(ks, f[0])
		}
	}
	sort.Strings(ks)
	return ks
}

// checkTxnOutcome checks a transactional script's report and what
// read_committed and read_uncommitted readers see: every committed key
// exactly once and nothing else under read_committed; the aborted keys
// too under read_uncommitted (they were written, then aborted).
func checkTxnOutcome(t *testing.T, out, committedRead, uncommittedRead []string) {
	t.Helper()
	committed, aborted := keysOf(out, "committed"), keysOf(out, "aborted")
	if len(committed) != 20 || len(aborted) != 10 {
		t.Fatalf("script acknowledged %d committed and %d aborted records, want 20 and 10:\n%v", len(committed), len(aborted), out)
	}
	fenced := withPrefix(out, "fenced")
	if len(fenced) != 1 {
		t.Fatalf("no fencing reported by the first producer:\n%v", out)
	}
	t.Logf("first producer after the second's init: %v", fenced[0])
	if got := keysOf(committedRead, "record"); !slices.Equal(got, committed) {
		t.Errorf("read_committed read %v, want exactly the committed %v", got, committed)
	}
	for _, r := range parseRecs(t, committedRead, "record") {
		if r.Value != "v-"+r.Key {
			t.Errorf("read_committed record %+v: value %q, want %q", r, r.Value, "v-"+r.Key)
		}
	}
	unc := keysOf(uncommittedRead, "record")
	for _, k := range append(slices.Clone(committed), aborted...) {
		if _, found := slices.BinarySearch(unc, k); !found {
			t.Errorf("read_uncommitted misses %s: the aborted records were not written?", k)
		}
	}
}

// TestTxnConfluentKafkaPython: librdkafka's transactional producer
// against sluiced, read back with read_committed and read_uncommitted.
func TestTxnConfluentKafkaPython(t *testing.T) {
	py := python(t, "confluent_kafka", "python3-confluent-kafka")
	d := startTxnBroker(t)
	const topic = "ck-txn"
	createTopic(t, d.Addr, topic, 3)
	out := runScript(t, py, "py/confluent.py", "txn", d.Addr, topic, "ck-txn-id")
	fenced := withPrefix(out, "fenced")
	// librdkafka raises the fencing as a fatal error: the failing call
	// reports it (fatal True), or, when the background thread raised it
	// first, the call fails with _FATAL ("the producer had a fatal
	// error"), whose own fatal flag is false. Both stop the producer.
	if len(fenced) == 1 && fenced[0][0] != "True" && fenced[0][1] != "_FATAL" {
		t.Errorf("librdkafka's fencing error is not fatal: %v", fenced[0])
	}
	checkTxnOutcome(t, out,
		runScript(t, py, "py/confluent.py", "read", d.Addr, topic, "read_committed"),
		runScript(t, py, "py/confluent.py", "read", d.Addr, topic, "read_uncommitted"))
	d.Stop()
}

// TestTxnKafkaJS: kafkajs's transactional producer against sluiced (one
// partition, so that a reader knows it has seen everything once it reads
// the last committed record).
func TestTxnKafkaJS(t *testing.T) {
	node := nodeWithKafkajs(t)
	d := startTxnBroker(t)
	const topic = "js-txn"
	createTopic(t, d.Addr, topic, 1)
	out := runScript(t, node, "node/txn.js", "txn", d.Addr, topic, "js-txn-id")
	if v := withPrefix(out, "kafkajs"); len(v) == 1 {
		t.Logf("kafkajs %s", v[0][0])
	}
	checkTxnOutcome(t, out,
		runScript(t, node, "node/txn.js", "read", d.Addr, topic, "read_committed", "b04"),
		runScript(t, node, "node/txn.js", "read", d.Addr, topic, "read_uncommitted", "b04"))
	d.Stop()
}
