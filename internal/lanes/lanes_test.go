package lanes

import (
	"sync"
	"sync/atomic"
	"testing"
)

// TestRunCallsEachJobOnceOnAtMostLanes: every index is called exactly
// once; no more than lanes calls run at once, and with as many lanes as
// jobs that block until all have started, all run at once (the caller
// takes part: it would deadlock otherwise with lanes-1 goroutines).
func TestRunCallsEachJobOnceOnAtMostLanes(t *testing.T) {
	for _, c := range []struct{ n, lanes int }{{0, 4}, {1, 4}, {5, 1}, {100, 3}, {7, 64}} {
		calls := make([]atomic.Int32, c.n)
		var running, peak atomic.Int32
		Run(c.n, c.lanes, func(i int) {
			r := running.Add(1)
			for p := peak.Load(); r > p && !peak.CompareAndSwap(p, r); p = peak.Load() {
			}
			calls[i].Add(1)
			running.Add(-1)
		})
		for i := range calls {
			if got := calls[i].Load(); got != 1 {
				t.Fatalf("n %d lanes %d: job %d called %d times", c.n, c.lanes, i, got)
			}
		}
		if p := int(peak.Load()); p > max(c.lanes, 1) {
			t.Fatalf("n %d lanes %d: %d jobs ran at once", c.n, c.lanes, p)
		}
	}

	const n = 4
	var started sync.WaitGroup
	started.Add(n)
	Run(n, n, func(int) {
		started.Done()
		started.Wait() // returns only once all n run at the same time
	})
}
