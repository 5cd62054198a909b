package controller

import (
	"errors"
	"time"

	"github.com/sluice/sluice/metadata"
)

// rebalanceLoop, on the active controller with AutoLeaderRebalance, looks
// every LeaderImbalanceCheckInterval for brokers whose preferred
// leaderships went elsewhere (after a restart, say) and gives them back.
func (c *Controller) rebalanceLoop() {
	defer c.done.Done()
	if !c.cfg.AutoLeaderRebalance {
		return
	}
	c.everyTickAsLeader(c.cfg.LeaderImbalanceCheckInterval, c.rebalanceLeaders)
}

// everyTickAsLeader calls f every d while this node is the active
// controller, until the controller closes.
func (c *Controller) everyTickAsLeader(d time.Duration, f func()) {
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
		}
		if c.IsLeader() {
			f()
		}
	}
}

// rebalanceLeaders is one pass of rebalanceLoop: the preferred elections
// of imbalancedPartitions, decided again under the decision lock.
func (c *Controller) rebalanceLeaders() {
	parts := imbalancedPartitions(c.Image(), c.cfg.LeaderImbalancePerBrokerPercentage)
	if len(parts) == 0 {
		return
	}
	if _, err := c.ElectLeaders(ElectPreferred, parts); err != nil && !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrClosed) {
		c.cfg.Logger.Error("cannot rebalance preferred leaders", "error", err)
	}
}

// imbalancedPartitions returns, as Kafka's auto.leader.rebalance does, the
// partitions to give back to their preferred leader: for each broker, its
// imbalance is the share of the partitions it is preferred leader of (first
// replica) that another broker (or none) leads; over pct percent, each of
// those whose preferred leader is alive and in the ISR is listed.
func imbalancedPartitions(im *metadata.Image, pct int) []TopicPartition {
	type share struct {
		preferred int
		elsewhere []TopicPartition
	}
	shares := map[int32]*share{}
	live := liveBrokers(im)
	for _, name := range im.TopicNames() {
		t, _ := im.Topic(name)
		for _, p := range t.Partitions {
			if len(p.Replicas) == 0 {
				continue
			}
			pref := p.Replicas[0]
			s := shares[pref]
			if s == nil {
				s = &share{}
				shares[pref] = s
			}
			s.preferred++
			if p.Leader != pref {
				s.elsewhere = append(s.elsewhere, TopicPartition{Topic: name, Partition: p.Partition})
			}
		}
	}
	var out []TopicPartition
	for _, id := range im.Brokers() {
		s := shares[id.ID]
		if s == nil || !live(id.ID) || len(s.elsewhere)*100 <= pct*s.preferred {
			continue
		}
		for _, tp := range s.elsewhere {
			t, _ := im.Topic(tp.Topic)
			if _, err := electPreferred(t.Partitions[tp.Partition], live); err == nil {
				out = append(out, tp)
			}
		}
	}
	return out
}
