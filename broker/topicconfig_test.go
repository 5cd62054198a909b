package broker

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/partition"
	"github.com/sluice/sluice/segment"
)

// topicConfigCases is a good and a bad value of every topic config Kafka
// 3.9 documents (TestTopicConfigTable checks it covers topicConfigDefs).
var topicConfigCases = map[string][2]string{
	"cleanup.policy":                          {"compact,delete", "compaction"},
	"compression.gzip.level":                  {"5", "10"},
	"compression.lz4.level":                   {"12", "0"},
	"compression.type":                        {"gzip", "brotli"},
	"compression.zstd.level":                  {"-5", "23"},
	"delete.retention.ms":                     {"1000", "-1"},
	"file.delete.delay.ms":                    {"0", "-1"},
	"flush.messages":                          {"1", "0"},
	"flush.ms":                                {"1000", "soon"},
	"follower.replication.throttled.replicas": {"0:1,1:1", "0-1"},
	"index.interval.bytes":                    {"1024", "-1"},
	"leader.replication.throttled.replicas":   {"*", "a:b"},
	"local.retention.bytes":                   {"-2", "-3"},
	"local.retention.ms":                      {"3600000", "-3"},
	"max.compaction.lag.ms":                   {"60000", "0"},
	"max.message.bytes":                       {"2000000", "-1"},
	"message.downconversion.enable":           {"false", "no"},
	"message.format.version":                  {"2.8-IV1", "9.9"},
	"message.timestamp.after.max.ms":          {"3600000", "-1"},
	"message.timestamp.before.max.ms":         {"86400000", "-1"},
	"message.timestamp.difference.max.ms":     {"86400000", "x"},
	"message.timestamp.type":                  {"LogAppendTime", "Now"},
	"min.cleanable.dirty.ratio":               {"0.1", "1.5"},
	"min.compaction.lag.ms":                   {"1000", "-1"},
	"min.insync.replicas":                     {"1", "0"},
	"preallocate":                             {"true", "yes"},
	"remote.log.copy.disable":                 {"true", "1"},
	"remote.log.delete.on.disable":            {"false", "maybe"},
	"remote.storage.enable":                   {"false", "true"},
	"retention.bytes":                         {"1048576", "-2"},
	"retention.ms":                            {"-1", "-2"},
	"segment.bytes":                           {"1048576", "13"},
	"segment.index.bytes":                     {"4096", "10"},
	"segment.jitter.ms":                       {"1000", "-1"},
	"segment.ms":                              {"60000", "0"},
	"unclean.leader.election.enable":          {"true", "maybe"},
}

// TestTopicConfigTable sends every topic config with a good and a bad value
// through CreateTopics and IncrementalAlterConfigs: good ones are accepted
// and described back as topic overrides, bad ones get INVALID_CONFIG with
// Kafka's "Invalid value … for configuration …" wording.
func TestTopicConfigTable(t *testing.T) {
	if len(topicConfigCases) != len(topicConfigDefs) {
		t.Errorf("%d cases for %d topic configs", len(topicConfigCases), len(topicConfigDefs))
	}
	ts := startServer(t, "")
	adm := adminClient(t, ts)
	ctx := testCtx(t)
	createTopic(t, adm, "base", 1, nil)
	for _, d := range topicConfigDefs {
		c, ok := topicConfigCases[d.name]
		if !ok {
			t.Errorf("no case for %s", d.name)
			continue
		}
		good, bad := c[0], c[1]
		name := "cfg-" + strings.ReplaceAll(d.name, ".", "-")
		r, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{d.name: &good}, name)
		if err != nil || r.Err != nil {
			t.Errorf("create with %s=%s: %v %v %s", d.name, good, err, r.Err, r.ErrMessage)
		} else if got := describeTopicConfig(t, adm, name, d.name); got.MaybeValue() != good ||
			got.Source != kmsg.ConfigSourceDynamicTopicConfig {
			t.Errorf("%s described as %q from %v, want %q", d.name, got.MaybeValue(), got.Source, good)
		}
		r, err = adm.CreateTopic(ctx, 1, 1, map[string]*string{d.name: &bad}, name+"-bad")
		if !errors.Is(r.Err, kerr.InvalidConfig) ||
			!strings.Contains(r.ErrMessage, "Invalid value "+bad+" for configuration "+d.name+": ") &&
				!strings.Contains(r.ErrMessage, "Tiered Storage") {
			t.Errorf("create with %s=%s: %v %v %q, want INVALID_CONFIG", d.name, bad, err, r.Err, r.ErrMessage)
		}
		rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: d.name, Value: &good}}, "base")
		if err != nil || rs[0].Err != nil {
			t.Errorf("alter %s=%s: %v %v %s", d.name, good, err, rs[0].Err, rs[0].ErrMessage)
		}
		rs, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: d.name, Value: &bad}}, "base")
		if err != nil || !errors.Is(rs[0].Err, kerr.InvalidConfig) {
			t.Errorf("alter %s=%s: %v %v, want INVALID_CONFIG", d.name, bad, err, rs[0].Err)
		}
	}
	// Every good value is now an override of "base", all applied together.
	rcs, err := adm.DescribeTopicConfigs(ctx, "base")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On("base", nil)
	if err != nil || len(rc.Configs) != len(topicConfigDefs) {
		t.Fatalf("describe base: %v, %d configs", err, len(rc.Configs))
	}
	for _, c := range rc.Configs {
		if want := topicConfigCases[c.Key][0]; c.MaybeValue() != want {
			t.Errorf("base: %s = %q, want %q", c.Key, c.MaybeValue(), want)
		}
	}
	// The honoured ones reached the live log.
	cfg := ts.Broker().topics.get("base").partitions[0].Config()
	if cfg.Flush != partition.FlushAlways || cfg.SegmentJitterMs != 1000 || cfg.CompressionType != "gzip" ||
		cfg.GzipLevel != 5 || cfg.TimestampAfterMaxMs != 3600000 || !cfg.LogAppendTime || cfg.SegmentBytes != 1048576 {
		t.Errorf("live config of base: %+v", cfg)
	}
}

