package broker

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice/sluice/controller"
	"github.com/sluice/sluice/partition"
)

// TestManyLogsCrashRecovery: a broker (a one-node quorum) is given 500
// partitions at once: their logs are created (one syncfs per topic) and
// their leaderships begun (epochs recorded without writing the
// leader-epoch checkpoints: the first append writes them). It takes a
// record on one partition per topic and crashes right after (kill -9: the
// store abandoned, nothing flushed or closed). Restarted on its directory,
// with the metadata restored from the raft snapshot taken before the
// crash, it has all 500 logs, none offline, the records and the epoch they
// were written in; a real client produces to them; a second crash and
// restart keep those records too.
func TestManyLogsCrashRecovery(t *testing.T) {
	const topics, perTopic = 5, 100
	dir := t.TempDir()
	opt := withController(1, []controller.Voter{{ID: 1, Addr: freeControllerAddr(t)}})
	key := func(l *partition.Log) string { return fmt.Sprintf("%s-%d", l.Topic(), l.Partition()) }
	appended := map[string]int64{} // the log end offset each log must have at least
	epochAt0 := map[string]bool{}  // an epoch entry starting at 0 was written by the first append

	// produce sends one record to partitions [0, upTo] of every topic
	// through a real client, and notes the offsets.
	produce := func(ts *testServer, upTo int32) {
		t.Helper()
		cl := newKgo(t, ts.addr, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RecordRetries(20))
		defer cl.Close()
		var recs []*kgo.Record
		for ti := range topics {
			for p := range upTo + 1 {
				recs = append(recs, &kgo.Record{Topic: fmt.Sprintf("many-%d", ti), Partition: p, Value: []byte("v")})
			}
		}
		for _, r := range cl.ProduceSync(testCtx(t), recs...) {
			if r.Err != nil {
				t.Fatalf("produce to %s-%d: %v", r.Record.Topic, r.Record.Partition, r.Err)
			}
			k := fmt.Sprintf("%s-%d", r.Record.Topic, r.Record.Partition)
			appended[k] = max(appended[k], r.Record.Offset+1)
			if r.Record.Offset == 0 {
				epochAt0[k] = true
			}
		}
	}
	// restart starts the broker on dir and checks its logs after its first
	// reconcile pass.
	restart := func() *testServer {
		t.Helper()
		ts := startServer(t, dir, opt)
		br := ts.Broker()
		select {
		case <-br.cl.rec.ready:
		case <-time.After(30 * time.Second):
			t.Fatal("no first reconcile pass within 30s")
		}
		logs := br.store.Logs()
		n := 0
		for _, l := range logs {
			if l.Topic() < "many-" || l.Topic() > "many-9" {
				continue
			}
			n++
			if want := appended[key(l)]; l.LogEndOffset() < want {
				t.Fatalf("%s: log end %d after the crash, want >= %d", key(l), l.LogEndOffset(), want)
			}
			if es := l.LeaderEpochs(); epochAt0[key(l)] && (len(es) == 0 || es[0].StartOffset != 0) {
				t.Fatalf("%s: leader epochs %v after the crash: the first append's epoch is lost", key(l), es)
			}
		}
		if n != topics*perTopic {
			t.Fatalf("%d logs after the restart, want %d", n, topics*perTopic)
		}
		if off := br.store.OfflineCount(); off != 0 {
			t.Fatalf("%d logs offline after the restart", off)
		}
		return ts
	}

	ts := startServer(t, dir, opt)
	br := ts.Broker()
	waitRegistered(t, br)
	for ti := range topics {
		if _, err := br.cl.ctl.CreateTopic(fmt.Sprintf("many-%d", ti), perTopic, 1, nil); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "500 leaderships begun", 30*time.Second, func() bool {
		br.cl.repl.mu.RLock()
		defer br.cl.repl.mu.RUnlock()
		return len(br.cl.repl.leaders) >= topics*perTopic
	})
	if err := br.cl.ctl.Snapshot(); err != nil {
		t.Fatal(err)
	}
	produce(ts, 0)
	ts.Store().Abandon() // the crash: nothing flushed or closed
	ts.stop(t)

	ts = restart()
	produce(ts, 3)
	ts.Store().Abandon()
	ts.stop(t)

	ts = restart()
	produce(ts, 3)
	ts.stop(t)
}
