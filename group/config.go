package group

import (
	"log/slog"
	"time"
)

// TopicName is the internal topic holding offsets and group metadata.
const TopicName = "__consumer_offsets"

// Config configures a Coordinator. Zero fields take the defaults below
// (Kafka's broker setting in brackets), except InitialRebalanceDelay, where
// zero means no delay as in Kafka: start from DefaultConfig.
type Config struct {
	// LoadOnElection makes Open load no partition: the broker calls Elect
	// when it becomes the leader of a __consumer_offsets partition and
	// Resign when it stops being it (load.go). A group of a partition not
	// held gets NOT_COORDINATOR (16) from every call, so the client looks
	// the coordinator up again; one still loading gets
	// COORDINATOR_LOAD_IN_PROGRESS (14). False (one node): Open loads
	// every partition and holds them all.
	LoadOnElection bool
	// Partitions is the partition count of __consumer_offsets when the
	// coordinator creates it [offsets.topic.num.partitions]. Default 50.
	// An existing topic keeps its count: it decides where groups live.
	Partitions int32
	// SegmentBytes is the topic's segment.bytes when the coordinator
	// creates it. Default 16 MiB (Kafka: 100 MiB): the active segment is
	// never compacted, so smaller segments bound the topic tighter, at the
	// cost of more files and cleanings.
	SegmentBytes int64
	// InitialRebalanceDelay is how long the first rebalance of an empty
	// group waits for more members, extended by each new member up to the
	// rebalance timeout [group.initial.rebalance.delay.ms]. DefaultConfig
	// sets 3 s: longer means fewer rebalances when many consumers start
	// together, and a slower first assignment. Zero (or negative) means no
	// delay, as group.initial.rebalance.delay.ms=0 does in Kafka.
	InitialRebalanceDelay time.Duration
	// MinSessionTimeout and MaxSessionTimeout bound the session timeout a
	// member may ask for [group.min.session.timeout.ms] 6 s and
	// [group.max.session.timeout.ms] 30 min. A short one detects dead
	// consumers sooner and needs more frequent heartbeats.
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration
	// NewMemberJoinTimeout bounds how long a new member may wait in its
	// first rebalance without rejoining. Default 5 min (Kafka's constant).
	NewMemberJoinTimeout time.Duration
	// OffsetsRetention is how long the offsets of a group that stays Empty
	// (or of a group that only commits) are kept [offsets.retention.minutes].
	// Default 7 days.
	OffsetsRetention time.Duration
	// OffsetsRetentionCheckInterval is how often expired offsets are removed
	// [offsets.retention.check.interval.ms]. Default 10 min.
	OffsetsRetentionCheckInterval time.Duration
	// MaxMetadataSize is the largest commit metadata string
	// [offset.metadata.max.bytes]. Default 4096.
	MaxMetadataSize int
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Manual disables the background goroutine; the owner calls Tick
	// (tests with an injected clock).
	Manual bool
	// Logger receives the coordinator's logs. Default slog.Default().
	Logger *slog.Logger

	// testBeforeLoad, if set, runs before an Elect's load reads the log.
	testBeforeLoad func(p int32)
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		Partitions:                    50,
		SegmentBytes:                  16 << 20,
		InitialRebalanceDelay:         3 * time.Second,
		MinSessionTimeout:             6 * time.Second,
		MaxSessionTimeout:             30 * time.Minute,
		NewMemberJoinTimeout:          5 * time.Minute,
		OffsetsRetention:              7 * 24 * time.Hour,
		OffsetsRetentionCheckInterval: 10 * time.Minute,
		MaxMetadataSize:               4096,
		Now:                           time.Now,
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
	// InitialRebalanceDelay: zero is a setting (no delay), not a default.
	c.InitialRebalanceDelay = max(c.InitialRebalanceDelay, 0)
	if c.MinSessionTimeout <= 0 {
		c.MinSessionTimeout = d.MinSessionTimeout
	}
	if c.MaxSessionTimeout <= 0 {
		c.MaxSessionTimeout = d.MaxSessionTimeout
	}
	if c.NewMemberJoinTimeout <= 0 {
		c.NewMemberJoinTimeout = d.NewMemberJoinTimeout
	}
	if c.OffsetsRetention <= 0 {
		c.OffsetsRetention = d.OffsetsRetention
	}
	if c.OffsetsRetentionCheckInterval <= 0 {
		c.OffsetsRetentionCheckInterval = d.OffsetsRetentionCheckInterval
	}
	if c.MaxMetadataSize <= 0 {
		c.MaxMetadataSize = d.MaxMetadataSize
	}
	if c.Now == nil {
		c.Now = d.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
