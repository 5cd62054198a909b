package controller

// Partition reassignment, as KIP-455 and KRaft's ReplicationControlManager
// do it:
//
//	AlterPartitionReassignments(target)
//	  replicas = target ++ (current - target)   (target order first)
//	  adding   = target - current,  removing = current - target
//	     │ the adding replicas create their logs and fetch (reconcile),
//	     │ out of the ISR until they catch up
//	     ▼
//	AlterPartition (the leader's ISR expand): once every target replica
//	is in the ISR, the same record completes it:
//	  replicas = target, ISR = ISR ∩ target, adding = removing = [],
//	  and a leader outside the target gives way to the first live target
//	  replica of the ISR (leader epoch + 1)
//	     │ the removed replicas stop fetching and delete their logs
//
// A null target cancels a pending reassignment: replicas = the original
// ones (replicas - adding), ISR - adding, and a leader among the adding
// replicas gives way to the first live original replica of that ISR (none
// when the ISR held only adding replicas: the partition then waits for an
// unclean election). A new target while one is pending starts from the
// original replicas, as if the first were cancelled.

import (
	"errors"
	"fmt"
	"slices"

	"github.com/sluice/sluice/metadata"
)

// Reassignment errors, Kafka's error codes in their names.
var (
	ErrInvalidReplicaAssignment = errors.New("controller: invalid replica assignment")
	ErrNoReassignmentInProgress = errors.New("controller: no reassignment in progress")
)

// Reassignment is one partition's requested replica list (Kafka's
// AlterPartitionReassignments partition); Replicas nil cancels the
// pending reassignment.
type Reassignment struct {
	Topic     string
	Partition int32
	Replicas  []int32
}

// AlterPartitionReassignments starts, replaces or cancels the
// reassignments of partitions in one batch and returns one error per
// reassignment (nil when it was applied); the second result is an error
// of the whole decision (not the leader, raft closed). Refusals:
// ErrUnknownTopic (an unknown topic or partition), ErrInvalidReplicaAssignment
// (an empty or duplicated list or an unregistered broker),
// ErrNoReassignmentInProgress (a cancel with nothing pending).
func (c *Controller) AlterPartitionReassignments(reqs []Reassignment) ([]error, error) {
	if err := c.beginDecision(); err != nil {
		return nil, err
	}
	defer c.endDecision()
	im := c.Image()
	errs := make([]error, len(reqs))
	var recs []metadata.Record
	for i, r := range reqs {
		rec, err := reassignRecord(im, r)
		if err == nil {
			// Each change applies to the image the earlier ones made, so a
			// partition named twice is decided twice, in order.
			// trackELR keeps the ELR fields to replicas (KIP-966).
			batch := c.trackELR(im, []metadata.Record{rec}, -1)
			var next *metadata.Image
			if next, err = im.Apply(batch); err == nil {
				im = next
				recs = append(recs, batch...)
			}
		}
		errs[i] = err
	}
	if err := c.propose(recs); err != nil {
		return nil, fmt.Errorf("cannot reassign partitions: %w", err)
	}
	return errs, nil
}

// reassignRecord decides one reassignment against im.
func reassignRecord(im *metadata.Image, r Reassignment) (metadata.PartitionChange, error) {
	t, ok := im.Topic(r.Topic)
	if !ok || r.Partition < 0 || int(r.Partition) >= len(t.Partitions) {
		return metadata.PartitionChange{}, fmt.Errorf("%w: %s-%d", ErrUnknownTopic, r.Topic, r.Partition)
	}
	p := t.Partitions[r.Partition]
	if r.Replicas == nil {
		if !p.Reassigning() {
			return metadata.PartitionChange{}, fmt.Errorf("%w: %s-%d", ErrNoReassignmentInProgress, r.Topic, r.Partition)
		}
		return cancelReassignment(im, t.ID, p), nil
	}
	if err := checkTarget(im, r.Replicas); err != nil {
		return metadata.PartitionChange{}, fmt.Errorf("%s-%d: %w", r.Topic, r.Partition, err)
	}
	return startReassignment(im, t.ID, p, r.Replicas), nil
}

// checkTarget refuses an empty or duplicated replica list and brokers
// that are not registered (Kafka's INVALID_REPLICA_ASSIGNMENT).
func checkTarget(im *metadata.Image, target []int32) error {
	if len(target) == 0 {
		return fmt.Errorf("%w: an empty replica list", ErrInvalidReplicaAssignment)
	}
	for i, r := range target {
		if _, ok := im.Broker(r); !ok {
			return fmt.Errorf("%w: broker %d is not registered", ErrInvalidReplicaAssignment, r)
		}
		if slices.Contains(target[:i], r) {
			return fmt.Errorf("%w: broker %d is listed more than once", ErrInvalidReplicaAssignment, r)
		}
	}
	return nil
}

