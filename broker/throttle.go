package broker

// Replication throttles, as Kafka's ReplicationQuotaManager:
//
//	dynamic broker configs (node id, or "" for the cluster default; the
//	node's value wins):
//	  leader.replication.throttled.rate    bytes/s a leader sends to
//	  follower.replication.throttled.rate  bytes/s a follower fetches
//	  (default Long.MAX_VALUE: off)
//	topic configs (which partitions are throttled on which broker):
//	  leader.replication.throttled.replicas    "p:broker,…" or "*"
//	  follower.replication.throttled.replicas  "p:broker,…" or "*"
//
// A partition is leader-throttled on broker B when the leader list holds
// "*" or "p:B" and B leads p; follower-throttled likewise with the
// follower list while B follows p. Each side has one quota per broker,
// the rate of the throttled partitions' replication bytes measured over
// replication.quota.window.num (11) windows of 1 s, Kafka's defaults (a
// young quota counts at least one window, so a burst is at most one
// second's worth).
//
//   - Leader: a follower's fetch of a leader-throttled partition by a
//     replica NOT in the ISR gets no records (its high watermark only)
//     while the quota is exceeded (Kafka's shouldLeaderThrottle); the
//     bytes answered for every leader-throttled partition are recorded.
//   - Follower: a follower-throttled partition that has not caught up with
//     the leader's high watermark (as last fetched) is left out of the
//     next Fetch while the quota is exceeded (shouldFollowerThrottle); the
//     bytes appended for every follower-throttled partition are recorded.
//
// Caught-up replicas and unthrottled partitions of the same request go
// through. The rates and lists apply on the next fetch after a change: no
// restart.

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// The dynamic broker configs of the throttles.
const (
	leaderThrottledRate   = "leader.replication.throttled.rate"
	followerThrottledRate = "follower.replication.throttled.rate"
	leaderThrottledList   = "leader.replication.throttled.replicas"
	followerThrottledList = "follower.replication.throttled.replicas"
)

// Kafka's replication.quota.window.num and .size.seconds, and how often
// a follower looks again at a partition its quota held back.
const (
	quotaWindows           = 11
	quotaWindowSize        = time.Second
	replicaThrottleRecheck = 100 * time.Millisecond
)

// throttleRateDocs documents the dynamic throttle rates (DescribeConfigs).
var throttleRateDocs = map[string]string{
	leaderThrottledRate:   "Bytes per second a leader sends to followers of the partitions in leader.replication.throttled.replicas that are out of the ISR (default 9223372036854775807: no throttle).",
	followerThrottledRate: "Bytes per second a follower fetches for the partitions in follower.replication.throttled.replicas it has not caught up on (default 9223372036854775807: no throttle).",
}

// isThrottleRate reports whether key is one of the throttle rates.
func isThrottleRate(key string) bool { _, ok := throttleRateDocs[key]; return ok }

// checkThrottleRates validates the throttle rates of both levels (a long
// >= 0, Kafka's ConfigDef) as an INVALID_CONFIG apiError.
func checkThrottleRates(dyn dynamicLevels) error {
	for _, level := range []map[string]string{dyn.Cluster, dyn.Node} {
		for key := range throttleRateDocs {
			v, ok := level[key]
			if !ok {
				continue
			}
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err != nil || n < 0 {
				return newAPIError(kerr.InvalidConfig, "Invalid value %s for configuration %s: Value must be at least 0", v, key)
			}
		}
	}
	return nil
}

// throttleRate is key's rate in bytes/s: the node's dynamic value, else
// the cluster's, else math.MaxInt64 (off).
func (b *Broker) throttleRate(key string) int64 {
	dyn := b.topics.defaults.dynamic()
	for _, level := range []map[string]string{dyn.Node, dyn.Cluster} {
		if v, ok := level[key]; ok {
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n >= 0 {
				return n
			}
		}
	}
	return math.MaxInt64
}

// throttledReplica reports whether the list value (a topic config) names
// partition p on broker id: "*", or a "p:id" item.
func throttledReplica(list string, p, id int32) bool {
	if list == "" {
		return false
	}
	want := strconv.Itoa(int(p)) + ":" + strconv.Itoa(int(id))
	return slices.ContainsFunc(strings.Split(list, ","), func(item string) bool {
		item = strings.TrimSpace(item)
		return item == "*" || item == want
	})
}

// throttledHere reports whether topic's partition p is in the list config
// key for this broker (and the rate of that side is finite).
func (b *Broker) throttledHere(topicName string, p int32, listKey, rateKey string) bool {
	t := b.topics.get(topicName)
	if t == nil || !throttledReplica(t.configs[listKey], p, b.cfg.NodeID) {
		return false
	}
	return b.throttleRate(rateKey) != math.MaxInt64
}

// replicationQuota is one side's rate of throttled bytes.
type replicationQuota struct {
	mu      sync.Mutex
	windows [quotaWindows]quotaWindow
	held    atomic.Int64 // partition fetches held back
	bytes   atomic.Int64 // throttled partitions' bytes recorded
}

type quotaWindow struct {
	start time.Time // zero: unused
	bytes int64
}

// record adds n bytes at now.
func (q *replicationQuota) record(now time.Time, n int64) {
	if n <= 0 {
		return
	}
	q.bytes.Add(n)
	start := now.Truncate(quotaWindowSize)
	i := int(start.Unix()/int64(quotaWindowSize/time.Second)) % quotaWindows
	q.mu.Lock()
	defer q.mu.Unlock()
	if w := &q.windows[i]; !w.start.Equal(start) {
		*w = quotaWindow{start: start}
	}
	q.windows[i].bytes += n
}

