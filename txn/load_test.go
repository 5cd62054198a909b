package txn

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// A coordinator opened with LoadOnElection holds no id until Elect
// (NOT_COORDINATOR); while the partition loads, COORDINATOR_LOAD_IN_PROGRESS;
// once loaded, a transaction left prepared by the previous leader is
// completed with markers carrying the new leader epoch as coordinator
// epoch; Resign forgets the ids (NOT_COORDINATOR), and a stale Elect
// changes nothing.
func TestElectLoadResign(t *testing.T) {
	h := newHarness(t)
	h.cfg.testAfterPrepare = func() bool { return true } // the old leader dies after PrepareCommit
	h.reopen()
	ctx := context.Background()
	pid, epoch := h.init("a", -1, -1)
	if err := h.c.AddPartitions("a", pid, epoch, []TopicPartition{tp0, tp1}); err != nil {
		t.Fatal(err)
	}
	if err := h.c.EndTxn(ctx, "a", pid, epoch, true); err != nil {
		t.Fatal(err)
	}
	h.takeMarkers()
	p := PartitionFor("a", h.cfg.Partitions)

	release := make(chan struct{})
	entered := make(chan int32, 4)
	h.cfg.testAfterPrepare = nil
	h.cfg.LoadOnElection = true
	h.cfg.testBeforeLoad = func(p int32) {
		entered <- p
		<-release
	}
	h.reopen()
	if _, _, err := h.c.InitProducerID(ctx, "a", time.Minute, -1, -1); !errors.Is(err, kerr.NotCoordinator) {
		t.Fatalf("before Elect: %v, want NOT_COORDINATOR", err)
	}
	done := h.c.Elect(p, 7, h.logs[p])
	select {
	case got := <-entered:
		if got != p {
			t.Fatalf("loading %d, want %d", got, p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("load did not start")
	}
	if err := h.c.EndTxn(ctx, "a", pid, epoch, true); !errors.Is(err, kerr.CoordinatorLoadInProgress) {
		t.Fatalf("while loading: %v, want COORDINATOR_LOAD_IN_PROGRESS", err)
	}
	close(release)
	<-done
	if d := h.describe("a"); !d.Found || d.State != PrepareCommit {
		t.Fatalf("loaded: %+v, want PrepareCommit", d)
	}
	h.c.Tick() // Manual: what the background does after a load
	ms := h.takeMarkers()
	if len(ms) != 1 || !ms[0].Commit || ms[0].CoordinatorEpoch != 7 || ms[0].ProducerID != pid || len(ms[0].Partitions) != 2 {
		t.Fatalf("markers after load: %+v, want one COMMIT at coordinator epoch 7", ms)
	}
	if d := h.describe("a"); d.State != CompleteCommit {
		t.Fatalf("after completion: %v", d.State)
	}
	if err := h.c.EndTxn(ctx, "a", pid, epoch, true); err != nil {
		t.Fatalf("retried EndTxn on the new coordinator: %v", err)
	}

	h.c.Resign(p, 8)
	if err := h.c.AddPartitions("a", pid, epoch, []TopicPartition{tp0}); !errors.Is(err, kerr.NotCoordinator) {
		t.Fatalf("after Resign: %v, want NOT_COORDINATOR", err)
	}
	if d := h.describe("a"); d.Found {
		t.Fatalf("unloaded id still described: %+v", d)
	}
	<-h.c.Elect(p, 7, h.logs[p]) // stale
	if err := h.c.Available("a"); !errors.Is(err, kerr.NotCoordinator) {
		t.Fatalf("after a stale Elect: %v", err)
	}
	h.c.cfg.testBeforeLoad = nil
	<-h.c.Elect(p, 9, h.logs[p])
	if err := h.c.Available("a"); err != nil {
		t.Fatalf("after Elect at 9: %v", err)
	}
	if d := h.describe("a"); d.State != CompleteCommit {
		t.Fatalf("reloaded: %v", d.State)
	}
}
