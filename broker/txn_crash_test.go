package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/txn"
)

// TestTxnCrashAfterPrepare: the broker crashes (the store abandoned, as
// kill -9 leaves it) after EndTxn wrote PrepareCommit (or PrepareAbort)
// and before any marker; after the restart the coordinator completes the
// transaction, and read_committed shows all of it (commit) or none
// (abort), with the last stable offset moving on; the group offset the
// transaction committed (TxnOffsetCommit) is there after a commit and not
// after an abort.
func TestTxnCrashAfterPrepare(t *testing.T) {
	for _, commit := range []bool{true, false} {
		t.Run(fmt.Sprintf("commit=%v", commit), func(t *testing.T) { testTxnCrashAfterPrepare(t, commit) })
	}
}

func testTxnCrashAfterPrepare(t *testing.T, commit bool) {
	dir := t.TempDir()
	ts := startTxnServer(t, dir)
	ts.createTopic(t, "out", 3, nil)
	addr := ts.addr
	reached := make(chan struct{})
	release := make(chan struct{})
	var reachedOnce sync.Once
	ts.Broker().testBeforeMarkers = func(txn.Markers) error {
		// The coordinator retries the markers on its next tick until the
		// server stops: every attempt fails, the first one tells the test.
		reachedOnce.Do(func() { close(reached) })
		<-release
		return errors.New("injected crash: no marker written")
	}
	ctx := testCtx(t)
	cl := newKgo(t, addr, kgo.TransactionalID("crash"), kgo.DefaultProduceTopic("out"),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	const n = 30
	for i := range n {
		if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprintf("v%d", i))).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// The transaction commits a group's offset too (sendOffsetsToTransaction).
	pid, epoch, err := cl.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rc := dialRaw(t, addr)
	ao := kmsg.NewPtrAddOffsetsToTxnRequest()
	ao.Version = 3
	ao.TransactionalID, ao.ProducerID, ao.ProducerEpoch, ao.Group = "crash", pid, epoch, "crash-group"
	if code := rc.roundTrip(ao).(*kmsg.AddOffsetsToTxnResponse).ErrorCode; code != 0 {
		t.Fatalf("AddOffsetsToTxn: %v", kerr.ErrorForCode(code))
	}
	oc := kmsg.NewPtrTxnOffsetCommitRequest()
	oc.Version = 3
	oc.TransactionalID, oc.Group, oc.ProducerID, oc.ProducerEpoch, oc.Generation = "crash", "crash-group", pid, epoch, -1
	ot := kmsg.NewTxnOffsetCommitRequestTopic()
	ot.Topic = "out"
	op := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	op.Partition, op.Offset, op.LeaderEpoch = 0, 42, -1
	ot.Partitions = append(ot.Partitions, op)
	oc.Topics = append(oc.Topics, ot)
	if code := rc.roundTrip(oc).(*kmsg.TxnOffsetCommitResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("TxnOffsetCommit: %v", kerr.ErrorForCode(code))
	}
	ended := make(chan error, 1)
	go func() {
		ec, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		ended <- cl.EndTransaction(ec, kgo.TransactionEndTry(commit))
	}()
	<-reached
	ts.Store().Abandon() // the crash: nothing flushed or closed
	close(release)
	start := time.Now()
	endErr := <-ended // whatever the client got: the decision is the log's
	t.Logf("EndTransaction: %v after %v", endErr, time.Since(start))
	cl.Close()
	stopGroupServer(t, ts)
	t.Logf("stopped after %v", time.Since(start))

	ts = startTxnServer(t, dir, func(c *ServerConfig) { c.Net.Addr = addr })
	tc, err := ts.Broker().txns()
	if err != nil {
		t.Fatal(err)
	}
	want := txn.CompleteAbort
	if commit {
		want = txn.CompleteCommit
	}
	waitFor(t, "the prepared transaction completed", 10*time.Second, func() bool {
		return tc.Describe([]string{"crash"})[0].State == want
	})
	out := ts.Broker().topics.get("out")
	for p := range int32(3) {
		l := out.partition(p)
		if l.LastStableOffset() != l.HighWatermark() {
			t.Fatalf("partition %d: LSO %d stuck below the HW %d", p, l.LastStableOffset(), l.HighWatermark())
		}
	}
	wantN, wantOffset := 0, int64(-1)
	if commit {
		wantN, wantOffset = n, 42
	}
	checkCommitted(t, ts, "out", wantN)
	of := kmsg.NewPtrOffsetFetchRequest()
	of.Version = 7
	of.Group, of.RequireStable = "crash-group", true
	oft := kmsg.NewOffsetFetchRequestTopic()
	oft.Topic, oft.Partitions = "out", []int32{0}
	of.Topics = append(of.Topics, oft)
	got := dialRaw(t, ts.addr).roundTrip(of).(*kmsg.OffsetFetchResponse).Topics[0].Partitions[0]
	if got.ErrorCode != 0 || got.Offset != wantOffset {
		t.Fatalf("the group's offset after recovery: %d (%v), want %d", got.Offset, kerr.ErrorForCode(got.ErrorCode), wantOffset)
	}
}

// checkCommitted reads topic with read_committed up to each partition's
// LSO and checks that it holds exactly n data records.
func checkCommitted(t *testing.T, ts *testServer, topic string, n int) {
	t.Helper()
	tp := ts.Broker().topics.get(topic)
	end := map[int32]int64{}
	for p := range int32(len(tp.partitions)) {
		if lso := tp.partition(p).LastStableOffset(); lso > 0 {
			end[p] = lso
		}
	}
	cl := newKgo(t, ts.addr, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.KeepControlRecords())
	ctx := testCtx(t)
	got := 0
	for len(end) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %v (left: %v)", topic, ctx.Err(), end)
		}
		for _, r := range fs.Records() {
			if !r.Attrs.IsControl() {
				got++
			}
			if e, ok := end[r.Partition]; ok && r.Offset >= e-1 {
				delete(end, r.Partition)
			}
		}
	}
	if got != n {
		t.Fatalf("read_committed shows %d records of the transaction, want %d", got, n)
	}
}
