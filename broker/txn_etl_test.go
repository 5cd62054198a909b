package broker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice/sluice/txn"
)

// etlMember is one consume-transform-produce member: a franz-go
// GroupTransactSession reading "in" in group "etl" (read_committed,
// franz-go always asks RequireStable offsets) and copying each record to "out" in a
// transaction, aborting some at random.
type etlMember struct {
	sess      *kgo.GroupTransactSession
	committed *atomic.Int64 // input records whose transaction committed
	rng       *rand.Rand
	maxPoll   int
	commits   int
	aborts    int
}

func newEtlMember(t *testing.T, addr, txnID string, committed *atomic.Int64, seed uint64, maxPoll int, opts ...kgo.Opt) *etlMember {
	t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.TransactionalID(txnID), kgo.ConsumerGroup("etl"),
		kgo.ConsumeTopics("in"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100 * time.Millisecond),
		kgo.SessionTimeout(6 * time.Second), kgo.DefaultProduceTopic("out")}, opts...)
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return &etlMember{sess: sess, committed: committed, rng: rand.New(rand.NewPCG(seed, 1)), maxPoll: maxPoll}
}

// step runs one poll and, if records came, one transaction. kill stops
// the member after producing, before ending the transaction (a crash).
func (m *etlMember) step(ctx context.Context, kill bool) error {
	pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	fs := m.sess.PollRecords(pctx, m.maxPoll)
	cancel()
	if err := fs.Err0(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		if errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed) {
			return nil
		}
		return fmt.Errorf("poll: %w", err)
	}
	recs := fs.Records()
	if len(recs) == 0 {
		return nil
	}
	if err := m.sess.Begin(); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	for _, r := range recs {
		m.sess.Produce(ctx, &kgo.Record{Key: r.Key, Value: r.Value}, nil)
	}
	if kill {
		m.sess.Client().Close() // no EndTxn: the transaction hangs until its timeout
		return nil
	}
	try := kgo.TryCommit
	if m.rng.IntN(4) == 0 {
		try = kgo.TryAbort
	}
	committed, err := m.sess.End(ctx, try)
	if err != nil {
		return fmt.Errorf("end: %w", err)
	}
	if committed {
		m.committed.Add(int64(len(recs)))
		m.commits++
	} else {
		m.aborts++
	}
	return nil
}

// TestTxnEtlExactlyOnce: two franz-go GroupTransactSession members copy
// "in" to "out" with random aborts; one is killed mid-transaction (its
// transaction is aborted at its timeout, its partitions move to the
// other). read_committed then shows every input record in "out" exactly
// once.
func TestTxnEtlExactlyOnce(t *testing.T) {
	ts := startTxnServer(t, "")
	ts.createTopic(t, "in", 3, nil)
	ts.createTopic(t, "out", 3, nil)
	const n = 900
	prod := newKgo(t, ts.addr, kgo.DefaultProduceTopic("in"))
	ctx := testCtx(t)
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: []byte(strconv.Itoa(i))})
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	var committed atomic.Int64
	victim := newEtlMember(t, ts.addr, "etl-victim", &committed, seed, 20, kgo.TransactionTimeout(time.Second))
	survivor := newEtlMember(t, ts.addr, "etl-survivor", &committed, seed+1, 50)
	defer survivor.sess.Close()

	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Go(func() {
		for i := 0; ; i++ {
			kill := i == 5
			if err := victim.step(ctx, kill); err != nil {
				errc <- fmt.Errorf("victim: %w", err)
				return
			}
			if kill {
				return
			}
		}
	})
	wg.Go(func() {
		for committed.Load() < n && ctx.Err() == nil {
			if err := survivor.step(ctx, false); err != nil {
				errc <- fmt.Errorf("survivor: %w", err)
				return
			}
		}
	})
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	t.Logf("victim: %d commits %d aborts before its kill; survivor: %d commits %d aborts",
		victim.commits, victim.aborts, survivor.commits, survivor.aborts)
	if ctx.Err() != nil {
		t.Fatalf("committed %d of %d input records before the deadline", committed.Load(), n)
	}
	tc, err := ts.Broker().txns()
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "no transaction in progress", 20*time.Second, func() bool {
		return len(tc.List([]txn.State{txn.Ongoing, txn.PrepareCommit, txn.PrepareAbort}, nil, 0)) == 0
	})
	checkExactlyOnce(t, ts, "out", n)
}

// checkExactlyOnce reads topic with read_committed up to each partition's
// last stable offset (no transaction is in progress) and checks that keys
// 0..n-1 each appear exactly once.
func checkExactlyOnce(t *testing.T, ts *testServer, topic string, n int) {
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
	seen := map[string]int{}
	for len(end) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %v (left: %v)", topic, ctx.Err(), end)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("fetch %d: %v", p, err) })
		for _, r := range fs.Records() {
			if !r.Attrs.IsControl() {
				seen[string(r.Key)]++
			}
			if e, ok := end[r.Partition]; ok && r.Offset >= e-1 {
				delete(end, r.Partition)
			}
		}
	}
	for i := range n {
		if c := seen[strconv.Itoa(i)]; c != 1 {
			t.Errorf("input record %d appears %d times in %s", i, c, topic)
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct keys in %s, want %d", len(seen), topic, n)
	}
}
