package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// partView is one partition as Metadata answers it.
type partView struct {
	leader   int32
	replicas []int32
	isr      []int32
}

// topicPartViews asks addr for every partition of topic.
func topicPartViews(addr, topic string) ([]partView, error) {
	resp, err := topicMetadata(addr, topic)
	if err != nil {
		return nil, err
	}
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		return nil, fmt.Errorf("metadata for %s: %+v", topic, resp.Topics)
	}
	out := make([]partView, len(resp.Topics[0].Partitions))
	for _, mp := range resp.Topics[0].Partitions {
		if mp.Partition < 0 || int(mp.Partition) >= len(out) {
			return nil, fmt.Errorf("metadata for %s: partition %d", topic, mp.Partition)
		}
		out[mp.Partition] = partView{leader: mp.Leader, replicas: mp.Replicas, isr: mp.ISR}
	}
	return out, nil
}

// waitPartViews polls addr until check passes on every partition of topic
// (check returns "" when it does).
func waitPartViews(t *testing.T, addr, topic string, timeout time.Duration, check func([]partView) string) []partView {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ps, err := topicPartViews(addr, topic)
		msg := ""
		if err != nil {
			msg = err.Error()
		} else {
			msg = check(ps)
		}
		if msg == "" {
			return ps
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s at %s after %v: %s (%+v)", topic, addr, timeout, msg, ps)
		}
		time.Sleep(20 * time.Millisecond) // polling Metadata, bounded by the deadline
	}
}

// allPreferredLeaders passes when every partition is led by its first replica.
func allPreferredLeaders(ps []partView) string {
	for i, p := range ps {
		if len(p.replicas) == 0 || p.leader != p.replicas[0] {
			return fmt.Sprintf("partition %d led by %d, preferred %v", i, p.leader, p.replicas)
		}
	}
	return ""
}

// produceSpread writes n acks=all records spread over the topic's
// partitions, each value "<round>-<i>", and returns the values.
func produceSpread(t *testing.T, ctx context.Context, cl *kgo.Client, topic, round string, n, partitions int) []string {
	t.Helper()
	var recs []*kgo.Record
	var values []string
	for i := range n {
		v := round + "-" + strconv.Itoa(i)
		values = append(values, v)
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % partitions), Value: []byte(v)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce round %s: %v", round, err)
	}
	return values
}

// readBackAll reads every partition of topic from the start until each of
// want was seen.
func readBackAll(t *testing.T, ctx context.Context, addrs []string, topic string, want []string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	missing := map[string]bool{}
	for _, v := range want {
		missing[v] = true
	}
	for len(missing) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%d of %d acknowledged records never read back", len(missing), len(want))
		}
		fs.EachRecord(func(r *kgo.Record) { delete(missing, string(r.Value)) })
	}
}

