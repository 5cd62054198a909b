package group

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice/sluice/partition"
)

// ErrorCode is the Kafka error code of an error returned by this package:
// 0 for nil, the code of a *kerr.Error, UNKNOWN_SERVER_ERROR otherwise.
func ErrorCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return kerr.UnknownServerError.Code
}

// Coordinator is the group coordinator of one broker: every group whose
// __consumer_offsets partition it holds (all of them, on one node).
type Coordinator struct {
	cfg   Config
	log   *slog.Logger
	parts []*part
	kick  chan struct{}
	quit  chan struct{}
	done  chan struct{}

	closeOnce sync.Once
	loads     sync.WaitGroup // Elect's loads in flight
	mu        struct {
		sync.Mutex
		groups map[string]*group
		// txnGroups: producer id → groups holding its pending
		// transactional offsets (txnoffsets.go).
		txnGroups map[int64]map[string]struct{}
		dirty     []*part // parts with queued writes
		closed    bool
	}
}

// part is one __consumer_offsets partition.
type part struct {
	index int32
	log   *partition.Log
	wmu   sync.Mutex // serialises appends; taken before Coordinator.mu
	queue []*write   // guarded by Coordinator.mu
	// Guarded by Coordinator.mu (load.go): where the partition is in the
	// load/unload diagram, the leader epoch of the last Elect or Resign,
	// and a generation bumped by each, so a stale load gives up.
	state partState
	epoch int32
	gen   uint64
}

// write is records to append, and what to do once they are (or are not):
// apply runs with Coordinator.mu held, in log order.
type write struct {
	recs  []kv
	apply func(err error)
	// txn, when set, makes recs a transactional batch of its own (the
	// offsets of TxnOffsetCommit, txnoffsets.go).
	txn *txnTag
}

// txnTag is the producer of a transactional write.
type txnTag struct {
	producerID int64
	epoch      int16
}

// kv is one record: value nil is a tombstone.
type kv struct{ key, value []byte }

// Open loads every group and offset from the partitions of
// __consumer_offsets (logs[i] is partition i) and starts the background
// goroutine (unless cfg.Manual). With cfg.LoadOnElection it loads none:
// partitions load on Elect (load.go), and logs may be nil.
func Open(cfg Config, logs []*partition.Log) (*Coordinator, error) {
	cfg = cfg.withDefaults()
	if len(logs) == 0 {
		return nil, errors.New("group: no __consumer_offsets partitions")
	}
	c := &Coordinator{
		cfg:  cfg,
		log:  cfg.Logger,
		kick: make(chan struct{}, 1),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
	c.mu.groups = map[string]*group{}
	for i, l := range logs {
		if l != nil && l.Partition() != int32(i) {
			return nil, fmt.Errorf("group: __consumer_offsets partition %d found where %d expected", l.Partition(), i)
		}
		// l == nil: offline (offline.go).
		pt := &part{index: int32(i), log: l, state: partLoaded, epoch: -1}
		if cfg.LoadOnElection {
			pt.log, pt.state = nil, partUnloaded
		}
		c.parts = append(c.parts, pt)
	}
	start := time.Now()
	n := 0
	if !cfg.LoadOnElection {
		var err error
		if n, err = c.load(); err != nil {
			return nil, err
		}
	}
	c.log.Info("group coordinator loaded", "groups", len(c.mu.groups), "records", n,
		"partitions", len(c.parts), "offline_partitions", c.OfflinePartitions(),
		"took", time.Since(start).Round(time.Millisecond))
	if cfg.Manual {
		close(c.done)
	} else {
		go c.run()
	}
	return c, nil
}

// Close stops the background goroutine and answers every waiting JoinGroup
// and SyncGroup with NOT_COORDINATOR. Later calls get NOT_COORDINATOR.
func (c *Coordinator) Close() error {
	c.closeOnce.Do(func() {
		close(c.quit)
		<-c.done
		c.mu.Lock()
		c.mu.closed = true
		for _, g := range c.mu.groups {
			for _, m := range g.members {
				g.completeJoin(m, joinError(m.id, kerr.NotCoordinator))
				m.respondSync(syncError(kerr.NotCoordinator))
			}
		}
		c.mu.Unlock()
		c.loads.Wait()
		c.flushDirty()
	})
	return nil
}

// Partitions is the partition count of __consumer_offsets in use.
func (c *Coordinator) Partitions() int32 { return int32(len(c.parts)) }

// PartitionFor is Kafka's placement: abs(groupID.hashCode()) % partitions,
// with Java's String.hashCode over UTF-16 code units.
func PartitionFor(groupID string, partitions int32) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(groupID)) {
		h = 31*h + int32(u)
	}
	if h == -1<<31 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % partitions
}

func (c *Coordinator) now() time.Time { return c.cfg.Now() }

// kickLocked wakes the background goroutine to recompute its next deadline.
func (c *Coordinator) kickLocked() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// groupLocked returns the group or nil.
func (c *Coordinator) groupLocked(id string) *group { return c.mu.groups[id] }

// getOrCreateLocked returns the group, creating an Empty one.
func (c *Coordinator) getOrCreateLocked(id string) *group {
	g := c.mu.groups[id]
	if g == nil {
		g = newGroup(id, PartitionFor(id, int32(len(c.parts))), c.now())
		c.mu.groups[id] = g
	}
	return g
}

// dropIfUnusedLocked forgets a group that holds nothing (a join that failed
// before any member was added).
func (c *Coordinator) dropIfUnusedLocked(g *group) {
	if g.state == Empty && len(g.members) == 0 && len(g.pending) == 0 &&
		len(g.offsets) == 0 && len(g.txnOffsets) == 0 && !g.hasMetadata() && c.mu.groups[g.id] == g {
		delete(c.mu.groups, g.id)
	}
}

// enqueueLocked queues a write on g's partition; flushDirty appends it.
func (c *Coordinator) enqueueLocked(p int32, w *write) {
	pt := c.parts[p]
	if len(pt.queue) == 0 {
		c.mu.dirty = append(c.mu.dirty, pt)
	}
	pt.queue = append(pt.queue, w)
}

// flushDirty appends every queued write. Called without Coordinator.mu.
func (c *Coordinator) flushDirty() {
	c.mu.Lock()
	dirty := c.mu.dirty
	c.mu.dirty = nil
	c.mu.Unlock()
	for _, pt := range dirty {
		c.flushPart(pt)
	}
}

// flushPart appends pt's queued writes and applies them in order.
func (c *Coordinator) flushPart(pt *part) {
	pt.wmu.Lock()
	defer pt.wmu.Unlock()
	c.flushPartLocked(pt)
}

// flushPartLocked is flushPart with pt.wmu held.
func (c *Coordinator) flushPartLocked(pt *part) {
	c.mu.Lock()
	ws := pt.queue
	pt.queue = nil
	loaded := pt.state == partLoaded
	c.mu.Unlock()
	if len(ws) == 0 {
		return
	}
	var errs []error
	if loaded {
		errs = c.appendWrites(pt, ws)
	} else { // unloaded since queued (load.go)
		errs = make([]error, len(ws))
		for i := range errs {
			errs[i] = kerr.NotCoordinator
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, w := range ws {
		if w.apply != nil {
			w.apply(errs[i])
		}
	}
}

// storageError maps an append error to what Kafka answers for it.
func storageError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, partition.ErrMessageTooLarge):
		return kerr.InvalidCommitOffsetSize
	case errors.Is(err, partition.ErrClosed):
		return kerr.NotCoordinator
	}
	return kerr.CoordinatorNotAvailable
}
