package broker

// The configs DescribeConfigs and CreateTopics (v5+) report: every topic
// config Sluice understands (topicconfig.go), each with its broker-level
// synonym, type and documentation, and the broker's own read-only configs.

import (
	"maps"
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

// topicConfigEntries describes every topic config of a topic with the given
// overrides. Synonyms, most specific first, as Kafka lists them: the
// topic's override (DYNAMIC_TOPIC_CONFIG), this node's dynamic broker
// config (DYNAMIC_BROKER_CONFIG), the cluster-wide one
// (DYNAMIC_DEFAULT_BROKER_CONFIG), the static broker config
// (STATIC_BROKER_CONFIG: set in the file, environment or flags, or, when
// the broker was not told which keys were set, differing from Kafka's
// default) and Kafka's default (DEFAULT_CONFIG); the entry takes the first.
func (b *Broker) topicConfigEntries(overrides map[string]string) []configEntry {
	kafkaDefaults := partition.DefaultConfig()
	static := b.topics.defaults.static
	dyn := b.topics.defaults.dynamic()
	out := make([]configEntry, 0, len(topicConfigDefs))
	for i := range topicConfigDefs {
		d := &topicConfigDefs[i]
		e := configEntry{name: d.name, typ: d.typ, doc: d.doc}
		if v, ok := overrides[d.name]; ok {
			e.synonyms = append(e.synonyms, configSynonym{d.name, &v, kmsg.ConfigSourceDynamicTopicConfig})
		}
		for _, lv := range []struct {
			m   map[string]string
			src kmsg.ConfigSource
		}{{dyn.Node, kmsg.ConfigSourceDynamicBrokerConfig}, {dyn.Cluster, kmsg.ConfigSourceDynamicDefaultBrokerConfig}} {
			if _, key, ok := dynamicValue(lv.m, d); ok {
				v := lv.m[key]
				e.synonyms = append(e.synonyms, configSynonym{key, &v, lv.src})
			}
		}
		dflt := d.dflt
		syn := d.synonym()
		if syn == "" {
			syn = d.name
		}
		if d.value != nil {
			dflt = d.value(kafkaDefaults)
			if sv := d.value(static); b.staticSet(d.synonyms, sv != dflt) {
				e.synonyms = append(e.synonyms, configSynonym{syn, &sv, kmsg.ConfigSourceStaticBrokerConfig})
			}
		} else if sc, ok := b.cfg.StaticConfigs[syn]; ok && sc.Set && len(d.synonyms) > 0 {
			// A config only stored here whose broker key the daemon reads
			// (unclean.leader.election.enable, for the controller).
			sv := sc.Value
			e.synonyms = append(e.synonyms, configSynonym{syn, &sv, kmsg.ConfigSourceStaticBrokerConfig})
		}
		e.synonyms = append(e.synonyms, configSynonym{syn, &dflt, kmsg.ConfigSourceDefaultConfig})
		e.value, e.source = e.synonyms[0].value, e.synonyms[0].source
		if len(e.synonyms) > 1 && e.source != kmsg.ConfigSourceDynamicTopicConfig && e.synonyms[0].name != syn {
			// A dynamic synonym in minutes or hours: the topic config is in ms.
			v, _, _ := dynamicValue(map[string]string{e.synonyms[0].name: *e.value}, d)
			e.value = &v
		}
		out = append(out, e)
	}
	return out
}

// staticSet reports whether one of keys was set statically (file,
// environment, flags); without that knowledge (Config.StaticConfigs nil),
// differs decides.
func (b *Broker) staticSet(keys []string, differs bool) bool {
	if b.cfg.StaticConfigs == nil {
		return differs
	}
	for _, k := range keys {
		if sc, ok := b.cfg.StaticConfigs[k]; ok && sc.Set {
			return true
		}
	}
	return false
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
			return strPtr(b.advertisedListeners())
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

// brokerConfigEntries describes this broker: its own configs, every key
// the daemon read (Config.StaticConfigs) and the broker synonyms of the
// topic configs, sorted by name. A synonym is writable (dynamic) and takes
// this node's dynamic value, else the cluster-wide one, else its static
// value; clusterLevel describes the "" resource, which lists only the
// cluster-wide dynamic configs, as Kafka does.
func (b *Broker) brokerConfigEntries(clusterLevel bool) []configEntry {
	dyn := b.topics.defaults.dynamic()
	if clusterLevel {
		return dynamicEntries(dyn.Cluster, kmsg.ConfigSourceDynamicDefaultBrokerConfig)
	}
	byName := map[string]configEntry{}
	for _, c := range brokerConfigs {
		byName[c.name] = b.staticBrokerEntry(c.name, c.typ, c.doc, c.value(b), c.dflt)
	}
	kafkaDefaults := partition.DefaultConfig()
	static := b.topics.defaults.static
	for i := range topicConfigDefs {
		d := &topicConfigDefs[i]
		for j, key := range d.synonyms {
			var value, dflt *string
			switch {
			case j == 0 && d.value != nil:
				value, dflt = strPtr(d.value(static)), strPtr(d.value(kafkaDefaults))
			case j == 0:
				value, dflt = strPtr(d.dflt), strPtr(d.dflt)
			default: // minutes and hours forms: listed when the daemon reads them
				sc, ok := b.cfg.StaticConfigs[key]
				if !ok {
					continue
				}
				value = nilIfEmpty(sc.Value)
			}
			e := b.staticBrokerEntry(key, d.typ, d.doc, value, dflt)
			e.readOnly = false
			byName[key] = e
		}
	}
	for key, doc := range throttleRateDocs { // dynamic only; Kafka's default: off
		e := b.staticBrokerEntry(key, kmsg.ConfigTypeLong, doc, strPtr(maxLong), strPtr(maxLong))
		e.readOnly = false
		byName[key] = e
	}
	for key, sc := range b.cfg.StaticConfigs {
		if _, ok := byName[key]; !ok {
			byName[key] = b.staticBrokerEntry(key, kmsg.ConfigTypeString, sc.Doc, nilIfEmpty(sc.Value), nil)
		}
	}
	for _, lv := range []struct {
		m   map[string]string
		src kmsg.ConfigSource
	}{{dyn.Cluster, kmsg.ConfigSourceDynamicDefaultBrokerConfig}, {dyn.Node, kmsg.ConfigSourceDynamicBrokerConfig}} {
		for key, v := range lv.m {
			e := byName[key]
			e.name, e.value, e.source = key, strPtr(v), lv.src
			e.synonyms = append([]configSynonym{{key, e.value, lv.src}}, e.synonyms...)
			byName[key] = e
		}
	}
	out := slices.Collect(maps.Values(byName))
	slices.SortFunc(out, func(x, y configEntry) int { return strings.Compare(x.name, y.name) })
	return out
}

// dynamicEntries lists one level's dynamic configs.
func dynamicEntries(m map[string]string, src kmsg.ConfigSource) []configEntry {
	out := make([]configEntry, 0, len(m))
	for _, key := range slices.Sorted(maps.Keys(m)) {
		v := m[key]
		e := configEntry{name: key, value: &v, source: src, typ: kmsg.ConfigTypeString}
		if d := dynamicTopicSynonym(key); d != nil {
			e.typ, e.doc = d.typ, d.doc
		} else if doc, ok := throttleRateDocs[key]; ok {
			e.typ, e.doc = kmsg.ConfigTypeLong, doc
		}
		e.synonyms = []configSynonym{{key, &v, src}}
		out = append(out, e)
	}
	return out
}

// staticBrokerEntry is staticEntry, sourced from Config.StaticConfigs when
// the daemon said which keys it was given.
func (b *Broker) staticBrokerEntry(name string, typ kmsg.ConfigType, doc string, value, dflt *string) configEntry {
	sc, ok := b.cfg.StaticConfigs[name]
	if !ok {
		return staticEntry(name, typ, doc, value, dflt)
	}
	if doc == "" {
		doc = sc.Doc
	}
	return readOnlyEntry(name, typ, doc, value, dflt, !sc.Set)
}

// staticEntry is a read-only broker config: DEFAULT_CONFIG when its value
// is Kafka's default, else STATIC_BROKER_CONFIG (with the default as a
// synonym).
func staticEntry(name string, typ kmsg.ConfigType, doc string, value, dflt *string) configEntry {
	isDefault := dflt != nil && value != nil && *value == *dflt || dflt == nil && value == nil
	return readOnlyEntry(name, typ, doc, value, dflt, isDefault)
}

// readOnlyEntry is a read-only broker config from DEFAULT_CONFIG when
// isDefault, else from STATIC_BROKER_CONFIG with the default (if any) as a
// synonym.
func readOnlyEntry(name string, typ kmsg.ConfigType, doc string, value, dflt *string, isDefault bool) configEntry {
	e := configEntry{name: name, value: value, readOnly: true, typ: typ, doc: doc}
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
