package controller

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/sluice/sluice/metadata"
)

// Unclean leader election (unclean.leader.election.enable), as Kafka's
// controller (PartitionChangeBuilder's Election.UNCLEAN):
//
//   - A partition without a live leader gets, in this order, a live ISR
//     member (ISR kept), else with EligibleLeaderReplicas a live eligible
//     leader replica (elr.go; ISR = it), else, only when its topic allows
//     it, the first live replica in replica order. That unclean leader
//     becomes the whole ISR, its ELR and last known ELR are emptied, and
//     the leader epoch goes up by one as for any election: the followers
//     truncate to the new leader's log, so what only the lost replicas
//     held is gone.
//   - Whether a topic allows it: its topic config, else this controller
//     node's dynamic broker config, else the cluster-wide dynamic default
//     (BROKER resource ""), else Config.UncleanLeaderElection (the static
//     broker config); Kafka's precedence for a topic config's default.
//   - When: on fencing and unfencing (assign.go), when a config change
//     names the key (SetConfigs elects in the same batch, so turning it on
//     for a leaderless partition gives it a leader at once; Kafka waits
//     for its periodic check), and every UncleanLeaderElectionCheckInterval.
//     ElectLeaders' UNCLEAN type elects whatever the config says, as
//     Kafka's does.
//
// Each committed unclean election is logged at ERROR level, as Kafka's
// "Triggering unclean leader election for offline partition", and counted
// (UncleanElections).

const uncleanConfig = "unclean.leader.election.enable"

// uncleanEnabled returns whether a topic of im allows unclean elections.
func (c *Controller) uncleanEnabled(im *metadata.Image) func(topic string) bool {
	dflt := c.cfg.UncleanLeaderElection
	for _, level := range []string{"", strconv.Itoa(int(c.cfg.NodeID))} { // the node's overrides the cluster's
		if on, ok := configBool(im.Configs(metadata.ResourceBroker, level)); ok {
			dflt = on
		}
	}
	return func(topic string) bool {
		if on, ok := configBool(im.Configs(metadata.ResourceTopic, topic)); ok {
			return on
		}
		return dflt
	}
}

// configBool returns the unclean config's value in configs, if set and
// valid (brokers validate it before it is stored).
func configBool(configs map[string]string) (on, ok bool) {
	switch strings.ToLower(strings.TrimSpace(configs[uncleanConfig])) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// uncleanElections returns the elections due in im for the partitions
// without a live leader whose topic allows unclean elections (see
// electUnclean), in topic and partition order.
func (c *Controller) uncleanElections(im *metadata.Image) []metadata.Record {
	enabled := c.uncleanEnabled(im)
	live := liveBrokers(im)
	var recs []metadata.Record
	for _, name := range im.TopicNames() {
		if !enabled(name) {
			continue
		}
		t, _ := im.Topic(name)
		for _, p := range t.Partitions {
			leader, isr, err := electUnclean(p, live, c.cfg.EligibleLeaderReplicas)
			if err != nil {
				continue
			}
			if rec, changed := change(t.ID, p, leader, isr); changed {
				recs = append(recs, rec)
			}
		}
	}
	return recs
}

// touchesUnclean reports whether config changes of a resource may allow
// new unclean elections: they name the key, on a topic or a broker.
func touchesUnclean(resourceType int8, changes map[string]*string) bool {
	_, ok := changes[uncleanConfig]
	return ok && (resourceType == metadata.ResourceTopic || resourceType == metadata.ResourceBroker)
}

// uncleanLoop, on the active controller, runs the unclean elections due
// every UncleanLeaderElectionCheckInterval.
func (c *Controller) uncleanLoop() {
	defer c.done.Done()
	c.everyTickAsLeader(c.cfg.UncleanLeaderElectionCheckInterval, func() {
		if err := c.electUncleanLeaders(); err != nil && !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrClosed) {
			c.cfg.Logger.Error("cannot run unclean leader elections", "error", err)
		}
	})
}

// electUncleanLeaders decides and commits the unclean elections due.
func (c *Controller) electUncleanLeaders() error {
	if err := c.beginDecision(); err != nil {
		return err
	}
	defer c.endDecision()
	im := c.Image()
	recs := c.trackELR(im, c.uncleanElections(im), -1)
	if err := c.propose(recs); err != nil {
		return err
	}
	c.noteUnclean(im, recs)
	return nil
}

// uncleanChange reports whether pc, taking p to a new leader, is an
// unclean election: the leader was neither in p's ISR nor eligible (in
// its ELR, or, the ELR empty, in its last known ELR; elr.go).
func uncleanChange(p metadata.Partition, pc metadata.PartitionChange) bool {
	l := pc.Leader
	eligible := slices.Contains(p.ISR, l) || slices.Contains(p.EligibleLeaderReplicas, l) ||
		len(p.EligibleLeaderReplicas) == 0 && slices.Contains(p.LastKnownElr, l)
	return l >= 0 && l != p.Leader && !eligible
}

// noteUnclean logs and counts the unclean elections among recs, committed
// against im.
func (c *Controller) noteUnclean(im *metadata.Image, recs []metadata.Record) {
	for _, rec := range recs {
		pc, ok := rec.(metadata.PartitionChange)
		if !ok {
			continue
		}
		t, ok := im.TopicByID(pc.TopicID)
		if !ok || int(pc.Partition) >= len(t.Partitions) || !uncleanChange(t.Partitions[pc.Partition], pc) {
			continue
		}
		p := t.Partitions[pc.Partition]
		c.uncleanCount.Add(1)
		c.cfg.Logger.ResetNamed("controller").Error("unclean leader election: records only the lost replicas held are gone",
			"topic", t.Name, "partition", pc.Partition, "leader", pc.Leader, "leader_epoch", p.LeaderEpoch+1, "previous_isr", p.ISR)
	}
}

// UncleanElections is how many unclean leader elections this node has
// committed as the active controller since it started.
func (c *Controller) UncleanElections() int64 { return c.uncleanCount.Load() }
