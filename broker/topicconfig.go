package broker

// Topic configs: every config Kafka 3.9 documents under "Topic-Level
// Configs" (TopicConfig.java), each validated as Kafka's ConfigDef does
// (type, range, valid strings) and either applied to a partition.Config
// field (honoured) or only validated, stored and described (see
// topicConfigDef.effect and docs/TOPIC-CONFIGS.md).

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/partition"
)

// topicConfigDef describes one topic config.
type topicConfigDef struct {
	name string
	// synonyms are the broker configs that give its default, most
	// specific first (retention.ms: log.retention.ms, .minutes, .hours);
	// nil for topic-only configs.
	synonyms []string
	typ      kmsg.ConfigType
	dflt     string // Kafka's default, as described
	// set validates v (Kafka's wording for the reason) and applies it.
	set func(c *partition.Config, v string) error
	// value renders the config from a partition.Config; nil for configs
	// only stored (their default is dflt or a dynamic broker config).
	value func(partition.Config) string
	// effect is "" for a config Sluice honours, else what it does with it.
	effect string
	doc    string
}

// synonym is the broker config that gives the default ("" for none).
func (d *topicConfigDef) synonym() string {
	if len(d.synonyms) == 0 {
		return ""
	}
	return d.synonyms[0]
}

const maxLong = "9223372036854775807"

// Kafka's note for configs that need more than one node or tiered storage.
const (
	storedForCluster = "Stored and described; one node has no other replica, so nothing reads it yet (kept for the cluster work)."
	noTieredStorage  = "Stored and described; Sluice has no tiered storage, so every segment stays local."
)