// startReassignment is the change that moves p towards target: the union
// of the target and the original replicas, or the completed assignment
// when every target replica is already in the ISR.
func startReassignment(im *metadata.Image, topic metadata.UUID, p metadata.Partition, target []int32) metadata.PartitionChange {
	current := p.Original()
	replicas := slices.Clone(target)
	for _, r := range current {
		if !slices.Contains(replicas, r) {
			replicas = append(replicas, r)
		}
	}
	isr := keep(p.ISR, replicas)
	leader := p.Leader
	if leader != metadata.NoLeader && !slices.Contains(isr, leader) {
		// The leader was an adding replica of a reassignment now replaced.
		leader = firstLive(im, current, isr)
	}
	next := p
	next.Replicas, next.ISR, next.Leader = replicas, isr, leader
	next.Adding, next.Removing = without(target, current), without(current, target)
	if done, ok := completion(im, topic, next); ok {
		return done
	}
	return metadata.PartitionChange{TopicID: topic, Partition: p.Partition, Leader: leader,
		Replicas: replicas, ISR: isr, Adding: nonNil(next.Adding), Removing: nonNil(next.Removing)}
}

// cancelReassignment reverts p to its original replicas.
func cancelReassignment(im *metadata.Image, topic metadata.UUID, p metadata.Partition) metadata.PartitionChange {
	replicas := p.Original()
	isr := keep(p.ISR, replicas)
	leader := p.Leader
	if !slices.Contains(isr, leader) {
		leader = firstLive(im, replicas, isr)
	}
	return metadata.PartitionChange{TopicID: topic, Partition: p.Partition, Leader: leader,
		Replicas: replicas, ISR: isr, Adding: []int32{}, Removing: []int32{}}
}

// completion is the change that completes p's pending reassignment when
// every target replica is in p's ISR (false otherwise): replicas = the
// target, ISR = ISR ∩ target, a leader outside the target replaced by the
// first live target replica.
func completion(im *metadata.Image, topic metadata.UUID, p metadata.Partition) (metadata.PartitionChange, bool) {
	if !p.Reassigning() {
		return metadata.PartitionChange{}, false
	}
	target := p.Target()
	for _, r := range target {
		if !slices.Contains(p.ISR, r) {
			return metadata.PartitionChange{}, false
		}
	}
	isr := keep(p.ISR, target)
	leader := p.Leader
	if !slices.Contains(target, leader) {
		leader = firstLive(im, target, isr)
	}
	return metadata.PartitionChange{TopicID: topic, Partition: p.Partition, Leader: leader,
		Replicas: target, ISR: isr, Adding: []int32{}, Removing: []int32{}}, true
}

// completeOnISRChange is AlterPartition's change of p to isr: the
// reassignment's completion when the new ISR completes it.
func completeOnISRChange(im *metadata.Image, topic metadata.UUID, p metadata.Partition, isr []int32) (metadata.PartitionChange, bool) {
	p.ISR = isr
	return completion(im, topic, p)
}

// firstLive is the first replica, in order, that is in isr and unfenced;
// NoLeader when none is.
func firstLive(im *metadata.Image, replicas, isr []int32) int32 {
	for _, r := range replicas {
		if b, ok := im.Broker(r); ok && !b.Fenced && slices.Contains(isr, r) {
			return r
		}
	}
	return metadata.NoLeader
}

// keep returns the elements of v that are in set, in v's order.
func keep(v, set []int32) []int32 {
	out := []int32{}
	for _, x := range v {
		if slices.Contains(set, x) {
			out = append(out, x)
		}
	}
	return out
}

// without returns the elements of v not in drop, in v's order.
func without(v, drop []int32) []int32 {
	out := []int32{}
	for _, x := range v {
		if !slices.Contains(drop, x) {
			out = append(out, x)
		}
	}
	return out
}

// nonNil is v, or an empty list for nil (a PartitionChange's "clear").
func nonNil(v []int32) []int32 {
	if v == nil {
		return []int32{}
	}
	return v
}

// PendingReassignment is one partition's pending reassignment (Kafka's
// ListPartitionReassignments partition).
type PendingReassignment struct {
	Topic     string
	Partition int32
	Replicas  []int32 // the union of the original and target replicas
	Adding    []int32
	Removing  []int32
}

// PendingReassignments lists the reassignments pending in im, by topic
// and partition.
func PendingReassignments(im *metadata.Image) []PendingReassignment {
	var out []PendingReassignment
	for _, name := range im.TopicNames() {
		t, _ := im.Topic(name)
		for _, p := range t.Partitions {
			if p.Reassigning() {
				out = append(out, PendingReassignment{Topic: name, Partition: p.Partition,
					Replicas: slices.Clone(p.Replicas), Adding: slices.Clone(p.Adding), Removing: slices.Clone(p.Removing)})
			}
		}
	}
	return out
}
