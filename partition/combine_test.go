package partition

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/vfs"
	"github.com/sluice/sluice/internal/vfs/errorfs"
	"github.com/sluice/sluice/segment/segmenttest"
)

// Group append (flat combining, append.go): appends that arrive while a
// writer holds the log queue, and the next round writes all of them with
// one pwritev, in queue order. The tests below hold the first round's
// pwritev until the others are queued, so the second round is a combined
// write every time, whatever the scheduler does.

// gatedLog is a log whose first .log write waits until want appends are
// queued behind it (polled with a deadline); a test starts one append,
// waits for entered, then starts the others. writes counts the .log
// writes and fail, when set, is returned by the .log write of that
// number (1-based).
type gatedLog struct {
	*Log
	dir    string
	writes atomic.Int32
	fail   atomic.Int32
	errno  error
	// entered is closed when the first write starts waiting.
	entered chan struct{}
}

func newGatedLog(t *testing.T, want int, errno error) *gatedLog {
	t.Helper()
	g := &gatedLog{dir: filepath.Join(t.TempDir(), "t-0"), errno: errno, entered: make(chan struct{})}
	var lp atomic.Pointer[Log]
	fsys := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind != errorfs.OpWrite || !strings.HasSuffix(op.Path, logSuffix) {
			return nil
		}
		n := g.writes.Add(1)
		if n == 1 {
			close(g.entered)
			deadline := time.Now().Add(30 * time.Second)
			for queued(lp.Load()) < want {
				if time.Now().After(deadline) {
					// Said here, not left to a write count that then looks
					// like a combining bug.
					t.Errorf("gate: %d of %d appends queued behind the first write after 30 s", queued(lp.Load()), want)
					break
				}
				runtime.Gosched()
			}
		}
		if n == g.fail.Load() {
			return g.errno
		}
		return nil
	}))
	l, err := openLog(g.dir, openOptions{topic: "t", cfg: testConfig(), recoveryPoint: 0, logStart: -1, clean: true,
		logger: quietLogger(), fs: fsys})
	if err != nil {
		t.Fatal(err)
	}
	lp.Store(l)
	g.Log = l
	t.Cleanup(func() { verifyDir(t, g.dir) })
	t.Cleanup(func() { l.Close() })
	return g
}

// appender is one concurrent append and what it got back.
type appender struct {
	ts    int64 // the batch's base timestamp: tells its batch apart
	n     int   // records
	epoch int32 // AppendAsLeader's epoch
	res   AppendResult
	err   error
}

// TestCombinedRoundEachWaiterGetsItsOwnResult: 16 appends to one log at
// once, 15 of them written by one combined pwritev. Each gets the offsets
// of its own batch (read back by its timestamp), the offsets are dense
// from 0 in queue order, an append made in a stale leader epoch fails
// alone, and the round publishes once (one append-hook call per round).
func TestCombinedRoundEachWaiterGetsItsOwnResult(t *testing.T) {
	const n = 16
	g := newGatedLog(t, n-1, nil)
	if err := g.AssignLeaderEpoch(1, 0); err != nil {
		t.Fatal(err)
	}
	var rounds atomic.Int32
	g.OnAppend(func() { rounds.Add(1) })
	apps := make([]*appender, n)
	var wg sync.WaitGroup
	for i := range apps {
		a := &appender{ts: 1_700_000_000_000 + int64(i), n: 1 + i%4, epoch: 1}
		if i == 5 {
			a.epoch = 0 // the leadership before: refused
		}
		apps[i] = a
		wg.Go(func() {
			a.res, a.err = g.AppendAsLeader(segmenttest.NewBatch(0, a.n, a.ts, 40).Encode(), a.epoch)
		})
		if i == 0 {
			<-g.entered // the first round holds the writer: the others queue
		}
	}
	wg.Wait()

	if w := g.writes.Load(); w != 2 {
		t.Fatalf("%d pwritevs to the .log for %d appends, want 2 (one alone, one combined)", w, n)
	}
	if r := rounds.Load(); r != 2 {
		t.Fatalf("%d published rounds, want 2", r)
	}
	byTS := map[int64]*appender{}
	var ok []*appender
	for _, a := range apps {
		byTS[a.ts] = a
		if a.epoch == 0 {
			if !errors.Is(a.err, ErrNotLeaderEpoch) {
				t.Fatalf("append in stale epoch: %+v %v, want ErrNotLeaderEpoch", a.res, a.err)
			}
			continue
		}
		if a.err != nil {
			t.Fatalf("append ts=%d: %v", a.ts, a.err)
		}
		if got := a.res.LastOffset - a.res.BaseOffset + 1; got != int64(a.n) {
			t.Fatalf("append ts=%d: offsets %d-%d for %d records", a.ts, a.res.BaseOffset, a.res.LastOffset, a.n)
		}
		ok = append(ok, a)
	}
	slices.SortFunc(ok, func(x, y *appender) int { return int(x.res.BaseOffset - y.res.BaseOffset) })
	next := int64(0)
	for _, a := range ok {
		if a.res.BaseOffset != next {
			t.Fatalf("append ts=%d at %d, want %d (dense)", a.ts, a.res.BaseOffset, next)
		}
		next = a.res.LastOffset + 1
	}
	if g.LogEndOffset() != next || g.HighWatermark() != next {
		t.Fatalf("LEO %d, HW %d, want %d", g.LogEndOffset(), g.HighWatermark(), next)
	}
	hs := readAll(t, g.Log, 0)
	if len(hs) != len(ok) {
		t.Fatalf("%d batches in the log, want %d", len(hs), len(ok))
	}
	for i, h := range hs {
		a := byTS[h.BaseTimestamp]
		if a != ok[i] || h.BaseOffset != a.res.BaseOffset || h.PartitionLeaderEpoch != 1 {
			t.Fatalf("batch %d (ts %d) at %d epoch %d is not the append that got offset %d",
				i, h.BaseTimestamp, h.BaseOffset, h.PartitionLeaderEpoch, ok[i].res.BaseOffset)
		}
	}
}

