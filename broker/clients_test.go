package broker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	kafkago "github.com/segmentio/kafka-go"
)

func TestSarama(t *testing.T) {
	// V0_8_2_0 (sarama's oldest) sends Produce v0 (magic 0), Fetch v0 and
	// Metadata v0; V0_10_0_0 Produce v2 (magic 1), Fetch v2, ListOffsets v0;
	// V0_10_2_0 ListOffsets v1 and Fetch v3; V0_11_0_0 RecordBatch v2.
	for _, v := range []sarama.KafkaVersion{sarama.V0_8_2_0, sarama.V0_10_0_0, sarama.V0_10_2_0, sarama.V0_11_0_0, sarama.V2_1_0_0, sarama.V2_8_0_0} {
		t.Run(v.String(), func(t *testing.T) { testSarama(t, v) })
	}
}

func testSarama(t *testing.T, version sarama.KafkaVersion) {
	ts := startServer(t, "")
	const topic, parts, n = "sarama", 2, 200
	ts.createTopic(t, topic, parts, nil)
	cfg := sarama.NewConfig()
	cfg.Version = version
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Compression = sarama.CompressionGZIP
	cfg.Consumer.MaxWaitTime = 200 * time.Millisecond
	prod, err := sarama.NewSyncProducer([]string{ts.addr}, cfg)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	defer prod.Close()
	var msgs []*sarama.ProducerMessage
	for i := range n {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: int32(i % parts),
			Key: sarama.StringEncoder(fmt.Sprint(i)), Value: sarama.StringEncoder(fmt.Sprintf("value-%d", i))})
	}
	if err := prod.SendMessages(msgs); err != nil {
		t.Fatalf("send: %v", err)
	}
	one := &sarama.ProducerMessage{Topic: topic, Partition: 1, Value: sarama.StringEncoder("last")}
	p, off, err := prod.SendMessage(one)
	if err != nil || p != 1 || off != n/parts {
		t.Fatalf("send one: partition %d offset %d err %v", p, off, err)
	}

	checkSaramaOffsets(t, ts.addr, cfg, topic, 1, 0, n/parts+1)

	cons, err := sarama.NewConsumer([]string{ts.addr}, cfg)
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	defer cons.Close()
	for part := int32(0); part < parts; part++ {
		pc, err := cons.ConsumePartition(topic, part, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("consume partition %d: %v", part, err)
		}
		want := n / parts
		if part == 1 {
			want++
		}
		for i := range want {
			select {
			case m := <-pc.Messages():
				if m.Offset != int64(i) {
					t.Fatalf("partition %d: offset %d, want %d", part, m.Offset, i)
				}
				exp := fmt.Sprintf("value-%d", i*parts+int(part))
				if part == 1 && i == want-1 {
					exp = "last"
				}
				if string(m.Value) != exp {
					t.Fatalf("partition %d offset %d: %q, want %q", part, m.Offset, m.Value, exp)
				}
			case err := <-pc.Errors():
				t.Fatalf("partition %d: %v", part, err)
			case <-time.After(30 * time.Second):
				t.Fatalf("partition %d: timed out at %d of %d", part, i, want)
			}
		}
		pc.Close()
	}
}

func TestKafkaGo(t *testing.T) {
	ts := startServer(t, "")
	const topic, n = "kafkago", 300
	ts.createTopic(t, topic, 1, nil)
	ctx := testCtx(t)
	w := &kafkago.Writer{
		Addr:         kafkago.TCP(ts.addr),
		Topic:        topic,
		RequiredAcks: kafkago.RequireAll,
		BatchTimeout: 5 * time.Millisecond,
		BatchSize:    50,
	}
	defer w.Close()
	var msgs []kafkago.Message
	for i := range n {
		msgs = append(msgs, kafkago.Message{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("v%d", i))})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("write: %v", err)
	}
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers:   []string{ts.addr},
		Topic:     topic,
		Partition: 0,
		MinBytes:  1,
		MaxBytes:  10 << 20,
		MaxWait:   200 * time.Millisecond,
	})
	defer r.Close()
	if err := r.SetOffset(0); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if m.Offset != int64(i) || string(m.Value) != fmt.Sprintf("v%d", i) || string(m.Key) != fmt.Sprint(i) {
			t.Fatalf("message %d: offset %d key %q value %q", i, m.Offset, m.Key, m.Value)
		}
	}
	// An empty read waits and ends with the context, not an error.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if m, err := r.ReadMessage(short); err == nil {
		t.Fatalf("read past the end returned offset %d", m.Offset)
	}
}

// checkSaramaOffsets asks ListOffsets (v0 before V0_10_1_0) for the
// earliest and latest offsets of one partition.
func checkSaramaOffsets(t *testing.T, addr string, cfg *sarama.Config, topic string, part int32, earliest, latest int64) {
	t.Helper()
	cl, err := sarama.NewClient([]string{addr}, cfg)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	defer cl.Close()
	if got, err := cl.GetOffset(topic, part, sarama.OffsetOldest); err != nil || got != earliest {
		t.Fatalf("earliest offset %d, %v; want %d", got, err, earliest)
	}
	if got, err := cl.GetOffset(topic, part, sarama.OffsetNewest); err != nil || got != latest {
		t.Fatalf("latest offset %d, %v; want %d", got, err, latest)
	}
}
