package partition

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/vfs"
	"github.com/sluice/sluice/internal/vfs/errorfs"
)

// TestSubmitForWaitWritesInTheWaiter: an append submitted with
// SubmitForWait starts no writer: nothing is written until a Wait, and
// the Wait writes it (with one fsync under FlushAlways) before it
// returns. Submit, by contrast, writes without anyone waiting.
func TestSubmitForWaitWritesInTheWaiter(t *testing.T) {
	cfg := testConfig()
	cfg.Flush = FlushAlways
	l, _ := newTestLog(t, cfg, nil)
	p := l.SubmitForWait(batch(2, 20, 1), -1, nil)
	p2 := l.SubmitForWait(batch(3, 20, 1), -1, nil) // queued behind it, no writer either
	time.Sleep(50 * time.Millisecond)
	if end := l.LogEndOffset(); end != 0 {
		t.Fatalf("log end %d before any Wait, want 0: a writer ran without a waiter", end)
	}
	res, err := p.Wait()
	if err != nil || res.BaseOffset != 0 || res.LastOffset != 1 {
		t.Fatalf("wait: %+v %v", res, err)
	}
	if res, err := p2.Wait(); err != nil || res.BaseOffset != 2 {
		t.Fatalf("second: %+v %v", res, err)
	}
	if s := l.syncs.Load(); s != 1 {
		t.Fatalf("%d fsyncs, want 1: both appends in the waiter's round", s)
	}
	if end := l.LogEndOffset(); end != 5 {
		t.Fatalf("log end %d, want 5", end)
	}

	q := l.Submit(batch(1, 20, 1))
	deadline := time.Now().Add(5 * time.Second)
	for l.LogEndOffset() != 6 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if end := l.LogEndOffset(); end != 6 {
		t.Fatalf("Submit's append not written without a Wait: end %d", end)
	}
	if _, err := q.Wait(); err != nil {
		t.Fatal(err)
	}
}

// TestSubmitForWaitHandsOver: a log owing its writer is written by
// whoever comes next, so that nobody waits on a waiter that is not
// coming: an Append (which becomes the writer as when none runs), a
// Submit (which starts one), or the Wait of a later append.
func TestSubmitForWaitHandsOver(t *testing.T) {
	for _, next := range []string{"Append", "Submit", "later Wait"} {
		t.Run(next, func(t *testing.T) {
			cfg := testConfig()
			cfg.Flush = FlushAlways
			l, _ := newTestLog(t, cfg, nil)
			owing := l.SubmitForWait(batch(2, 20, 1), -1, nil) // never waited for until the end
			done := make(chan error, 1)
			go func() {
				var res AppendResult
				var err error
				switch next {
				case "Append":
					res, err = l.Append(batch(1, 20, 1))
				case "Submit":
					res, err = l.Submit(batch(1, 20, 1)).Wait()
				default:
					res, err = l.SubmitForWait(batch(1, 20, 1), -1, nil).Wait()
				}
				if err == nil && res.BaseOffset != 2 {
					err = fmt.Errorf("offset %d, want 2", res.BaseOffset)
				}
				done <- err
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s after an append nobody waits for: stuck", next)
			}
			if res, err := owing.Wait(); err != nil || res.BaseOffset != 0 {
				t.Fatalf("the owing append: %+v %v", res, err)
			}
			if end := l.LogEndOffset(); end != 3 {
				t.Fatalf("log end %d, want 3", end)
			}
		})
	}
}

// TestSubmitForWaitManyWaiters: goroutines submitting with SubmitForWait
// and waiting, many at a time, each with a batch of its own: every append
// is acknowledged once, at the offsets the log then holds, in order per
// goroutine, with fewer fsyncs than appends (rounds shared).
func TestSubmitForWaitManyWaiters(t *testing.T) {
	cfg := testConfig()
	cfg.Flush = FlushAlways
	l, _ := newTestLog(t, cfg, nil)
	const goroutines, each = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			last := int64(-1)
			for i := range each {
				res, err := l.SubmitForWait(batch(1+(g+i)%3, 20, 1), -1, nil).Wait()
				if err != nil {
					errs <- err
					return
				}
				if res.BaseOffset <= last {
					errs <- fmt.Errorf("goroutine %d: append %d at %d after %d", g, i, res.BaseOffset, last)
					return
				}
				last = res.LastOffset
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var want int64
	for g := range goroutines {
		for i := range each {
			want += int64(1 + (g+i)%3)
		}
	}
	if end := l.LogEndOffset(); end != want {
		t.Fatalf("log end %d, want %d", end, want)
	}
	if s := l.syncs.Load(); s == 0 || s > goroutines*each {
		t.Fatalf("%d fsyncs for %d appends", s, goroutines*each)
	}
	var n int64
	for _, h := range readAll(t, l, 0) {
		if h.BaseOffset != n {
			t.Fatalf("batch at %d, want %d", h.BaseOffset, n)
		}
		n = h.BaseOffset + int64(h.LastOffsetDelta) + 1
	}
}

// TestSubmitForWaitFsyncFails: the fsync of a round that a waiter runs
// fails: that waiter and every append of its round get the error, the
// log is fenced with it, and a later SubmitForWait gets it too.
func TestSubmitForWaitFsyncFails(t *testing.T) {
	dir := t.TempDir()
	rule := errorfs.OnIndex(1, errorfs.Under(filepath.Join(dir, "t-0"), errorfs.Under("*"+logSuffix, errorfs.Kinds(errorfs.OpSync))), syscall.EIO)
	s, err := openFaultStore(t, dir, errorfs.Wrap(vfs.Default, rule))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cfg := testConfig()
	cfg.Flush = FlushAlways
	l, err := s.Create("t", 0, [16]byte{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := l.SubmitForWait(batch(2, 20, 1), -1, nil)
	b := l.SubmitForWait(batch(1, 20, 1), -1, nil)
	for i, p := range []*PendingAppend{a, b} {
		if _, err := p.Wait(); !errors.Is(err, syscall.EIO) {
			t.Fatalf("append %d of the failed round: %v, want EIO", i, err)
		}
	}
	if _, err := l.SubmitForWait(batch(1, 20, 1), -1, nil).Wait(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("after the failed fsync: %v, want the stored EIO", err)
	}
	if end := l.LogEndOffset(); end != 0 {
		t.Fatalf("log end %d after a failed round, want 0", end)
	}
}
