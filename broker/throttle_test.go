package broker

import (
	"bytes"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestThrottledReplica(t *testing.T) {
	f := func(list string, p, id int32, want bool) {
		t.Helper()
		if got := throttledReplica(list, p, id); got != want {
			t.Fatalf("throttledReplica(%q, %d, %d) = %v, want %v", list, p, id, got, want)
		}
	}
	f("", 0, 1, false)
	f("*", 3, 9, true)
	f("0:1,1:2", 0, 1, true)
	f("0:1, 1:2", 1, 2, true)
	f("0:1,1:2", 1, 1, false)
	f("10:1", 0, 1, false)
	f("0:10", 0, 1, false)
}

// The quota's rate is the bytes of the last 11 one-second windows over
// the time since the oldest (at least one window), Kafka's Rate.
func TestReplicationQuotaRate(t *testing.T) {
	var q replicationQuota
	t0 := time.Unix(1000, 0)
	if q.exceeded(t0, 100) {
		t.Fatal("an empty quota is exceeded")
	}
	q.record(t0, 100)
	f := func(at time.Duration, limit int64, want bool) {
		t.Helper()
		if got := q.exceeded(t0.Add(at), limit); got != want {
			t.Fatalf("at +%v, limit %d: exceeded %v (rate %.1f), want %v", at, limit, got, q.rate(t0.Add(at)), want)
		}
	}
	f(0, 100, false)                  // 100 B over one window: not above 100 B/s
	f(0, 99, true)                    // above 99
	f(100*time.Millisecond, 99, true) // still within the first window
	f(2*time.Second, 60, false)       // 100 B over 2 s
	f(2*time.Second, 40, true)
	f(11*time.Second, 1, false) // the window aged out
	f(0, math.MaxInt64, false)
	if q.held.Load() != 3 || q.bytes.Load() != 100 {
		t.Fatalf("held %d bytes %d, want 3 and 100", q.held.Load(), q.bytes.Load())
	}
	q.record(t0.Add(20*time.Second), 50)
	q.record(t0.Add(21500*time.Millisecond), 50)
	if r := q.rate(t0.Add(22 * time.Second)); r != 50 {
		t.Fatalf("rate %v over 2 s of 100 B, want 50", r)
	}
}

// alterBrokerConfig sets (value non-nil) or deletes key of the cluster-wide
// dynamic broker configs and returns the resource's error.
func alterBrokerConfig(t *testing.T, rc *rawConn, key string, value *string) int16 {
	t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType = kmsg.ConfigResourceTypeBroker
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Value, c.Op = key, value, kmsg.IncrementalAlterConfigOpSet
	if value == nil {
		c.Op = kmsg.IncrementalAlterConfigOpDelete
	}
	rr.Configs = append(rr.Configs, c)
	req.Resources = append(req.Resources, rr)
	resp := rc.roundTrip(req).(*kmsg.IncrementalAlterConfigsResponse)
	if len(resp.Resources) != 1 {
		t.Fatalf("alter configs: %+v", resp)
	}
	return resp.Resources[0].ErrorCode
}

// replicaFetchMany is replicaFetch of several partitions at once (offset
// 0, no epochs), answered by partition in request order.
func replicaFetchMany(t *testing.T, rc *rawConn, replica int32, parts map[[16]byte]int32) map[[16]byte]kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxBytes, req.SessionEpoch = 17, -1, 1<<20, -1
	req.ReplicaState.ID, req.ReplicaState.Epoch = replica, -1
	for id, p := range parts {
		rt := kmsg.NewFetchRequestTopic()
		rt.TopicID = id
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = p, 1<<20, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
	}
	resp := rc.roundTrip(req).(*kmsg.FetchResponse)
	out := map[[16]byte]kmsg.FetchResponseTopicPartition{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			out[rt.TopicID] = rp
		}
	}
	if resp.ErrorCode != 0 || len(out) != len(parts) {
		t.Fatalf("fetch response %+v", resp)
	}
	return out
}

