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
