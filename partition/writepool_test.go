package partition

import (
	"errors"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluice/sluice/segment/segmenttest"
)

// TestWritePoolCombinesAndTakesTurns: a one-worker pool writes log a's
// first append alone (held in its pwritev until 7 more are queued), then
// log b, listed meanwhile, before a's second round (FIFO), and a's 7
// queued appends in one combined pwritev: each gets the offsets of its own
// batch, dense in submit order; the group's Wait returns once all are
// done, after which no Wait blocks and the worker has returned.
func TestWritePoolCombinesAndTakesTurns(t *testing.T) {
	const n = 8
	a := newGatedLog(t, n-1, nil)
	b, _ := newTestLog(t, testConfig(), nil)
	pool := NewWritePool(1)
	var order []string
	var mu sync.Mutex
	note := func(s string) func() {
		return func() { mu.Lock(); order = append(order, s); mu.Unlock() }
	}
	a.OnAppend(note("a"))
	b.OnAppend(note("b"))

	var g SubmitGroup
	ts := func(i int) int64 { return 1_700_000_000_000 + int64(i) }
	pend := []*PendingAppend{a.SubmitTo(pool, &g, segmenttest.NewBatch(0, 2, ts(0), 30).Encode(), -1, nil)}
	<-a.entered // the worker holds a's first round
	pb := b.SubmitTo(pool, &g, batch(1, 30, 1), -1, nil)
	for i := 1; i < n; i++ {
		pend = append(pend, a.SubmitTo(pool, &g, segmenttest.NewBatch(0, 1+i%3, ts(i), 30).Encode(), -1, nil))
	}
	g.Wait()

	next := int64(0)
	for i, p := range pend {
		res, err := waitNow(t, p)
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if want := int64(1 + i%3); i == 0 && res.LastOffset != 1 || i > 0 && res.LastOffset-res.BaseOffset+1 != want {
			t.Fatalf("append %d: offsets %d-%d", i, res.BaseOffset, res.LastOffset)
		}
		if res.BaseOffset != next {
			t.Fatalf("append %d at %d, want %d (dense, submit order)", i, res.BaseOffset, next)
		}
		next = res.LastOffset + 1
	}
	if _, err := waitNow(t, pb); err != nil {
		t.Fatalf("append to b: %v", err)
	}
	if w := a.writes.Load(); w != 2 {
		t.Fatalf("%d pwritevs to a's .log for %d appends, want 2 (one alone, one combined)", w, n)
	}
	if got := fmtOrder(order); got != "a b a" {
		t.Fatalf("rounds published in the order %q, want \"a b a\" (b listed while a wrote)", got)
	}
	for i, h := range readAll(t, a.Log, 0) {
		if h.BaseTimestamp != ts(i) {
			t.Fatalf("batch %d of a has timestamp %d, want %d (submit order)", i, h.BaseTimestamp, ts(i))
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for running(pool) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d workers still running with nothing listed", running(pool))
		}
		time.Sleep(time.Millisecond)
	}
}

