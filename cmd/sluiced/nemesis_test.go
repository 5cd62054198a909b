package main

// Issue 15's Jepsen-style proof, as far as the cluster goes today: three
// sluiced nodes, each in its own network namespace (nsCluster), idempotent
// acks=all producers writing unique values (franz-go, and Apache Kafka's
// VerifiableProducer when the Java kit is there), a consumer group reading,
// and a nemesis that kill -9's a partition leader, kills two nodes at
// once, cuts one off and heals it, and restarts all three. Then the
// checker (internal/logcheck) reads every replica's segment files:
// every acknowledged record is present exactly once at its acknowledged
// offset, nothing a consumer saw has vanished, and replicas are
// byte-identical up to the high watermark.
//
// The schedule is flags (go test ./cmd/sluiced -run TestNemesis -args ...):
//
//	-nemesis.rounds N      times the schedule runs (default 1: make test)
//	-nemesis.schedule L    comma-separated faults, in order (default
//	                       kill-leader,kill-two,cut-heal,restart-all)
//	-nemesis.seed S        picks the victims (default 0: from the clock;
//	                       the seed used is logged)
//	-nemesis.downtime D    how long killed nodes stay down (default 2s)
//	-nemesis.java          also run VerifiableProducer (default true; it
//	                       is skipped without java or the kit's jars)
//
// Subtest rf1: six RF=1 partitions spread over the three brokers. An
// acknowledged record must survive kill -9 and restarts; while its only
// broker is down its partition takes no writes (they fail and are not
// acknowledged). Subtest rf3: the same with RF=3 and
// min.insync.replicas=2, where the replica comparison does real work.

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice/sluice/internal/logcheck"
	"github.com/sluice/sluice/internal/testlog"
)

var (
	nemesisRounds   = flag.Int("nemesis.rounds", 1, "times the nemesis schedule runs (TestNemesis)")
	nemesisSchedule = flag.String("nemesis.schedule", "kill-leader,kill-two,cut-heal,restart-all",
		"comma-separated nemesis faults, in order: kill-leader, kill-two, cut-heal, restart-all")
	nemesisSeed     = flag.Uint64("nemesis.seed", 0, "seed that picks the nemesis's victims (0: from the clock)")
	nemesisDowntime = flag.Duration("nemesis.downtime", 2*time.Second, "how long killed nodes stay down")
	nemesisJava     = flag.Bool("nemesis.java", true, "also run Apache Kafka's VerifiableProducer (when the Java kit is there)")
)

const nemesisPartitions = 6

func TestNemesis(t *testing.T) {
	if testing.Short() {
		t.Skip("the nemesis test takes 20-30 s: not with -short")
	}
	faults := strings.Split(*nemesisSchedule, ",")
	for _, f := range faults {
		if !slices.Contains([]string{"kill-leader", "kill-two", "cut-heal", "restart-all"}, f) {
			t.Fatalf("-nemesis.schedule: unknown fault %q", f)
		}
	}
	t.Run("rf1", func(t *testing.T) { runNemesis(t, 1, faults) })
	t.Run("rf3", func(t *testing.T) { runNemesis(t, 3, faults) })
}

// ack is what one client was told about one record.
type ack struct {
	partition int32
	logcheck.Ack
}

// history is every acknowledgement and every read, from all clients.
type history struct {
	mu     sync.Mutex
	acked  []ack
	failed int
	seen   []ack
}

func (h *history) add(to *[]ack, a ack) {
	h.mu.Lock()
	*to = append(*to, a)
	h.mu.Unlock()
}