// restartOneUnderLoad: on a 6-partition RF=3 topic with acks=all
// records, kill -9 a broker that is not the active controller, produce
// while it is down, restart it and wait until it is back in every ISR.
// Unless rebalancing, it checks that the broker leads nothing then. It
// returns the broker and the acknowledged values.
func restartOneUnderLoad(t *testing.T, ctx context.Context, c *replCluster, topic string, rebalancing bool) (int32, []string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addrs...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	res, err := kadm.NewClient(cl).CreateTopic(ctx, 6, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, topic)
	if err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	waitPartViews(t, c.addrs[0], topic, 10*time.Second, func(ps []partView) string {
		if len(ps) != 6 {
			return "not 6 partitions yet"
		}
		if msg := allPreferredLeaders(ps); msg != "" {
			return msg
		}
		for i, p := range ps {
			if len(p.isr) != 3 {
				return fmt.Sprintf("partition %d ISR %v", i, p.isr)
			}
		}
		return ""
	})
	acked := produceSpread(t, ctx, cl, topic, "before", 60, 6)
	view, err := viewOf(c.addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	victim := int32(1)
	for victim == view.leader {
		victim++
	}
	c.kill(victim)
	live := c.live()
	waitPartViews(t, live[0], topic, 15*time.Second, func(ps []partView) string {
		for i, p := range ps {
			if p.leader == victim || p.leader < 0 || slices.Contains(p.isr, victim) {
				return fmt.Sprintf("partition %d: leader %d ISR %v with %d down", i, p.leader, p.isr, victim)
			}
		}
		return ""
	})
	acked = append(acked, produceSpread(t, ctx, cl, topic, "down", 60, 6)...)
	c.start(int(victim - 1))
	waitPartViews(t, live[0], topic, 20*time.Second, func(ps []partView) string {
		for i, p := range ps {
			if !slices.Contains(p.isr, victim) {
				return fmt.Sprintf("partition %d: ISR %v without %d", i, p.isr, victim)
			}
		}
		return ""
	})
	ps, _ := topicPartViews(live[0], topic)
	for i, p := range ps {
		if rebalancing {
			break
		}
		if p.replicas[0] == victim && p.leader == victim {
			t.Fatalf("partition %d went back to %d before any election: %+v", i, victim, p)
		}
	}
	return victim, acked
}

// Three nodes, RF=3, six partitions: a broker killed with kill -9 and
// restarted rejoins every ISR but leads nothing until ElectLeaders
// PREFERRED gives its partitions back (one asked of a broker that forwards
// to the active controller, the other by franz-go kadm);
// every acks=all record produced before, meanwhile and after is still
// readable.
func TestElectLeadersPreferredAfterRestart(t *testing.T) {
	c := startReplCluster(t, "SLUICE_AUTO_LEADER_REBALANCE_ENABLE=false")
	const topic = "elect"
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	victim, acked := restartOneUnderLoad(t, ctx, c, topic, false)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addrs...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	before, _ := topicPartViews(c.addrs[0], topic)
	// One of its partitions first, asked (v1) of a broker that is not the
	// active controller, which forwards the request.
	first := slices.IndexFunc(before, func(p partView) bool { return p.replicas[0] == victim })
	view, err := viewOf(c.addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	other := 0
	for int32(other+1) == view.leader {
		other++
	}
	req := kmsg.NewPtrElectLeadersRequest()
	req.Version = 1
	rt := kmsg.NewElectLeadersRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{int32(first)}
	req.Topics = append(req.Topics, rt)
	r, err := request(c.addrs[other], req)
	if err != nil {
		t.Fatal(err)
	}
	if resp := r.(*kmsg.ElectLeadersResponse); resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 ||
		resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("ElectLeaders v1 at broker %d (controller %d): %+v", other+1, view.leader, resp)
	}
	waitPartViews(t, c.addrs[0], topic, 10*time.Second, func(ps []partView) string {
		if ps[first].leader != victim {
			return fmt.Sprintf("partition %d not led by %d", first, victim)
		}
		return ""
	})
	set := kadm.TopicsSet{}
	set.Add(topic, 0, 1, 2, 3, 4, 5)
	results, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, set)
	if err != nil {
		t.Fatal(err)
	}
	moved := 0
	for p, r := range results[topic] {
		switch {
		case before[p].replicas[0] == victim && p != int32(first) && r.Err == nil:
			moved++
		case (before[p].replicas[0] != victim || p == int32(first)) && errors.Is(r.Err, kerr.ElectionNotNeeded):
		default:
			t.Errorf("partition %d (preferred %d, leader %d): %v %s", p, before[p].replicas[0], before[p].leader, r.Err, r.ErrMessage)
		}
	}
	if len(results[topic]) != 6 || moved != 1 {
		t.Fatalf("%d results, %d moved to %d: %+v", len(results[topic]), moved, victim, results)
	}
	waitPartViews(t, c.addrs[0], topic, 10*time.Second, allPreferredLeaders)
	// Again, for every partition (a null list): nothing left to elect.
	if results, err = adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, nil); err != nil || len(results[topic]) != 0 {
		t.Fatalf("second election of every partition: %+v, %v", results, err)
	}
	acked = append(acked, produceSpread(t, ctx, cl, topic, "after", 60, 6)...)
	readBackAll(t, ctx, c.addrs, topic, acked)
	t.Logf("broker %d leads its 2 preferred partitions again; %d acknowledged records read back", victim, len(acked))
}

// The same restart with leader.imbalance.check.interval.seconds=1: the
// active controller gives the partitions back by itself.
func TestAutoLeaderRebalanceAfterRestart(t *testing.T) {
	c := startReplCluster(t, "SLUICE_LEADER_IMBALANCE_CHECK_INTERVAL_SECONDS=1")
	const topic = "rebalance"
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	victim, acked := restartOneUnderLoad(t, ctx, c, topic, true)
	waitPartViews(t, c.addrs[0], topic, 10*time.Second, allPreferredLeaders)
	readBackAll(t, ctx, c.addrs, topic, acked)
	t.Logf("broker %d got its preferred partitions back without a call; %d acknowledged records read back", victim, len(acked))
}

