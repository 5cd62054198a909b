package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// alterVia sends one IncrementalAlterConfigs resource to addr and returns
// its error.
func alterVia(addr string, typ kmsg.ConfigResourceType, name string, ops ...kmsg.IncrementalAlterConfigsRequestResourceConfig) error {
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.Version = 1
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName, rr.Configs = typ, name, ops
	req.Resources = append(req.Resources, rr)
	r, err := request(addr, req)
	if err != nil {
		return err
	}
	res := r.(*kmsg.IncrementalAlterConfigsResponse).Resources
	if len(res) != 1 {
		return fmt.Errorf("%d resources answered", len(res))
	}
	if err := kerr.ErrorForCode(res[0].ErrorCode); err != nil {
		msg := ""
		if res[0].ErrorMessage != nil {
			msg = *res[0].ErrorMessage
		}
		return fmt.Errorf("%w: %s", err, msg)
	}
	return nil
}

func op(o kmsg.IncrementalAlterConfigOp, name, value string) kmsg.IncrementalAlterConfigsRequestResourceConfig {
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Op, c.Name = o, name
	if o != kmsg.IncrementalAlterConfigOpDelete {
		c.Value = &value
	}
	return c
}

// describedAt is one config of a topic as addr describes it: "value/source".
func describedAt(addr, topic, key string) string {
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.Version = 4
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName, rr.ConfigNames = kmsg.ConfigResourceTypeTopic, topic, []string{key}
	req.Resources = append(req.Resources, rr)
	r, err := request(addr, req)
	if err != nil {
		return err.Error()
	}
	res := r.(*kmsg.DescribeConfigsResponse).Resources
	if len(res) != 1 || res[0].ErrorCode != 0 || len(res[0].Configs) != 1 {
		return fmt.Sprintf("bad answer %+v", res)
	}
	c := res[0].Configs[0]
	v := "null"
	if c.Value != nil {
		v = *c.Value
	}
	return v + "/" + c.Source.String()
}

// everywhere polls until every node describes topic's key as want.
func everywhere(t *testing.T, addrs []string, topic, key, want string) {
	t.Helper()
	for _, a := range addrs {
		got := describedAt(a, topic, key)
		for deadline := time.Now().Add(15 * time.Second); got != want && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond) // polling DescribeConfigs, bounded by the deadline
			got = describedAt(a, topic, key)
		}
		if got != want {
			t.Fatalf("node at %s describes %s %s as %q, want %q", a, topic, key, got, want)
		}
	}
}

// produceTo produces one value of n bytes to topic's partition p.
func produceTo(ctx context.Context, cl *kgo.Client, topic string, p int32, n int) error {
	return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: p, Key: []byte("k"), Value: make([]byte, n)}).FirstErr()
}

