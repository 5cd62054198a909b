package controller

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/sluice/sluice/metadata"
)

// The FSM stamps each entry it applies with raft's append time, and the
// observer sees it; an entry without an append time is not observed.
func TestFSMStampsAppliedEntries(t *testing.T) {
	f := NewFSM()
	var seen []ApplyStamp
	o := ApplyObserver(func(stage string, s ApplyStamp) {
		if stage != StageImage {
			t.Errorf("stage %q", stage)
		}
		seen = append(seen, s)
	})
	f.lag.observer.Store(&o)
	appended := time.Now().Add(-time.Hour) // an hour ago: the lag is at least that
	data := metadata.EncodeBatch([]metadata.Record{metadata.RegisterBroker{BrokerID: 1, BrokerEpoch: 1}})
	if resp := f.Apply(&raft.Log{Index: 7, Type: raft.LogCommand, Data: data, AppendedAt: appended}); resp != nil {
		t.Fatal(resp)
	}
	si := f.lag.image.Load()
	if si == nil || si.im != f.Image() || si.stamp.Index != 7 || !si.stamp.AppendedAt.Equal(appended) || si.stamp.Lag() < time.Hour {
		t.Fatalf("stamp %+v", si)
	}
	if len(seen) != 1 || seen[0] != si.stamp {
		t.Fatalf("observed %+v, want [%+v]", seen, si.stamp)
	}
	data = metadata.EncodeBatch([]metadata.Record{metadata.RegisterBroker{BrokerID: 2, BrokerEpoch: 2}})
	if resp := f.Apply(&raft.Log{Index: 8, Type: raft.LogCommand, Data: data}); resp != nil {
		t.Fatal(resp)
	}
	if s := f.lag.image.Load().stamp; s.Index != 8 || s.Lag() != 0 || len(seen) != 1 {
		t.Fatalf("entry without an append time: stamp %+v, observed %d", s, len(seen))
	}
}

// On a three-node quorum, every node stamps a committed entry with the
// leader's append time, carried with the entry; Reconciled records the
// second stage for the same entry.
func TestApplyStampsAgreeAcrossNodes(t *testing.T) {
	c := newCluster(t, 3)
	var mu sync.Mutex
	observed := map[int32]int{}
	for _, n := range c.running() {
		n.SetApplyObserver(func(stage string, s ApplyStamp) {
			mu.Lock()
			observed[n.NodeID()]++
			mu.Unlock()
		})
	}
	v := "1"
	leader := c.do(func(l *Controller) error {
		return l.SetConfigs(metadata.ResourceBroker, "", map[string]*string{"k": &v})
	})
	want, _ := leader.ApplyStamps()
	if want.Index == 0 || want.AppendedAt.IsZero() || want.Lag() < 0 {
		t.Fatalf("leader's stamp %+v", want)
	}
	eventually(t, 10*time.Second, func() string {
		for _, n := range c.running() {
			im, s := n.StampedImage()
			if s.Index < want.Index || im.Configs(metadata.ResourceBroker, "")["k"] != v {
				return fmt.Sprintf("node %d applied up to %d, want %d", n.NodeID(), s.Index, want.Index)
			}
			if s.Index == want.Index && !s.AppendedAt.Equal(want.AppendedAt) {
				return fmt.Sprintf("node %d: entry %d appended at %v, the leader says %v", n.NodeID(), s.Index, s.AppendedAt, want.AppendedAt)
			}
		}
		return ""
	})
	for _, n := range c.running() {
		_, s := n.StampedImage()
		n.Reconciled(s, s.AppliedAt.Add(time.Millisecond))
		if _, r := n.ApplyStamps(); r.Index != s.Index || r.AppliedAt.Sub(s.AppliedAt) != time.Millisecond {
			t.Fatalf("node %d: reconciled %+v after image %+v", n.NodeID(), r, s)
		}
		mu.Lock()
		got := observed[n.NodeID()]
		mu.Unlock()
		if got < 2 { // at least the entry (image) and its reconcile
			t.Fatalf("node %d: %d observations", n.NodeID(), got)
		}
	}
}
