package controller

import (
	"fmt"
	"maps"
	"slices"

	"github.com/sluice/sluice/metadata"
)

// ImportedTopic is a topic found on a single node's disk before it kept
// its topics in the metadata log.
type ImportedTopic struct {
	Name       string
	ID         metadata.UUID
	Partitions int32
	Configs    map[string]string
}

// ImportTopics takes over topics from brokerID's disk (a data directory
// written before topics lived in the metadata log): each becomes a Topic
// record with its id preserved and Partition records with brokerID as the
// only replica and leader, plus its config overrides. Topics the image
// already has (by name) are skipped; a topic whose id the image uses under
// another name is refused. All in one batch.
func (c *Controller) ImportTopics(brokerID int32, topics []ImportedTopic) error {
	if err := c.beginDecision(); err != nil {
		return err
	}
	defer c.endDecision()
	im := c.Image()
	var recs []metadata.Record
	for _, t := range topics {
		if _, ok := im.Topic(t.Name); ok {
			continue
		}
		if other, ok := im.TopicByID(t.ID); ok || t.ID.IsZero() || t.Partitions < 1 {
			name := ""
			if ok {
				name = other.Name
			}
			return fmt.Errorf("%w: cannot import %q (id %s, %d partitions; id used by %q)",
				ErrInvalidTopic, t.Name, t.ID, t.Partitions, name)
		}
		recs = append(recs, metadata.Topic{Name: t.Name, ID: t.ID})
		for p := range t.Partitions {
			recs = append(recs, metadata.Partition{TopicID: t.ID, Partition: p,
				Replicas: []int32{brokerID}, ISR: []int32{brokerID}, Leader: brokerID})
		}
		for _, k := range slices.Sorted(maps.Keys(t.Configs)) {
			recs = append(recs, metadata.Config{ResourceType: metadata.ResourceTopic, ResourceName: t.Name, Key: k, Value: t.Configs[k]})
		}
	}
	if len(recs) == 0 {
		return nil
	}
	if err := c.propose(recs); err != nil {
		return fmt.Errorf("cannot import %d topics: %w", len(topics), err)
	}
	return nil
}
