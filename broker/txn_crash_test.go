package broker

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice/sluice/txn"
)

// TestTxnCrashAfterPrepare: the broker crashes (the store abandoned, as
// kill -9 leaves it) after EndTxn wrote PrepareCommit (or PrepareAbort)
// and before any marker; after the restart the coordinator completes the
// transaction, and read_committed shows all of it (commit) or none
// (abort), with the last stable offset moving on.
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
	ts.Broker().testBeforeMarkers = func(txn.Markers) error {
		close(reached)
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
	wantN := 0
	if commit {
		wantN = n
	}
	checkCommitted(t, ts, "out", wantN)
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
