package broker

import (
	"errors"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/sluice/sluice/partition"
)

// adminClient is a kadm client of ts.
func adminClient(t *testing.T, ts *testServer) *kadm.Client {
	return kadm.NewClient(newKgo(t, ts.addr))
}

// pinned is a client of ts that sends key at most at version v.
func pinned(t *testing.T, ts *testServer, key, v int16) *kgo.Client {
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(key, v)
	return newKgo(t, ts.addr, kgo.MaxVersions(vs))
}

// wantErr fails unless err is want (nil: no error).
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

func createTopic(t *testing.T, adm *kadm.Client, name string, partitions int32, configs map[string]*string) kadm.CreateTopicResponse {
	t.Helper()
	r, err := adm.CreateTopic(testCtx(t), partitions, 1, configs, name)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return r
}

func TestAdminCreateTopics(t *testing.T) {
	ts := startServer(t, "")
	adm := adminClient(t, ts)
	ctx := testCtx(t)
	createTopic(t, adm, "a_b", 1, nil)
	str := kadm.StringPtr

	f := func(name string, partitions int32, rf int16, configs map[string]*string, want error, msgHas string) {
		t.Helper()
		rs, err := adm.CreateTopics(ctx, partitions, rf, configs, name)
		if err != nil {
			t.Fatalf("CreateTopics(%q): %v", name, err)
		}
		r := rs[name]
		wantErr(t, "create "+name, r.Err, want)
		if !strings.Contains(r.ErrMessage, msgHas) {
			t.Fatalf("create %q: message %q lacks %q", name, r.ErrMessage, msgHas)
		}
	}
	f("orders", 3, 1, map[string]*string{"retention.ms": str("1000")}, nil, "")
	f("defaults", -1, -1, nil, nil, "")
	f("orders", 3, 1, nil, kerr.TopicAlreadyExists, "already exists")
	f("bad name", 1, 1, nil, kerr.InvalidTopicException, "")
	f("..", 1, 1, nil, kerr.InvalidTopicException, "")
	f(strings.Repeat("x", 250), 1, 1, nil, kerr.InvalidTopicException, "")
	f("a.b", 1, 1, nil, kerr.InvalidTopicException, "collides")
	f("rf3", 1, 3, nil, kerr.InvalidReplicationFactor, "only 1 broker")
	f("rf0", 1, 0, nil, kerr.InvalidReplicationFactor, "")
	f("p0", 0, 1, nil, kerr.InvalidPartitions, "")
	f("badvalue", 1, 1, map[string]*string{"retention.ms": str("abc")}, kerr.InvalidConfig, "abc for configuration retention.ms")
	f("badrange", 1, 1, map[string]*string{"segment.bytes": str("1")}, kerr.InvalidConfig, "segment.bytes")
	f("badindex", 1, 1, map[string]*string{"segment.index.bytes": str("10")}, kerr.InvalidConfig, "segment.index.bytes")
	f("unknownkey", 1, 1, map[string]*string{"no.such.config": str("1")}, kerr.InvalidConfig, "no.such.config")
	f("nullvalue", 1, 1, map[string]*string{"retention.ms": nil}, kerr.InvalidConfig, "retention.ms")
	f("badpolicy", 1, 1, map[string]*string{"cleanup.policy": str("shred")}, kerr.InvalidConfig, "cleanup.policy")
	f("badratio", 1, 1, map[string]*string{"min.cleanable.dirty.ratio": str("1.5")}, kerr.InvalidConfig, "min.cleanable.dirty.ratio")

	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int{"orders": 3, "defaults": 1, "a_b": 1} {
		if got := len(topics[name].Partitions); got != want {
			t.Errorf("%s has %d partitions, want %d", name, got, want)
		}
	}
	for _, name := range []string{"bad name", "rf3", "badvalue", "badpolicy", "badratio"} {
		if topics.Has(name) {
			t.Errorf("%q exists after a failed create", name)
		}
	}
	if got := ts.store.Get("orders", 2).Config().RetentionMs; got != 1000 {
		t.Errorf("orders-2 retention.ms %d, want 1000", got)
	}
}

