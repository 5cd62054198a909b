package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice/sluice/partition"
)

// Loading and unloading as leadership of __consumer_offsets moves.
//
// With Config.LoadOnElection (a broker in a cluster), Open loads nothing:
// every partition starts Unloaded, and the broker calls Elect when it
// becomes the partition's leader and Resign when it stops being it, each
// with the partition's leader epoch (Kafka's onElection / onResignation):
//
//	                 Elect(p, e)                   load done
//	  Unloaded ─────────────────────▶ Loading ─────────────────▶ Loaded
//	  NOT_COORDINATOR                 COORDINATOR_LOAD_           serving
//	     ▲                            IN_PROGRESS                  │
//	     │  Resign(p, e' ≥ e)             │ Resign, or Elect        │ Elect(p, e' > e):
//	     └────────────────────────────────┴─ (e' > e): restart ◀────┘ reload
//	                                        the load (a stale load
//	                                        gives up at its next chunk)
//
// Loading reads the partition from its log start to its log end offset
// (on a new leader the whole log it holds; the records a leader has are
// the ones the followers keep) in 1 MiB chunks, without Coordinator.mu;
// each chunk is replayed under mu if the load is still current. Unloading
// drops the partition's groups, answers their waiting JoinGroup and
// SyncGroup with NOT_COORDINATOR, and fails its queued writes with
// NOT_COORDINATOR; a write appended after that is ignored (its group is
// gone). A load that fails (an I/O error) leaves the partition offline:
// COORDINATOR_NOT_AVAILABLE until the next Elect.
//
// Without LoadOnElection (one node) Open loads every partition and they
// stay Loaded.

// partState is where a partition is in the diagram above.
type partState uint8

const (
	partUnloaded partState = iota
	partLoading
	partLoaded
)

// Elect makes this coordinator the owner of partition p of
// __consumer_offsets at leader epoch epoch, whose local log is l, and
// starts loading its groups. Calls for an epoch older than the last Elect
// or Resign, or repeating the current one, change nothing. The channel is
// closed when the load is over (done, failed or abandoned).
func (c *Coordinator) Elect(p, epoch int32, l *partition.Log) <-chan struct{} {
	done := make(chan struct{})
	if p < 0 || int(p) >= len(c.parts) {
		close(done)
		return done
	}
	pt := c.parts[p]
	c.mu.Lock()
	if c.mu.closed || epoch < pt.epoch || epoch == pt.epoch && pt.state != partUnloaded {
		c.mu.Unlock()
		close(done)
		return done
	}
	c.unloadLocked(pt) // also drops a group a racing call left behind
	pt.epoch, pt.state = epoch, partLoading
	gen := pt.gen
	c.loads.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.loads.Done()
		defer close(done)
		c.loadElected(pt, gen, l)
	}()
	return done
}

// Resign gives up partition p (this broker no longer leads it; epoch is
// the partition's leader epoch now, -1 if unknown): its groups are
// unloaded. A Resign older than the current Elect changes nothing.
func (c *Coordinator) Resign(p, epoch int32) {
	if p < 0 || int(p) >= len(c.parts) {
		return
	}
	pt := c.parts[p]
	c.mu.Lock()
	defer c.mu.Unlock()
	if epoch >= 0 && epoch < pt.epoch {
		return
	}
	if pt.state == partUnloaded {
		pt.epoch = max(pt.epoch, epoch)
		return
	}
	c.unloadLocked(pt)
	pt.epoch = max(pt.epoch, epoch)
}

// Owned reports the partitions loaded or loading, for logs and tests.
func (c *Coordinator) Owned() (loaded, loading []int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, pt := range c.parts {
		switch pt.state {
		case partLoaded:
			loaded = append(loaded, pt.index)
		case partLoading:
			loading = append(loading, pt.index)
		}
	}
	return loaded, loading
}

// unloadLocked drops pt's groups (see the file comment).
func (c *Coordinator) unloadLocked(pt *part) {
	pt.state = partUnloaded
	pt.gen++
	n := 0
	for id, g := range c.mu.groups {
		if g.part != pt.index {
			continue
		}
		for _, m := range g.members {
			g.completeJoin(m, joinError(m.id, kerr.NotCoordinator))
			m.respondSync(syncError(kerr.NotCoordinator))
		}
		for pid := range g.txnOffsets {
			if ids := c.mu.txnGroups[pid]; ids != nil {
				delete(ids, id)
				if len(ids) == 0 {
					delete(c.mu.txnGroups, pid)
				}
			}
		}
		delete(c.mu.groups, id)
		n++
	}
	ws := pt.queue
	pt.queue = nil
	for _, w := range ws {
		if w.apply != nil {
			w.apply(kerr.NotCoordinator)
		}
	}
	if n > 0 {
		c.log.Info("groups unloaded", "partition", pt.index, "groups", n)
	}
}

// loadElected is Elect's load of pt (generation gen).
func (c *Coordinator) loadElected(pt *part, gen uint64, l *partition.Log) {
	if h := c.cfg.testBeforeLoad; h != nil {
		h(pt.index)
	}
	start := time.Now()
	pt.wmu.Lock() // no append to pt while it loads
	defer pt.wmu.Unlock()
	current := func() bool { return !c.mu.closed && pt.gen == gen }
	c.mu.Lock()
	if !current() {
		c.mu.Unlock()
		return
	}
	pt.log = l
	if l == nil { // offline here: COORDINATOR_NOT_AVAILABLE
		pt.state = partLoaded
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	n, err := c.loadPart(pt, func(fn func()) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if !current() {
			return false
		}
		fn()
		return true
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	if !current() {
		return
	}
	pt.state = partLoaded
	if err != nil {
		c.log.Error("cannot load the groups of a __consumer_offsets partition; it is offline", "partition", pt.index, "err", err)
		c.dropPartGroupsLocked(pt.index)
		pt.log = nil
		return
	}
	groups := c.finishLoadLocked(func(p int32) bool { return p == pt.index })
	logf := c.log.Info
	if groups == 0 {
		logf = c.log.Debug
	}
	logf("groups loaded", "partition", pt.index, "epoch", pt.epoch, "groups", groups, "records", n,
		"took", time.Since(start).Round(time.Millisecond))
}

// dropPartGroupsLocked forgets every group of partition p (a failed load).
func (c *Coordinator) dropPartGroupsLocked(p int32) {
	for id, g := range c.mu.groups {
		if g.part == p {
			delete(c.mu.groups, id)
		}
	}
}

// availableLocked is Available with c.mu held.
func (c *Coordinator) availableLocked(groupID string) error {
	pt := c.parts[PartitionFor(groupID, int32(len(c.parts)))]
	switch {
	case c.mu.closed, pt.state == partUnloaded:
		return kerr.NotCoordinator
	case pt.state == partLoading:
		return kerr.CoordinatorLoadInProgress
	case pt.log == nil:
		return kerr.CoordinatorNotAvailable
	}
	return nil
}
