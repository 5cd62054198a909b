package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// replCluster is three combined nodes that can be restarted on their own
// data directories and ports.
type replCluster struct {
	t     *testing.T
	env   []string
	args  [][]string
	dirs  []string
	nodes []*proc
	addrs []string
	all   []*proc // every process started, for the race check
}

func startReplCluster(t *testing.T, env ...string) *replCluster {
	t.Helper()
	c := &replCluster{t: t}
	var voters []string
	var clientPorts []int
	for id := 1; id <= 3; id++ {
		clientPorts = append(clientPorts, freePort(t))
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", id, freePort(t)))
	}
	c.env = []string{
		"SLUICE_CONTROLLER_QUORUM_VOTERS=" + strings.Join(voters, ","),
		"SLUICE_BROKER_HEARTBEAT_INTERVAL_MS=500",
		"SLUICE_BROKER_SESSION_TIMEOUT_MS=3000",
	}
	c.env = append(c.env, env...)
	// A binary built with -race reports data races on stderr.
	t.Cleanup(func() {
		for _, p := range c.all {
			if strings.Contains(p.stderr.String(), "WARNING: DATA RACE") {
				t.Errorf("data race in a sluiced process:\n%s", p.stderr)
			}
		}
	})
	for i := range 3 {
		_, ctl, _ := strings.Cut(voters[i], "@")
		dir := t.TempDir()
		c.dirs = append(c.dirs, dir)
		c.args = append(c.args, []string{"--node-id", strconv.Itoa(i + 1), "--cluster-id", "replication", "--data-dir", dir,
			"--listen", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,CONTROLLER://%s", clientPorts[i], ctl)})
		c.nodes = append(c.nodes, nil)
		c.addrs = append(c.addrs, fmt.Sprintf("127.0.0.1:%d", clientPorts[i]))
		c.start(i)
	}
	agreed(t, c.addrs, 20*time.Second, allThree)
	return c
}

func (c *replCluster) start(i int) {
	c.t.Helper()
	p := start(c.t, c.env, c.args[i]...)
	if p.addr == "" {
		c.t.Fatalf("node %d did not start:\n%s", i+1, p.stderr)
	}
	c.nodes[i] = p
	c.all = append(c.all, p)
}

func (c *replCluster) kill(id int32) {
	c.nodes[id-1].kill()
	c.nodes[id-1] = nil
}

func (c *replCluster) live() []string {
	var out []string
	for i, n := range c.nodes {
		if n != nil {
			out = append(out, c.addrs[i])
		}
	}
	return out
}

// partitionState asks addr for topic's partition p: leader and ISR.
func partitionState(addr, topic string, p int32) (leader int32, isr []int32, err error) {
	resp, err := topicMetadata(addr, topic)
	if err != nil {
		return -1, nil, err
	}
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 || int(p) >= len(resp.Topics[0].Partitions) {
		return -1, nil, fmt.Errorf("metadata for %s: %+v", topic, resp.Topics)
	}
	mp := resp.Topics[0].Partitions[p]
	isr = slices.Clone(mp.ISR)
	slices.Sort(isr)
	return mp.Leader, isr, nil
}

// waitPartition polls addr until check passes on topic's partition p.
func waitPartition(t *testing.T, addr, topic string, p int32, timeout time.Duration, check func(leader int32, isr []int32) bool) (int32, []int32) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		leader, isr, err := partitionState(addr, topic, p)
		if err == nil && check(leader, isr) {
			return leader, isr
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s-%d at %s after %v: leader %d isr %v (%v)", topic, p, addr, timeout, leader, isr, err)
		}
		time.Sleep(20 * time.Millisecond) // polling Metadata, bounded by the deadline
	}
}

// segmentBytes concatenates the .log files of topic-p in dir.
func segmentBytes(dir, topic string, p int32) ([]byte, error) {
	pd := filepath.Join(dir, fmt.Sprintf("%s-%d", topic, p))
	ents, err := os.ReadDir(pd)
	if err != nil {
		return nil, err
	}
	var out []byte
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".log") {
			b, err := os.ReadFile(filepath.Join(pd, e.Name()))
			if err != nil {
				return nil, err
			}
			out = append(out, b...)
		}
	}
	return out, nil
}