func TestAdminCreateTopicsResponse(t *testing.T) {
	ts := startServer(t, "")
	adm := adminClient(t, ts)
	ctx := testCtx(t)

	rs, err := adm.ValidateCreateTopics(ctx, 2, 1, map[string]*string{"retention.bytes": kadm.StringPtr("4096")}, "dry")
	if err != nil || rs["dry"].Err != nil {
		t.Fatalf("validate-only create: %v %v", err, rs["dry"].Err)
	}
	if topics, _ := adm.ListTopics(ctx); topics.Has("dry") {
		t.Fatal("validate-only create created the topic")
	}
	r := createTopic(t, adm, "wet", 2, map[string]*string{"retention.bytes": kadm.StringPtr("4096")})
	if r.ID == (kadm.TopicID{}) || r.NumPartitions != 2 || r.ReplicationFactor != 1 {
		t.Fatalf("create response: id %v, %d partitions, rf %d", r.ID, r.NumPartitions, r.ReplicationFactor)
	}
	rb, rm := r.Configs["retention.bytes"], r.Configs["retention.ms"]
	if rb.MaybeValue() != "4096" || rb.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("retention.bytes %q from %v", rb.MaybeValue(), rb.Source)
	}
	if rm.MaybeValue() != "604800000" || rm.Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("retention.ms %q from %v", rm.MaybeValue(), rm.Source)
	}
	if len(r.Configs) != len(topicConfigDefs) {
		t.Errorf("%d configs returned, want %d", len(r.Configs), len(topicConfigDefs))
	}
}

func TestAdminCreateTopicsAssignment(t *testing.T) {
	ts := startServer(t, "")
	cl := newKgo(t, ts.addr)
	ctx := testCtx(t)
	assign := func(lists ...[]int32) []kmsg.CreateTopicsRequestTopicReplicaAssignment {
		var out []kmsg.CreateTopicsRequestTopicReplicaAssignment
		for i, l := range lists {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = int32(i), l
			out = append(out, a)
		}
		return out
	}
	f := func(name string, n int32, rf int16, as []kmsg.CreateTopicsRequestTopicReplicaAssignment, want error, wantPartitions int32) {
		t.Helper()
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor, rt.ReplicaAssignment = name, n, rf, as
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		st := resp.Topics[0]
		wantErr(t, name, kerr.ErrorForCode(st.ErrorCode), want)
		if want == nil && st.NumPartitions != wantPartitions {
			t.Fatalf("%s: %d partitions, want %d", name, st.NumPartitions, wantPartitions)
		}
	}
	f("two", -1, -1, assign([]int32{1}, []int32{1}), nil, 2)
	f("other-broker", -1, -1, assign([]int32{2}), kerr.InvalidReplicaAssignment, 0)
	f("twice", -1, -1, assign([]int32{1, 1}), kerr.InvalidReplicaAssignment, 0)
	f("empty", -1, -1, assign([]int32{}), kerr.InvalidReplicaAssignment, 0)
	f("both", 2, -1, assign([]int32{1}), kerr.InvalidRequest, 0)
	gap := assign([]int32{1}, []int32{1})
	gap[1].Partition = 5
	f("gap", -1, -1, gap, kerr.InvalidReplicaAssignment, 0)

	req := kmsg.NewPtrCreateTopicsRequest()
	for range 2 {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "dup", 1, 1
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("duplicate names: %+v", resp.Topics)
	}
}

// TestAdminCreateTopicsVersions creates a topic at every version served.
func TestAdminCreateTopicsVersions(t *testing.T) {
	ts := startServer(t, "")
	ctx := testCtx(t)
	for v := int16(0); v <= 7; v++ {
		cl := pinned(t, ts, 19, v)
		name := "v" + strconv.Itoa(int(v))
		r, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, name)
		if err != nil || r.Err != nil {
			t.Fatalf("v%d: %v %v", v, err, r.Err)
		}
		if ts.Broker().topics.get(name) == nil {
			t.Fatalf("v%d: topic not created", v)
		}
		if v >= 7 && r.ID == (kadm.TopicID{}) {
			t.Fatalf("v%d: no topic id", v)
		}
	}
}

