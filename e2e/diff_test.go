package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/kafkaref"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// compatPath is the differential test's report.
const compatPath = "../docs/COMPATIBILITY.md"

// TestDifferential runs the same scenarios against Apache Kafka (one KRaft
// node from e2e/java/lib) and against sluiced, with the same franz-go
// client capped at the API versions both serve, and compares what each
// answers. Every difference must have a reason in knownDiffs; the table
// in docs/COMPATIBILITY.md must be what this run produced.
//
//	SLUICE_UPDATE_COMPAT=1  rewrite docs/COMPATIBILITY.md from this run
//	SLUICE_KAFKA_LIB=DIR    the Kafka jars (default e2e/java/lib)
//	SLUICE_REQUIRE_JAVA=1   fail instead of skipping without java or the jars (so does CI=true)
func TestDifferential(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Apache Kafka (10 to 60 s on two loaded cores): not with -short")
	}
	lib := requireKafka(t)
	props := map[string]string{"auto.create.topics.enable": "false", "num.partitions": "1"}
	t0 := time.Now()
	kb := startKafka(t, lib, props)
	t.Logf("Apache Kafka ready in %v", time.Since(t0).Round(time.Millisecond))
	sd := start(t, t.TempDir(), "--auto-create-topics=false", "--num-partitions", "1",
		"--group-initial-rebalance-delay", "0")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	kv, kaf := apiVersions(ctx, t, kb.Addr)
	sv, slu := apiVersions(ctx, t, sd.Addr)
	shared := sharedVersions(kv, sv)
	targets := []*diffTarget{
		newDiffTarget(t, "kafka", kb.Addr, shared),
		newDiffTarget(t, "sluice", sd.Addr, shared),
	}
	var results [2]*diffResults
	for i, tg := range targets {
		results[i] = &diffResults{values: map[string]string{}}
		results[i].versions(kaf, slu, i == 0)
		for _, sc := range diffScenarios {
			t0 := time.Now()
			sc.run(ctx, tg, results[i].scope(sc.name))
			t.Logf("%s: %s took %v", tg.name, sc.name, time.Since(t0).Round(time.Millisecond))
		}
	}
	rows := compareResults(results[0], results[1])
	var doc bytes.Buffer
	writeCompat(&doc, rows)
	checkReasons(t, rows)
	checkCompatDoc(t, doc.Bytes())
}

// apiVersions asks addr for its ApiVersions and returns them with a
// name → "min-max" map.
func apiVersions(ctx context.Context, t *testing.T, addr string) (*kversion.Versions, map[int16]string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrApiVersionsRequest()
	req.ClientSoftwareName, req.ClientSoftwareVersion = "sluice-difftest", "1"
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("ApiVersions to %s: %v", addr, err)
	}
	m := map[int16]string{}
	for _, k := range resp.ApiKeys {
		m[k.ApiKey] = fmt.Sprintf("%d-%d", k.MinVersion, k.MaxVersion)
	}
	return kversion.FromApiVersionsResponse(resp), m
}

func apiName(key int16) string {
	if n := kmsg.NameForKey(key); n != "" {
		return n
	}
	return "key " + strconv.Itoa(int(key))
}

// sharedVersions is, per API key both serve, the lower of the two maxima.
func sharedVersions(a, b *kversion.Versions) *kversion.Versions {
	out := new(kversion.Versions)
	a.EachMaxKeyVersion(func(k, v int16) {
		if w, ok := b.LookupMaxKeyVersion(k); ok {
			out.SetMaxKeyVersion(k, min(v, w))
		}
	})
	return out
}

// diffTarget is one broker under comparison.
type diffTarget struct {
	name string
	addr string
	cl   *kgo.Client
	adm  *kadm.Client
	opts []kgo.Opt // for extra clients (consumer groups)
	vs   *kversion.Versions
	conn net.Conn // raw requests, one at a time
	corr int32
	fmt  *kmsg.RequestFormatter
}

func newDiffTarget(t *testing.T, name, addr string, vs *kversion.Versions) *diffTarget {
	tg := &diffTarget{name: name, addr: addr, vs: vs, fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID("difftest")),
		opts: []kgo.Opt{kgo.SeedBrokers(addr), kgo.MaxVersions(vs), kgo.RetryTimeout(5 * time.Second),
			kgo.RequestRetries(2)}}
	cl, err := kgo.NewClient(tg.opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cl.Close()
		if tg.conn != nil {
			tg.conn.Close()
		}
	})
	tg.cl, tg.adm = cl, kadm.NewClient(cl)
	return tg
}

// request sends req on the target's own connection, as built (kgo's
// Broker.Request would rewrite a Produce request's acks), at the highest
// version both brokers serve, and decodes the response.
func (tg *diffTarget) request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	return tg.requestAt(ctx, req, math.MaxInt16)
}

// requestAt is request at no higher a version than maxVersion (a client
// API's broker-to-broker versions left out).
func (tg *diffTarget) requestAt(ctx context.Context, req kmsg.Request, maxVersion int16) (kmsg.Response, error) {
	v, ok := tg.vs.LookupMaxKeyVersion(req.Key())
	if !ok {
		return nil, fmt.Errorf("api key %d is not served by both brokers", req.Key())
	}
	req.SetVersion(min(v, maxVersion))
	if tg.conn == nil {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", tg.addr)
		if err != nil {
			return nil, err
		}
		tg.conn = c
	}
	resp, err := tg.roundTrip(req)
	if err != nil {
		tg.conn.Close()
		tg.conn = nil
	}
	return resp, err
}

func (tg *diffTarget) roundTrip(req kmsg.Request) (kmsg.Response, error) {
	tg.corr++
	_ = tg.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := tg.conn.Write(tg.fmt.AppendRequest(nil, req, tg.corr)); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(tg.conn, size[:]); err != nil {
		return nil, err
	}
	frame := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(tg.conn, frame); err != nil {
		return nil, err
	}
	return decodeResponse(req, tg.corr, frame)
}

// topicID is the topic's id from Metadata (zero if unknown).
func (tg *diffTarget) topicID(ctx context.Context, topic string) [16]byte {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := tg.request(ctx, req)
	if err != nil {
		return [16]byte{}
	}
	for _, t := range resp.(*kmsg.MetadataResponse).Topics {
		if t.Topic != nil && *t.Topic == topic {
			return t.TopicID
		}
	}
	return [16]byte{}
}

// diffResults holds one broker's answers: "scenario\x00item" → value, in
// the order they were recorded.
type diffResults struct {
	values map[string]string
	order  []string
}

type recordFunc func(item, value string)

func (r *diffResults) scope(scenario string) recordFunc {
	return func(item, value string) {
		k := scenario + "\x00" + item
		if _, ok := r.values[k]; !ok {
			r.order = append(r.order, k)
		}
		r.values[k] = value
	}
}

