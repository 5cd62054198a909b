package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkFetchSessionIdle is a consumer at the end of 1,000 partitions
// when nothing new arrived: each op is one incremental Fetch of its
// session (MaxWaitMillis 0), which the broker answers after looking at
// every partition of the session, as Kafka does. What it costs is paid
// per partition of the session on every Fetch, whatever arrived.
//
//	go test ./broker -run '^$' -bench FetchSessionIdle -benchtime 2000x
func BenchmarkFetchSessionIdle(b *testing.B) {
	ts := startServer(b, "")
	const topic, nparts = "idle", 1000
	ts.createTopic(b, topic, nparts, nil)
	rc := dialRaw(b, ts.addr)
	for p := range int32(nparts) {
		resp := rc.roundTrip(produceReq(9, 1, topic, p, makeBatch(noProducer, []byte("a")))).(*kmsg.ProduceResponse)
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
			b.Fatalf("produce to %d: error %d", p, code)
		}
	}
	full := kmsg.NewPtrFetchRequest()
	full.Version, full.ReplicaID, full.MaxBytes, full.MinBytes = 12, -1, 1<<20, 1
	full.SessionEpoch = 0 // open a session
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	for p := range int32(nparts) {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, 1, 1<<20
		rt.Partitions = append(rt.Partitions, rp)
	}
	full.Topics = append(full.Topics, rt)
	resp := rc.roundTrip(full).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 || resp.SessionID == 0 {
		b.Fatalf("full fetch: error %d, session %d", resp.ErrorCode, resp.SessionID)
	}
	inc := kmsg.NewPtrFetchRequest()
	inc.Version, inc.ReplicaID, inc.MaxBytes, inc.MinBytes = 12, -1, 1<<20, 1
	inc.SessionID = resp.SessionID
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		inc.SessionEpoch = int32(i + 1)
		r := rc.roundTrip(inc).(*kmsg.FetchResponse)
		if r.ErrorCode != 0 || len(r.Topics) != 0 {
			b.Fatalf("fetch %d: error %d, %d topics", i, r.ErrorCode, len(r.Topics))
		}
	}
}
