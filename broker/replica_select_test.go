package broker

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/metadata"
	"github.com/sluice/sluice/partition"
)

// rackPair is twoBrokers with racks: a combined node (broker 1, rack a)
// with the given replica.selector.class, and broker 7 (rack b)
// registered by hand; beat heartbeats for broker 7 (unfenced only while
// the test keeps beating: the session is 3 s).
func rackPair(t *testing.T, selector string) (ts *testServer, rc *rawConn, beat func()) {
	t.Helper()
	ts, rc = combinedNode(t, func(cfg *ServerConfig) {
		cfg.Broker.Rack, cfg.Broker.ReplicaSelector = "a", selector
	})
	reg := kmsg.NewPtrBrokerRegistrationRequest()
	reg.BrokerID, reg.ClusterID, reg.IncarnationID = 7, "sluice-test-cluster", [16]byte{7}
	rack := "b"
	reg.Rack = &rack
	l := kmsg.NewBrokerRegistrationRequestListener()
	l.Name, l.Host, l.Port = "PLAINTEXT", "127.0.0.1", 9
	reg.Listeners = append(reg.Listeners, l)
	rr := rc.roundTrip(reg).(*kmsg.BrokerRegistrationResponse)
	if rr.ErrorCode != 0 {
		t.Fatalf("broker 7: registration %v", kerr.ErrorForCode(rr.ErrorCode))
	}
	beat = func() {
		t.Helper()
		hb := kmsg.NewPtrBrokerHeartbeatRequest()
		hb.BrokerID, hb.BrokerEpoch = 7, rr.BrokerEpoch
		if r := rc.roundTrip(hb).(*kmsg.BrokerHeartbeatResponse); r.ErrorCode != 0 || r.IsFenced {
			t.Fatalf("broker 7: heartbeat %+v", r)
		}
	}
	beat()
	return ts, rc, beat
}

// consumerFetch sends a consumer's Fetch v12 with rack for topic id's
// partition p at offset.
func consumerFetch(t *testing.T, rc *rawConn, rack string, id [16]byte, p int32, offset int64) kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxBytes, req.SessionEpoch, req.Rack = 13, -1, 1<<20, -1, rack
	rt := kmsg.NewFetchRequestTopic()
	rt.TopicID = id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, offset, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := rc.roundTrip(req).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch response %+v", resp)
	}
	return resp.Topics[0].Partitions[0]
}

// KIP-392 on the leader: with the rack-aware selector, a consumer in rack
// b fetching from the leader (rack a) is sent to the in-sync follower in
// rack b (PreferredReadReplica, no records); consumers in the leader's
// rack, in a rack without a replica, or without a rack read from the
// leader; a follower that left the ISR or has not reached the fetch
// offset is not chosen; without the selector nobody is redirected.
func TestRackAwarePreferredReadReplica(t *testing.T) {
	f := func(t *testing.T, selector string) {
		ts, rc, beat := rackPair(t, selector)
		id, p, epoch := createLedByOne(t, ts, "rk", 2, 2, nil)
		awaitLeading(t, ts, "rk", p)
		batch := makeBatch(noProducer, []byte("a"), []byte("b"), []byte("c"))
		if got := produceOne(t, rc, produceReq(9, 1, "rk", p, batch)); got.ErrorCode != 0 {
			t.Fatalf("produce: %v", kerr.ErrorForCode(got.ErrorCode))
		}
		// Broker 7 has not fetched since this leadership began (its LEO
		// is unknown): the leader serves.
		if fp := consumerFetch(t, rc, "b", id, p, 0); fp.PreferredReadReplica != -1 {
			t.Fatalf("before the follower fetched: preferred %d", fp.PreferredReadReplica)
		}
		beat()
		replicaFetch(t, rc, 7, id, p, 0, epoch, -1)
		replicaFetch(t, rc, 7, id, p, 3, epoch, epoch) // LEO 3: HW 3
		want := int32(-1)
		if selector != "" {
			want = 7
		}
		fp := consumerFetch(t, rc, "b", id, p, 0)
		if fp.ErrorCode != 0 || fp.PreferredReadReplica != want || (want >= 0) != (len(fp.RecordBatches) == 0) || fp.HighWatermark != 3 {
			t.Fatalf("rack b: %v preferred %d, %d bytes, hw %d; want preferred %d", kerr.ErrorForCode(fp.ErrorCode),
				fp.PreferredReadReplica, len(fp.RecordBatches), fp.HighWatermark, want)
		}
		for _, rack := range []string{"a", "c", ""} {
			if fp := consumerFetch(t, rc, rack, id, p, 0); fp.ErrorCode != 0 || fp.PreferredReadReplica != -1 || len(fp.RecordBatches) == 0 {
				t.Fatalf("rack %q: %v preferred %d, %d bytes", rack, kerr.ErrorForCode(fp.ErrorCode), fp.PreferredReadReplica, len(fp.RecordBatches))
			}
		}
		if selector == "" {
			return
		}
		// The follower leaves the ISR: the leader serves rack b again.
		if err := ts.ctl.FenceBroker(7); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the leader to see the ISR shrink", 10*time.Second, func() bool {
			return consumerFetch(t, rc, "b", id, p, 0).PreferredReadReplica == -1
		})
	}
	t.Run("rack-aware", func(t *testing.T) { f(t, RackAwareReplicaSelector) })
	t.Run("none", func(t *testing.T) { f(t, "") })
}

// Which log serves a fetch on this broker (3): the leader's always; a
// follower's only for a consumer's Fetch v11+ with the selector on, while
// the image has it in the ISR (out of it, or not a replica: none, so the
// client gets NOT_LEADER_OR_FOLLOWER and goes back to the leader).
func TestFetchLogOnFollower(t *testing.T) {
	local := new(partition.Log)
	f := func(selector string, leader int32, isr []int32, consumerV11 bool, want *partition.Log) {
		t.Helper()
		b := &Broker{cfg: Config{ReplicaSelector: selector}}
		tp := &topic{name: "t", partitions: []*partition.Log{local}, self: 3,
			meta: &metadata.TopicImage{Name: "t", Partitions: []metadata.Partition{{Replicas: []int32{1, 2, 3}, ISR: isr, Leader: leader}}}}
		if got := b.fetchLog(tp, 0, consumerV11); got != want {
			t.Fatalf("selector %q, leader %d, isr %v, consumer v11+ %v: log %p, want %p", selector, leader, isr, consumerV11, got, want)
		}
		if got := b.fetchLog(tp, 1, consumerV11); got != nil {
			t.Fatalf("partition 1 (none): %p", got)
		}
	}
	rack := RackAwareReplicaSelector
	f(rack, 3, []int32{1, 2, 3}, true, local) // the leader
	f("", 3, []int32{3}, false, local)
	f(rack, 1, []int32{1, 2, 3}, true, local) // an in-sync follower
	f(rack, 1, []int32{1, 2}, true, nil)      // out of the ISR
	f(rack, 1, []int32{1, 2, 3}, false, nil)  // a follower's fetch, or v0-10
	f("", 1, []int32{1, 2, 3}, true, nil)     // no selector
}
