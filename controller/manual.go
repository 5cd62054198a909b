package controller

import (
	"fmt"
	"maps"
	"slices"

	"github.com/sluice/sluice/metadata"
)

// CreateTopicAssigned creates a topic whose replicas the request names
// (CreateTopics' manual ReplicaAssignment): assignment[p] is partition p's
// replica list, preferred leader first. Each list must name registered
// brokers, none twice, and all lists have one length
// (ErrInvalidReplicaAssignment). As KRaft does, a partition's ISR is its
// unfenced replicas and its leader the first of them; a partition whose
// replicas are all fenced is refused.
func (c *Controller) CreateTopicAssigned(name string, assignment [][]int32, configs map[string]string) (metadata.UUID, error) {
	if err := validTopicName(name); err != nil {
		return metadata.UUID{}, err
	}
	if len(assignment) == 0 {
		return metadata.UUID{}, fmt.Errorf("%w: %d", ErrInvalidPartitions, 0)
	}
	im, err := c.beginCreateTopic(name)
	if err != nil {
		return metadata.UUID{}, err
	}
	defer c.endDecision()
	id := newTopicID(im)
	recs := []metadata.Record{metadata.Topic{Name: name, ID: id}}
	for p, replicas := range assignment {
		if err := checkTarget(im, replicas); err != nil {
			return metadata.UUID{}, fmt.Errorf("cannot create topic %q: partition %d: %w", name, p, err)
		}
		if len(replicas) != len(assignment[0]) {
			return metadata.UUID{}, fmt.Errorf("cannot create topic %q: %w: partition %d has %d replicas, partition 0 %d",
				name, ErrInvalidReplicaAssignment, p, len(replicas), len(assignment[0]))
		}
		isr := slices.DeleteFunc(slices.Clone(replicas), func(r int32) bool {
			b, _ := im.Broker(r)
			return b.Fenced
		})
		if len(isr) == 0 {
			return metadata.UUID{}, fmt.Errorf("cannot create topic %q: %w: every replica of partition %d is fenced",
				name, ErrInvalidReplicaAssignment, p)
		}
		recs = append(recs, metadata.Partition{TopicID: id, Partition: int32(p), Replicas: slices.Clone(replicas),
			ISR: isr, Leader: isr[0]})
	}
	for _, k := range slices.Sorted(maps.Keys(configs)) {
		recs = append(recs, metadata.Config{ResourceType: metadata.ResourceTopic, ResourceName: name, Key: k, Value: configs[k]})
	}
	if err := c.propose(recs); err != nil {
		return metadata.UUID{}, fmt.Errorf("cannot create topic %q: %w", name, err)
	}
	return id, nil
}