// topicConfigDefs is sorted by name.
var topicConfigDefs = []topicConfigDef{
	{name: "cleanup.policy", synonyms: []string{"log.cleanup.policy"}, typ: kmsg.ConfigTypeList, dflt: "delete",
		set: setCleanupPolicy, value: func(c partition.Config) string { return c.CleanupPolicy },
		doc: "What happens to old segments: \"delete\" (retention.ms, retention.bytes), \"compact\" (the log cleaner keeps the latest record of every key) or both."},
	{name: "compression.gzip.level", synonyms: []string{"compression.gzip.level"}, typ: kmsg.ConfigTypeInt, dflt: "-1",
		set:   intSetter(func(c *partition.Config) *int { return &c.GzipLevel }, gzipLevel),
		value: func(c partition.Config) string { return strconv.Itoa(c.GzipLevel) },
		doc:   "The gzip level used when compression.type is gzip (-1: the codec's default, or 1 to 9)."},
	{name: "compression.lz4.level", synonyms: []string{"compression.lz4.level"}, typ: kmsg.ConfigTypeInt, dflt: "9",
		set:   intSetter(func(c *partition.Config) *int { return &c.LZ4Level }, between(1, 17)),
		value: func(c partition.Config) string { return strconv.Itoa(c.LZ4Level) },
		doc:   "The lz4 level used when compression.type is lz4 (1 to 17)."},
	{name: "compression.type", synonyms: []string{"compression.type"}, typ: kmsg.ConfigTypeString, dflt: "producer",
		set:    stringSetter(func(c *partition.Config) *string { return &c.CompressionType }, "uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"),
		value:  func(c partition.Config) string { return c.CompressionType },
		effect: "Honoured: a batch sent with another codec is decoded and recompressed at the topic's compression.<codec>.level (a copy and CPU, as in Kafka); one already in the topic's codec, or any batch under producer, is stored as sent.",
		doc:    "The codec batches are stored with: producer keeps the producer's; uncompressed, gzip, snappy, lz4 or zstd recompress batches sent with another codec."},
	{name: "compression.zstd.level", synonyms: []string{"compression.zstd.level"}, typ: kmsg.ConfigTypeInt, dflt: "3",
		set:   intSetter(func(c *partition.Config) *int { return &c.ZstdLevel }, between(-131072, 22)),
		value: func(c partition.Config) string { return strconv.Itoa(c.ZstdLevel) },
		doc:   "The zstd level used when compression.type is zstd (-131072 to 22)."},
	{name: "delete.retention.ms", synonyms: []string{"log.cleaner.delete.retention.ms"}, typ: kmsg.ConfigTypeLong, dflt: "86400000",
		set:   longSetter(func(c *partition.Config) *int64 { return &c.DeleteRetentionMs }, atLeast(0)),
		value: func(c partition.Config) string { return strconv.FormatInt(c.DeleteRetentionMs, 10) },
		doc:   "How long a tombstone stays after a cleaning passed it, for consumers reading behind (compacted topics)."},
	{name: "file.delete.delay.ms", synonyms: []string{"log.segment.delete.delay.ms"}, typ: kmsg.ConfigTypeLong, dflt: "60000",
		set:    validLong(atLeast(0)),
		effect: "Stored and described; Sluice deletes a segment's files once the last reader lets go of them (reference counts), so no delay is needed for readers in flight. A deleted partition's directory is renamed to -delete at once and its files removed in the background, without Kafka's 60 s wait.",
		doc:    "The time to wait before deleting a file from the filesystem."},
	{name: "flush.messages", synonyms: []string{"log.flush.interval.messages"}, typ: kmsg.ConfigTypeLong, dflt: maxLong,
		set: setFlushMessages, value: flushMessagesOf,
		effect: "Honoured as a policy: 1 fsyncs before every acknowledgement (concurrent appends share the fsync); any other finite value fsyncs at the broker's flush tick (log.flush.interval.ms, 1 s when unset) rather than counting messages.",
		doc:    "Messages appended between fsyncs (1: every append)."},
	{name: "flush.ms", synonyms: []string{"log.flush.interval.ms"}, typ: kmsg.ConfigTypeLong, dflt: maxLong,
		set: setFlushMs, value: flushMsOf,
		effect: "Honoured: 0 fsyncs before every acknowledgement; a finite value fsyncs the partition at the broker's flush tick (log.flush.interval.ms, 1 s when unset), so the period is the tick rather than the topic's value.",
		doc:    "Milliseconds between fsyncs."},
	{name: "follower.replication.throttled.replicas", typ: kmsg.ConfigTypeList, dflt: "",
		set: validThrottledReplicas, effect: "Honoured: a follower named here that is behind its leader's high watermark fetches the partition at most at follower.replication.throttled.rate (dynamic broker config; throttle.go).",
		doc: "Replicas whose follower fetches are throttled: partitionId:brokerId pairs, or * for all."},
	{name: "index.interval.bytes", synonyms: []string{"log.index.interval.bytes"}, typ: kmsg.ConfigTypeInt, dflt: "4096",
		set:   intSetter(func(c *partition.Config) *int { return &c.IndexIntervalBytes }, atLeast(0)),
		value: func(c partition.Config) string { return strconv.Itoa(c.IndexIntervalBytes) },
		doc:   "Bytes appended between two offset index entries."},
	{name: "leader.replication.throttled.replicas", typ: kmsg.ConfigTypeList, dflt: "",
		set: validThrottledReplicas, effect: "Honoured: a leader named here sends the partition to followers out of the ISR at most at leader.replication.throttled.rate (dynamic broker config; throttle.go).",
		doc: "Replicas whose leader-side replication is throttled: partitionId:brokerId pairs, or * for all."},
	{name: "local.retention.bytes", synonyms: []string{"log.local.retention.bytes"}, typ: kmsg.ConfigTypeLong, dflt: "-2",
		set: validLong(atLeast(-2)), effect: noTieredStorage,
		doc: "Local bytes kept when tiered storage is on (-2: retention.bytes)."},
	{name: "local.retention.ms", synonyms: []string{"log.local.retention.ms"}, typ: kmsg.ConfigTypeLong, dflt: "-2",
		set: validLong(atLeast(-2)), effect: noTieredStorage,
		doc: "How long local segments are kept when tiered storage is on (-2: retention.ms)."},
	{name: "max.compaction.lag.ms", synonyms: []string{"log.cleaner.max.compaction.lag.ms"}, typ: kmsg.ConfigTypeLong, dflt: maxLong,
		set:   longSetter(func(c *partition.Config) *int64 { return &c.MaxCompactionLagMs }, atLeast(1)),
		value: func(c partition.Config) string { return strconv.FormatInt(c.MaxCompactionLagMs, 10) },
		doc:   "The longest a record stays uncompacted: older dirty records make a log due whatever its dirty ratio."},
	{name: "max.message.bytes", synonyms: []string{"message.max.bytes"}, typ: kmsg.ConfigTypeInt, dflt: "1048588",
		set:   intSetter(func(c *partition.Config) *int { return &c.MaxMessageBytes }, atLeast(0)),
		value: func(c partition.Config) string { return strconv.Itoa(c.MaxMessageBytes) },
		doc:   "The largest record batch size allowed."},
	{name: "message.downconversion.enable", synonyms: []string{"log.message.downconversion.enable"}, typ: kmsg.ConfigTypeBoolean, dflt: "true",
		set:    validBool,
		effect: "Stored and described; Sluice serves only Fetch versions that carry RecordBatch v2, so there is nothing to down-convert.",
		doc:    "Whether fetches by old clients may be down-converted to their message format."},
	{name: "message.format.version", synonyms: []string{"log.message.format.version"}, typ: kmsg.ConfigTypeString, dflt: "3.0-IV1",
		set:    validMessageFormatVersion,
		effect: "Stored and described; ignored as in Kafka 3.x with inter.broker.protocol.version 3.0 or later: batches are always stored as RecordBatch v2.",
		doc:    "Deprecated: the message format version (ignored from 3.0)."},
	{name: "message.timestamp.after.max.ms", synonyms: []string{"log.message.timestamp.after.max.ms"}, typ: kmsg.ConfigTypeLong, dflt: maxLong,
		set:   longSetter(func(c *partition.Config) *int64 { return &c.TimestampAfterMaxMs }, atLeast(0)),
		value: func(c partition.Config) string { return strconv.FormatInt(c.TimestampAfterMaxMs, 10) },
		doc:   "How far ahead of the broker's clock a CreateTime record's timestamp may be; later ones get INVALID_TIMESTAMP."},
	{name: "message.timestamp.before.max.ms", synonyms: []string{"log.message.timestamp.before.max.ms"}, typ: kmsg.ConfigTypeLong, dflt: maxLong,
		set:   longSetter(func(c *partition.Config) *int64 { return &c.TimestampBeforeMaxMs }, atLeast(0)),
		value: func(c partition.Config) string { return strconv.FormatInt(c.TimestampBeforeMaxMs, 10) },
		doc:   "How far behind the broker's clock a CreateTime record's timestamp may be; older ones get INVALID_TIMESTAMP."},
	{name: "message.timestamp.difference.max.ms", synonyms: []string{"log.message.timestamp.difference.max.ms"}, typ: kmsg.ConfigTypeLong, dflt: maxLong,
		set:   longSetter(func(c *partition.Config) *int64 { return &c.TimestampDifferenceMaxMs }, atLeast(0)),
		value: func(c partition.Config) string { return strconv.FormatInt(c.TimestampDifferenceMaxMs, 10) },
		doc:   "Deprecated: the bound either side of the broker's clock, used where message.timestamp.before/after.max.ms are not set."},
	{name: "message.timestamp.type", synonyms: []string{"log.message.timestamp.type"}, typ: kmsg.ConfigTypeString, dflt: "CreateTime",
		set: setTimestampType, value: timestampTypeValue,
		doc: "CreateTime (the producer's timestamp) or LogAppendTime (the broker's)."},
	{name: "min.cleanable.dirty.ratio", synonyms: []string{"log.cleaner.min.cleanable.ratio"}, typ: kmsg.ConfigTypeDouble, dflt: "0.5",
		set:   setDirtyRatio,
		value: func(c partition.Config) string { return strconv.FormatFloat(c.MinCleanableDirtyRatio, 'g', -1, 64) },
		doc:   "The share of a compacted log written since its last cleaning at which it is cleaned again."},
	{name: "min.compaction.lag.ms", synonyms: []string{"log.cleaner.min.compaction.lag.ms"}, typ: kmsg.ConfigTypeLong, dflt: "0",
		set:   longSetter(func(c *partition.Config) *int64 { return &c.MinCompactionLagMs }, atLeast(0)),
		value: func(c partition.Config) string { return strconv.FormatInt(c.MinCompactionLagMs, 10) },
		doc:   "The least time a record stays uncompacted."},
	{name: "min.insync.replicas", synonyms: []string{"min.insync.replicas"}, typ: kmsg.ConfigTypeInt, dflt: "1",
		set:    intSetter(func(c *partition.Config) *int { return &c.MinInsyncReplicas }, atLeast(1)),
		value:  func(c partition.Config) string { return strconv.Itoa(c.MinInsyncReplicas) },
		effect: storedForCluster,
		doc:    "Replicas that must acknowledge an acks=all write (one node: 1)."},
	{name: "preallocate", synonyms: []string{"log.preallocate"}, typ: kmsg.ConfigTypeBoolean, dflt: "false",
		set:    validBool,
		effect: "Stored and described; segment files grow as written (their index files are always preallocated), since a preallocated .log would need its real end found at every recovery.",
		doc:    "Whether new segment files are preallocated on disk."},
	{name: "remote.log.copy.disable", typ: kmsg.ConfigTypeBoolean, dflt: "false",
		set: validBool, effect: noTieredStorage,
		doc: "Whether tiered data of the topic becomes read-only."},
	{name: "remote.log.delete.on.disable", typ: kmsg.ConfigTypeBoolean, dflt: "false",
		set: validBool, effect: noTieredStorage,
		doc: "Whether tiered data is deleted when tiered storage is turned off for the topic."},
	{name: "remote.storage.enable", typ: kmsg.ConfigTypeBoolean, dflt: "false",
		set:    setRemoteStorage,
		effect: "Only false is accepted: true is refused as Kafka refuses it on a broker whose remote.log.storage.system.enable is false.",
		doc:    "Whether the topic uses tiered storage."},
	{name: "retention.bytes", synonyms: []string{"log.retention.bytes"}, typ: kmsg.ConfigTypeLong, dflt: "-1",
		set:   longSetter(func(c *partition.Config) *int64 { return &c.RetentionBytes }, atLeast(-1)),
		value: func(c partition.Config) string { return strconv.FormatInt(c.RetentionBytes, 10) },
		doc:   "The size a partition may grow to before old segments are deleted; -1 for no limit."},
	{name: "retention.ms", synonyms: []string{"log.retention.ms", "log.retention.minutes", "log.retention.hours"}, typ: kmsg.ConfigTypeLong, dflt: "604800000",
		set:   longSetter(func(c *partition.Config) *int64 { return &c.RetentionMs }, atLeast(-1)),
		value: func(c partition.Config) string { return strconv.FormatInt(c.RetentionMs, 10) },
		doc:   "How long a segment is kept after its newest record; -1 keeps forever."},
	{name: "segment.bytes", synonyms: []string{"log.segment.bytes"}, typ: kmsg.ConfigTypeInt, dflt: "1073741824",
		set:   longSetter(func(c *partition.Config) *int64 { return &c.SegmentBytes }, between(14, math.MaxInt32)),
		value: func(c partition.Config) string { return strconv.FormatInt(c.SegmentBytes, 10) },
		doc:   "The size at which the active segment is rolled."},
	{name: "segment.index.bytes", synonyms: []string{"log.index.size.max.bytes"}, typ: kmsg.ConfigTypeInt, dflt: "10485760",
		set:    intSetter(func(c *partition.Config) *int { return &c.SegmentIndexBytes }, atLeast(minSegmentIndexBytes)),
		value:  func(c partition.Config) string { return strconv.Itoa(c.SegmentIndexBytes) },
		effect: "Honoured; at least 48 here (Kafka: 4), room for the four time-index entries a segment needs.",
		doc:    "The preallocated size of each segment's index files."},
	{name: "segment.jitter.ms", synonyms: []string{"log.roll.jitter.ms", "log.roll.jitter.hours"}, typ: kmsg.ConfigTypeLong, dflt: "0",
		set:   longSetter(func(c *partition.Config) *int64 { return &c.SegmentJitterMs }, atLeast(0)),
		value: func(c partition.Config) string { return strconv.FormatInt(c.SegmentJitterMs, 10) },
		doc:   "The most a segment's time-based roll comes before segment.ms, so partitions do not all roll at once."},
	{name: "segment.ms", synonyms: []string{"log.roll.ms", "log.roll.hours"}, typ: kmsg.ConfigTypeLong, dflt: "604800000",
		set:   longSetter(func(c *partition.Config) *int64 { return &c.SegmentMs }, atLeast(1)),
		value: func(c partition.Config) string { return strconv.FormatInt(c.SegmentMs, 10) },
		doc:   "The age at which a non-empty active segment is rolled."},
	{name: "unclean.leader.election.enable", synonyms: []string{"unclean.leader.election.enable"}, typ: kmsg.ConfigTypeBoolean, dflt: "false",
		set:    validBool,
		effect: "Honoured by the active controller (controller/unclean.go): it elects a live replica outside the ISR of a partition whose ISR is all lost, at once when this is set to true. On one node there is no other replica.",
		doc:    "Whether a replica outside the ISR may become leader as a last resort, losing data."},
}

