package partition

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/vfs"
	"github.com/sluice/sluice/internal/vfs/errorfs"
)

// epochSyncs counts the fsyncs of leader-epoch-checkpoint files (the
// file, or its .tmp: a flush writes the recorded text there, fsyncs it and
// renames it) and of directories in ops.
func epochSyncs(ops []errorfs.Op) (file, dirs int) {
	for _, op := range ops {
		switch {
		case op.Kind == errorfs.OpSync && (strings.HasSuffix(op.Path, leaderEpochFile) ||
			strings.HasSuffix(op.Path, leaderEpochFile+".tmp")):
			file++
		case op.Kind == errorfs.OpSyncDir:
			dirs++
		}
	}
	return file, dirs
}

// TestFirstAppendWritesEpochWithoutFsync: a new partition's first append
// (FlushNever) fsyncs nothing and writes no leader-epoch-checkpoint: its
// entry is recorded in memory. The log's next flush writes and fsyncs it
// (and the directory, for its rename) once; a flush with no new epoch
// does not.
func TestFirstAppendWritesEpochWithoutFsync(t *testing.T) {
	dir := t.TempDir()
	fsys := errorfs.Wrap(vfs.Default, nil)
	s, err := openFaultStore(t, dir, fsys)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cfg := testConfig()
	l, err := s.Create("t", 0, [16]byte{1}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	fsys.Reset()
	mustAppend(t, l, batch(2, 30, 1))
	for _, op := range fsys.Ops() {
		if op.Kind == errorfs.OpSync {
			t.Errorf("the first append to a new partition fsynced: %v", op)
		}
	}
	if exists(filepath.Join(dir, "t-0", leaderEpochFile)) {
		t.Fatal("the first append wrote the checkpoint")
	}
	fsys.Reset()
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if f, d := epochSyncs(fsys.Ops()); f != 1 || d < 1 {
		t.Fatalf("flush fsynced the checkpoint %d times and %d directories, want 1 and >= 1", f, d)
	}
	data, err := os.ReadFile(filepath.Join(dir, "t-0", leaderEpochFile))
	if err != nil || string(data) != "0\n1\n0 0\n" {
		t.Fatalf("checkpoint after the flush: %q, %v", data, err)
	}
	mustAppend(t, l, batch(1, 30, 1))
	fsys.Reset()
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if f, _ := epochSyncs(fsys.Ops()); f != 0 {
		t.Fatalf("a flush with no new epoch fsynced the checkpoint %d times", f)
	}
}

// TestRollFlushesEpochCheckpoint: a rolled segment's flush fsyncs the
// checkpoint an append wrote before the recovery point passes the segment.
// The new epoch's entry is written by a small append that fits in the
// first segment (epoch 4 starts inside it), so it is recorded before the
// round that rolls: when the roll's round itself wrote it, the roll's
// background flush could run first and fsync only the entry before it.
func TestRollFlushesEpochCheckpoint(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "t-0")
	fsys := errorfs.Wrap(vfs.Default, nil)
	l, err := openLog(dir, openOptions{topic: "t", cfg: faultConfig(), recoveryPoint: 0, logStart: -1, clean: true,
		logger: quietLogger(), fs: fsys})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	mustAppend(t, l, batch(2, 200, 1))
	if err := l.AssignLeaderEpoch(4, l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, batch(1, 10, 1)) // offset 2, epoch 4's first record
	if l.Segments() != 1 {
		t.Fatalf("%d segments after the small append, want 1", l.Segments())
	}
	if from := l.epochFile().dirtyFrom.Load(); from != 0 {
		t.Fatalf("checkpoint dirty from %d before any flush, want 0", from)
	}
	for l.Segments() < 2 {
		mustAppend(t, l, batch(2, 200, 1))
	}
	l.bg.Wait()
	if f, _ := epochSyncs(fsys.Ops()); f != 1 {
		t.Fatalf("checkpoint fsynced %d times by the roll, want 1", f)
	}
	if from := l.epochFile().dirtyFrom.Load(); from != math.MaxInt64 {
		t.Fatalf("checkpoint still dirty from %d after the roll's flush", from)
	}
	if rp := l.recoveryPointOf(); rp != 3 {
		t.Fatalf("recovery point %d after the segment 0-2 rolled, want 3", rp)
	}
}

