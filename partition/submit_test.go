package partition

import (
	"errors"
	"sync"
	"testing"
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
	if rp := l.recoveryPointOf(); rp != 12 || l.LogEndOffset() != 12 {
		t.Fatalf("recovery point %d, LEO %d, want 12", rp, l.LogEndOffset())
	}
}