// Configs are metadata records: an IncrementalAlterConfigs through broker
// 1 shows on brokers 2 and 3 and takes effect there (max.message.bytes on
// a partition broker 3 leads), a delete restores the default everywhere,
// a cluster-wide broker default applies to topics without an override on
// every broker, and all of it survives a restart of the three nodes.
func TestThreeNodeConfigs(t *testing.T) {
	nodes, addrs := threeNodes(t)
	defer func() {
		for _, n := range nodes {
			n.stop()
		}
	}()
	// Changes through a node that does not lead the quorum are forwarded.
	follower := addrs[0]
	if leader := agreed(t, addrs, 20*time.Second, allThree); leader == 1 {
		follower = addrs[1]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequestRetries(20), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for _, topic := range []string{"cfg", "plain"} {
		if res, err := adm.CreateTopic(ctx, 3, 3, nil, topic); err != nil || res.Err != nil {
			t.Fatalf("create %s: %v %v", topic, err, res.Err)
		}
	}
	ledBy3 := func(topic string) int32 {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			ls, err := leadersOf(addrs[2], topic)
			if err != nil {
				continue
			}
			for p, l := range ls {
				if l == 3 {
					return int32(p)
				}
			}
		}
		t.Fatalf("no partition of %s led by broker 3", topic)
		return -1
	}
	p3 := ledBy3("cfg")

	set, del, app := kmsg.IncrementalAlterConfigOpSet, kmsg.IncrementalAlterConfigOpDelete, kmsg.IncrementalAlterConfigOpAppend
	if err := alterVia(addrs[0], kmsg.ConfigResourceTypeTopic, "cfg",
		op(set, "retention.ms", "3600000"), op(app, "cleanup.policy", "compact"), op(set, "max.message.bytes", "1000")); err != nil {
		t.Fatalf("alter through broker 1: %v", err)
	}
	everywhere(t, addrs, "cfg", "retention.ms", "3600000/DYNAMIC_TOPIC_CONFIG")
	everywhere(t, addrs, "cfg", "cleanup.policy", "delete,compact/DYNAMIC_TOPIC_CONFIG")
	everywhere(t, addrs, "cfg", "max.message.bytes", "1000/DYNAMIC_TOPIC_CONFIG")
	if err := produceTo(ctx, cl, "cfg", p3, 2000); !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("produce of 2000 bytes to cfg/%d (broker 3) = %v, want MESSAGE_TOO_LARGE", p3, err)
	}
	// min.insync.replicas above the replication factor: acks=all to the
	// partition broker 3 leads answers NOT_ENOUGH_REPLICAS.
	if err := alterVia(addrs[0], kmsg.ConfigResourceTypeTopic, "cfg", op(set, "min.insync.replicas", "4")); err != nil {
		t.Fatal(err)
	}
	everywhere(t, addrs, "cfg", "min.insync.replicas", "4/DYNAMIC_TOPIC_CONFIG")
	once, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RecordRetries(1))
	if err != nil {
		t.Fatal(err)
	}
	defer once.Close()
	if err := produceTo(ctx, once, "cfg", p3, 10); !errors.Is(err, kerr.NotEnoughReplicas) {
		t.Fatalf("acks=all produce with min.insync.replicas=4 = %v, want NOT_ENOUGH_REPLICAS", err)
	}
	if err := alterVia(addrs[0], kmsg.ConfigResourceTypeTopic, "cfg", op(del, "min.insync.replicas", "")); err != nil {
		t.Fatal(err)
	}
	everywhere(t, addrs, "cfg", "min.insync.replicas", "1/DEFAULT_CONFIG")

	// A validation error and validate-only change nothing.
	vreq := kmsg.NewPtrIncrementalAlterConfigsRequest()
	vreq.Version, vreq.ValidateOnly = 1, true
	vr := kmsg.NewIncrementalAlterConfigsRequestResource()
	vr.ResourceType, vr.ResourceName = kmsg.ConfigResourceTypeTopic, "cfg"
	vr.Configs = append(vr.Configs, op(set, "retention.ms", "1"))
	vreq.Resources = append(vreq.Resources, vr)
	if r, err := request(follower, vreq); err != nil || r.(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode != 0 {
		t.Fatalf("validate only: %v %+v", err, r)
	}
	if err := alterVia(follower, kmsg.ConfigResourceTypeTopic, "cfg", op(set, "retention.ms", "x")); !errors.Is(err, kerr.InvalidConfig) {
		t.Fatalf("invalid retention.ms: %v, want INVALID_CONFIG", err)
	}

	// Deleting the override restores the default everywhere.
	everywhere(t, addrs, "cfg", "retention.ms", "3600000/DYNAMIC_TOPIC_CONFIG")
	if err := alterVia(follower, kmsg.ConfigResourceTypeTopic, "cfg", op(del, "max.message.bytes", "")); err != nil {
		t.Fatal(err)
	}
	everywhere(t, addrs, "cfg", "max.message.bytes", "1048588/DEFAULT_CONFIG")
	if err := produceTo(ctx, cl, "cfg", p3, 2000); err != nil {
		t.Fatalf("produce of 2000 bytes after the delete: %v", err)
	}

	// AlterConfigs (v2) replaces a topic's whole override set.
	replace := func(configs map[string]string) {
		t.Helper()
		req := kmsg.NewPtrAlterConfigsRequest()
		req.Version = 2
		rr := kmsg.NewAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "plain"
		for k, v := range configs {
			c := kmsg.NewAlterConfigsRequestResourceConfig()
			c.Name, c.Value = k, &v
			rr.Configs = append(rr.Configs, c)
		}
		req.Resources = append(req.Resources, rr)
		r, err := request(follower, req)
		if err != nil || r.(*kmsg.AlterConfigsResponse).Resources[0].ErrorCode != 0 {
			t.Fatalf("AlterConfigs %v: %v %+v", configs, err, r)
		}
	}
	replace(map[string]string{"retention.ms": "1000"})
	everywhere(t, addrs, "plain", "retention.ms", "1000/DYNAMIC_TOPIC_CONFIG")
	replace(nil)
	everywhere(t, addrs, "plain", "retention.ms", "604800000/DEFAULT_CONFIG")

	// The cluster-wide broker default applies to topics without an
	// override, on every broker.
	if err := alterVia(follower, kmsg.ConfigResourceTypeBroker, "",
		op(set, "log.retention.ms", "7200000"), op(set, "message.max.bytes", "1500")); err != nil {
		t.Fatalf("cluster default: %v", err)
	}
	everywhere(t, addrs, "plain", "retention.ms", "7200000/DYNAMIC_DEFAULT_BROKER_CONFIG")
	everywhere(t, addrs, "cfg", "retention.ms", "3600000/DYNAMIC_TOPIC_CONFIG")
	everywhere(t, addrs, "plain", "max.message.bytes", "1500/DYNAMIC_DEFAULT_BROKER_CONFIG")
	if err := produceTo(ctx, cl, "plain", ledBy3("plain"), 2000); !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("produce of 2000 bytes to plain (broker 3) = %v, want MESSAGE_TOO_LARGE", err)
	}

	// A node's own dynamic config wins over the cluster's, on that node.
	if err := alterVia(addrs[0], kmsg.ConfigResourceTypeBroker, "3", op(set, "log.retention.ms", "5400000")); err != nil {
		t.Fatalf("broker 3's config: %v", err)
	}
	everywhere(t, addrs[2:], "plain", "retention.ms", "5400000/DYNAMIC_BROKER_CONFIG")
	everywhere(t, addrs[:2], "plain", "retention.ms", "7200000/DYNAMIC_DEFAULT_BROKER_CONFIG")

	// Everything survives a restart of all three nodes (same data
	// directories and ports).
	for _, n := range nodes {
		n.stop()
	}
	for i, old := range nodes {
		nodes[i] = startCmd(t, exec.Command(binary, old.cmd.Args[1:]...), old.cmd.Env)
		if nodes[i].addr == "" {
			t.Fatalf("node %d did not restart:\n%s", i+1, nodes[i].stderr)
		}
	}
	agreed(t, addrs, 30*time.Second, allThree)
	everywhere(t, addrs, "cfg", "retention.ms", "3600000/DYNAMIC_TOPIC_CONFIG")
	everywhere(t, addrs, "cfg", "cleanup.policy", "delete,compact/DYNAMIC_TOPIC_CONFIG")
	everywhere(t, addrs, "cfg", "max.message.bytes", "1500/DYNAMIC_DEFAULT_BROKER_CONFIG")
	everywhere(t, addrs[:2], "plain", "retention.ms", "7200000/DYNAMIC_DEFAULT_BROKER_CONFIG")
	everywhere(t, addrs[2:], "plain", "retention.ms", "5400000/DYNAMIC_BROKER_CONFIG")
}

