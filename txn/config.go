package txn

import (
	"log/slog"
	"time"
)

// TopicName is the internal topic holding the transactions' state.
const TopicName = "__transaction_state"

// Config configures a Coordinator. Zero fields take the defaults below
// (Kafka's broker setting in brackets).
type Config struct {
	// Partitions is the partition count of __transaction_state when it is
	// created [transaction.state.log.num.partitions]. Default 50. An
	// existing topic keeps its count: it decides where transactional ids
	// live.
	Partitions int32
	// SegmentBytes is the topic's segment.bytes when it is created
	// [transaction.state.log.segment.bytes]. Default 100 MiB, as Kafka:
	// the active segment is never compacted, so smaller segments bound the
	// topic tighter at the cost of more files.
	SegmentBytes int64
	// MaxTimeout is the largest transaction.timeout.ms a producer may ask
	// for [transaction.max.timeout.ms]; larger gets
	// INVALID_TRANSACTION_TIMEOUT. Default 15 min: a longer one lets a
	// hung producer hold back read_committed consumers for longer.
	MaxTimeout time.Duration
	// AbortInterval is how often ongoing transactions past their timeout
	// are aborted [transaction.abort.timed.out.transaction.cleanup.interval.ms].
	// Default 10 s: shorter aborts a hanging transaction sooner, for a
	// scan of every transaction per interval.
	AbortInterval time.Duration
	// IDExpiration is how long a transactional id without a transaction
	// in progress is kept after its last update [transactional.id.expiration.ms].
	// Default 7 days. An expired id is removed (a tombstone in the log);
	// its next InitProducerId starts over with a new producer id.
	IDExpiration time.Duration
	// ExpireInterval is how often expired transactional ids are removed
	// [transaction.remove.expired.transaction.cleanup.interval.ms].
	// Default 1 h.
	ExpireInterval time.Duration
	// MarkerRetry is the wait before retrying the markers of a
	// transaction whose markers could not all be written. Default 1 s.
	MarkerRetry time.Duration
	// Version is the transaction.version feature level the broker
	// finalizes and advertises in ApiVersions [Kafka: kafka-features.sh
	// --feature transaction.version=N]: 2 (the default, Kafka 4's for a
	// new cluster) lets clients run transactions v2 (KIP-890 part 2:
	// Produce v12 adds partitions implicitly, EndTxn v5 bumps the epoch at
	// every transaction); 1 keeps clients that key on the feature (the
	// Java client 4.x, franz-go) on transactions v1, for clients that
	// misbehave with v2. Requests are served by their version whatever
	// the level, as in Kafka. Sluice writes the state log in level 1's
	// format (flexible values), so 0 is not offered.
	Version int16
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// LoadOnElection makes Open load no partition: the broker calls Elect
	// when it becomes the leader of a __transaction_state partition and
	// Resign when it stops being it (load.go). Ids of a partition not held
	// get NOT_COORDINATOR; of one still loading,
	// COORDINATOR_LOAD_IN_PROGRESS. False (one node): Open loads every
	// partition and holds them all.
	LoadOnElection bool
	// Manual disables the background goroutine; the owner calls Tick
	// (tests with an injected clock).
	Manual bool
	// Logger receives the coordinator's logs. Default slog.Default().
	Logger *slog.Logger

	testAfterPrepare func() bool
	// testBeforeLoad, if set, runs before an Elect's load reads the log.
	testBeforeLoad func(p int32)
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		Partitions:     50,
		SegmentBytes:   100 << 20,
		MaxTimeout:     15 * time.Minute,
		AbortInterval:  10 * time.Second,
		IDExpiration:   7 * 24 * time.Hour,
		ExpireInterval: time.Hour,
		MarkerRetry:    time.Second,
		Version:        2,
		Now:            time.Now,
	}
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Partitions <= 0 {
		c.Partitions = d.Partitions
	}
	if c.SegmentBytes <= 0 {
		c.SegmentBytes = d.SegmentBytes
	}
	if c.MaxTimeout <= 0 {
		c.MaxTimeout = d.MaxTimeout
	}
	if c.AbortInterval <= 0 {
		c.AbortInterval = d.AbortInterval
	}
	if c.IDExpiration <= 0 {
		c.IDExpiration = d.IDExpiration
	}
	if c.ExpireInterval <= 0 {
		c.ExpireInterval = d.ExpireInterval
	}
	if c.MarkerRetry <= 0 {
		c.MarkerRetry = d.MarkerRetry
	}
	if c.Version <= 0 {
		c.Version = d.Version
	}
	if c.Now == nil {
		c.Now = d.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