// TestWritePoolStartsWorkersForBacklog: a two-worker pool runs one worker
// while at most workerBacklog logs wait behind the one it writes (log a,
// held in its pwritev), and starts the second once one more is listed;
// that worker writes the waiting logs while a's round is still held.
func TestWritePoolStartsWorkersForBacklog(t *testing.T) {
	a := newGatedLog(t, 1, nil)
	pool := NewWritePool(2)
	var g SubmitGroup
	pend := []*PendingAppend{a.SubmitTo(pool, &g, batch(1, 30, 0), -1, nil)}
	<-a.entered // the first worker holds a's round
	others := make([]*Log, workerBacklog+1)
	for i := range others {
		others[i], _ = newTestLog(t, testConfig(), nil)
		pend = append(pend, others[i].SubmitTo(pool, &g, batch(1, 30, int64(i)), -1, nil))
		if i == workerBacklog-1 {
			if n := running(pool); n != 1 {
				t.Fatalf("%d workers with %d logs waiting, want 1", n, workerBacklog)
			}
		}
	}
	if n := running(pool); n != 2 {
		t.Fatalf("%d workers with %d logs waiting, want 2", n, workerBacklog+1)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, l := range others {
		for l.LogEndOffset() != 1 {
			if time.Now().After(deadline) {
				t.Fatal("the second worker did not write the waiting logs while the first was held")
			}
			time.Sleep(time.Millisecond)
		}
	}
	if a.LogEndOffset() != 0 {
		t.Fatalf("a's held round published (LEO %d)", a.LogEndOffset())
	}
	pend = append(pend, a.SubmitTo(pool, &g, batch(1, 30, 99), -1, nil)) // opens a's gate
	g.Wait()
	for i, p := range pend {
		if _, err := waitNow(t, p); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	if a.LogEndOffset() != 2 {
		t.Fatalf("a's LEO %d, want 2", a.LogEndOffset())
	}
}

// TestWritePoolCombinedWriteFailure: the combined pwritev of a pool's
// round fails (EIO, ENOSPC): every append in it gets ErrStorage wrapping
// the errno, the first round's stays, and the group's Wait returns.
func TestWritePoolCombinedWriteFailure(t *testing.T) {
	f := func(errno syscall.Errno) {
		t.Helper()
		const n = 5
		a := newGatedLog(t, n-1, errno)
		a.fail.Store(2)
		pool := NewWritePool(2)
		var g SubmitGroup
		pend := []*PendingAppend{a.SubmitTo(pool, &g, batch(2, 30, 0), -1, nil)}
		<-a.entered
		for i := 1; i < n; i++ {
			pend = append(pend, a.SubmitTo(pool, &g, batch(1, 30, int64(i)), -1, nil))
		}
		g.Wait()
		for i, p := range pend {
			_, err := waitNow(t, p)
			switch {
			case i == 0 && err != nil:
				t.Fatalf("%v: the first round's append: %v", errno, err)
			case i > 0 && (!errors.Is(err, ErrStorage) || !errors.Is(err, errno)):
				t.Fatalf("%v: append %d of the failed round: %v, want ErrStorage wrapping it", errno, i, err)
			}
		}
		if a.LogEndOffset() != 2 {
			t.Fatalf("%v: LEO %d after the failed round, want 2", errno, a.LogEndOffset())
		}
		if p := a.SubmitTo(pool, nil, batch(1, 10, 9), -1, nil); !errors.Is(waitErr(p), ErrStorage) {
			t.Fatalf("%v: an append after the failure was not refused", errno)
		}
	}
	f(syscall.EIO)
	f(syscall.ENOSPC)
}

// waitNow waits for p, failing the test if that blocks: p's group's Wait
// has returned.
func waitNow(t *testing.T, p *PendingAppend) (AppendResult, error) {
	t.Helper()
	if p.req != nil && len(p.req.done) == 0 {
		t.Fatal("Wait would block after the group's Wait returned")
	}
	return p.Wait()
}

func waitErr(p *PendingAppend) error { _, err := p.Wait(); return err }

func running(p *WritePool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.running
}

func fmtOrder(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}

// TestWritePoolWorkerLingers: a worker with nothing listed waits for the
// next log (idle, still running) and writes it without a new worker
// being started; it returns once nothing was listed for the pool's
// linger.
func TestWritePoolWorkerLingers(t *testing.T) {
	a, _ := newTestLog(t, testConfig(), nil)
	pool := NewWritePool(2)
	pool.linger.Store(int64(time.Hour))
	state := func() (int, int) {
		pool.mu.Lock()
		defer pool.mu.Unlock()
		return pool.mu.running, pool.mu.idle
	}
	waitState := func(running, idle int, what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			r, i := state()
			if r == running && i == idle {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d running, %d idle; want %s", r, i, what)
			}
			time.Sleep(time.Millisecond)
		}
	}
	for i := range 3 {
		if _, err := a.SubmitTo(pool, nil, batch(1, 30, int64(i)), -1, nil).Wait(); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		waitState(1, 1, "the one worker waiting")
	}
	pool.mu.Lock()
	started := pool.mu.started
	pool.mu.Unlock()
	if started != 1 {
		t.Fatalf("%d workers started for 3 appends one after another, want 1 (the waiting one reused)", started)
	}
	pool.linger.Store(int64(time.Millisecond))
	// The waiting worker's timer still runs for an hour: wake it with a
	// log; its next wait is a millisecond.
	if _, err := a.SubmitTo(pool, nil, batch(1, 30, 9), -1, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	waitState(0, 0, "none after the linger")
	if a.LogEndOffset() != 4 {
		t.Fatalf("LEO %d, want 4", a.LogEndOffset())
	}
}

// TestWritePoolLingerRaces: with a linger of a microsecond, workers time
// out while logs are being listed (the claimed-worker hand-off): every
// append of 8 submitters over 32 logs is written, dense per log, and the
// pool ends with no worker.
func TestWritePoolLingerRaces(t *testing.T) {
	const logs, submitters, each = 32, 8, 200
	pool := NewWritePool(2)
	pool.linger.Store(int64(time.Microsecond))
	ls := make([]*Log, logs)
	for i := range ls {
		ls[i], _ = newTestLog(t, testConfig(), nil)
	}
	var wg sync.WaitGroup
	errs := make(chan error, submitters)
	for s := range submitters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				l := ls[(s*each+i)%logs]
				if _, err := l.SubmitTo(pool, nil, batch(1, 10, int64(i)), -1, nil).Wait(); err != nil {
					errs <- err
					return
				}
				if i%16 == 0 {
					time.Sleep(50 * time.Microsecond) // let workers time out
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := int64(0)
	for _, l := range ls {
		total += l.LogEndOffset()
	}
	if total != submitters*each {
		t.Fatalf("%d records written, want %d", total, submitters*each)
	}
	deadline := time.Now().Add(10 * time.Second)
	for running(pool) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d workers still running with nothing listed", running(pool))
		}
		time.Sleep(time.Millisecond)
	}
}

// TestSubmitToAllocatesNothing: a submitted append and its wait cost no
// heap allocation once the log and the pool are warm: its PendingAppend
// is part of the pooled request (one allocation per partition of every
// pipelined Produce before).
func TestSubmitToAllocatesNothing(t *testing.T) {
	a, _ := newTestLog(t, testConfig(), nil)
	pool := NewWritePool(1)
	pool.linger.Store(int64(time.Hour)) // the worker waits for the next append instead of exiting
	rec := batch(1, 30, 1)
	for range 10 {
		if _, err := a.SubmitTo(pool, nil, rec, -1, nil).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if n := testing.AllocsPerRun(200, func() {
		if _, err := a.SubmitTo(pool, nil, rec, -1, nil).Wait(); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%.2f allocations per SubmitTo and Wait, want 0", n)
	}
}
