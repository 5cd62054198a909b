package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rackNodes starts three combined nodes in racks a, b and c (node 1, 2,
// 3) with env, and waits until they agree.
func rackNodes(t *testing.T, env ...string) (nodes []*proc, addrs []string) {
	t.Helper()
	var voters []string
	var clientPorts []int
	for id := 1; id <= 3; id++ {
		clientPorts = append(clientPorts, freePort(t))
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", id, freePort(t)))
	}
	env = append([]string{
		"SLUICE_CONTROLLER_QUORUM_VOTERS=" + strings.Join(voters, ","),
		"SLUICE_BROKER_HEARTBEAT_INTERVAL_MS=500",
		"SLUICE_BROKER_SESSION_TIMEOUT_MS=3000",
	}, env...)
	for i := range 3 {
		_, ctl, _ := strings.Cut(voters[i], "@")
		p := start(t, env, "--node-id", strconv.Itoa(i+1), "--cluster-id", "racks", "--data-dir", t.TempDir(),
			"--rack", string(rune('a'+i)), "--http-listen", freeHTTP(t),
			"--listen", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://%s", clientPorts[i], ctl))
		if p.addr == "" {
			t.Fatalf("node %d did not start:\n%s", i+1, p.stderr)
		}
		nodes, addrs = append(nodes, p), append(addrs, p.addr)
	}
	agreed(t, addrs, 20*time.Second, allThree)
	return nodes, addrs
}

// createTopics creates topic with one partition of replication factor
// rf and configs.
func createTopics(t *testing.T, addr, topic string, rf int16, configs map[string]string) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version, req.TimeoutMillis = 5, 10000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, 1, rf
	for k, v := range configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, &v
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	r, err := request(addr, req)
	if err != nil {
		t.Fatal(err)
	}
	if rt := r.(*kmsg.CreateTopicsResponse).Topics; len(rt) != 1 || rt[0].ErrorCode != 0 {
		t.Fatalf("create %s: %+v", topic, rt)
	}
}

// KIP-392 on three processes in racks a, b, c, RF=3: with
// replica.selector.class rack-aware, a franz-go consumer with kgo.Rack of
// a follower's rack reads every record from that follower, whose consumer
// fetch bytes count them while the leader's stay 0; without it, the
// leader serves it. Apache Kafka's ConsoleConsumer with client.rack (the
// e2e Java kit) is served by the follower too.
func TestRackAwareConsumerReadsFromFollower(t *testing.T) {
	if testing.Short() {
		t.Skip("two three-node clusters")
	}
	f := func(t *testing.T, selector bool) {
		var env []string
		if selector {
			env = append(env, "SLUICE_REPLICA_SELECTOR_CLASS=org.apache.kafka.common.replica.RackAwareReplicaSelector")
		}
		nodes, addrs := rackNodes(t, env...)
		const topic, n = "racked", 200
		createTopics(t, addrs[0], topic, 3, nil)
		leader, _ := waitPartition(t, addrs[0], topic, 0, 10*time.Second, func(l int32, isr []int32) bool { return l > 0 && len(isr) == 3 })
		near := leader%3 + 1 // a follower; the consumer is in its rack
		rack := string(rune('a' + near - 1))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		prod, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic(topic))
		if err != nil {
			t.Fatal(err)
		}
		defer prod.Close()
		var recs []*kgo.Record
		for i := range n {
			recs = append(recs, &kgo.Record{Value: []byte(fmt.Sprintf("value-%04d", i))})
		}
		if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
		cons, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.Rack(rack),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
		if err != nil {
			t.Fatal(err)
		}
		defer cons.Close()
		for got := 0; got < n; {
			fs := cons.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("consumed %d of %d records", got, n)
			}
			fs.EachError(func(_ string, _ int32, err error) { t.Logf("fetch error (retried): %v", err) })
			fs.EachRecord(func(r *kgo.Record) {
				if want := fmt.Sprintf("value-%04d", got); string(r.Value) != want || r.Offset != int64(got) {
					t.Fatalf("record %d: %q at %d, want %q", got, r.Value, r.Offset, want)
				}
				got++
			})
		}
		const metric = `sluice_fetch_record_bytes_total{to="consumer"}`
		leaderBytes, nearBytes := metricValue(scrape(t, nodes[leader-1]), metric), metricValue(scrape(t, nodes[near-1]), metric)
		t.Logf("selector %v: consumer bytes sent by the leader %d %v, by broker %d in the consumer's rack %s %v",
			selector, leader, leaderBytes, near, rack, nearBytes)
		if selector && (nearBytes <= 0 || leaderBytes != 0) {
			t.Fatalf("rack-aware: broker %d sent %v consumer bytes, the leader %v; want all from broker %d", near, nearBytes, leaderBytes, near)
		}
		if !selector && (nearBytes != 0 || leaderBytes <= 0) {
			t.Fatalf("no selector: broker %d sent %v consumer bytes, the leader %v; want all from the leader", near, nearBytes, leaderBytes)
		}
		if !selector {
			return
		}
		// Kafka's own consumer (client.rack), when the Java kit is there.
		out, ok := javaConsoleConsumer(t, addrs, topic, rack, n)
		if !ok {
			return
		}
		if got := strings.Count(out, "value-"); got != n {
			t.Fatalf("the Java consumer printed %d of %d records:\n%s", got, n, out)
		}
		leaderAfter, nearAfter := metricValue(scrape(t, nodes[leader-1]), metric), metricValue(scrape(t, nodes[near-1]), metric)
		t.Logf("after the Java consumer: the leader %v, broker %d %v", leaderAfter, near, nearAfter)
		if nearAfter < 2*nearBytes || leaderAfter != 0 {
			t.Fatalf("Java consumer with client.rack=%s: broker %d sent %v more consumer bytes, the leader %v", rack, near, nearAfter-nearBytes, leaderAfter)
		}
	}
	t.Run("rack-aware", func(t *testing.T) { f(t, true) })
	t.Run("leader-only", func(t *testing.T) { f(t, false) })
}