// topicConfigByName indexes topicConfigDefs.
var topicConfigByName = func() map[string]*topicConfigDef {
	m := make(map[string]*topicConfigDef, len(topicConfigDefs))
	for i := range topicConfigDefs {
		m[topicConfigDefs[i].name] = &topicConfigDefs[i]
	}
	return m
}()

// lookupTopicConfigDef returns the definition of a topic config, or nil.
func lookupTopicConfigDef(name string) *topicConfigDef { return topicConfigByName[name] }

// logConfig returns defaults with overrides applied.
func logConfig(defaults partition.Config, overrides map[string]string) (partition.Config, error) {
	c, err := checkTopicConfigs(defaults, overrides)
	if err != nil {
		return c, fmt.Errorf("%w: %v", errInvalidConfig, err)
	}
	// The log's own checks, so nothing it would refuse is ever persisted.
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%w: %v", errInvalidConfig, err)
	}
	return c, nil
}

// configReason is why a value is invalid, in Kafka's words (which start
// with a capital: they follow "Invalid value v for configuration k: ").
type configReason string

func (r configReason) Error() string { return string(r) }

func why(format string, args ...any) error { return configReason(fmt.Sprintf(format, args...)) }

func numberError(typ string) error { return why("Not a number of type %s", typ) }

// A bound checks a parsed number, returning Kafka's reason.
type bound func(n int64) error

