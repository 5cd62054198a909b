package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestPlanBalance(t *testing.T) {
	// f plans parts (replicas; sizes) over brokers 1-3 and checks each
	// broker's replicas, bytes and leaders after the plan against the
	// bounds.
	f := func(name string, parts []balancePartition, maxReplicaSpread int, maxByteSpread int64, maxLeaderSpread int) {
		t.Helper()
		brokers := []int32{1, 2, 3}
		moves := planBalance(brokers, parts)
		if again := planBalance(brokers, parts); fmt.Sprint(again) != fmt.Sprint(moves) {
			t.Fatalf("%s: not deterministic: %v then %v", name, moves, again)
		}
		sh := shares(brokers, parts, moves)
		spread := func(get func(brokerShare) int64) int64 {
			lo, hi := get(sh[0]), get(sh[0])
			for _, s := range sh {
				lo, hi = min(lo, get(s)), max(hi, get(s))
			}
			return hi - lo
		}
		r := spread(func(s brokerShare) int64 { return int64(s.ReplicasAfter) })
		b := spread(func(s brokerShare) int64 { return s.BytesAfter })
		l := spread(func(s brokerShare) int64 { return int64(s.LeadersAfter) })
		if r > int64(maxReplicaSpread) || b > maxByteSpread || l > int64(maxLeaderSpread) {
			t.Fatalf("%s: after %d moves replicas spread %d, bytes %d, leaders %d: %+v", name, len(moves), r, b, l, sh)
		}
		for _, m := range moves {
			if len(m.To) != len(m.From) {
				t.Fatalf("%s: %s-%d changes its replication factor: %v", name, m.Topic, m.Partition, m)
			}
			for i, x := range m.To {
				if slices.Contains(m.To[:i], x) {
					t.Fatalf("%s: %s-%d duplicated replica: %v", name, m.Topic, m.Partition, m)
				}
			}
		}
	}
	rf1 := func(n int, size int64, on int32) []balancePartition {
		var out []balancePartition
		for p := range n {
			out = append(out, balancePartition{"t", int32(p), []int32{on}, size})
		}
		return out
	}
	f("six empty RF=1 partitions on one broker", rf1(6, 0, 1), 0, 0, 0)
	f("six equal RF=1 partitions on one broker", rf1(6, 1000, 1), 0, 0, 0)
	f("already even", []balancePartition{{"t", 0, []int32{1}, 5}, {"t", 1, []int32{2}, 5}, {"t", 2, []int32{3}, 5}}, 0, 0, 0)
	// Sizes decide: one big partition balances two small ones... as far as
	// whole partitions allow.
	f("by bytes", []balancePartition{{"t", 0, []int32{1}, 100}, {"t", 1, []int32{1}, 50}, {"t", 2, []int32{1}, 50},
		{"t", 3, []int32{1}, 100}}, 1, 50, 1)
	// RF=2 on brokers 1 and 2 only, leaders all on 1.
	var rf2 []balancePartition
	for p := range 6 {
		rf2 = append(rf2, balancePartition{"u", int32(p), []int32{1, 2}, 10})
	}
	f("RF=2 onto the third broker", rf2, 0, 0, 0)
	// A replica on a broker Metadata does not list stays put.
	moves := planBalance([]int32{1, 2}, []balancePartition{{"t", 0, []int32{1, 9}, 0}, {"t", 1, []int32{1, 9}, 0}})
	if len(moves) != 0 {
		t.Fatalf("moved a partition with a replica on an unlisted broker: %v", moves)
	}
}

func TestParsePlan(t *testing.T) {
	f := func(in string, wantErr bool) {
		t.Helper()
		_, err := parsePlan([]byte(in))
		if (err != nil) != wantErr {
			t.Fatalf("%s: %v, want error %v", in, err, wantErr)
		}
	}
	f(`{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[2,3,1]}]}`, false)
	f(`{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[2],"log_dirs":["any"]}]}`, false)
	f(`{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[2],"log_dirs":["/data"]}]}`, true)
	f(`{"version":2,"partitions":[{"topic":"t","partition":0,"replicas":[2]}]}`, true)
	f(`{"version":1,"partitions":[]}`, true)
	f(`{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[2],"extra":1}]}`, true)
	f(`not json`, true)
}

// TestReassignGolden drives `topics reassign` and `cluster balance`
// against one combined node (a broker with its own controller): the only
// replica there is, so moves to itself succeed, others are refused with
// Kafka's errors, and the cluster is already balanced.
func TestReassignGolden(t *testing.T) {
	addr := startCombinedNode(t)
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.json")
	if err := os.WriteFile(plan, []byte(`{"version":1,"partitions":[{"topic":"r","partition":0,"replicas":[1]},`+
		`{"topic":"r","partition":1,"replicas":[2]},{"topic":"nope","partition":0,"replicas":[1]}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	saved := filepath.Join(dir, "saved.json")
	steps := []struct {
		name string
		args []string
	}{
		{"reassign-create", []string{"topics", "create", "r", "--partitions", "2"}},
		{"reassign-self", []string{"topics", "reassign", "--topic", "r", "--partition", "0", "--replicas", "1", "--wait"}},
		{"reassign-unknown-broker", []string{"topics", "reassign", "--topic", "r", "--partition", "0", "--replicas", "1,2"}},
		{"reassign-plan", []string{"topics", "reassign", "--plan", plan, "--output", "json"}},
		{"reassign-cancel-none", []string{"topics", "reassign", "--topic", "r", "--partition", "1", "--cancel"}},
		{"reassign-list", []string{"topics", "reassign", "--list"}},
		{"reassign-list-json", []string{"topics", "reassign", "--list", "--topic", "r", "--output", "json"}},
		{"reassign-no-replicas", []string{"topics", "reassign", "--topic", "r", "--partition", "0"}},
		{"reassign-bad-replicas", []string{"topics", "reassign", "--topic", "r", "--partition", "0", "--replicas", "a,b"}},
		{"balance", []string{"cluster", "balance", "--save-plan", saved}},
		{"balance-json", []string{"cluster", "balance", "--output", "json"}},
	}
	for _, s := range steps {
		out := cli(t, addr, "", s.args...)
		for _, p := range []string{plan, saved} {
			out = strings.ReplaceAll(out, p, filepath.Base(p))
		}
		golden(t, s.name, out)
	}
	b, err := os.ReadFile(saved)
	if err != nil || string(b) != "{\"version\":1,\"partitions\":[]}\n" {
		t.Fatalf("saved plan %q %v", b, err)
	}
}
