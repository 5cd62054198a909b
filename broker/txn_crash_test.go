package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

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

// TestTxnCrashMarkersPartlyWritten: the broker crashes (the store
// abandoned, as kill -9 leaves it) after EndTxn wrote PrepareCommit (or
// PrepareAbort) and the marker of one partition of three, the other two
// markers not written. At the restart the coordinator writes the markers
// again (the partition that had one gets a second, which changes nothing)
// and completes the transaction: read_committed shows the whole
// transaction exactly once (commit) or nothing of it (abort), the LSO is
// not stuck, and the transactional id goes on: a new producer instance
// commits a next transaction. Run with transactions v2 (EndTxn v5: the
// markers carry the bumped epoch) and v1 (a client capped at EndTxn v4).
func TestTxnCrashMarkersPartlyWritten(t *testing.T) {
	pinned := kversion.Stable()
	pinned.SetMaxKeyVersion(int16(kmsg.EndTxn), 4)
	for _, tc := range []struct {
		name   string
		commit bool
		opts   []kgo.Opt
	}{
		{"v2/commit", true, nil},
		{"v2/abort", false, nil},
		{"v1/commit", true, []kgo.Opt{kgo.MaxVersions(pinned)}},
	} {
		t.Run(tc.name, func(t *testing.T) { testTxnCrashMarkersPartlyWritten(t, tc.commit, tc.opts) })
	}
}

func testTxnCrashMarkersPartlyWritten(t *testing.T, commit bool, opts []kgo.Opt) {
	dir := t.TempDir()
	ts := startTxnServer(t, dir)
	ts.createTopic(t, "out", 3, nil)
	addr := ts.addr
	reached := make(chan struct{})
	release := make(chan struct{})
	var reachedOnce sync.Once
	var markerEpoch atomic.Int32
	ts.Broker().testBeforeMarker = func(m txn.Markers, tp txn.TopicPartition) error {
		markerEpoch.Store(int32(m.ProducerEpoch))
		if tp.Partition == 0 {
			return nil // written before the crash
		}
		reachedOnce.Do(func() { close(reached) })
		<-release
		return errors.New("injected crash: marker not written")
	}
	ctx := testCtx(t)
	cl := newKgo(t, addr, append([]kgo.Opt{kgo.TransactionalID("partial"), kgo.DefaultProduceTopic("out"),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner())}, opts...)...)
	if err := cl.Ping(ctx); err != nil { // learn transaction.version before BeginTransaction
		t.Fatal(err)
	}
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	const n = 30
	for i := range n {
		if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprintf("v%d", i))).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	_, epoch, err := cl.ProducerID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p0 := ts.Broker().topics.get("out").partition(0)
	leo0 := p0.LogEndOffset()
	ended := make(chan error, 1)
	go func() {
		ec, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		ended <- cl.EndTransaction(ec, kgo.TransactionEndTry(commit))
	}()
	<-reached
	waitFor(t, "the marker of partition 0", 10*time.Second, func() bool { return p0.LogEndOffset() == leo0+1 })
	ts.Store().Abandon() // the crash: nothing flushed or closed
	close(release)
	t.Logf("EndTransaction: %v", <-ended) // whatever the client got: the decision is the log's
	cl.Close()
	stopGroupServer(t, ts)
	v2 := len(opts) == 0
	if got := int16(markerEpoch.Load()); v2 && got != epoch+1 || !v2 && got != epoch {
		t.Fatalf("markers at epoch %d, producer at %d (v2: %v)", got, epoch, v2)
	}

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
		return tc.Describe([]string{"partial"})[0].State == want
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

	// The id goes on: a new instance fences whatever is left and commits.
	next := newKgo(t, ts.addr, append([]kgo.Opt{kgo.TransactionalID("partial"), kgo.DefaultProduceTopic("out")}, opts...)...)
	if err := next.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := next.ProduceSync(ctx, kgo.StringRecord("after")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := next.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	checkCommitted(t, ts, "out", wantN+1)
}
