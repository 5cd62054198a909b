package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestListOffsets(t *testing.T) {
	ts := startServer(t, "")
	ts.createTopic(t, "lo", 1, nil)
	rc := dialRaw(t, ts.addr)
	for i, stamp := range []int64{1000, 2000, 3000} {
		p := produceOne(t, rc, produceReq(9, 1, "lo", 0, makeBatch(batchOpts{producerID: -1, producerEpoch: -1, sequence: -1, timestamp: stamp}, []byte("a"), []byte("b"))))
		if p.ErrorCode != 0 || p.BaseOffset != int64(2*i) {
			t.Fatalf("produce %d: %+v", i, p)
		}
	}
	f := func(version int16, ts int64, wantCode int16, wantOffset, wantTS int64) {
		t.Helper()
		req := kmsg.NewPtrListOffsetsRequest()
		req.Version = version
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "lo"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = ts
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		got := rc.roundTrip(req).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
		if got.ErrorCode != wantCode || got.Offset != wantOffset || got.Timestamp != wantTS {
			t.Errorf("v%d ts %d: code %d offset %d timestamp %d, want %d %d %d",
				version, ts, got.ErrorCode, got.Offset, got.Timestamp, wantCode, wantOffset, wantTS)
		}
	}
	f(1, -1, 0, 6, -1)
	f(8, -1, 0, 6, -1)
	f(4, -2, 0, 0, -1)
	f(8, -4, 0, 0, -1)
	f(4, 1500, 0, 2, 2000)
	f(4, 3001, 0, -1, -1)
	f(7, -3, 0, 4, 3000) // the first record with the largest timestamp (KAFKA-16310)
	f(8, 0, 0, 0, 1000)

	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 4
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = "lo"
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp, rp.CurrentLeaderEpoch = -1, 5
	rt.Partitions = append(rt.Partitions, rp)
	rp.Partition = 9
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	got := rc.roundTrip(req).(*kmsg.ListOffsetsResponse).Topics[0].Partitions
	if got[0].ErrorCode != kerr.UnknownLeaderEpoch.Code || got[1].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("epoch 5 / partition 9: codes %d %d", got[0].ErrorCode, got[1].ErrorCode)
	}
}

func TestOffsetForLeaderEpoch(t *testing.T) {
	ts := startServer(t, "")
	ts.createTopic(t, "e", 1, nil)
	rc := dialRaw(t, ts.addr)
	produceOne(t, rc, produceReq(9, 1, "e", 0, makeBatch(noProducer, []byte("a"), []byte("b"), []byte("c"))))
	for v := int16(0); v <= 4; v++ {
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.Version = v
		req.ReplicaID = -1
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = "e"
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.LeaderEpoch, rp.CurrentLeaderEpoch = 0, 0
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		got := rc.roundTrip(req).(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0]
		if got.ErrorCode != 0 || got.EndOffset != 3 || (v >= 1 && got.LeaderEpoch != 0) {
			t.Fatalf("v%d: %+v", v, got)
		}
	}
}

func TestInitProducerID(t *testing.T) {
	ts := startServer(t, "")
	rc := dialRaw(t, ts.addr)
	seen := map[int64]bool{}
	for v := int16(0); v <= 5; v++ {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.Version = v
		if v >= 3 && len(seen) > 0 {
			req.ProducerID, req.ProducerEpoch = 0, 0 // a bump: a new id
		}
		resp := rc.roundTrip(req).(*kmsg.InitProducerIDResponse)
		if resp.ErrorCode != 0 || resp.ProducerEpoch != 0 || seen[resp.ProducerID] {
			t.Fatalf("v%d: %+v", v, resp)
		}
		seen[resp.ProducerID] = true
	}
	f := func(req *kmsg.InitProducerIDRequest, want int16) {
		t.Helper()
		if got := rc.roundTrip(req).(*kmsg.InitProducerIDResponse); got.ErrorCode != want || got.ProducerID != -1 {
			t.Errorf("%+v: %+v, want error %d", req, got, want)
		}
	}
	// A transactional id with no transaction.timeout.ms (txn_test.go covers the rest).
	f(&kmsg.InitProducerIDRequest{Version: 4, TransactionalID: kmsg.StringPtr("tx"), ProducerID: -1, ProducerEpoch: -1}, kerr.InvalidTransactionTimeout.Code)
	f(&kmsg.InitProducerIDRequest{Version: 4, ProducerID: 5, ProducerEpoch: -1}, kerr.InvalidRequest.Code)
	f(&kmsg.InitProducerIDRequest{Version: 2, TransactionalID: kmsg.StringPtr("")}, kerr.InvalidRequest.Code)
}

func TestFetchErrorsAndSessions(t *testing.T) {
	ts := startServer(t, "")
	ts.createTopic(t, "f", 1, nil)
	rc := dialRaw(t, ts.addr)
	produceOne(t, rc, produceReq(9, 1, "f", 0, makeBatch(noProducer, []byte("a"))))
	id := ts.Broker().topics.get("f").id
	fetch := func(version int16, sessionID, sessionEpoch int32, topic string, tid [16]byte, p int32, offset int64) *kmsg.FetchResponse {
		req := kmsg.NewPtrFetchRequest()
		req.Version = version
		req.ReplicaID = -1
		req.MaxBytes = 1 << 20
		req.SessionID, req.SessionEpoch = sessionID, sessionEpoch
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, tid
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, offset, 1<<20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return rc.roundTrip(req).(*kmsg.FetchResponse)
	}
	for v := int16(4); v <= 16; v++ {
		resp := fetch(v, 0, -1, "f", id, 0, 0)
		p := resp.Topics[0].Partitions[0]
		if resp.ErrorCode != 0 || resp.SessionID != 0 || p.ErrorCode != 0 || p.HighWatermark != 1 || len(p.RecordBatches) == 0 {
			t.Fatalf("v%d: top %d session %d, partition %+v", v, resp.ErrorCode, resp.SessionID, p)
		}
		if v >= 13 && resp.Topics[0].TopicID != id {
			t.Fatalf("v%d: topic id %x", v, resp.Topics[0].TopicID)
		}
		if p := fetch(v, 0, 0, "f", id, 0, 5).Topics[0].Partitions[0]; p.ErrorCode != kerr.OffsetOutOfRange.Code {
			t.Fatalf("v%d offset 5: error %d", v, p.ErrorCode)
		}
		wantMissing := kerr.UnknownTopicOrPartition.Code
		if v >= 13 {
			wantMissing = kerr.UnknownTopicID.Code
		}
		if p := fetch(v, 0, -1, "nope", [16]byte{1}, 0, 0).Topics[0].Partitions[0]; p.ErrorCode != wantMissing {
			t.Fatalf("v%d unknown topic: error %d", v, p.ErrorCode)
		}
	}
	if resp := fetch(12, 77, 3, "f", id, 0, 0); resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("incremental fetch: error %d", resp.ErrorCode)
	}
	if resp := fetch(12, 0, 3, "f", id, 0, 0); resp.ErrorCode != kerr.InvalidFetchSessionEpoch.Code {
		t.Fatalf("epoch without session: error %d", resp.ErrorCode)
	}
}
