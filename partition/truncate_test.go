package partition

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/vfs"
	"github.com/sluice/sluice/internal/vfs/errorfs"
	"github.com/sluice/sluice/mmapindex"
	"github.com/sluice/sluice/segment"
)

// truncCfg rolls every few batches so truncations cross segments.
func truncCfg() Config {
	c := testConfig()
	c.SegmentBytes = 400
	c.IndexIntervalBytes = 100
	return c
}

// leaderHistory builds a leader log with idempotent and transactional
// producers, an aborted and a committed transaction, and three leader
// epochs, and returns its batches as a follower would fetch them.
func leaderHistory(t *testing.T) [][]byte {
	t.Helper()
	l, _ := newTestLog(t, truncCfg(), newClock())
	ts := int64(1_700_000_000_000)
	mustAppend(t, l, batch(3, 20, ts))                // 0-2
	mustAppend(t, l, txnBatch(7, 0, 0, 2, false))     // 3-4
	mustAppend(t, l, txnBatch(8, 1, 0, 2, true))      // 5-6 txn of 8 opens
	if err := l.AssignLeaderEpoch(2, 7); err != nil { // epoch 2 from 7
		t.Fatal(err)
	}
	mustAppend(t, l, txnBatch(7, 0, 2, 3, false))             // 7-9
	if _, err := l.AppendMarker(8, 1, false, 3); err != nil { // 10: abort
		t.Fatal(err)
	}
	mustAppend(t, l, txnBatch(9, 0, 0, 2, true)) // 11-12 txn of 9 opens
	if err := l.AssignLeaderEpoch(5, 13); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, batch(4, 30, ts+5))                     // 13-16
	if _, err := l.AppendMarker(9, 0, true, 3); err != nil { // 17: commit
		t.Fatal(err)
	}
	mustAppend(t, l, txnBatch(7, 0, 5, 2, false)) // 18-19
	return replicaBatches(t, l, 0)
}

