package broker

import (
	"runtime"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/partition"
)

func produceOne(t *testing.T, rc *rawConn, req *kmsg.ProduceRequest) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	resp := rc.roundTrip(req).(*kmsg.ProduceResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("produce response shape: %+v", resp)
	}
	return resp.Topics[0].Partitions[0]
}

func TestProduceErrors(t *testing.T) {
	ts := startServer(t, "")
	ts.createTopic(t, "t", 1, nil)
	rc := dialRaw(t, ts.addr)
	good := makeBatch(noProducer, []byte("a"), []byte("b"))

	f := func(name string, req *kmsg.ProduceRequest, want int16) {
		t.Helper()
		if got := produceOne(t, rc, req); got.ErrorCode != want {
			t.Errorf("%s: error %d (%v), want %d", name, got.ErrorCode, kerr.ErrorForCode(got.ErrorCode), want)
		}
	}
	f("acks=2", produceReq(7, 2, "t", 0, good), kerr.InvalidRequiredAcks.Code)
	f("acks=-2", produceReq(11, -2, "t", 0, good), kerr.InvalidRequiredAcks.Code)
	f("unknown topic", produceReq(7, 1, "nope", 0, good), kerr.UnknownTopicOrPartition.Code)
	f("unknown partition", produceReq(7, 1, "t", 1, good), kerr.UnknownTopicOrPartition.Code)
	f("empty records", produceReq(7, 1, "t", 0, []byte{}), kerr.InvalidRecord.Code)
	corrupt := append([]byte(nil), good...)
	corrupt[len(corrupt)-1] ^= 0xff // inside the CRC-covered records
	f("bad crc", produceReq(7, 1, "t", 0, corrupt), kerr.CorruptMessage.Code)
	txn := batchOpts{producerID: 5, producerEpoch: 0, sequence: 0, transactional: true}
	f("transactional", produceReq(7, 1, "t", 0, makeBatch(txn, []byte("x"))), kerr.InvalidTxnState.Code)
	// Nothing was appended: the first good produce gets offset 0.
	for i, v := range []int16{3, 7, 9, 11} {
		p := produceOne(t, rc, produceReq(v, -1, "t", 0, good))
		if p.ErrorCode != 0 || p.BaseOffset != int64(2*i) || p.LogAppendTime != -1 {
			t.Fatalf("v%d: error %d, base offset %d (want %d), LogAppendTime %d", v, p.ErrorCode, p.BaseOffset, 2*i, p.LogAppendTime)
		}
	}
}

func TestProduceGarbageIsCorrupt(t *testing.T) {
	ts := startServer(t, "")
	ts.createTopic(t, "t", 1, nil)
	rc := dialRaw(t, ts.addr)
	garbage := make([]byte, 200)
	for i := range garbage {
		garbage[i] = byte(i * 7)
	}
	got := produceOne(t, rc, produceReq(9, 1, "t", 0, garbage))
	if got.ErrorCode != kerr.CorruptMessage.Code {
		t.Fatalf("garbage: error %d (%v), want CORRUPT_MESSAGE", got.ErrorCode, kerr.ErrorForCode(got.ErrorCode))
	}
}

func TestProduceAcksZeroSendsNothing(t *testing.T) {
	ts := startServer(t, "")
	ts.createTopic(t, "t", 1, nil)
	rc := dialRaw(t, ts.addr)
	rc.send(produceReq(7, 0, "t", 0, makeBatch(noProducer, []byte("fire"), []byte("forget"))))
	// The next response carries the next request's correlation id.
	req := kmsg.NewPtrApiVersionsRequest()
	corr := rc.send(req)
	rc.read(req, corr)
	lo := kmsg.NewPtrListOffsetsRequest()
	lo.Version = 4
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = "t"
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Timestamp = -1
	lt.Partitions = append(lt.Partitions, lp)
	lo.Topics = append(lo.Topics, lt)
	resp := rc.roundTrip(lo).(*kmsg.ListOffsetsResponse)
	if off := resp.Topics[0].Partitions[0].Offset; off != 2 {
		t.Fatalf("high watermark after acks=0 produce: %d, want 2", off)
	}
	// A failing acks=0 produce closes the connection (as Kafka does).
	rc.send(produceReq(7, 0, "nope", 0, makeBatch(noProducer, []byte("x"))))
	rc.expectClosed()
}