// TestCombinedWriteFailureFailsEveryAppend: when the combined pwritev
// fails (EIO, ENOSPC), every append in it gets the error, nothing of the
// round is readable, the .log is cut back to the first round's end, the
// log refuses later appends, and a reopen finds the first round only.
func TestCombinedWriteFailureFailsEveryAppend(t *testing.T) {
	f := func(errno syscall.Errno) {
		t.Helper()
		const n = 8
		g := newGatedLog(t, n-1, errno)
		g.fail.Store(2) // the combined write
		res := make([]AppendResult, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { res[i], errs[i] = g.Append(batch(2, 50, int64(i))) })
			if i == 0 {
				<-g.entered
			}
		}
		wg.Wait()
		var okCount int
		for i, err := range errs {
			switch {
			case err == nil:
				okCount++
				if res[i].BaseOffset != 0 || res[i].LastOffset != 1 {
					t.Fatalf("%v: the append written alone got %+v, want offsets 0-1", errno, res[i])
				}
			case !errors.Is(err, ErrStorage) || !errors.Is(err, errno):
				t.Fatalf("%v: append %d in the failed combined write: %v, want ErrStorage wrapping it", errno, i, err)
			}
		}
		if okCount != 1 {
			t.Fatalf("%v: %d appends succeeded, want 1 (the first round)", errno, okCount)
		}
		if g.LogEndOffset() != 2 || g.HighWatermark() != 2 {
			t.Fatalf("%v: LEO %d, HW %d after the failed combined write, want 2, 2", errno, g.LogEndOffset(), g.HighWatermark())
		}
		if _, err := g.Append(batch(1, 10, 1)); !errors.Is(err, ErrStorage) {
			t.Fatalf("%v: append after the failure: %v, want the sticky ErrStorage", errno, err)
		}
		fi, err := os.Stat(fileName(g.dir, 0, logSuffix))
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(len(batch(2, 50, 0))); fi.Size() != want {
			t.Fatalf("%v: .log of %d bytes after the undo, want %d (the first round's batch)", errno, fi.Size(), want)
		}
		g.Close()
		l := openTest(t, g.dir, testConfig(), false, -1, nil)
		defer l.Close()
		if l.LogEndOffset() != 2 || len(readAll(t, l, 0)) != 1 {
			t.Fatalf("%v: reopened at LEO %d, want 2 with one batch", errno, l.LogEndOffset())
		}
	}
	f(syscall.EIO)
	f(syscall.ENOSPC)
}