// versions records, per API, the version range each broker serves.
func (r *diffResults) versions(kafka, sluice map[int16]string, isKafka bool) {
	keys := map[int16]bool{}
	for k := range kafka {
		keys[k] = true
	}
	for k := range sluice {
		keys[k] = true
	}
	sorted := make([]int16, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	src := sluice
	if isKafka {
		src = kafka
	}
	rec := r.scope("ApiVersions")
	for _, k := range sorted {
		v, ok := src[k]
		if !ok {
			v = "not served"
		}
		rec(fmt.Sprintf("%d %s", k, apiName(k)), v)
	}
}

// errName is an error code as NAME (code).
func errName(code int16) string {
	if code == 0 {
		return "NONE (0)"
	}
	if err := kerr.ErrorForCode(code); err != nil {
		if ke, ok := err.(*kerr.Error); ok {
			return fmt.Sprintf("%s (%d)", ke.Message, code)
		}
	}
	return fmt.Sprintf("code %d", code)
}

// reqErr is a request that got no response: the error, with the broker's
// address removed so the table is the same on every run.
func (tg *diffTarget) reqErr(err error) string {
	s := strings.ReplaceAll(err.Error(), tg.addr, "<addr>")
	return "request failed: " + s
}

type diffScenario struct {
	name string
	run  func(ctx context.Context, tg *diffTarget, rec recordFunc)
}

// diffScenarios run in this order on each broker; later ones may use
// topics the earlier ones created.
var diffScenarios = []diffScenario{
	{"Metadata", scMetadata},
	{"CreateTopics", scCreateTopics},
	{"Produce", scProduce},
	{"Produce batch shape", scProduceShape},
	{"Idempotent produce", scIdempotent},
	{"Transactions", scTransactions},
	{"Transactions v2", scTransactionsV2},
	{"Fetch", scFetch},
	{"OffsetForLeaderEpoch", scOffsetForLeaderEpoch},
	{"ListOffsets", scListOffsets},
	{"DeleteRecords", scDeleteRecords},
	{"CreatePartitions", scCreatePartitions},
	{"DeleteTopics", scDeleteTopics},
	{"DescribeConfigs (fresh topic)", scDescribeConfigs},
	{"DescribeConfigs (broker)", scBrokerConfigs},
	{"AlterConfigs", scAlterConfigs},
	{"Consumer group", scGroup},
	{"Wrong security.protocol", scWrongProtocol},
	{"Controller quorum", scQuorum},
}

// scQuorum compares what a one-node cluster says about its controller
// quorum (DescribeQuorum) and controller (DescribeCluster, Metadata):
// offsets differ between the two logs, so only their shape is recorded.
func scQuorum(ctx context.Context, tg *diffTarget, rec recordFunc) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rt.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
	req.Topics = []kmsg.DescribeQuorumRequestTopic{rt}
	resp, err := tg.request(ctx, req)
	if err != nil {
		rec("DescribeQuorum", tg.reqErr(err))
	} else {
		q := resp.(*kmsg.DescribeQuorumResponse)
		rec("DescribeQuorum: error", errName(q.ErrorCode))
		for _, t := range q.Topics {
			for _, p := range t.Partitions {
				pre := fmt.Sprintf("DescribeQuorum %s-%d: ", t.Topic, p.Partition)
				rec(pre+"error", errName(p.ErrorCode))
				rec(pre+"leader", strconv.Itoa(int(p.LeaderID)))
				rec(pre+"leader epoch ≥ 1", strconv.FormatBool(p.LeaderEpoch >= 1))
				rec(pre+"high watermark > 0", strconv.FormatBool(p.HighWatermark > 0))
				var voters, observers []string
				for _, v := range p.CurrentVoters {
					voters = append(voters, fmt.Sprintf("%d (end offset known %t)", v.ReplicaID, v.LogEndOffset >= 0))
				}
				for _, o := range p.Observers {
					observers = append(observers, strconv.Itoa(int(o.ReplicaID)))
				}
				rec(pre+"voters", strings.Join(voters, ", "))
				rec(pre+"observers", "["+strings.Join(observers, ", ")+"]")
			}
		}
		for _, n := range q.Nodes {
			for _, l := range n.Listeners {
				rec(fmt.Sprintf("DescribeQuorum node %d listener", n.NodeID), l.Name+" on "+l.Host)
			}
		}
	}
	dc, err := tg.request(ctx, kmsg.NewPtrDescribeClusterRequest())
	if err != nil {
		rec("DescribeCluster", tg.reqErr(err))
		return
	}
	dcr := dc.(*kmsg.DescribeClusterResponse)
	rec("DescribeCluster: controller", strconv.Itoa(int(dcr.ControllerID)))
	rec("DescribeCluster: brokers", strconv.Itoa(len(dcr.Brokers)))
}

func scMetadata(ctx context.Context, tg *diffTarget, rec recordFunc) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr("diff-no-such-topic")
	req.Topics = append(req.Topics, rt)
	req.AllowAutoTopicCreation = true // the broker's auto.create.topics.enable=false must win
	resp, err := tg.request(ctx, req)
	if err != nil {
		rec("unknown topic, auto-create requested", tg.reqErr(err))
		return
	}
	for _, t := range resp.(*kmsg.MetadataResponse).Topics {
		rec("unknown topic, auto-create requested", errName(t.ErrorCode))
	}
	createTopic1(ctx, tg, "diff-meta", 3, nil)
	req = kmsg.NewPtrMetadataRequest()
	rt.Topic = kmsg.StringPtr("diff-meta")
	req.Topics = []kmsg.MetadataRequestTopic{rt}
	resp, err = tg.request(ctx, req)
	if err != nil {
		rec("existing topic", tg.reqErr(err))
		return
	}
	for _, t := range resp.(*kmsg.MetadataResponse).Topics {
		rec("existing topic: error", errName(t.ErrorCode))
		rec("existing topic: partitions", strconv.Itoa(len(t.Partitions)))
		rec("existing topic: internal", strconv.FormatBool(t.IsInternal))
		for _, p := range t.Partitions {
			if p.Partition == 0 {
				rec("existing topic: partition 0 leader epoch", strconv.Itoa(int(p.LeaderEpoch)))
				rec("existing topic: partition 0 replicas/isr", fmt.Sprintf("%d/%d", len(p.Replicas), len(p.ISR)))
				rec("existing topic: partition 0 offline replicas", strconv.Itoa(len(p.OfflineReplicas)))
			}
		}
	}
}