func atLeast(lo int64) bound {
	return func(n int64) error {
		if n < lo {
			return why("Value must be at least %d", lo)
		}
		return nil
	}
}

func between(lo, hi int64) bound {
	return func(n int64) error {
		if n < lo {
			return why("Value must be at least %d", lo)
		}
		if n > hi {
			return why("Value must be no more than %d", hi)
		}
		return nil
	}
}

// gzipLevel is Kafka's GzipCompression validator: -1 or 1-9.
func gzipLevel(n int64) error {
	if n != -1 && (n < 1 || n > 9) {
		return why("Value must be between 1 and 9, or -1")
	}
	return nil
}

func parseLong(v string, check bound) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, numberError("LONG")
	}
	return n, check(n)
}

func parseInt(v string, check bound) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
	if err != nil {
		return 0, numberError("INT")
	}
	return n, check(n)
}

func longSetter(field func(*partition.Config) *int64, check bound) func(*partition.Config, string) error {
	return func(c *partition.Config, v string) error {
		n, err := parseLong(v, check)
		if err == nil {
			*field(c) = n
		}
		return err
	}
}

func intSetter(field func(*partition.Config) *int, check bound) func(*partition.Config, string) error {
	return func(c *partition.Config, v string) error {
		n, err := parseInt(v, check)
		if err == nil {
			*field(c) = int(n)
		}
		return err
	}
}