func TestAdminCreatePartitions(t *testing.T) {
	ts := startServer(t, "")
	adm := adminClient(t, ts)
	cl := newKgo(t, ts.addr)
	ctx := testCtx(t)
	createTopic(t, adm, "grow", 1, map[string]*string{"retention.bytes": kadm.StringPtr("8192")})

	f := func(count int32, validateOnly bool, as [][]int32, want error, wantNow int) {
		t.Helper()
		req := kmsg.NewPtrCreatePartitionsRequest()
		req.ValidateOnly = validateOnly
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = "grow", count
		for _, l := range as {
			a := kmsg.NewCreatePartitionsRequestTopicAssignment()
			a.Replicas = l
			rt.Assignment = append(rt.Assignment, a)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, "create partitions", kerr.ErrorForCode(resp.Topics[0].ErrorCode), want)
		if got := len(ts.Broker().topics.get("grow").partitions); got != wantNow {
			t.Fatalf("count %d: topic has %d partitions, want %d", count, got, wantNow)
		}
	}
	f(3, false, nil, nil, 3)
	f(2, false, nil, kerr.InvalidPartitions, 3)
	f(3, false, nil, kerr.InvalidPartitions, 3)
	f(5, true, nil, nil, 3)
	f(5, false, [][]int32{{1}}, kerr.InvalidReplicaAssignment, 3)
	f(5, false, [][]int32{{1}, {2}}, kerr.InvalidReplicaAssignment, 3)
	f(5, false, [][]int32{{1}, {1}}, nil, 5)
	f(maxPartitions+1, false, nil, kerr.InvalidPartitions, 5)

	if got := ts.store.Get("grow", 4).Config().RetentionBytes; got != 8192 {
		t.Errorf("new partition retention.bytes %d, want the topic's 8192", got)
	}
	rs, err := adm.UpdatePartitions(ctx, 6, "grow")
	if err != nil || rs["grow"].Err != nil {
		t.Fatalf("UpdatePartitions: %v %v", err, rs["grow"].Err)
	}
	rs, err = adm.UpdatePartitions(ctx, 2, "grow")
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "shrink", rs["grow"].Err, kerr.InvalidPartitions)

	req := kmsg.NewPtrCreatePartitionsRequest()
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = "nope", 2
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "unknown topic", kerr.ErrorForCode(resp.Topics[0].ErrorCode), kerr.UnknownTopicOrPartition)
}

