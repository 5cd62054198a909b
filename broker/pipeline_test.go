package broker

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/internal/vfs"
	"github.com/sluice/sluice/internal/vfs/errorfs"
	"github.com/sluice/sluice/partition"
)

// Pipelined produce (netio.Pending): under fsync=always and for acks=all,
// a connection's produces are appended in request order while earlier
// ones wait for their fsync or their replicas; responses leave in request
// order.

func fsyncAlways(c *ServerConfig) { c.Store.Defaults.Flush = partition.FlushAlways }

// pipeListLatest is a ListOffsets(latest) request (v4) for topic's partition 0.
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
	id, p, epoch := createLedByOne(t, ts, "pa", 2, 2, map[string]string{"min.insync.replicas": "2"})
	awaitLeading(t, ts, "pa", p)
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

// An idempotent producer's pipeline with a failed request in it: the
// corrupt request N gets CORRUPT_MESSAGE and the requests after it, whose
// sequences now leave a gap, OUT_OF_ORDER_SEQUENCE_NUMBER (as Kafka, which
// serves a connection's requests one at a time): nothing after N is
// appended or acknowledged ahead of it. A Metadata request, a Fetch and an
// acks=0 produce interleaved with the produces are answered (or not, for
// acks=0) in their places; the producer's resend of N and the rest is
// then appended in order.
func TestPipelinedIdempotentFailureKeepsLaterOnesOut(t *testing.T) {
	ts := startServer(t, "", fsyncAlways)
	ts.createTopic(t, "pf", 1, nil)
	ts.createTopic(t, "pz", 1, nil)
	rc := dialRaw(t, ts.addr)
	id, epoch := initProducerID(t, rc)
	batch := func(seq int32) []byte {
		return makeBatch(batchOpts{producerID: id, producerEpoch: epoch, sequence: seq}, fmt.Appendf(nil, "s%d", seq))
	}
	const bad = 1
	type sent struct {
		req  kmsg.Request
		corr int32
	}
	var out []sent
	send := func(req kmsg.Request) { out = append(out, sent{req, rc.send(req)}) }
	for seq := range int32(4) {
		b := batch(seq)
		if seq == bad {
			b[len(b)-1] ^= 0xff // the CRC no longer matches
		}
		send(produceReq(9, -1, "pf", 0, b))
		switch seq {
		case 0:
			send(kmsg.NewPtrMetadataRequest()) // all topics
		case 2:
			// acks=0 to another topic: no answer, nothing out of place.
			rc.send(produceReq(9, 0, "pz", 0, makeBatch(noProducer, []byte("z"))))
			f := kmsg.NewPtrFetchRequest()
			f.Version, f.ReplicaID, f.MaxBytes = 11, -1, 1<<20
			ft := kmsg.NewFetchRequestTopic()
			ft.Topic = "pf"
			fp := kmsg.NewFetchRequestTopicPartition()
			fp.PartitionMaxBytes = 1 << 20
			ft.Partitions = append(ft.Partitions, fp)
			f.Topics = append(f.Topics, ft)
			send(f)
		}
	}
	want := []int16{0, kerr.CorruptMessage.Code, kerr.OutOfOrderSequenceNumber.Code, kerr.OutOfOrderSequenceNumber.Code}
	produced := 0
	for _, s := range out {
		switch resp := rc.read(s.req, s.corr).(type) {
		case *kmsg.ProduceResponse:
			p := resp.Topics[0].Partitions[0]
			if p.ErrorCode != want[produced] {
				t.Fatalf("produce of sequence %d: %v, want %v", produced, kerr.ErrorForCode(p.ErrorCode), kerr.ErrorForCode(want[produced]))
			}
			if p.ErrorCode == 0 && p.BaseOffset != 0 {
				t.Fatalf("sequence 0 at offset %d, want 0", p.BaseOffset)
			}
			produced++
		case *kmsg.MetadataResponse:
			if len(resp.Topics) < 2 {
				t.Fatalf("metadata lists %d topics, want the 2 created", len(resp.Topics))
			}
		case *kmsg.FetchResponse:
			// Served after the produces before it: it sees sequence 0 only.
			if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.HighWatermark != 1 {
				t.Fatalf("fetch between the produces: %v HW %d, want HW 1", kerr.ErrorForCode(p.ErrorCode), p.HighWatermark)
			}
		}
	}
	if produced != len(want) {
		t.Fatalf("%d produce answers, want %d", produced, len(want))
	}
	// The producer resends from the failed batch on: appended in order.
	var corrs []int32
	var reqs []*kmsg.ProduceRequest
	for seq := int32(bad); seq < 4; seq++ {
		req := produceReq(9, -1, "pf", 0, batch(seq))
		reqs = append(reqs, req)
		corrs = append(corrs, rc.send(req))
	}
	for i, req := range reqs {
		p := rc.read(req, corrs[i]).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
		if p.ErrorCode != 0 || p.BaseOffset != int64(bad+i) {
			t.Fatalf("resent sequence %d: %v base %d, want base %d", bad+i, kerr.ErrorForCode(p.ErrorCode), p.BaseOffset, bad+i)
		}
	}
	if end := ts.Store().Get("pz", 0).LogEndOffset(); end != 1 {
		t.Fatalf("acks=0 topic log end %d, want 1", end)
	}
}

