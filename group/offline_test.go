package group

import (
	"context"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestOfflinePartitionOnlyItsGroups: with one __consumer_offsets partition
// offline (nil), its groups get COORDINATOR_NOT_AVAILABLE from every call
// and the others work, including their offsets across a reload.
func TestOfflinePartitionOnlyItsGroups(t *testing.T) {
	h := newHarness(t)
	const offline = 1
	var bad, good string
	for i := 0; bad == "" || good == ""; i++ {
		g := fmt.Sprintf("g%d", i)
		if PartitionFor(g, h.cfg.Partitions) == offline {
			bad = g
		} else {
			good = g
		}
	}
	tp := TopicPartition{Topic: "t", Partition: 0}
	ctx := context.Background()
	if errs := h.c.Commit(ctx, CommitRequest{Group: good, Generation: -1, Offsets: map[TopicPartition]Offset{tp: {Offset: 5}}}); errs[tp] != nil {
		t.Fatal(errs[tp])
	}
	h.c.Close()
	logs := append(h.logs[:0:0], h.logs...)
	logs[offline] = nil
	c, err := Open(h.cfg, logs)
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	if c.OfflinePartitions() != 1 || c.Available(bad) == nil || c.Available(good) != nil {
		t.Fatalf("offline %d, available(bad) %v, available(good) %v", c.OfflinePartitions(), c.Available(bad), c.Available(good))
	}
	want := func(what string, err error) {
		t.Helper()
		if err != kerr.CoordinatorNotAvailable {
			t.Fatalf("%s for a group on the offline partition: %v", what, err)
		}
	}
	if res := c.Join(ctx, joinReq(bad, "")); res.Err != kerr.CoordinatorNotAvailable {
		t.Fatalf("join: %v", res.Err)
	}
	want("heartbeat", c.Heartbeat(bad, "m", nil, 1))
	want("commit", c.Commit(ctx, CommitRequest{Group: bad, Generation: -1, Offsets: map[TopicPartition]Offset{tp: {Offset: 1}}})[tp])
	_, err = c.Fetch(bad, nil)
	want("fetch", err)
	want("delete", c.DeleteGroups([]string{bad})[0])
	got, err := c.Fetch(good, []TopicPartition{tp})
	if err != nil || len(got) != 1 || got[0].Offset.Offset != 5 {
		t.Fatalf("fetch for a group on an online partition: %+v %v", got, err)
	}
}