// describeTopicConfig returns one config of a topic as DescribeConfigs
// reports it.
func describeTopicConfig(t *testing.T, adm *kadm.Client, topic, key string) kadm.Config {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(testCtx(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe %s: %v %v", topic, err, rc.Err)
	}
	for _, c := range rc.Configs {
		if c.Key == key {
			return c
		}
	}
	t.Fatalf("describe %s: no %s", topic, key)
	return kadm.Config{}
}

func TestAdminDescribeConfigs(t *testing.T) {
	ts := startServer(t, "")
	adm := adminClient(t, ts)
	ctx := testCtx(t)
	createTopic(t, adm, "cfg", 1, map[string]*string{"retention.ms": kadm.StringPtr("5000")})

	rcs, err := adm.DescribeTopicConfigs(ctx, "cfg")
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := rcs.On("cfg", nil)
	if len(rc.Configs) != len(topicConfigDefs) {
		t.Fatalf("%d topic configs described, want %d", len(rc.Configs), len(topicConfigDefs))
	}
	f := func(key, value string, source kmsg.ConfigSource, synonyms int) {
		t.Helper()
		c := describeTopicConfig(t, adm, "cfg", key)
		if c.MaybeValue() != value || c.Source != source || c.Sensitive || len(c.Synonyms) != synonyms {
			t.Fatalf("%s: %q from %v, %d synonyms; want %q from %v, %d synonyms",
				key, c.MaybeValue(), c.Source, len(c.Synonyms), value, source, synonyms)
		}
	}
	f("retention.ms", "5000", kmsg.ConfigSourceDynamicTopicConfig, 2)
	f("retention.bytes", "-1", kmsg.ConfigSourceDefaultConfig, 1)
	f("cleanup.policy", "delete", kmsg.ConfigSourceDefaultConfig, 1)
	f("message.timestamp.type", "CreateTime", kmsg.ConfigSourceDefaultConfig, 1)
	f("segment.bytes", "1073741824", kmsg.ConfigSourceDefaultConfig, 1)

	rcs, err = adm.DescribeTopicConfigs(ctx, "missing")
	if err != nil {
		t.Fatal(err)
	}
	rc, _ = rcs.On("missing", nil)
	wantErr(t, "describe missing", rc.Err, kerr.UnknownTopicOrPartition)
}

func TestAdminDescribeConfigsRaw(t *testing.T) {
	ts := startServer(t, "")
	createTopic(t, adminClient(t, ts), "raw", 1, nil)
	ctx := testCtx(t)
	rc := dialRaw(t, ts.addr)
	describe := func(typ kmsg.ConfigResourceType, name string, names []string) kmsg.DescribeConfigsResponseResource {
		t.Helper()
		req := kmsg.NewPtrDescribeConfigsRequest()
		req.Version = 4
		req.IncludeDocumentation, req.IncludeSynonyms = true, true
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName, rr.ConfigNames = typ, name, names
		req.Resources = append(req.Resources, rr)
		return rc.roundTrip(req).(*kmsg.DescribeConfigsResponse).Resources[0]
	}
	r := describe(kmsg.ConfigResourceTypeTopic, "raw", []string{"segment.ms", "no.such"})
	if len(r.Configs) != 1 || r.Configs[0].Name != "segment.ms" || r.Configs[0].ConfigType != kmsg.ConfigTypeLong ||
		r.Configs[0].Documentation == nil || *r.Configs[0].Documentation == "" || r.Configs[0].ReadOnly {
		t.Fatalf("filtered topic describe: %+v", r.Configs)
	}
	r = describe(kmsg.ConfigResourceTypeBroker, "1", nil)
	got := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
	for _, c := range r.Configs {
		if dynamic := dynamicTopicSynonym(c.Name) != nil || isThrottleRate(c.Name); c.ReadOnly == dynamic {
			t.Errorf("broker config %s: read-only %v, dynamic %v", c.Name, c.ReadOnly, dynamic)
		}
		got[c.Name] = c
	}
	abs, _ := filepath.Abs(ts.dir)
	for name, want := range map[string]string{
		"node.id": "1", "log.dirs": abs, "num.partitions": "1", "auto.create.topics.enable": "true",
		"log.retention.ms": "604800000", "log.segment.bytes": "1073741824", "message.max.bytes": "1048588",
		"advertised.listeners": "PLAINTEXT://" + ts.addr,
	} {
		if c, ok := got[name]; !ok || c.Value == nil || *c.Value != want {
			t.Errorf("broker config %s = %v, want %q", name, c.Value, want)
		}
	}
	if s := got["log.dirs"].Source; s != kmsg.ConfigSourceStaticBrokerConfig {
		t.Errorf("log.dirs source %v", s)
	}
	wantCode := func(what string, r kmsg.DescribeConfigsResponseResource, want error) {
		t.Helper()
		wantErr(t, what, kerr.ErrorForCode(r.ErrorCode), want)
	}
	r = describe(kmsg.ConfigResourceTypeBroker, "", nil)
	wantCode("cluster default", r, nil)
	if len(r.Configs) != 0 {
		t.Errorf("cluster-wide dynamic defaults: %d configs", len(r.Configs))
	}
	wantCode("other broker", describe(kmsg.ConfigResourceTypeBroker, "2", nil), kerr.InvalidRequest)
	wantCode("non-numeric broker", describe(kmsg.ConfigResourceTypeBroker, "x", nil), kerr.InvalidRequest)
	wantCode("bad topic name", describe(kmsg.ConfigResourceTypeTopic, "a b", nil), kerr.InvalidTopicException)
	wantCode("group resource", describe(kmsg.ConfigResourceTypeBrokerLogger, "1", nil), kerr.InvalidRequest)

	for v := int16(0); v <= 4; v++ { // every version decodes
		rcs, err := kadm.NewClient(pinned(t, ts, 32, v)).DescribeTopicConfigs(ctx, "raw")
		if err != nil || rcs[0].Err != nil || len(rcs[0].Configs) != len(topicConfigDefs) {
			t.Fatalf("v%d: %v %+v", v, err, rcs)
		}
	}
}

func TestAdminAlterConfigs(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir)
	adm := adminClient(t, ts)
	ctx := testCtx(t)
	createTopic(t, adm, "alt", 2, nil)

	incr := func(validate bool, want error, ops ...kadm.AlterConfig) {
		t.Helper()
		alter := adm.AlterTopicConfigs
		if validate {
			alter = adm.ValidateAlterTopicConfigs
		}
		rs, err := alter(ctx, ops, "alt")
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, "incremental alter", rs[0].Err, want)
	}
	set := func(k, v string) kadm.AlterConfig { return kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: &v} }
	op := func(o kadm.IncrementalOp, k, v string) kadm.AlterConfig {
		return kadm.AlterConfig{Op: o, Name: k, Value: &v}
	}
	incr(false, nil, set("retention.bytes", "1048576"), set("segment.ms", "60000"))
	if got := ts.store.Get("alt", 1).Config().RetentionBytes; got != 1048576 {
		t.Fatalf("live retention.bytes %d, want 1048576", got)
	}
	if c := describeTopicConfig(t, adm, "alt", "retention.bytes"); c.MaybeValue() != "1048576" ||
		c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("described retention.bytes %q from %v", c.MaybeValue(), c.Source)
	}
	incr(true, nil, set("retention.bytes", "5"))
	incr(false, kerr.InvalidConfig, set("retention.bytes", "lots"))
	incr(false, kerr.InvalidConfig, set("no.such.config", "1"))
	incr(false, kerr.InvalidConfig, op(kadm.AppendConfig, "retention.ms", "1"))
	incr(true, nil, op(kadm.AppendConfig, "cleanup.policy", "compact"))
	incr(false, kerr.InvalidConfig, op(kadm.AppendConfig, "cleanup.policy", "shred"))
	incr(false, kerr.InvalidConfig, op(kadm.SubtractConfig, "cleanup.policy", "delete"))
	incr(false, nil, op(kadm.AppendConfig, "cleanup.policy", "delete")) // already there: no change
	incr(false, kerr.InvalidRequest, set("segment.ms", "1"), set("segment.ms", "2"))
	if got := ts.store.Get("alt", 0).Config().RetentionBytes; got != 1048576 {
		t.Fatalf("a refused or validate-only alter changed retention.bytes to %d", got)
	}
	incr(false, nil, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "segment.ms"})
	if c := describeTopicConfig(t, adm, "alt", "segment.ms"); c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("segment.ms after delete: %q from %v", c.MaybeValue(), c.Source)
	}

	ts.stop(t) // the override survives a restart and reaches the new logs
	ts = startServer(t, dir)
	adm = adminClient(t, ts)
	if c := describeTopicConfig(t, adm, "alt", "retention.bytes"); c.MaybeValue() != "1048576" {
		t.Fatalf("retention.bytes after restart %q", c.MaybeValue())
	}
	if got := ts.store.Get("alt", 1).Config().RetentionBytes; got != 1048576 {
		t.Fatalf("live retention.bytes after restart %d", got)
	}

	// Legacy AlterConfigs replaces the whole override set.
	rs, err := adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{set("max.message.bytes", "2048")}, "alt")
	if err != nil || rs[0].Err != nil {
		t.Fatalf("AlterConfigs: %v %+v", err, rs)
	}
	if c := describeTopicConfig(t, adm, "alt", "retention.bytes"); c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("retention.bytes kept by a replacing alter: %q from %v", c.MaybeValue(), c.Source)
	}
	cfg := ts.store.Get("alt", 0).Config()
	if cfg.MaxMessageBytes != 2048 || cfg.RetentionBytes != -1 {
		t.Fatalf("live config after replace: max.message.bytes %d, retention.bytes %d", cfg.MaxMessageBytes, cfg.RetentionBytes)
	}
	rs, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{set("segment.bytes", "x")}, "alt")
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "legacy bad value", rs[0].Err, kerr.InvalidConfig)
	rs, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{set("segment.bytes", "1000")}, "missing")
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "legacy unknown topic", rs[0].Err, kerr.UnknownTopicOrPartition)
}