// TestDynamicBrokerRetention sets log.retention.ms as the cluster default
// and log.retention.hours on this node, checks that topics without an
// override pick them up at once (and one with an override does not), that
// DescribeConfigs names the sources, and that they survive a restart.
func TestDynamicBrokerRetention(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir)
	adm := adminClient(t, ts)
	createTopic(t, adm, "plain", 2, nil)
	own, gz, yes := "123456", "gzip", "true"
	createTopic(t, adm, "own", 1, map[string]*string{"retention.ms": &own, "compression.type": &gz, "preallocate": &yes})
	retention := func(ts *testServer, topic string) int64 {
		t.Helper()
		tp := ts.Broker().topics.get(topic)
		r := tp.partitions[len(tp.partitions)-1].Config().RetentionMs
		if r0 := tp.partitions[0].Config().RetentionMs; r0 != r {
			t.Fatalf("%s: partitions disagree: %d and %d", topic, r0, r)
		}
		return r
	}
	alter := func(node string, op kadm.IncrementalOp, key, value string) error {
		t.Helper()
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBroker, node
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op, c.Value = key, kmsg.IncrementalAlterConfigOp(op), &value
		rr.Configs = append(rr.Configs, c)
		req.Resources = append(req.Resources, rr)
		resp := dialRaw(t, ts.addr).roundTrip(req).(*kmsg.IncrementalAlterConfigsResponse)
		return kerr.ErrorForCode(resp.Resources[0].ErrorCode)
	}
	wantErr(t, "cluster log.retention.ms", alter("", kadm.SetConfig, "log.retention.ms", "3600000"), nil)
	if r := retention(ts, "plain"); r != 3600000 {
		t.Fatalf("plain retention %d after cluster default 3600000", r)
	}
	if r := retention(ts, "own"); r != 123456 {
		t.Fatalf("own retention %d, its override is 123456", r)
	}
	c := describeTopicConfig(t, adm, "plain", "retention.ms")
	if c.MaybeValue() != "3600000" || c.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Errorf("plain retention.ms described %q from %v", c.MaybeValue(), c.Source)
	}
	wantErr(t, "node log.retention.hours", alter("1", kadm.SetConfig, "log.retention.hours", "2"), nil)
	if r := retention(ts, "plain"); r != 2*3600000 {
		t.Fatalf("plain retention %d after node log.retention.hours=2", r)
	}
	c = describeTopicConfig(t, adm, "plain", "retention.ms")
	if c.MaybeValue() != "7200000" || c.Source != kmsg.ConfigSourceDynamicBrokerConfig ||
		len(c.Synonyms) < 3 || c.Synonyms[1].Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Errorf("plain retention.ms described %q from %v, synonyms %+v", c.MaybeValue(), c.Source, c.Synonyms)
	}
	wantErr(t, "bad value", alter("", kadm.SetConfig, "log.retention.ms", "-7"), kerr.InvalidConfig)
	wantErr(t, "static key", alter("", kadm.SetConfig, "log.dirs", "/tmp"), kerr.InvalidRequest)
	wantErr(t, "other node", alter("7", kadm.SetConfig, "log.retention.ms", "1"), kerr.InvalidRequest)
	createTopic(t, adm, "later", 1, nil)
	if r := retention(ts, "later"); r != 2*3600000 {
		t.Fatalf("new topic retention %d, want the dynamic default", r)
	}
	brokerConfig := func(ts *testServer, node, key string) *kmsg.DescribeConfigsResponseResourceConfig {
		t.Helper()
		for _, e := range ts.Broker().describedBroker(t, node) {
			if e.Name == key {
				return &e
			}
		}
		return nil
	}
	if e := brokerConfig(ts, "1", "log.retention.hours"); e == nil || e.Value == nil || *e.Value != "2" ||
		e.Source != kmsg.ConfigSourceDynamicBrokerConfig || e.ReadOnly {
		t.Errorf("broker 1 log.retention.hours: %+v", e)
	}
	if e := brokerConfig(ts, "", "log.retention.ms"); e == nil || *e.Value != "3600000" ||
		e.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Errorf("cluster default log.retention.ms: %+v", e)
	}

	ts.stop(t)
	ts = startServer(t, dir)
	if r := retention(ts, "plain"); r != 2*3600000 {
		t.Fatalf("plain retention %d after restart", r)
	}
	if r := retention(ts, "own"); r != 123456 {
		t.Fatalf("own retention %d after restart", r)
	}
	adm = adminClient(t, ts)
	for key, want := range map[string]string{"compression.type": "gzip", "preallocate": "true"} {
		if c := describeTopicConfig(t, adm, "own", key); c.MaybeValue() != want || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
			t.Errorf("own %s after restart: %q from %v", key, c.MaybeValue(), c.Source)
		}
	}
	if c := ts.Broker().topics.get("own").partitions[0].Config(); c.CompressionType != "gzip" {
		t.Errorf("own compression.type after restart: %q", c.CompressionType)
	}
	wantErr(t, "delete node level", alter("1", kadm.DeleteConfig, "log.retention.hours", ""), nil)
	if r := retention(ts, "plain"); r != 3600000 {
		t.Fatalf("plain retention %d after deleting the node level", r)
	}
}

