package partition

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// countingObserver sums what an Observer hears.
type countingObserver struct {
	mu      sync.Mutex
	rounds  int
	batches int
	bytes   int64
	fsyncs  int
	slept   time.Duration
	topics  map[string]bool
}

func (o *countingObserver) Appended(topic string, partition int32, batches int, bytes int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.rounds++
	o.batches += batches
	o.bytes += bytes
	o.topics[topic] = true
}

func (o *countingObserver) Fsynced(topic string, partition int32, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.fsyncs++
	o.slept += d
}

func (o *countingObserver) snapshot() countingObserver {
	o.mu.Lock()
	defer o.mu.Unlock()
	topics := make(map[string]bool, len(o.topics))
	for k, v := range o.topics {
		topics[k] = v
	}
	return countingObserver{rounds: o.rounds, batches: o.batches, bytes: o.bytes, fsyncs: o.fsyncs, slept: o.slept, topics: topics}
}

// TestObserverSeesAppendsAndFsyncs appends concurrently under FlushAlways
// with segments small enough to roll, and checks the observer heard every
// batch and byte written and at least one fsync per round.
func TestObserverSeesAppendsAndFsyncs(t *testing.T) {
	obs := &countingObserver{topics: map[string]bool{}}
	cfg := testConfig()
	cfg.Flush = FlushAlways
	cfg.SegmentBytes = 16 << 10
	s, err := OpenStore(StoreConfig{Dir: t.TempDir(), Defaults: cfg, Logger: quietLogger(), Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l, err := s.Create("obs", 0, [16]byte{1}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 4, 25
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range each {
				mustAppend(t, l, batch(3, 200, 1))
			}
		})
	}
	wg.Wait()
	got := obs.snapshot()
	if got.batches != writers*each || got.bytes != l.Size() || !got.topics["obs"] {
		t.Fatalf("observer: %d batches, %d bytes; want %d batches, %d bytes (the log's size)",
			got.batches, got.bytes, writers*each, l.Size())
	}
	if got.rounds == 0 || got.rounds > writers*each || got.fsyncs < got.rounds || got.slept <= 0 {
		t.Fatalf("observer: %d rounds, %d fsyncs taking %v", got.rounds, got.fsyncs, got.slept)
	}
	if l.Segments() < 2 {
		t.Fatalf("%d segments: the test meant to roll", l.Segments())
	}
	before := got.fsyncs
	mustAppend(t, l, batch(1, 10, 1))
	if got := obs.snapshot(); got.fsyncs < before+1 {
		t.Fatalf("an append under FlushAlways: %d fsyncs, want at least %d", got.fsyncs, before+1)
	}
}

// TestObserverIntervalFlush checks the store's interval flush reports its
// fsyncs.
func TestObserverIntervalFlush(t *testing.T) {
	obs := &countingObserver{topics: map[string]bool{}}
	cfg := testConfig()
	cfg.Flush, cfg.FlushInterval = FlushInterval, 10*time.Millisecond
	s, err := OpenStore(StoreConfig{Dir: t.TempDir(), Defaults: cfg, Logger: quietLogger(), Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l, err := s.Create("obs", 0, [16]byte{1}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, batch(2, 100, 1))
	deadline := time.Now().Add(10 * time.Second)
	for obs.snapshot().fsyncs == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no fsync reported by the interval flush")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := obs.snapshot(); got.batches != 1 || got.bytes != l.Size() {
		t.Fatalf("observer: %d batches %d bytes, want 1 and %d", got.batches, got.bytes, l.Size())
	}
}

// TestOpenedCleanAndRecoveredBytes checks Store.OpenedClean and
// Log.RecoveredBytes after a clean shutdown and without the marker.
func TestOpenedCleanAndRecoveredBytes(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	if s.OpenedClean() {
		t.Fatal("a new directory opened clean")
	}
	l, err := s.Create("orders", 0, [16]byte{1}, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, batch(5, 100, 1))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTestStore(t, dir)
	if !s.OpenedClean() || s.Logs()[0].RecoveredBytes() != 0 {
		t.Fatalf("clean restart: OpenedClean %v, recovered %d bytes", s.OpenedClean(), s.Logs()[0].RecoveredBytes())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, cleanShutdownFile)); err != nil {
		t.Fatal(err)
	}
	s = openTestStore(t, dir)
	defer s.Close()
	size := s.Logs()[0].Size()
	if s.OpenedClean() || s.Logs()[0].RecoveredBytes() != size || size == 0 {
		t.Fatalf("without the marker: OpenedClean %v, recovered %d bytes of %d", s.OpenedClean(), s.Logs()[0].RecoveredBytes(), size)
	}
}
