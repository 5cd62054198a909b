package broker

import (
	"bytes"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice/sluice/metadata"
	"github.com/sluice/sluice/partition"
	"github.com/sluice/sluice/segment"
)

// ledByOne creates topic name (two partitions, RF 2 over brokers 1 and 7) and
// returns one partition broker 1 leads once its leadership has started,
// with its log and leader epoch.
func ledByOne(t *testing.T, ts *testServer, name string) (metadata.UUID, int32, *partition.Log, int32) {
	t.Helper()
	id, p, epoch := createLedByOne(t, ts, name, 2, 2, nil)
	return id, p, awaitLeading(t, ts, name, p), epoch
}

// createLedByOne creates topic name (partitions × rf replicas, with
// configs) and returns its id, the last partition broker 1 leads in the
// controller's image, and that partition's leader epoch.
func createLedByOne(t *testing.T, ts *testServer, name string, partitions int32, rf int16, configs map[string]string) (metadata.UUID, int32, int32) {
	t.Helper()
	id, err := ts.ctl.CreateTopic(name, partitions, rf, configs)
	if err != nil {
		t.Fatal(err)
	}
	ti, _ := ts.ctl.Image().TopicByID(id)
	var p int32 = -1
	for _, pp := range ti.Partitions {
		if pp.Leader == 1 {
			p = pp.Partition
		}
	}
	if p < 0 {
		t.Fatalf("broker 1 leads no partition of %+v", ti.Partitions)
	}
	return id, p, ti.Partitions[p].LeaderEpoch
}

