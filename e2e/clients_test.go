package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestClients drives the real daemon with real clients, one daemon for
// all of them (each subtest on its own topic).
func TestClients(t *testing.T) {
	d := start(t, t.TempDir())
	t.Run("FranzGoKeyed3Partitions", func(t *testing.T) { testFranzGoKeyed(t, d.Addr) })
	for _, v := range []sarama.KafkaVersion{sarama.V2_1_0_0, sarama.V2_8_0_0} {
		t.Run("Sarama"+v.String(), func(t *testing.T) { testSarama(t, d.Addr, v) })
	}
	t.Run("KafkaGo", func(t *testing.T) { testKafkaGo(t, d.Addr) })
	t.Run("KcatToFranzGo", func(t *testing.T) { testKcatToFranzGo(t, d.Addr) })
	t.Run("FranzGoToKcat", func(t *testing.T) { testFranzGoToKcat(t, d.Addr) })
	d.Stop()
}

// testFranzGoKeyed produces keyed records with franz-go's defaults
// (idempotent, key-hash partitioner) to 3 partitions and reads each
// partition back exactly, in the order acknowledged.
func testFranzGoKeyed(t *testing.T, addr string) {
	const topic, n = "franz-keyed", 3000
	createTopic(t, addr, topic, 3)
	cl := newClient(t, addr)
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "user-%d", i%97), Value: fmt.Appendf(nil, "event-%05d", i)}
	}
	acked := produceSync(t, cl, recs...)
	want := map[int32][]*kgo.Record{}
	for _, r := range acked {
		want[r.Partition] = append(want[r.Partition], r)
	}
	if len(want) != 3 {
		t.Fatalf("97 keys landed on %d partitions, want 3", len(want))
	}
	got := map[int32][]*kgo.Record{}
	for _, r := range consumeN(t, addr, topic, n) {
		got[r.Partition] = append(got[r.Partition], r)
	}
	for p, w := range want {
		sort.Slice(w, func(i, j int) bool { return w[i].Offset < w[j].Offset })
		g := got[p]
		if len(g) != len(w) {
			t.Fatalf("partition %d: %d records, want %d", p, len(g), len(w))
		}
		for i := range w {
			if g[i].Offset != int64(i) || w[i].Offset != int64(i) || string(g[i].Key) != string(w[i].Key) || string(g[i].Value) != string(w[i].Value) {
				t.Fatalf("partition %d record %d: got offset %d %s=%s, want offset %d %s=%s",
					p, i, g[i].Offset, g[i].Key, g[i].Value, w[i].Offset, w[i].Key, w[i].Value)
			}
			if i > 0 && string(w[i].Value) < string(w[i-1].Value) {
				t.Fatalf("partition %d: %s stored after %s: not in production order", p, w[i].Value, w[i-1].Value)
			}
		}
	}
}

