package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// threeNodes starts three combined nodes on loopback and waits until they
// agree on a leader and three live brokers; extra are more flags for each.
// Each serves its console and metrics on a port of its own (freeHTTP).
func threeNodes(t *testing.T, extra ...string) (nodes []*proc, addrs []string) {
	t.Helper()
	var voters []string
	var clientPorts []int
	for id := 1; id <= 3; id++ {
		clientPorts = append(clientPorts, freePort(t))
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", id, freePort(t)))
	}
	env := []string{
		"SLUICE_CONTROLLER_QUORUM_VOTERS=" + strings.Join(voters, ","),
		"SLUICE_BROKER_HEARTBEAT_INTERVAL_MS=500",
		"SLUICE_BROKER_SESSION_TIMEOUT_MS=3000",
	}
	for i := range 3 {
		_, ctl, _ := strings.Cut(voters[i], "@")
		args := []string{"--node-id", strconv.Itoa(i + 1), "--cluster-id", "three-node-topics", "--data-dir", t.TempDir(),
			"--listen", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://%s", clientPorts[i], ctl),
			"--http-listen", freeHTTP(t)}
		p := start(t, env, append(args, extra...)...)
		if p.addr == "" {
			t.Fatalf("node %d did not start:\n%s", i+1, p.stderr)
		}
		nodes, addrs = append(nodes, p), append(addrs, p.addr)
	}
	agreed(t, addrs, 20*time.Second, allThree)
	return nodes, addrs
}

// leadersOf asks addr for topic's partition leaders (-1 for an error).
func leadersOf(addr, topic string) ([]int32, error) {
	resp, err := topicMetadata(addr, topic)
	if err != nil {
		return nil, err
	}
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		return nil, fmt.Errorf("metadata for %s: %+v", topic, resp.Topics)
	}
	var out []int32
	for _, p := range resp.Topics[0].Partitions {
		if p.ErrorCode != 0 || len(p.Replicas) == 0 || !slices.Contains(p.ISR, p.Leader) {
			out = append(out, -1)
			continue
		}
		out = append(out, p.Leader)
	}
	return out, nil
}