func validLong(check bound) func(*partition.Config, string) error {
	return func(_ *partition.Config, v string) error {
		_, err := parseLong(v, check)
		return err
	}
}

func stringSetter(field func(*partition.Config) *string, valid ...string) func(*partition.Config, string) error {
	return func(c *partition.Config, v string) error {
		v = strings.TrimSpace(v)
		for _, s := range valid {
			if v == s {
				*field(c) = v
				return nil
			}
		}
		return why("String must be one of: %s", strings.Join(valid, ", "))
	}
}

// parseBool is ConfigDef's BOOLEAN parsing: true or false, any case.
func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, why("Expected value to be either true or false")
}

func validBool(_ *partition.Config, v string) error {
	_, err := parseBool(v)
	return err
}

func setRemoteStorage(_ *partition.Config, v string) error {
	on, err := parseBool(v)
	if err == nil && on {
		return why("Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage.")
	}
	return err
}

// validThrottledReplicas is Kafka's ThrottledReplicaListValidator: "*", or
// a list of partitionId:brokerId.
func validThrottledReplicas(_ *partition.Config, v string) error {
	items := splitList(v)
	if len(items) == 1 && items[0] == "*" {
		return nil
	}
	for _, it := range items {
		p, b, ok := strings.Cut(it, ":")
		_, perr := strconv.ParseInt(strings.TrimSpace(p), 10, 32)
		_, berr := strconv.ParseInt(strings.TrimSpace(b), 10, 32)
		if !ok || perr != nil || berr != nil {
			return why("Must be a list of the form [PartitionId]:[BrokerId] or the wildcard '*'")
		}
	}
	return nil
}