// TestProduceManyPartitionsOneRequest: every partition of one request is
// appended and answered with its own offsets, with fewer partitions than
// appendWorkers and more (both pipelined: small batches), and under
// fsync=always (a goroutine each).
func TestProduceManyPartitionsOneRequest(t *testing.T) {
	f := func(partitions int32, flush partition.FlushPolicy) {
		t.Helper()
		ts := startServer(t, "", func(c *ServerConfig) { c.Store.Defaults.Flush = flush })
		ts.createTopic(t, "m", partitions, nil)
		rc := dialRaw(t, ts.addr)
		req := produceReq(9, -1, "m", 0, makeBatch(noProducer, []byte("0")))
		for p := int32(1); p < partitions; p++ {
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition = p
			rp.Records = makeBatch(noProducer, []byte("p"), []byte("q"))
			req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
		}
		for round := range 3 {
			resp := rc.roundTrip(req).(*kmsg.ProduceResponse)
			if got := len(resp.Topics[0].Partitions); got != int(partitions) {
				t.Fatalf("%d partitions answered, want %d", got, partitions)
			}
			for i, p := range resp.Topics[0].Partitions {
				want := int64(round * 2)
				if p.Partition == 0 {
					want = int64(round)
				}
				if p.Partition != int32(i) || p.ErrorCode != 0 || p.BaseOffset != want {
					t.Fatalf("%d partitions, round %d: answer %d is partition %d: error %d base %d, want %d",
						partitions, round, i, p.Partition, p.ErrorCode, p.BaseOffset, want)
				}
			}
		}
		for p := range partitions {
			want := int64(6)
			if p == 0 {
				want = 3
			}
			if end := ts.Store().Get("m", p).LogEndOffset(); end != want {
				t.Fatalf("%d partitions: partition %d ends at %d, want %d", partitions, p, end, want)
			}
		}
	}
	f(4, partition.FlushNever)
	f(2*appendWorkers+3, partition.FlushNever)
	f(appendWorkers+1, partition.FlushAlways)
}

// TestProduceFewLargePartitionsOneRequest: a request of a few partitions
// of large batches is not pipelined (pipelineSmallBytes) and is appended
// on one goroutine per core, the request goroutine's among them: every
// partition, in three requests, gets its own contiguous offsets, with more
// partitions than cores and fewer.
func TestProduceFewLargePartitionsOneRequest(t *testing.T) {
	f := func(partitions int32) {
		t.Helper()
		ts := startServer(t, "")
		ts.createTopic(t, "big", partitions, nil)
		rc := dialRaw(t, ts.addr)
		req := produceReq(9, 1, "big", 0, nil)
		req.Topics[0].Partitions = nil
		for p := range partitions {
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition = p
			rp.Records = makeBatch(noProducer, make([]byte, pipelineSmallBytes), []byte{byte(p)})
			req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
		}
		for round := range 3 {
			resp := rc.roundTrip(req).(*kmsg.ProduceResponse)
			for i, p := range resp.Topics[0].Partitions {
				if p.Partition != int32(i) || p.ErrorCode != 0 || p.BaseOffset != int64(2*round) {
					t.Fatalf("%d partitions, round %d: answer %d is partition %d: %v base %d, want %d",
						partitions, round, i, p.Partition, kerr.ErrorForCode(p.ErrorCode), p.BaseOffset, 2*round)
				}
			}
		}
		for p := range partitions {
			if end := ts.Store().Get("big", p).LogEndOffset(); end != 6 {
				t.Fatalf("%d partitions: partition %d ends at %d, want 6", partitions, p, end)
			}
		}
	}
	f(2)
	f(int32(runtime.GOMAXPROCS(0)) + 3)
}
