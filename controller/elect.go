package controller

import (
	"errors"
	"fmt"
	"slices"

	"github.com/sluice/sluice/metadata"
)

// ElectionType is ElectLeaders' election type (Kafka's ElectionType).
type ElectionType int8

// Election types, Kafka's codes.
const (
	ElectPreferred ElectionType = 0 // the first replica, if alive and in the ISR
	ElectUnclean   ElectionType = 1 // a live replica, even outside the ISR, for a partition without a live leader
)

// ElectLeaders' per-partition outcomes, Kafka's error codes in their names.
var (
	ErrElectionNotNeeded           = errors.New("controller: election not needed")
	ErrPreferredLeaderNotAvailable = errors.New("controller: preferred leader not available")
	ErrEligibleLeadersNotAvailable = errors.New("controller: eligible leaders not available")
	ErrInvalidElectionType         = errors.New("controller: invalid election type")
)

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// ElectionResult is one partition's outcome: Err nil when its leader
// changed, else why not (ErrElectionNotNeeded, ErrPreferredLeaderNotAvailable,
// ErrEligibleLeadersNotAvailable, ErrUnknownTopic, or the proposal's error).
type ElectionResult struct {
	TopicPartition
	Err error
}

// ElectLeaders runs one election per partition (Kafka's ElectLeaders) and
// commits the leader changes as one batch of PartitionChange records
// (leader epoch + 1), so followers truncate as after any fail-over. parts
// nil means every partition; its results then leave out the partitions
// that needed no election, as Kafka's do. A partition named twice is
// answered once.
func (c *Controller) ElectLeaders(typ ElectionType, parts []TopicPartition) ([]ElectionResult, error) {
	if typ != ElectPreferred && typ != ElectUnclean {
		return nil, fmt.Errorf("%w: %d", ErrInvalidElectionType, typ)
	}
	if err := c.beginDecision(); err != nil {
		return nil, err
	}
	defer c.endDecision()
	im := c.Image()
	all := parts == nil
	if all {
		parts = allPartitions(im)
	}
	var recs []metadata.Record
	var out []ElectionResult
	seen := map[TopicPartition]bool{}
	for _, tp := range parts {
		if seen[tp] {
			continue
		}
		seen[tp] = true
		rec, err := electOne(im, typ, tp, c.cfg.EligibleLeaderReplicas)
		if all && errors.Is(err, ErrElectionNotNeeded) {
			continue
		}
		if err == nil {
			recs = append(recs, rec)
		}
		out = append(out, ElectionResult{TopicPartition: tp, Err: err})
	}
	recs = c.trackELR(im, recs, -1)
	if err := c.propose(recs); err != nil {
		err = fmt.Errorf("cannot elect leaders: %w", err)
		for i := range out {
			if out[i].Err == nil {
				out[i].Err = err
			}
		}
		return out, err
	}
	c.noteUnclean(im, recs)
	return out, nil
}

// allPartitions lists every partition of the image, topics by name.
func allPartitions(im *metadata.Image) []TopicPartition {
	out := []TopicPartition{}
	for _, name := range im.TopicNames() {
		t, _ := im.Topic(name)
		for _, p := range t.Partitions {
			out = append(out, TopicPartition{Topic: name, Partition: p.Partition})
		}
	}
	return out
}

// electOne decides one partition's election and returns its change; elr
// is Config.EligibleLeaderReplicas.
func electOne(im *metadata.Image, typ ElectionType, tp TopicPartition, elr bool) (metadata.PartitionChange, error) {
	t, ok := im.Topic(tp.Topic)
	if !ok || tp.Partition < 0 || int(tp.Partition) >= len(t.Partitions) {
		return metadata.PartitionChange{}, fmt.Errorf("%w: %s-%d", ErrUnknownTopic, tp.Topic, tp.Partition)
	}
	p := t.Partitions[tp.Partition]
	live := liveBrokers(im)
	leader, isr := metadata.NoLeader, p.ISR
	var err error
	if typ == ElectUnclean {
		leader, isr, err = electUnclean(p, live, elr)
	} else {
		leader, err = electPreferred(p, live)
	}
	if err != nil {
		return metadata.PartitionChange{}, fmt.Errorf("%w: %s-%d", err, tp.Topic, tp.Partition)
	}
	rec, _ := change(t.ID, p, leader, isr)
	return rec, nil
}

// liveBrokers returns whether a broker is registered and unfenced.
func liveBrokers(im *metadata.Image) func(int32) bool {
	return func(id int32) bool {
		b, ok := im.Broker(id)
		return ok && !b.Fenced
	}
}

// electPreferred returns p's preferred leader (its first replica) when it
// can lead: alive and in the ISR. ErrElectionNotNeeded when it leads
// already, ErrPreferredLeaderNotAvailable when it cannot.
func electPreferred(p metadata.Partition, live func(int32) bool) (int32, error) {
	if len(p.Replicas) == 0 {
		return metadata.NoLeader, ErrPreferredLeaderNotAvailable
	}
	pref := p.Replicas[0]
	switch {
	case p.Leader == pref:
		return pref, ErrElectionNotNeeded
	case !live(pref) || !slices.Contains(p.ISR, pref):
		return metadata.NoLeader, ErrPreferredLeaderNotAvailable
	}
	return pref, nil
}

// electUnclean returns the leader and ISR of an unclean election: only for
// a partition without a live leader (else ErrElectionNotNeeded), a live
// ISR member first (a clean choice, ISR kept), else with elr a live
// eligible leader replica (clean too, ISR = it; elr.go), else the first
// live replica in replica order, which becomes the whole ISR (what only it
// holds is what the partition keeps). ErrEligibleLeadersNotAvailable when
// no replica is alive.
func electUnclean(p metadata.Partition, live func(int32) bool, elr bool) (int32, []int32, error) {
	if p.Leader != metadata.NoLeader && live(p.Leader) {
		return p.Leader, p.ISR, ErrElectionNotNeeded
	}
	for _, r := range p.Replicas {
		if slices.Contains(p.ISR, r) && live(r) {
			return r, p.ISR, nil
		}
	}
	if r, ok := elrLeader(p, live); elr && ok {
		return r, []int32{r}, nil
	}
	for _, r := range p.Replicas {
		if live(r) {
			return r, []int32{r}, nil
		}
	}
	return metadata.NoLeader, nil, ErrEligibleLeadersNotAvailable
}