// follower.replication.throttled.rate=1 MiB/s (cluster default, set with
// kadm like `sluice configs`) on a topic whose
// follower.replication.throttled.replicas is "*": the follower of an RF=2
// partition, stopped (SIGSTOP) while 8 MiB are written, out of the ISR
// (replica.lag.time.max.ms=1000) and resumed, catches up at no more than 3× the rate over the first seconds (bytes on
// its disk) and counts held-back fetches; deleting the rate lets it
// finish, its segments then identical to the leader's.
func TestFollowerReplicationThrottle(t *testing.T) {
	if testing.Short() {
		t.Skip("8 MiB through a 1 MiB/s throttle")
	}
	began := time.Now()
	c := startReplCluster(t, "SLUICE_HTTP_LISTEN=127.0.0.1:0", "SLUICE_REPLICA_LAG_TIME_MAX_MS=1000")
	up := time.Since(began)
	const total, rate = 8 << 20, 1 << 20
	// An RF=2 partition whose follower is not the active controller:
	// stopping the follower then stops no quorum work.
	view, err := viewOf(c.addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	var topic string
	var lead, fol int32
	for i := 0; fol == 0; i++ {
		if i == 6 {
			t.Fatalf("every RF=2 topic's follower is the controller %d", view.leader)
		}
		name := fmt.Sprintf("throttled-%d", i)
		createTopics(t, c.addrs[0], name, 2, map[string]string{"follower.replication.throttled.replicas": "*"})
		l, isr := waitPartition(t, c.addrs[0], name, 0, 10*time.Second, func(l int32, isr []int32) bool { return l > 0 && len(isr) == 2 })
		for _, id := range isr {
			if id != l && id != view.leader {
				topic, lead, fol = name, l, id
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	setRate := func(op kadm.IncrementalOp, v string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; {
			r, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: op, Name: "follower.replication.throttled.rate", Value: &v}})
			if err == nil {
				err = r[0].Err
			}
			if err == nil {
				return
			}
			// A retriable error (the quorum's leader moved): again.
			if ke := (*kerr.Error)(nil); !errors.As(err, &ke) || !ke.Retriable || time.Now().After(deadline) {
				t.Fatalf("alter follower.replication.throttled.rate: %v", err)
			}
			time.Sleep(50 * time.Millisecond) // retrying, bounded by the deadline
		}
	}
	setRate(kadm.SetConfig, strconv.Itoa(rate))
	follower := c.nodes[fol-1]
	for deadline := time.Now().Add(10 * time.Second); len(follower.logs("dynamic broker configs changed")) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the follower did not apply follower.replication.throttled.rate")
		}
		time.Sleep(20 * time.Millisecond) // polling the log, bounded by the deadline
	}
	if err := follower.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// Raw acks=1 produces to the leader (a client could send its metadata
	// requests to the stopped follower and wait).
	value := make([]byte, 64<<10)
	for range total / len(value) {
		_, _ = rand.Read(value) // incompressible
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = 9, 1, 10000
		pt := kmsg.NewProduceRequestTopic()
		pt.Topic = topic
		pp := kmsg.NewProduceRequestTopicPartition()
		pp.Records = oneBatch(t, string(value))
		pt.Partitions = append(pt.Partitions, pp)
		req.Topics = append(req.Topics, pt)
		r, err := request(c.addrs[lead-1], req)
		if err != nil {
			t.Fatal(err)
		}
		if code := r.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Fatalf("produce: %v", kerr.ErrorForCode(code))
		}
	}
	// Out of the ISR, the follower lags the high watermark: throttled (an
	// ISR member holds the high watermark, so it never lags it).
	waitPartition(t, c.addrs[lead-1], topic, 0, 15*time.Second, func(_ int32, isr []int32) bool { return len(isr) == 1 })
	base, _ := segmentBytes(c.dirs[fol-1], topic, 0)
	t.Logf("cluster up after %v, 8 MiB produced with the follower stopped after %v", up, time.Since(began))
	if err := follower.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed := time.Now()
	// Bytes on the follower's disk over at least 2 s from the resume (a
	// span measured, not a condition awaited): a slower machine only
	// lowers the rate measured.
	time.Sleep(2 * time.Second)
	now, err := segmentBytes(c.dirs[fol-1], topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(resumed)
	got := float64(len(now)-len(base)) / elapsed.Seconds()
	t.Logf("follower caught up %d bytes in %v: %.0f B/s with a %d B/s throttle", len(now)-len(base), elapsed, got, rate)
	if got > 3*rate || len(now) >= total {
		for line := range strings.SplitSeq(scrape(t, follower), "\n") {
			if strings.Contains(line, "replica") || strings.Contains(line, "replication") {
				t.Log(line)
			}
		}
		t.Fatalf("follower fetched at %.0f B/s (%d of %d bytes) with a %d B/s throttle", got, len(now), total, rate)
	}
	if held := metricValue(scrape(t, follower), `sluice_replication_throttled_fetches_total{side="follower"}`); held < 1 {
		t.Fatalf("the follower counted %v held-back fetches", held)
	}
	setRate(kadm.DeleteConfig, "")
	unthrottled := time.Now()
	defer func() { t.Logf("caught up %v after the throttle was removed", time.Since(unthrottled)) }()
	for deadline := time.Now().Add(30 * time.Second); ; {
		lb, err1 := segmentBytes(c.dirs[lead-1], topic, 0)
		fb, err2 := segmentBytes(c.dirs[fol-1], topic, 0)
		if err1 == nil && err2 == nil && len(fb) >= total && bytes.Equal(lb, fb) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the throttle was removed: leader %d bytes (%v), follower %d (%v)", len(lb), err1, len(fb), err2)
		}
		time.Sleep(50 * time.Millisecond) // polling the files, bounded by the deadline
	}
}