func runNemesis(t *testing.T, rf int16, faults []string) {
	seed := *nemesisSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("nemesis: seed %d (-nemesis.seed=%d repeats the victims), %d round(s) of %v, RF=%d", seed, seed, *nemesisRounds, faults, rf)
	rng := rand.New(rand.NewPCG(seed, 0))
	began := time.Now()
	c := newNSCluster(t)
	defer c.stopAll()
	topic := fmt.Sprintf("nemesis-rf%d", rf)
	admCl, err := kgo.NewClient(kgo.SeedBrokers(c.addrs()...), kgo.RequestRetries(50))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var configs map[string]*string
	if rf > 1 {
		two := "2"
		configs = map[string]*string{"min.insync.replicas": &two}
	}
	if res, err := kadm.NewClient(admCl).CreateTopic(ctx, nemesisPartitions, rf, configs, topic); err != nil || res.Err != nil {
		t.Fatalf("create %s: %v %v", topic, err, res.Err)
	}
	c.waitLeaders(topic, 20*time.Second)

	h := &history{}
	load, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { stopLoad(); wg.Wait() }() // also when a check fails early
	for p := range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); produceUnique(t, load, c.addrs(), topic, fmt.Sprintf("franz%d-", p), h) }()
	}
	var java *verifiableProducer
	if *nemesisJava {
		java = startVerifiableProducer(t, c.addrs()[0], topic)
	}
	reading, stopReading := context.WithCancel(context.Background())
	consumed := make(chan struct{})
	go func() { defer close(consumed); consumeGroup(t, reading, c.addrs(), topic, h) }()
	defer func() { stopReading(); <-consumed }()
	c.waitAcked(h, 10, 30*time.Second) // the load runs before the first fault

	for round := range *nemesisRounds {
		for _, f := range faults {
			at := time.Now()
			what := c.fault(f, rng, topic)
			c.waitLeaders(topic, 60*time.Second)
			n := c.waitAcked(h, 10, 30*time.Second) // writes go through again
			t.Logf("round %d: %s, recovered in %.1fs (%d acknowledged so far)", round+1, what, time.Since(at).Seconds(), n)
		}
	}
	stopLoad()
	wg.Wait()
	javaAcks := java.stop()
	h.mu.Lock()
	h.acked = append(h.acked, javaAcks...)
	h.mu.Unlock()

	// High watermarks, before stopping: the consumer-visible end, which
	// the group's consumer must reach.
	hws := c.highWatermarks(admCl, topic)
	c.waitConsumed(h, hws, 30*time.Second)
	stopReading()
	<-consumed
	final := c.sameMetadata(20*time.Second, 0, 1, 2)
	if rf > 1 {
		// Every replica back in the ISR: each has everything below the
		// high watermarks read above, so the checker may ask it of all.
		c.fullISR(topic, 60*time.Second)
	}
	replicas := c.replicasOf(topic)
	c.stopAll()
	t.Logf("nemesis done in %.1fs: %d acknowledged (%d by VerifiableProducer), %d produce failures (not acknowledged), %d records consumed; metadata identical on all three (index %d)",
		time.Since(began).Seconds(), len(h.acked), len(javaAcks), h.failed, len(h.seen), final.AppliedIndex)
	checkNemesis(t, c, topic, replicas, hws, h)
}

