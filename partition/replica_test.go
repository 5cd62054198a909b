package partition

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/sluice/sluice/internal/vfs"
	"github.com/sluice/sluice/internal/vfs/errorfs"
	"github.com/sluice/sluice/segment"
	"github.com/sluice/sluice/sendfile"
)

// replicaBatches reads every batch from offset from to the log end through
// ReadReplica and returns copies of their bytes.
func replicaBatches(t testing.TB, l *Log, from int64) [][]byte {
	t.Helper()
	var out [][]byte
	for off := from; off < l.LogEndOffset(); {
		res, err := l.ReadReplica(off, 1<<20)
		if err != nil {
			t.Fatalf("replica read at %d: %v", off, err)
		}
		if len(res.Regions) == 0 {
			t.Fatalf("replica read at %d below the log end %d returned nothing", off, l.LogEndOffset())
		}
		for _, b := range regionBytes(t, res.Regions) {
			h, _ := segment.ParseHeader(b)
			out, off = append(out, b), h.LastOffset()+1
		}
	}
	return out
}

// regionBytes reads the regions' batches, each a copy, and releases the
// regions; they must hold whole valid batches.
func regionBytes(t testing.TB, regs []sendfile.Region) [][]byte {
	t.Helper()
	var out [][]byte
	for _, r := range regs {
		buf := make([]byte, r.Len)
		if _, err := r.File.ReadAt(buf, r.Off); err != nil {
			t.Fatal(err)
		}
		r.Release()
		if err := segment.Split(buf, func(b []byte, _ segment.Header) error {
			out = append(out, append([]byte(nil), b...))
			return nil
		}); err != nil {
			t.Fatalf("region is not whole batches: %v", err)
		}
	}
	return out
}

// concat joins batches into one record set.
func concat(bs [][]byte) []byte { return bytes.Join(bs, nil) }

// readableEnd is the offset after the last batch Read returns from 0.
func readableEnd(t testing.TB, l *Log) int64 {
	t.Helper()
	end := l.LogStartOffset()
	for {
		res, err := l.Read(end, 1<<20, true)
		if err != nil {
			t.Fatalf("read at %d: %v", end, err)
		}
		if len(res.Regions) == 0 {
			return end
		}
		hs := regionBatches(t, res.Regions)
		end = hs[len(hs)-1].LastOffset() + 1
	}
}

// TestReplicatedHighWatermark: in replicated mode an append moves only the
// log end; consumers see nothing at or above the high watermark, which
// moves only through UpdateHighWatermark (clamped, never backwards) and
// wakes waiters; a high watermark inside a batch shows the batches wholly
// below it.
func TestReplicatedHighWatermark(t *testing.T) {
	l, _ := newTestLog(t, testConfig(), newClock())
	if err := l.SetReplicated(true); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		mustAppend(t, l, batch(5, 30, 1_700_000_000_000)) // offsets 0-4, 5-9, 10-14, 15-19
	}
	if l.LogEndOffset() != 20 || l.HighWatermark() != 0 {
		t.Fatalf("leo %d hw %d, want 20 and 0", l.LogEndOffset(), l.HighWatermark())
	}
	if got := readableEnd(t, l); got != 0 {
		t.Fatalf("consumers read up to %d with the high watermark at 0", got)
	}
	res, err := l.ReadCommitted(0, 1<<20, true)
	if err != nil || len(res.Regions) != 0 || res.LastStableOffset != 0 {
		t.Fatalf("read_committed at hw 0: %d regions, lso %d, %v", len(res.Regions), res.LastStableOffset, err)
	}
	if n := len(replicaBatches(t, l, 0)); n != 4 {
		t.Fatalf("ReadReplica saw %d batches, want 4", n)
	}
	w := l.Wait()
	f := func(hw, wantHW, wantReadable int64, wantMoved bool) {
		t.Helper()
		if moved := l.UpdateHighWatermark(hw); moved != wantMoved {
			t.Fatalf("UpdateHighWatermark(%d) moved=%v, want %v", hw, moved, wantMoved)
		}
		if got := l.HighWatermark(); got != wantHW {
			t.Fatalf("after UpdateHighWatermark(%d): hw %d, want %d", hw, got, wantHW)
		}
		if got := readableEnd(t, l); got != wantReadable {
			t.Fatalf("after UpdateHighWatermark(%d): readable up to %d, want %d", hw, got, wantReadable)
		}
		if got := l.LastStableOffset(); got != wantHW {
			t.Fatalf("lso %d, want the hw %d", got, wantHW)
		}
	}
	f(7, 7, 5, true) // inside the second batch: only the first is readable
	select {
	case <-w:
	default:
		t.Fatal("a high watermark move did not wake Wait")
	}
	f(6, 7, 5, false)   // never backwards
	f(10, 10, 10, true) // at a batch end
	f(99, 20, 20, true) // clamped to the log end
	if err := l.SetReplicated(false); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, batch(1, 30, 1_700_000_000_000))
	if l.HighWatermark() != 21 {
		t.Fatalf("single replica again: hw %d, want 21", l.HighWatermark())
	}
}

