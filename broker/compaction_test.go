package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice/sluice/group"
	"github.com/sluice/sluice/partition"
	"github.com/sluice/sluice/segment"
	"github.com/sluice/sluice/sendfile"
)

// fastCleaner makes the log cleaner look for dirty logs every 20 ms.
func fastCleaner(c *ServerConfig) { c.Store.CleanerBackoff = 20 * time.Millisecond }

// logRecord is one record read from a log.
type logRecord struct {
	offset     int64
	key, value string
}

// regionBytes reads region r of a log read and releases it.
func regionBytes(t *testing.T, r sendfile.Region) []byte {
	t.Helper()
	buf := make([]byte, r.Len)
	_, err := r.File.ReadAt(buf, r.Off)
	r.Release()
	if err != nil {
		t.Fatal(err)
	}
	return buf
}

// readLog reads every record of l from its start through Read.
func readLog(t *testing.T, l *partition.Log) []logRecord {
	t.Helper()
	var out []logRecord
	for off := l.LogStartOffset(); off < l.HighWatermark(); {
		res, err := l.Read(off, 1<<20, true)
		if err != nil || len(res.Regions) == 0 {
			t.Fatalf("read at %d: %v", off, err)
		}
		for _, r := range res.Regions {
			buf := regionBytes(t, r)
			err = segment.Split(buf, func(b []byte, h segment.Header) error {
				off = h.LastOffset() + 1
				return segment.Records(b, func(rec segment.Record) bool {
					out = append(out, logRecord{rec.Offset, string(rec.Key), string(rec.Value)})
					return true
				})
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

// TestCompactedTopicAcceptance is issue 7's check: a topic with
// cleanup.policy=compact, segment.bytes=65536, segment.ms=1000,
// min.cleanable.dirty.ratio=0.01 and delete.retention.ms=1000 takes 4,000
// records over 50 keys; soon, reading from the start (with a real
// consumer) yields fewer than a quarter of them, in offset order, with
// every key's latest value.
func TestCompactedTopicAcceptance(t *testing.T) {
	ts := startServer(t, "", fastCleaner)
	const topic = "compacted"
	ts.createTopic(t, topic, 1, map[string]string{
		"cleanup.policy": "compact", "segment.bytes": "65536", "segment.ms": "1000",
		"min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "1000",
	})
	ctx := testCtx(t)
	// Uncompressed, so that the records span several 64 KiB segments.
	cl := newKgo(t, ts.addr, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()))
	latest := map[string]string{}
	for chunk := 0; chunk < 8; chunk++ {
		var recs []*kgo.Record
		for i := chunk * 500; i < (chunk+1)*500; i++ {
			k, v := fmt.Sprintf("key-%02d", i%50), fmt.Sprintf("value-%04d-%s", i, padding)
			latest[k] = v
			recs = append(recs, &kgo.Record{Key: []byte(k), Value: []byte(v)})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	l := ts.store.Get(topic, 0)
	before, segsBefore := l.Size(), l.Segments()
	waitFor(t, "compaction below a quarter", 50*time.Second, func() bool {
		return len(readLog(t, l)) < 1000 && l.DirtyRatio() == 0
	})
	t.Logf("4000 records, %d bytes in %d segments when produced; %d records, %d bytes in %d segments after; cleaner: %+v",
		before, segsBefore, len(readLog(t, l)), l.Size(), l.Segments(), ts.store.CleanerStats())
	// Once segment.ms passed, the idle active segment rolls and is cleaned:
	// one record per key is left.
	waitFor(t, "one record per key", 30*time.Second, func() bool { return len(readLog(t, l)) == 50 })
	t.Logf("after the idle roll: 50 records, %d bytes in %d segments", l.Size(), l.Segments())

	got := consumeAll(ctx, t, ts.addr, topic, l.HighWatermark())
	if len(got) >= 1000 {
		t.Fatalf("consumer read %d records, want fewer than 1000", len(got))
	}
	seen := map[string]string{}
	last := int64(-1)
	for _, r := range got {
		if r.Offset <= last {
			t.Fatalf("offset %d after %d", r.Offset, last)
		}
		last = r.Offset
		seen[string(r.Key)] = string(r.Value)
	}
	for k, v := range latest {
		if seen[k] != v {
			t.Fatalf("key %s: last value read %q, want %q", k, seen[k], v)
		}
	}
}

// padding makes records about 100 bytes, so that 4,000 of them span
// several 64 KiB segments.
var padding = string(make([]byte, 60))

// consumeAll reads topic partition 0 from the start up to end.
func consumeAll(ctx context.Context, t *testing.T, addr, topic string, end int64) []*kgo.Record {
	t.Helper()
	cl := newKgo(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	var out []*kgo.Record
	for {
		fs := cl.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatalf("fetch: %v", err)
		}
		for _, r := range fs.Records() {
			out = append(out, r)
			if r.Offset >= end-1 {
				return out
			}
		}
	}
}

// TestCompactedTopicRefusesKeylessRecords: a producer gets INVALID_RECORD
// for a record without a key; keyed records go in.
func TestCompactedTopicRefusesKeylessRecords(t *testing.T) {
	ts := startServer(t, "")
	ts.createTopic(t, "keyed", 1, map[string]string{"cleanup.policy": "compact,delete"})
	ctx := testCtx(t)
	cl := newKgo(t, ts.addr, kgo.DefaultProduceTopic("keyed"), kgo.ProducerBatchCompression(kgo.SnappyCompression()))
	err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("no key")}).FirstErr()
	if !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("keyless record: %v, want INVALID_RECORD", err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte("k"), Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("keyed record: %v", err)
	}
}

// TestConsumerOffsetsStaysBounded: __consumer_offsets is compacted, so a
// storm of commits leaves it bounded by its live offsets plus the active
// segment, and the latest commits survive a restart.
func TestConsumerOffsetsStaysBounded(t *testing.T) {
	dir := t.TempDir()
	gcfg := testGroupConfig()
	gcfg.Partitions, gcfg.SegmentBytes = 1, 16<<10
	ts := startServer(t, dir, fastCleaner, func(c *ServerConfig) { c.Broker.Groups = gcfg })
	ctx := testCtx(t)
	adm := kadm.NewClient(newKgo(t, ts.addr))
	const commits, parts = 1500, 8
	ts.createTopic(t, "storm", parts, nil)
	for i := 1; i <= commits; i++ {
		offs := kadm.Offsets{}
		for p := int32(0); p < parts; p++ {
			offs.Add(kadm.Offset{Topic: "storm", Partition: p, At: int64(i), LeaderEpoch: -1})
		}
		if err := adm.CommitAllOffsets(ctx, "storm-group", offs); err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	l := ts.store.Get(group.TopicName, 0)
	if cp := l.Config().CleanupPolicy; cp != "compact" {
		t.Fatalf("__consumer_offsets cleanup.policy %q", cp)
	}
	written := l.LogEndOffset()
	waitFor(t, "__consumer_offsets compacted", 30*time.Second, func() bool {
		return l.DirtyRatio() == 0 && l.Size() < 4*gcfg.SegmentBytes
	})
	t.Logf("%d records committed (%d offsets each): %d records, %d bytes left in %d segments",
		written, parts, len(readLog(t, l)), l.Size(), l.Segments())
	ts.Broker().closeGroups()
	ts.stop(t)

	ts = startServer(t, dir, fastCleaner, func(c *ServerConfig) { c.Broker.Groups = gcfg })
	defer ts.Broker().closeGroups()
	adm = kadm.NewClient(newKgo(t, ts.addr))
	os, err := adm.FetchOffsets(ctx, "storm-group")
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < parts; p++ {
		if o, _ := os.Lookup("storm", p); o.At != commits {
			t.Fatalf("partition %d committed %d after restart, want %d", p, o.At, commits)
		}
	}
}

// TestConsumerOffsetsSwitchedToCompact: a __consumer_offsets made before
// compaction (cleanup.policy=delete) is compacted once the coordinator
// opens.
func TestConsumerOffsetsSwitchedToCompact(t *testing.T) {
	ts := startServer(t, "")
	ts.createTopic(t, group.TopicName, 2, map[string]string{"retention.ms": "-1", "segment.bytes": strconv.Itoa(1 << 20)})
	if _, err := ts.Broker().groups(); err != nil {
		t.Fatal(err)
	}
	defer ts.Broker().closeGroups()
	for p := int32(0); p < 2; p++ {
		if cp := ts.store.Get(group.TopicName, p).Config().CleanupPolicy; cp != "compact" {
			t.Fatalf("partition %d cleanup.policy %q after the coordinator opened", p, cp)
		}
	}
	if got := ts.Broker().topics.get(group.TopicName).configs; got["retention.ms"] != "-1" || got["cleanup.policy"] != "compact" {
		t.Fatalf("persisted configs %v", got)
	}
}
