package broker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func newKgo(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.FetchMaxWait(200 * time.Millisecond)}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// consumeN polls until n records arrived (or the context ends).
func consumeN(ctx context.Context, t *testing.T, cl *kgo.Client, n int) []*kgo.Record {
	t.Helper()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(out), n, err)
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch %s-%d: %v", topic, p, err)
		})
		out = append(out, fs.Records()...)
	}
	return out
}

func TestKgoProduceConsumeKeyed(t *testing.T) {
	ts := startServer(t, "")
	ts.createTopic(t, "keyed", 3, nil)
	ctx := testCtx(t)
	prod := newKgo(t, ts.addr, kgo.DefaultProduceTopic("keyed"))
	const n = 3000
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprintf("k%d", i%17)), Value: []byte(fmt.Sprintf("v%d", i))})
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	sent := map[string]*kgo.Record{}
	for _, r := range recs {
		sent[string(r.Value)] = r
	}
	cons := newKgo(t, ts.addr, kgo.ConsumeTopics("keyed"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := consumeN(ctx, t, cons, n)
	if len(got) != n {
		t.Fatalf("got %d records, want %d", len(got), n)
	}
	next := map[int32]int64{}
	for _, r := range got {
		s := sent[string(r.Value)]
		if s == nil || string(s.Key) != string(r.Key) || s.Partition != r.Partition || s.Offset != r.Offset {
			t.Fatalf("record %q key %q p%d@%d does not match what was produced", r.Value, r.Key, r.Partition, r.Offset)
		}
		if r.Offset != next[r.Partition] {
			t.Fatalf("partition %d: offset %d, want %d (order)", r.Partition, r.Offset, next[r.Partition])
		}
		next[r.Partition]++
		delete(sent, string(r.Value))
	}
	if len(next) != 3 {
		t.Fatalf("records landed in %d partitions, want 3", len(next))
	}
}

func TestKgoLargeRecords(t *testing.T) {
	ts := startServer(t, "")
	ts.createTopic(t, "big", 1, nil)
	ctx := testCtx(t)
	prod := newKgo(t, ts.addr, kgo.DefaultProduceTopic("big"), kgo.ProducerBatchMaxBytes(4<<20),
		kgo.RecordRetries(2))
	near := make([]byte, 1<<20-200) // random: kgo compresses batches
	rand.Read(near)
	for range 3 {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: near}).FirstErr(); err != nil {
			t.Fatalf("near-1MiB record: %v", err)
		}
	}
	over := make([]byte, 1<<20+100)
	rand.Read(over)
	err := prod.ProduceSync(ctx, &kgo.Record{Value: over}).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("over max.message.bytes: %v, want MESSAGE_TOO_LARGE", err)
	}
	cons := newKgo(t, ts.addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"big": {0: kgo.NewOffset().At(0)}}))
	got := consumeN(ctx, t, cons, 3)
	for i, r := range got {
		if len(r.Value) != len(near) || r.Value[12345] != near[12345] || r.Offset != int64(i) {
			t.Fatalf("record %d: %d bytes at offset %d", i, len(r.Value), r.Offset)
		}
	}
}

func TestKgoEmptyTopic(t *testing.T) {
	ts := startServer(t, "")
	ts.createTopic(t, "empty", 2, nil)
	cons := newKgo(t, ts.addr, kgo.ConsumeTopics("empty"), kgo.FetchMaxWait(100*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	for ctx.Err() == nil {
		fs := cons.PollFetches(ctx)
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("fetch %s-%d: %v", topic, p, err)
			}
		})
		if n := len(fs.Records()); n != 0 {
			t.Fatalf("%d records from an empty topic", n)
		}
	}
}

func TestKgoFetchInsideBatch(t *testing.T) {
	ts := startServer(t, "")
	ts.createTopic(t, "inside", 1, nil)
	ctx := testCtx(t)
	prod := newKgo(t, ts.addr, kgo.DefaultProduceTopic("inside"), kgo.ProducerLinger(time.Second))
	var recs []*kgo.Record
	for i := range 10 {
		recs = append(recs, &kgo.Record{Value: []byte{byte('0' + i)}})
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil { // one batch
		t.Fatal(err)
	}
	if recs[0].Offset != 0 || recs[9].Offset != 9 {
		t.Fatalf("offsets %d..%d", recs[0].Offset, recs[9].Offset)
	}
	cons := newKgo(t, ts.addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"inside": {0: kgo.NewOffset().At(5)}}))
	got := consumeN(ctx, t, cons, 5)
	for i, r := range got {
		if r.Offset != int64(5+i) || r.Value[0] != byte('5'+i) {
			t.Fatalf("record %d: offset %d value %q", i, r.Offset, r.Value)
		}
	}
}
