package partition

import (
	"fmt"
	"math"
	"time"
)

const (
	day = 24 * time.Hour

	// maxSegmentBytes keeps every position within a uint32 index entry.
	maxSegmentBytes = math.MaxInt32
)

func defaultConfig() Config {
	return Config{
		SegmentBytes:       1 << 30,
		SegmentMs:          int64(7 * day / time.Millisecond),
		SegmentIndexBytes:  10 << 20,
		IndexIntervalBytes: 4096,
		RetentionMs:        int64(7 * day / time.Millisecond),
		RetentionBytes:     -1,
		MaxMessageBytes:    1048588,
		CleanupPolicy:      "delete",
		MinInsyncReplicas:  1,
		Flush:              FlushNever,
		FlushInterval:      time.Second,

		MinCleanableDirtyRatio: 0.5,
		MinCompactionLagMs:     0,
		MaxCompactionLagMs:     math.MaxInt64,
		DeleteRetentionMs:      int64(day / time.Millisecond),

		FlushMessages:            math.MaxInt64,
		FlushMs:                  math.MaxInt64,
		CompressionType:          "producer",
		GzipLevel:                -1,
		LZ4Level:                 9,
		ZstdLevel:                3,
		TimestampBeforeMaxMs:     math.MaxInt64,
		TimestampAfterMaxMs:      math.MaxInt64,
		TimestampDifferenceMaxMs: math.MaxInt64,
	}
}

// validate reports the first setting out of range, naming it as Kafka does.
func (c Config) validate() error {
	bad := func(key string, v any, why string) error {
		return fmt.Errorf("%w: %s=%v: %s", ErrInvalidConfig, key, v, why)
	}
	switch {
	case c.SegmentBytes < 14 || c.SegmentBytes > maxSegmentBytes:
		return bad("segment.bytes", c.SegmentBytes, "must be in [14, 2147483647]")
	case c.SegmentMs < 1:
		return bad("segment.ms", c.SegmentMs, "must be at least 1")
	case c.SegmentIndexBytes < 4*12:
		return bad("segment.index.bytes", c.SegmentIndexBytes, "must be at least 48")
	case c.IndexIntervalBytes < 0:
		return bad("index.interval.bytes", c.IndexIntervalBytes, "must not be negative")
	case c.RetentionMs < -1:
		return bad("retention.ms", c.RetentionMs, "must be -1 or more")
	case c.RetentionBytes < -1:
		return bad("retention.bytes", c.RetentionBytes, "must be -1 or more")
	case c.MaxMessageBytes < 0:
		return bad("max.message.bytes", c.MaxMessageBytes, "must not be negative")
	case c.MinInsyncReplicas < 1:
		return bad("min.insync.replicas", c.MinInsyncReplicas, "must be at least 1")
	case c.Flush == FlushInterval && c.FlushInterval <= 0:
		return bad("flush.ms", c.FlushInterval, "must be positive with --fsync interval")
	case !(c.MinCleanableDirtyRatio >= 0 && c.MinCleanableDirtyRatio <= 1):
		return bad("min.cleanable.dirty.ratio", c.MinCleanableDirtyRatio, "must be in [0, 1]")
	case c.MinCompactionLagMs < 0:
		return bad("min.compaction.lag.ms", c.MinCompactionLagMs, "must not be negative")
	case c.MaxCompactionLagMs < 1:
		return bad("max.compaction.lag.ms", c.MaxCompactionLagMs, "must be at least 1")
	case c.DeleteRetentionMs < 0:
		return bad("delete.retention.ms", c.DeleteRetentionMs, "must not be negative")
	case c.SegmentJitterMs < 0:
		return bad("segment.jitter.ms", c.SegmentJitterMs, "must not be negative")
	}
	switch c.CleanupPolicy {
	case "delete", "compact", "compact,delete", "delete,compact":
	default:
		return bad("cleanup.policy", c.CleanupPolicy, `must be "delete", "compact" or both`)
	}
	return nil
}

// ParseFlushPolicy parses never|interval|always.
func ParseFlushPolicy(s string) (FlushPolicy, error) {
	switch s {
	case "never":
		return FlushNever, nil
	case "interval":
		return FlushInterval, nil
	case "always":
		return FlushAlways, nil
	}
	return 0, fmt.Errorf("unknown fsync policy %q (want never, interval or always)", s)
}

func (p FlushPolicy) String() string {
	switch p {
	case FlushNever:
		return "never"
	case FlushInterval:
		return "interval"
	case FlushAlways:
		return "always"
	}
	return fmt.Sprintf("FlushPolicy(%d)", int(p))
}