// javaConsoleConsumer reads n records of topic's partition 0 from the
// start with Apache Kafka's ConsoleConsumer (the e2e Java kit's jars) and
// client.rack=rack, and returns what it printed; false (logged) when java
// or the jars are missing.
func javaConsoleConsumer(t *testing.T, addrs []string, topic, rack string, n int) (string, bool) {
	t.Helper()
	java, err := exec.LookPath("java")
	lib, _ := filepath.Abs(filepath.Join("..", "..", "e2e", "java", "lib"))
	if jars, _ := filepath.Glob(filepath.Join(lib, "kafka-tools-*.jar")); err != nil || len(jars) == 0 {
		t.Log("no java or no e2e/java/lib (scripts/test-deps.sh): the Java consumer is not run")
		return "", false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, java, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xmx256m",
		"-cp", filepath.Join(lib, "*"), "org.apache.kafka.tools.consumer.ConsoleConsumer",
		"--bootstrap-server", strings.Join(addrs, ","), "--topic", topic, "--partition", "0", "--offset", "earliest",
		"--max-messages", strconv.Itoa(n), "--timeout-ms", "60000", "--consumer-property", "client.rack="+rack)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ConsoleConsumer: %v\n%s", err, stderr.String())
	}
	return stdout.String(), true
}