// waitIdentical polls until the live replicas' segment files of topic-p
// are byte-identical and at least min bytes long.
func (c *replCluster) waitIdentical(topic string, p int32, minLen int, timeout time.Duration) int {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var first []byte
		msg := ""
		for i, n := range c.nodes {
			if n == nil {
				continue
			}
			b, err := segmentBytes(c.dirs[i], topic, p)
			switch {
			case err != nil:
				msg = err.Error()
			case len(b) < minLen:
				msg = fmt.Sprintf("node %d has %d bytes, want >= %d", i+1, len(b), minLen)
			case first == nil:
				first = b
			case !bytes.Equal(first, b):
				msg = fmt.Sprintf("node %d's %d bytes differ from the first live node's %d", i+1, len(b), len(first))
			}
			if msg != "" {
				break
			}
		}
		if msg == "" {
			return len(first)
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("segments of %s-%d not identical after %v: %s", topic, p, timeout, msg)
		}
		time.Sleep(20 * time.Millisecond) // polling the files, bounded by the deadline
	}
}

// acked is one acknowledged record.
type acked struct {
	value  string
	offset int64
}

// Replication on three sluiced processes, RF=3, min.insync.replicas=2:
// acks=all produces reach all three replicas' segment files byte for
// byte; kill -9 of the leader under acks=all load (idempotent franz-go)
// elects another leader and every acknowledged record is there exactly
// once at its acknowledged offset; the killed node restarts, catches up
// and rejoins the ISR; with two brokers down (one killed, one stopped while
// the quorum still had a majority) acks=all gets NOT_ENOUGH_REPLICAS at
// once.
func TestReplicationAcksAll(t *testing.T) {
	c := startReplCluster(t)
	const topic = "repl"
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	adm, err := kgo.NewClient(kgo.SeedBrokers(c.addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	minISR := "2"
	res, err := kadm.NewClient(adm).CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": &minISR}, topic)
	if err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	leader, _ := waitPartition(t, c.addrs[0], topic, 0, 10*time.Second, func(l int32, isr []int32) bool {
		return l > 0 && len(isr) == 3
	})

	// acks=all, idempotent (franz-go's defaults), several producers' worth
	// of load from one client with concurrent in-flight batches.
	var mu sync.Mutex
	var acks []acked
	produce := func(cl *kgo.Client, n int, prefix string) error {
		var wg sync.WaitGroup
		var first error
		for i := range n {
			wg.Add(1)
			v := fmt.Sprintf("%s-%06d", prefix, i)
			cl.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}, func(r *kgo.Record, err error) {
				defer wg.Done()
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if first == nil {
						first = err
					}
					return
				}
				acks = append(acks, acked{string(r.Value), r.Offset})
			})
		}
		wg.Wait()
		return first
	}
	pcl, err := kgo.NewClient(kgo.SeedBrokers(c.addrs...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0), kgo.RecordRetries(1000), kgo.RetryTimeout(60*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	began := time.Now()
	if err := produce(pcl, 2000, "a"); err != nil {
		t.Fatalf("acks=all produce: %v", err)
	}
	t.Logf("2000 records acks=all in %v (leader %d)", time.Since(began), leader)
	n := c.waitIdentical(topic, 0, 2000*5, 15*time.Second)
	t.Logf("three replicas' segments byte-identical (%d bytes)", n)

	// kill -9 the leader while acks=all produces run: rounds of 500
	// records until told to stop.
	done := make(chan error, 1)
	stop := make(chan struct{})
	go func() {
		for r := 0; ; r++ {
			if err := produce(pcl, 500, fmt.Sprintf("b%03d", r)); err != nil {
				done <- err
				return
			}
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
		}
	}()
	ackCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acks)
	}
	waitAcks := func(n int) {
		for deadline := time.Now().Add(30 * time.Second); ackCount() < n; {
			select {
			case err := <-done:
				t.Fatalf("load ended with %d acknowledgements: %v", ackCount(), err)
			case <-time.After(5 * time.Millisecond): // polling the ack count
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d acknowledgements, want %d", ackCount(), n)
			}
		}
	}
	waitAcks(3000)
	c.kill(leader)
	killedAt := time.Now()
	atKill := ackCount()
	live := c.live()
	newLeader, isr := waitPartition(t, live[0], topic, 0, 15*time.Second, func(l int32, isr []int32) bool {
		return l > 0 && l != leader
	})
	t.Logf("leader %d killed after %d acknowledgements; new leader %d (isr %v) after %v", leader, atKill, newLeader, isr, time.Since(killedAt))
	waitAcks(atKill + 1000)
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("acks=all produce across the fail-over: %v", err)
	}
	t.Logf("%d records acknowledged, the last %v after the kill", ackCount(), time.Since(killedAt))
	checkAcked(t, ctx, live, topic, acks)

	// The killed node restarts, catches up and rejoins the ISR.
	c.start(int(leader - 1))
	waitPartition(t, c.addrs[newLeader-1], topic, 0, 20*time.Second, func(_ int32, isr []int32) bool {
		return len(isr) == 3
	})
	t.Logf("restarted broker %d back in the ISR %v after its kill", leader, time.Since(killedAt))
	c.waitIdentical(topic, 0, n, 15*time.Second)

	// Two brokers down (the first by kill -9, the second by a controlled
	// shutdown while the quorum still has a majority): the ISR is the
	// leader alone, below min.insync.replicas=2.
	var others []int32
	for id := int32(1); id <= 3; id++ {
		if id != newLeader {
			others = append(others, id)
		}
	}
	c.kill(others[0])
	waitPartition(t, c.addrs[newLeader-1], topic, 0, 15*time.Second, func(_ int32, isr []int32) bool {
		return len(isr) == 2
	})
	c.nodes[others[1]-1].stop()
	c.nodes[others[1]-1] = nil
	waitPartition(t, c.addrs[newLeader-1], topic, 0, 15*time.Second, func(_ int32, isr []int32) bool {
		return len(isr) == 1
	})
	preq := kmsg.NewPtrProduceRequest()
	preq.Version, preq.Acks, preq.TimeoutMillis = 9, -1, 5000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = topic
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = oneBatch(t, "lonely")
	pt.Partitions = append(pt.Partitions, pp)
	preq.Topics = append(preq.Topics, pt)
	asked := time.Now()
	r, err := request(c.addrs[newLeader-1], preq)
	if err != nil {
		t.Fatal(err)
	}
	if code := r.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.NotEnoughReplicas.Code {
		t.Fatalf("acks=all with the ISR below min.insync.replicas: %v, want NOT_ENOUGH_REPLICAS", kerr.ErrorForCode(code))
	}
	if d := time.Since(asked); d > 5*time.Second {
		t.Fatalf("NOT_ENOUGH_REPLICAS after %v, beyond the request timeout", d)
	}
}