// messageFormatVersion matches Kafka's MetadataVersion names (0.8.0 to
// 3.9, with an optional -IVn suffix), which the deprecated config takes.
var messageFormatVersion = regexp.MustCompile(`^(0\.(8\.[0-2]|9\.0|10\.[0-2]|11\.0)(\.\d+)?|[1-3]\.\d+(\.\d+)?)(-IV\d+)?$`)

func validMessageFormatVersion(_ *partition.Config, v string) error {
	if !messageFormatVersion.MatchString(strings.TrimSpace(v)) {
		return why("Unknown metadata.version '%s'", v)
	}
	return nil
}

func setFlushMessages(c *partition.Config, v string) error {
	n, err := parseLong(v, atLeast(1))
	if err != nil {
		return err
	}
	c.FlushMessages = n
	switch {
	case n == 1:
		c.Flush = partition.FlushAlways
	case n < math.MaxInt64 && c.Flush == partition.FlushNever:
		c.Flush = partition.FlushInterval
	}
	return nil
}

func setFlushMs(c *partition.Config, v string) error {
	n, err := parseLong(v, atLeast(0))
	if err != nil {
		return err
	}
	c.FlushMs = n
	switch {
	case n == 0:
		c.Flush = partition.FlushAlways
	case n < math.MaxInt64 && c.Flush == partition.FlushNever:
		c.Flush = partition.FlushInterval
	}
	return nil
}

// flushMessagesOf renders flush.messages: the setting when given, else 1
// under the broker's --fsync always.
func flushMessagesOf(c partition.Config) string {
	if c.FlushMessages == math.MaxInt64 && c.Flush == partition.FlushAlways {
		return "1"
	}
	return strconv.FormatInt(c.FlushMessages, 10)
}

// flushMsOf renders flush.ms: the setting when given, else the broker's
// interval under --fsync interval.
func flushMsOf(c partition.Config) string {
	if c.FlushMs == math.MaxInt64 && c.Flush == partition.FlushInterval {
		return strconv.FormatInt(c.FlushInterval.Milliseconds(), 10)
	}
	return strconv.FormatInt(c.FlushMs, 10)
}

func setTimestampType(c *partition.Config, v string) error {
	switch strings.TrimSpace(v) {
	case "CreateTime":
		c.LogAppendTime = false
	case "LogAppendTime":
		c.LogAppendTime = true
	default:
		return why("String must be one of: CreateTime, LogAppendTime")
	}
	return nil
}

func timestampTypeValue(c partition.Config) string {
	if c.LogAppendTime {
		return "LogAppendTime"
	}
	return "CreateTime"
}

// setCleanupPolicy takes Kafka's list: "delete", "compact", or both in
// either order (stored as given, spaces dropped).
func setCleanupPolicy(c *partition.Config, v string) error {
	seen := map[string]bool{}
	var parts []string
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		if p != "delete" && p != "compact" {
			return why("String must be one of: compact, delete")
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
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return numberError("DOUBLE")
	}
	if !(f >= 0 && f <= 1) {
		if f < 0 {
			return why("Value must be at least 0.0")
		}
		return why("Value must be no more than 1.0")
	}
	c.MinCleanableDirtyRatio = f
	return nil
}
