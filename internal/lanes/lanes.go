// Package lanes runs n independent jobs on a fixed number of goroutines,
// the caller's among them, each taking the next job in turn: a goroutine
// per job would cost its creation and its stack's growth on the job's
// path, and leaves nothing to bound (docs/BENCHMARKS.md, issue 19).
package lanes

import (
	"sync"
	"sync/atomic"
)

// Run calls job(i) for every i in [0, n) on at most lanes goroutines
// (at least one: the caller's), and returns when every call has. The
// order of the calls is unspecified, and so is which goroutine makes
// each.
func Run(n, lanes int, job func(i int)) {
	var next atomic.Int64
	work := func() {
		for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
			job(int(i))
		}
	}
	var wg sync.WaitGroup
	for range min(lanes, n) - 1 {
		wg.Go(work)
	}
	work() // the caller is a lane too
	wg.Wait()
}
