package partition

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sluice/sluice/internal/vfs"
	"github.com/sluice/sluice/internal/vfs/errorfs"
	"github.com/sluice/sluice/segment/segmenttest"
)

// tearTail appends n bytes of garbage to the .log of segment base in dir,
// as a write torn by a crash leaves.
func tearTail(t *testing.T, dir string, base int64, n int) {
	t.Helper()
	f, err := os.OpenFile(fileName(dir, base, logSuffix), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
}

// TestUncleanLoadInActiveSegmentSyncsNothing: a log recovered after a
// kill -9 inside its active segment is served without an fsync or a
// write of the leader-epoch checkpoint (Kafka's LogLoader does not flush
// either); its recovery point stays where it was, so a second crash, or a
// power loss that undoes the torn tail's truncation, recovers the same
// log again, and its next flush makes the recovered bytes and the learned
// epoch durable. A recovery that spanned rolled segments fsyncs them at
// load, since a FlushAlways round fsyncs only the active segment before
// moving the recovery point; and one that must drop an epoch the file
// holds rewrites the file at once.
func TestUncleanLoadInActiveSegmentSyncsNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "t-0")
	cfg := testConfig()
	l := openTest(t, dir, cfg, true, 0, nil)
	mustAppend(t, l, batch(3, 40, 1))
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	rp := l.recoveryPointOf()
	if err := l.AssignLeaderEpoch(2, rp); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, batch(4, 40, 1))
	leo, want := l.LogEndOffset(), l.LeaderEpochs()
	crash(l)
	ckpt := filepath.Join(dir, leaderEpochFile)
	before, err := os.ReadFile(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 2 || rp != 3 {
		t.Fatalf("setup: epochs %v, recovery point %d", want, rp)
	}

	for round := range 2 {
		// A torn write at the end; the second round as a power loss
		// after the first reopen's truncation leaves it.
		tearTail(t, dir, 0, 61)
		fsys := errorfs.Wrap(vfs.Default, nil)
		l = openTestFS(t, dir, cfg, false, rp, fsys)
		for _, op := range fsys.Ops() {
			if op.Kind == errorfs.OpSync || op.Kind == errorfs.OpSyncDir || op.Kind == errorfs.OpRename {
				t.Errorf("round %d: the unclean load did %v", round, op)
			}
		}
		if got := l.LeaderEpochs(); !slices.Equal(got, want) {
			t.Fatalf("round %d: epochs %v, want %v", round, got, want)
		}
		if got := l.LogEndOffset(); got != leo {
			t.Fatalf("round %d: log end %d, want %d", round, got, leo)
		}
		if got := l.recoveryPointOf(); got != rp {
			t.Fatalf("round %d: recovery point %d after the load, want it kept at %d", round, got, rp)
		}
		if after, _ := os.ReadFile(ckpt); string(after) != string(before) {
			t.Fatalf("round %d: the load wrote the checkpoint: %q, was %q", round, after, before)
		}
		crash(l)
	}

	// The next flush makes both durable and moves the recovery point.
	fsys := errorfs.Wrap(vfs.Default, nil)
	l = openTestFS(t, dir, cfg, false, rp, fsys)
	fsys.Reset()
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if f, _ := epochSyncs(fsys.Ops()); f != 1 {
		t.Fatalf("the flush after the load fsynced the checkpoint %d times, want 1: %v", f, fsys.Ops())
	}
	if got := l.recoveryPointOf(); got != leo {
		t.Fatalf("recovery point %d after the flush, want the log end %d", got, leo)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir, cfg, true, leo, nil)
	if got := l.LeaderEpochs(); !slices.Equal(got, want) {
		t.Fatalf("epochs after a clean reopen: %v, want %v", got, want)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	t.Run("fsync=always after the load", func(t *testing.T) {
		acfg := cfg
		acfg.Flush = FlushAlways
		l := openTest(t, dir, acfg, true, leo, nil)
		mustAppend(t, l, batch(3, 40, 1))
		end := l.LogEndOffset()
		crash(l)
		l = openTest(t, dir, acfg, false, leo, nil)
		defer l.Close()
		if err := l.AssignLeaderEpoch(5, end); err != nil {
			t.Fatal(err)
		}
		mustAppend(t, l, batch(1, 40, 1))
		// The round fsync'd the active segment, recovered bytes and all;
		// epoch 5's entry is not in the file yet.
		if got := l.recoveryPointOf(); got != end {
			t.Fatalf("recovery point %d after a round, want %d (epoch 5's start)", got, end)
		}
		if err := l.flushEpochCheckpoint(); err != nil {
			t.Fatal(err)
		}
		if got := l.recoveryPointOf(); got != end+1 {
			t.Fatalf("recovery point %d after the checkpoint's flush, want %d", got, end+1)
		}
	})

	t.Run("spanning rolled segments", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "t-0")
		l := openTest(t, dir, faultConfig(), true, 0, nil)
		for range 6 {
			mustAppend(t, l, batch(2, 100, 1))
		}
		leo := l.LogEndOffset()
		l.mu.RLock()
		n := len(l.mu.segments)
		l.mu.RUnlock()
		crash(l)
		if n < 3 {
			t.Fatalf("setup: %d segments, want at least 3", n)
		}
		fsys := errorfs.Wrap(vfs.Default, nil)
		l = openTestFS(t, dir, faultConfig(), false, 0, fsys) // the checkpoint's point: the start
		defer l.Close()
		syncs := 0
		for _, op := range fsys.Ops() {
			if op.Kind == errorfs.OpSync {
				syncs++
			}
		}
		if syncs < n {
			t.Fatalf("a load recovering %d segments fsynced %d files, want them all: %v", n, syncs, fsys.Ops())
		}
		if got := l.recoveryPointOf(); got != leo {
			t.Fatalf("recovery point %d, want the log end %d", got, leo)
		}
	})

	t.Run("an epoch in the file past the log end", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "t-0")
		l := openTest(t, dir, cfg, true, 0, nil)
		mustAppend(t, l, batch(3, 40, 1))
		mustAppend(t, l, batch(2, 40, 1))
		if err := l.AssignLeaderEpoch(4, 5); err != nil {
			t.Fatal(err)
		}
		mustAppend(t, l, batch(2, 40, 1))
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
		crash(l)
		// All but the first batch torn: the log ends at 3, and epoch 4
		// (from 5) is past it.
		if err := os.Truncate(fileName(dir, 0, logSuffix), int64(len(batch(3, 40, 1)))); err != nil {
			t.Fatal(err)
		}
		fsys := errorfs.Wrap(vfs.Default, nil)
		l = openTestFS(t, dir, cfg, false, 0, fsys)
		defer l.Close()
		if f, _ := epochSyncs(fsys.Ops()); f != 1 {
			t.Fatalf("dropping the file's epoch past the log end fsynced the checkpoint %d times, want 1", f)
		}
		data, err := os.ReadFile(filepath.Join(dir, leaderEpochFile))
		if err != nil || string(data) != "0\n1\n0 0\n" {
			t.Fatalf("checkpoint after the load: %q, %v", data, err)
		}
	})
}

