package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestUncleanLeaderElectionOnConfig: an RF=3 partition (controller-only
// quorum, min.insync.replicas=1) loses both followers (stopped, fenced:
// the ISR is the leader alone, which acknowledges more records), then its
// leader to kill -9. The followers come back outside the ISR: with
// unclean.leader.election.enable at its default (false) the partition
// stays without a leader and produce is refused. Setting the topic config
// to true makes a live out-of-ISR replica leader at once, alone in the
// ISR: produce works again, the records every replica held are kept at
// their offsets, those only the lost leader held are gone, and the
// controller logged the election.
func TestUncleanLeaderElectionOnConfig(t *testing.T) {
	c := startSplitCluster(t)
	const topic = "unclean-cfg"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	leader, followers, onAll := loseISR(t, c, topic)
	var live []string
	for _, f := range followers {
		c.start(f)
		live = append(live, c.addrs[f-1])
	}
	// Both back and unfenced, the killed leader fenced: the unfencing
	// decisions are applied, and they elected nobody.
	agreed(t, live, 20*time.Second, brokersAre(followers...))
	l, isr := waitPartition(t, live[0], topic, 0, 5*time.Second, func(int32, []int32) bool { return true })
	if l != -1 || !slices.Equal(isr, []int32{leader}) {
		t.Fatalf("unclean election off: leader %d ISR %v, want none and [%d]", l, isr, leader)
	}
	for _, a := range live {
		sp := produceTimeout(t, a, topic, oneBatch(t, "refused"), 1000)
		if sp.ErrorCode != kerr.NotLeaderForPartition.Code && sp.ErrorCode != kerr.LeaderNotAvailable.Code {
			t.Fatalf("produce at %s to the leaderless partition: %v", a, kerr.ErrorForCode(sp.ErrorCode))
		}
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(live...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	on := "true"
	altered := time.Now()
	rs, err := kadm.NewClient(cl).AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "unclean.leader.election.enable", Value: &on}}, topic)
	if err == nil {
		err = rs[0].Err
	}
	if err != nil {
		t.Fatalf("alter unclean.leader.election.enable: %v", err)
	}
	newLeader, isr := waitPartition(t, live[0], topic, 0, 10*time.Second, func(l int32, _ []int32) bool { return l >= 0 })
	// The election puts the new leader alone in the ISR (the controller's
	// TestElectUncleanDecision); the other follower, live and caught up,
	// may have joined it by the time a loaded machine's poll looks.
	if !slices.Contains(followers, newLeader) || !slices.Contains(isr, newLeader) ||
		slices.ContainsFunc(isr, func(r int32) bool { return !slices.Contains(followers, r) }) {
		t.Fatalf("after the unclean election: leader %d ISR %v, want one of %v leading, the lost leader %d out of the ISR",
			newLeader, isr, followers, leader)
	}
	t.Logf("broker %d leads %s-0 %v after the config change (leader %d lost)", newLeader, topic, time.Since(altered), leader)

	afterUnclean(t, ctx, c, topic, newLeader, live, onAll)
}

// TestUncleanLeaderElectionBrokerDefault: with the broker key
// unclean.leader.election.enable=true (the topics' default, described as
// STATIC_BROKER_CONFIG), a partition that lost its ISR and every replica
// is taken over by the first out-of-ISR replica that comes back.
func TestUncleanLeaderElectionBrokerDefault(t *testing.T) {
	c := startSplitCluster(t, "SLUICE_UNCLEAN_LEADER_ELECTION_ENABLE=true")
	const topic = "unclean-default"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	leader, followers, onAll := loseISR(t, c, topic)
	waitELR(t, c.ctl.addr, topic, 15*time.Second, func(st elrState) bool { return st.leader == -1 })
	back := followers[1]
	c.start(back)
	live := []string{c.addrs[back-1]}
	newLeader, isr := waitPartition(t, live[0], topic, 0, 15*time.Second, func(l int32, _ []int32) bool { return l >= 0 })
	if newLeader != back || !slices.Equal(isr, []int32{back}) {
		t.Fatalf("after the unclean election: leader %d ISR %v, want %d alone (leader %d lost)", newLeader, isr, back, leader)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(live...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rcs, err := kadm.NewClient(cl).DescribeTopicConfigs(ctx, topic)
	if err != nil || len(rcs) != 1 || rcs[0].Err != nil {
		t.Fatalf("describe configs: %v %+v", err, rcs)
	}
	i := slices.IndexFunc(rcs[0].Configs, func(c kadm.Config) bool { return c.Key == "unclean.leader.election.enable" })
	if i < 0 || rcs[0].Configs[i].MaybeValue() != "true" || rcs[0].Configs[i].Source != kmsg.ConfigSourceStaticBrokerConfig {
		t.Fatalf("unclean.leader.election.enable not described as a static true: %+v", rcs[0].Configs)
	}
	afterUnclean(t, ctx, c, topic, newLeader, live, onAll)
}

// loseISR creates an RF=3 topic and acknowledges ten records on all
// three replicas; both followers stop (fenced, they leave the ISR), the
// leader alone acknowledges five more, and is killed (kill -9). It
// returns the lost leader, the stopped followers and the records all three
// held.
func loseISR(t *testing.T, c *splitCluster, topic string) (leader int32, followers []int32, onAll []acked) {
	t.Helper()
	leader, followers = c.topic(topic)
	at := c.addrs[leader-1]
	produce := func(tag string, n int) []acked {
		t.Helper()
		return produceAcked(t, at, topic, tag, n)
	}
	onAll = produce("all-three", 10)
	for _, f := range followers {
		c.nodes[f-1].stop()
		c.nodes[f-1] = nil
	}
	waitPartition(t, at, topic, 0, 15*time.Second, func(l int32, isr []int32) bool {
		return l == leader && slices.Equal(isr, []int32{leader})
	})
	produce("leader-only", 5) // acknowledged by the ISR, the leader alone
	c.nodes[leader-1].kill()
	c.nodes[leader-1] = nil
	return leader, followers, onAll
}

// afterUnclean checks the partition after an unclean election to
// newLeader: produce works, the first new record follows the ones every
// replica held (the lost leader's own are gone), all of them are read
// back at their offsets, and the controller logged the election.
func afterUnclean(t *testing.T, ctx context.Context, c *splitCluster, topic string, newLeader int32, live []string, onAll []acked) {
	t.Helper()
	sp := produceRaw(t, c.addrs[newLeader-1], topic, oneBatch(t, "after-unclean"))
	if sp.ErrorCode != 0 {
		t.Fatalf("produce after the unclean election: %v", kerr.ErrorForCode(sp.ErrorCode))
	}
	if sp.BaseOffset != int64(len(onAll)) {
		t.Fatalf("first record after the election at offset %d, want %d (the lost leader's records gone)", sp.BaseOffset, len(onAll))
	}
	checkAcked(t, ctx, live, topic, append(onAll, acked{value: "after-unclean", offset: sp.BaseOffset}))
	waitFor(t, "unclean election log on the controller", 5*time.Second, func() bool {
		return strings.Contains(c.ctl.stderr.String(), "unclean leader election")
	})
}
