package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestConcurrentAppendsRoll has several producers (idempotent and not)
// append to one partition at once through 256 KiB segments while a
// consumer tails it; after a clean stop the independent reader finds
// every record once, offsets contiguous and indexes right.
func TestConcurrentAppendsRoll(t *testing.T) {
	dataDir := t.TempDir()
	d := start(t, dataDir, "--segment-bytes", "262144")
	const topic, producers, each = "concurrent", 4, 1500
	createTopic(t, d.Addr, topic, 1)
	tailer := newClient(t, d.Addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond))
	type result struct {
		recs []*kgo.Record
		err  error
	}
	tailed := make(chan result, 1)
	go func() {
		recs, err := pollNErr(tailer, producers*each)
		tailed <- result{recs, err}
	}()

	var wg sync.WaitGroup
	errs := make(chan error, producers)
	for p := range producers {
		opts := []kgo.Opt{kgo.ProducerLinger(time.Duration(p) * time.Millisecond), kgo.ProducerBatchCompression(kgo.NoCompression()),
			kgo.ProducerBatchMaxBytes(20 << 10)}
		if p%2 == 1 {
			opts = append(opts, kgo.DisableIdempotentWrite())
		}
		cl := newClient(t, d.Addr, opts...)
		wg.Go(func() {
			recs := make([]*kgo.Record, each)
			for i := range recs {
				_, filler := storageKV(p*each + i)
				recs[i] = &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "p%d", p), Value: fmt.Appendf(nil, "p%d-%05d-%s", p, i, filler)}
			}
			for len(recs) > 0 { // several ProduceSync calls: many batches per producer
				n := min(len(recs), 100)
				ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
				err := cl.ProduceSync(ctx, recs[:n]...).FirstErr()
				cancel()
				if err != nil {
					errs <- fmt.Errorf("producer %d: %w", p, err)
					return
				}
				recs = recs[n:]
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var got result
	select {
	case got = <-tailed:
	case <-time.After(2 * ioTimeout):
		t.Fatal("the tailing consumer did not finish")
	}
	if got.err != nil {
		t.Fatalf("tailing consumer: %v", got.err)
	}
	checkProducerOrder(t, "tailing consumer", got.recs, producers, each)
	d.Stop()

	dump := verifyPartitionDir(t, filepath.Join(dataDir, topic+"-0"))
	if len(dump.Segments) < 10 {
		t.Errorf("%d segments, want the 256 KiB limit to roll at least 10", len(dump.Segments))
	}
	t.Logf("%d segments, %d batches, next offset %d", len(dump.Segments), dump.Batches, dump.Next)
	if dump.Next != producers*each {
		t.Errorf("log ends at offset %d, want %d", dump.Next, producers*each)
	}
	onDisk := make([]*kgo.Record, len(dump.Records))
	for i, r := range dump.Records {
		onDisk[i] = &kgo.Record{Offset: r.Offset, Value: r.Value}
	}
	checkProducerOrder(t, "on disk", onDisk, producers, each)
}

// checkProducerOrder requires each producer's records exactly once and in
// its own order.
func checkProducerOrder(t *testing.T, who string, recs []*kgo.Record, producers, each int) {
	t.Helper()
	next := make([]int, producers)
	for _, r := range recs {
		var p, i int
		if _, err := fmt.Sscanf(string(r.Value), "p%d-%05d-", &p, &i); err != nil || p >= producers {
			t.Fatalf("%s: unexpected record %q at %d", who, r.Value, r.Offset)
		}
		if i != next[p] {
			t.Fatalf("%s: producer %d's record %d at offset %d, want its record %d", who, p, i, r.Offset, next[p])
		}
		next[p]++
	}
	for p, n := range next {
		if n != each {
			t.Errorf("%s: producer %d has %d records, want %d", who, p, n, each)
		}
	}
}

// TestShutdownWithClients stops the daemon with SIGTERM while clients
// are connected: each must let it exit 0, and promptly; a Fetch
// long-polling at the log end must be answered or cut at shutdown, not
// waited out. The data directory then starts clean.
func TestShutdownWithClients(t *testing.T) {
	f := func(name string, open func(t *testing.T, addr, topic string)) {
		t.Run(name, func(t *testing.T) {
			dataDir := t.TempDir()
			d := start(t, dataDir)
			const topic = "shutdown"
			requireHealthy(t, d.Addr, topic)
			open(t, d.Addr, topic)
			t0 := time.Now()
			d.Stop()
			if el := time.Since(t0); el > 10*time.Second {
				t.Errorf("SIGTERM took %v, want under 10 s", el)
			}
			d = start(t, dataDir)
			requireHealthy(t, d.Addr, topic)
			d.Stop()
		})
	}
	f("IdleConnection", func(t *testing.T, addr, _ string) {
		dialRaw(t, addr).roundTrip(kmsg.NewPtrApiVersionsRequest())
	})
	f("HalfSentFrame", func(t *testing.T, addr, _ string) {
		dialRaw(t, addr).write([]byte{0, 0, 0, 100, 0, 3})
	})
	f("LongPollFetch", func(t *testing.T, addr, topic string) {
		req := fetchReq(topic, 1)
		req.MaxWaitMillis = 50_000
		dialRaw(t, addr).send(req)
	})
}
