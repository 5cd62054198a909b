package txn

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestEndTxnV2BumpsEveryTransaction: transactions v2 (EndTxn v5) bump the
// epoch at every commit and abort; the markers carry the bumped epoch, the
// producer continues with it, a retry with the epoch before the bump
// answers the current one (also after a reopen), the old epoch is fenced
// otherwise, and an abort with no transaction open bumps too.
func TestEndTxnV2BumpsEveryTransaction(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	pid, epoch := h.init("a", -1, -1)
	for i, commit := range []bool{true, false, true} {
		if err := h.c.AddPartitions("a", pid, epoch, []TopicPartition{tp0, tp1}); err != nil {
			t.Fatalf("txn %d: AddPartitions: %v", i, err)
		}
		p, e, err := h.c.EndTxnV2(ctx, "a", pid, epoch, commit)
		if err != nil || p != pid || e != epoch+1 {
			t.Fatalf("txn %d: EndTxnV2 = %d/%d, %v; want %d/%d", i, p, e, err, pid, epoch+1)
		}
		want := Markers{TransactionalID: "a", ProducerID: pid, ProducerEpoch: epoch + 1, Commit: commit, Partitions: []TopicPartition{tp0, tp1}}
		if got := h.takeMarkers(); len(got) != 1 || !markersEqual(got[0], want) {
			t.Fatalf("txn %d: markers %+v, want %+v", i, got, want)
		}
		// The response was lost: the retry answers the same.
		if p, e, err := h.c.EndTxnV2(ctx, "a", pid, epoch, commit); err != nil || p != pid || e != epoch+1 {
			t.Fatalf("txn %d: retry = %d/%d, %v", i, p, e, err)
		}
		if len(h.takeMarkers()) != 0 {
			t.Fatalf("txn %d: a retry wrote markers", i)
		}
		if _, _, err := h.c.EndTxnV2(ctx, "a", pid, epoch, !commit); err != kerr.InvalidTxnState {
			t.Fatalf("txn %d: opposite decision at the old epoch: %v, want INVALID_TXN_STATE", i, err)
		}
		if _, _, err := h.c.EndTxnV2(ctx, "a", pid, epoch-1, commit); err != kerr.ProducerFenced {
			t.Fatalf("txn %d: two epochs behind: %v, want PRODUCER_FENCED", i, err)
		}
		if err := h.c.AddPartitions("a", pid, epoch, []TopicPartition{tp0}); err != kerr.ProducerFenced {
			t.Fatalf("txn %d: add at the old epoch: %v, want PRODUCER_FENCED", i, err)
		}
		if err := h.c.CheckProduce("a", pid, epoch, tp0); err != kerr.InvalidProducerEpoch {
			t.Fatalf("txn %d: produce at the old epoch: %v, want INVALID_PRODUCER_EPOCH", i, err)
		}
		epoch++
	}
	h.reopen()
	if p, e, err := h.c.EndTxnV2(ctx, "a", pid, epoch-1, true); err != nil || p != pid || e != epoch {
		t.Fatalf("retry after reopen = %d/%d, %v", p, e, err)
	}
	// No transaction open: an abort bumps (no markers), a commit is refused.
	if _, _, err := h.c.EndTxnV2(ctx, "a", pid, epoch, true); err != kerr.InvalidTxnState {
		t.Fatalf("commit of nothing: %v, want INVALID_TXN_STATE", err)
	}
	if p, e, err := h.c.EndTxnV2(ctx, "a", pid, epoch, false); err != nil || p != pid || e != epoch+1 {
		t.Fatalf("abort of nothing = %d/%d, %v", p, e, err)
	}
	if got := h.takeMarkers(); len(got) != 1 || len(got[0].Partitions) != 0 {
		t.Fatalf("abort of nothing: markers %+v", got)
	}
	if d := h.describe("a"); d.State != CompleteAbort || d.ProducerEpoch != epoch+1 {
		t.Fatalf("after abort of nothing: %+v", d)
	}
}