// fault applies one nemesis fault and returns what it did. It returns with
// every node running again.
func (c *nsCluster) fault(f string, rng *rand.Rand, topic string) string {
	c.t.Helper()
	switch f {
	case "kill-leader":
		p := rng.Int32N(nemesisPartitions)
		parts, err := partitionsOf(c.addrs()[rng.IntN(3)], topic)
		if err != nil || parts[p].leader < 1 {
			c.t.Fatalf("leader of %s/%d: %v %+v", topic, p, err, parts)
		}
		i := int(parts[p].leader - 1)
		c.kill(i)
		c.downtime()
		c.start(i)
		agreed(c.t, c.addrs(), 30*time.Second, allThree)
		return fmt.Sprintf("kill -9 of broker %d (leader of partition %d), restarted", i+1, p)
	case "kill-two":
		spare := rng.IntN(3)
		for i := range 3 {
			if i != spare {
				c.kill(i)
			}
		}
		c.downtime()
		for i := range 3 {
			if i != spare {
				c.start(i)
			}
		}
		agreed(c.t, c.addrs(), 30*time.Second, allThree)
		return fmt.Sprintf("kill -9 of two brokers at once (all but %d), restarted", spare+1)
	case "cut-heal":
		i := rng.IntN(3)
		id := int32(i + 1)
		var live []int32
		for k := int32(1); k <= 3; k++ {
			if k != id {
				live = append(live, k)
			}
		}
		c.hosts[i].Cut()
		agreed(c.t, c.addrsExcept(i), 30*time.Second, func(v clusterView) string {
			if v.leader == id || !slices.Equal(v.metadataBrokers, live) {
				return fmt.Sprintf("leader %d, brokers %v: broker %d not fenced yet", v.leader, v.metadataBrokers, id)
			}
			return ""
		})
		c.hosts[i].Heal()
		agreed(c.t, c.addrs(), 30*time.Second, allThree)
		return fmt.Sprintf("broker %d cut off until fenced, healed", id)
	case "restart-all":
		for i := range 3 {
			c.kill(i)
		}
		for i := range 3 {
			c.start(i)
		}
		agreed(c.t, c.addrs(), 30*time.Second, allThree)
		return "kill -9 of all three, restarted"
	}
	c.t.Fatalf("unknown fault %q", f)
	return ""
}

// downtime is how long killed nodes stay down: part of the schedule,
// not a wait for a condition.
func (c *nsCluster) downtime() { time.Sleep(*nemesisDowntime) }

// waitLeaders polls until every partition of topic has a leader.
func (c *nsCluster) waitLeaders(topic string, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got, err := leadersOf(c.addrs()[0], topic)
		if err == nil && !slices.Contains(got, -1) {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s without leaders after %v: %v (%v)\n%s", topic, timeout, got, err, describePartitions(c.addrs()[0], topic))
		}
		time.Sleep(50 * time.Millisecond) // polling Metadata, bounded by the deadline
	}
}

// waitAcked polls until n more records are acknowledged and returns the
// count.
func (c *nsCluster) waitAcked(h *history, n int, timeout time.Duration) int {
	c.t.Helper()
	h.mu.Lock()
	want := len(h.acked) + n
	h.mu.Unlock()
	deadline := time.Now().Add(timeout)
	for {
		h.mu.Lock()
		got := len(h.acked)
		h.mu.Unlock()
		if got >= want {
			return got
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("only %d of %d records acknowledged after %v", got, want, timeout)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// waitConsumed polls until the consumer has read every partition up to
// its high watermark.
func (c *nsCluster) waitConsumed(h *history, hws map[int32]int64, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		h.mu.Lock()
		next := map[int32]int64{}
		for _, s := range h.seen {
			next[s.partition] = max(next[s.partition], s.Offset+1)
		}
		h.mu.Unlock()
		behind := ""
		for p, hw := range hws {
			if next[p] < hw {
				behind += fmt.Sprintf(" %d: read to %d of %d;", p, next[p], hw)
			}
		}
		if behind == "" {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the group's consumer did not reach the high watermarks within %v:%s", timeout, behind)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}

// produceUnique produces prefix0, prefix1, ... round-robin over the
// partitions with an idempotent acks=all franz-go client until ctx ends,
// about 200 records a second with at most 32 in flight, and records each
// acknowledgement (or failure) in h.
func produceUnique(t *testing.T, ctx context.Context, seeds []string, topic, prefix string, h *history) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RecordDeliveryTimeout(5*time.Second), kgo.ProducerLinger(0))
	if err != nil {
		t.Error(err)
		return
	}
	defer cl.Close()
	inflight := make(chan struct{}, 32)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var wg sync.WaitGroup
	// finish waits for the callbacks of what is in flight; a record a
	// broker never answers (a test that failed and left the cluster broken)
	// is failed by closing the client after a bound, so that a failed test
	// reports instead of hanging until go test's timeout.
	finish := func() {
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Logf("%s: produces unanswered 30 s after the load stopped; closing the client", prefix)
			cl.Close()
			<-done
		}
	}
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			finish()
			return
		case <-tick.C:
		}
		select {
		case <-ctx.Done():
			finish()
			return
		case inflight <- struct{}{}:
		}
		v := fmt.Sprintf("%s%d", prefix, n)
		wg.Add(1)
		cl.Produce(context.Background(), &kgo.Record{Topic: topic, Partition: int32(n % nemesisPartitions), Value: []byte(v)},
			func(r *kgo.Record, err error) {
				defer wg.Done()
				<-inflight
				if err != nil {
					h.mu.Lock()
					h.failed++
					h.mu.Unlock()
					return
				}
				h.add(&h.acked, ack{r.Partition, logcheck.Ack{Offset: r.Offset, Value: v}})
			})
	}
}

