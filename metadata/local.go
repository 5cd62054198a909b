package metadata

import (
	"cmp"
	"slices"
)

// LocalPartition is one partition replica a broker hosts.
type LocalPartition struct {
	Topic string
	Partition
}

// LocalChanges is what a broker must do to its local logs between two
// images (KRaft's TopicsDelta.localChanges).
type LocalChanges struct {
	// Deletes: replicas no longer hosted here (topic deleted, or this
	// broker left the replicas). Only Topic, TopicID and Partition are set.
	Deletes []LocalPartition
	// Leaders: partitions this broker leads that are new or changed
	// (leader, epochs, ISR or replicas).
	Leaders []LocalPartition
	// Followers: partitions this broker hosts but does not lead (the
	// leader may be NoLeader) that are new or changed.
	Followers []LocalPartition
}

// Empty reports whether there is nothing to do.
func (c LocalChanges) Empty() bool {
	return len(c.Deletes) == 0 && len(c.Leaders) == 0 && len(c.Followers) == 0
}

// LocalChangesFor returns broker's changes from prev to next. Topics whose
// image is shared (unchanged by Apply's copy-on-write) are skipped, so the
// cost follows the changed topics, not the cluster's size. Each list is
// sorted by topic name, then partition.
func LocalChangesFor(prev, next *Image, broker int32) LocalChanges {
	var out LocalChanges
	for id, pt := range prev.topics {
		nt := next.topics[id]
		if nt == pt {
			continue
		}
		for _, p := range pt.Partitions {
			hosted := nt != nil && int(p.Partition) < len(nt.Partitions) &&
				slices.Contains(nt.Partitions[p.Partition].Replicas, broker)
			if slices.Contains(p.Replicas, broker) && !hosted {
				out.Deletes = append(out.Deletes, LocalPartition{Topic: pt.Name,
					Partition: Partition{TopicID: id, Partition: p.Partition}})
			}
		}
	}
	for id, nt := range next.topics {
		pt := prev.topics[id]
		if nt == pt {
			continue
		}
		for _, p := range nt.Partitions {
			if !slices.Contains(p.Replicas, broker) {
				continue
			}
			if pt != nil && int(p.Partition) < len(pt.Partitions) && samePartition(pt.Partitions[p.Partition], p) {
				continue
			}
			lp := LocalPartition{Topic: nt.Name, Partition: p}
			if p.Leader == broker {
				out.Leaders = append(out.Leaders, lp)
			} else {
				out.Followers = append(out.Followers, lp)
			}
		}
	}
	for _, l := range [][]LocalPartition{out.Deletes, out.Leaders, out.Followers} {
		slices.SortFunc(l, func(a, b LocalPartition) int {
			return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition.Partition, b.Partition.Partition))
		})
	}
	return out
}

func samePartition(a, b Partition) bool {
	return a.Leader == b.Leader && a.LeaderEpoch == b.LeaderEpoch && a.PartitionEpoch == b.PartitionEpoch &&
		slices.Equal(a.Replicas, b.Replicas) && slices.Equal(a.ISR, b.ISR) &&
		slices.Equal(a.Adding, b.Adding) && slices.Equal(a.Removing, b.Removing)
}
