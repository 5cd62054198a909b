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
// leaderStartWorkers at once. After a broker restarts (its partitions come
// back to it at a new epoch when it is unfenced) or catches up from a
// snapshot, every partition it leads begins a new epoch at once. An epoch
// begun at the log end costs no I/O any more (its leader-epoch-checkpoint
// is written, without an fsync, by the epoch's first append:
// partition.Log.AssignLeaderEpoch); one begun below it writes and fsyncs
// the checkpoint, ~1.9 ms each here,
// and concurrent fsyncs share the file system's commits
// (docs/BENCHMARKS.md, "Cluster metadata"). Each start touches only its
// own log and leader state, under rm.mu where it updates the maps.
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
