package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
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
	leader, followers := c.topic(topic)
	at := c.addrs[leader-1]
	produce := func(addr, tag string, n int) []acked {
		t.Helper()
		var out []acked
		for i := range n {
			v := fmt.Sprintf("%s-%d", tag, i)
			sp := produceRaw(t, addr, topic, oneBatch(t, v))
			if sp.ErrorCode != 0 {
				t.Fatalf("produce %s: %v", v, kerr.ErrorForCode(sp.ErrorCode))
			}
			out = append(out, acked{value: v, offset: sp.BaseOffset})
		}
		return out
	}
	onAll := produce(at, "all-three", 10)

	for _, f := range followers {
		c.nodes[f-1].stop()
		c.nodes[f-1] = nil
	}
	waitPartition(t, at, topic, 0, 15*time.Second, func(l int32, isr []int32) bool {
		return l == leader && slices.Equal(isr, []int32{leader})
	})
	produce(at, "leader-only", 5) // acknowledged, and about to be lost

	c.nodes[leader-1].kill()
	c.nodes[leader-1] = nil
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
	if !slices.Contains(followers, newLeader) || !slices.Equal(isr, []int32{newLeader}) {
		t.Fatalf("after the unclean election: leader %d ISR %v, want one of %v alone", newLeader, isr, followers)
	}
	t.Logf("broker %d leads %s-0 %v after the config change (leader %d lost)", newLeader, topic, time.Since(altered), leader)

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
