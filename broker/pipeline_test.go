package broker

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/partition"
)

// Pipelined produce (netio.Pending): under fsync=always and for acks=all,
// a connection's produces are appended in request order while earlier
// ones wait for their fsync or their replicas; responses leave in request
// order.

func fsyncAlways(c *ServerConfig) { c.Store.Defaults.Flush = partition.FlushAlways }

// pipeListLatest is a ListOffsets(latest) request for topic's partition 0.
func pipeListLatest(topic string) *kmsg.ListOffsetsRequest {
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 4
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// An idempotent producer's pipelined requests (eight sent before any
// answer is read) get contiguous offsets in request order and their
// answers in request order; a ListOffsets sent after them (not a produce:
// it waits for the produces before it) sees all of them.
func TestPipelinedIdempotentProduceFsyncAlways(t *testing.T) {
	ts := startServer(t, "", fsyncAlways)
	ts.createTopic(t, "pi", 1, nil)
	rc := dialRaw(t, ts.addr)
	id, epoch := initProducerID(t, rc)
	const n = 8
	var reqs []*kmsg.ProduceRequest
	var corrs []int32
	for i := range n {
		b := makeBatch(batchOpts{producerID: id, producerEpoch: epoch, sequence: int32(2 * i)}, []byte("a"), []byte("b"))
		req := produceReq(9, -1, "pi", 0, b)
		reqs = append(reqs, req)
		corrs = append(corrs, rc.send(req))
	}
	lo := pipeListLatest("pi")
	loCorr := rc.send(lo)
	for i, req := range reqs {
		p := rc.read(req, corrs[i]).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
		if p.ErrorCode != 0 || p.BaseOffset != int64(2*i) {
			t.Fatalf("request %d: %v base %d, want base %d", i, kerr.ErrorForCode(p.ErrorCode), p.BaseOffset, 2*i)
		}
	}
	got := rc.read(lo, loCorr).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
	if got.ErrorCode != 0 || got.Offset != 2*n {
		t.Fatalf("ListOffsets after the produces: %v offset %d, want %d", kerr.ErrorForCode(got.ErrorCode), got.Offset, 2*n)
	}
}

// A corrupt batch in the middle of a pipeline gets CORRUPT_MESSAGE in its
// own answer, in its place; the requests around it are appended and
// answered, and the connection stays open.
func TestPipelinedProduceCorruptBatchAnswersInOrder(t *testing.T) {
	ts := startServer(t, "", fsyncAlways)
	ts.createTopic(t, "pc", 1, nil)
	rc := dialRaw(t, ts.addr)
	const n, bad = 5, 2
	var reqs []*kmsg.ProduceRequest
	var corrs []int32
	for i := range n {
		b := makeBatch(noProducer, fmt.Appendf(nil, "v%d", i))
		if i == bad {
			b[len(b)-1] ^= 0xff // the last value byte: the CRC no longer matches
		}
		req := produceReq(9, 1, "pc", 0, b)
		reqs = append(reqs, req)
		corrs = append(corrs, rc.send(req))
	}
	next := int64(0)
	for i, req := range reqs {
		p := rc.read(req, corrs[i]).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
		if i == bad {
			if p.ErrorCode != kerr.CorruptMessage.Code || p.BaseOffset != -1 {
				t.Fatalf("corrupt request %d: %v base %d, want CORRUPT_MESSAGE", i, kerr.ErrorForCode(p.ErrorCode), p.BaseOffset)
			}
			continue
		}
		if p.ErrorCode != 0 || p.BaseOffset != next {
			t.Fatalf("request %d: %v base %d, want base %d", i, kerr.ErrorForCode(p.ErrorCode), p.BaseOffset, next)
		}
		next++
	}
	if got := rc.roundTrip(pipeListLatest("pc")).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]; got.Offset != n-1 {
		t.Fatalf("log end %d, want %d", got.Offset, n-1)
	}
}

// franz-go's idempotent producer with five requests in flight per
// connection under fsync=always: every record is acknowledged, offsets
// follow the order of production, nothing is duplicated.
func TestPipelinedKgoIdempotentFsyncAlways(t *testing.T) {
	ts := startServer(t, "", fsyncAlways)
	ts.createTopic(t, "pk", 1, nil)
	cl := newKgo(t, ts.addr, kgo.DefaultProduceTopic("pk"), // idempotent: 5 in flight (franz-go, Kafka v1+)
		kgo.ProducerLinger(0), kgo.MaxBufferedRecords(64))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 400
	offsets := make([]int64, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed error
	for i := range n {
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Value: fmt.Appendf(nil, "%d", i)}, func(r *kgo.Record, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil && failed == nil {
				failed = fmt.Errorf("record %d: %w", i, err)
			}
			offsets[i] = r.Offset
		})
	}
	wg.Wait()
	if failed != nil {
		t.Fatal(failed)
	}
	for i, o := range offsets {
		if o != int64(i) {
			t.Fatalf("record %d at offset %d, want %d (offsets must follow production order)", i, o, i)
		}
	}
	if end := ts.Store().Get("pk", 0).LogEndOffset(); end != n {
		t.Fatalf("log end %d, want %d", end, n)
	}
}

// acks=all waits for the replicas in the pipeline's wait phase: three
// produces sent on one connection are all appended while the first still
// waits for the follower (so the log end reaches +3 before any answer),
// and once the follower fetched past them they are answered in order.
func TestPipelinedAcksAllAppendsWhileWaiting(t *testing.T) {
	ts, rc := twoBrokers(t)
	id, err := ts.ctl.CreateTopic("pa", 2, 2, map[string]string{"min.insync.replicas": "2"})
	if err != nil {
		t.Fatal(err)
	}
	ti, _ := ts.ctl.Image().TopicByID(id)
	var p int32 = -1
	for _, pp := range ti.Partitions {
		if pp.Leader == 1 {
			p = pp.Partition
		}
	}
	if p < 0 {
		t.Fatalf("broker 1 leads no partition of %+v", ti.Partitions)
	}
	epoch := ti.Partitions[p].LeaderEpoch
	if _, err := ts.Broker().awaitTopic("pa", time.Now().Add(10*time.Second), func(tp *topic) bool {
		return tp != nil && tp.partition(p) != nil && ts.Broker().cl.repl.leader(tp.partition(p)) != nil
	}); err != nil {
		t.Fatal(err)
	}
	log := ts.Broker().topics.get("pa").partition(p)
	prod := dialRaw(t, ts.addr)
	const n = 3
	var reqs []*kmsg.ProduceRequest
	var corrs []int32
	for i := range n {
		req := produceReq(9, -1, "pa", p, makeBatch(noProducer, fmt.Appendf(nil, "v%d", i)))
		req.TimeoutMillis = 20000
		reqs = append(reqs, req)
		corrs = append(corrs, prod.send(req))
	}
	waitFor(t, "all three acks=all produces appended before the follower fetched", 10*time.Second,
		func() bool { return log.LogEndOffset() == n })
	if hw := log.HighWatermark(); hw != 0 {
		t.Fatalf("HW %d before the follower fetched, want 0", hw)
	}
	replicaFetch(t, rc, 7, id, p, 0, epoch, -1)
	replicaFetch(t, rc, 7, id, p, n, epoch, epoch) // its LEO is n: the HW moves to n
	for i, req := range reqs {
		got := prod.read(req, corrs[i]).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
		if got.ErrorCode != 0 || got.BaseOffset != int64(i) {
			t.Fatalf("acks=all request %d: %v base %d, want base %d", i, kerr.ErrorForCode(got.ErrorCode), got.BaseOffset, i)
		}
	}
}
