package controller

import (
	"slices"
	"strconv"

	"github.com/sluice/sluice/metadata"
)

// Eligible leader replicas (KIP-966), with Config.EligibleLeaderReplicas:
//
//   - ISR ≥ min ISR: the ELR and the last known ELR are empty.
//   - ISR < min ISR: every replica leaving the ISR joins the ELR (the
//     brokers keep the high watermark still while the ISR is under min
//     ISR, so an ELR member holds every record below it). The last ISR
//     member leaves the ISR too when it is fenced: the ISR may be empty.
//   - A replica leaves the ELR when it rejoins the ISR, or when its broker
//     registers after an unclean shutdown (PreviousBrokerEpoch is not the
//     epoch it held): it then moves to the last known ELR.
//   - Election: a live ISR member, else a live ELR member (in replica
//     order), else, with an empty ELR, a live last-known-ELR member; the
//     new leader is the ISR alone (leader epoch + 1).
//
// min ISR is the topic's min.insync.replicas (else Config.DefaultMinInsync)
// capped at the replication factor, as Kafka's effective min ISR. Every
// decision's records pass through trackELR, which sets the ELR fields of
// each PartitionChange; without the feature it clears any ELR left.

// minISR is the effective min.insync.replicas of topic t.
func (c *Controller) minISR(im *metadata.Image, t *metadata.TopicImage, replicas int) int {
	n := c.cfg.DefaultMinInsync
	if v, ok := im.Configs(metadata.ResourceTopic, t.Name)["min.insync.replicas"]; ok {
		if m, err := strconv.Atoi(v); err == nil && m > 0 {
			n = m
		}
	}
	return max(1, min(n, replicas))
}

// trackELR sets the ELR and last known ELR of every PartitionChange in
// recs (each computed against im, at most one per partition), and, when
// unclean names a broker (≥ 0) that registered after an unclean shutdown,
// adds changes taking it out of the ELR of the partitions recs leave
// alone.
func (c *Controller) trackELR(im *metadata.Image, recs []metadata.Record, unclean int32) []metadata.Record {
	changed := map[metadata.UUID]map[int32]bool{}
	out := make([]metadata.Record, 0, len(recs))
	for _, rec := range recs {
		pc, ok := rec.(metadata.PartitionChange)
		if !ok {
			out = append(out, rec)
			continue
		}
		t, ok := im.TopicByID(pc.TopicID)
		if ok && int(pc.Partition) < len(t.Partitions) {
			c.setELR(im, t, t.Partitions[pc.Partition], &pc, unclean)
			if changed[pc.TopicID] == nil {
				changed[pc.TopicID] = map[int32]bool{}
			}
			changed[pc.TopicID][pc.Partition] = true
		}
		out = append(out, pc)
	}
	if unclean < 0 || !c.cfg.EligibleLeaderReplicas {
		return out
	}
	for _, name := range im.TopicNames() {
		t, _ := im.Topic(name)
		for _, p := range t.Partitions {
			if changed[t.ID][p.Partition] || !slices.Contains(p.EligibleLeaderReplicas, unclean) {
				continue
			}
			pc := metadata.PartitionChange{TopicID: t.ID, Partition: p.Partition, Leader: metadata.NoLeaderChange}
			c.setELR(im, t, p, &pc, unclean)
			out = append(out, pc)
		}
	}
	return out
}

// setELR sets pc's ELR fields for taking p to pc's ISR and replicas.
func (c *Controller) setELR(im *metadata.Image, t *metadata.TopicImage, p metadata.Partition, pc *metadata.PartitionChange, unclean int32) {
	isr, replicas := p.ISR, p.Replicas
	if pc.ISR != nil {
		isr = pc.ISR
	}
	if pc.Replicas != nil {
		replicas = pc.Replicas
	}
	var elr, lke []int32
	// An unclean election empties both lists, as Kafka's: the new leader's
	// log is the partition's now, so no other replica is known clean.
	if c.cfg.EligibleLeaderReplicas && len(isr) < c.minISR(im, t, len(replicas)) && !uncleanChange(p, *pc) {
		// In replica order, so every node computes the same lists.
		for _, r := range replicas {
			switch {
			case slices.Contains(isr, r):
			case r != unclean && (slices.Contains(p.EligibleLeaderReplicas, r) || slices.Contains(p.ISR, r)):
				elr = append(elr, r)
			case slices.Contains(p.EligibleLeaderReplicas, r) || slices.Contains(p.LastKnownElr, r):
				lke = append(lke, r)
			}
		}
	}
	if !slices.Equal(elr, p.EligibleLeaderReplicas) {
		pc.EligibleLeaderReplicas = nonNil(elr)
	}
	if !slices.Equal(lke, p.LastKnownElr) {
		pc.LastKnownElr = nonNil(lke)
	}
}

// elrLeader is the leader KIP-966 elects when no ISR member is live: the
// first live ELR member in replica order, else (with an empty ELR) the
// first live last-known-ELR member.
func elrLeader(p metadata.Partition, live func(int32) bool) (int32, bool) {
	from := p.EligibleLeaderReplicas
	if len(from) == 0 {
		from = p.LastKnownElr
	}
	for _, r := range p.Replicas {
		if slices.Contains(from, r) && live(r) {
			return r, true
		}
	}
	return metadata.NoLeader, false
}

// afterFence is p with lost, an ISR member being fenced, counted in the
// ELR it joins: so a last-known-ELR member is not elected while a clean
// replica is waited for.
func afterFence(p metadata.Partition, lost int32) metadata.Partition {
	if slices.Contains(p.ISR, lost) && !slices.Contains(p.EligibleLeaderReplicas, lost) {
		p.EligibleLeaderReplicas = append(slices.Clone(p.EligibleLeaderReplicas), lost)
	}
	return p
}

// elrEligible reports whether broker back, unfenced, may lead the
// leaderless partition p with an empty ISR under KIP-966.
func elrEligible(p metadata.Partition, back int32) bool {
	if len(p.ISR) != 0 {
		return false
	}
	_, ok := elrLeader(p, func(r int32) bool { return r == back })
	return ok
}

// uncleanRestart reports whether reg is a new incarnation of a registered
// broker whose previous one did not shut down cleanly: its
// PreviousBrokerEpoch is not the epoch that incarnation held.
func uncleanRestart(im *metadata.Image, reg BrokerRegistration) bool {
	old, ok := im.Broker(reg.BrokerID)
	return ok && old.Incarnation != reg.Incarnation && reg.PreviousBrokerEpoch != old.Epoch
}