// The leader's throttle (Kafka's shouldLeaderThrottle): with
// leader.replication.throttled.rate set on the cluster default and the
// topic's leader.replication.throttled.replicas "*", a follower out of the
// ISR gets no records of the throttled partition while the quota is
// exceeded, though the unthrottled topic in the same request goes
// through; a follower in the ISR is never held back; deleting the rate
// lifts it. Invalid rates are refused.
func TestLeaderReplicationThrottle(t *testing.T) {
	ts, rc, beat := rackPair(t, "")
	if code := alterBrokerConfig(t, rc, leaderThrottledRate, strPtr("-1")); code != kerr.InvalidConfig.Code {
		t.Fatalf("rate -1: %v, want INVALID_CONFIG", kerr.ErrorForCode(code))
	}
	if code := alterBrokerConfig(t, rc, leaderThrottledRate, strPtr("1000")); code != 0 {
		t.Fatalf("rate 1000: %v", kerr.ErrorForCode(code))
	}
	led := func(name string, configs map[string]string) ([16]byte, int32) {
		id, p, _ := createLedByOne(t, ts, name, 2, 2, configs)
		awaitLeading(t, ts, name, p)
		return id, p
	}
	thr, thrP := led("thr", map[string]string{leaderThrottledList: "*"})
	free, freeP := led("free", nil)
	value := bytes.Repeat([]byte("x"), 4000) // 4 KB: four seconds of the quota
	for _, tp := range []struct {
		name string
		p    int32
	}{{"thr", thrP}, {"free", freeP}} {
		if got := produceOne(t, rc, produceReq(9, 1, tp.name, tp.p, makeBatch(noProducer, value))); got.ErrorCode != 0 {
			t.Fatalf("produce to %s: %v", tp.name, kerr.ErrorForCode(got.ErrorCode))
		}
	}
	parts := map[[16]byte]int32{thr: thrP, free: freeP}
	beat()
	// In the ISR: never held back, though the first fetch exceeds the quota.
	for range 2 {
		got := replicaFetchMany(t, rc, 7, parts)
		if len(got[thr].RecordBatches) == 0 || len(got[free].RecordBatches) == 0 {
			t.Fatalf("in-sync follower: %d and %d bytes", len(got[thr].RecordBatches), len(got[free].RecordBatches))
		}
	}
	if st := ts.Broker().ReplicationStats(); st.LeaderBytes < 8000 || st.LeaderHeld != 0 || st.ReplicaFetchBytes < 16000 {
		t.Fatalf("after two in-sync fetches: %+v", st)
	}
	// Out of the ISR: the throttled partition is held back.
	if err := ts.ctl.FenceBroker(7); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the leader to see the ISR shrink", 10*time.Second, func() bool {
		st := ts.Broker().cl.repl.leader(ts.Broker().topics.get("thr").partition(thrP))
		st.mu.Lock()
		defer st.mu.Unlock()
		return !slices.Contains(st.mu.isr, 7)
	})
	got := replicaFetchMany(t, rc, 7, parts)
	if len(got[thr].RecordBatches) != 0 || got[thr].ErrorCode != 0 || len(got[free].RecordBatches) == 0 {
		t.Fatalf("out-of-sync follower: throttled %v with %d bytes, free %d bytes", kerr.ErrorForCode(got[thr].ErrorCode),
			len(got[thr].RecordBatches), len(got[free].RecordBatches))
	}
	if st := ts.Broker().ReplicationStats(); st.LeaderHeld == 0 || st.LeaderRate != 1000 {
		t.Fatalf("after a held fetch: %+v", st)
	}
	if code := alterBrokerConfig(t, rc, leaderThrottledRate, nil); code != 0 {
		t.Fatalf("delete the rate: %v", kerr.ErrorForCode(code))
	}
	if got := replicaFetchMany(t, rc, 7, parts); len(got[thr].RecordBatches) == 0 {
		t.Fatal("still held back after the rate was deleted")
	}
}