// oneBatch encodes one uncompressed RecordBatch v2 holding value.
func oneBatch(t *testing.T, value string) []byte {
	t.Helper()
	return idempotentBatch(value, -1, -1, -1)
}

// idempotentBatch is oneBatch of a producer id, epoch and sequence.
func idempotentBatch(value string, pid int64, epoch int16, seq int32) []byte {
	rec := kmsg.Record{Value: []byte(value)}
	rec.Length = int32(len(rec.AppendTo(nil)) - 1) // the body after a 1-byte varint 0
	recBuf := rec.AppendTo(nil)
	b := kmsg.RecordBatch{Magic: 2, LastOffsetDelta: 0, FirstTimestamp: time.Now().UnixMilli(),
		MaxTimestamp: time.Now().UnixMilli(), ProducerID: pid, ProducerEpoch: epoch, FirstSequence: seq,
		NumRecords: 1, Records: recBuf}
	raw := b.AppendTo(nil)
	b.Length = int32(len(raw) - 12)
	raw = b.AppendTo(nil)
	b.CRC = int32(crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b.AppendTo(nil)
}

// checkAcked consumes topic-0 from the start and wants every acknowledged
// value exactly once, at its acknowledged offset.
func checkAcked(t *testing.T, ctx context.Context, addrs []string, topic string, acks []acked) {
	t.Helper()
	ccl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer ccl.Close()
	want := map[string]int64{}
	for _, a := range acks {
		want[a.value] = a.offset
	}
	seen := map[string]int64{}
	for len(seen) < len(want) {
		fs := ccl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d acknowledged records", len(seen), len(want))
		}
		var dup error
		fs.EachRecord(func(r *kgo.Record) {
			v := string(r.Value)
			if at, ok := seen[v]; ok {
				dup = errors.Join(dup, fmt.Errorf("%q at %d and %d", v, at, r.Offset))
			}
			seen[v] = r.Offset
			if o, ok := want[v]; ok && o != r.Offset {
				t.Errorf("%q acknowledged at %d, read at %d", v, o, r.Offset)
			}
		})
		if dup != nil {
			t.Fatalf("duplicates: %v", dup)
		}
	}
	t.Logf("%d acknowledged records read back exactly once at their offsets", len(want))
}