func TestAdminAlterBrokerConfigs(t *testing.T) {
	ts := startServer(t, "")
	adm := adminClient(t, ts)
	ctx := testCtx(t)
	v := "1000"
	ops := []kadm.AlterConfig{{Name: "log.dirs", Value: &v}}
	rs, err := adm.AlterBrokerConfigs(ctx, ops, 1)
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "incremental broker alter", rs[0].Err, kerr.InvalidRequest)
	if !strings.Contains(rs[0].ErrMessage, "Cannot update these configs dynamically: Set(log.dirs)") {
		t.Errorf("message %q", rs[0].ErrMessage)
	}
	rs, err = adm.AlterBrokerConfigsState(ctx, ops, 1)
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "legacy broker alter", rs[0].Err, kerr.InvalidRequest)
}

func TestAdminDescribeCluster(t *testing.T) {
	ts := startServer(t, "")
	ctx := testCtx(t)
	for v := int16(0); v <= 1; v++ {
		req := kmsg.NewPtrDescribeClusterRequest()
		req.EndpointType = endpointBrokers
		resp, err := req.RequestWith(ctx, pinned(t, ts, 60, v))
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != 0 || resp.ClusterID != ts.Broker().ClusterID() || resp.ControllerID != 1 ||
			len(resp.Brokers) != 1 || resp.Brokers[0].Host != "127.0.0.1" ||
			int(resp.Brokers[0].Port) != ts.Addr().(*net.TCPAddr).Port ||
			resp.ClusterAuthorizedOperations != authOpsNotComputed {
			t.Fatalf("v%d: %+v", v, resp)
		}
		if v >= 1 && resp.EndpointType != endpointBrokers {
			t.Fatalf("v%d: endpoint type %d", v, resp.EndpointType)
		}
	}
	req := kmsg.NewPtrDescribeClusterRequest()
	req.EndpointType = endpointControllers
	resp, err := req.RequestWith(ctx, newKgo(t, ts.addr))
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "controllers endpoint", kerr.ErrorForCode(resp.ErrorCode), kerr.UnsupportedEndpointType)
}

