package broker

import (
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// A session's partitions that had nothing new at the last answer are not
// read again until their log changes (sessionPart.quiet); every change a
// consumer at the end must hear still reaches it: new records, a moved
// log start (DeleteRecords), on the partition that changed and no other.
func TestFetchSessionQuietPartitions(t *testing.T) {
	ts := startServer(t, "")
	const topic = "quiet"
	ts.createTopic(t, topic, 3, nil)
	rc := dialRaw(t, ts.addr)
	for p := range int32(3) {
		produceOne(t, rc, produceReq(9, 1, topic, p, makeBatch(noProducer, []byte("a"), []byte("b"))))
	}
	fetch := func(id, epoch int32, offsets map[int32]int64) *kmsg.FetchResponse {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.Version, req.ReplicaID, req.MaxBytes = 12, -1, 1<<20
		req.SessionID, req.SessionEpoch = id, epoch
		if len(offsets) > 0 {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = topic
			for p := range int32(3) {
				if off, ok := offsets[p]; ok {
					rp := kmsg.NewFetchRequestTopicPartition()
					rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, off, 1<<20
					rt.Partitions = append(rt.Partitions, rp)
				}
			}
			req.Topics = append(req.Topics, rt)
		}
		return rc.roundTrip(req).(*kmsg.FetchResponse)
	}
	// parts lists an answer's partitions as "p:records:logStart".
	parts := func(resp *kmsg.FetchResponse) string {
		var out []string
		for _, rt := range resp.Topics {
			for _, p := range rt.Partitions {
				out = append(out, fmt.Sprintf("%d:%v:%d", p.Partition, len(p.RecordBatches) > 0, p.LogStartOffset))
			}
		}
		return strings.Join(out, " ")
	}
	epoch := int32(0)
	check := func(resp *kmsg.FetchResponse, want string) {
		t.Helper()
		if resp.ErrorCode != 0 || parts(resp) != want {
			t.Fatalf("epoch %d: error %d, partitions %q, want %q", epoch, resp.ErrorCode, parts(resp), want)
		}
	}
	full := fetch(0, 0, map[int32]int64{0: 2, 1: 2, 2: 2}) // all at the end
	check(full, "0:false:0 1:false:0 2:false:0")
	id := full.SessionID
	next := func() *kmsg.FetchResponse { epoch++; return fetch(id, epoch, nil) }
	check(next(), "") // nothing new: every partition quiet from here on
	check(next(), "")
	produceOne(t, rc, produceReq(9, 1, topic, 1, makeBatch(noProducer, []byte("c"))))
	check(next(), "1:true:0")
	epoch++
	check(fetch(id, epoch, map[int32]int64{1: 3}), "") // partition 1 moved on
	del := kmsg.NewPtrDeleteRecordsRequest()
	del.Version = 2
	dt := kmsg.NewDeleteRecordsRequestTopic()
	dt.Topic = topic
	dp := kmsg.NewDeleteRecordsRequestTopicPartition()
	dp.Partition, dp.Offset = 2, 1
	dt.Partitions = append(dt.Partitions, dp)
	del.Topics = append(del.Topics, dt)
	if resp := rc.roundTrip(del).(*kmsg.DeleteRecordsResponse); resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("DeleteRecords: error %d", resp.Topics[0].Partitions[0].ErrorCode)
	}
	check(next(), "2:false:1") // the new log start, though no records
	check(next(), "")
	for p := range int32(3) {
		produceOne(t, rc, produceReq(9, 1, topic, p, makeBatch(noProducer, []byte("d"))))
	}
	check(next(), "0:true:0 2:true:1 1:true:0") // 1 went to the end of the session when it answered records (KIP-227)
}