// TestRecoveryReplaysBelowTheRecoveredSegment: recovery rebuilds the
// producer state from the newest snapshot at or below the first segment it
// validates, replaying the batch headers between them, and then from the
// batches it validates. With every snapshot gone, a producer whose batches
// all lie below the recovered segment is known only from that replay.
func TestRecoveryReplaysBelowTheRecoveredSegment(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "t-0")
	cfg := faultConfig()
	pb := func(id int64, seq int32, n int) []byte {
		b := segmenttest.NewBatch(0, n, 1, 100)
		b.ProducerID, b.BaseSequence = id, seq
		return b.Encode()
	}
	l := openTest(t, dir, cfg, true, 0, nil)
	for i := range int32(3) {
		mustAppend(t, l, pb(7, 2*i, 2))
	}
	lastA := l.LogEndOffset() - 2
	for l.activeBase() == 0 || l.activeBase() <= lastA+1 {
		mustAppend(t, l, batch(2, 100, 1))
	}
	mustAppend(t, l, pb(8, 0, 2))
	base := l.activeBase()
	crash(l)
	snaps, err := filepath.Glob(filepath.Join(dir, "*"+snapshotSuffix))
	if err != nil || len(snaps) == 0 {
		t.Fatalf("setup: snapshots %v, %v", snaps, err)
	}
	for _, p := range snaps {
		os.Remove(p)
	}
	l = openTest(t, dir, cfg, false, base, nil)
	defer l.Close()
	if dup, err := l.Append(pb(7, 4, 2)); err != nil || !dup.Duplicate || dup.BaseOffset != lastA {
		t.Fatalf("retry of producer 7's last batch (below the recovered segment): %+v %v, want a duplicate at %d",
			dup, err, lastA)
	}
	if dup, err := l.Append(pb(8, 0, 2)); err != nil || !dup.Duplicate {
		t.Fatalf("retry of producer 8's batch (in the recovered segment): %+v %v, want a duplicate", dup, err)
	}
}

// activeBase is the base offset of l's active segment.
func (l *log) activeBase() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.active().base
}