// describedBroker describes a BROKER resource through the handler's code
// path (no client: the entries as encoded with synonyms).
func (b *Broker) describedBroker(t *testing.T, node string) []kmsg.DescribeConfigsResponseResourceConfig {
	t.Helper()
	es, err := b.describeResource(kmsg.ConfigResourceTypeBroker, node)
	if err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeSynonyms = true
	return describedConfigs(es, req)
}

// storedCodecs returns the codec of every batch in partition 0's first
// segment file, read from disk.
func storedCodecs(t *testing.T, ts *testServer, topic string) []int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(ts.dir, topic+"-0", "00000000000000000000.log"))
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	if err := segment.Split(data, func(_ []byte, h segment.Header) error {
		out = append(out, h.Compression())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCompressionTypeRecompresses produces with one codec to topics whose
// compression.type asks for another: the stored batches carry the topic's
// codec and consumers read every record back; "producer" keeps the
// producer's codec.
func TestCompressionTypeRecompresses(t *testing.T) {
	ts := startServer(t, "")
	adm := adminClient(t, ts)
	ctx := testCtx(t)
	f := func(topicCodec string, producer kgo.CompressionCodec, want int) {
		t.Helper()
		topic := "comp-" + topicCodec
		createTopic(t, adm, topic, 1, map[string]*string{"compression.type": &topicCodec})
		prod := newKgo(t, ts.addr, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(producer))
		var recs []*kgo.Record
		for i := range 50 {
			recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: bytes.Repeat([]byte("v"), 100+i),
				Headers: []kgo.RecordHeader{{Key: "h", Value: []byte{byte(i)}}}})
		}
		if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("%s: produce: %v", topic, err)
		}
		codecs := storedCodecs(t, ts, topic)
		if len(codecs) == 0 {
			t.Fatalf("%s: no batches stored", topic)
		}
		for _, c := range codecs {
			if c != want {
				t.Fatalf("%s: stored codecs %v, want %s", topic, codecs, segment.CodecName(want))
			}
		}
		cons := newKgo(t, ts.addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		got := consumeN(ctx, t, cons, len(recs))
		for i, r := range got {
			if r.Offset != int64(i) || string(r.Key) != fmt.Sprint(i) || len(r.Value) != 100+i ||
				len(r.Headers) != 1 || r.Headers[0].Value[0] != byte(i) {
				t.Fatalf("%s: record %d: offset %d key %q value %d bytes headers %v", topic, i, r.Offset, r.Key, len(r.Value), r.Headers)
			}
		}
	}
	f("gzip", kgo.Lz4Compression(), segment.CodecGzip)
	f("uncompressed", kgo.ZstdCompression(), segment.CodecNone)
	f("snappy", kgo.NoCompression(), segment.CodecSnappy)
	f("zstd", kgo.GzipCompression(), segment.CodecZstd)
	f("lz4", kgo.SnappyCompression(), segment.CodecLZ4)
	f("producer", kgo.SnappyCompression(), segment.CodecSnappy)
}