// produceAcked sends n one-record acks=all Produces, values tag-0 to
// tag-(n-1), to addr's topic-0 and returns where each was acknowledged.
func produceAcked(t *testing.T, addr, topic, tag string, n int) []acked {
	t.Helper()
	var out []acked
	for i := range n {
		v := fmt.Sprintf("%s-%d", tag, i)
		sp := produceRaw(t, addr, topic, oneBatch(t, v))
		if sp.ErrorCode != 0 {
			t.Fatalf("produce %s: %v", v, kerr.ErrorForCode(sp.ErrorCode))
		}
		out = append(out, acked{value: v, offset: sp.BaseOffset})
	}
	return out
}

// produceRaw sends one acks=all Produce of records to addr's topic-0 and
// returns its partition answer.
func produceRaw(t *testing.T, addr, topic string, records []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	preq := kmsg.NewPtrProduceRequest()
	preq.Version, preq.Acks, preq.TimeoutMillis = 9, -1, 10000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = topic
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = records
	pt.Partitions = append(pt.Partitions, pp)
	preq.Topics = append(preq.Topics, pt)
	// A leader named by the image answers NOT_LEADER_OR_FOLLOWER until its
	// leadership has started; a client retries, and so does this.
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		r, err := request(addr, preq)
		if err != nil {
			t.Fatal(err)
		}
		sp := r.(*kmsg.ProduceResponse).Topics[0].Partitions[0]
		if sp.ErrorCode != kerr.NotLeaderForPartition.Code || time.Now().After(end) {
			return sp
		}
	}
}

// isrChanges returns the ISRs a node's "ISR changed" logs name for topic.
func isrChanges(p *proc, topic string) []string {
	var out []string
	for _, rec := range p.logs("ISR changed") {
		if rec["topic"] == topic {
			out = append(out, fmt.Sprint(rec["isr"]))
		}
	}
	return out
}