// A failed acks=0 produce in a pipeline closes the connection (Kafka's
// answer to a failed acks=0 request) after the answers of the requests
// before it, which are sent whole and in order; the produce sent after it
// is not appended (acks=0 is not pipelined: nothing after it is read).
func TestPipelinedAcksZeroFailureClosesAfterEarlierAnswers(t *testing.T) {
	ts := startServer(t, "", fsyncAlways)
	ts.createTopic(t, "p0", 1, nil)
	rc := dialRaw(t, ts.addr)
	var reqs []*kmsg.ProduceRequest
	var corrs []int32
	for i := range 2 {
		req := produceReq(9, 1, "p0", 0, makeBatch(noProducer, fmt.Appendf(nil, "v%d", i)))
		reqs = append(reqs, req)
		corrs = append(corrs, rc.send(req))
	}
	b := makeBatch(noProducer, []byte("bad"))
	b[len(b)-1] ^= 0xff
	rc.send(produceReq(9, 0, "p0", 0, b))
	rc.send(produceReq(9, 1, "p0", 0, makeBatch(noProducer, []byte("after"))))
	for i, req := range reqs {
		p := rc.read(req, corrs[i]).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
		if p.ErrorCode != 0 || p.BaseOffset != int64(i) {
			t.Fatalf("request %d: %v base %d, want base %d", i, kerr.ErrorForCode(p.ErrorCode), p.BaseOffset, i)
		}
	}
	rc.expectClosed()
	if end := ts.Store().Get("p0", 0).LogEndOffset(); end != 2 {
		t.Fatalf("log end %d after the failed acks=0 produce, want 2 (nothing after it appended)", end)
	}
}

