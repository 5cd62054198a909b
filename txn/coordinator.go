package txn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice/sluice/group"
	"github.com/sluice/sluice/partition"
)

// State is a transaction's state, with Kafka's numbering (the byte stored
// in TransactionLogValue.TransactionStatus).
type State int8

// The states of Kafka's TransactionState.
const (
	Empty State = iota
	Ongoing
	PrepareCommit
	PrepareAbort
	CompleteCommit
	CompleteAbort
	Dead
	PrepareEpochFence
)

var stateNames = [...]string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort",
	"CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"}

func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int8(s))
}

// ParseState is the State named s (Kafka's names, case-insensitive).
func ParseState(s string) (State, bool) {
	for i, n := range stateNames {
		if strings.EqualFold(n, s) {
			return State(i), true
		}
	}
	return 0, false
}

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func compareTP(a, b TopicPartition) int {
	if c := strings.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return int(a.Partition) - int(b.Partition)
}

// Markers is the work of completing a transaction: a COMMIT or ABORT
// marker, from ProducerID at ProducerEpoch, on every partition.
type Markers struct {
	TransactionalID  string
	ProducerID       int64
	ProducerEpoch    int16
	Commit           bool
	CoordinatorEpoch int32
	Partitions       []TopicPartition // sorted
}

// Hooks are what the coordinator needs from the broker.
type Hooks struct {
	// NewProducerID allocates a producer id never handed out before.
	NewProducerID func() (int64, error)
	// WriteMarkers appends the markers to every partition (and completes
	// the transaction's offsets on __consumer_offsets partitions). It must
	// be idempotent: after a crash the coordinator writes them again.
	WriteMarkers func(ctx context.Context, m Markers) error
}

// Coordinator is the transaction coordinator of one broker: every
// transactional id whose __transaction_state partition it holds (all of
// them, on one node).
type Coordinator struct {
	cfg   Config
	log   *slog.Logger
	hooks Hooks
	parts []*part
	quit  chan struct{}
	done  chan struct{}

	closeOnce sync.Once
	loads     sync.WaitGroup // Elect's loads in flight
	mu        struct {
		sync.Mutex
		txns       map[string]*txnMeta
		nextExpire time.Time
		closed     bool
	}
}

// part is one __transaction_state partition.
type part struct {
	index int32
	log   *partition.Log
	wmu   sync.Mutex // serialises appends; never taken with Coordinator.mu held
	// Guarded by Coordinator.mu (load.go): where the partition is in the
	// load/unload diagram, the leader epoch of the last Elect or Resign
	// (the coordinator epoch; -1 on one node), and a generation bumped by
	// each, so a stale load or write gives up.
	state partState
	epoch int32
	gen   uint64
}

// txnState is what the log holds of a transactional id.
type txnState struct {
	producerID     int64
	prevProducerID int64 // -1 unless the last bump changed the producer id
	nextProducerID int64 // -1 unless a prepared v2 transaction exhausted the epoch (the id the producer continues with)
	epoch          int16
	lastEpoch      int16 // the epoch before the last bump; -1 if none
	timeout        time.Duration
	state          State
	partitions     map[TopicPartition]struct{}
	start          time.Time // when the transaction began (zero: none)
	update         time.Time
	v2             bool // the last EndTxn or implicit add was transactions v2 (KIP-890 part 2)
}

func (s txnState) clone() txnState {
	s.partitions = maps.Clone(s.partitions)
	return s
}

func (s *txnState) sortedPartitions() []TopicPartition {
	tps := slices.Collect(maps.Keys(s.partitions))
	slices.SortFunc(tps, compareTP)
	return tps
}

// txnMeta is one transactional id. pending is set while a change is
// being written (or the transaction completed): other requests for the id
// get CONCURRENT_TRANSACTIONS meanwhile, as Kafka's pendingState does.
type txnMeta struct {
	txnState
	id      string
	part    int32
	pending bool
}

