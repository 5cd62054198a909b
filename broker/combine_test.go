package broker

import (
	"fmt"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKgoIdempotentProducersShareAPartition: six idempotent franz-go
// producers, each on its own connection, write to one partition at once
// (their appends queue behind each other's and share the log's writes:
// partition/append.go's group append), with the log fsyncing every
// append (pipelined Submits) and without. Every record lands once, the
// offsets are dense, and each producer's records keep its order.
func TestKgoIdempotentProducersShareAPartition(t *testing.T) {
	f := func(topic string, configs map[string]string) {
		t.Helper()
		ts := startServer(t, "")
		ts.createTopic(t, topic, 1, configs)
		ctx := testCtx(t)
		const producers, each = 6, 300
		var wg sync.WaitGroup
		errs := make(chan error, producers*each)
		for p := range producers {
			cl := newKgo(t, ts.addr, kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(0))
			wg.Go(func() {
				var pw sync.WaitGroup
				for i := range each {
					pw.Add(1)
					cl.Produce(ctx, &kgo.Record{Value: fmt.Appendf(nil, "%d-%d", p, i)}, func(_ *kgo.Record, err error) {
						if err != nil {
							errs <- err
						}
						pw.Done()
					})
				}
				pw.Wait()
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("%s: produce: %v", topic, err)
		}
		cons := newKgo(t, ts.addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		got := consumeN(ctx, t, cons, producers*each)
		if len(got) != producers*each {
			t.Fatalf("%s: %d records, want %d", topic, len(got), producers*each)
		}
		next := make([]int, producers)
		for i, r := range got {
			var p, seq int
			if _, err := fmt.Sscanf(string(r.Value), "%d-%d", &p, &seq); err != nil || p < 0 || p >= producers {
				t.Fatalf("%s: record %q at %d", topic, r.Value, r.Offset)
			}
			if r.Offset != int64(i) {
				t.Fatalf("%s: record %d at offset %d (not dense)", topic, i, r.Offset)
			}
			if seq != next[p] {
				t.Fatalf("%s: producer %d's record %d at offset %d, want its record %d (order, no duplicates)", topic, p, seq, r.Offset, next[p])
			}
			next[p]++
		}
	}
	f("shared", nil)
	f("shared-fsync", map[string]string{"flush.messages": "1"})
}
