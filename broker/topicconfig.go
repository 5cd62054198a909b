package broker

import (
	"fmt"
	"strconv"

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

func setCleanupPolicy(c *partition.Config, v string) error {
	if v != "delete" {
		return fmt.Errorf("only \"delete\" is supported (compaction comes later)")
	}
	c.CleanupPolicy = v
	return nil
}