// Topics live in the metadata image: CreateTopics on any node creates an
// RF=3 topic with leaders on all three brokers, every node answers the same
// leaders, franz-go produces to the leaders and consumes back, a
// non-leader refuses a produce with NOT_LEADER_OR_FOLLOWER, and kill -9 of
// a broker moves its leaderships to the other ISR members.
func TestThreeNodeTopics(t *testing.T) {
	nodes, addrs := threeNodes(t)
	defer func() {
		for _, n := range nodes {
			if n != nil {
				n.stop()
			}
		}
	}()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.RequestRetries(20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	began := time.Now()
	for _, c := range []struct {
		topic string
		rf    int16
		n     int32
	}{{"rf3", 3, 12}, {"rf1", 1, 6}} {
		res, err := adm.CreateTopic(ctx, c.n, c.rf, nil, c.topic)
		if err != nil || res.Err != nil {
			t.Fatalf("create %s: %v %v", c.topic, err, res.Err)
		}
	}
	t.Logf("two topics created in %v", time.Since(began))

	// Every node answers the same leaders, spread over the three brokers
	// (with no replication yet, the ISR is every replica).
	// Each node applies the metadata log on its own: poll each.
	var want []int32
	for i, a := range addrs {
		got, err := leadersOf(a, "rf3")
		for deadline := time.Now().Add(10 * time.Second); err != nil && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond) // polling Metadata, bounded by the deadline
			got, err = leadersOf(a, "rf3")
		}
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			want = got
		}
		if !slices.Equal(got, want) {
			t.Fatalf("node %d answers leaders %v, node 1 %v", i+1, got, want)
		}
	}
	t.Logf("rf3 leaders %v on all three nodes %v after the creation began", want, time.Since(began))
	for id := int32(1); id <= 3; id++ {
		if !slices.Contains(want, id) {
			t.Fatalf("rf3 leaders %v: none on broker %d", want, id)
		}
	}

	// franz-go produces to the leaders; each record reads back.
	var recs []*kgo.Record
	for p := range int32(12) {
		recs = append(recs, &kgo.Record{Topic: "rf3", Partition: p, Value: []byte("v3-" + strconv.Itoa(int(p)))})
	}
	for p := range int32(6) {
		recs = append(recs, &kgo.Record{Topic: "rf1", Partition: p, Value: []byte("v1-" + strconv.Itoa(int(p)))})
	}
	pcl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	if err := pcl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	ccl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics("rf3", "rf1"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer ccl.Close()
	seen := map[string]bool{}
	for len(seen) < len(recs) {
		fs := ccl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records", len(seen), len(recs))
		}
		fs.EachRecord(func(r *kgo.Record) {
			want := fmt.Sprintf("v%s-%d", r.Topic[2:], r.Partition)
			if string(r.Value) != want || r.Offset != 0 {
				t.Errorf("record %s/%d@%d = %q, want %q at 0", r.Topic, r.Partition, r.Offset, r.Value, want)
			}
			seen[r.Topic+strconv.Itoa(int(r.Partition))] = true
		})
	}

	// Groups live with their __consumer_offsets partition's leader: every
	// node names the same coordinator, and a group commits and fetches
	// its offsets there.
	gcl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumerGroup("g1"), kgo.ConsumeTopics("rf1"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	defer gcl.Close()
	for n := 0; n < 6; {
		fs := gcl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("group consumed %d of 6", n)
		}
		n += fs.NumRecords()
	}
	if err := gcl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	var coordinators []int32
	for _, a := range addrs {
		freq := kmsg.NewPtrFindCoordinatorRequest()
		freq.Version, freq.CoordinatorKeys = 4, []string{"g1"}
		r, err := request(a, freq)
		if err != nil {
			t.Fatal(err)
		}
		fc := r.(*kmsg.FindCoordinatorResponse).Coordinators[0]
		if fc.ErrorCode != 0 {
			t.Fatalf("FindCoordinator at %s: %v", a, kerr.ErrorForCode(fc.ErrorCode))
		}
		coordinators = append(coordinators, fc.NodeID)
	}
	if coordinators[0] != coordinators[1] || coordinators[1] != coordinators[2] {
		t.Fatalf("coordinators of g1 named by the three nodes: %v", coordinators)
	}
	offs, err := adm.FetchOffsets(ctx, "g1")
	if err != nil || offs.Error() != nil {
		t.Fatalf("fetch offsets: %v %v", err, offs.Error())
	}
	for p := range int32(6) {
		if o, ok := offs.Lookup("rf1", p); !ok || o.At != 1 {
			t.Fatalf("g1 rf1/%d committed %+v, want 1", p, o)
		}
	}
	t.Logf("group g1 coordinated by broker %d", coordinators[0])

	// A produce to a broker that does not lead the partition is refused.
	nonLeader := addrs[want[0]%3] // broker want[0]+1 (mod 3) does not lead partition 0
	preq := kmsg.NewPtrProduceRequest()
	preq.Version, preq.Acks, preq.TimeoutMillis = 11, -1, 5000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "rf3"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Partition = 0
	pt.Partitions = append(pt.Partitions, pp)
	preq.Topics = append(preq.Topics, pt)
	r, err := request(nonLeader, preq)
	if err != nil {
		t.Fatal(err)
	}
	presp := r.(*kmsg.ProduceResponse)
	if code := presp.Topics[0].Partitions[0].ErrorCode; code != kerr.NotLeaderForPartition.Code {
		t.Fatalf("produce to a non-leader: %v, want NOT_LEADER_OR_FOLLOWER", kerr.ErrorForCode(code))
	}
	// KIP-951: the answer names the leader and where to reach it.
	if cur := presp.Topics[0].Partitions[0].CurrentLeader; cur.LeaderID != want[0] || cur.LeaderEpoch != 0 ||
		len(presp.Brokers) != 1 || presp.Brokers[0].NodeID != want[0] ||
		fmt.Sprintf("%s:%d", presp.Brokers[0].Host, presp.Brokers[0].Port) != addrs[want[0]-1] {
		t.Fatalf("produce to a non-leader: current leader %+v, brokers %+v; want %d at %s", cur, presp.Brokers, want[0], addrs[want[0]-1])
	}

	// The leader checks a client's CurrentLeaderEpoch against the image's.
	for _, c := range []struct {
		epoch int32
		want  int16
	}{{0, 0}, {-1, 0}, {5, kerr.UnknownLeaderEpoch.Code}} {
		lreq := kmsg.NewPtrListOffsetsRequest()
		lreq.Version = 9
		lt := kmsg.NewListOffsetsRequestTopic()
		lt.Topic = "rf3"
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Partition, lp.CurrentLeaderEpoch, lp.Timestamp = 0, c.epoch, -1
		lt.Partitions = append(lt.Partitions, lp)
		lreq.Topics = append(lreq.Topics, lt)
		r, err := request(addrs[want[0]-1], lreq)
		if err != nil {
			t.Fatal(err)
		}
		if code := r.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0].ErrorCode; code != c.want {
			t.Fatalf("ListOffsets with CurrentLeaderEpoch %d: %v, want %v", c.epoch, kerr.ErrorForCode(code), kerr.ErrorForCode(c.want))
		}
	}

	describeWithKafkaTools(t, addrs[1], "rf3", want)

	// kill -9 of a broker that is not the controller: its partitions get
	// new leaders from the ISR once its session expires.
	ctlID, _ := viewOf(addrs[0])
	victim := int32(1)
	for victim == ctlID.leader {
		victim++
	}
	nodes[victim-1].kill()
	nodes[victim-1] = nil
	killedAt := time.Now()
	rest := slices.Delete(slices.Clone(addrs), int(victim-1), int(victim))
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := leadersOf(rest[0], "rf3")
		if err == nil && !slices.Contains(got, victim) && !slices.Contains(got, -1) {
			t.Logf("rf3 leaders %v -> %v %.2fs after kill -9 of %d", want, got, time.Since(killedAt).Seconds(), victim)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("leaders after kill -9 of %d: %v (%v)", victim, got, err)
		}
		time.Sleep(50 * time.Millisecond) // polling Metadata, bounded by the deadline
	}
}

