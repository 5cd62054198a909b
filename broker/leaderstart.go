package broker

import (
	"sync"

	"github.com/sluice/sluice/metadata"
	"github.com/sluice/sluice/partition"
)

// leaderStartWorkers bounds the leaderships one sync begins at once.
const leaderStartWorkers = 32

// leaderStart is one becomeLeader call of a sync.
type leaderStart struct {
	l  *partition.Log
	ti *metadata.TopicImage
	p  metadata.Partition
}

// becomeLeaders runs becomeLeader for each start, up to
// leaderStartWorkers at once. A leadership that begins a new epoch writes
// the log's leader-epoch-checkpoint and fsyncs it and its directory before
// the log takes appends, and after a broker restarts (its partitions come
// back to it at a new epoch when it is unfenced) or catches up from a
// snapshot, every partition it leads does so at once: one after the other
// that took ~1.9 ms each here, 19 s for 10,000 partitions; concurrent
// fsyncs share the file system's journal commits (docs/BENCHMARKS.md,
// "Cluster metadata"). Each start touches only its own log and leader
// state, under rm.mu where it updates the maps.
func (rm *replicaManager) becomeLeaders(starts []leaderStart) {
	if len(starts) < 2 {
		for _, s := range starts {
			rm.becomeLeader(s.l, s.ti, s.p)
		}
		return
	}
	work := make(chan leaderStart)
	var wg sync.WaitGroup
	for range min(leaderStartWorkers, len(starts)) {
		wg.Go(func() {
			for s := range work {
				rm.becomeLeader(s.l, s.ti, s.p)
			}
		})
	}
	for _, s := range starts {
		work <- s
	}
	close(work)
	wg.Wait()
}