// createTopic1 creates a topic (replication factor 1) and returns the
// error code.
func createTopic1(ctx context.Context, tg *diffTarget, topic string, parts int32, configs map[string]string) int16 {
	code := createTopicRaw(ctx, tg, topic, parts, 1, configs, false)
	if code == 0 {
		tg.waitTopic(ctx, topic)
	}
	return code
}

// waitTopic polls (up to 15 s) until every partition of topic has a
// leader in Metadata and answers ListOffsets: Apache Kafka answers
// CreateTopics before its metadata image has the topic, and names a
// leader a moment before the partition takes requests.
func (tg *diffTarget) waitTopic(ctx context.Context, topic string) {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if tg.topicReady(ctx, topic) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (tg *diffTarget) topicReady(ctx context.Context, topic string) bool {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := tg.request(ctx, req)
	if err != nil {
		return false
	}
	var parts []int32
	for _, t := range resp.(*kmsg.MetadataResponse).Topics {
		if t.ErrorCode != 0 {
			return false
		}
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 || p.Leader < 0 {
				return false
			}
			parts = append(parts, p.Partition)
		}
	}
	for _, p := range parts {
		if !strings.HasPrefix(listOffset(ctx, tg, topic, p, -1), "offset ") {
			return false
		}
	}
	return len(parts) > 0
}

func createTopicRaw(ctx context.Context, tg *diffTarget, topic string, parts int32, rf int16,
	configs map[string]string, validateOnly bool) int16 {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	req.ValidateOnly = validateOnly
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, parts, rf
	keys := make([]string, 0, len(configs))
	for k := range configs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, kmsg.StringPtr(configs[k])
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := tg.request(ctx, req)
	if err != nil {
		return -100
	}
	for _, t := range resp.(*kmsg.CreateTopicsResponse).Topics {
		return t.ErrorCode
	}
	return -101
}

func scCreateTopics(ctx context.Context, tg *diffTarget, rec recordFunc) {
	f := func(item, topic string, parts int32, rf int16, configs map[string]string, validateOnly bool) {
		rec(item, errName(createTopicRaw(ctx, tg, topic, parts, rf, configs, validateOnly)))
	}
	f("valid topic", "diff-create", 2, 1, nil, false)
	f("topic already exists", "diff-create", 2, 1, nil, false)
	f("validate only", "diff-create-v", 2, 1, nil, true)
	f("partitions 0", "diff-create-p0", 0, 1, nil, false)
	f("partitions -2", "diff-create-pm2", -2, 1, nil, false)
	f("partitions -1 (broker default)", "diff-create-pm1", -1, 1, nil, false)
	f("replication factor 3 on one broker", "diff-create-rf3", 1, 3, nil, false)
	f("replication factor 0", "diff-create-rf0", 1, 0, nil, false)
	f("replication factor -1 (broker default)", "diff-create-rfm1", 1, -1, nil, false)
	f("name with '/'", "diff/bad", 1, 1, nil, false)
	f("name '..'", "..", 1, 1, nil, false)
	f("name of 250 characters", strings.Repeat("a", 250), 1, 1, nil, false)
	f("empty name", "", 1, 1, nil, false)
	f("unknown config key", "diff-create-c1", 1, 1, map[string]string{"no.such.config": "1"}, false)
	f("cleanup.policy=bogus", "diff-create-c2", 1, 1, map[string]string{"cleanup.policy": "bogus"}, false)
	f("retention.ms=abc", "diff-create-c3", 1, 1, map[string]string{"retention.ms": "abc"}, false)
	f("segment.bytes=1 (below minimum)", "diff-create-c4", 1, 1, map[string]string{"segment.bytes": "1"}, false)
	f("min.insync.replicas=0", "diff-create-c5", 1, 1, map[string]string{"min.insync.replicas": "0"}, false)
	f("max.message.bytes=-5", "diff-create-c6", 1, 1, map[string]string{"max.message.bytes": "-5"}, false)
	f("message.timestamp.type=bogus", "diff-create-c7", 1, 1, map[string]string{"message.timestamp.type": "bogus"}, false)
	f("compression.type=brotli", "diff-create-c8", 1, 1, map[string]string{"compression.type": "brotli"}, false)
	// Valid in Kafka: each must be accepted.
	for i, c := range [][2]string{
		{"cleanup.policy", "compact"},
		{"compression.type", "gzip"},
		{"preallocate", "true"},
		{"flush.messages", "1"},
		{"segment.jitter.ms", "10"},
		{"message.timestamp.after.max.ms", "1000"},
		{"unclean.leader.election.enable", "false"},
	} {
		f(c[0]+"="+c[1]+" (valid)", fmt.Sprintf("diff-create-ok%d", i), 1, 1, map[string]string{c[0]: c[1]}, true)
	}
}

// produceOne sends one batch of records to topic/partition with acks and
// returns the partition's error code and base offset.
func produceOne(ctx context.Context, tg *diffTarget, topic string, partition int32, acks int16, batch []byte) string {
	req := kmsg.NewPtrProduceRequest()
	req.Acks = acks
	req.TimeoutMillis = 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rt.TopicID = tg.topicID(ctx, topic)
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := tg.request(ctx, req)
	if err != nil {
		return tg.reqErr(err)
	}
	r := resp.(*kmsg.ProduceResponse)
	if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
		return "not one partition in the response"
	}
	p := r.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		return errName(p.ErrorCode)
	}
	return fmt.Sprintf("%s, base offset %d", errName(p.ErrorCode), p.BaseOffset)
}

// tsBatch is an uncompressed batch of one record per value, the i-th
// record at timestamp ts[i] (max timestamp set accordingly).
func tsBatch(ts []int64, values ...[]byte) []byte {
	recs := make([]kv, len(values))
	for i, v := range values {
		recs[i] = kv{Value: v}
	}
	return encodeBatchAt(ts, recs...)
}