// produce writes n records to topic's partition 0.
func produce(t *testing.T, ts *testServer, topic string, n int) {
	t.Helper()
	cl := newKgo(t, ts.addr, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := range n {
		r := &kgo.Record{Value: []byte("value-" + strconv.Itoa(i)), Partition: 0}
		if err := cl.ProduceSync(testCtx(t), r).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
}

func TestAdminDescribeLogDirs(t *testing.T) {
	ts := startServer(t, "")
	adm := adminClient(t, ts)
	ctx := testCtx(t)
	createTopic(t, adm, "sized", 2, nil)
	createTopic(t, adm, "other", 1, nil)

	size := func(set kadm.TopicsSet, topic string, p int32) int64 {
		t.Helper()
		dirs, err := adm.DescribeBrokerLogDirs(ctx, 1, set)
		if err != nil {
			t.Fatal(err)
		}
		abs, _ := filepath.Abs(ts.dir)
		d, ok := dirs[abs]
		if !ok || len(dirs) != 1 || d.Err != nil {
			t.Fatalf("dirs %+v, want one: %s", dirs, abs)
		}
		if d.TotalBytes <= 0 || d.UsableBytes < 0 || d.UsableBytes > d.TotalBytes {
			t.Fatalf("total %d usable %d", d.TotalBytes, d.UsableBytes)
		}
		if set != nil && len(d.Topics) != len(set) {
			t.Fatalf("asked for %d topics, got %d", len(set), len(d.Topics))
		}
		dp, ok := d.Topics.Lookup(topic, p)
		if !ok {
			t.Fatalf("%s-%d not described", topic, p)
		}
		return dp.Size
	}
	before := size(nil, "sized", 0)
	produce(t, ts, "sized", 20)
	after := size(kadm.TopicsSet{"sized": {0: {}}}, "sized", 0)
	if after <= before {
		t.Fatalf("size %d after producing, %d before", after, before)
	}
	if got := size(nil, "other", 0); got != before {
		t.Fatalf("untouched partition size %d, want %d", got, before)
	}
	for v := int16(0); v <= 4; v++ {
		dirs, err := kadm.NewClient(pinned(t, ts, 35, v)).DescribeBrokerLogDirs(ctx, 1, nil)
		if err != nil || len(dirs) != 1 {
			t.Fatalf("v%d: %v %+v", v, err, dirs)
		}
	}
}

func TestAdminDeleteRecords(t *testing.T) {
	ts := startServer(t, "")
	adm := adminClient(t, ts)
	rc := dialRaw(t, ts.addr)
	ctx := testCtx(t)
	createTopic(t, adm, "trim", 1, nil)
	produce(t, ts, "trim", 10)

	version := int16(2)
	f := func(topic string, p int32, offset int64, want error, wantLow int64) {
		t.Helper()
		req := kmsg.NewPtrDeleteRecordsRequest()
		req.Version = version
		rt := kmsg.NewDeleteRecordsRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rp.Partition, rp.Offset = p, offset
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := rc.roundTrip(req).(*kmsg.DeleteRecordsResponse)
		sp := resp.Topics[0].Partitions[0]
		wantErr(t, "delete records", kerr.ErrorForCode(sp.ErrorCode), want)
		if sp.LowWatermark != wantLow {
			t.Fatalf("delete before %d: low watermark %d, want %d", offset, sp.LowWatermark, wantLow)
		}
	}
	f("trim", 0, 4, nil, 4)
	f("trim", 0, 2, nil, 4) // below the start: no change
	f("trim", 0, 11, kerr.OffsetOutOfRange, -1)
	f("trim", 0, -2, kerr.OffsetOutOfRange, -1)
	f("trim", 1, 0, kerr.UnknownTopicOrPartition, -1)
	f("nope", 0, 0, kerr.UnknownTopicOrPartition, -1)

	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "trim", Partition: 0, At: 7})
	rs, err := adm.DeleteRecords(ctx, os)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := rs.Lookup("trim", 0); r.Err != nil || r.LowWatermark != 7 {
		t.Fatalf("kadm DeleteRecords: %+v", r)
	}
	starts, err := adm.ListStartOffsets(ctx, "trim")
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := starts.Lookup("trim", 0); s.Offset != 7 {
		t.Fatalf("ListStartOffsets %d, want 7", s.Offset)
	}
	for version = range int16(3) { // every version
		f("trim", 0, 7, nil, 7)
	}
	f("trim", 0, -1, nil, 10) // the high watermark
	if got := ts.store.Get("trim", 0).LogStartOffset(); got != 10 {
		t.Fatalf("log start %d, want 10", got)
	}
}

