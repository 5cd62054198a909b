package txn

import (
	"time"

	"github.com/sluice/sluice/partition"
)

// Loading and unloading as leadership of __transaction_state moves.
//
// With Config.LoadOnElection (a broker in a cluster), Open loads nothing:
// every partition starts Unloaded, and the broker calls Elect when it
// becomes the partition's leader and Resign when it stops being it, each
// with the partition's leader epoch, which is the coordinator epoch the
// markers of its transactions carry (Kafka's coordinatorEpoch):
//
//	              Elect(p, e)                load done
//	  Unloaded ─────────────────▶ Loading ─────────────────▶ Loaded
//	  NOT_COORDINATOR             COORDINATOR_LOAD_           serving; then every
//	     ▲                        IN_PROGRESS                 PrepareCommit/Abort
//	     │  Resign(p, e' ≥ e)        │                        loaded is completed
//	     └───────────────────────────┴────────────────────────┘ (markers written
//	        Elect(p, e' > e) while loading or loaded: reload      at epoch e)
//
// Loading reads the partition from its log start to its log end offset in
// 1 MiB chunks without Coordinator.mu; each chunk is replayed under mu if
// the load is still current. Unloading forgets the partition's ids; a
// change being written for one of them then fails with NOT_COORDINATOR
// (appendRecord checks the partition is still held, under part.wmu), and
// markers being written finish but their completion is not recorded: the
// next leader, loading the prepared state, writes them again (markers are
// idempotent, and a marker from an older coordinator epoch is refused by
// the partitions: TRANSACTION_COORDINATOR_FENCED). A failed load (an I/O
// error) leaves the partition offline: COORDINATOR_NOT_AVAILABLE.

// partState is where a partition is in the diagram above.
type partState uint8

const (
	partUnloaded partState = iota
	partLoading
	partLoaded
)

// Elect makes this coordinator the owner of partition p of
// __transaction_state at leader epoch epoch, whose local log is l, and
// starts loading its transactional ids. Calls for an epoch older than the
// last Elect or Resign, or repeating the current one, change nothing. The
// channel is closed when the load is over (done, failed or abandoned).
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
	c.unloadLocked(pt)
	pt.epoch, pt.state = epoch, partLoading
	gen := pt.gen
	c.loads.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.loads.Done()
		defer close(done)
		if c.loadElected(pt, gen, l) && !c.cfg.Manual {
			c.Tick() // complete what the previous leader left prepared
		}
	}()
	return done
}

// Resign gives up partition p (this broker no longer leads it; epoch is
// its leader epoch now, -1 if unknown). A Resign older than the current
// Elect changes nothing.
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
	n := c.unloadLocked(pt)
	pt.epoch = max(pt.epoch, epoch)
	if n > 0 {
		c.log.Info("transactional ids unloaded", "partition", p, "transactional_ids", n)
	}
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

// unloadLocked forgets pt's ids and returns how many there were.
func (c *Coordinator) unloadLocked(pt *part) int {
	pt.state = partUnloaded
	pt.gen++
	n := 0
	for id, m := range c.mu.txns {
		if m.part == pt.index {
			delete(c.mu.txns, id)
			n++
		}
	}
	return n
}

// loadElected is Elect's load of pt (generation gen); true if it loaded.
func (c *Coordinator) loadElected(pt *part, gen uint64, l *partition.Log) bool {
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
		return false
	}
	pt.log = l
	if l == nil { // offline here: COORDINATOR_NOT_AVAILABLE
		pt.state = partLoaded
		c.mu.Unlock()
		return false
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
		return false
	}
	pt.state = partLoaded
	if err != nil {
		c.log.Error("cannot load the transactional ids of a "+TopicName+" partition; it is offline", "partition", pt.index, "err", err)
		c.unloadLocked(pt)
		pt.state, pt.log = partLoaded, nil
		return false
	}
	ids, prepared := 0, 0
	for _, m := range c.mu.txns {
		if m.part == pt.index {
			ids++
			if m.state == PrepareCommit || m.state == PrepareAbort {
				prepared++
			}
		}
	}
	logf := c.log.Info
	if ids == 0 {
		logf = c.log.Debug
	}
	logf("transactional ids loaded", "partition", pt.index, "epoch", pt.epoch, "transactional_ids", ids,
		"records", n, "prepared_to_complete", prepared, "took", time.Since(start).Round(time.Millisecond))
	return true
}