// With replica.lag.time.max.ms=1000, a follower stopped (SIGSTOP) leaves
// the ISR by the leader's AlterPartition before its session expires, and
// rejoins it (AlterPartition again) once resumed and caught up. Then an
// idempotent producer's batch acknowledged by a leader killed with kill -9
// and retried at the new leader is deduplicated: same offset, nothing
// appended twice.
func TestReplicationISRAndRetry(t *testing.T) {
	c := startReplCluster(t, "SLUICE_REPLICA_LAG_TIME_MAX_MS=1000")
	const topic = "isr"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm, err := kgo.NewClient(kgo.SeedBrokers(c.addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	res, err := kadm.NewClient(adm).CreateTopic(ctx, 1, 3, nil, topic)
	if err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	leader, _ := waitPartition(t, c.addrs[0], topic, 0, 10*time.Second, func(l int32, isr []int32) bool {
		return l > 0 && len(isr) == 3
	})
	view, err := viewOf(c.addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	var stopped int32
	for id := int32(1); id <= 3; id++ {
		if id != leader && id != view.leader {
			stopped = id
			break
		}
	}
	if sp := produceRaw(t, c.addrs[leader-1], topic, oneBatch(t, "before")); sp.ErrorCode != 0 {
		t.Fatalf("produce: %v", kerr.ErrorForCode(sp.ErrorCode))
	}
	p := c.nodes[stopped-1]
	var stoppedAt time.Time
	var acked time.Duration
	var changes []string
	for attempt := 1; ; attempt++ {
		before := len(isrChanges(c.nodes[leader-1], topic))
		if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		stoppedAt = time.Now()
		// A stalled follower with nothing to fetch is caught up (as in Kafka):
		// a record makes it lag. acks=all completes once the leader took it
		// out of the ISR.
		if sp := produceRaw(t, c.addrs[leader-1], topic, oneBatch(t, "while-stopped")); sp.ErrorCode != 0 {
			t.Fatalf("produce with a follower stopped: %v", kerr.ErrorForCode(sp.ErrorCode))
		}
		acked = time.Since(stoppedAt)
		// The leader adopted the controller's answer; its image follows.
		waitPartition(t, c.addrs[leader-1], topic, 0, 5*time.Second, func(_ int32, isr []int32) bool {
			return len(isr) == 2 && !slices.Contains(isr, stopped)
		})
		// The leader logs its change once the controller answered its
		// AlterPartition, which can be after the image carried it.
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			if got := isrChanges(c.nodes[leader-1], topic); len(got) > before {
				changes = got[before:]
				break
			}
		}
		if len(changes) > 0 || acked >= 500*time.Millisecond || attempt == 3 {
			break
		}
		// Answered sooner than the leader can see a follower lag
		// (replica.lag.time.max.ms 1000), and no AlterPartition of the
		// leader's: the follower had left the ISR before the stop. Under
		// load its broker can miss heartbeats and be fenced, and the
		// controller then drops it from the ISR itself (as Kafka's does).
		// Resume it, wait for the full ISR, and stop it again.
		t.Logf("attempt %d: acks=all answered %v after SIGSTOP with no AlterPartition of the leader's: follower %d was out of the ISR already", attempt, acked, stopped)
		if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		waitPartition(t, c.addrs[leader-1], topic, 0, 15*time.Second, func(_ int32, isr []int32) bool {
			return len(isr) == 3
		})
	}
	if len(changes) == 0 {
		t.Fatalf("the ISR shrank %v after SIGSTOP without the leader's AlterPartition (fenced?)", acked)
	}
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	t.Logf("follower %d stopped: acks=all answered after %v, the leader shrank the ISR: %v", stopped, acked, changes)
	waitPartition(t, c.addrs[leader-1], topic, 0, 15*time.Second, func(_ int32, isr []int32) bool {
		return len(isr) == 3
	})
	// Polled: the copy of sluiced's stderr into the test's buffer may lag
	// the metadata.
	eventually(t, 10*time.Second, func() string {
		if got := isrChanges(c.nodes[leader-1], topic); len(got) < 2 {
			return fmt.Sprintf("ISR back to three without the leader's AlterPartition: %v", got)
		}
		return ""
	})
	t.Logf("follower %d back in the ISR %v after SIGSTOP", stopped, time.Since(stoppedAt))

	// An idempotent batch acknowledged by the old leader, retried at the new one.
	ip := kmsg.NewPtrInitProducerIDRequest()
	ip.Version = 4
	r, err := request(c.addrs[leader-1], ip)
	if err != nil {
		t.Fatal(err)
	}
	ipr := r.(*kmsg.InitProducerIDResponse)
	if ipr.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(ipr.ErrorCode))
	}
	batch := idempotentBatch("once", ipr.ProducerID, ipr.ProducerEpoch, 0)
	first := produceRaw(t, c.addrs[leader-1], topic, batch)
	if first.ErrorCode != 0 {
		t.Fatalf("idempotent produce: %v", kerr.ErrorForCode(first.ErrorCode))
	}
	c.kill(leader)
	live := c.live()
	newLeader, _ := waitPartition(t, live[0], topic, 0, 15*time.Second, func(l int32, _ []int32) bool {
		return l > 0 && l != leader
	})
	retry := produceRaw(t, c.addrs[newLeader-1], topic, batch)
	if retry.ErrorCode != 0 || retry.BaseOffset != first.BaseOffset {
		t.Fatalf("retry at the new leader %d: %v at %d, want the original offset %d", newLeader,
			kerr.ErrorForCode(retry.ErrorCode), retry.BaseOffset, first.BaseOffset)
	}
	next := produceRaw(t, c.addrs[newLeader-1], topic, idempotentBatch("next", ipr.ProducerID, ipr.ProducerEpoch, 1))
	if next.ErrorCode != 0 || next.BaseOffset != first.BaseOffset+1 {
		t.Fatalf("next batch at the new leader: %v at %d, want %d", kerr.ErrorForCode(next.ErrorCode), next.BaseOffset, first.BaseOffset+1)
	}
	t.Logf("idempotent retry after fail-over to %d deduplicated at offset %d", newLeader, first.BaseOffset)
}

