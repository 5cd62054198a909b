package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKillDuringTransactions: a franz-go transactional producer runs
// transactions of 200 records of 1 KB over 3 partitions (every third aborted);
// sluiced is killed with SIGKILL at a random moment and started again on
// the same port. Once no transaction is open (the one cut off is aborted
// at its 2 s timeout, or completed if it was prepared), read_committed
// shows each transaction whole or not at all: every acknowledged commit
// whole, every acknowledged abort absent.
func TestKillDuringTransactions(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "server.properties")
	if err := os.WriteFile(cfg, []byte("transaction.state.log.num.partitions=3\noffsets.topic.num.partitions=1\n"+
		"transaction.abort.timed.out.transaction.cleanup.interval.ms=100\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := start(t, dir, "--config", cfg)
	addr := d.Addr
	const topic, perTxn = "txkill", 200
	createTopic(t, addr, topic, 3)

	var mu sync.Mutex
	outcome := map[int]string{} // txn → "commit" or "abort" when acknowledged
	done := make(chan int, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cl := newClient(t, addr, kgo.TransactionalID("txkill"), kgo.TransactionTimeout(2*time.Second),
		kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.RetryTimeout(2*time.Second))
	pad := make([]byte, 1000)
	for k := range pad {
		pad[k] = 'x'
	}
	go func() {
		i := 0
		defer func() { done <- i }()
		for ; ctx.Err() == nil; i++ {
			if cl.BeginTransaction() != nil {
				return
			}
			for j := range perTxn {
				cl.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: fmt.Appendf(pad[:0:0], "%d-%d-%s", i, j, pad)}, nil)
			}
			if cl.Flush(ctx) != nil {
				return
			}
			try, what := kgo.TryCommit, "commit"
			if i%3 == 2 {
				try, what = kgo.TryAbort, "abort"
			}
			if cl.EndTransaction(ctx, try) != nil {
				return
			}
			mu.Lock()
			outcome[i] = what
			mu.Unlock()
		}
	}()
	deadline := time.Now().Add(ioTimeout)
	for {
		mu.Lock()
		n := len(outcome)
		mu.Unlock()
		if n >= 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d transactions before the kill", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(time.Duration(rand.IntN(50)) * time.Millisecond)
	d.Kill()
	cancel() // the producer stops; what it was doing is left to the coordinator
	last := <-done
	cl.Close()
	start(t, dir, "--config", cfg, "--listen", addr) // stopped at cleanup
	mu.Lock()
	t.Logf("killed during transaction %d; %d acknowledged before", last, len(outcome))
	mu.Unlock()

	adm := kadm.NewClient(newClient(t, addr))
	if ds, err := adm.DescribeTransactions(context.Background(), "txkill"); err == nil {
		t.Logf("after the restart: %s", ds["txkill"].State)
	}
	waitOpen := time.Now().Add(ioTimeout)
	for {
		ls, err := adm.ListTransactions(context.Background(), nil, []string{"Ongoing", "PrepareCommit", "PrepareAbort"})
		if err == nil && len(ls) == 0 {
			break
		}
		if time.Now().After(waitOpen) {
			t.Fatalf("transactions still open after the restart: %v %v", ls, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	seen := readCommitted(t, addr, topic)
	for i := 0; i <= last; i++ {
		n := seen[fmt.Sprint(i)]
		switch {
		case n != 0 && n != perTxn:
			t.Errorf("transaction %d: %d of %d records visible", i, n, perTxn)
		case outcome[i] == "commit" && n != perTxn:
			t.Errorf("acknowledged commit %d: %d of %d records visible", i, n, perTxn)
		case outcome[i] == "abort" && n != 0:
			t.Errorf("acknowledged abort %d: %d records visible", i, n)
		}
	}
}

// readCommitted reads topic from the start with read_committed up to its
// end offsets (no transaction may be open) and counts records per key.
func readCommitted(t *testing.T, addr, topic string) map[string]int {
	t.Helper()
	cl := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.KeepControlRecords())
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	seen := map[string]int{}
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %v (left %v)", topic, ctx.Err(), left)
		}
		for _, r := range fs.Records() {
			if !r.Attrs.IsControl() {
				seen[string(r.Key)]++
				if !strings.HasPrefix(string(r.Value), string(r.Key)+"-") {
					t.Fatalf("record %q under key %q", r.Value, r.Key)
				}
			}
			if e, ok := left[r.Partition]; ok && r.Offset >= e-1 {
				delete(left, r.Partition)
			}
		}
	}
	return seen
}
