package controller

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sluice/sluice/metadata"
)

// openSingle opens a one-voter controller, waits for it to lead and
// registers unfenced brokers 1..brokers (sessions of a minute: no
// heartbeats here).
func openSingle(t *testing.T, brokers int32) (*Controller, map[int32]int64) {
	t.Helper()
	return openSingleWith(t, brokers, nil)
}

// openSingleWith is openSingle with tweak, if not nil, applied to the
// controller's config before it opens.
func openSingleWith(t *testing.T, brokers int32, tweak func(*Config)) (*Controller, map[int32]int64) {
	t.Helper()
	cfg := testConfig(1, []Voter{{ID: 1, Addr: freeAddr(t)}}, t.TempDir())
	cfg.SessionTimeout = time.Minute
	if tweak != nil {
		tweak(&cfg)
	}
	ctl, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctl.Close() })
	eventually(t, 10*time.Second, func() string {
		if !ctl.IsLeader() {
			return "no leader"
		}
		return ""
	})
	return ctl, registerUnfenced(t, ctl, brokers)
}

// registerUnfenced registers brokers 1..brokers on ctl (incarnation {id})
// and heartbeats each once, so that they are unfenced; it returns their
// broker epochs.
func registerUnfenced(t *testing.T, ctl *Controller, brokers int32) map[int32]int64 {
	t.Helper()
	epochs := map[int32]int64{}
	for id := int32(1); id <= brokers; id++ {
		e, err := ctl.RegisterBroker(BrokerRegistration{BrokerID: id, Incarnation: metadata.UUID{byte(id)}})
		if err != nil {
			t.Fatal(err)
		}
		if err := ctl.Heartbeat(id, e); err != nil {
			t.Fatal(err)
		}
		epochs[id] = e
	}
	return epochs
}

func TestAlterPartition(t *testing.T) {
	ctl, epochs := openSingle(t, 3)
	id, err := ctl.CreateTopic("t", 1, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	tp, _ := ctl.Image().Topic("t")
	p := tp.Partitions[0]
	leader := p.Leader
	follower := p.Replicas[1]
	alter := func(broker int32, leaderEpoch, partitionEpoch int32, isr []int32) (metadata.Partition, error) {
		return ctl.AlterPartition(broker, epochs[broker], id, 0, leaderEpoch, partitionEpoch, isr)
	}
	f := func(broker int32, leaderEpoch, partitionEpoch int32, isr []int32, want error) {
		t.Helper()
		if _, err := alter(broker, leaderEpoch, partitionEpoch, isr); !errors.Is(err, want) {
			t.Fatalf("alter by %d (%d, %d, %v): %v, want %v", broker, leaderEpoch, partitionEpoch, isr, err, want)
		}
	}

	// Shrink: the partition epoch moves, the leader epoch does not.
	shrunk := slices.DeleteFunc(slices.Clone(p.ISR), func(r int32) bool { return r == follower })
	got, err := alter(leader, p.LeaderEpoch, p.PartitionEpoch, shrunk)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.ISR, shrunk) || got.PartitionEpoch != p.PartitionEpoch+1 || got.LeaderEpoch != p.LeaderEpoch {
		t.Fatalf("after shrink %+v", got)
	}
	f(leader, p.LeaderEpoch, p.PartitionEpoch, p.ISR, ErrInvalidUpdateVersion) // the old partition epoch
	f(leader, p.LeaderEpoch+1, got.PartitionEpoch, p.ISR, ErrFencedLeaderEpoch)
	f(follower, got.LeaderEpoch, got.PartitionEpoch, p.ISR, ErrNotPartitionLeader)
	f(leader, got.LeaderEpoch, got.PartitionEpoch, []int32{follower}, ErrIneligibleReplica)
	f(leader, got.LeaderEpoch, got.PartitionEpoch, []int32{leader, 9}, ErrIneligibleReplica)
	if _, err := ctl.AlterPartition(leader, epochs[leader]+1, id, 0, got.LeaderEpoch, got.PartitionEpoch, p.ISR); !errors.Is(err, ErrStaleBrokerEpoch) {
		t.Fatalf("stale broker epoch: %v", err)
	}
	if err := ctl.FenceBroker(follower); err != nil {
		t.Fatal(err)
	}
	f(leader, got.LeaderEpoch, got.PartitionEpoch, p.ISR, ErrIneligibleReplica) // a fenced follower cannot rejoin

	// Back from the fence, it rejoins the ISR.
	if err := ctl.Heartbeat(follower, epochs[follower]); err != nil {
		t.Fatal(err)
	}
	again, err := alter(leader, got.LeaderEpoch, got.PartitionEpoch, p.ISR)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again.ISR, p.ISR) || again.PartitionEpoch != got.PartitionEpoch+1 {
		t.Fatalf("after expand %+v", again)
	}
}

// TestAlterPartitionsOneEntry: one leader's ISR changes of many partitions
// are decided item by item (a stale one refused, the others accepted) and
// committed as one Raft entry.
func TestAlterPartitionsOneEntry(t *testing.T) {
	ctl, epochs := openSingle(t, 3)
	id, err := ctl.CreateTopic("b", 9, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	tp, _ := ctl.Image().Topic("b")
	var items []ISRChange
	var notLed int32 = -1
	for _, p := range tp.Partitions {
		if p.Leader != 1 {
			notLed = p.Partition
			continue
		}
		items = append(items, ISRChange{TopicID: id, Partition: p.Partition, LeaderEpoch: p.LeaderEpoch,
			PartitionEpoch: p.PartitionEpoch})
	}
	if len(items) < 2 || notLed < 0 {
		t.Fatalf("placement: %d partitions led by 1, one led elsewhere %d", len(items), notLed)
	}
	for i := range items {
		p := tp.Partitions[items[i].Partition]
		for _, r := range p.Replicas {
			if r != 1 {
				items[i].ISR = []int32{1, r} // drop the other follower
				break
			}
		}
	}
	items[1].PartitionEpoch++ // stale: refused, the others still go
	items = append(items, ISRChange{TopicID: id, Partition: notLed, ISR: []int32{1, 2, 3}})
	before := ctl.raft.LastIndex()
	ps, errs, err := ctl.AlterPartitions(1, epochs[1], items)
	if err != nil {
		t.Fatal(err)
	}
	if n := ctl.raft.LastIndex() - before; n != 1 {
		t.Fatalf("%d Raft entries for one request, want 1", n)
	}
	for i, it := range items {
		switch {
		case i == 1:
			if !errors.Is(errs[i], ErrInvalidUpdateVersion) {
				t.Fatalf("stale item: %v, want ErrInvalidUpdateVersion", errs[i])
			}
		case i == len(items)-1:
			if !errors.Is(errs[i], ErrNotPartitionLeader) {
				t.Fatalf("item for a partition led elsewhere: %v, want ErrNotPartitionLeader", errs[i])
			}
		default:
			now, _ := ctl.Image().Topic("b")
			if errs[i] != nil || !slices.Equal(ps[i].ISR, it.ISR) || !slices.Equal(now.Partitions[it.Partition].ISR, it.ISR) ||
				ps[i].PartitionEpoch != it.PartitionEpoch+1 {
				t.Fatalf("item %d: %+v, %v; want ISR %v at partition epoch %d", i, ps[i], errs[i], it.ISR, it.PartitionEpoch+1)
			}
		}
	}
}
