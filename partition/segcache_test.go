package partition

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// openFilesIn counts this process's descriptors open on files under dir.
func openFilesIn(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && strings.HasPrefix(target, dir+string(filepath.Separator)) {
			n++
		}
	}
	return n
}

// openSweptStore opens a store without the background idle sweep: the
// tests sweep (and count descriptors) themselves, and a background sweep
// between two of their steps would take a segment's second chance.
func openSweptStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := OpenStore(StoreConfig{Dir: dir, Defaults: testConfig(), Logger: quietLogger(), noSegmentSweep: true})
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	return s
}

// segmentedStore makes a store with one log of many small segments.
func segmentedStore(t *testing.T) (*Store, *Log) {
	t.Helper()
	dir := t.TempDir()
	s := openSweptStore(t, dir)
	t.Cleanup(func() { s.Close() })
	cfg := testConfig()
	cfg.SegmentBytes = 4 << 10
	l, err := s.Create("fds", 0, [16]byte{1}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 120; i++ {
		mustAppend(t, l, batch(2, 500, int64(i)))
	}
	if l.Segments() < 20 {
		t.Fatalf("only %d segments", l.Segments())
	}
	l.bg.Wait() // rolled segments' flushes hold references until done
	return s, l
}

// TestIdleSegmentsHoldNoFiles: after the idle sweep only the active segment
// holds a descriptor (its .log; indexes keep only their mappings); reading old segments opens
// their .log on demand (indexes are mapped without a descriptor), and the
// sweep closes them again, after a second chance for recently used ones.
func TestIdleSegmentsHoldNoFiles(t *testing.T) {
	s, l := segmentedStore(t)
	dir := l.Dir()
	s.sweepSegments(maxOpenSegmentFiles) // the appender's flushes used them: a second chance
	s.sweepSegments(maxOpenSegmentFiles)
	if n := openFilesIn(t, dir); n != 1 {
		t.Fatalf("%d descriptors open after the sweep, want 1 (the active segment's .log)", n)
	}
	if got := len(readAll(t, l, 0)); got != 120 {
		t.Fatalf("read %d batches", got)
	}
	reopened := openFilesIn(t, dir)
	if reopened <= 1 || reopened > l.Segments() {
		t.Fatalf("%d descriptors after reading %d segments: want one per segment read, indexes without", reopened, l.Segments())
	}
	if _, open := s.sweepSegments(maxOpenSegmentFiles); open != reopened-1 {
		t.Fatalf("the first sweep after use kept %d open, want %d (a second chance)", open, reopened-1)
	}
	s.sweepSegments(maxOpenSegmentFiles)
	if n := openFilesIn(t, dir); n != 1 {
		t.Fatalf("%d descriptors open after two idle sweeps, want 1", n)
	}
	// Over the cap, recently used segments are parked too.
	readAll(t, l, 0)
	if _, open := s.sweepSegments(0); open != 0 || openFilesIn(t, dir) != 1 {
		t.Fatalf("a sweep over the cap left %d inactive files open", open)
	}
	if got := len(readAll(t, l, 0)); got != 120 {
		t.Fatalf("read %d batches after parking", got)
	}
	// A reopened store parks what loading opened.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openSweptStore(t, s.Dir())
	defer s.Close()
	if n := openFilesIn(t, dir); n != 1 {
		t.Fatalf("%d descriptors open after a restart, want 1", n)
	}
	if got := len(readAll(t, s.Get("fds", 0), 0)); got != 120 {
		t.Fatalf("read %d batches after a restart", got)
	}
}

// TestPinnedRegionKeepsItsFile: a region handed out for sendfile keeps its
// segment's descriptor open through any number of sweeps until released.
func TestPinnedRegionKeepsItsFile(t *testing.T) {
	s, l := segmentedStore(t)
	s.sweepSegments(0)
	res, err := l.Read(0, 1<<20, true)
	if err != nil || len(res.Regions) != 1 {
		t.Fatalf("read: %v", err)
	}
	for i := 0; i < 3; i++ {
		s.sweepSegments(0)
	}
	if openFilesIn(t, l.Dir()) != 2 {
		t.Fatalf("%d descriptors with one region pinned, want 2", openFilesIn(t, l.Dir()))
	}
	if hs := regionBatches(t, res.Regions); len(hs) == 0 || hs[0].BaseOffset != 0 {
		t.Fatalf("pinned region read %v", hs)
	}
	s.sweepSegments(0)
	if n := openFilesIn(t, l.Dir()); n != 1 {
		t.Fatalf("%d descriptors after the region's release and a sweep, want 1", n)
	}
}

// TestSweepRacesReadersAndRetention runs readers, the sweep (forced), an
// appender rolling segments and DeleteRecords deleting them together (under
// -race in CI): every region read is whole valid batches.
func TestSweepRacesReadersAndRetention(t *testing.T) {
	s, l := segmentedStore(t)
	var wg sync.WaitGroup
	for r := 0; r < 2; r++ {
		wg.Go(func() {
			for i := 0; i < 150; i++ {
				res, err := l.Read(l.LogStartOffset(), 1<<20, true)
				if err != nil {
					continue // the start moved under the read
				}
				regionBatches(t, res.Regions)
			}
		})
	}
	wg.Go(func() {
		for i := 0; i < 150; i++ {
			s.sweepSegments(0)
		}
	})
	for i := 0; i < 40; i++ {
		mustAppend(t, l, batch(2, 500, int64(1000+i)))
		if i%5 == 0 {
			if _, err := l.DeleteRecordsBefore(l.HighWatermark() - 20); err != nil {
				t.Fatal(err)
			}
		}
	}
	wg.Wait()
	if got := len(readAll(t, l, l.LogStartOffset())); got == 0 {
		t.Fatal("nothing readable after the race")
	}
}
