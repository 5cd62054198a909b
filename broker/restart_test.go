package broker

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func initProducerID(t *testing.T, rc *rawConn) (int64, int16) {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = 4
	resp := rc.roundTrip(req).(*kmsg.InitProducerIDResponse)
	if resp.ErrorCode != 0 {
		t.Fatalf("InitProducerId: error %d", resp.ErrorCode)
	}
	return resp.ProducerID, resp.ProducerEpoch
}

func highWatermark(t *testing.T, rc *rawConn, topic string, p int32) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 7
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp = p, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := rc.roundTrip(req).(*kmsg.ListOffsetsResponse)
	got := resp.Topics[0].Partitions[0]
	if got.ErrorCode != 0 {
		t.Fatalf("ListOffsets: error %d", got.ErrorCode)
	}
	return got.Offset
}

// TestRestartIdempotentRetry sends the same idempotent batch before and
// after a restart: the retry gets the original offsets and the log holds
// the records once.
func TestRestartIdempotentRetry(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir)
	ts.createTopic(t, "r", 1, nil)
	rc := dialRaw(t, ts.addr)
	pid, epoch := initProducerID(t, rc)
	batch := func(seq int32, n int) []byte {
		var vals [][]byte
		for i := range n {
			vals = append(vals, []byte(fmt.Sprintf("s%d", int(seq)+i)))
		}
		return makeBatch(batchOpts{producerID: pid, producerEpoch: epoch, sequence: seq}, vals...)
	}
	a, b := batch(0, 5), batch(5, 5)
	for _, want := range []struct {
		rec  []byte
		base int64
	}{{a, 0}, {b, 5}, {b, 5}} { // the last is a retry
		got := produceOne(t, rc, produceReq(9, -1, "r", 0, want.rec))
		if got.ErrorCode != 0 || got.BaseOffset != want.base {
			t.Fatalf("produce: error %d base %d, want base %d", got.ErrorCode, got.BaseOffset, want.base)
		}
	}
	ts.stop(t)

	ts = startServer(t, dir)
	rc = dialRaw(t, ts.addr)
	got := produceOne(t, rc, produceReq(9, -1, "r", 0, b))
	if got.ErrorCode != 0 || got.BaseOffset != 5 {
		t.Fatalf("retry after restart: error %d base %d, want base 5", got.ErrorCode, got.BaseOffset)
	}
	got = produceOne(t, rc, produceReq(9, -1, "r", 0, batch(10, 5)))
	if got.ErrorCode != 0 || got.BaseOffset != 10 {
		t.Fatalf("next batch after restart: error %d base %d, want base 10", got.ErrorCode, got.BaseOffset)
	}
	if hw := highWatermark(t, rc, "r", 0); hw != 15 {
		t.Fatalf("high watermark %d, want 15 (a duplicate was appended?)", hw)
	}
	if pid2, _ := initProducerID(t, rc); pid2 <= pid {
		t.Fatalf("producer id %d after restart reuses an id (first was %d)", pid2, pid)
	}
	// Every record once, in order.
	ctx := testCtx(t)
	cons := newKgo(t, ts.addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"r": {0: kgo.NewOffset().At(0)}}))
	for i, r := range consumeN(ctx, t, cons, 15) {
		if string(r.Value) != fmt.Sprintf("s%d", i) || r.Offset != int64(i) {
			t.Fatalf("record %d: offset %d value %q", i, r.Offset, r.Value)
		}
	}
}

// TestRestartMidStream restarts the broker (on the same port) under a
// producing franz-go client: every acknowledged record is there after the
// restart, exactly once.
func TestRestartMidStream(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir)
	ts.createTopic(t, "mid", 2, nil)
	addr := ts.addr
	ctx := testCtx(t)
	prod := newKgo(t, addr, kgo.DefaultProduceTopic("mid"), kgo.ProducerLinger(0),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }))

	var acked sync.Map // value -> struct{}
	var nAcked, nFailed atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			v := fmt.Sprintf("m%06d", i)
			prod.Produce(ctx, &kgo.Record{Key: []byte(v), Value: []byte(v)}, func(r *kgo.Record, err error) {
				if err != nil {
					nFailed.Add(1)
					return
				}
				acked.Store(string(r.Value), struct{}{})
				nAcked.Add(1)
			})
			if i%50 == 49 {
				time.Sleep(time.Millisecond) // pace: a stream, not a flood
			}
		}
	})
	waitFor(t, "records acknowledged before the restart", 30*time.Second, func() bool { return nAcked.Load() >= 500 })
	ts.stop(t)
	ts = startServer(t, dir, func(c *ServerConfig) { c.Net.Addr = addr })
	before := nAcked.Load()
	waitFor(t, "records acknowledged after the restart", 30*time.Second, func() bool { return nAcked.Load() >= before+500 })
	close(stop)
	wg.Wait()
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rc := dialRaw(t, ts.addr)
	total := highWatermark(t, rc, "mid", 0) + highWatermark(t, rc, "mid", 1)
	cons := newKgo(t, ts.addr, kgo.ConsumeTopics("mid"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]bool{}
	for _, r := range consumeN(ctx, t, cons, int(total)) {
		if seen[string(r.Value)] {
			t.Fatalf("record %q stored twice", r.Value)
		}
		seen[string(r.Value)] = true
	}
	missing := 0
	acked.Range(func(k, _ any) bool {
		if !seen[k.(string)] {
			missing++
		}
		return true
	})
	if missing > 0 {
		t.Fatalf("%d acknowledged records missing after restart (%d acked, %d failed, %d stored)",
			missing, nAcked.Load(), nFailed.Load(), total)
	}
	t.Logf("%d acked, %d failed, %d stored", nAcked.Load(), nFailed.Load(), total)
}