func TestAdminDeleteTopics(t *testing.T) {
	ts := startServer(t, "")
	adm := adminClient(t, ts)
	ctx := testCtx(t)
	createTopic(t, adm, "byname", 2, map[string]*string{"retention.ms": kadm.StringPtr("1000")})
	byID := createTopic(t, adm, "byid", 1, nil)
	if _, err := ts.Broker().topics.createTopic("__consumer_offsets", 1, nil); err != nil {
		t.Fatal(err)
	}

	rs, err := adm.DeleteTopics(ctx, "byname", "missing", "__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "delete byname", rs["byname"].Err, nil)
	wantErr(t, "delete missing", rs["missing"].Err, kerr.UnknownTopicOrPartition)
	wantErr(t, "delete internal", rs["__consumer_offsets"].Err, kerr.TopicDeletionDisabled)
	if ts.Broker().topics.get("byname") != nil || ts.store.Get("byname", 0) != nil {
		t.Fatal("byname still exists")
	}

	del := func(name *string, id [16]byte, v int16) kmsg.DeleteTopicsResponseTopic {
		t.Helper()
		req := kmsg.NewPtrDeleteTopicsRequest()
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.Topic, rt.TopicID = name, id
		req.Topics = append(req.Topics, rt)
		if name != nil {
			req.TopicNames = append(req.TopicNames, *name)
		}
		resp, err := req.RequestWith(ctx, pinned(t, ts, 20, v))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0]
	}
	r := del(nil, [16]byte{1}, 6)
	wantErr(t, "unknown id", kerr.ErrorForCode(r.ErrorCode), kerr.UnknownTopicID)
	r = del(kmsg.StringPtr("byid"), byID.ID, 6)
	wantErr(t, "name and id", kerr.ErrorForCode(r.ErrorCode), kerr.InvalidRequest)
	r = del(nil, byID.ID, 6)
	wantErr(t, "by id", kerr.ErrorForCode(r.ErrorCode), nil)
	if r.Topic == nil || *r.Topic != "byid" || ts.Broker().topics.get("byid") != nil {
		t.Fatalf("delete by id: %+v", r)
	}
	r = del(kmsg.StringPtr("__consumer_offsets"), [16]byte{}, 2)
	wantErr(t, "internal v2", kerr.ErrorForCode(r.ErrorCode), kerr.InvalidRequest)

	for v := int16(0); v <= 6; v++ { // every version deletes by name
		name := "gone" + strconv.Itoa(int(v))
		createTopic(t, adm, name, 1, nil)
		r := del(kmsg.StringPtr(name), [16]byte{}, v)
		wantErr(t, name, kerr.ErrorForCode(r.ErrorCode), nil)
		if ts.Broker().topics.get(name) != nil {
			t.Fatalf("v%d: %s still exists", v, name)
		}
	}
}