// TestEpochFlushMakesItsEntriesDurable: a flush of what writeLazy
// recorded makes those entries the durable ones, so a later lazy write
// is dirty only from its own new entry. (The file's durable entries were
// once left as they were at open: the next new epoch then counted the
// file dirty from its first entry, and a FlushAlways log kept its
// recovery point there until the next flush.)
func TestEpochFlushMakesItsEntriesDurable(t *testing.T) {
	c := newEpochCache(vfs.Default, t.TempDir())
	c.entries = []epochEntry{{0, 0}}
	if err := c.writeLazy(); err != nil {
		t.Fatal(err)
	}
	if from := c.file.dirtyFrom.Load(); from != 0 {
		t.Fatalf("dirty from %d after the first lazy write, want 0", from)
	}
	if err := c.file.flush(); err != nil {
		t.Fatal(err)
	}
	if from := c.file.dirtyFrom.Load(); from != math.MaxInt64 {
		t.Fatalf("dirty from %d after the flush, want none", from)
	}
	c.entries = append(c.entries, epochEntry{4, 2})
	if err := c.writeLazy(); err != nil {
		t.Fatal(err)
	}
	if from := c.file.dirtyFrom.Load(); from != 2 {
		t.Fatalf("dirty from %d after epoch 4's lazy write, want 2 (its start; 0 at 0 is durable)", from)
	}
	if err := c.file.flush(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(c.file.path)
	if err != nil || string(data) != "0\n2\n0 0\n4 2\n" {
		t.Fatalf("checkpoint after the second flush: %q, %v", data, err)
	}
}

// TestFlushAlwaysRecoveryPointWaitsForEpoch: under FlushAlways a round's
// bytes are fsync'd but a new epoch's entry is not; the recovery point
// stays at that epoch's start until a flush fsyncs the checkpoint (the
// store's flush ticker does so for such logs), so recovery after a power
// loss re-reads the batches that carry the epoch.
func TestFlushAlwaysRecoveryPointWaitsForEpoch(t *testing.T) {
	cfg := testConfig()
	cfg.Flush = FlushAlways
	cfg.FlushInterval = time.Hour // the test ticks the store itself
	dir := t.TempDir()
	fsys := errorfs.Wrap(vfs.Default, nil)
	s, err := OpenStore(StoreConfig{Dir: dir, Defaults: cfg, Logger: quietLogger(), CleanerThreads: -1, FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l, err := s.Create("t", 0, [16]byte{1}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, batch(3, 20, 1))
	if rp := l.recoveryPointOf(); rp != 0 {
		t.Fatalf("recovery point %d before the first epoch entry is fsync'd, want 0", rp)
	}
	fsys.Reset()
	s.flushInterval()
	if rp := l.recoveryPointOf(); rp != 3 {
		t.Fatalf("recovery point %d after the store's flush tick, want 3", rp)
	}
	// The tick fsyncs the checkpoint and its directory, no segment file
	// (the rounds did).
	if f, d := epochSyncs(fsys.Ops()); f != 1 || d != 1 {
		t.Fatalf("the flush tick did %v, want the checkpoint's and the directory's fsync", fsys.Ops())
	}
	for _, op := range fsys.Ops() {
		if !strings.Contains(op.Path, leaderEpochFile) && op.Kind != errorfs.OpSyncDir {
			t.Fatalf("the flush tick touched %v: the rounds fsync'd the segment", op)
		}
	}
	fsys.Reset()
	s.flushInterval()
	if ops := fsys.Ops(); len(ops) != 0 {
		t.Fatalf("a second tick with nothing new did %v", ops)
	}
	mustAppend(t, l, batch(1, 20, 1))
	if err := l.AssignLeaderEpoch(2, 4); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, batch(2, 20, 1))
	if rp := l.recoveryPointOf(); rp != 4 {
		t.Fatalf("recovery point %d with epoch 2 (from 4) not fsync'd, want 4", rp)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, batch(1, 20, 1))
	if rp := l.recoveryPointOf(); rp != 7 {
		t.Fatalf("recovery point %d after the flush, want the log end 7", rp)
	}
}

// epochLog writes a log over several segments with epochs 0 (from 0), 3
// and 5, and returns its epochs, the base of its last segment and its log
// end. The epochs are made durable as a flush would, then the log is left
// as a kill -9 leaves it.
func epochLog(t *testing.T, dir string) (want []EpochEntry, lastBase, leo int64) {
	t.Helper()
	l := openTest(t, dir, faultConfig(), true, 0, nil)
	for range 3 {
		mustAppend(t, l, batch(2, 100, 1))
	}
	if err := l.AssignLeaderEpoch(3, l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		mustAppend(t, l, batch(2, 100, 1))
	}
	if err := l.AssignLeaderEpoch(5, l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		mustAppend(t, l, batch(2, 100, 1))
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	want, leo = l.LeaderEpochs(), l.LogEndOffset()
	l.mu.RLock()
	lastBase = l.active().base
	l.mu.RUnlock()
	crash(l)
	if len(want) != 3 || want[1].StartOffset < l.mu.segments[1].base || lastBase <= want[2].StartOffset {
		t.Fatalf("setup: epochs %v over segments from %d to %d; want 3, the last two past the first segment, "+
			"the last segment after epoch 5 began", want, l.mu.segments[1].base, lastBase)
	}
	return want, lastBase, leo
}

// TestEpochCacheAfterCrash: whatever state of the leader-epoch-checkpoint
// a crash can leave (its latest entries missing, an entry past the log
// end, the file empty, torn or gone), reopening after an unclean shutdown
// ends with the epochs the batches carry, answers OffsetForLeaderEpoch
// from them, and rewrites the file so a clean reopen reads the same.
func TestEpochCacheAfterCrash(t *testing.T) {
	f := func(name string, rpAt func(want []EpochEntry, lastBase int64) int64, mangle func(path string, want []EpochEntry, leo int64)) {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "t-0")
			want, lastBase, leo := epochLog(t, dir)
			path := filepath.Join(dir, leaderEpochFile)
			mangle(path, want, leo)
			rp := rpAt(want, lastBase)
			l := openTest(t, dir, faultConfig(), false, rp, nil)
			got := l.LeaderEpochs()
			if !slices.Equal(got, want) {
				t.Fatalf("epochs after reopening (recovery point %d): %v, want %v", rp, got, want)
			}
			if l.LogEndOffset() != leo {
				t.Fatalf("log end %d, want %d", l.LogEndOffset(), leo)
			}
			checkEpochAnswers(t, l, want, leo)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = openTest(t, dir, faultConfig(), true, leo, nil)
			defer l.Close()
			if got := l.LeaderEpochs(); !slices.Equal(got, want) {
				t.Fatalf("epochs after a clean reopen: %v, want %v", got, want)
			}
			verifyDir(t, dir)
		})
	}
	write := func(entries []EpochEntry, extra string) func(string, []EpochEntry, int64) {
		return func(path string, _ []EpochEntry, _ int64) {
			var b strings.Builder
			fmt.Fprintf(&b, "0\n%d\n", len(entries))
			for _, e := range entries {
				fmt.Fprintf(&b, "%d %d\n", e.Epoch, e.StartOffset)
			}
			if err := os.WriteFile(path, []byte(b.String()+extra), 0o644); err != nil {
				panic(err)
			}
		}
	}
	last := func(_ []EpochEntry, lastBase int64) int64 { return lastBase }
	start := func([]EpochEntry, int64) int64 { return 0 }
	unknown := func([]EpochEntry, int64) int64 { return -1 }
	// The recovery point never passes an entry that is not fsync'd: at
	// most at the start of the epoch whose entry a crash lost.
	lastEpoch := func(want []EpochEntry, _ int64) int64 { return want[len(want)-1].StartOffset }
	// The file lost its latest entry (a lazy write lost).
	f("last epoch missing", lastEpoch, func(path string, want []EpochEntry, leo int64) {
		write(want[:2], "")(path, want, leo)
	})
	// A power loss before the first write reached the disk: every entry
	// lost, the recovery point still at the start (it waits for the fsync).
	f("file gone", start, func(path string, _ []EpochEntry, _ int64) { os.Remove(path) })
	f("two epochs missing, recovery of everything", unknown, func(path string, want []EpochEntry, leo int64) {
		write(want[:1], "")(path, want, leo)
	})
	// An entry whose batches the crash cut off.
	f("entry past the log end", last, func(path string, want []EpochEntry, leo int64) {
		write(append(slices.Clone(want), EpochEntry{9, leo + 10}), "")(path, want, leo)
	})
	// A power loss after a rename whose data never reached the disk: every
	// epoch is re-read from the batch headers, also below the recovery
	// point.
	f("file empty", last, func(path string, _ []EpochEntry, _ int64) {
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			panic(err)
		}
	})
	f("file torn", last, func(path string, want []EpochEntry, leo int64) {
		data := fmt.Sprintf("0\n3\n%d %d\n%d", want[0].Epoch, want[0].StartOffset, want[1].Epoch)
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			panic(err)
		}
	})
}

