package partition

import (
	"errors"
	"sync"
	"testing"

	"github.com/sluice/sluice/segment"
)

// TestSubmitQueuesInOrderAndSharesFsync: Submit returns at once, even
// while the writer is inside an fsync; what is submitted meanwhile is
// checked against the producer's sequences in submit order and written
// by the next round, with one fsync for all of it. A corrupt batch among
// them fails alone, at Wait.
func TestSubmitQueuesInOrderAndSharesFsync(t *testing.T) {
	cfg := testConfig()
	cfg.Flush = FlushAlways
	l, _ := newTestLog(t, cfg, nil)
	inSync, gate := make(chan struct{}), make(chan struct{})
	var once sync.Once
	testHookBeforeSync = func() {
		once.Do(func() {
			close(inSync)
			<-gate
		})
	}
	defer func() { testHookBeforeSync = nil }()

	first := l.Submit(producerBatch(0, 0, 2))
	<-inSync // the writer (started by Submit) holds its first round in fsync
	var later []*PendingAppend
	for i := range 4 {
		later = append(later, l.Submit(producerBatch(int32(2+2*i), 0, 2)))
	}
	bad := producerBatch(10, 0, 2)
	bad[len(bad)-1] ^= 0xff
	corrupt := l.Submit(bad)
	last := l.Submit(producerBatch(10, 0, 2))
	close(gate)

	if res, err := first.Wait(); err != nil || res.BaseOffset != 0 {
		t.Fatalf("first: %+v %v", res, err)
	}
	for i, p := range later {
		if res, err := p.Wait(); err != nil || res.BaseOffset != int64(2+2*i) || res.LastOffset != int64(3+2*i) {
			t.Fatalf("submit %d: %+v %v, want offsets %d-%d", i, res, err, 2+2*i, 3+2*i)
		}
	}
	if _, err := corrupt.Wait(); !errors.Is(err, ErrCorruptMessage) {
		t.Fatalf("corrupt batch: %v, want ErrCorruptMessage", err)
	}
	if res, err := last.Wait(); err != nil || res.BaseOffset != 10 {
		t.Fatalf("after the corrupt batch: %+v %v", res, err)
	}
	if s := l.syncs.Load(); s != 2 {
		t.Fatalf("%d fsyncs, want 2: one for the first round, one shared by the five appends submitted during it", s)
	}
	// The first epoch entry is not fsync'd yet: the recovery point waits
	// at its start (0) until a flush.
	if rp := l.recoveryPointOf(); rp != 0 || l.LogEndOffset() != 12 {
		t.Fatalf("recovery point %d, LEO %d, want 0, 12", rp, l.LogEndOffset())
	}
}

// TestSubmitAsLeaderFenced: SubmitAsLeader checks its epoch as
// AppendAsLeader does, when the writer assigns offsets: a submit of the
// current epoch lands stamped with it, one of another epoch (or queued
// behind the next leader's batch appended as its follower) is refused
// with ErrNotLeaderEpoch and writes nothing; a negative epoch is refused.
func TestSubmitAsLeaderFenced(t *testing.T) {
	l, _ := newTestLog(t, testConfig(), newClock())
	if err := l.SetReplicated(true); err != nil {
		t.Fatal(err)
	}
	if err := l.AssignLeaderEpoch(3, 0); err != nil {
		t.Fatal(err)
	}
	ok := l.SubmitAsLeader(batch(2, 20, 1_700_000_000_000), 3)
	stale := l.SubmitAsLeader(batch(2, 20, 1_700_000_000_000), 2)
	res, err := ok.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := segment.ParseHeader(replicaBatches(t, l, res.BaseOffset)[0]); h.PartitionLeaderEpoch != 3 {
		t.Fatalf("batch stamped with epoch %d, want 3", h.PartitionLeaderEpoch)
	}
	if _, err := stale.Wait(); !errors.Is(err, ErrNotLeaderEpoch) {
		t.Fatalf("submit in epoch 2: %v, want ErrNotLeaderEpoch", err)
	}
	next := batch(1, 20, 1_700_000_000_000)
	segment.SetBaseOffset(next, l.LogEndOffset())
	segment.SetLeaderEpoch(next, 5)
	if _, err := l.AppendAsFollower(next); err != nil {
		t.Fatal(err)
	}
	leo := l.LogEndOffset()
	if _, err := l.SubmitAsLeader(batch(1, 20, 0), 3).Wait(); !errors.Is(err, ErrNotLeaderEpoch) {
		t.Fatalf("submit of the old leadership after the next leader's batch: %v, want ErrNotLeaderEpoch", err)
	}
	if l.LogEndOffset() != leo {
		t.Fatalf("a refused submit moved the log end from %d to %d", leo, l.LogEndOffset())
	}
	if _, err := l.SubmitAsLeader(batch(1, 20, 0), -1).Wait(); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("SubmitAsLeader without an epoch: %v", err)
	}
}
