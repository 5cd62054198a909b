package partition

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/vfs"
	"github.com/sluice/sluice/internal/vfs/errorfs"
)

// TestNewLogCreatesIndexesOnFirstAppend: a new log's first segment has no
// index files after its first appends (their entries are kept in memory),
// also when reopened clean; Close writes them (trimmed to the entries).
// Reopened clean or after a crash (unclean: recovery rebuilds the
// entries), appends and reads work and the indexes agree with the log
// (verifyDir).
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
		l = openTest(t, dir, DefaultConfig(), true, 0, nil)
		if exists(idx) || exists(tidx) {
			t.Fatal("reopening an empty log created its indexes")
		}
		for i := range int64(3) {
			mustAppend(t, l, batch(10, 1000, 1000+i)) // 10 KiB: an index entry each
		}
		if exists(idx) || exists(tidx) {
			t.Fatalf("clean %v: index files after 3 entries", clean)
		}
		if got := len(readAll(t, l, 0)); got != 3 {
			t.Fatalf("clean %v: read %d batches, want 3", clean, got)
		}
		if clean {
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		} else {
			crash(l)
		}
		l = openTest(t, dir, DefaultConfig(), clean, 30, nil)
		if clean != (exists(idx) && exists(tidx)) {
			t.Fatalf("clean %v: index files %v %v after the restart", clean, exists(idx), exists(tidx))
		}
		mustAppend(t, l, batch(10, 1000, 2000))
		if got := len(readAll(t, l, 0)); got != 4 {
			t.Fatalf("clean %v: read %d batches after the restart, want 4", clean, got)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if !exists(idx) || !exists(tidx) {
			t.Fatalf("clean %v: no index files after Close", clean)
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
	cfg.IndexIntervalBytes = 1000 // index entries (and so index files) in every segment
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

// TestSmallSegmentsHaveNoIndexFiles: segments that got less than
// index.interval.bytes have no .index or .timeindex (no entry was due),
// sealed or active, and the log answers as if they were empty indexes:
// OffsetForTimestamp for every batch's timestamp, MaxTimestamp, a read at
// every offset, and retention by batch timestamp (not the files' mtime),
// in the first run, after a clean restart and after a kill -9.
func TestSmallSegmentsHaveNoIndexFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "t-0")
	t.Cleanup(func() { verifyDir(t, dir) })
	cfg := testConfig()
	cfg.SegmentBytes = 1500 // three ~450-byte batches a segment: 3.3 segments
	const n = 10
	ts0 := int64(1_000_000) // 1970: older than any retention
	l := openTest(t, dir, cfg, true, 0, nil)
	for i := range n {
		mustAppend(t, l, batch(1, 380, ts0+int64(i)*1000))
	}
	check := func(when string, l *Log, n int64) {
		t.Helper()
		if l.Segments() < 3 {
			t.Fatalf("%s: %d segments, want at least 3", when, l.Segments())
		}
		idx, _ := filepath.Glob(filepath.Join(dir, "*index"))
		if len(idx) != 0 {
			t.Fatalf("%s: index files %v, but no segment got %d bytes", when, idx, cfg.IndexIntervalBytes)
		}
		for i := range n {
			for _, ts := range []int64{ts0 + i*1000, ts0 + i*1000 - 999} {
				off, got, ok, err := l.OffsetForTimestamp(ts)
				if err != nil || !ok || off != i || got != ts0+i*1000 {
					t.Fatalf("%s: OffsetForTimestamp(%d) = %d, %d, %v, %v; want %d, %d", when, ts, off, got, ok, err, i, ts0+i*1000)
				}
			}
			res, err := l.Read(i, 1, true)
			if err != nil || len(res.Regions) == 0 {
				t.Fatalf("%s: Read(%d): %v, %d regions", when, i, err, len(res.Regions))
			}
			got := readAll(t, l, i)
			if int64(len(got)) != n-i || got[0].BaseOffset != i {
				t.Fatalf("%s: from %d read %d batches starting at %d", when, i, len(got), got[0].BaseOffset)
			}
		}
		if _, _, ok, err := l.OffsetForTimestamp(ts0 + n*1000); ok || err != nil {
			t.Fatalf("%s: OffsetForTimestamp past the newest: ok %v, %v", when, ok, err)
		}
		if off, ts, ok, err := l.MaxTimestamp(); err != nil || !ok || off != n-1 || ts != ts0+(n-1)*1000 {
			t.Fatalf("%s: MaxTimestamp = %d, %d, %v, %v; want %d, %d", when, off, ts, ok, err, n-1, ts0+(n-1)*1000)
		}
	}
	check("first run", l, n)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir, cfg, true, n, nil)
	check("clean restart", l, n)
	mustAppend(t, l, batch(1, 380, ts0+n*1000)) // unflushed when killed
	crash(l)
	l = openTest(t, dir, cfg, false, n, nil)
	defer l.Close()
	check("kill -9 and restart", l, n+1)
	// Retention follows the batch timestamps (1970) read from the
	// headers, not the files' modification times (now).
	segs := l.Segments()
	deleted, err := l.ApplyRetention(time.Now())
	if err != nil || deleted != segs-1 {
		t.Fatalf("retention deleted %d of %d segments (%v), want every inactive one", deleted, segs, err)
	}
}