// A produce of more partitions than appendWorkers with acks=1 is
// pipelined too, its appends written by the broker's WritePool: six
// requests to 100 partitions sent before any answer is read (an
// idempotent producer's, so a batch written out of order would fail its
// sequence check), the fourth carrying a corrupt batch for partition 7.
// Every partition gets contiguous offsets in request order, each answer
// arrives in its place with its own error, and a ListOffsets sent after
// them sees every append.
func TestPipelinedManyPartitionsAcksOne(t *testing.T) {
	const parts, n, bad, badPart = 100, 6, 3, 7
	if parts <= appendWorkers {
		t.Fatalf("%d partitions do not take the pipelined path (appendWorkers %d)", parts, appendWorkers)
	}
	ts := startServer(t, "")
	ts.createTopic(t, "pm", parts, nil)
	rc := dialRaw(t, ts.addr)
	id, epoch := initProducerID(t, rc)
	var reqs []*kmsg.ProduceRequest
	var corrs []int32
	for i := range n {
		req := produceReq(9, 1, "pm", 0, nil)
		req.Topics[0].Partitions = nil
		for p := range int32(parts) {
			seq := int32(2 * i)
			if i > bad && p == badPart {
				seq -= 2 // the corrupt batch was not appended
			}
			b := makeBatch(batchOpts{producerID: id, producerEpoch: epoch, sequence: seq}, fmt.Appendf(nil, "%d-%d", i, p), []byte("x"))
			if i == bad && p == badPart {
				b[len(b)-1] ^= 0xff // the CRC no longer matches
			}
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition, rp.Records = p, b
			req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
		}
		reqs = append(reqs, req)
		corrs = append(corrs, rc.send(req))
	}
	lo := pipeListLatest("pm")
	lo.Topics[0].Partitions[0].Partition = badPart
	loCorr := rc.send(lo)
	for i, req := range reqs {
		for _, p := range rc.read(req, corrs[i]).(*kmsg.ProduceResponse).Topics[0].Partitions {
			want := int64(2 * i)
			switch {
			case i == bad && p.Partition == badPart:
				if p.ErrorCode != kerr.CorruptMessage.Code {
					t.Fatalf("request %d partition %d: %v, want CORRUPT_MESSAGE", i, p.Partition, kerr.ErrorForCode(p.ErrorCode))
				}
				continue
			case i > bad && p.Partition == badPart:
				want -= 2
			}
			if p.ErrorCode != 0 || p.BaseOffset != want {
				t.Fatalf("request %d partition %d: %v base %d, want base %d", i, p.Partition, kerr.ErrorForCode(p.ErrorCode), p.BaseOffset, want)
			}
		}
	}
	got := rc.read(lo, loCorr).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
	if got.ErrorCode != 0 || got.Offset != 2*(n-1) {
		t.Fatalf("ListOffsets of partition %d after the produces: %v offset %d, want %d", badPart, kerr.ErrorForCode(got.ErrorCode), got.Offset, 2*(n-1))
	}
}

// A produce of a few partitions of small batches with acks=1 is
// pipelined too (pipelineSmallBytes: no goroutine per partition, the
// pool writes): while the first request's
// write to partition 0 is held in its pwritev, the connection's second
// request is already handled, its appends queued behind the first's.
// Once the write is let go, both answers arrive in request order with
// contiguous offsets. Before, the connection served nothing until every
// append of the first request was written.
func TestPipelinedFewPartitionsAcksOne(t *testing.T) {
	h := holdLogOp(errorfs.OpWrite, "few-0")
	held, release := h.held, h.release
	ts := startServer(t, "", func(c *ServerConfig) { c.Store.FS = h.fs })
	ts.createTopic(t, "few", 2, nil)
	one := ts.Store().Get("few", 1)
	var submitted atomic.Int32 // appends to few-1 begun
	hook := func(l *partition.Log) {
		if l == one {
			submitted.Add(1)
		}
	}
	produceBeforeAppend.Store(&hook)
	defer produceBeforeAppend.Store(nil)
	h.armed.Store(true)
	defer h.letGo()

	rc := dialRaw(t, ts.addr)
	req := func(v string) *kmsg.ProduceRequest {
		r := produceReq(9, 1, "few", 0, makeBatch(noProducer, []byte(v+"-0")))
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = 1, makeBatch(noProducer, []byte(v+"-1"))
		r.Topics[0].Partitions = append(r.Topics[0].Partitions, rp)
		return r
	}
	a, b := req("a"), req("b")
	ca := rc.send(a)
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the first request's write to few-0 never started")
	}
	cb := rc.send(b)
	waitFor(t, "the second request handled while the first's write is held", 10*time.Second,
		func() bool { return submitted.Load() == 2 })
	release <- struct{}{}
	for i, r := range []struct {
		req  *kmsg.ProduceRequest
		corr int32
	}{{a, ca}, {b, cb}} {
		for _, p := range rc.read(r.req, r.corr).(*kmsg.ProduceResponse).Topics[0].Partitions {
			if p.ErrorCode != 0 || p.BaseOffset != int64(i) {
				t.Fatalf("request %d partition %d: %v base %d, want base %d", i, p.Partition, kerr.ErrorForCode(p.ErrorCode), p.BaseOffset, i)
			}
		}
	}
}

