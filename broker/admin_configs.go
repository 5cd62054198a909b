package broker

// The configs DescribeConfigs and CreateTopics (v5+) report: every topic
// config Sluice understands (topicconfig.go), each with its broker-level
// synonym, type and documentation, and the broker's own read-only configs.

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/partition"
)

// configEntry is one described config.
type configEntry struct {
	name     string
	value    *string
	source   kmsg.ConfigSource
	readOnly bool
	typ      kmsg.ConfigType
	doc      string
	synonyms []configSynonym // most to least specific, the entry's own first
}

type configSynonym struct {
	name   string
	value  *string
	source kmsg.ConfigSource
}

// topicConfigDef describes one topic config.
type topicConfigDef struct {
	name    string
	synonym string // the broker config that gives its default
	typ     kmsg.ConfigType
	doc     string
	value   func(partition.Config) string
}

// topicConfigDefs is sorted by name and covers topicConfigKeys exactly
// (TestTopicConfigDefsCoverKeys).
var topicConfigDefs = []topicConfigDef{
	{"cleanup.policy", "log.cleanup.policy", kmsg.ConfigTypeList,
		"What happens to old segments: \"delete\" (retention.ms, retention.bytes), \"compact\" (the log cleaner keeps the latest record of every key) or both.",
		func(c partition.Config) string { return c.CleanupPolicy }},
	{"delete.retention.ms", "log.cleaner.delete.retention.ms", kmsg.ConfigTypeLong,
		"How long a tombstone stays after a cleaning passed it, for consumers reading behind (compacted topics).",
		func(c partition.Config) string { return strconv.FormatInt(c.DeleteRetentionMs, 10) }},
	{"index.interval.bytes", "log.index.interval.bytes", kmsg.ConfigTypeInt,
		"Bytes appended between two offset index entries.",
		func(c partition.Config) string { return strconv.Itoa(c.IndexIntervalBytes) }},
	{"max.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms", kmsg.ConfigTypeLong,
		"The longest a record stays uncompacted: older dirty records make a log due whatever its dirty ratio.",
		func(c partition.Config) string { return strconv.FormatInt(c.MaxCompactionLagMs, 10) }},
	{"max.message.bytes", "message.max.bytes", kmsg.ConfigTypeInt,
		"The largest record batch size allowed.",
		func(c partition.Config) string { return strconv.Itoa(c.MaxMessageBytes) }},
	{"message.timestamp.type", "log.message.timestamp.type", kmsg.ConfigTypeString,
		"CreateTime (the producer's timestamp) or LogAppendTime (the broker's).",
		timestampTypeValue},
	{"min.cleanable.dirty.ratio", "log.cleaner.min.cleanable.ratio", kmsg.ConfigTypeDouble,
		"The share of a compacted log written since its last cleaning at which it is cleaned again.",
		func(c partition.Config) string { return strconv.FormatFloat(c.MinCleanableDirtyRatio, 'g', -1, 64) }},
	{"min.compaction.lag.ms", "log.cleaner.min.compaction.lag.ms", kmsg.ConfigTypeLong,
		"The least time a record stays uncompacted.",
		func(c partition.Config) string { return strconv.FormatInt(c.MinCompactionLagMs, 10) }},
	{"min.insync.replicas", "min.insync.replicas", kmsg.ConfigTypeInt,
		"Replicas that must acknowledge an acks=all write (one node: 1).",
		func(c partition.Config) string { return strconv.Itoa(c.MinInsyncReplicas) }},
	{"retention.bytes", "log.retention.bytes", kmsg.ConfigTypeLong,
		"The size a partition may grow to before old segments are deleted; -1 for no limit.",
		func(c partition.Config) string { return strconv.FormatInt(c.RetentionBytes, 10) }},
	{"retention.ms", "log.retention.ms", kmsg.ConfigTypeLong,
		"How long a segment is kept after its newest record; -1 keeps forever.",
		func(c partition.Config) string { return strconv.FormatInt(c.RetentionMs, 10) }},
	{"segment.bytes", "log.segment.bytes", kmsg.ConfigTypeInt,
		"The size at which the active segment is rolled.",
		func(c partition.Config) string { return strconv.FormatInt(c.SegmentBytes, 10) }},
	{"segment.index.bytes", "log.index.size.max.bytes", kmsg.ConfigTypeInt,
		"The preallocated size of each segment's index files.",
		func(c partition.Config) string { return strconv.Itoa(c.SegmentIndexBytes) }},
	{"segment.ms", "log.roll.ms", kmsg.ConfigTypeLong,
		"The age at which a non-empty active segment is rolled.",
		func(c partition.Config) string { return strconv.FormatInt(c.SegmentMs, 10) }},
}