// TestAdminConcurrentIncrementalAlters checks that concurrent alters of
// different keys of one topic all land.
func TestAdminConcurrentIncrementalAlters(t *testing.T) {
	ts := startServer(t, "")
	adm := adminClient(t, ts)
	ctx := testCtx(t)
	createTopic(t, adm, "race", 1, nil)
	keys := []string{"retention.ms", "retention.bytes", "segment.ms", "max.message.bytes"}
	var wg sync.WaitGroup
	for _, k := range keys {
		wg.Go(func() {
			v := "123456"
			rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: k, Value: &v}}, "race")
			if err != nil || rs[0].Err != nil {
				t.Errorf("alter %s: %v %+v", k, err, rs)
			}
		})
	}
	wg.Wait()
	for _, k := range keys {
		if c := describeTopicConfig(t, adm, "race", k); c.MaybeValue() != "123456" {
			t.Errorf("%s = %q after concurrent alters", k, c.MaybeValue())
		}
	}
}

// TestTopicConfigDefaultsRoundTrip keeps topicconfig.go's table sorted and
// its defaults consistent: each is valid, and rendering partition's default
// and parsing it back gives the default.
func TestTopicConfigDefaultsRoundTrip(t *testing.T) {
	for i, d := range topicConfigDefs {
		if i > 0 && topicConfigDefs[i-1].name >= d.name {
			t.Errorf("topicConfigDefs not sorted at %s", d.name)
		}
		c := partition.DefaultConfig()
		if err := d.set(&c, d.dflt); err != nil || c != partition.DefaultConfig() {
			t.Errorf("%s: Kafka default %q does not round-trip: %v", d.name, d.dflt, err)
		}
		if d.value != nil && d.value(partition.DefaultConfig()) != d.dflt {
			t.Errorf("%s: partition default renders %q, Kafka's is %q", d.name, d.value(partition.DefaultConfig()), d.dflt)
		}
	}
}

func TestEditList(t *testing.T) {
	f := func(current, value string, add bool, want string) {
		t.Helper()
		if got := editList(current, &value, add); got != want {
			t.Fatalf("editList(%q, %q, %v) = %q, want %q", current, value, add, got, want)
		}
	}
	f("delete", "compact", true, "delete,compact")
	f("delete", "delete", true, "delete")
	f("delete,compact", "delete", false, "compact")
	f("delete", "compact", false, "delete")
	f("", "a, b", true, "a,b")
	f("a,b,a", "a", false, "b")
}