// heldLogOp is a store filesystem that, once armed, holds the first
// operation of one kind on a .log file of one partition's directory
// until a value is sent on release (held is closed when it starts).
type heldLogOp struct {
	fs            vfs.FS
	armed         atomic.Bool
	held, release chan struct{}
	once          sync.Once
}

// holdLogOp returns a heldLogOp for kind on the .log files of partDir
// ("topic-0").
func holdLogOp(kind errorfs.Kind, partDir string) *heldLogOp {
	h := &heldLogOp{held: make(chan struct{}), release: make(chan struct{})}
	sep := string(os.PathSeparator)
	h.fs = errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if h.armed.Load() && op.Kind == kind && strings.HasSuffix(op.Path, ".log") &&
			strings.Contains(op.Path, sep+partDir+sep) {
			h.once.Do(func() { close(h.held); <-h.release })
		}
		return nil
	}))
	return h
}

// letGo lets a held operation go on and holds none after. A test defers
// it once the server is up, so that a failed test leaves neither the
// operation held nor the server's shutdown waiting for it.
func (h *heldLogOp) letGo() {
	close(h.release)
	h.once.Do(func() {})
}

// Which produces are pipelined (pipelines), by acks, partition count
// and bytes per partition: several partitions of small batches, or more
// than appendWorkers, are; one partition, a few large batches, and
// acks=0 are not.
func TestPipelinesChoice(t *testing.T) {
	ts := startServer(t, "")
	ts.createTopic(t, "ch", appendWorkers+1, nil)
	b := ts.Broker()
	f := func(acks int16, parts, size int, want bool) {
		t.Helper()
		var jobs []*produceJob
		for p := range parts {
			j := &produceJob{out: &kmsg.ProduceResponseTopicPartition{}, records: make([]byte, size)}
			j.log = ts.Store().Get("ch", int32(p))
			jobs = append(jobs, j)
		}
		req := kmsg.NewPtrProduceRequest()
		req.Acks = acks
		if got := b.pipelines(req, jobs); got != want {
			t.Fatalf("acks %d, %d partitions x %d B: pipelined %v, want %v", acks, parts, size, got, want)
		}
	}
	f(1, 1, 100, false)
	f(1, 2, 100, true)
	f(-1, 16, 45<<10, true)
	f(1, 16, pipelineSmallBytes-1, true)
	f(1, 16, pipelineSmallBytes, false)
	f(1, 4, 1<<20, false)
	f(1, appendWorkers+1, 1<<20, true)
	f(0, 16, 100, false)
	f(0, appendWorkers+1, 100, false)
}

