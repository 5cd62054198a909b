package group

import (
	"context"
	"testing"
)

// TestTxnOffsets: transactional offsets are appended as a transactional
// batch and stay pending (unstable, not fetched), across a reopen too,
// until a marker: the COMMIT marker in the log plus EndTxn makes them
// committed (and a reopen replays them so), an ABORT drops them; a
// repeated marker does nothing.
func TestTxnOffsets(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	tp := TopicPartition{"in", 0}
	p := PartitionFor("g", h.c.Partitions())
	commit := func(pid int64, epoch int16, off int64) {
		t.Helper()
		errs := h.c.TxnCommit(ctx, TxnCommitRequest{Group: "g", Generation: -1, ProducerID: pid, ProducerEpoch: epoch,
			Offsets: map[TopicPartition]Offset{tp: {Offset: off, LeaderEpoch: -1}}})
		if errs[tp] != nil {
			t.Fatal(errs[tp])
		}
	}
	marker := func(pid int64, epoch int16, ok bool) {
		t.Helper()
		if _, err := h.logs[p].AppendMarker(pid, epoch, ok, 0); err != nil {
			t.Fatal(err)
		}
		h.c.EndTxn(p, pid, ok)
	}
	fetch := func() Committed {
		t.Helper()
		got, err := h.c.Fetch("g", []TopicPartition{tp})
		if err != nil {
			t.Fatal(err)
		}
		return got[0]
	}
	commit(7, 0, 10)
	if c := fetch(); c.Found || !c.Unstable {
		t.Fatalf("pending: %+v, want not found and unstable", c)
	}
	h.reopen() // a crash before the marker: still pending
	if c := fetch(); c.Found || !c.Unstable {
		t.Fatalf("pending after reopen: %+v", c)
	}
	marker(7, 0, false)
	if c := fetch(); c.Found || c.Unstable {
		t.Fatalf("after abort: %+v", c)
	}
	commit(7, 1, 20)         // the next transaction, a new epoch
	h.c.EndTxn(p+1, 7, true) // another partition's marker
	if c := fetch(); !c.Unstable {
		t.Fatalf("after another partition's marker: %+v", c)
	}
	marker(7, 1, true)
	marker(7, 1, true)
	if c := fetch(); !c.Found || c.Unstable || c.Offset.Offset != 20 {
		t.Fatalf("after commit: %+v", c)
	}
	commit(7, 1, 30)
	marker(7, 1, false)
	h.reopen()
	if c := fetch(); !c.Found || c.Unstable || c.Offset.Offset != 20 {
		t.Fatalf("after reopen: %+v, want 20 committed (30 aborted)", c)
	}
}