func timestampTypeValue(c partition.Config) string {
	if c.LogAppendTime {
		return "LogAppendTime"
	}
	return "CreateTime"
}

// topicConfigEntries describes every topic config of a topic with the given
// overrides. A config is DYNAMIC_TOPIC_CONFIG when overridden,
// STATIC_BROKER_CONFIG when the broker's default differs from Kafka's, and
// DEFAULT_CONFIG otherwise.
func topicConfigEntries(brokerDefaults partition.Config, overrides map[string]string) []configEntry {
	kafkaDefaults := partition.DefaultConfig()
	out := make([]configEntry, 0, len(topicConfigDefs))
	for _, d := range topicConfigDefs {
		e := configEntry{name: d.name, typ: d.typ, doc: d.doc}
		dflt := d.value(kafkaDefaults)
		static := d.value(brokerDefaults)
		if v, ok := overrides[d.name]; ok {
			e.synonyms = append(e.synonyms, configSynonym{d.name, &v, kmsg.ConfigSourceDynamicTopicConfig})
		}
		if static != dflt {
			e.synonyms = append(e.synonyms, configSynonym{d.synonym, &static, kmsg.ConfigSourceStaticBrokerConfig})
		}
		e.synonyms = append(e.synonyms, configSynonym{d.synonym, &dflt, kmsg.ConfigSourceDefaultConfig})
		e.value, e.source = e.synonyms[0].value, e.synonyms[0].source
		out = append(out, e)
	}
	return out
}

// brokerConfig is one of the broker's own configs: all are static (set by
// flags at start), so read-only.
type brokerConfig struct {
	name  string
	typ   kmsg.ConfigType
	doc   string
	value func(b *Broker) *string
	dflt  *string // Kafka's default; nil when it has none
}

func strPtr(s string) *string { return &s }

func constValue(s string) func(*Broker) *string { return func(*Broker) *string { return &s } }

// brokerConfigs is sorted by name.
var brokerConfigs = []brokerConfig{
	{"advertised.listeners", kmsg.ConfigTypeString, "The address given to clients in Metadata.",
		func(b *Broker) *string {
			return strPtr(fmt.Sprintf("PLAINTEXT://%s:%d", b.cfg.AdvertisedHost, b.advertisedPort()))
		}, nil},
	{"auto.create.topics.enable", kmsg.ConfigTypeBoolean, "Whether Metadata creates unknown topics.",
		func(b *Broker) *string { return strPtr(strconv.FormatBool(b.cfg.AutoCreateTopics)) }, strPtr("true")},
	{"broker.id", kmsg.ConfigTypeInt, "This broker's id (the same as node.id).",
		func(b *Broker) *string { return strPtr(strconv.Itoa(int(b.cfg.NodeID))) }, strPtr("-1")},
	{"broker.rack", kmsg.ConfigTypeString, "This broker's rack.",
		func(b *Broker) *string { return nilIfEmpty(b.cfg.Rack) }, nil},
	{"default.replication.factor", kmsg.ConfigTypeInt, "Replication factor of new topics (one node: 1).",
		constValue("1"), strPtr("1")},
	{"delete.topic.enable", kmsg.ConfigTypeBoolean, "Whether DeleteTopics is allowed.",
		constValue("true"), strPtr("true")},
	{"log.cleaner.backoff.ms", kmsg.ConfigTypeLong, "How long a cleaner thread sleeps when no log needs cleaning.",
		func(b *Broker) *string {
			return strPtr(strconv.FormatInt(b.store.Config().CleanerBackoff.Milliseconds(), 10))
		},
		strPtr("15000")},
	{"log.cleaner.dedupe.buffer.size", kmsg.ConfigTypeLong, "Memory for the cleaner threads' key maps.",
		func(b *Broker) *string {
			return strPtr(strconv.FormatInt(b.store.Config().CleanerDedupeBufferSize, 10))
		},
		strPtr("134217728")},
	{"log.cleaner.enable", kmsg.ConfigTypeBoolean, "Whether the log cleaner runs.",
		func(b *Broker) *string { return strPtr(strconv.FormatBool(b.store.Config().CleanerThreads > 0)) },
		strPtr("true")},
	{"log.cleaner.threads", kmsg.ConfigTypeInt, "Threads cleaning compacted logs.",
		func(b *Broker) *string { return strPtr(strconv.Itoa(max(b.store.Config().CleanerThreads, 0))) },
		strPtr("1")},
	{"log.dirs", kmsg.ConfigTypeString, "The data directory.",
		func(b *Broker) *string { return strPtr(absDir(b.store.Dir())) }, nil},
	{"log.flush.interval.messages", kmsg.ConfigTypeLong, "Messages appended between fsyncs (--fsync always: 1).",
		flushMessagesValue, strPtr("9223372036854775807")},
	{"log.flush.interval.ms", kmsg.ConfigTypeLong, "Milliseconds between fsyncs (--fsync interval).",
		flushMsValue, nil},
	{"node.id", kmsg.ConfigTypeInt, "This broker's node id.",
		func(b *Broker) *string { return strPtr(strconv.Itoa(int(b.cfg.NodeID))) }, nil},
	{"num.partitions", kmsg.ConfigTypeInt, "Partition count of auto-created topics and of CreateTopics with -1.",
		func(b *Broker) *string { return strPtr(strconv.Itoa(int(b.cfg.NumPartitions))) }, strPtr("1")},
	{"offsets.topic.replication.factor", kmsg.ConfigTypeShort, "Replication factor of __consumer_offsets (one node: 1).",
		constValue("1"), strPtr("3")},
}

func nilIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func flushMessagesValue(b *Broker) *string {
	if b.cfg.DefaultLog.Flush == partition.FlushAlways {
		return strPtr("1")
	}
	return strPtr("9223372036854775807")
}

func flushMsValue(b *Broker) *string {
	if b.cfg.DefaultLog.Flush == partition.FlushInterval {
		return strPtr(strconv.FormatInt(int64(b.cfg.DefaultLog.FlushInterval/time.Millisecond), 10))
	}
	return nil
}

// absDir is dir made absolute (DescribeLogDirs and log.dirs report it so).
func absDir(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}

// brokerConfigEntries describes this broker: its own configs and the log.*
// defaults of topic configs, sorted by name; all read-only.
func (b *Broker) brokerConfigEntries() []configEntry {
	out := make([]configEntry, 0, len(brokerConfigs)+len(topicConfigDefs))
	for _, c := range brokerConfigs {
		out = append(out, staticEntry(c.name, c.typ, c.doc, c.value(b), c.dflt))
	}
	kafkaDefaults := partition.DefaultConfig()
	for _, d := range topicConfigDefs {
		out = append(out, staticEntry(d.synonym, d.typ, d.doc,
			strPtr(d.value(b.cfg.DefaultLog)), strPtr(d.value(kafkaDefaults))))
	}
	slices.SortFunc(out, func(x, y configEntry) int { return strings.Compare(x.name, y.name) })
	return out
}

// staticEntry is a read-only broker config: DEFAULT_CONFIG when its value
// is Kafka's default, else STATIC_BROKER_CONFIG (with the default as a
// synonym).
func staticEntry(name string, typ kmsg.ConfigType, doc string, value, dflt *string) configEntry {
	e := configEntry{name: name, value: value, readOnly: true, typ: typ, doc: doc}
	isDefault := dflt != nil && value != nil && *value == *dflt || dflt == nil && value == nil
	if isDefault {
		e.source = kmsg.ConfigSourceDefaultConfig
		e.synonyms = []configSynonym{{name, value, kmsg.ConfigSourceDefaultConfig}}
		return e
	}
	e.source = kmsg.ConfigSourceStaticBrokerConfig
	e.synonyms = []configSynonym{{name, value, kmsg.ConfigSourceStaticBrokerConfig}}
	if dflt != nil {
		e.synonyms = append(e.synonyms, configSynonym{name, dflt, kmsg.ConfigSourceDefaultConfig})
	}
	return e
}

// lookupTopicConfigDef returns the definition of a topic config, or nil.
func lookupTopicConfigDef(name string) *topicConfigDef {
	for i := range topicConfigDefs {
		if topicConfigDefs[i].name == name {
			return &topicConfigDefs[i]
		}
	}
	return nil
}
