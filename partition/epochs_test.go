package partition

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/sluice/sluice/internal/vfs"
	"github.com/sluice/sluice/internal/vfs/errorfs"
)

// TestEndOffsetForEpochKafka: OffsetForLeaderEpoch as Kafka's
// LeaderEpochFileCache.endOffsetFor answers it.
func TestEndOffsetForEpochKafka(t *testing.T) {
	c := &epochCache{entries: []epochEntry{{2, 10}, {4, 25}, {7, 40}}}
	f := func(requested int32, wantEnd int64, wantEpoch int32) {
		t.Helper()
		if end, e := c.endOffsetFor(requested, 55); end != wantEnd || e != wantEpoch {
			t.Fatalf("endOffsetFor(%d) = %d, %d; want %d, %d", requested, end, e, wantEnd, wantEpoch)
		}
	}
	f(7, 55, 7)  // the latest: the log end
	f(4, 40, 4)  // a known epoch: the start of the next
	f(5, 40, 4)  // between: the largest epoch below, ending where 7 starts
	f(2, 25, 2)  // the first
	f(1, 10, 1)  // below the first entry: the requested epoch, ending at the first start
	f(8, -1, -1) // above the latest: undefined
	f(-1, -1, -1)
	empty := &epochCache{}
	if end, e := empty.endOffsetFor(0, 3); end != 3 || e != 0 {
		t.Fatalf("empty cache, epoch 0: %d, %d", end, e)
	}
}