// TestReplicatedHighWatermarkAcrossRolls: the high watermark moves through
// rolled segments, and retention never deletes the segment it points into.
func TestReplicatedHighWatermarkAcrossRolls(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 300 // a roll every two or three batches
	l, _ := newTestLog(t, cfg, newClock())
	if err := l.SetReplicated(true); err != nil {
		t.Fatal(err)
	}
	var ends []int64
	for range 12 {
		ends = append(ends, mustAppend(t, l, batch(2, 40, 1_700_000_000_000)).LastOffset+1)
	}
	if l.Segments() < 3 {
		t.Fatalf("%d segments, want rolls", l.Segments())
	}
	for _, e := range ends {
		l.UpdateHighWatermark(e)
		if got := readableEnd(t, l); got != e {
			t.Fatalf("hw %d: readable up to %d", e, got)
		}
	}
}

// TestAppendAsFollowerCopiesLeader: batches read from a leader with
// ReadReplica and appended to a follower keep their offsets, epochs,
// producer ids, sequences and bytes; producer and transaction state,
// the aborted index and leader epochs follow; a follower above its high
// watermark serves nothing to consumers.
func TestAppendAsFollowerCopiesLeader(t *testing.T) {
	leader, _ := newTestLog(t, testConfig(), newClock())
	follower, fdir := newTestLog(t, testConfig(), newClock())
	for _, l := range []*Log{leader, follower} {
		if err := l.SetReplicated(true); err != nil {
			t.Fatal(err)
		}
	}
	mustAppend(t, leader, batch(3, 20, 1_700_000_000_000))
	if err := leader.AssignLeaderEpoch(4, leader.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, leader, txnBatch(7, 0, 0, 2, false))
	mustAppend(t, leader, txnBatch(8, 1, 0, 2, true))
	if _, err := leader.AppendMarker(8, 1, false, 3); err != nil { // abort
		t.Fatal(err)
	}
	mustAppend(t, leader, txnBatch(7, 0, 2, 1, false))

	// Copy in two fetches, as a follower would.
	all := replicaBatches(t, leader, 0)
	for _, part := range [][][]byte{all[:2], all[2:]} {
		if _, err := follower.AppendAsFollower(concat(part)); err != nil {
			t.Fatalf("AppendAsFollower: %v", err)
		}
	}
	if got := replicaBatches(t, follower, 0); !bytes.Equal(concat(got), concat(all)) {
		t.Fatal("follower's batches differ from the leader's")
	}
	if follower.LogEndOffset() != leader.LogEndOffset() || follower.HighWatermark() != 0 {
		t.Fatalf("follower leo %d hw %d, leader leo %d", follower.LogEndOffset(), follower.HighWatermark(), leader.LogEndOffset())
	}
	if got, want := follower.Producers(), leader.Producers(); len(got) != len(want) || got[7] != want[7] || got[8] != want[8] {
		t.Fatalf("producer state %+v, leader's %+v", got, want)
	}
	if got, want := follower.LeaderEpochs(), leader.LeaderEpochs(); !equalEpochs(got, want) {
		t.Fatalf("follower epochs %v, leader's %v", got, want)
	}
	leader.UpdateHighWatermark(leader.LogEndOffset())
	follower.UpdateHighWatermark(leader.HighWatermark())
	lres, _ := leader.ReadCommitted(0, 1<<20, true)
	fres, _ := follower.ReadCommitted(0, 1<<20, true)
	for _, r := range append(lres.Regions, fres.Regions...) {
		r.Release()
	}
	if len(fres.AbortedTransactions) != 1 || fres.AbortedTransactions[0] != lres.AbortedTransactions[0] {
		t.Fatalf("follower aborted txns %v, leader's %v", fres.AbortedTransactions, lres.AbortedTransactions)
	}
	follower.Close()
	verifyTxnIndex(t, lastLogFile(t, fdir)[:len(lastLogFile(t, fdir))-4]+".txnindex", lastLogFile(t, fdir))
}