// TestTimestampBounds: message.timestamp.after.max.ms and before.max.ms
// refuse CreateTime records too far from the broker's clock with
// INVALID_TIMESTAMP, and accept ones within the bounds.
func TestTimestampBounds(t *testing.T) {
	ts := startServer(t, "")
	adm := adminClient(t, ts)
	ctx := testCtx(t)
	hour := "3600000"
	createTopic(t, adm, "ts", 1, map[string]*string{
		"message.timestamp.after.max.ms": &hour, "message.timestamp.before.max.ms": &hour})
	prod := newKgo(t, ts.addr, kgo.DefaultProduceTopic("ts"), kgo.RecordRetries(1))
	now := time.Now()
	produce := func(at time.Time) error {
		return prod.ProduceSync(ctx, &kgo.Record{Value: []byte("x"), Timestamp: at}).FirstErr()
	}
	wantErr(t, "now", produce(now), nil)
	wantErr(t, "a minute ahead", produce(now.Add(time.Minute)), nil)
	wantErr(t, "a day ahead", produce(now.Add(24*time.Hour)), kerr.InvalidTimestamp)
	wantErr(t, "a day behind", produce(now.Add(-24*time.Hour)), kerr.InvalidTimestamp)
	// Widening the bound through IncrementalAlterConfigs applies at once.
	day := "172800000"
	rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "message.timestamp.after.max.ms", Value: &day}}, "ts")
	if err != nil || rs[0].Err != nil {
		t.Fatalf("alter: %v %v", err, rs[0].Err)
	}
	wantErr(t, "a day ahead after widening", produce(now.Add(24*time.Hour)), nil)
}

// TestDescribeBrokerSources: with the daemon's key table, DescribeConfigs on
// the broker lists every key it read, STATIC_BROKER_CONFIG for the ones the
// file, environment or flags set and DEFAULT_CONFIG for the rest, and a
// topic's retention.ms names the static log.retention.hours as a synonym.
func TestDescribeBrokerSources(t *testing.T) {
	ts := startServer(t, "", func(c *ServerConfig) {
		c.Store.Defaults.RetentionMs = 24 * 3600 * 1000
		c.Broker.StaticConfigs = map[string]StaticConfig{
			"log.retention.hours": {Value: "24", Set: true},
			"log.segment.bytes":   {Value: "1073741824"},
			"sluice.fsync":        {Doc: "When appends are fsync'd."},
			"log.dirs":            {Value: c.Store.Dir, Set: true},
			// Only stored here, for the controller (controller/unclean.go).
			"unclean.leader.election.enable": {Value: "true", Set: true},
		}
	})
	got := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
	for _, e := range ts.Broker().describedBroker(t, "1") {
		got[e.Name] = e
	}
	f := func(key, value string, src kmsg.ConfigSource) {
		t.Helper()
		e, ok := got[key]
		if !ok {
			t.Fatalf("%s not described", key)
		}
		if v := deref(e.Value); v != value || e.Source != src {
			t.Errorf("%s = %q from %v, want %q from %v", key, v, e.Source, value, src)
		}
	}
	f("log.retention.hours", "24", kmsg.ConfigSourceStaticBrokerConfig)
	f("log.segment.bytes", "1073741824", kmsg.ConfigSourceDefaultConfig)
	f("sluice.fsync", "", kmsg.ConfigSourceDefaultConfig)
	f("log.dirs", ts.dir, kmsg.ConfigSourceStaticBrokerConfig)

	ts.createTopic(t, "src", 1, nil)
	c := describeTopicConfig(t, adminClient(t, ts), "src", "retention.ms")
	if c.MaybeValue() != "86400000" || c.Source != kmsg.ConfigSourceStaticBrokerConfig ||
		len(c.Synonyms) != 2 || c.Synonyms[1].Source != kmsg.ConfigSourceDefaultConfig || deref(c.Synonyms[1].Value) != "604800000" {
		t.Errorf("retention.ms = %q from %v, synonyms %+v", c.MaybeValue(), c.Source, c.Synonyms)
	}
	c = describeTopicConfig(t, adminClient(t, ts), "src", "unclean.leader.election.enable")
	if c.MaybeValue() != "true" || c.Source != kmsg.ConfigSourceStaticBrokerConfig ||
		len(c.Synonyms) != 2 || c.Synonyms[1].Source != kmsg.ConfigSourceDefaultConfig || deref(c.Synonyms[1].Value) != "false" {
		t.Errorf("unclean.leader.election.enable = %q from %v, synonyms %+v", c.MaybeValue(), c.Source, c.Synonyms)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