// TestEndTxnV2EpochExhausted: at the last epoch the v2 bump writes the
// markers at math.MaxInt16 and moves the producer to a new producer id at
// epoch 0; a crash after the prepare completes the same way at reopen, and
// a retry with the old producer id answers the new one.
func TestEndTxnV2EpochExhausted(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	pid, _ := h.init("a", -1, -1)
	// Fast-forward the id to the last usable epoch, as thousands of
	// transactions would leave it.
	m := h.c.mu.txns["a"]
	st := m.txnState.clone()
	st.epoch = math.MaxInt16 - 1
	if err := h.c.appendRecord(m.part, stateRecord("a", &st)); err != nil {
		t.Fatal(err)
	}
	h.cfg.testAfterPrepare = func() bool { return true }
	h.reopen()
	epoch := int16(math.MaxInt16 - 1)
	if err := h.c.AddPartitions("a", pid, epoch, []TopicPartition{tp0}); err != nil {
		t.Fatal(err)
	}
	np, ne, err := h.c.EndTxnV2(ctx, "a", pid, epoch, true)
	if err != nil || np == pid || ne != 0 {
		t.Fatalf("EndTxnV2 at the last epoch = %d/%d, %v; want a new producer id at 0", np, ne, err)
	}
	h.cfg.testAfterPrepare = nil
	h.reopen() // the crash: prepared, no markers
	h.c.Tick()
	want := Markers{TransactionalID: "a", ProducerID: pid, ProducerEpoch: math.MaxInt16, Commit: true, Partitions: []TopicPartition{tp0}}
	if got := h.takeMarkers(); len(got) != 1 || !markersEqual(got[0], want) {
		t.Fatalf("recovery markers %+v, want %+v", got, want)
	}
	if d := h.describe("a"); d.State != CompleteCommit || d.ProducerID != np || d.ProducerEpoch != 0 {
		t.Fatalf("after recovery: %+v, want %d/0", d, np)
	}
	if p, e, err := h.c.EndTxnV2(ctx, "a", pid, epoch, true); err != nil || p != np || e != 0 {
		t.Fatalf("retry with the old producer id = %d/%d, %v", p, e, err)
	}
	if err := h.c.AddPartitions("a", np, 0, []TopicPartition{tp1}); err != nil {
		t.Fatalf("next transaction on the new producer id: %v", err)
	}
}

// TestEndTxnV2AfterFence: an InitProducerId of a second instance aborts the
// first's transaction; the first's v2 commit is fenced.
func TestEndTxnV2AfterFence(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	pid, epoch := h.init("a", -1, -1)
	if err := h.c.AddPartitions("a", pid, epoch, []TopicPartition{tp0}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.c.EndTxnV2(ctx, "a", pid, epoch, true); err != nil {
		t.Fatal(err)
	}
	epoch++
	if err := h.c.AddPartitions("a", pid, epoch, []TopicPartition{tp0}); err != nil {
		t.Fatal(err)
	}
	h.takeMarkers()
	p2, e2 := h.init("a", -1, -1)
	if p2 != pid || e2 <= epoch {
		t.Fatalf("second instance %d/%d", p2, e2)
	}
	if got := h.takeMarkers(); len(got) != 1 || got[0].Commit || got[0].ProducerEpoch <= epoch {
		t.Fatalf("fencing abort markers %+v", got)
	}
	if _, _, err := h.c.EndTxnV2(ctx, "a", pid, epoch, true); err != kerr.ProducerFenced {
		t.Fatalf("fenced commit: %v, want PRODUCER_FENCED", err)
	}
}

func markersEqual(a, b Markers) bool {
	return a.TransactionalID == b.TransactionalID && a.ProducerID == b.ProducerID && a.ProducerEpoch == b.ProducerEpoch &&
		a.Commit == b.Commit && slices.Equal(a.Partitions, b.Partitions)
}