// TestAssignLeaderEpoch: becoming leader at the log end records the
// epoch in memory; the first append carries the epoch and records its
// entry, which the next flush writes to the leader-epoch-checkpoint; stale
// epochs are fenced.
func TestAssignLeaderEpoch(t *testing.T) {
	l, dir := newTestLog(t, testConfig(), newClock())
	mustAppend(t, l, batch(3, 20, 1_700_000_000_000))
	if exists(filepath.Join(dir, leaderEpochFile)) {
		t.Fatal("an append wrote the leader-epoch-checkpoint")
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := l.AssignLeaderEpoch(3, l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	ckpt := func(want string) {
		t.Helper()
		if b, err := os.ReadFile(filepath.Join(dir, leaderEpochFile)); err != nil || string(b) != want {
			t.Fatalf("leader-epoch-checkpoint %q, %v; want %q", b, err, want)
		}
	}
	ckpt("0\n1\n0 0\n") // deferred: no record carries epoch 3 yet
	if got := l.LeaderEpochs(); len(got) != 2 || got[1] != (EpochEntry{3, 3}) {
		t.Fatalf("LeaderEpochs = %v", got)
	}
	mustAppend(t, l, batch(2, 20, 1_700_000_000_000))
	ckpt("0\n1\n0 0\n") // recorded, written by the flush
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	ckpt("0\n2\n0 0\n3 3\n")
	hs := readAll(t, l, 3)
	if len(hs) != 1 || hs[0].PartitionLeaderEpoch != 3 || l.LeaderEpoch() != 3 {
		t.Fatalf("batch epoch %d, log epoch %d; want 3", hs[0].PartitionLeaderEpoch, l.LeaderEpoch())
	}
	if err := l.AssignLeaderEpoch(2, l.LogEndOffset()); !errors.Is(err, ErrFencedLeaderEpoch) {
		t.Fatalf("older epoch: %v", err)
	}
	if err := l.AssignLeaderEpoch(5, 99); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("start beyond the log end: %v", err)
	}
	if off, e, _ := l.EndOffsetForEpoch(0); off != 3 || e != 0 {
		t.Fatalf("EndOffsetForEpoch(0) = %d, %d", off, e)
	}
}

// LastLeaderEpoch is the last of LeaderEpochs, -1 while there is none.
func TestLastLeaderEpoch(t *testing.T) {
	l, _ := newTestLog(t, testConfig(), newClock())
	check := func(step string) {
		t.Helper()
		want := int32(-1)
		if es := l.LeaderEpochs(); len(es) > 0 {
			want = es[len(es)-1].Epoch
		}
		if got := l.LastLeaderEpoch(); got != want {
			t.Fatalf("%s: LastLeaderEpoch %d, LeaderEpochs %v", step, got, l.LeaderEpochs())
		}
	}
	check("fresh")
	if l.LastLeaderEpoch() != -1 {
		t.Fatalf("fresh log: LastLeaderEpoch %d, want -1", l.LastLeaderEpoch())
	}
	mustAppend(t, l, batch(3, 20, 1_700_000_000_000))
	check("first append")
	if err := l.AssignLeaderEpoch(4, l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	check("epoch 4 assigned, no record in it yet")
	mustAppend(t, l, batch(2, 20, 1_700_000_000_000))
	check("a record in epoch 4")
	if l.LastLeaderEpoch() != 4 {
		t.Fatalf("LastLeaderEpoch %d, want 4", l.LastLeaderEpoch())
	}
}

// TestTruncationOffsetTable: the follower's truncation point for the
// divergence cases of KIP-101 and KIP-279, epochs and offsets as in their
// scenarios (A and B are the two replicas; "A asks" is the follower's
// OffsetForLeaderEpoch with its latest epoch, answered by the leader's
// endOffsetFor on the leader's own cache).
func TestTruncationOffsetTable(t *testing.T) {
	type cache = []EpochEntry
	f := func(name string, leader cache, leaderLEO int64, follower cache, leo, hw int64, want ...int64) {
		t.Helper()
		lc := &epochCache{}
		for _, e := range leader {
			lc.entries = append(lc.entries, epochEntry{e.Epoch, e.StartOffset})
		}
		asked := int32(-1)
		if len(follower) > 0 {
			asked = follower[len(follower)-1].Epoch
		}
		var got []int64
		for step := 0; step < 5; step++ {
			end, epoch := lc.endOffsetFor(asked, leaderLEO)
			tr := TruncationOffset(epoch, end, follower, leo, hw)
			got = append(got, tr.Offset)
			leo = tr.Offset // truncate, as TruncateTo does
			var kept cache
			for _, e := range follower {
				if e.StartOffset < leo {
					kept = append(kept, e)
				}
			}
			follower = kept
			if tr.Done {
				break
			}
			asked = tr.NextEpoch
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: truncation offsets %v, want %v", name, got, want)
		}
	}
	// KIP-101 scenario 1 (replica restarts behind the leader's HW update):
	// A leads epoch 0 with m1@0 m2@1; B has m1 and restarts. B's end for
	// epoch 0 is its LEO 1; the leader says epoch 0 ends at 2: B keeps m1
	// and truncates nothing it has.
	f("KIP-101 1", cache{{0, 0}}, 2, cache{{0, 0}}, 1, 0, 1)
	// KIP-101 scenario 1, next step: A restarts after B became leader in
	// epoch 1 at offset 1. A (m1, m2 in epoch 0) asks for epoch 0; B says it
	// ended at 1: A drops m2 instead of keeping a record B does not have.
	f("KIP-101 1b", cache{{0, 0}, {1, 1}}, 1, cache{{0, 0}}, 2, 1, 1)
	// KIP-101 scenario 2 (divergence): both crash; B (m1 only) comes back
	// first, leads epoch 1 and writes m3@1; A (m1, m2 in epoch 0) comes
	// back as follower: it truncates m2 at 1, then fetches m3.
	f("KIP-101 2", cache{{0, 0}, {1, 1}}, 2, cache{{0, 0}}, 2, 0, 1)
	// KIP-279 (fast leader fail-over): A leads epoch 1 (offsets 0-2), B has
	// 0-1; B leads epoch 2 and writes offset 2 in it; B fails before A
	// fetched it, A leads epoch 3 from its LEO 3. B (0-1 in epoch 1, 2 in
	// epoch 2) asks for epoch 2; A knows no epoch 2 and answers epoch 1
	// ending at 3. Pre-KIP-279 B kept its offset 2 (diverged); now B looks
	// up its own end of epoch 1 (2) and truncates there.
	f("KIP-279 fast fail-over", cache{{1, 0}, {3, 3}}, 4, cache{{1, 0}, {2, 2}}, 3, 2, 2)
	// KIP-279, the follower does not know the epoch the leader answers with:
	// it truncates to its own end of the largest epoch below it and asks
	// again for that epoch, twice over here.
	f("KIP-279 loop", cache{{1, 0}, {2, 4}, {4, 6}}, 9, cache{{1, 0}, {3, 5}}, 8, 3, 5, 4)
	// The follower is simply behind in the same epoch: nothing to truncate.
	f("behind", cache{{0, 0}}, 10, cache{{0, 0}}, 6, 6, 6)
	// The follower is ahead of the leader in the same epoch (unclean
	// election): it drops what the leader does not have.
	f("ahead", cache{{0, 0}, {1, 7}}, 9, cache{{0, 0}}, 10, 5, 7)
	// The leader's log no longer holds the follower's epochs (below its
	// first entry): it answers the requested epoch ending where its own log
	// starts.
	f("below the leader's first epoch", cache{{5, 100}}, 120, cache{{1, 0}, {2, 40}}, 90, 80, 90)
	// The leader knows no epoch at all for the question (undefined end):
	// fall back to the high watermark.
	if tr := TruncationOffset(-1, -1, cache{{0, 0}}, 10, 7); tr.Offset != 7 || !tr.Done {
		t.Errorf("undefined answer: %+v, want the hw 7", tr)
	}
	// An old leader answers an end offset without an epoch.
	if tr := TruncationOffset(-1, 8, cache{{0, 0}}, 10, 7); tr.Offset != 8 || !tr.Done {
		t.Errorf("no epoch in the answer: %+v, want 8", tr)
	}
	// The follower tracked no epoch then: the leader's end.
	if tr := TruncationOffset(3, 8, nil, 10, 7); tr.Offset != 8 || !tr.Done {
		t.Errorf("follower without epochs: %+v, want 8", tr)
	}
}

// TestAssignLeaderEpochCrash: an epoch begun at the log end and crashed
// before any append is gone after recovery (no record carried it) and can
// be begun again; one that an append used survives the crash with the
// append.
func TestAssignLeaderEpochCrash(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "t-0")
	l := openTest(t, dir, testConfig(), true, 0, nil)
	mustAppend(t, l, batch(3, 20, 1))
	if err := l.AssignLeaderEpoch(5, 3); err != nil {
		t.Fatal(err)
	}
	crash(l)
	l = openTest(t, dir, testConfig(), false, -1, nil)
	if got := l.LeaderEpochs(); len(got) != 1 || got[0] != (EpochEntry{0, 0}) || l.LogEndOffset() != 3 {
		t.Fatalf("after the crash: epochs %v, LEO %d; want [{0 0}], 3", got, l.LogEndOffset())
	}
	if err := l.AssignLeaderEpoch(6, 3); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, batch(2, 20, 1))
	crash(l)
	l = openTest(t, dir, testConfig(), false, -1, nil)
	defer l.Close()
	if got := l.LeaderEpochs(); len(got) != 2 || got[1] != (EpochEntry{6, 3}) {
		t.Fatalf("after the second crash: epochs %v; want [{0 0} {6 3}]", got)
	}
	if hs := readAll(t, l, 3); len(hs) != 1 || hs[0].PartitionLeaderEpoch != 6 {
		t.Fatalf("batches from 3: %+v", hs)
	}
}