// measure1000 creates 1,000 RF=3 partitions on three nodes and reports how
// long the creation and its application on all three take (a figure, not
// an assertion: run with SLUICE_MEASURE=1).
func TestMeasureThousandPartitions(t *testing.T) {
	if os.Getenv("SLUICE_MEASURE") == "" {
		t.Skip("set SLUICE_MEASURE=1 to measure")
	}
	nodes, addrs := threeNodes(t)
	defer func() {
		for _, n := range nodes {
			if n != nil {
				n.stop()
			}
		}
	}()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	began := time.Now()
	res, err := adm.CreateTopic(context.Background(), 1000, 3, nil, "big")
	if err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	created := time.Since(began)
	for _, a := range addrs {
		for {
			got, err := leadersOf(a, "big")
			if err == nil && len(got) == 1000 {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	t.Logf("1,000 RF=3 partitions: CreateTopics answered in %v, Metadata on all three in %v", created, time.Since(began))
}

// describeWithKafkaTools runs Apache Kafka's kafka-topics --describe (the
// e2e Java kit's jars) against addr and checks it shows leaders (with
// replicas and ISR of three) as want. Skipped without java or the jars.
func describeWithKafkaTools(t *testing.T, addr, topic string, want []int32) {
	t.Helper()
	java, err := exec.LookPath("java")
	lib, _ := filepath.Abs("../../e2e/java/lib")
	if jars, _ := filepath.Glob(filepath.Join(lib, "kafka-tools-*.jar")); err != nil || len(jars) == 0 {
		t.Logf("kafka-topics --describe skipped: java (%v) or the Kafka jars in %s missing", err, lib)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, java, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xmx256m",
		"-cp", lib+"/*", "org.apache.kafka.tools.TopicCommand", "--bootstrap-server", addr, "--describe", "--topic", topic)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kafka-topics --describe: %v\n%s", err, out)
	}
	var leaders []int32
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "Leader:" {
				n, _ := strconv.Atoi(f[i+1])
				leaders = append(leaders, int32(n))
			}
		}
		if strings.Contains(line, "Leader:") && (!strings.Contains(line, "Replicas: ") || strings.Count(line, ",") < 4) {
			t.Fatalf("kafka-topics --describe line without three replicas and ISR: %q", line)
		}
	}
	if !slices.Equal(leaders, want) {
		t.Fatalf("kafka-topics --describe shows leaders %v, want %v:\n%s", leaders, want, out)
	}
	t.Logf("kafka-topics --describe: leaders %v", leaders)
}