// legacyAlterVia sends one AlterConfigs (v1) TOPIC resource setting
// key=value to addr and returns its error.
func legacyAlterVia(addr, topic, key, value string) error {
	req := kmsg.NewPtrAlterConfigsRequest()
	req.Version = 1
	rr := kmsg.NewAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	c := kmsg.NewAlterConfigsRequestResourceConfig()
	c.Name, c.Value = key, &value
	rr.Configs = append(rr.Configs, c)
	req.Resources = append(req.Resources, rr)
	r, err := request(addr, req)
	if err != nil {
		return err
	}
	res := r.(*kmsg.AlterConfigsResponse).Resources
	if len(res) != 1 {
		return fmt.Errorf("%d resources answered", len(res))
	}
	return kerr.ErrorForCode(res[0].ErrorCode)
}

// A client that creates a topic through the active controller and at once
// alters its configs through another broker succeeds, as with Kafka (whose
// brokers forward the change to the controller): CreateTopics answers once
// the controller committed the topic, before the other broker may have
// applied it. Each round races the other broker's metadata log. A topic
// that exists nowhere still answers UNKNOWN_TOPIC_OR_PARTITION.
func TestThreeNodeCreateThenAlterElsewhere(t *testing.T) {
	nodes, addrs := threeNodes(t)
	defer func() {
		for _, n := range nodes {
			n.stop()
		}
	}()
	leader := agreed(t, addrs, 20*time.Second, allThree)
	ctlAddr, other := addrs[leader-1], addrs[leader%3]
	for i := range 30 {
		topic := fmt.Sprintf("fresh-%d", i)
		if err := createTopic(ctlAddr, topic); err != nil {
			t.Fatalf("create %s: %v", topic, err)
		}
		var err error
		if i%2 == 0 {
			err = alterVia(other, kmsg.ConfigResourceTypeTopic, topic, op(kmsg.IncrementalAlterConfigOpSet, "retention.ms", "3600000"))
		} else {
			err = legacyAlterVia(other, topic, "retention.ms", "3600000")
		}
		if err != nil {
			t.Fatalf("round %d: alter %s through a broker that is not the controller right after creating it: %v", i, topic, err)
		}
	}
	everywhere(t, addrs, "fresh-29", "retention.ms", "3600000/DYNAMIC_TOPIC_CONFIG")
	for _, a := range []string{ctlAddr, other} {
		err := alterVia(a, kmsg.ConfigResourceTypeTopic, "never-created", op(kmsg.IncrementalAlterConfigOpSet, "retention.ms", "1"))
		if !errors.Is(err, kerr.UnknownTopicOrPartition) {
			t.Fatalf("alter of a topic that does not exist through %s: %v, want UNKNOWN_TOPIC_OR_PARTITION", a, err)
		}
		if err := legacyAlterVia(a, "never-created", "retention.ms", "1"); !errors.Is(err, kerr.UnknownTopicOrPartition) {
			t.Fatalf("AlterConfigs of a topic that does not exist through %s: %v, want UNKNOWN_TOPIC_OR_PARTITION", a, err)
		}
	}
}