// rate is the bytes/s over the windows of the last quotaWindows seconds,
// over at least one window's time.
func (q *replicationQuota) rate(now time.Time) float64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	var sum int64
	var oldest time.Time
	for _, w := range q.windows {
		if w.start.IsZero() || now.Sub(w.start) >= quotaWindows*quotaWindowSize {
			continue
		}
		sum += w.bytes
		if oldest.IsZero() || w.start.Before(oldest) {
			oldest = w.start
		}
	}
	if sum == 0 {
		return 0
	}
	elapsed := max(now.Sub(oldest), quotaWindowSize)
	return float64(sum) / elapsed.Seconds()
}

// exceeded reports whether the rate is above limit (bytes/s), counting a
// held-back fetch when it is.
func (q *replicationQuota) exceeded(now time.Time, limit int64) bool {
	if limit == math.MaxInt64 || q.rate(now) <= float64(limit) {
		return false
	}
	q.held.Add(1)
	return true
}

// replicationQuotas are the broker's two quotas and fetch byte counters.
type replicationQuotas struct {
	leader, follower replicationQuota
	// Record bytes of Fetch responses: sent to consumers (as leader or,
	// KIP-392, as follower), sent to followers, fetched from leaders.
	consumerOut, replicaOut, replicaIn atomic.Int64
}

// ReplicationStats are the fetch byte counters and the throttles' state
// since start (for metrics).
type ReplicationStats struct {
	ConsumerFetchBytes int64 // record bytes sent to consumers, by any replica
	ReplicaFetchBytes  int64 // record bytes sent to followers, as leader
	ReplicaFetchedIn   int64 // record bytes fetched from leaders, as follower
	// Per side (leader, follower): the throttle rate (math.MaxInt64:
	// off), the throttled partitions' bytes and their rate now, and the
	// partition fetches held back.
	LeaderRate, FollowerRate         int64
	LeaderBytes, FollowerBytes       int64
	LeaderByteRate, FollowerByteRate float64
	LeaderHeld, FollowerHeld         int64
}

// ReplicationStats returns the counters.
func (b *Broker) ReplicationStats() ReplicationStats {
	q := &b.quotas
	now := time.Now()
	return ReplicationStats{
		ConsumerFetchBytes: q.consumerOut.Load(), ReplicaFetchBytes: q.replicaOut.Load(), ReplicaFetchedIn: q.replicaIn.Load(),
		LeaderRate: b.throttleRate(leaderThrottledRate), FollowerRate: b.throttleRate(followerThrottledRate),
		LeaderBytes: q.leader.bytes.Load(), FollowerBytes: q.follower.bytes.Load(),
		LeaderByteRate: q.leader.rate(now), FollowerByteRate: q.follower.rate(now),
		LeaderHeld: q.leader.held.Load(), FollowerHeld: q.follower.held.Load(),
	}
}

// markLeaderThrottled flags a follower's fetch of each leader-throttled
// partition (throttledPart), and throttled when the follower is out of
// the ISR: its reads stop while the leader quota is exceeded.
func (b *Broker) markLeaderThrottled(topics []fetchTopic) {
	for i := range topics {
		for k := range topics[i].parts {
			fp := &topics[i].parts[k]
			if fp.st == nil || fp.errCode != 0 || !b.throttledHere(topics[i].name, fp.partition, leaderThrottledList, leaderThrottledRate) {
				continue
			}
			fp.throttledPart = true
			fp.st.mu.Lock()
			fp.throttled = !slices.Contains(fp.st.mu.isr, fp.replica)
			fp.st.mu.Unlock()
		}
	}
}

// leaderHolds reports whether fp's read is held back by the leader quota.
func (b *Broker) leaderHolds(fp *fetchPart) bool {
	return fp.throttled && b.quotas.leader.exceeded(time.Now(), b.throttleRate(leaderThrottledRate))
}

// countFetchBytes records what a Fetch response carries: consumer or
// replica bytes, and the leader-throttled partitions' bytes on the quota.
func (b *Broker) countFetchBytes(follower bool, topics []fetchTopic) {
	var total, throttled int64
	for i := range topics {
		for k := range topics[i].parts {
			fp := &topics[i].parts[k]
			total += fp.res.Bytes
			if fp.throttledPart {
				throttled += fp.res.Bytes
			}
		}
	}
	if !follower {
		b.quotas.consumerOut.Add(total)
		return
	}
	b.quotas.replicaOut.Add(total)
	b.quotas.leader.record(time.Now(), throttled)
}

// followerHolds reports whether a follower's next fetch of st is held
// back: follower-throttled here, not caught up, quota exceeded.
func (b *Broker) followerHolds(st *fetchState) bool {
	if st.inSync || !b.throttledHere(st.topic, st.partition, followerThrottledList, followerThrottledRate) {
		return false
	}
	return b.quotas.follower.exceeded(time.Now(), b.throttleRate(followerThrottledRate))
}

// followerAppended records n bytes fetched for st, on the follower quota
// when st is follower-throttled here, and whether st caught up with the
// leader's high watermark hw.
func (b *Broker) followerAppended(st *fetchState, n int, hw int64) {
	st.inSync = st.log.LogEndOffset() >= hw
	b.quotas.replicaIn.Add(int64(n))
	if n > 0 && b.throttledHere(st.topic, st.partition, followerThrottledList, followerThrottledRate) {
		b.quotas.follower.record(time.Now(), int64(n))
	}
}
