package group

import (
	"context"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// A coordinator opened with LoadOnElection holds nothing until Elect:
// NOT_COORDINATOR; while the partition loads, COORDINATOR_LOAD_IN_PROGRESS;
// once loaded, the groups committed earlier (by another coordinator, on the
// same log) are served; Resign unloads them (a waiting JoinGroup ends with
// NOT_COORDINATOR, later calls get NOT_COORDINATOR); a stale Elect changes
// nothing; a new Elect at a higher epoch loads what the log holds then.
func TestElectLoadResign(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	tp := TopicPartition{"t", 0}
	commit := func(group string, off int64) error {
		return h.c.Commit(ctx, CommitRequest{Group: group, Generation: -1,
			Offsets: map[TopicPartition]Offset{tp: {Offset: off, LeaderEpoch: -1}}})[tp]
	}
	if err := commit("g", 42); err != nil {
		t.Fatal(err)
	}
	p := PartitionFor("g", h.cfg.Partitions)

	// Reopen as a broker in a cluster does, loading on election.
	release := make(chan struct{})
	entered := make(chan int32, 4)
	h.cfg.LoadOnElection = true
	h.cfg.testBeforeLoad = func(p int32) {
		entered <- p
		<-release
	}
	h.reopen()
	if _, err := h.c.Fetch("g", nil); !errors.Is(err, kerr.NotCoordinator) {
		t.Fatalf("before Elect: %v, want NOT_COORDINATOR", err)
	}
	done := h.c.Elect(p, 3, h.logs[p])
	if got := recv(t, entered); got != p {
		t.Fatalf("loading partition %d, want %d", got, p)
	}
	if _, err := h.c.Fetch("g", nil); !errors.Is(err, kerr.CoordinatorLoadInProgress) {
		t.Fatalf("while loading: %v, want COORDINATOR_LOAD_IN_PROGRESS", err)
	}
	if r := h.c.Join(ctx, joinReq("g", "")); !errors.Is(r.Err, kerr.CoordinatorLoadInProgress) {
		t.Fatalf("join while loading: %v", r.Err)
	}
	if got := h.c.Describe([]string{"g"})[0].Err; !errors.Is(got, kerr.CoordinatorLoadInProgress) {
		t.Fatalf("describe while loading: %v", got)
	}
	if _, err := h.c.List(nil, nil); !errors.Is(err, kerr.CoordinatorLoadInProgress) {
		t.Fatalf("list while loading: %v", err)
	}
	close(release)
	recv(t, chanOf(done))
	fetched := func() int64 {
		t.Helper()
		cs, err := h.c.Fetch("g", nil)
		if err != nil || len(cs) != 1 {
			t.Fatalf("fetch: %v %+v", err, cs)
		}
		return cs[0].Offset.Offset
	}
	if got := fetched(); got != 42 {
		t.Fatalf("loaded offset %d, want 42", got)
	}
	if ls, err := h.c.List(nil, nil); err != nil || len(ls) != 1 || ls[0].Group != "g" {
		t.Fatalf("list once loaded: %+v %v", ls, err)
	}
	if loaded, loading := h.c.Owned(); len(loaded) != 1 || loaded[0] != p || len(loading) != 0 {
		t.Fatalf("owned %v loading %v", loaded, loading)
	}

	// A member waits in the first rebalance; Resign ends its wait.
	_, w := h.newMember(joinReq("g", ""))
	h.waitMembers("g", 1)
	h.c.Resign(p, 4)
	if r := recv(t, w); !errors.Is(r.Err, kerr.NotCoordinator) {
		t.Fatalf("waiting join after Resign: %v, want NOT_COORDINATOR", r.Err)
	}
	if err := commit("g", 50); !errors.Is(err, kerr.NotCoordinator) {
		t.Fatalf("commit after Resign: %v", err)
	}
	if err := h.c.Heartbeat("g", "m", nil, 1); !errors.Is(err, kerr.NotCoordinator) {
		t.Fatalf("heartbeat after Resign: %v", err)
	}
	// Stale: an Elect older than the Resign is ignored.
	recv(t, chanOf(h.c.Elect(p, 3, h.logs[p])))
	if _, err := h.c.Fetch("g", nil); !errors.Is(err, kerr.NotCoordinator) {
		t.Fatalf("after a stale Elect: %v", err)
	}

	// Another coordinator (the one that led meanwhile) commits on the
	// same log; leading again at epoch 5 loads its commit.
	other, err := Open(Config{Partitions: h.cfg.Partitions, Now: h.clk.Now, Manual: true, Logger: h.cfg.Logger}, h.logs)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Commit(ctx, CommitRequest{Group: "g", Generation: -1,
		Offsets: map[TopicPartition]Offset{tp: {Offset: 77, LeaderEpoch: -1}}})[tp]; err != nil {
		t.Fatal(err)
	}
	other.Close()
	h.cfg.testBeforeLoad = nil
	h.c.cfg.testBeforeLoad = nil
	recv(t, chanOf(h.c.Elect(p, 5, h.logs[p])))
	if got := fetched(); got != 77 {
		t.Fatalf("reloaded offset %d, want 77", got)
	}
	// Elect at a higher epoch while loaded reloads (same result); a
	// repeated one changes nothing.
	recv(t, chanOf(h.c.Elect(p, 6, h.logs[p])))
	recv(t, chanOf(h.c.Elect(p, 6, h.logs[p])))
	if got := fetched(); got != 77 {
		t.Fatalf("after re-Elect: %d", got)
	}
	// Groups of other partitions stay NOT_COORDINATOR throughout.
	for id := range 20 {
		g := string(rune('a' + id))
		if PartitionFor(g, h.cfg.Partitions) != p {
			if _, err := h.c.Fetch(g, nil); !errors.Is(err, kerr.NotCoordinator) {
				t.Fatalf("group %q of an unheld partition: %v", g, err)
			}
			break
		}
	}
}

// chanOf adapts a receive-only channel for recv.
func chanOf(ch <-chan struct{}) chan struct{} {
	out := make(chan struct{}, 1)
	go func() { <-ch; out <- struct{}{} }()
	return out
}

// An Elect with no local log (the partition is offline here) answers
// COORDINATOR_NOT_AVAILABLE for its groups.
func TestElectOffline(t *testing.T) {
	h := newHarness(t)
	h.cfg.LoadOnElection = true
	h.reopen()
	p := PartitionFor("g", h.cfg.Partitions)
	<-h.c.Elect(p, 0, nil)
	if _, err := h.c.Fetch("g", nil); !errors.Is(err, kerr.CoordinatorNotAvailable) {
		t.Fatalf("offline partition: %v, want COORDINATOR_NOT_AVAILABLE", err)
	}
	if h.c.OfflinePartitions() != 1 {
		t.Fatalf("offline partitions %d, want 1", h.c.OfflinePartitions())
	}
}
