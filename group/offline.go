package group

import "github.com/twmb/franz-go/pkg/kerr"

// Offline __consumer_offsets partitions.
//
// The broker passes nil for a partition of __consumer_offsets that the store
// could not open (partition.ErrOffline). The coordinator loads every other
// partition and serves their groups; a group that maps to an offline
// partition (PartitionFor) gets COORDINATOR_NOT_AVAILABLE (15) from every
// call, as Kafka answers while a coordinator's partition has no leader, so
// clients back off and retry FindCoordinator. Describe and DeleteGroups
// answer it per group.

// Available returns nil when the group's __consumer_offsets partition is
// online, kerr.CoordinatorNotAvailable when it is offline, and
// kerr.NotCoordinator when Config.Owns says another broker leads it.
func (c *Coordinator) Available(groupID string) error {
	p := PartitionFor(groupID, int32(len(c.parts)))
	if c.cfg.Owns != nil && !c.cfg.Owns(p) {
		return kerr.NotCoordinator
	}
	if c.parts[p].log == nil {
		return kerr.CoordinatorNotAvailable
	}
	return nil
}

// OfflinePartitions counts the __consumer_offsets partitions that are
// offline.
func (c *Coordinator) OfflinePartitions() int {
	n := 0
	for _, pt := range c.parts {
		if pt.log == nil {
			n++
		}
	}
	return n
}