// followerWith opens a replicated log in a new dir and appends batches one
// fetch each.
func followerWith(t *testing.T, dir string, fsys vfs.FS, batches [][]byte) *Log {
	t.Helper()
	o := openOptions{topic: "t", partition: 0, cfg: truncCfg(), recoveryPoint: 0, logStart: -1, clean: true,
		logger: quietLogger(), now: newClock().now, fs: fsys}
	l, err := openLog(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetReplicated(true); err != nil {
		t.Fatal(err)
	}
	for _, b := range batches {
		if _, err := l.AppendAsFollower(b); err != nil {
			t.Fatalf("AppendAsFollower: %v", err)
		}
	}
	return l
}

// prefixBelow is the batches wholly below end.
func prefixBelow(all [][]byte, end int64) [][]byte {
	var out [][]byte
	for _, b := range all {
		if h, _ := segment.ParseHeader(b); h.LastOffset() < end {
			out = append(out, b)
		}
	}
	return out
}

// logState is what must agree between a truncated log and one that never
// had the truncated batches.
func logState(t *testing.T, l *Log) string {
	t.Helper()
	l.UpdateHighWatermark(l.LogEndOffset())
	res, err := l.ReadCommitted(l.LogStartOffset(), 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Regions {
		r.Release()
	}
	return fmt.Sprintf("leo %d hw %d lso %d epochs %v producers %v aborted %v bytes %x",
		l.LogEndOffset(), l.HighWatermark(), l.LastStableOffset(), l.LeaderEpochs(), l.Producers(),
		res.AbortedTransactions, concat(replicaBatches(t, l, l.LogStartOffset())))
}

// TestTruncateToMatchesPrefix truncates a follower at every offset (batch
// starts, inside batches, segment boundaries) and compares it with a log
// that only ever had the batches below the cut: the same bytes, producers,
// epochs, transactions and LSO; both then take the rest of the leader's
// log alike, and the truncated one reopens (after a crash) the same.
func TestTruncateToMatchesPrefix(t *testing.T) {
	all := leaderHistory(t)
	leo := int64(20)
	for cut := int64(1); cut < leo; cut++ {
		root := t.TempDir()
		fdir, rdir := filepath.Join(root, "f-0"), filepath.Join(root, "r-0")
		f := followerWith(t, fdir, nil, all)
		wantHW := int64(4)
		f.UpdateHighWatermark(wantHW)
		if err := f.TruncateTo(cut); err != nil {
			t.Fatalf("TruncateTo(%d): %v", cut, err)
		}
		end := f.LogEndOffset()
		if end > cut {
			t.Fatalf("TruncateTo(%d): log end %d", cut, end)
		}
		if f.HighWatermark() != min(wantHW, end) {
			t.Fatalf("TruncateTo(%d): hw %d, want %d", cut, f.HighWatermark(), min(wantHW, end))
		}
		kept := prefixBelow(all, end)
		r := followerWith(t, rdir, nil, kept)
		if got, want := logState(t, f), logState(t, r); got != want {
			t.Fatalf("TruncateTo(%d):\n got %s\nwant %s", cut, got, want)
		}
		rest := all[len(kept):]
		for _, l := range []*Log{f, r} {
			if _, err := l.AppendAsFollower(concat(rest)); err != nil {
				t.Fatalf("TruncateTo(%d): fetching the rest: %v", cut, err)
			}
		}
		if got, want := logState(t, f), logState(t, r); got != want {
			t.Fatalf("TruncateTo(%d) then the rest:\n got %s\nwant %s", cut, got, want)
		}
		if err := f.TruncateTo(cut); err != nil {
			t.Fatal(err)
		}
		crash(f)
		g := openTest(t, fdir, truncCfg(), false, -1, nil)
		if got, want := concat(replicaBatches(t, g, 0)), concat(kept); !bytes.Equal(got, want) {
			t.Fatalf("TruncateTo(%d), crash, reopen: batches differ", cut)
		}
		if g.LogEndOffset() != end {
			t.Fatalf("TruncateTo(%d), crash, reopen: log end %d, want %d", cut, g.LogEndOffset(), end)
		}
		g.Close()
		r.Close()
		f.Close()
		verifyDir(t, fdir)
	}
}

// TestTruncateFully: a cut below the log start (or TruncateFullyAndStartAt
// above the end) empties the log and starts it at the offset.
func TestTruncateFully(t *testing.T) {
	all := leaderHistory(t)
	dir := filepath.Join(t.TempDir(), "t-0")
	f := followerWith(t, dir, nil, all)
	if err := f.TruncateFullyAndStartAt(50); err != nil {
		t.Fatal(err)
	}
	if f.LogStartOffset() != 50 || f.LogEndOffset() != 50 || f.HighWatermark() != 50 || f.Segments() != 1 ||
		len(f.Producers()) != 0 || len(f.LeaderEpochs()) != 0 {
		t.Fatalf("start %d end %d hw %d segments %d producers %v epochs %v", f.LogStartOffset(), f.LogEndOffset(),
			f.HighWatermark(), f.Segments(), f.Producers(), f.LeaderEpochs())
	}
	b := batch(2, 20, 1_700_000_000_000)
	segment.SetBaseOffset(b, 50)
	if _, err := f.AppendAsFollower(b); err != nil {
		t.Fatal(err)
	}
	if _, err := f.DeleteRecordsBefore(51); err == nil || f.LogStartOffset() != 50 {
		// hw is still 50 (replicated): DeleteRecords cannot pass it.
		t.Fatalf("DeleteRecordsBefore(51) above the hw: start %d, %v", f.LogStartOffset(), err)
	}
	f.UpdateHighWatermark(52)
	if _, err := f.DeleteRecordsBefore(51); err != nil {
		t.Fatal(err)
	}
	if err := f.TruncateTo(40); err != nil { // below the log start 51
		t.Fatal(err)
	}
	if f.LogStartOffset() != 40 || f.LogEndOffset() != 40 {
		t.Fatalf("TruncateTo below the start: start %d end %d", f.LogStartOffset(), f.LogEndOffset())
	}
	f.Close()
	g := openTest(t, dir, truncCfg(), true, 40, nil)
	defer g.Close()
	if g.LogEndOffset() != 40 || g.LogStartOffset() != 40 {
		t.Fatalf("reopened: start %d end %d", g.LogStartOffset(), g.LogEndOffset())
	}
	verifyDir(t, dir)
}

// TestTruncateFullyKeepsNewIndexes: a truncation to the log's first
// offset (a follower whose batches its new leader never had: a kill -9 of
// the leader of epoch 0 before they were replicated) starts a segment of
// the same name as the one it deletes. The old segment's indexes, open
// (recovery after a kill -9 opens them), follow their files to the
// .deleted names: closed by the old name, their trim cut the new
// segment's preallocated, mapped .index to the old entry count (none),
// and the next index entry's write faulted (SIGBUS), killing the broker
// (TestNemesis/rf3). The old segment has index files (more entries than
// an index keeps in memory), which recovery maps; the new one creates its
// own at the same names while the old ones are still open.
func TestTruncateFullyKeepsNewIndexes(t *testing.T) {
	cfg := testConfig()
	cfg.IndexIntervalBytes = 1 // an entry per batch
	const entries = 600        // past the 512 entries an index keeps in memory: its files exist
	ts := int64(1_700_000_000_000)
	dir := filepath.Join(t.TempDir(), "t-0")
	l := openTest(t, dir, cfg, true, 0, nil)
	for i := range int64(entries) {
		mustAppend(t, l, batch(1, 20, ts+i))
	}
	crash(l)
	l = openTest(t, dir, cfg, false, -1, nil) // recovery opens the indexes, writable
	defer func() { l.Close() }()
	old := l.active()
	if old.idx.offsets == nil || old.idx.offsets.Absent() || old.idx.times.Absent() {
		t.Fatal("the old segment's indexes are not open with files: the test proves nothing")
	}
	// A reader holds the old segment: its indexes close (and trim) only
	// after the new segment made its own files.
	pinned, _ := l.pinAll()
	if err := l.TruncateTo(0); err != nil {
		t.Fatal(err)
	}
	idx := []string{filepath.Join(dir, "00000000000000000000.index"), filepath.Join(dir, "00000000000000000000.timeindex")}
	for _, p := range idx {
		if exists(p) {
			t.Fatalf("%s exists after the truncation: the new segment has no index entry yet", p)
		}
	}
	for i := range int64(entries) {
		mustAppend(t, l, batch(1, 20, ts+i))
	}
	releaseAll(pinned)
	want := int64(cfg.SegmentIndexBytes / mmapindex.OffsetEntrySize * mmapindex.OffsetEntrySize)
	for _, p := range idx {
		if strings.HasSuffix(p, ".timeindex") {
			want = int64(cfg.SegmentIndexBytes / mmapindex.TimeEntrySize * mmapindex.TimeEntrySize)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != want {
			t.Fatalf("%s of the new segment is %d bytes, want %d (preallocated and mapped): "+
				"the deleted segment's index trimmed it", p, fi.Size(), want)
		}
	}
	for i := range int64(10) { // entries written past the size a wrong trim would leave
		mustAppend(t, l, batch(1, 20, ts+entries+i))
	}
	end := l.LogEndOffset()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	verifyDir(t, dir)
	l = openTest(t, dir, cfg, true, end, nil)
	if got := readAll(t, l, 0); len(got) != entries+10 || got[0].BaseOffset != 0 || l.LogEndOffset() != entries+10 {
		t.Fatalf("reopened: log end %d, %d batches %v", l.LogEndOffset(), len(got), got)
	}
}

// TestTruncateCrashAtEveryStep fails each mutating filesystem call of a
// TruncateTo in turn (the state a kill -9 just before it leaves), abandons
// the log and reopens the directory as a restart would, with the recovery
// point checkpointed before the truncation: the log opens, and holds a
// prefix of the original batches no shorter than the truncation target.
func TestTruncateCrashAtEveryStep(t *testing.T) {
	all := leaderHistory(t)
	const cut = 6
	run := func(dir string, inj errorfs.Injector) (*errorfs.FS, error) {
		fsys := errorfs.Wrap(vfs.Default, inj).SkipSyncs()
		f := followerWith(t, dir, fsys, all)
		if err := f.Flush(); err != nil {
			t.Fatal(err)
		}
		fsys.Reset()
		err := f.TruncateTo(cut)
		crash(f)
		return fsys, err
	}
	counted, err := run(filepath.Join(t.TempDir(), "count-0"), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := len(counted.Ops())
	t.Logf("%d mutating calls in TruncateTo", n)
	if n < 4 {
		t.Fatalf("only %d calls: %v", n, counted.Ops())
	}
	for k := 1; k <= n; k++ {
		dir := filepath.Join(t.TempDir(), fmt.Sprintf("k%d-0", k))
		inj, armed := failNthArmed(k)
		fsys := errorfs.Wrap(vfs.Default, inj).SkipSyncs()
		f := followerWith(t, dir, fsys, all)
		if err := f.Flush(); err != nil {
			t.Fatal(err)
		}
		armed.Store(true)
		terr := f.TruncateTo(cut)
		crash(f)
		g := openTest(t, dir, truncCfg(), false, 20, nil)
		got := replicaBatches(t, g, 0)
		end := g.LogEndOffset()
		if end < cut-1 || !bytes.Equal(concat(got), concat(prefixBelow(all, end))) {
			t.Fatalf("k=%d (%v): reopened with log end %d, not a prefix of at least %d", k, terr, end, cut-1)
		}
		if e := g.LeaderEpochs(); len(e) > 0 && e[len(e)-1].StartOffset > end {
			t.Fatalf("k=%d: epochs %v beyond the log end %d", k, e, end)
		}
		g.Close()
		verifyDir(t, dir)
	}
}

// TestTruncateThenStoreRestart: after a truncation, a clean stop and start
// trusts the checkpoints (reads no segment data) and finds the truncated
// log; the follower's next fetch appends where it was cut.
func TestTruncateThenStoreRestart(t *testing.T) {
	all := leaderHistory(t)
	dir := t.TempDir()
	s := openTestStore(t, dir)
	l, err := s.Create("t", 0, [16]byte{9}, truncCfg())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetReplicated(true); err != nil {
		t.Fatal(err)
	}
	for _, b := range all {
		if _, err := l.AppendAsFollower(b); err != nil {
			t.Fatal(err)
		}
	}
	l.UpdateHighWatermark(15)
	if err := l.TruncateTo(11); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTestStore(t, dir)
	defer s.Close()
	l = s.Get("t", 0)
	if l.RecoveredBytes() != 0 || l.LogEndOffset() != 11 {
		t.Fatalf("after a clean restart: recovered %d bytes, log end %d; want 0 and 11", l.RecoveredBytes(), l.LogEndOffset())
	}
	if err := l.SetReplicated(true); err != nil {
		t.Fatal(err)
	}
	if l.HighWatermark() != 11 {
		t.Fatalf("hw %d, want the checkpointed 11 (clamped at the truncation)", l.HighWatermark())
	}
	if _, err := l.AppendAsFollower(concat(all[len(prefixBelow(all, 11)):])); err != nil {
		t.Fatal(err)
	}
	if got := concat(replicaBatches(t, l, 0)); !bytes.Equal(got, concat(all)) {
		t.Fatal("log differs from the leader's after truncation, restart and refetch")
	}
}

// TestTruncateAtEndDropsUnusedEpoch: a broker that led (AssignLeaderEpoch at
// its log end), appended nothing and became a follower keeps that epoch as
// its last; the new leader does not know it and answers the divergence
// (an older epoch ending at this log's end). TruncateTo at the log end cuts
// no record but must drop the unused epoch, else the follower asks with it
// again and the leader answers the same divergence at every fetch (a
// replica stuck for ever: found by the nemesis test).
func TestTruncateAtEndDropsUnusedEpoch(t *testing.T) {
	all := leaderHistory(t)
	l := followerWith(t, t.TempDir(), nil, all)
	leo := l.LogEndOffset()
	if err := l.AssignLeaderEpoch(9, leo); err != nil {
		t.Fatal(err)
	}
	// The new leader (epoch 10) never saw epoch 9: its answer for it is
	// epoch 5 ending at this log's end.
	tr := l.TruncationFor(5, leo)
	if tr.Offset != leo {
		t.Fatalf("truncation offset %d, want the log end %d", tr.Offset, leo)
	}
	if err := l.TruncateTo(tr.Offset); err != nil {
		t.Fatal(err)
	}
	eps := l.LeaderEpochs()
	if last := eps[len(eps)-1]; last.Epoch != 5 {
		t.Fatalf("epochs after truncating at the end: %v, want the last one to be 5", eps)
	}
	if l.LogEndOffset() != leo {
		t.Fatalf("log end %d after truncating at it, want %d", l.LogEndOffset(), leo)
	}
}

// TestTruncatedReaderStatsItsLog: the largest timestamp of a segment whose
// batches have none is its .log's modification time (retention.ms); for a
// segment a truncation to the log's first offset renamed for deletion, held
// by a reader, it is still that segment's, not that of the new segment's
// .log of the same name (it was statted by its old path).
func TestTruncatedReaderStatsItsLog(t *testing.T) {
	cfg := testConfig()
	l, dir := newTestLog(t, cfg, nil)
	mustAppend(t, l, batch(1, 20, -1)) // no timestamp
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	old := time.UnixMilli(1_000_000_000_000)
	if err := os.Chtimes(filepath.Join(dir, "00000000000000000000.log"), old, old); err != nil {
		t.Fatal(err)
	}
	l.mu.RLock()
	seg := l.mu.segments[0]
	seg.acquire() // a reader's pin
	l.mu.RUnlock()
	defer seg.Release()
	if got, err := seg.largestTimestamp(); err != nil || got != old.UnixMilli() {
		t.Fatalf("largest timestamp %d (%v), want the .log's mtime %d", got, err, old.UnixMilli())
	}
	if err := l.TruncateTo(0); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, batch(1, 20, -1)) // the new segment's .log, modified now
	if got, err := seg.largestTimestamp(); err != nil || got != old.UnixMilli() {
		t.Fatalf("largest timestamp of the truncated segment %d (%v), want its .log's mtime %d", got, err, old.UnixMilli())
	}
}

// failNthArmed is an injector that fails with EIO the k-th mutating call
// made once armed is set (k counts from 1), and nothing else.
func failNthArmed(k int) (errorfs.InjectorFunc, *atomic.Bool) {
	var seen atomic.Int32
	armed := new(atomic.Bool)
	return func(op errorfs.Op) error {
		if armed.Load() && seen.Add(1) == int32(k) {
			return syscall.EIO
		}
		return nil
	}, armed
}