func scProduce(ctx context.Context, tg *diffTarget, rec recordFunc) {
	createTopic1(ctx, tg, "diff-produce", 1, nil)
	createTopic1(ctx, tg, "diff-produce-small", 1, map[string]string{"max.message.bytes": "1000"})
	small := tsBatch([]int64{1000}, []byte("v"))
	big := tsBatch([]int64{1000}, bytes.Repeat([]byte("x"), 2000))
	rec("acks=-1, valid batch", produceOne(ctx, tg, "diff-produce", 0, -1, small))
	rec("acks=1, valid batch", produceOne(ctx, tg, "diff-produce", 0, 1, small))
	rec("acks=2", produceOne(ctx, tg, "diff-produce", 0, 2, small))
	rec("acks=-2", produceOne(ctx, tg, "diff-produce", 0, -2, small))
	rec("unknown topic", produceOne(ctx, tg, "diff-no-such-topic", 0, -1, small))
	rec("partition 5 of a 1-partition topic", produceOne(ctx, tg, "diff-produce", 5, -1, small))
	rec("partition -1", produceOne(ctx, tg, "diff-produce", -1, -1, small))
	rec("batch over max.message.bytes=1000", produceOne(ctx, tg, "diff-produce-small", 0, -1, big))
	corrupt := append([]byte(nil), small...)
	corrupt[len(corrupt)-1] ^= 0xff
	rec("batch with a bad CRC", produceOne(ctx, tg, "diff-produce", 0, -1, corrupt))
	rec("empty records", produceOne(ctx, tg, "diff-produce", 0, -1, []byte{}))
	future := time.Now().Add(2 * time.Hour).UnixMilli()
	createTopic1(ctx, tg, "diff-produce-ts", 1, nil)
	rec("timestamp 2 h ahead (message.timestamp.after.max.ms 1 h)",
		produceOne(ctx, tg, "diff-produce-ts", 0, -1, tsBatch([]int64{future}, []byte("v"))))
	rec("gzip-compressed batch", produceOne(ctx, tg, "diff-produce", 0, -1, gzipBatch(tsBatch([]int64{1000, 1000}, []byte("a"), []byte("b")))))
	rec("magic 1 message set", produceOne(ctx, tg, "diff-produce", 0, -1, magic1Message([]byte("v"))))
	rec("then ListOffsets latest", listOffset(ctx, tg, "diff-produce", 0, -1))
}

// gzipBatch is batch with its records gzip-compressed (attributes 1,
// CRC recomputed).
func gzipBatch(batch []byte) []byte {
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	_, _ = w.Write(batch[batchHeaderLen:])
	_ = w.Close()
	b := append(append([]byte(nil), batch[:batchHeaderLen]...), z.Bytes()...)
	binary.BigEndian.PutUint16(b[21:], 1) // attributes: gzip
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[batchCRCStart:], castagnoli))
	return b
}

// magic1Message is a message set of one magic 1 message (the format
// before RecordBatch, Kafka 0.10), timestamp 1000, no key.
func magic1Message(value []byte) []byte {
	be := binary.BigEndian
	body := []byte{1, 0}                             // magic, attributes
	body = be.AppendUint64(body, 1000)               // timestamp
	body = be.AppendUint32(body, ^uint32(0))         // key: null
	body = be.AppendUint32(body, uint32(len(value))) // value
	body = append(body, value...)
	msg := be.AppendUint32(nil, crc32.ChecksumIEEE(body))
	msg = append(msg, body...)
	out := be.AppendUint64(nil, 0) // offset
	out = be.AppendUint32(out, uint32(len(msg)))
	return append(out, msg...)
}

// withProducer is batch with producer id, epoch and base sequence set
// (CRC recomputed).
func withProducer(batch []byte, id int64, epoch int16, seq int32) []byte {
	b := append([]byte(nil), batch...)
	binary.BigEndian.PutUint64(b[43:], uint64(id))
	binary.BigEndian.PutUint16(b[51:], uint16(epoch))
	binary.BigEndian.PutUint32(b[53:], uint32(seq))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[batchCRCStart:], castagnoli))
	return b
}

func scIdempotent(ctx context.Context, tg *diffTarget, rec recordFunc) {
	createTopic1(ctx, tg, "diff-idem", 1, nil)
	// Retried as clients do while the broker loads its producer id
	// manager (Kafka answers COORDINATOR_LOAD_IN_PROGRESS at first).
	var ip *kmsg.InitProducerIDResponse
	deadline := time.Now().Add(20 * time.Second)
	for {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionTimeoutMillis = 60000
		resp, err := tg.request(ctx, req)
		if err != nil {
			rec("InitProducerId", tg.reqErr(err))
			return
		}
		ip = resp.(*kmsg.InitProducerIDResponse)
		if !kerr.IsRetriable(kerr.ErrorForCode(ip.ErrorCode)) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	rec("InitProducerId", fmt.Sprintf("%s, producer id >= 0: %v, epoch %d", errName(ip.ErrorCode), ip.ProducerID >= 0, ip.ProducerEpoch))
	id, epoch := ip.ProducerID, ip.ProducerEpoch
	two := tsBatch([]int64{1000, 1000}, []byte("a"), []byte("b"))
	f := func(item string, id int64, epoch int16, seq int32) {
		rec(item, produceOne(ctx, tg, "diff-idem", 0, -1, withProducer(two, id, epoch, seq)))
	}
	f("sequence 0 (2 records)", id, epoch, 0)
	f("sequence 0 again (duplicate)", id, epoch, 0)
	f("sequence 2 (next)", id, epoch, 2)
	f("sequence 10 (gap)", id, epoch, 10)
	f("sequence 2 again (older duplicate)", id, epoch, 2)
	f("epoch+1, sequence 0", id, epoch+1, 0)
	f("epoch+1, sequence 5", id, epoch+1, 5)
	f("unknown producer id, sequence 3", id+1000, 0, 3)
	rec("then ListOffsets latest", listOffset(ctx, tg, "diff-idem", 0, -1))
}

func scOffsetForLeaderEpoch(ctx context.Context, tg *diffTarget, rec recordFunc) {
	// diff-fetch holds offsets 0-2, all written at leader epoch 0.
	f := func(item, topic string, partition, epoch int32) {
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.ReplicaID = -1
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.LeaderEpoch, rp.CurrentLeaderEpoch = partition, epoch, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := tg.request(ctx, req)
		if err != nil {
			rec(item, tg.reqErr(err))
			return
		}
		r := resp.(*kmsg.OffsetForLeaderEpochResponse)
		if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
			rec(item, "not one partition in the response")
			return
		}
		p := r.Topics[0].Partitions[0]
		rec(item, fmt.Sprintf("%s, leader epoch %d, end offset %d", errName(p.ErrorCode), p.LeaderEpoch, p.EndOffset))
	}
	f("epoch 0", "diff-fetch", 0, 0)
	f("epoch 7 (future)", "diff-fetch", 0, 7)
	f("partition 9 of a 1-partition topic", "diff-fetch", 9, 0)
	f("unknown topic", "diff-no-such-topic", 0, 0)
}