// ElectLeaders UNCLEAN: ELECTION_NOT_NEEDED while the leader lives; on a
// partition whose only ISR member is down (its follower was killed first,
// then it), the follower, restarted and out of the ISR, becomes leader
// with ISR = it.
func TestElectLeadersUnclean(t *testing.T) {
	c := startReplCluster(t)
	const topic = "unclean"
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addrs...))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	res, err := adm.CreateTopic(ctx, 1, 2, nil, topic)
	if err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	ps := waitPartViews(t, c.addrs[0], topic, 10*time.Second, func(ps []partView) string {
		if len(ps) != 1 || ps[0].leader < 0 || len(ps[0].isr) != 2 {
			return "not led with two in the ISR yet"
		}
		return ""
	})
	leader := ps[0].leader
	follower := ps[0].replicas[0]
	if follower == leader {
		follower = ps[0].replicas[1]
	}
	set := kadm.TopicsSet{}
	set.Add(topic, 0)
	results, err := adm.ElectLeaders(ctx, kadm.ElectLiveReplica, set)
	if err != nil || !errors.Is(results[topic][0].Err, kerr.ElectionNotNeeded) {
		t.Fatalf("unclean election with a live leader: %+v, %v", results, err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("on-both")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	// The follower goes: the ISR is the leader alone. Then the leader goes
	// (the quorum is lost until the follower is back).
	c.kill(follower)
	var third string
	for i, n := range c.nodes {
		if n != nil && int32(i+1) != leader {
			third = c.addrs[i]
		}
	}
	waitPartViews(t, third, topic, 15*time.Second, func(ps []partView) string {
		if !slices.Equal(ps[0].isr, []int32{leader}) {
			return "follower still in the ISR"
		}
		return ""
	})
	c.kill(leader)
	c.start(int(follower - 1))
	waitPartViews(t, third, topic, 20*time.Second, func(ps []partView) string {
		if ps[0].leader != -1 {
			return "the dead leader is not fenced yet"
		}
		return ""
	})
	cl2, err := kgo.NewClient(kgo.SeedBrokers(c.live()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	adm2 := kadm.NewClient(cl2)
	if results, err = adm2.ElectLeaders(ctx, kadm.ElectPreferredReplica, set); err != nil || results[topic][0].Err == nil {
		t.Fatalf("preferred election with the only ISR member down: %+v, %v", results, err)
	}
	// The restarted follower may not be registered and unfenced yet: until
	// it is, no replica is alive (ELIGIBLE_LEADERS_NOT_AVAILABLE).
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		results, err = adm2.ElectLeaders(ctx, kadm.ElectLiveReplica, set)
		if err == nil && errors.Is(results[topic][0].Err, kerr.EligibleLeadersNotAvailable) && time.Now().Before(end) {
			continue
		}
		if err != nil || results[topic][0].Err != nil {
			t.Fatalf("unclean election: %+v, %v", results, err)
		}
		break
	}
	waitPartViews(t, third, topic, 10*time.Second, func(ps []partView) string {
		if ps[0].leader != follower || !slices.Equal(ps[0].isr, []int32{follower}) {
			return "not led by the restarted follower alone"
		}
		return ""
	})
	// A raw acks=all produce first: its answer is bounded by the socket
	// deadline, where an idempotent franz-go producer retries a timed-out
	// batch for ever, past ctx (the leader alone in its ISR once kept the
	// high watermark still until the next metadata change).
	if sp := produceRaw(t, c.addrs[follower-1], topic, oneBatch(t, "raw-after-unclean")); sp.ErrorCode != 0 {
		t.Fatalf("acks=all produce to the leader alone in its ISR: %v", kerr.ErrorForCode(sp.ErrorCode))
	}
	if err := cl2.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("after-unclean")}).FirstErr(); err != nil {
		t.Fatalf("produce after the unclean election: %v", err)
	}
	t.Logf("broker %d leads %s-0 alone after the unclean election (%d down)", follower, topic, leader)
}