func equalEpochs(a, b []EpochEntry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestAppendAsFollowerRefuses: a corrupt batch (bad CRC) is corruption and
// appends nothing of the request; a first batch below the log end, or
// offsets that do not increase, are ErrUnexpectedAppendOffset.
func TestAppendAsFollowerRefuses(t *testing.T) {
	l, _ := newTestLog(t, testConfig(), newClock())
	good := func(base int64, n int) []byte {
		b := batch(n, 20, 1_700_000_000_000)
		segment.SetBaseOffset(b, base)
		return b
	}
	if _, err := l.AppendAsFollower(good(0, 3)); err != nil {
		t.Fatal(err)
	}
	bad := good(3, 2)
	bad[len(bad)-1] ^= 0xff
	f := func(records []byte, want error) {
		t.Helper()
		_, err := l.AppendAsFollower(records)
		if !errors.Is(err, want) {
			t.Fatalf("err %v, want %v", err, want)
		}
		if l.LogEndOffset() != 3 {
			t.Fatalf("log end %d after a refused append", l.LogEndOffset())
		}
	}
	f(concat([][]byte{good(3, 1), bad}), ErrCorruption)
	f(good(2, 2), ErrUnexpectedAppendOffset)
	f(concat([][]byte{good(3, 2), good(4, 1)}), ErrUnexpectedAppendOffset)
}

// TestAppendAsFollowerGap: a compacted leader's batches may skip offsets;
// the follower keeps them where the leader has them.
func TestAppendAsFollowerGap(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "t-0")
	t.Cleanup(func() { verifyDirGaps(t, dir, true) })
	l := openTest(t, dir, testConfig(), true, 0, newClock())
	defer l.Close()
	for _, base := range []int64{0, 10, 12} {
		b := batch(2, 20, 1_700_000_000_000)
		segment.SetBaseOffset(b, base)
		if _, err := l.AppendAsFollower(b); err != nil {
			t.Fatalf("append at %d: %v", base, err)
		}
	}
	if l.LogEndOffset() != 14 {
		t.Fatalf("log end %d, want 14", l.LogEndOffset())
	}
	var bases []int64
	for _, b := range replicaBatches(t, l, 0) {
		h, _ := segment.ParseHeader(b)
		bases = append(bases, h.BaseOffset)
	}
	if fmt.Sprint(bases) != "[0 10 12]" {
		t.Fatalf("batch bases %v", bases)
	}
}

// TestUnreplicatedTxnHoldsLSO: a transaction whose marker is not yet below
// the high watermark keeps the last stable offset at its first offset
// (Kafka's unreplicatedTxns), so read_committed consumers cannot read its
// records before they learn its outcome.
func TestUnreplicatedTxnHoldsLSO(t *testing.T) {
	l, _ := newTestLog(t, testConfig(), newClock())
	if err := l.SetReplicated(true); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, batch(2, 20, 1_700_000_000_000))         // 0-1
	mustAppend(t, l, txnBatch(8, 0, 0, 3, true))              // 2-4
	if _, err := l.AppendMarker(8, 0, false, 1); err != nil { // 5: abort
		t.Fatal(err)
	}
	f := func(hw, wantLSO int64) {
		t.Helper()
		l.UpdateHighWatermark(hw)
		if got := l.LastStableOffset(); got != wantLSO {
			t.Fatalf("hw %d: lso %d, want %d", l.HighWatermark(), got, wantLSO)
		}
	}
	f(1, 1)
	f(4, 2) // the transaction's records are below the HW, its marker is not
	f(5, 2)
	f(6, 6) // the marker replicated: decided
}

