package group

import (
	"context"
	"testing"
)

// TestTxnOffsets: transactional offsets stay pending (unstable, not
// fetched) until the commit marker materialises them durably; an abort
// discards them; a repeated marker does nothing.
func TestTxnOffsets(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	tp := TopicPartition{"in", 0}
	p := PartitionFor("g", h.c.Partitions())
	commit := func(pid int64, off int64) {
		t.Helper()
		errs := h.c.TxnCommit(TxnCommitRequest{Group: "g", Generation: -1, ProducerID: pid,
			Offsets: map[TopicPartition]Offset{tp: {Offset: off, LeaderEpoch: -1}}})
		if errs[tp] != nil {
			t.Fatal(errs[tp])
		}
	}
	fetch := func() Committed {
		t.Helper()
		got, err := h.c.Fetch("g", []TopicPartition{tp})
		if err != nil {
			t.Fatal(err)
		}
		return got[0]
	}
	commit(7, 10)
	if c := fetch(); c.Found || !c.Unstable {
		t.Fatalf("pending: %+v, want not found and unstable", c)
	}
	if err := h.c.CompleteTxn(ctx, p, 7, false); err != nil {
		t.Fatal(err)
	}
	if c := fetch(); c.Found || c.Unstable {
		t.Fatalf("after abort: %+v", c)
	}
	commit(7, 20)
	if err := h.c.CompleteTxn(ctx, p+1, 7, true); err != nil { // another partition's marker
		t.Fatal(err)
	}
	if c := fetch(); !c.Unstable {
		t.Fatalf("after another partition's marker: %+v", c)
	}
	if err := h.c.CompleteTxn(ctx, p, 7, true); err != nil {
		t.Fatal(err)
	}
	if err := h.c.CompleteTxn(ctx, p, 7, true); err != nil {
		t.Fatal(err)
	}
	if c := fetch(); !c.Found || c.Unstable || c.Offset.Offset != 20 {
		t.Fatalf("after commit: %+v", c)
	}
	h.reopen()
	if c := fetch(); !c.Found || c.Offset.Offset != 20 {
		t.Fatalf("after reopen: %+v", c)
	}
}