// TestDeferredEpochWriteFails: an append that begins an epoch records its
// checkpoint entry without writing it; when the flush cannot write it, the
// flush fails with ErrStorage (the log goes offline), the recovery point
// stays below the epoch's start, and a restart after that crash re-learns
// the epoch from the batches.
func TestDeferredEpochWriteFails(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "t-0")
	var fail atomic.Bool
	fsys := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if fail.Load() && op.Kind == errorfs.OpWrite && strings.Contains(op.Path, leaderEpochFile) {
			return syscall.EIO
		}
		return nil
	}))
	l, err := openLog(dir, openOptions{topic: "t", cfg: testConfig(), recoveryPoint: 0, logStart: -1, clean: true,
		logger: quietLogger(), fs: fsys})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, batch(3, 20, 1))
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := l.AssignLeaderEpoch(2, 3); err != nil {
		t.Fatalf("AssignLeaderEpoch at the log end wrote the checkpoint: %v", err)
	}
	fail.Store(true)
	mustAppend(t, l, batch(2, 20, 1)) // writes no checkpoint
	if err := l.Flush(); !errors.Is(err, ErrStorage) {
		t.Fatalf("flush with the checkpoint failing: %v, want ErrStorage", err)
	}
	if rp := l.recoveryPointOf(); rp > 3 {
		t.Fatalf("recovery point %d past the start 3 of an epoch not in the checkpoint", rp)
	}
	if _, err := l.Append(batch(1, 20, 1)); !errors.Is(err, ErrStorage) {
		t.Fatalf("append after the failed flush: %v, want the sticky ErrStorage", err)
	}
	crash(l)
	l = openTest(t, dir, testConfig(), false, 3, nil)
	defer l.Close()
	if got := l.LeaderEpochs(); l.LogEndOffset() != 5 || len(got) != 2 || got[1] != (EpochEntry{2, 3}) {
		t.Fatalf("after the restart: log end %d, epochs %v; want 5, [{0 0} {2 3}]", l.LogEndOffset(), got)
	}
}