// TestReplicaConcurrentReadsAndAppends runs a follower's appends and high
// watermark moves against consumers and a replica reader (run with -race):
// consumers never get a batch at or above the high watermark their result
// reports, the replica reader never one at or above the log end.
func TestReplicaConcurrentReadsAndAppends(t *testing.T) {
	leader, _ := newTestLog(t, truncCfg(), newClock())
	for range 60 {
		mustAppend(t, leader, batch(3, 30, 1_700_000_000_000))
	}
	all := replicaBatches(t, leader, 0)
	f, _ := newTestLog(t, truncCfg(), newClock())
	if err := f.SetReplicated(true); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	errs := make(chan error, 3)
	reader := func(read func(off int64) (ReadResult, error), limit func(ReadResult) int64) {
		var err error
		defer func() { errs <- err }()
		for off := int64(0); ; {
			select {
			case <-done:
				return
			default:
			}
			var res ReadResult
			if res, err = read(off); err != nil {
				return
			}
			for _, r := range res.Regions {
				buf := make([]byte, r.Len)
				_, rerr := r.File.ReadAt(buf, r.Off)
				r.Release()
				if rerr != nil {
					err = rerr
					return
				}
				err = segment.Split(buf, func(_ []byte, h segment.Header) error {
					if h.LastOffset() >= limit(res) {
						return fmt.Errorf("batch %d-%d read with limit %d", h.BaseOffset, h.LastOffset(), limit(res))
					}
					off = h.LastOffset() + 1
					return nil
				})
				if err != nil {
					return
				}
			}
		}
	}
	go reader(func(off int64) (ReadResult, error) { return f.Read(off, 200, true) },
		func(r ReadResult) int64 { return r.HighWatermark })
	go reader(func(off int64) (ReadResult, error) { return f.ReadCommitted(off, 200, true) },
		func(r ReadResult) int64 { return r.LastStableOffset })
	go reader(func(off int64) (ReadResult, error) { return f.ReadReplica(off, 200) },
		func(r ReadResult) int64 { return r.LogEndOffset })
	for i, b := range all {
		if _, err := f.AppendAsFollower(b); err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			h, _ := segment.ParseHeader(all[i-1])
			f.UpdateHighWatermark(h.LastOffset() + 2) // inside the batch just appended
		}
	}
	close(done)
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	f.UpdateHighWatermark(f.LogEndOffset())
	if got := concat(replicaBatches(t, f, 0)); !bytes.Equal(got, concat(all)) {
		t.Fatal("follower differs from the leader")
	}
}

// TestAppendAsFollowerWriteFails: a follower append whose write fails
// appends nothing, restores the producer state it changed, and takes the
// log offline (the sticky-error rule), as a client append does.
func TestAppendAsFollowerWriteFails(t *testing.T) {
	all := leaderHistory(t)
	var armed atomic.Bool
	fsys := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if armed.Load() && op.Kind == errorfs.OpWrite && strings.HasSuffix(op.Path, logSuffix) {
			return syscall.EIO
		}
		return nil
	}))
	dir := filepath.Join(t.TempDir(), "t-0")
	l := followerWith(t, dir, fsys, all[:3])
	defer l.Close()
	before, leo := fmt.Sprint(l.Producers()), l.LogEndOffset()
	armed.Store(true)
	_, err := l.AppendAsFollower(concat(all[3:]))
	if !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("err %v, want a storage error wrapping EIO", err)
	}
	if got := fmt.Sprint(l.Producers()); got != before || l.LogEndOffset() != leo {
		t.Fatalf("after a failed append: producers %s (were %s), log end %d (was %d)", got, before, l.LogEndOffset(), leo)
	}
	if l.Offline() == nil {
		t.Fatal("log not offline after a failed write")
	}
}

