package group

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
// loaded and online, kerr.CoordinatorNotAvailable when it is offline,
// kerr.CoordinatorLoadInProgress while it loads, and kerr.NotCoordinator
// when this coordinator does not hold it (load.go) or is closed.
func (c *Coordinator) Available(groupID string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.availableLocked(groupID)
}

// OfflinePartitions counts the __consumer_offsets partitions that are
// offline.
func (c *Coordinator) OfflinePartitions() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, pt := range c.parts {
		if pt.state == partLoaded && pt.log == nil {
			n++
		}
	}
	return n
}
