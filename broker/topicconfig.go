package broker

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sluice/sluice/partition"
)

// topicConfigKeys are the topic configs Sluice understands, each applied
// to a partition.Config field. Others are rejected (INVALID_CONFIG).
var topicConfigKeys = map[string]func(c *partition.Config, v string) error{
	"segment.bytes":          int64Field(func(c *partition.Config) *int64 { return &c.SegmentBytes }, 14, 1<<31-1),
	"segment.ms":             int64Field(func(c *partition.Config) *int64 { return &c.SegmentMs }, 1, 1<<63-1),
	"retention.ms":           int64Field(func(c *partition.Config) *int64 { return &c.RetentionMs }, -1, 1<<63-1),
	"retention.bytes":        int64Field(func(c *partition.Config) *int64 { return &c.RetentionBytes }, -1, 1<<63-1),
	"segment.index.bytes":    intField(func(c *partition.Config) *int { return &c.SegmentIndexBytes }, 48, 1<<31-1),
	"index.interval.bytes":   intField(func(c *partition.Config) *int { return &c.IndexIntervalBytes }, 0, 1<<31-1),
	"max.message.bytes":      intField(func(c *partition.Config) *int { return &c.MaxMessageBytes }, 0, 1<<31-1),
	"min.insync.replicas":    intField(func(c *partition.Config) *int { return &c.MinInsyncReplicas }, 1, 1<<31-1),
	"message.timestamp.type": setTimestampType,
	"cleanup.policy":         setCleanupPolicy,

	"min.cleanable.dirty.ratio": setDirtyRatio,
	"min.compaction.lag.ms":     int64Field(func(c *partition.Config) *int64 { return &c.MinCompactionLagMs }, 0, 1<<63-1),
	"max.compaction.lag.ms":     int64Field(func(c *partition.Config) *int64 { return &c.MaxCompactionLagMs }, 1, 1<<63-1),
	"delete.retention.ms":       int64Field(func(c *partition.Config) *int64 { return &c.DeleteRetentionMs }, 0, 1<<63-1),
}

// logConfig returns defaults with overrides applied.
func logConfig(defaults partition.Config, overrides map[string]string) (partition.Config, error) {
	c := defaults
	for k, v := range overrides {
		set, ok := topicConfigKeys[k]
		if !ok {
			return c, fmt.Errorf("%w: unknown config %q", errInvalidConfig, k)
		}
		if err := set(&c, v); err != nil {
			return c, fmt.Errorf("%w: %s=%q: %v", errInvalidConfig, k, v, err)
		}
	}
	// The log's own checks, so nothing it would refuse is ever persisted.
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%w: %v", errInvalidConfig, err)
	}
	return c, nil
}

func int64Field(field func(*partition.Config) *int64, lo, hi int64) func(*partition.Config, string) error {
	return func(c *partition.Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return err
		}
		if n < lo || n > hi {
			return fmt.Errorf("must be in [%d, %d]", lo, hi)
		}
		*field(c) = n
		return nil
	}
}

func intField(field func(*partition.Config) *int, lo, hi int64) func(*partition.Config, string) error {
	return func(c *partition.Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return err
		}
		if n < lo || n > hi {
			return fmt.Errorf("must be in [%d, %d]", lo, hi)
		}
		*field(c) = int(n)
		return nil
	}
}

func setTimestampType(c *partition.Config, v string) error {
	switch v {
	case "CreateTime":
		c.LogAppendTime = false
	case "LogAppendTime":
		c.LogAppendTime = true
	default:
		return fmt.Errorf("want CreateTime or LogAppendTime")
	}
	return nil
}

// setCleanupPolicy takes Kafka's list: "delete", "compact", or both in
// either order (stored as given, spaces dropped).
func setCleanupPolicy(c *partition.Config, v string) error {
	seen := map[string]bool{}
	var parts []string
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		if p != "delete" && p != "compact" {
			return fmt.Errorf(`want "delete", "compact" or both, got %q`, p)
		}
		if !seen[p] {
			seen[p] = true
			parts = append(parts, p)
		}
	}
	c.CleanupPolicy = strings.Join(parts, ",")
	return nil
}

func setDirtyRatio(c *partition.Config, v string) error {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return err
	}
	if !(f >= 0 && f <= 1) {
		return fmt.Errorf("must be in [0, 1]")
	}
	c.MinCleanableDirtyRatio = f
	return nil
}