// TestThinEnds: the kept batch ends stay ascending, keep the newest, and
// halve at the bound.
func TestThinEnds(t *testing.T) {
	for _, n := range []int{maxEnds - 1, maxEnds, maxEnds + 1} {
		ends := make([]batchEnd, n)
		for i := range ends {
			ends[i].next = int64(i + 1)
		}
		got := thinEnds(ends)
		if n < maxEnds && len(got) != n || n >= maxEnds && len(got) != (n+1)/2 {
			t.Fatalf("%d ends thinned to %d", n, len(got))
		}
		if got[len(got)-1].next != int64(n) {
			t.Fatalf("%d ends: the last kept is %d", n, got[len(got)-1].next)
		}
		for i := 1; i < len(got); i++ {
			if got[i].next <= got[i-1].next {
				t.Fatalf("not ascending at %d", i)
			}
		}
	}
}

// TestOnAppendHook: the hook runs once for every append that adds records,
// before Append returns, so a high watermark it moves is there when the
// appender answers; nil clears it.
func TestOnAppendHook(t *testing.T) {
	l, _ := newTestLog(t, testConfig(), newClock())
	if err := l.SetReplicated(true); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	l.OnAppend(func() {
		calls.Add(1)
		l.UpdateHighWatermark(l.LogEndOffset())
	})
	mustAppend(t, l, batch(5, 30, 1_700_000_000_000))
	if n, hw := calls.Load(), l.HighWatermark(); n != 1 || hw != 5 {
		t.Fatalf("after an append: %d hook calls, hw %d; want 1 and 5", n, hw)
	}
	l.OnAppend(nil)
	mustAppend(t, l, batch(5, 30, 1_700_000_000_000))
	if n, hw := calls.Load(), l.HighWatermark(); n != 1 || hw != 5 {
		t.Fatalf("after clearing the hook: %d hook calls, hw %d; want 1 and 5", n, hw)
	}
}

// TestAppendAsLeaderFenced: an append made in a leader epoch lands only
// while that epoch is the log's latest. Once the log has begun a newer
// epoch (a newer leadership here, or the next leader's batch appended as
// its follower) it is refused with ErrNotLeaderEpoch and nothing is
// written; otherwise that batch would carry the next leader's epoch in a
// log that leader never wrote, which no epoch comparison can find.
func TestAppendAsLeaderFenced(t *testing.T) {
	l, _ := newTestLog(t, testConfig(), newClock())
	if err := l.SetReplicated(true); err != nil {
		t.Fatal(err)
	}
	if err := l.AssignLeaderEpoch(3, 0); err != nil {
		t.Fatal(err)
	}
	f := func(epoch int32, want error) {
		t.Helper()
		leo := l.LogEndOffset()
		res, err := l.AppendAsLeader(batch(2, 20, 1_700_000_000_000), epoch)
		if !errors.Is(err, want) {
			t.Fatalf("AppendAsLeader in epoch %d: %v, want %v", epoch, err, want)
		}
		switch {
		case err != nil && l.LogEndOffset() != leo:
			t.Fatalf("a refused append moved the log end from %d to %d", leo, l.LogEndOffset())
		case err == nil:
			bs := replicaBatches(t, l, res.BaseOffset)
			if h, _ := segment.ParseHeader(bs[0]); h.PartitionLeaderEpoch != epoch {
				t.Fatalf("batch stamped with epoch %d, want %d", h.PartitionLeaderEpoch, epoch)
			}
		}
	}
	f(3, nil)
	f(2, ErrNotLeaderEpoch) // an older leadership's
	f(4, ErrNotLeaderEpoch) // not begun yet

	// The leadership moved: the log follows the next leader, whose first
	// batch (epoch 5) it appends; a late append of the old leadership is
	// refused.
	next := batch(1, 20, 1_700_000_000_000)
	segment.SetBaseOffset(next, l.LogEndOffset())
	segment.SetLeaderEpoch(next, 5)
	if _, err := l.AppendAsFollower(next); err != nil {
		t.Fatal(err)
	}
	f(3, ErrNotLeaderEpoch)

	// Leading again at a newer epoch.
	if err := l.AssignLeaderEpoch(6, l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	f(5, ErrNotLeaderEpoch)
	f(3, ErrNotLeaderEpoch)
	f(6, nil)
	if _, err := l.AppendAsLeader(batch(1, 20, 0), -1); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("AppendAsLeader without an epoch: %v", err)
	}
}