// checkEpochAnswers checks EndOffsetForEpoch (OffsetForLeaderEpoch) for
// each epoch around want's.
func checkEpochAnswers(t *testing.T, l *Log, want []EpochEntry, leo int64) {
	t.Helper()
	c := &epochCache{}
	for _, e := range want {
		c.entries = append(c.entries, epochEntry{e.Epoch, e.StartOffset})
	}
	for e := int32(-1); e <= want[len(want)-1].Epoch+1; e++ {
		wantEnd, wantEpoch := c.endOffsetFor(e, leo)
		end, epoch, err := l.EndOffsetForEpoch(e)
		if err != nil || end != wantEnd || epoch != wantEpoch {
			t.Errorf("EndOffsetForEpoch(%d) = %d, %d, %v; want %d, %d", e, end, epoch, err, wantEnd, wantEpoch)
		}
	}
}

// TestCorruptEpochCheckpointAfterCleanShutdown: the checkpoint is fsync'd
// by a clean close, so a file that does not parse after one is corruption,
// reported as such, not rebuilt.
func TestCorruptEpochCheckpointAfterCleanShutdown(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "t-0")
	l := openTest(t, dir, testConfig(), true, 0, nil)
	mustAppend(t, l, batch(2, 20, 1))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, leaderEpochFile), []byte("0\n2\n0 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := openLog(dir, openOptions{topic: "t", cfg: testConfig(), recoveryPoint: 2, logStart: -1, clean: true,
		logger: quietLogger()})
	if !errors.Is(err, ErrCorruption) {
		t.Fatalf("clean open with a corrupt checkpoint: %v, want ErrCorruption", err)
	}
}