// fetchOne fetches topic/partition at offset and describes the answer.
func fetchOne(ctx context.Context, tg *diffTarget, topic string, partition int32, offset int64) string {
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis = 0
	req.MinBytes = 1
	req.MaxBytes = 1 << 20
	req.ReplicaID = -1
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rt.TopicID = tg.topicID(ctx, topic)
	if rt.TopicID == ([16]byte{}) {
		rt.TopicID = [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	}
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = partition
	rp.FetchOffset = offset
	rp.PartitionMaxBytes = 1 << 20
	rp.CurrentLeaderEpoch = -1
	rp.LogStartOffset = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := tg.request(ctx, req)
	if err != nil {
		return tg.reqErr(err)
	}
	fr := resp.(*kmsg.FetchResponse)
	if fr.ErrorCode != 0 {
		return "top-level " + errName(fr.ErrorCode)
	}
	if len(fr.Topics) != 1 || len(fr.Topics[0].Partitions) != 1 {
		return "not one partition in the response"
	}
	p := fr.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		return fmt.Sprintf("%s, high watermark %d", errName(p.ErrorCode), p.HighWatermark)
	}
	// The byte count depends on batch encoding details: say only
	// whether records came back.
	recs := "no records"
	if len(p.RecordBatches) > 0 {
		recs = "records returned"
	}
	return fmt.Sprintf("%s, high watermark %d, log start %d, %s", errName(p.ErrorCode), p.HighWatermark, p.LogStartOffset, recs)
}

func scFetch(ctx context.Context, tg *diffTarget, rec recordFunc) {
	createTopic1(ctx, tg, "diff-fetch", 1, nil)
	for i := 0; i < 3; i++ {
		produceOne(ctx, tg, "diff-fetch", 0, -1, tsBatch([]int64{1000}, []byte("v")))
	}
	f := func(item string, offset int64) { rec(item, fetchOne(ctx, tg, "diff-fetch", 0, offset)) }
	f("offset 0", 0)
	f("offset 3 (= high watermark)", 3)
	f("offset 4 (past high watermark)", 4)
	f("offset 100", 100)
	f("offset -1", -1)
	rec("partition 7 of a 1-partition topic", fetchOne(ctx, tg, "diff-fetch", 7, 0))
	rec("unknown topic", fetchOne(ctx, tg, "diff-no-such-topic", 0, 0))
}

// listOffset asks for topic/partition at timestamp and describes the
// answer.
func listOffset(ctx context.Context, tg *diffTarget, topic string, partition int32, timestamp int64) string {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition = partition
	rp.Timestamp = timestamp
	rp.CurrentLeaderEpoch = -1
	rp.MaxNumOffsets = 1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := tg.request(ctx, req)
	if err != nil {
		return tg.reqErr(err)
	}
	r := resp.(*kmsg.ListOffsetsResponse)
	if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
		return "not one partition in the response"
	}
	p := r.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		return errName(p.ErrorCode)
	}
	return fmt.Sprintf("offset %d, timestamp %d, leader epoch %d", p.Offset, p.Timestamp, p.LeaderEpoch)
}

func scListOffsets(ctx context.Context, tg *diffTarget, rec recordFunc) {
	createTopic1(ctx, tg, "diff-offsets", 1, nil)
	rec("empty partition: latest (-1)", listOffset(ctx, tg, "diff-offsets", 0, -1))
	rec("empty partition: earliest (-2)", listOffset(ctx, tg, "diff-offsets", 0, -2))
	rec("empty partition: max timestamp (-3)", listOffset(ctx, tg, "diff-offsets", 0, -3))
	// Offsets 0-1 in one batch (timestamps 1000, 3000), offset 2 alone
	// (2000), offsets 3-4 (5000, 4000).
	produceOne(ctx, tg, "diff-offsets", 0, -1, tsBatch([]int64{1000, 3000}, []byte("a"), []byte("b")))
	produceOne(ctx, tg, "diff-offsets", 0, -1, tsBatch([]int64{2000}, []byte("c")))
	produceOne(ctx, tg, "diff-offsets", 0, -1, tsBatch([]int64{5000, 4000}, []byte("d"), []byte("e")))
	f := func(item string, ts int64) { rec(item, listOffset(ctx, tg, "diff-offsets", 0, ts)) }
	f("latest (-1)", -1)
	f("earliest (-2)", -2)
	f("max timestamp (-3)", -3)
	f("earliest local (-4)", -4)
	f("latest tiered (-5)", -5)
	f("timestamp 0", 0)
	f("timestamp 1000", 1000)
	f("timestamp 1500", 1500)
	f("timestamp 2500", 2500)
	f("timestamp 4500", 4500)
	f("timestamp 6000 (after all)", 6000)
	rec("partition 3 of a 1-partition topic", listOffset(ctx, tg, "diff-offsets", 3, -1))
	rec("unknown topic", listOffset(ctx, tg, "diff-no-such-topic", 0, -1))
}

// deleteRecords deletes topic/partition before offset.
func deleteRecords(ctx context.Context, tg *diffTarget, topic string, partition int32, offset int64) string {
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.TimeoutMillis = 10000
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Partition, rp.Offset = partition, offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := tg.request(ctx, req)
	if err != nil {
		return tg.reqErr(err)
	}
	r := resp.(*kmsg.DeleteRecordsResponse)
	if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
		return "not one partition in the response"
	}
	p := r.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		return errName(p.ErrorCode)
	}
	return fmt.Sprintf("%s, low watermark %d", errName(p.ErrorCode), p.LowWatermark)
}

func scDeleteRecords(ctx context.Context, tg *diffTarget, rec recordFunc) {
	// diff-offsets holds offsets 0-4 (ListOffsets scenario).
	rec("before offset 10 (beyond high watermark 5)", deleteRecords(ctx, tg, "diff-offsets", 0, 10))
	rec("before offset -5", deleteRecords(ctx, tg, "diff-offsets", 0, -5))
	rec("before offset 1", deleteRecords(ctx, tg, "diff-offsets", 0, 1))
	rec("then ListOffsets earliest", listOffset(ctx, tg, "diff-offsets", 0, -2))
	rec("then Fetch at offset 0", fetchOne(ctx, tg, "diff-offsets", 0, 0))
	rec("before offset 0 (below log start)", deleteRecords(ctx, tg, "diff-offsets", 0, 0))
	rec("before offset -1 (high watermark)", deleteRecords(ctx, tg, "diff-offsets", 0, -1))
	rec("partition 4 of a 1-partition topic", deleteRecords(ctx, tg, "diff-offsets", 4, 0))
	rec("unknown topic", deleteRecords(ctx, tg, "diff-no-such-topic", 0, 0))
}

func createPartitions(ctx context.Context, tg *diffTarget, topic string, count int32) string {
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.TimeoutMillis = 10000
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = topic, count
	req.Topics = append(req.Topics, rt)
	resp, err := tg.request(ctx, req)
	if err != nil {
		return tg.reqErr(err)
	}
	for _, t := range resp.(*kmsg.CreatePartitionsResponse).Topics {
		return errName(t.ErrorCode)
	}
	return "no topic in response"
}