// A leader that appended records its followers never fetched (acks=1
// while both followers were stopped) and was then killed comes back as a
// follower of the new leader, which wrote other records at those offsets:
// the Fetch response's DivergingEpoch makes it truncate (KIP-101/279/320),
// then it catches up and all three logs are byte-identical.
func TestReplicationDivergedLeaderTruncates(t *testing.T) {
	c := startReplCluster(t)
	const topic = "diverge"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm, err := kgo.NewClient(kgo.SeedBrokers(c.addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	res, err := kadm.NewClient(adm).CreateTopic(ctx, 1, 3, nil, topic)
	if err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	leader, _ := waitPartition(t, c.addrs[0], topic, 0, 10*time.Second, func(l int32, isr []int32) bool {
		return l > 0 && len(isr) == 3
	})
	for i := range 3 {
		if sp := produceRaw(t, c.addrs[leader-1], topic, oneBatch(t, fmt.Sprint("committed-", i))); sp.ErrorCode != 0 {
			t.Fatalf("produce: %v", kerr.ErrorForCode(sp.ErrorCode))
		}
	}
	c.waitIdentical(topic, 0, 1, 10*time.Second)
	// Both followers stopped: the quorum has no majority, so nothing
	// changes in the metadata while the leader takes acks=1 records alone.
	var followers []int32
	for id := int32(1); id <= 3; id++ {
		if id != leader {
			followers = append(followers, id)
			if err := c.nodes[id-1].cmd.Process.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
		}
	}
	preq := kmsg.NewPtrProduceRequest()
	preq.Version, preq.Acks, preq.TimeoutMillis = 9, 1, 5000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = topic
	pp := kmsg.NewProduceRequestTopicPartition()
	pt.Partitions = append(pt.Partitions, pp)
	preq.Topics = append(preq.Topics, pt)
	for i := range 5 {
		preq.Topics[0].Partitions[0].Records = oneBatch(t, fmt.Sprint("lost-", i))
		r, err := request(c.addrs[leader-1], preq)
		if err != nil {
			t.Fatal(err)
		}
		if code := r.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Fatalf("acks=1 produce: %v", kerr.ErrorForCode(code))
		}
	}
	c.kill(leader)
	for _, id := range followers {
		if err := c.nodes[id-1].cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
	}
	newLeader, _ := waitPartition(t, c.addrs[followers[0]-1], topic, 0, 20*time.Second, func(l int32, _ []int32) bool {
		return l > 0 && l != leader
	})
	for i := range 8 {
		if sp := produceRaw(t, c.addrs[newLeader-1], topic, oneBatch(t, fmt.Sprint("new-", i))); sp.ErrorCode != 0 {
			t.Fatalf("produce at the new leader: %v", kerr.ErrorForCode(sp.ErrorCode))
		}
	}
	c.start(int(leader - 1))
	waitPartition(t, c.addrs[newLeader-1], topic, 0, 20*time.Second, func(_ int32, isr []int32) bool {
		return len(isr) == 3
	})
	c.waitIdentical(topic, 0, 1, 15*time.Second)
	// Polled: the line is written before the truncation, but the copy of
	// sluiced's stderr into the test's buffer may lag the logs on disk.
	rec := c.nodes[leader-1].waitLog("follower log diverged from its leader: truncating")
	t.Logf("old leader %d truncated: %v", leader, rec)
	// Every committed and new record is there once; of the acks=1 ones,
	// only those a follower fetched before it stopped may be (a fetch
	// answered while it was stopped is applied when it resumes).
	ccl, err := kgo.NewClient(kgo.SeedBrokers(c.addrs...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer ccl.Close()
	var got []string
	for !slices.Contains(got, "new-7") {
		fs := ccl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %v", got)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	var want []string
	for _, v := range got {
		if !strings.HasPrefix(v, "lost-") {
			want = append(want, v)
		}
	}
	if fmt.Sprint(want) != "[committed-0 committed-1 committed-2 new-0 new-1 new-2 new-3 new-4 new-5 new-6 new-7]" {
		t.Fatalf("records after the fail-over: %v", got)
	}
	t.Logf("records after the fail-over: %v", got)
}