// testSarama: SyncProducer into an auto-created topic, then a partition
// consumer from the oldest offset.
func testSarama(t *testing.T, addr string, version sarama.KafkaVersion) {
	topic := "sarama-" + strings.ReplaceAll(version.String(), ".", "_")
	const n = 500
	cfg := sarama.NewConfig()
	cfg.Version = version
	cfg.ClientID = "e2e-sarama"
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Consumer.MaxWaitTime = 200 * time.Millisecond
	prod, err := sarama.NewSyncProducer([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("sarama producer: %v", err)
	}
	defer prod.Close()
	msgs := make([]*sarama.ProducerMessage, n)
	for i := range msgs {
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(fmt.Sprint(i)),
			Value: sarama.StringEncoder(fmt.Sprintf("sarama-%d", i))}
	}
	if err := prod.SendMessages(msgs); err != nil {
		t.Fatalf("SendMessages: %v", err)
	}
	for i, m := range msgs {
		if m.Partition != 0 || m.Offset != int64(i) {
			t.Fatalf("message %d acknowledged at partition %d offset %d, want 0/%d", i, m.Partition, m.Offset, i)
		}
	}
	cons, err := sarama.NewConsumer([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("sarama consumer: %v", err)
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatalf("ConsumePartition: %v", err)
	}
	defer pc.Close()
	timeout := time.After(ioTimeout)
	for i := range n {
		select {
		case m := <-pc.Messages():
			if m.Offset != int64(i) || string(m.Key) != fmt.Sprint(i) || string(m.Value) != fmt.Sprintf("sarama-%d", i) {
				t.Fatalf("message %d: offset %d %s=%s", i, m.Offset, m.Key, m.Value)
			}
		case err := <-pc.Errors():
			t.Fatalf("consume: %v", err)
		case <-timeout:
			t.Fatalf("consumed %d of %d within %v", i, n, ioTimeout)
		}
	}
}

// testKafkaGo: segmentio/kafka-go Writer, then a Reader on partition 0
// (no consumer group).
func testKafkaGo(t *testing.T, addr string) {
	const topic, n = "kafka-go", 500
	createTopic(t, addr, topic, 1)
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	w := &kafkago.Writer{Addr: kafkago.TCP(addr), Topic: topic, RequiredAcks: kafkago.RequireAll,
		BatchTimeout: 5 * time.Millisecond, BatchSize: 64}
	defer w.Close()
	msgs := make([]kafkago.Message, n)
	for i := range msgs {
		msgs[i] = kafkago.Message{Key: fmt.Append(nil, i), Value: fmt.Appendf(nil, "kafka-go-%d", i)}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("WriteMessages: %v", err)
	}
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: []string{addr}, Topic: topic, Partition: 0,
		MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 200 * time.Millisecond})
	defer r.Close()
	for i := range n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("ReadMessage %d: %v", i, err)
		}
		if m.Offset != int64(i) || string(m.Key) != fmt.Sprint(i) || string(m.Value) != fmt.Sprintf("kafka-go-%d", i) {
			t.Fatalf("message %d: offset %d %s=%s", i, m.Offset, m.Key, m.Value)
		}
	}
}

// testKcatToFranzGo: kcat produces keyed lines, franz-go reads them.
func testKcatToFranzGo(t *testing.T, addr string) {
	kcat := requireKcat(t)
	const topic, n = "kcat-to-franz", 1000
	var in strings.Builder
	for i := range n {
		fmt.Fprintf(&in, "k%d:kcat-value-%d\n", i%10, i)
	}
	runTool(t, ioTimeout, []byte(in.String()), kcat, "-P", "-b", addr, "-t", topic, "-K:")
	for i, r := range consumeN(t, addr, topic, n) {
		if r.Offset != int64(i) || string(r.Key) != fmt.Sprintf("k%d", i%10) || string(r.Value) != fmt.Sprintf("kcat-value-%d", i) {
			t.Fatalf("record %d: offset %d %s=%s", i, r.Offset, r.Key, r.Value)
		}
	}
}

// testFranzGoToKcat: franz-go produces, `kcat -C -e` reads to the end.
func testFranzGoToKcat(t *testing.T, addr string) {
	kcat := requireKcat(t)
	const topic, n = "franz-to-kcat", 1000
	cl := newClient(t, addr)
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "franz-value-%d", i)}
	}
	produceSync(t, cl, recs...)
	out := lines(runTool(t, ioTimeout, nil, kcat, "-C", "-b", addr, "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%o %k %s\n"))
	if len(out) != n {
		t.Fatalf("kcat read %d records, want %d:\n%s", len(out), n, tail(strings.Join(out, "\n"), 500))
	}
	for i, l := range out {
		if want := fmt.Sprintf("%d k%d franz-value-%d", i, i, i); l != want {
			t.Fatalf("kcat record %d: %q, want %q", i, l, want)
		}
	}
}