// TestCombinedRoundIdempotentProducers: four producers, each on its own
// goroutine (its connection) submitting its batches in order as the
// broker does for a pipelining connection, land in one combined round.
// Each producer's batches keep their order and get dense offsets; a
// retry of a batch written earlier in the same round is a duplicate with
// the original offsets; a sequence gap fails alone (the producer's next
// batch in sequence is then accepted).
func TestCombinedRoundIdempotentProducers(t *testing.T) {
	const producers, each = 4, 5
	// Queued behind the first while it is written: every producer's
	// batches, the retry and the gap (the first is not in the queue).
	g := newGatedLog(t, producers*each+2, nil)
	type sent struct {
		pid     int64
		seq     int32
		p       *PendingAppend
		res     AppendResult
		err     error
		dupOf   int // index of the batch it retries, -1
		outside bool
	}
	var mu sync.Mutex
	var all [][]*sent
	first := g.Submit(txnBatch(100, 0, 0, 1, false)) // starts the writer; its pwritev waits
	<-g.entered
	var wg sync.WaitGroup
	for p := range producers {
		pid := int64(p + 1)
		wg.Go(func() {
			var mine []*sent
			seq := int32(0)
			for i := range each {
				mine = append(mine, &sent{pid: pid, seq: seq, dupOf: -1, p: g.Submit(txnBatch(pid, 0, seq, 2, false))})
				seq += 2
				switch {
				case pid == 1 && i == 2: // a retry of its batch i
					mine = append(mine, &sent{pid: pid, seq: seq - 2, dupOf: i, p: g.Submit(txnBatch(pid, 0, seq-2, 2, false))})
				case pid == 2 && i == 2: // a gap: seq+10 instead of seq
					mine = append(mine, &sent{pid: pid, seq: seq + 10, dupOf: -1, outside: true,
						p: g.Submit(txnBatch(pid, 0, seq+10, 2, false))})
				}
			}
			for _, s := range mine {
				s.res, s.err = s.p.Wait()
			}
			mu.Lock()
			all = append(all, mine)
			mu.Unlock()
		})
	}
	wg.Wait()
	if res, err := first.Wait(); err != nil || res.BaseOffset != 0 {
		t.Fatalf("first: %+v %v", res, err)
	}
	if w := g.writes.Load(); w != 2 {
		t.Fatalf("%d pwritevs to the .log, want 2 (one alone, one combined)", w)
	}
	owner := map[int64]int64{} // offset -> pid
	for _, mine := range all {
		last := int64(-1)
		for _, s := range mine {
			switch {
			case s.outside:
				if !errors.Is(s.err, ErrOutOfOrderSequence) {
					t.Fatalf("pid %d seq %d (a gap): %+v %v, want ErrOutOfOrderSequence", s.pid, s.seq, s.res, s.err)
				}
				continue
			case s.err != nil:
				t.Fatalf("pid %d seq %d: %v", s.pid, s.seq, s.err)
			case s.dupOf >= 0:
				orig := mine[s.dupOf].res
				if !s.res.Duplicate || s.res.BaseOffset != orig.BaseOffset || s.res.LastOffset != orig.LastOffset {
					t.Fatalf("pid %d retry of seq %d: %+v, want a duplicate at %d-%d", s.pid, s.seq, s.res, orig.BaseOffset, orig.LastOffset)
				}
				continue
			}
			if s.res.BaseOffset <= last || s.res.LastOffset != s.res.BaseOffset+1 {
				t.Fatalf("pid %d seq %d at %d-%d after %d: out of order", s.pid, s.seq, s.res.BaseOffset, s.res.LastOffset, last)
			}
			last = s.res.LastOffset
			owner[s.res.BaseOffset] = s.pid
		}
	}
	hs := readAll(t, g.Log, 1)
	if len(hs) != producers*each {
		t.Fatalf("%d batches after the first, want %d", len(hs), producers*each)
	}
	next := int64(1)
	for _, h := range hs {
		if h.BaseOffset != next || owner[h.BaseOffset] != h.ProducerID {
			t.Fatalf("batch at %d of pid %d, want offset %d of pid %d", h.BaseOffset, h.ProducerID, next, owner[h.BaseOffset])
		}
		next = h.LastOffset() + 1
	}
	for pid, st := range g.Producers() {
		if pid >= 1 && pid <= producers && st.LastSequence != 2*each-1 {
			t.Fatalf("pid %d: last sequence %d, want %d", pid, st.LastSequence, 2*each-1)
		}
	}
}
