package partition

import (
	"path/filepath"
	"testing"
)

// TestNewLogCreatesIndexesOnFirstAppend: a new log's first segment has no
// index files until its first append, also when reopened clean; reopened
// clean or after a crash (unclean, recovery rebuilds the indexes), appends
// and reads work and the indexes agree with the log (verifyDir).
func TestNewLogCreatesIndexesOnFirstAppend(t *testing.T) {
	for _, clean := range []bool{true, false} {
		dir := filepath.Join(t.TempDir(), "t-0")
		t.Cleanup(func() { verifyDir(t, dir) })
		l := openTest(t, dir, DefaultConfig(), true, 0, nil)
		idx := filepath.Join(dir, "00000000000000000000.index")
		tidx := filepath.Join(dir, "00000000000000000000.timeindex")
		if exists(idx) || exists(tidx) {
			t.Fatal("a new log preallocated its indexes")
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l = openTest(t, dir, DefaultConfig(), clean, 0, nil)
		if clean && (exists(idx) || exists(tidx)) { // recovery rebuilds them
			t.Fatal("reopening an empty log clean created its indexes")
		}
		for range 3 {
			mustAppend(t, l, batch(10, 1000, 1000))
		}
		if !exists(idx) || !exists(tidx) {
			t.Fatalf("clean %v: no indexes after the first append", clean)
		}
		if got := len(readAll(t, l, 0)); got != 3 {
			t.Fatalf("clean %v: read %d batches, want 3", clean, got)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReaderOpensIndexesOfSegmentRenamedForDeletion: a reader holding a
// sealed segment whose indexes are closed (parked by the segment sweep)
// still finds its batches after the segment's files were
// renamed to .deleted by retention, truncation or the cleaner's swap.
func TestReaderOpensIndexesOfSegmentRenamedForDeletion(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "t-0")
	cfg := DefaultConfig()
	cfg.SegmentBytes = 4 << 10
	l := openTest(t, dir, cfg, true, 0, nil)
	for range 20 {
		mustAppend(t, l, batch(4, 200, 1000))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir, cfg, true, 0, nil)
	defer l.Close()
	l.parkIdleSegments(true)
	segs, _ := l.pinAll()
	if len(segs) < 3 {
		releaseAll(segs)
		t.Fatalf("%d segments, want at least 3", len(segs))
	}
	s := segs[0]
	s.idx.Lock()
	opened := s.idx.offsets != nil
	s.idx.Unlock()
	if opened {
		releaseAll(segs)
		t.Fatal("the oldest segment has its indexes open after parking: the test proves nothing")
	}
	deleted := fileName(dir, s.base, indexSuffix) + deletedSuffix
	if err := l.dropOldest(s); err != nil { // retention's path
		t.Fatal(err)
	}
	if !exists(deleted) {
		t.Fatal("the index was not renamed to .deleted")
	}
	off, pos, err := s.lookup(s.base + 5)
	if err != nil {
		t.Fatalf("lookup in a segment renamed for deletion: %v", err)
	}
	if off > s.base+5 || pos < 0 {
		t.Fatalf("lookup(%d) = %d at %d", s.base+5, off, pos)
	}
	releaseAll(segs)
	if exists(deleted) {
		t.Fatal("the .deleted index outlived the last reference")
	}
}