// awaitLeading waits until broker 1's leadership of partition p of topic
// name has started and returns the partition's log.
func awaitLeading(t *testing.T, ts *testServer, name string, p int32) *partition.Log {
	t.Helper()
	tp, err := ts.Broker().awaitTopic(name, time.Now().Add(10*time.Second), func(tp *topic) bool {
		return tp != nil && tp.partition(p) != nil && ts.Broker().cl.repl.leader(tp.partition(p)) != nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tp.partition(p)
}

// followerOfOne is a replica fetcher of broker 7 (the test's hand-made
// broker) following broker 1 for one partition, with the follower's log
// in a store of its own; the test runs its rounds with fetchOnce.
func followerOfOne(t *testing.T, ts *testServer, topic string, id metadata.UUID, p, epoch int32) (*replicaFetcher, *fetchState) {
	t.Helper()
	store, err := partition.OpenStore(partition.StoreConfig{Dir: t.TempDir(), Defaults: partition.DefaultConfig(), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	fl, err := store.Create(topic, p, id, partition.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := fl.SetReplicated(true); err != nil {
		t.Fatal(err)
	}
	rm := newReplicaManager(ts.Broker())
	rm.self = 7
	st := &fetchState{followTarget: followTarget{log: fl, topic: topic, topicID: id, partition: p, leader: 1, epoch: epoch}}
	f := &replicaFetcher{rm: rm, leader: 1, wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
		parts: map[*partition.Log]*fetchState{fl: st}}
	t.Cleanup(func() {
		if f.conn != nil {
			f.conn.Close()
		}
	})
	return f, st
}

// sameBatches fails unless the follower's log holds the leader's batches,
// byte for byte.
func sameBatches(t *testing.T, leader, follower *partition.Log) {
	t.Helper()
	if l, f := leader.LogEndOffset(), follower.LogEndOffset(); l != f {
		t.Fatalf("follower's log ends at %d, the leader's at %d", f, l)
	}
	lb, fb := logBytes(t, leader), logBytes(t, follower)
	if !bytes.Equal(lb, fb) {
		t.Fatalf("follower's batches (%d bytes) differ from the leader's (%d bytes)", len(fb), len(lb))
	}
}

// logBytes reads a log's batches from its start to its end.
func logBytes(t *testing.T, l *partition.Log) []byte {
	t.Helper()
	var out []byte
	for off := l.LogStartOffset(); off < l.LogEndOffset(); {
		res, err := l.ReadReplica(off, 1<<20)
		if err != nil || len(res.Regions) == 0 {
			t.Fatalf("replica read at %d of %d: %v", off, l.LogEndOffset(), err)
		}
		for _, r := range res.Regions {
			buf := regionBytes(t, r)
			out = append(out, buf...)
			if err := segment.Split(buf, func(_ []byte, h segment.Header) error {
				off = h.LastOffset() + 1
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

// rounds runs fetcher rounds until the follower holds the leader's log,
// failing after n rounds: a follower must never stay stuck. A round that
// fails puts the partition in backoff, which the test does not wait out:
// it fails instead.
func rounds(t *testing.T, f *replicaFetcher, st *fetchState, leader *partition.Log, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if st.log.LogEndOffset() == leader.LogEndOffset() {
			sameBatches(t, leader, st.log)
			return
		}
		f.fetchOnce()
		if !st.delayUntil.IsZero() {
			t.Fatalf("round %d: the partition failed and backs off (log end %d, the leader's %d)",
				i+1, st.log.LogEndOffset(), leader.LogEndOffset())
		}
	}
	t.Fatalf("after %d rounds the follower's log ends at %d, the leader's at %d", n, st.log.LogEndOffset(), leader.LogEndOffset())
}

// A fetch answer that arrives after the follower's log moved (truncated
// here, while the fetch was in flight) answers an old position: applied,
// its batches would start above the log end and leave a hole (the
// follower accepts gaps, as a compacted leader's log has them). It is
// dropped, and the next fetch asks from the log end.
func TestReplicaFetchDropsAnswerForOldPosition(t *testing.T) {
	ts, rc := twoBrokers(t)
	id, p, leader, epoch := ledByOne(t, ts, "old-pos")
	f, st := followerOfOne(t, ts, "old-pos", id, p, epoch)
	produce := func(values ...string) {
		t.Helper()
		var vs [][]byte
		for _, v := range values {
			vs = append(vs, []byte(v))
		}
		if r := produceOne(t, rc, produceReq(9, 1, "old-pos", p, makeBatch(noProducer, vs...))); r.ErrorCode != 0 {
			t.Fatalf("produce: %v", kerr.ErrorForCode(r.ErrorCode))
		}
	}
	produce("a", "b", "c")
	produce("d", "e")
	rounds(t, f, st, leader, 3)

	// The follower asks from 5; the leader answers with f-h; meanwhile
	// the follower's log was cut back to 3.
	produce("f", "g", "h")
	replicaFetchAnswered = func(*replicaFetcher) {
		if err := st.log.TruncateTo(3); err != nil {
			t.Error(err)
		}
	}
	f.fetchOnce()
	replicaFetchAnswered = nil
	if got := st.log.LogEndOffset(); got != 3 {
		t.Fatalf("after the answer for offset 5 arrived at a log ending at 3: log end %d, want 3 (answer dropped)", got)
	}
	rounds(t, f, st, leader, 4)
}

// A follower whose log ends inside one of the leader's batches (its last
// batch, stamped with the leader's epoch, is not the leader's: the epochs
// agree, so DivergingEpoch cannot tell) gets that batch, starting below
// its log end, at every fetch. It realigns: truncation by leader epoch
// (OffsetForLeaderEpoch), then to the leader batch's start, and it
// fetches on from there instead of refetching the batch it cannot append.
func TestReplicaFetchRealignsInsideLeaderBatch(t *testing.T) {
	ts, rc := twoBrokers(t)
	id, p, leader, epoch := ledByOne(t, ts, "realign")
	f, st := followerOfOne(t, ts, "realign", id, p, epoch)
	if r := produceOne(t, rc, produceReq(9, 1, "realign", p, makeBatch(noProducer, []byte("a"), []byte("b"), []byte("c")))); r.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(r.ErrorCode))
	}
	rounds(t, f, st, leader, 3)
	if r := produceOne(t, rc, produceReq(9, 1, "realign", p, makeBatch(noProducer, []byte("d"), []byte("e"), []byte("f")))); r.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(r.ErrorCode))
	}
	// The follower's own batch at 3, in the leader's epoch.
	rogue := makeBatch(noProducer, []byte("x"))
	segment.SetBaseOffset(rogue, 3)
	segment.SetLeaderEpoch(rogue, epoch)
	if _, err := st.log.AppendAsFollower(rogue); err != nil {
		t.Fatal(err)
	}
	rounds(t, f, st, leader, 4)
}

// A produce checked as leader whose leadership moves before its append
// (here the log, now following the next leader, has appended that
// leader's first batch, at a newer epoch) is refused with
// NOT_LEADER_OR_FOLLOWER and writes nothing: appended, it would carry the
// next leader's epoch in a log that leader never wrote.
func TestProduceAfterLeadershipMovedRefused(t *testing.T) {
	ts, rc := twoBrokers(t)
	_, p, leader, epoch := ledByOne(t, ts, "moved")
	var next atomic.Int64
	hook := func(l *partition.Log) {
		if l != leader {
			return
		}
		b := makeBatch(noProducer, []byte("next leader's"))
		next.Store(l.LogEndOffset())
		segment.SetBaseOffset(b, next.Load())
		segment.SetLeaderEpoch(b, epoch+1)
		if _, err := l.AppendAsFollower(b); err != nil {
			t.Error(err)
		}
	}
	produceBeforeAppend.Store(&hook)
	defer produceBeforeAppend.Store(nil)
	r := produceOne(t, rc, produceReq(9, 1, "moved", p, makeBatch(noProducer, []byte("late"))))
	if r.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("produce after the leadership moved: %v, want NOT_LEADER_OR_FOLLOWER", kerr.ErrorForCode(r.ErrorCode))
	}
	if got, want := leader.LogEndOffset(), next.Load()+1; got != want {
		t.Fatalf("log end %d, want %d: only the next leader's batch", got, want)
	}
}

// While an ISR expansion is in flight the HW waits for the joining
// follower too (Kafka's maximal ISR): the controller may commit the new
// ISR before the leader hears of it, and a member that lacks records
// below the HW could then be elected (TestNemesis/rf3 saw a consumed
// record vanish that way).
func TestHWWaitsForFollowerJoiningISR(t *testing.T) {
	ts, rc := twoBrokers(t)
	registerByHand(t, rc, 8)
	id, p, epoch := createLedByOne(t, ts, "maxisr", 3, 3, nil)
	log := awaitLeading(t, ts, "maxisr", p)
	st := ts.Broker().cl.repl.leader(log)
	isr := func() []int32 {
		st.mu.Lock()
		defer st.mu.Unlock()
		return slices.Clone(st.mu.isr)
	}
	// Broker 8 leaves the ISR.
	ts.Broker().cl.repl.alterISR(st, slices.DeleteFunc(isr(), func(r int32) bool { return r == 8 }))
	if slices.Contains(isr(), 8) {
		t.Fatalf("ISR %v after dropping 8", isr())
	}
	produce := func(v string) {
		t.Helper()
		if r := produceOne(t, rc, produceReq(9, 1, "maxisr", p, makeBatch(noProducer, []byte(v)))); r.ErrorCode != 0 {
			t.Fatal(kerr.ErrorForCode(r.ErrorCode))
		}
	}
	produce("a")
	replicaFetch(t, rc, 7, id, p, 0, epoch, -1)
	replicaFetch(t, rc, 7, id, p, 1, epoch, epoch)
	if hw := log.HighWatermark(); hw != 1 {
		t.Fatalf("HW %d with the ISR %v at 1, want 1", hw, isr())
	}

	// Broker 8 reaches the HW: the expansion is held before it is sent.
	entered, release := make(chan struct{}), make(chan struct{})
	hook := func(_ *leaderState, proposed []int32) {
		if slices.Contains(proposed, 8) {
			close(entered)
			<-release
		}
	}
	alterISRHook.Store(&hook)
	defer alterISRHook.Store(nil)
	replicaFetch(t, rc, 8, id, p, 1, epoch, epoch)
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no ISR expansion for broker 8")
	}
	produce("b")
	replicaFetch(t, rc, 7, id, p, 2, epoch, epoch)
	if hw := log.HighWatermark(); hw != 1 {
		close(release)
		t.Fatalf("HW %d while 8 (at 1) joins the ISR, want 1", hw)
	}
	close(release)
	waitFor(t, "broker 8 back in the ISR", 10*time.Second, func() bool { return slices.Contains(isr(), 8) })
	replicaFetch(t, rc, 8, id, p, 2, epoch, epoch)
	if hw := log.HighWatermark(); hw != 2 {
		t.Fatalf("HW %d with the whole ISR at 2, want 2", hw)
	}
}