// TestIndexCreationCrashAtEveryStep fails each mutating filesystem call
// of an append that creates a segment's index files, in turn (the state a
// kill -9 just before it leaves), abandons the log and reopens it after an
// unclean shutdown: it holds the batches before that append, with or
// without it, its indexes (absent, empty, preallocated or written) agree
// with the .log, and the next appends index as usual. The files are
// created by the append past the entries kept in memory (512: every batch
// is indexed here), or, with fewer, by the roll that seals the segment.
func TestIndexCreationCrashAtEveryStep(t *testing.T) {
	for _, roll := range []bool{false, true} {
		cfg := testConfig()
		cfg.IndexIntervalBytes = 1 // an entry per batch
		before := 512              // mmapindex's memMaxEntries: the next entry creates the files
		if roll {
			cfg.SegmentBytes = 4000
			before = 3
		}
		next := batch(1, 20, int64(1000+before)) // a new time-index entry too
		if roll {
			next = batch(1, 4000, int64(1000+before))
		}
		run := func(dir string, inj errorfs.Injector, armed *atomic.Bool) (*errorfs.FS, error) {
			fsys := errorfs.Wrap(vfs.Default, inj).SkipSyncs()
			l := openTestFS(t, dir, cfg, true, 0, fsys)
			for i := range before {
				mustAppend(t, l, batch(1, 20, int64(1000+i))) // each a new time-index entry
			}
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
			fsys.Reset()
			armed.Store(true)
			_, err := l.Append(next)
			crash(l)
			return fsys, err
		}
		var never atomic.Bool
		counted, err := run(filepath.Join(t.TempDir(), "count-0"), nil, &never)
		if err != nil {
			t.Fatal(err)
		}
		ops := counted.Ops()
		t.Logf("roll %v: the append's mutating calls: %v", roll, ops)
		created := 0
		for _, op := range ops {
			if op.Kind == errorfs.OpCreate && strings.HasPrefix(filepath.Base(op.Path), "00000000000000000000.") &&
				strings.HasSuffix(op.Path, "index") {
				created++
			}
		}
		if created != 2 {
			t.Fatalf("roll %v: the append created %d index files of segment 0, want 2: %v", roll, created, ops)
		}
		for k := 1; k <= len(ops); k++ {
			dir := filepath.Join(t.TempDir(), fmt.Sprintf("k%d-0", k))
			inj, armed := failNthArmed(k)
			_, aerr := run(dir, inj, armed)
			l := openTest(t, dir, cfg, false, int64(before), nil)
			if end := l.LogEndOffset(); end != int64(before) && end != int64(before)+1 {
				t.Fatalf("roll %v, k=%d (%v, append: %v): log end %d after the restart, want %d or %d",
					roll, k, ops[k-1], aerr, end, before, before+1)
			}
			for range 3 {
				mustAppend(t, l, batch(1, 20, 5000))
			}
			if got := readAll(t, l, 0); len(got) < before+3 || got[0].BaseOffset != 0 {
				t.Fatalf("roll %v, k=%d: read %d batches", roll, k, len(got))
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			verifyDir(t, dir)
			for _, suffix := range []string{indexSuffix, timeIndexSuffix} {
				if !exists(fileName(dir, 0, suffix)) {
					t.Fatalf("roll %v, k=%d: no %s after Close", roll, k, suffix)
				}
			}
		}
	}
}

// openTestFS is openTest through fsys.
func openTestFS(t testing.TB, dir string, cfg Config, clean bool, rp int64, fsys vfs.FS) *Log {
	t.Helper()
	l, err := openLog(dir, openOptions{topic: "t", partition: 0, cfg: cfg, recoveryPoint: rp, logStart: -1,
		clean: clean, logger: quietLogger(), fs: fsys})
	if err != nil {
		t.Fatalf("openLog: %v", err)
	}
	return l
}

// TestDiscardedLogCreatesNoIndexFiles: closing a log whose directory is
// deleted next (DeleteTopics, a replica moved away) writes no index file,
// where Close writes the ones held in memory; a discarded log whose
// index files exist (past the in-memory entries, or a rolled segment)
// leaves them as they are, for the deletion. Sealing created them only
// for the deletion to remove them: half the time of deleting a
// 1,000-partition topic.
func TestDiscardedLogCreatesNoIndexFiles(t *testing.T) {
	for _, discard := range []bool{false, true} {
		dir := filepath.Join(t.TempDir(), "t-0")
		l := openTest(t, dir, DefaultConfig(), true, 0, nil)
		for i := range int64(3) {
			mustAppend(t, l, batch(10, 1000, 1000+i)) // 10 KiB: an index entry each
		}
		idx := filepath.Join(dir, "00000000000000000000.index")
		tidx := filepath.Join(dir, "00000000000000000000.timeindex")
		if exists(idx) || exists(tidx) {
			t.Fatal("index files after 3 entries")
		}
		close := l.Close
		if discard {
			close = l.closeDiscarding
		}
		if err := close(); err != nil {
			t.Fatalf("discard %v: %v", discard, err)
		}
		if got := exists(idx) || exists(tidx); got == discard {
			t.Fatalf("discard %v: index files exist %v", discard, got)
		}
	}
	// A log with segments rolled: their index files exist; discarding
	// leaves them to the deletion and fails nothing.
	dir := filepath.Join(t.TempDir(), "t-0")
	cfg := DefaultConfig()
	cfg.SegmentBytes = 16 << 10
	l := openTest(t, dir, cfg, true, 0, nil)
	for i := range int64(8) {
		mustAppend(t, l, batch(10, 1000, 1000+i))
	}
	if l.Segments() < 2 {
		t.Fatalf("%d segments, want several", l.Segments())
	}
	if err := l.closeDiscarding(); err != nil {
		t.Fatal(err)
	}
	if err := l.closeDiscarding(); err != nil {
		t.Fatalf("a second discard: %v", err)
	}
}