// TestRestartMidStream keeps an idempotent franz-go producer streaming
// while the daemon is stopped (SIGTERM, or SIGKILL) and started again on
// the same port: every acknowledged record is stored once, in production
// order.
func TestRestartMidStream(t *testing.T) {
	t.Run("SIGTERM", func(t *testing.T) { testRestartMidStream(t, (*daemon).Stop) })
	t.Run("SIGKILL", func(t *testing.T) { testRestartMidStream(t, (*daemon).Kill) })
}

// extraRecords describes the records of got that no acknowledgement named
// (acked: offset -> value), and the values written more than once.
func extraRecords(got []*kgo.Record, acked map[int64]string) string {
	seen := map[string]int{}
	var extra, again []string
	for _, r := range got {
		v := string(r.Value)
		if seen[v]++; seen[v] == 2 {
			again = append(again, v)
		}
		if want, ok := acked[r.Offset]; !ok || want != v {
			extra = append(extra, fmt.Sprintf("%d:%s", r.Offset, v))
		}
	}
	return fmt.Sprintf("%d records not acknowledged where they are (offset:value, first 20: %v); %d values written twice (first 20: %v)",
		len(extra), extra[:min(len(extra), 20)], len(again), again[:min(len(again), 20)])
}

func testRestartMidStream(t *testing.T, stopDaemon func(*daemon)) {
	dir := t.TempDir()
	d := start(t, dir)
	addr := d.Addr
	const topic = "mid-stream"
	cl := newClient(t, addr, kgo.DefaultProduceTopic(topic), kgo.MaxBufferedRecords(64), kgo.ProducerLinger(0),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }))
	ctx, cancel := context.WithTimeout(context.Background(), 2*ioTimeout)
	defer cancel()

	var mu sync.Mutex
	acked := map[int64]string{} // offset -> value
	var nAcked, nFailed atomic.Int64
	var firstErr error // guarded by mu
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			v := fmt.Sprintf("m%06d", i)
			cl.Produce(ctx, &kgo.Record{Key: []byte(v), Value: []byte(v)}, func(r *kgo.Record, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					nFailed.Add(1)
					if firstErr == nil {
						firstErr = err
					}
					return
				}
				acked[r.Offset] = v
				nAcked.Add(1)
			}) // blocks while 64 records are buffered: the stream's pace is the broker's
		}
	})
	waitFor(t, "500 records acknowledged before the restart", ioTimeout, func() bool { return nAcked.Load() >= 500 })
	stopDaemon(d)
	d = start(t, dir, "--listen", addr)
	before := nAcked.Load()
	waitFor(t, "500 more records acknowledged after the restart", ioTimeout, func() bool { return nAcked.Load() >= before+500 })
	close(stop)
	wg.Wait()
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := nFailed.Load(); n > 0 {
		t.Errorf("%d records failed (first: %v)", n, firstErr)
	}
	if n := nAcked.Load(); n != int64(len(acked)) {
		t.Errorf("%d records acknowledged at %d distinct offsets: two acknowledgements named one offset", n, len(acked))
	}
	got, err := pollNErr(newConsumer(t, addr, topic), len(acked))
	if len(got) > len(acked) {
		t.Fatalf("%v; the log holds what was acknowledged and more: %s", err, extraRecords(got, acked))
	}
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		if want, ok := acked[r.Offset]; !ok || string(r.Value) != want || r.Offset != int64(i) {
			t.Fatalf("record %d: offset %d value %s, acknowledged there: %q (%v)", i, r.Offset, r.Value, want, ok)
		}
		if i > 0 && string(r.Value) <= string(got[i-1].Value) {
			t.Fatalf("offset %d holds %s after %s: duplicated or reordered", r.Offset, r.Value, got[i-1].Value)
		}
	}
	t.Logf("%d acknowledged (%d before the restart), %d failed", len(acked), before, nFailed.Load())
	d.Stop()
}