// Open loads every transactional id from the partitions of
// __transaction_state (logs[i] is partition i) and starts the background
// goroutine (unless cfg.Manual), which first completes every transaction
// left prepared by a crash.
func Open(cfg Config, logs []*partition.Log, hooks Hooks) (*Coordinator, error) {
	cfg = cfg.withDefaults()
	if len(logs) == 0 {
		return nil, errors.New("txn: no __transaction_state partitions")
	}
	if hooks.NewProducerID == nil || hooks.WriteMarkers == nil {
		return nil, errors.New("txn: missing hooks")
	}
	c := &Coordinator{cfg: cfg, log: cfg.Logger, hooks: hooks, quit: make(chan struct{}), done: make(chan struct{})}
	c.mu.txns = map[string]*txnMeta{}
	for i, l := range logs {
		if l != nil && l.Partition() != int32(i) {
			return nil, fmt.Errorf("txn: %s partition %d found where %d expected", TopicName, l.Partition(), i)
		}
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
	c.mu.nextExpire = c.now().Add(cfg.ExpireInterval)
	prepared := 0
	for _, m := range c.mu.txns {
		if m.state == PrepareCommit || m.state == PrepareAbort {
			prepared++
		}
	}
	c.log.Info("transaction coordinator loaded", "transactional_ids", len(c.mu.txns), "records", n,
		"prepared_to_complete", prepared, "partitions", len(c.parts), "took", time.Since(start).Round(time.Millisecond))
	if cfg.Manual {
		close(c.done)
	} else {
		go c.run()
	}
	return c, nil
}

// Close stops the background goroutine; later requests get
// NOT_COORDINATOR. A transaction being completed is left prepared in the
// log and completed at the next Open.
func (c *Coordinator) Close() error {
	c.closeOnce.Do(func() {
		close(c.quit)
		<-c.done
		c.mu.Lock()
		c.mu.closed = true
		c.mu.Unlock()
		c.loads.Wait()
	})
	return nil
}

// TransactionVersion is the finalized transaction.version level of cfg
// (Config.Version, its default filled in).
func TransactionVersion(cfg Config) int16 { return cfg.withDefaults().Version }

// Partitions is the partition count of __transaction_state in use.
func (c *Coordinator) Partitions() int32 { return int32(len(c.parts)) }

// PartitionFor is the __transaction_state partition of a transactional
// id: Kafka's abs(id.hashCode()) % partitions, as for groups.
func PartitionFor(id string, partitions int32) int32 { return group.PartitionFor(id, partitions) }

// Available reports whether id's partition is loaded and online (nil) or
// why not: NOT_COORDINATOR when this coordinator does not hold it (or is
// closed), COORDINATOR_LOAD_IN_PROGRESS while it loads,
// COORDINATOR_NOT_AVAILABLE when it is offline.
func (c *Coordinator) Available(id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	pt := c.parts[PartitionFor(id, c.Partitions())]
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

func (c *Coordinator) now() time.Time { return c.cfg.Now() }

// ErrorCode is the Kafka error code of an error returned by this package:
// 0 for nil, the code of a *kerr.Error, UNKNOWN_SERVER_ERROR otherwise.
func ErrorCode(err error) int16 { return group.ErrorCode(err) }

// run drives timeouts, expirations and marker retries until Close.
func (c *Coordinator) run() {
	defer close(c.done)
	c.Tick() // complete what a crash left prepared
	period := min(c.cfg.AbortInterval, c.cfg.MarkerRetry)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-c.quit:
			return
		case <-t.C:
			c.Tick()
		}
	}
}

// Tick does the coordinator's background work once, synchronously:
// completes every prepared transaction not being completed (after a crash
// or a failed marker write), aborts every ongoing transaction past its
// timeout (bumping the epoch, which fences the producer), and removes
// transactional ids unused for IDExpiration (every ExpireInterval).
func (c *Coordinator) Tick() {
	now := c.now()
	var complete, abort []*txnMeta
	expire := false
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return
	}
	for _, m := range c.mu.txns {
		if m.pending {
			continue
		}
		switch {
		case m.state == PrepareCommit || m.state == PrepareAbort:
			m.pending = true
			complete = append(complete, m)
		case m.state == Ongoing && !now.Before(m.start.Add(m.timeout)):
			m.pending = true
			abort = append(abort, m)
		}
	}
	if !now.Before(c.mu.nextExpire) {
		c.mu.nextExpire = now.Add(c.cfg.ExpireInterval)
		expire = true
	}
	c.mu.Unlock()
	ctx := context.Background()
	for _, m := range complete {
		c.complete(ctx, m)
	}
	for _, m := range abort {
		c.log.Info("aborting timed-out transaction", "transactional_id", m.id, "producer_id", m.producerID)
		if err := c.fenceAndAbort(ctx, m); err != nil {
			c.log.Warn("cannot abort timed-out transaction", "transactional_id", m.id, "err", err)
		}
	}
	if expire {
		c.expire(now)
	}
}

// expire removes the transactional ids without a transaction in progress
// last updated more than IDExpiration ago.
func (c *Coordinator) expire(now time.Time) {
	cutoff := now.Add(-c.cfg.IDExpiration)
	var old []*txnMeta
	c.mu.Lock()
	for _, m := range c.mu.txns {
		if !m.pending && (m.state == Empty || m.state == CompleteCommit || m.state == CompleteAbort) && m.update.Before(cutoff) {
			m.pending = true
			old = append(old, m)
		}
	}
	c.mu.Unlock()
	for _, m := range old {
		err := c.appendRecord(m.part, tombstone(m.id))
		c.mu.Lock()
		m.pending = false
		if err == nil {
			m.state = Dead
			delete(c.mu.txns, m.id)
		}
		c.mu.Unlock()
		if err != nil {
			c.log.Warn("cannot expire transactional id", "transactional_id", m.id, "err", err)
		} else {
			c.log.Info("expired transactional id", "transactional_id", m.id)
		}
	}
}