func scCreatePartitions(ctx context.Context, tg *diffTarget, rec recordFunc) {
	createTopic1(ctx, tg, "diff-parts", 2, nil)
	rec("2 → 1 (decrease)", createPartitions(ctx, tg, "diff-parts", 1))
	rec("2 → 2 (same)", createPartitions(ctx, tg, "diff-parts", 2))
	rec("2 → 4", createPartitions(ctx, tg, "diff-parts", 4))
	rec("unknown topic", createPartitions(ctx, tg, "diff-no-such-topic", 4))
}

func scDeleteTopics(ctx context.Context, tg *diffTarget, rec recordFunc) {
	createTopic1(ctx, tg, "diff-delete", 1, nil)
	f := func(item, topic string) {
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.TimeoutMillis = 10000
		req.TopicNames = []string{topic}
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		resp, err := tg.request(ctx, req)
		if err != nil {
			rec(item, tg.reqErr(err))
			return
		}
		for _, t := range resp.(*kmsg.DeleteTopicsResponse).Topics {
			rec(item, errName(t.ErrorCode))
		}
	}
	f("existing topic", "diff-delete")
	f("unknown topic", "diff-no-such-topic")
}

func scDescribeConfigs(ctx context.Context, tg *diffTarget, rec recordFunc) {
	createTopic1(ctx, tg, "diff-configs", 1, nil)
	req := kmsg.NewPtrDescribeConfigsRequest()
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType = kmsg.ConfigResourceTypeTopic
	rr.ResourceName = "diff-configs"
	req.Resources = append(req.Resources, rr)
	rr2 := rr
	rr2.ResourceName = "diff-no-such-topic"
	req.Resources = append(req.Resources, rr2)
	resp, err := tg.request(ctx, req)
	if err != nil {
		rec("request", tg.reqErr(err))
		return
	}
	for _, r := range resp.(*kmsg.DescribeConfigsResponse).Resources {
		if r.ResourceName != "diff-configs" {
			rec("unknown topic", errName(r.ErrorCode))
			continue
		}
		if r.ErrorCode != 0 {
			rec("fresh topic", errName(r.ErrorCode))
			continue
		}
		sort.Slice(r.Configs, func(i, j int) bool { return r.Configs[i].Name < r.Configs[j].Name })
		for _, c := range r.Configs {
			v := "null"
			if c.Value != nil {
				v = strconv.Quote(*c.Value)
			}
			rec(c.Name, fmt.Sprintf("%s (%s%s)", v, c.Source, roFlag(c.ReadOnly)))
		}
	}
}

// scBrokerConfigs compares a few broker configs that clients and tools
// read (the full broker list differs by design).
func scBrokerConfigs(ctx context.Context, tg *diffTarget, rec recordFunc) {
	keys := []string{"auto.create.topics.enable", "compression.type", "default.replication.factor",
		"delete.topic.enable", "group.initial.rebalance.delay.ms", "group.max.session.timeout.ms",
		"group.min.session.timeout.ms", "log.cleanup.policy", "log.retention.bytes", "log.retention.hours",
		"log.retention.ms", "log.segment.bytes", "message.max.bytes", "min.insync.replicas", "num.partitions",
		"offsets.retention.minutes", "offsets.topic.num.partitions", "offsets.topic.replication.factor"}
	req := kmsg.NewPtrDescribeConfigsRequest()
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType = kmsg.ConfigResourceTypeBroker
	rr.ResourceName = "1"
	rr.ConfigNames = keys
	req.Resources = append(req.Resources, rr)
	resp, err := tg.request(ctx, req)
	if err != nil {
		rec("request", tg.reqErr(err))
		return
	}
	got := map[string]string{}
	for _, r := range resp.(*kmsg.DescribeConfigsResponse).Resources {
		if r.ErrorCode != 0 {
			rec("broker 1", errName(r.ErrorCode))
		}
		for _, c := range r.Configs {
			v := "null"
			if c.Value != nil {
				v = strconv.Quote(*c.Value)
			}
			got[c.Name] = fmt.Sprintf("%s (%s%s)", v, c.Source, roFlag(c.ReadOnly))
		}
	}
	for _, k := range keys {
		v, ok := got[k]
		if !ok {
			v = "(absent)"
		}
		rec(k, v)
	}
}

func roFlag(ro bool) string {
	if ro {
		return ", read-only"
	}
	return ""
}

func alterConfig(ctx context.Context, tg *diffTarget, topic, key, value string) string {
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType = kmsg.ConfigResourceTypeTopic
	rr.ResourceName = topic
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Value, c.Op = key, kmsg.StringPtr(value), kmsg.IncrementalAlterConfigOpSet
	rr.Configs = append(rr.Configs, c)
	req.Resources = append(req.Resources, rr)
	resp, err := tg.request(ctx, req)
	if err != nil {
		return tg.reqErr(err)
	}
	for _, r := range resp.(*kmsg.IncrementalAlterConfigsResponse).Resources {
		return errName(r.ErrorCode)
	}
	return "no resource in response"
}

func scAlterConfigs(ctx context.Context, tg *diffTarget, rec recordFunc) {
	rec("incremental: retention.ms=1000", alterConfig(ctx, tg, "diff-configs", "retention.ms", "1000"))
	rec("incremental: retention.ms=abc", alterConfig(ctx, tg, "diff-configs", "retention.ms", "abc"))
	rec("incremental: no.such.config=1", alterConfig(ctx, tg, "diff-configs", "no.such.config", "1"))
	rec("incremental: cleanup.policy=bogus", alterConfig(ctx, tg, "diff-configs", "cleanup.policy", "bogus"))
	rec("incremental: unknown topic", alterConfig(ctx, tg, "diff-no-such-topic", "retention.ms", "1000"))
}

func describeGroup(ctx context.Context, tg *diffTarget, group string) (*kmsg.DescribeGroupsResponseGroup, error) {
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{group}
	resp, err := req.RequestWith(ctx, tg.cl)
	if err != nil {
		return nil, err
	}
	if len(resp.Groups) != 1 {
		return nil, fmt.Errorf("%d groups in response", len(resp.Groups))
	}
	return &resp.Groups[0], nil
}

func groupSummary(g *kmsg.DescribeGroupsResponseGroup) string {
	var parts []string
	for _, m := range g.Members {
		var a kmsg.ConsumerMemberAssignment
		if err := a.ReadFrom(m.MemberAssignment); err != nil {
			parts = append(parts, "undecodable assignment")
			continue
		}
		for _, t := range a.Topics {
			parts = append(parts, fmt.Sprintf("%s%v", t.Topic, t.Partitions))
		}
	}
	return fmt.Sprintf("%s, state %q, protocol type %q, protocol %q, %d members, assigned %s",
		errName(g.ErrorCode), g.State, g.ProtocolType, g.Protocol, len(g.Members), strings.Join(parts, " "))
}