// consumeGroup reads topic in a consumer group until ctx ends, recording
// every record it sees.
func consumeGroup(t *testing.T, ctx context.Context, seeds []string, topic string, h *history) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumerGroup("nemesis-"+topic), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond))
	if err != nil {
		t.Error(err)
		return
	}
	defer cl.Close()
	for ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			h.add(&h.seen, ack{r.Partition, logcheck.Ack{Offset: r.Offset, Value: string(r.Value)}})
		})
	}
}

// highWatermarks asks the leaders for each partition's high watermark.
func (c *nsCluster) highWatermarks(cl *kgo.Client, topic string) map[int32]int64 {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil || ends.Error() != nil {
		c.t.Fatalf("high watermarks of %s: %v %v", topic, err, ends.Error())
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// replicasOf maps each partition of topic to its replicas' broker ids.
func (c *nsCluster) replicasOf(topic string) map[int32][]int32 {
	c.t.Helper()
	parts, err := partitionsOf(c.addrs()[0], topic)
	if err != nil {
		c.t.Fatal(err)
	}
	out := map[int32][]int32{}
	for p, pi := range parts {
		out[int32(p)] = pi.replicas
	}
	return out
}

// fullISR waits until every partition of topic has all its replicas in
// its ISR.
func (c *nsCluster) fullISR(topic string, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		parts, err := partitionsOf(c.addrs()[0], topic)
		lagging := ""
		for p, pi := range parts {
			if len(pi.isr) != len(pi.replicas) {
				lagging = fmt.Sprintf("partition %d: ISR %v of replicas %v", p, pi.isr, pi.replicas)
				break
			}
		}
		if err == nil && lagging == "" {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("replicas not back in the ISR after %v: %v %s\n%s", timeout, err, lagging, describePartitions(c.addrs()[0], topic))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkNemesis reads every replica of every partition from the nodes'
// data directories and runs the checks.
func checkNemesis(t *testing.T, c *nsCluster, topic string, replicas map[int32][]int32, hws map[int32]int64, h *history) {
	byPart := func(as []ack) map[int32][]logcheck.Ack {
		out := map[int32][]logcheck.Ack{}
		for _, a := range as {
			out[a.partition] = append(out[a.partition], a.Ack)
		}
		return out
	}
	acked, seen := byPart(h.acked), byPart(h.seen)
	problems := 0
	for p := range int32(nemesisPartitions) {
		var parts []*logcheck.Partition
		for _, id := range replicas[p] {
			dir := filepath.Join(c.dirs[id-1], fmt.Sprintf("%s-%d", topic, p))
			lp, err := logcheck.ReadPartition(dir)
			if err != nil {
				t.Fatalf("partition %d on broker %d: %v", p, id, err)
			}
			recs, err := lp.Records()
			if err != nil {
				t.Fatalf("partition %d on broker %d: %v", p, id, err)
			}
			report := func(kind string, lines []string, n int) {
				problems += n
				for _, l := range lines {
					t.Errorf("partition %d on broker %d: %s", p, id, l)
				}
				if n > len(lines) {
					t.Errorf("partition %d on broker %d: ... %d %s problems in all", p, id, n, kind)
				}
			}
			below := slices.DeleteFunc(slices.Clone(recs), func(r logcheck.Record) bool { return r.Offset >= hws[p] })
			lines, n := logcheck.CheckAcked(below, acked[p], 10)
			report("acknowledged", lines, n)
			lines, n = logcheck.CheckSeen(below, seen[p], 10)
			report("consumed", lines, n)
			if d := logcheck.Duplicates(recs); len(d) > 0 {
				report("duplicate", []string{fmt.Sprintf("values present more than once: %.10q", d)}, len(d))
			}
			t.Logf("partition %d on broker %d: %d records, end %d, high watermark %d, %d acknowledged, %d consumed, torn tail %d bytes",
				p, id, len(recs), lp.End, hws[p], len(acked[p]), len(seen[p]), lp.Torn)
			parts = append(parts, lp)
		}
		if err := logcheck.CompareReplicas(hws[p], parts...); err != nil {
			problems++
			t.Errorf("partition %d: %v", p, err)
		}
	}
	if problems == 0 {
		t.Logf("checker: every acknowledged record present exactly once at its offset on every replica, no consumed record vanished, replicas identical below the high watermark")
	}
}

// verifiableProducer is Apache Kafka's VerifiableProducer (kafka-tools)
// running against the cluster, idempotent with acks=all.
type verifiableProducer struct {
	cmd    *exec.Cmd
	done   chan struct{}
	acks   []ack
	t      *testing.T
	stderr *testlog.Buffer
	lines  int // stdout lines
	last   string
}

// startVerifiableProducer starts it when java and the kit's jars are
// there (else logs why not and returns nil).
func startVerifiableProducer(t *testing.T, bootstrap, topic string) *verifiableProducer {
	java, err := exec.LookPath("java")
	lib, _ := filepath.Abs("../../e2e/java/lib")
	if jars, _ := filepath.Glob(filepath.Join(lib, "kafka-tools-*.jar")); err != nil || len(jars) == 0 {
		t.Logf("VerifiableProducer skipped: java (%v) or the Kafka jars in %s missing (scripts/test-deps.sh installs them)", err, lib)
		return nil
	}
	props := writeFile(t, "producer.properties", "enable.idempotence=true\nacks=all\nretries=2147483647\ncompression.type=none\ndelivery.timeout.ms=10000\nrequest.timeout.ms=3000\nlinger.ms=0\n")
	cmd := exec.Command(java, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xmx256m", "-cp", lib+"/*",
		"org.apache.kafka.tools.VerifiableProducer", "--bootstrap-server", bootstrap, "--topic", topic,
		"--throughput", "100", "--max-messages", "-1", "--acks", "-1", "--value-prefix", "1", "--producer.config", props)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &testlog.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	v := &verifiableProducer{cmd: cmd, done: make(chan struct{}), t: t, stderr: stderr}
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-v.done })
	go func() {
		defer close(v.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			v.lines++
			v.last = sc.Text()
			var ev struct {
				Name      string `json:"name"`
				Value     string `json:"value"`
				Partition int32  `json:"partition"`
				Offset    int64  `json:"offset"`
			}
			if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Name == "producer_send_success" {
				v.acks = append(v.acks, ack{ev.Partition, logcheck.Ack{Offset: ev.Offset, Value: ev.Value}})
			}
		}
		_ = cmd.Wait()
	}()
	return v
}

// stop ends the producer (SIGTERM: it flushes what it sent) and returns
// its acknowledgements.
func (v *verifiableProducer) stop() []ack {
	if v == nil {
		return nil
	}
	_ = v.cmd.Process.Signal(os.Interrupt)
	select {
	case <-v.done:
	case <-time.After(30 * time.Second):
		_ = v.cmd.Process.Kill()
		<-v.done
	}
	if len(v.acks) == 0 {
		v.t.Errorf("VerifiableProducer acknowledged nothing (%d lines, the last %q); stderr:\n%s", v.lines, v.last, v.stderr)
	}
	return v.acks
}