// Under fsync=always, connections whose pipelined requests each name
// several partitions, in orders that cross from one connection to the
// next, are all answered: the first partition of each request is written
// by the connection's own waiting goroutine (partition.SubmitForWait), the
// others by writer goroutines, and no connection waits on another's
// waiter. Every record lands once; each partition's offsets are
// contiguous.
func TestPipelinedFsyncAlwaysCrossingPartitions(t *testing.T) {
	const conns, reqs, parts = 4, 10, 4
	ts := startServer(t, "", fsyncAlways)
	ts.createTopic(t, "px", parts, nil)
	rcs := make([]*rawConn, conns)
	sent := make([][]*kmsg.ProduceRequest, conns)
	corrs := make([][]int32, conns)
	for c := range conns {
		rcs[c] = dialRaw(t, ts.addr)
	}
	want := make([]int64, parts)
	for i := range reqs { // every connection's i-th request before any (i+1)-th
		for c := range conns {
			req := produceReq(9, 1, "px", 0, nil)
			req.Topics[0].Partitions = nil
			for k := range 1 + (c+i)%3 {
				p := int32((c + i + k) % parts)
				if (c+i)%2 == 1 {
					p = int32((c + i + parts - k) % parts) // the other way round
				}
				rp := kmsg.NewProduceRequestTopicPartition()
				rp.Partition = p
				rp.Records = makeBatch(noProducer, fmt.Appendf(nil, "%d-%d-%d", c, i, k), []byte("y"))
				req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
				want[p] += 2
			}
			sent[c] = append(sent[c], req)
			corrs[c] = append(corrs[c], rcs[c].send(req))
		}
	}
	got := make([][]int64, parts) // base offsets answered, per partition
	for c := range conns {
		for i, req := range sent[c] {
			for _, p := range rcs[c].read(req, corrs[c][i]).(*kmsg.ProduceResponse).Topics[0].Partitions {
				if p.ErrorCode != 0 {
					t.Fatalf("connection %d request %d partition %d: %v", c, i, p.Partition, kerr.ErrorForCode(p.ErrorCode))
				}
				got[p.Partition] = append(got[p.Partition], p.BaseOffset)
			}
		}
	}
	for p := range parts {
		slices.Sort(got[p])
		for j, base := range got[p] {
			if base != int64(2*j) {
				t.Fatalf("partition %d: base offsets %v, want 0, 2, 4, …", p, got[p])
			}
		}
		if end := ts.Store().Get("px", int32(p)).LogEndOffset(); end != want[p] {
			t.Fatalf("partition %d: log end %d, want %d", p, end, want[p])
		}
	}
}

// Under fsync=always, a large produce (pipelineSmallBytes or more) sent
// while the connection's earlier produce still waits for its fsync is
// written and fsync'd at once by a writer goroutine of its own, not left
// for the connection's waiting goroutine, which reaches it only after the
// earlier fsync (producers that send to the partitions in the same order
// then had every partition's round wait for the one before). Both answers
// still leave in request order.
func TestPipelinedFsyncAlwaysLargeProduceBehindAnother(t *testing.T) {
	h := holdLogOp(errorfs.OpSync, "behind-0")
	held, release := h.held, h.release
	ts := startServer(t, "", fsyncAlways, func(c *ServerConfig) { c.Store.FS = h.fs })
	ts.createTopic(t, "behind", 2, nil)
	h.armed.Store(true)
	defer h.letGo()

	rc := dialRaw(t, ts.addr)
	a := produceReq(9, 1, "behind", 0, makeBatch(noProducer, []byte("a")))
	ca := rc.send(a)
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the first request's fsync of behind-0 never started")
	}
	b := produceReq(9, 1, "behind", 1, makeBatch(noProducer, make([]byte, pipelineSmallBytes)))
	cb := rc.send(b)
	one := ts.Store().Get("behind", 1)
	waitFor(t, "the large request appended and fsync'd while the first's fsync is held", 10*time.Second,
		func() bool { return one.LogEndOffset() == 1 })
	if end := ts.Store().Get("behind", 0).LogEndOffset(); end != 0 {
		t.Fatalf("behind-0's log end is %d while its fsync is held, want 0", end)
	}
	release <- struct{}{}
	for i, r := range []struct {
		req  *kmsg.ProduceRequest
		corr int32
	}{{a, ca}, {b, cb}} {
		p := rc.read(r.req, r.corr).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
		if p.ErrorCode != 0 || p.BaseOffset != 0 {
			t.Fatalf("request %d: %v base %d, want base 0", i, kerr.ErrorForCode(p.ErrorCode), p.BaseOffset)
		}
	}
}