func scGroup(ctx context.Context, tg *diffTarget, rec recordFunc) {
	const topic, group = "diff-group-t", "diff-group"
	createTopic1(ctx, tg, topic, 1, nil)
	for i := 0; i < 5; i++ {
		produceOne(ctx, tg, topic, 0, -1, tsBatch([]int64{1000}, []byte("v")))
	}
	opts := append([]kgo.Opt{kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(),
		kgo.FetchMaxWait(100 * time.Millisecond)}, tg.opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		rec("consumer", "cannot create: "+err.Error())
		return
	}
	defer cl.Close()
	pctx, pcancel := context.WithTimeout(ctx, 60*time.Second)
	n := 0
	for n < 5 && pctx.Err() == nil {
		fs := cl.PollFetches(pctx)
		n += fs.NumRecords()
	}
	pcancel()
	rec("records consumed by the member", strconv.Itoa(n))
	var commitErr error
	cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{topic: {0: {Epoch: -1, Offset: 3}}},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			commitErr = err
			if err == nil {
				for _, t := range resp.Topics {
					for _, p := range t.Partitions {
						commitErr = kerr.ErrorForCode(p.ErrorCode)
					}
				}
			}
		})
	rec("member commits offset 3", fmt.Sprint(commitErr))
	if g, err := describeGroup(ctx, tg, group); err != nil {
		rec("DescribeGroups: one member", tg.reqErr(err))
	} else {
		rec("DescribeGroups: one member", groupSummary(g))
	}
	offs, err := tg.adm.FetchOffsets(ctx, group)
	if err != nil {
		rec("OffsetFetch", tg.reqErr(err))
	} else {
		o, _ := offs.Lookup(topic, 0)
		// The metadata is the member id kgo commits with: random.
		rec("OffsetFetch after commit", fmt.Sprintf("offset %d, leader epoch %d, err %v", o.At, o.LeaderEpoch, o.Err))
	}
	lags, err := tg.adm.Lag(ctx, group)
	if err != nil {
		rec("lag", tg.reqErr(err))
	} else {
		l := lags[group].Lag[topic][0]
		rec("lag (kadm.Lag)", fmt.Sprintf("commit %d, end %d, lag %d", l.Commit.At, l.End.Offset, l.Lag))
	}
	cl.Close() // leaves the group
	// Sluice may report PreparingRebalance for a moment after the last
	// member left (Kafka goes straight to Empty): compare where it settles.
	deadline := time.Now().Add(15 * time.Second)
	for {
		g, err := describeGroup(ctx, tg, group)
		if err != nil {
			rec("DescribeGroups: after the member left (settled)", tg.reqErr(err))
			break
		}
		if (g.State != "PreparingRebalance" && g.State != "CompletingRebalance") || time.Now().After(deadline) {
			rec("DescribeGroups: after the member left (settled)", groupSummary(g))
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if g, err := describeGroup(ctx, tg, "diff-no-such-group"); err != nil {
		rec("DescribeGroups: unknown group", tg.reqErr(err))
	} else {
		rec("DescribeGroups: unknown group", groupSummary(g))
	}
	offs, err = tg.adm.FetchOffsets(ctx, "diff-no-such-group")
	if err != nil {
		rec("OffsetFetch: unknown group", tg.reqErr(err))
	} else {
		rec("OffsetFetch: unknown group", fmt.Sprintf("%d partitions, err %v", len(offs.Offsets().Sorted()), offs.Error()))
	}
	co, err := tg.adm.CommitOffsets(ctx, "diff-group-2", kadm.Offsets{"diff-no-such-topic": {0: kadm.Offset{
		Topic: "diff-no-such-topic", Partition: 0, At: 1, LeaderEpoch: -1}}})
	if err != nil {
		rec("OffsetCommit: unknown topic", tg.reqErr(err))
	} else {
		rec("OffsetCommit: unknown topic", fmt.Sprint(co.Error()))
	}
	dg, err := tg.adm.DeleteGroups(ctx, group)
	if err != nil {
		rec("DeleteGroups: empty group", tg.reqErr(err))
	} else {
		rec("DeleteGroups: empty group", fmt.Sprint(dg.Error()))
	}
	dg, err = tg.adm.DeleteGroups(ctx, "diff-no-such-group")
	if err != nil {
		rec("DeleteGroups: unknown group", tg.reqErr(err))
	} else {
		rec("DeleteGroups: unknown group", fmt.Sprint(dg.Error()))
	}
}

// compatRow is one compared item.
type compatRow struct {
	scenario, item, kafka, sluice, reason string
}

func (r compatRow) same() bool { return r.kafka == r.sluice }

// compareResults zips the two brokers' answers in Kafka's order, then the
// items only Sluice recorded.
func compareResults(k, s *diffResults) []compatRow {
	var rows []compatRow
	seen := map[string]bool{}
	add := func(key string) {
		if seen[key] {
			return
		}
		seen[key] = true
		sc, item, _ := strings.Cut(key, "\x00")
		kv, ok := k.values[key]
		if !ok {
			kv = "(absent)"
		}
		sv, ok := s.values[key]
		if !ok {
			sv = "(absent)"
		}
		r := compatRow{scenario: sc, item: item, kafka: kv, sluice: sv}
		if !r.same() {
			r.reason = knownDiffReason(sc, item)
			if sc == "ApiVersions" {
				r.reason = apiVersionsReason(kv, sv)
				if why, ok := apiVersionsReasons[item]; ok {
					r.reason = why
				}
			}
		}
		rows = append(rows, r)
	}
	for _, key := range k.order {
		add(key)
	}
	for _, key := range s.order {
		add(key)
	}
	return rows
}

// apiVersionsReasons explain the version ranges apiVersionsReason's
// general rules do not, by ApiVersions item.
var apiVersionsReasons = map[string]string{}

// apiVersionsReason explains a difference in an API's version range.
func apiVersionsReason(kafka, sluice string) string {
	switch {
	case sluice == "not served":
		return "API not served by Sluice yet: later issues (cluster, transactions, security, share groups)"
	case kafka == "not served":
		return "served by Sluice only"
	}
	var kmin, kmax, smin, smax int
	fmt.Sscanf(kafka, "%d-%d", &kmin, &kmax)
	fmt.Sscanf(sluice, "%d-%d", &smin, &smax)
	var why []string
	if smin < kmin {
		why = append(why, "Sluice still serves the versions Kafka 4.0 removed (KIP-896) for older clients (librdkafka 2.0, kafka-python)")
	}
	if smax < kmax {
		why = append(why, fmt.Sprintf("newest versions (%d-%d) not served yet: issue 12", smax+1, kmax))
	}
	if len(why) == 0 {
		return "Sluice serves versions Kafka does not"
	}
	return strings.Join(why, "; ")
}

func knownDiffReason(scenario, item string) string {
	if r, ok := knownDiffs[scenario+" / "+item]; ok {
		return r
	}
	return knownDiffs[scenario+" / *"]
}

// checkReasons fails on a difference without a reason and on a reason
// for an item that now matches (remove it from knownDiffs).
func checkReasons(t *testing.T, rows []compatRow) {
	t.Helper()
	byKey := map[string]compatRow{}
	for _, r := range rows {
		byKey[r.scenario+" / "+r.item] = r
		if !r.same() && r.reason == "" && r.scenario != "ApiVersions" {
			t.Errorf("difference without a reason (add it to knownDiffs in diff_test.go):\n  %q: Kafka %s, Sluice %s",
				r.scenario+" / "+r.item, r.kafka, r.sluice)
		}
	}
	for k := range knownDiffs {
		if strings.HasSuffix(k, " / *") {
			continue
		}
		if r, ok := byKey[k]; !ok || r.same() {
			t.Errorf("knownDiffs[%q] names no current difference: remove it", k)
		}
	}
}

// checkCompatDoc compares docs/COMPATIBILITY.md with doc, rewriting it
// first under SLUICE_UPDATE_COMPAT=1.
func checkCompatDoc(t *testing.T, doc []byte) {
	t.Helper()
	if os.Getenv("SLUICE_UPDATE_COMPAT") == "1" {
		if err := os.WriteFile(compatPath, doc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(compatPath)
	if err != nil {
		t.Fatalf("%v (SLUICE_UPDATE_COMPAT=1 go test ./e2e -run TestDifferential writes it)", err)
	}
	if !bytes.Equal(got, doc) {
		t.Errorf("%s is stale: SLUICE_UPDATE_COMPAT=1 go test ./e2e -run TestDifferential rewrites it; this run's table:\n%s",
			compatPath, doc)
	}
}

func writeCompat(w *bytes.Buffer, rows []compatRow) {
	var diffs int
	for _, r := range rows {
		if !r.same() {
			diffs++
		}
	}
	fmt.Fprintf(w, `# Compatibility with Apache Kafka

<!-- Generated by "SLUICE_UPDATE_COMPAT=1 go test ./e2e -run TestDifferential"; do not edit. -->

The differential test (`+"`e2e/diff_test.go`"+`) runs every scenario below
against Apache Kafka %s (one KRaft node, broker and controller, started
from the jars of `+"`e2e/java/pom.xml`"+` by `+"`internal/kafkaref`"+`) and
against `+"`sluiced`"+`, with the same franz-go client, and compares the
answers. Both brokers run with `+"`auto.create.topics.enable=false`"+`,
`+"`num.partitions=1`"+` and no initial rebalance delay. Requests go
straight to the broker at, per API, the highest version both serve
(the ApiVersions rows). Error codes are shown as Kafka names them.

A difference needs a reason in `+"`knownDiffs`"+` (in the test), and a
reason for an item that now matches fails the test, so this page is
always the current state: %d items compared, %d the same, %d different.

## Differences

| scenario | item | Apache Kafka | Sluice | reason |
| --- | --- | --- | --- | --- |
`, kafkaref.Version, len(rows), len(rows)-diffs, diffs)
	for _, r := range rows {
		if !r.same() {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", cell(r.scenario), cell(r.item), cell(r.kafka), cell(r.sluice), cell(r.reason))
		}
	}
	fmt.Fprint(w, "\n## Every compared item\n\n| scenario | item | Apache Kafka | Sluice | same |\n| --- | --- | --- | --- | --- |\n")
	for _, r := range rows {
		same := "yes"
		if !r.same() {
			same = "**no**"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", cell(r.scenario), cell(r.item), cell(r.kafka), cell(r.sluice), same)
	}
}

func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 60 && !strings.Contains(s, " ") {
		s = s[:20] + "…(" + strconv.Itoa(len(s)) + " chars)"
	}
	return s
}

// knownDiffs gives the reason for each difference between Apache Kafka
// and Sluice, keyed "scenario / item" ("scenario / *" covers a whole
// scenario). ApiVersions differences are explained by apiVersionsReason.
var knownDiffs = func() map[string]string {
	m := map[string]string{
		"ApiVersions / *": "Sluice serves the APIs and versions its handlers implement; the rest come with later issues (cluster, transactions, security, share groups)",
		"DescribeConfigs (fresh topic) / min.insync.replicas": "same value; Kafka's KRaft format writes a cluster-level dynamic default (for ELR), so Kafka reports it as DYNAMIC_DEFAULT_BROKER_CONFIG",
	}
	m["Wrong security.protocol / TLS ClientHello"] = "Sluice answers a TLS ClientHello on its PLAINTEXT listener with a handshake_failure alert before closing, so TLS clients fail at once (Kafka's Java admin client instead retries a bare close until its 60 s timeout)"
	each := func(scenario, reason string, items ...string) {
		for _, it := range items {
			m[scenario+" / "+it] = reason
		}
	}
	const dc = "DescribeConfigs (fresh topic)"
	const after = "Sluice keeps Kafka 3.9's default for message.timestamp.after.max.ms (no limit); Kafka 4.0 lowered it to 1 hour (KIP-1030)"
	m[dc+" / message.timestamp.after.max.ms"] = after
	m["Produce / timestamp 2 h ahead (message.timestamp.after.max.ms 1 h)"] = after
	each(dc, "removed in Kafka 4.0; Sluice still serves the 3.9 topic configs (old message formats and down-conversion are still served to 3.x clients)",
		"message.downconversion.enable", "message.format.version", "message.timestamp.difference.max.ms")
	const bc = "DescribeConfigs (broker)"
	m[bc+" / log.retention.hours"] = "Kafka reports the documented default only where server.properties sets it; Sluice lists every retention form it reads"
	m[bc+" / log.retention.ms"] = "Kafka reports the unset log.retention.ms as null (log.retention.hours applies); Sluice reports the effective value"
	m[bc+" / min.insync.replicas"] = "same value; Kafka's KRaft format writes a cluster-level dynamic default (for ELR); Sluice's is static"
	m["Produce batch shape / recordsCount and lastOffsetDelta say 3, 2 records"] = "Sluice's log validation (segment.Validate) reports records that do not match the header's count as CORRUPT_MESSAGE; Kafka, whose CRC check passed, as INVALID_RECORD"
	m["Produce batch shape / maxTimestamp below baseTimestamp"] = "Sluice refuses a CreateTime batch whose maxTimestamp is below its baseTimestamp (segment.Validate); Kafka accepts it and sets maxTimestamp from the records"
	m["Produce batch shape / then ListOffsets latest"] = "one batch fewer in Sluice: the maxTimestamp batch above"
	return m
}()
