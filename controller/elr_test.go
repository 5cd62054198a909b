package controller

import (
	"slices"
	"testing"

	"github.com/sluice/sluice/metadata"
)

// openELR is openSingle with eligible leader replicas on and a default
// min.insync.replicas of 2; it returns the brokers' incarnations too.
func openELR(t *testing.T, brokers int32) (*Controller, map[int32]int64) {
	t.Helper()
	return openSingleWith(t, brokers, func(cfg *Config) {
		cfg.EligibleLeaderReplicas, cfg.DefaultMinInsync = true, 2
	})
}

// TestELRTransitions walks one RF=3, min.insync.replicas=2 partition
// through KIP-966's transitions, each step checked against the committed
// image: leader, ISR, ELR and last known ELR (in replica order).
func TestELRTransitions(t *testing.T) {
	ctl, epochs := openELR(t, 3)
	id, err := ctl.CreateTopic("t", 1, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	part := func() metadata.Partition {
		tp, _ := ctl.Image().Topic("t")
		return tp.Partitions[0]
	}
	first := part()
	a, b, c := first.Replicas[0], first.Replicas[1], first.Replicas[2]
	alter := func(isr ...int32) func() error {
		return func() error {
			p := part()
			_, err := ctl.AlterPartition(p.Leader, epochs[p.Leader], id, 0, p.LeaderEpoch, p.PartitionEpoch, isr)
			return err
		}
	}
	fence := func(r int32) func() error { return func() error { return ctl.FenceBroker(r) } }
	unfence := func(r int32) func() error { return func() error { return ctl.Heartbeat(r, epochs[r]) } }
	restart := func(r int32, clean bool) func() error {
		return func() error {
			prev := int64(-1)
			if clean {
				prev = epochs[r]
			}
			inc := metadata.UUID{byte(r), byte(epochs[r])}
			e, err := ctl.RegisterBroker(BrokerRegistration{BrokerID: r, Incarnation: inc, PreviousBrokerEpoch: prev})
			epochs[r] = e
			return err
		}
	}
	f := func(name string, step func() error, leader int32, isr, elr, lke []int32) {
		t.Helper()
		before := part()
		if err := step(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		p := part()
		if p.Leader != leader || !slices.Equal(p.ISR, isr) || !slices.Equal(p.EligibleLeaderReplicas, elr) || !slices.Equal(p.LastKnownElr, lke) {
			t.Fatalf("%s: leader %d ISR %v ELR %v last known %v; want leader %d ISR %v ELR %v last known %v",
				name, p.Leader, p.ISR, p.EligibleLeaderReplicas, p.LastKnownElr, leader, isr, elr, lke)
		}
		if p.Leader != before.Leader && p.LeaderEpoch != before.LeaderEpoch+1 {
			t.Fatalf("%s: new leader at epoch %d after %d", name, p.LeaderEpoch, before.LeaderEpoch)
		}
	}
	none := []int32(nil)
	f("shrink to min.insync: no ELR", alter(a, b), a, []int32{a, b}, none, none)
	f("shrink below min.insync: the replica leaving joins the ELR", alter(a), a, []int32{a}, []int32{b}, none)
	f("rejoin: back to min.insync clears the ELR", alter(a, b), a, []int32{a, b}, none, none)
	f("ISR whole again", alter(a, b, c), a, []int32{a, b, c}, none, none)
	f("two leave at once: both join the ELR", alter(a), a, []int32{a}, []int32{b, c}, none)
	f("an ELR member fenced stays in the ELR", fence(b), a, []int32{a}, []int32{b, c}, none)
	f("leader fenced, ISR empty: a live ELR member leads", fence(a), c, []int32{c}, []int32{a, b}, none)
	f("unclean restart: leaves the ELR for the last known ELR", restart(b, false), c, []int32{c}, []int32{a}, []int32{b})
	f("clean restart: stays in the ELR", restart(a, true), c, []int32{c}, []int32{a}, []int32{b})
	f("leader fenced, its ELR fenced too: no leader", fence(c), metadata.NoLeader, nil, []int32{a, c}, []int32{b})
	f("the last-known member back: not while the ELR waits", unfence(b), metadata.NoLeader, nil, []int32{a, c}, []int32{b})
	f("a clean ELR member back: it leads", unfence(a), a, []int32{a}, []int32{c}, []int32{b})
	f("ISR at min.insync again: ELR and last known cleared", alter(a, b), a, []int32{a, b}, none, none)
}

// TestELRDisabled: without the feature the ISR keeps its last member and
// no ELR is recorded (the behaviour before KIP-966).
func TestELRDisabled(t *testing.T) {
	ctl, epochs := openSingle(t, 3)
	id, err := ctl.CreateTopic("t", 1, 3, map[string]string{"min.insync.replicas": "2"})
	if err != nil {
		t.Fatal(err)
	}
	tp, _ := ctl.Image().Topic("t")
	p := tp.Partitions[0]
	if _, err := ctl.AlterPartition(p.Leader, epochs[p.Leader], id, 0, p.LeaderEpoch, p.PartitionEpoch, []int32{p.Leader}); err != nil {
		t.Fatal(err)
	}
	if err := ctl.FenceBroker(p.Leader); err != nil {
		t.Fatal(err)
	}
	tp, _ = ctl.Image().Topic("t")
	got := tp.Partitions[0]
	if got.Leader != metadata.NoLeader || !slices.Equal(got.ISR, []int32{p.Leader}) || got.EligibleLeaderReplicas != nil {
		t.Fatalf("leader %d ISR %v ELR %v", got.Leader, got.ISR, got.EligibleLeaderReplicas)
	}
}

// TestELRTopicMinInsync: the topic's min.insync.replicas wins over the
// default, capped at the replication factor.
func TestELRTopicMinInsync(t *testing.T) {
	ctl, epochs := openELR(t, 3)
	f := func(topic string, rf int16, minInsync string, shrinkTo int, wantELR int) {
		t.Helper()
		var cfgs map[string]string
		if minInsync != "" {
			cfgs = map[string]string{"min.insync.replicas": minInsync}
		}
		id, err := ctl.CreateTopic(topic, 1, rf, cfgs)
		if err != nil {
			t.Fatal(err)
		}
		tp, _ := ctl.Image().Topic(topic)
		p := tp.Partitions[0]
		if _, err := ctl.AlterPartition(p.Leader, epochs[p.Leader], id, 0, p.LeaderEpoch, p.PartitionEpoch, p.ISR[:shrinkTo]); err != nil {
			t.Fatal(err)
		}
		tp, _ = ctl.Image().Topic(topic)
		if got := len(tp.Partitions[0].EligibleLeaderReplicas); got != wantELR {
			t.Fatalf("%s: ELR %v, want %d members", topic, tp.Partitions[0].EligibleLeaderReplicas, wantELR)
		}
	}
	f("min1", 3, "1", 1, 0)   // ISR 1 ≥ 1
	f("min3", 3, "3", 2, 1)   // ISR 2 < 3
	f("cap", 2, "3", 1, 1)    // min 3 capped at RF 2: ISR 1 < 2
	f("default", 3, "", 1, 2) // the default, 2
}
