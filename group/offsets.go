package group

import (
	"context"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// CommitRequest is an OffsetCommit request of any version. v0, and
// Generation -1 with no member id, is a "simple" commit: allowed to a group
// without members.
type CommitRequest struct {
	Group      string
	MemberID   string
	InstanceID *string
	Generation int32
	Offsets    map[TopicPartition]Offset // CommitTimestamp is set by Commit
}

// Commit serves OffsetCommit (the partitions' existence is the caller's
// check). It returns an error per partition; it blocks until the offsets are
// appended to __consumer_offsets.
func (c *Coordinator) Commit(ctx context.Context, req CommitRequest) map[TopicPartition]error {
	return c.commitWith(ctx, req.Group, req.Offsets, func(out map[TopicPartition]error) (chan error, error) {
		return c.commitLocked(&req, out)
	})
}

// commitWith runs a commit of offsets to group: locked (under c.mu)
// validates it, records per-partition rejections in out and queues the
// rest; commitWith then waits for the append and gives every partition
// not already answered its error. Commit and TxnCommit share it.
func (c *Coordinator) commitWith(ctx context.Context, group string, offsets map[TopicPartition]Offset,
	locked func(out map[TopicPartition]error) (chan error, error)) map[TopicPartition]error {
	out := make(map[TopicPartition]error, len(offsets))
	all := func(err error) map[TopicPartition]error {
		for tp := range offsets {
			out[tp] = err
		}
		return out
	}
	if err := c.Available(group); err != nil {
		return all(err)
	}
	c.mu.Lock()
	wait, err := locked(out)
	c.mu.Unlock()
	if err != nil {
		return all(err)
	}
	if wait == nil {
		return out
	}
	c.flushDirty()
	select {
	case err := <-wait:
		for tp := range offsets {
			if _, done := out[tp]; !done {
				out[tp] = err
			}
		}
		return out
	case <-ctx.Done():
		return all(ctx.Err())
	}
}

// commitLocked validates the commit, records per-partition rejections in
// out and queues the rest; wait yields the append's error.
func (c *Coordinator) commitLocked(req *CommitRequest, out map[TopicPartition]error) (chan error, error) {
	if c.mu.closed {
		return nil, kerr.NotCoordinator
	}
	g := c.groupLocked(req.Group)
	if g == nil {
		if req.Generation >= 0 {
			return nil, kerr.IllegalGeneration
		}
		g = c.getOrCreateLocked(req.Group)
	}
	if err := c.validateCommitLocked(g, req); err != nil {
		c.dropIfUnusedLocked(g)
		return nil, err
	}
	now := c.now().UnixMilli()
	var recs []kv
	accepted := map[TopicPartition]Offset{}
	for tp, o := range req.Offsets {
		if len(o.Metadata) > c.cfg.MaxMetadataSize {
			out[tp] = kerr.OffsetMetadataTooLarge
			continue
		}
		o.CommitTimestamp = now
		accepted[tp] = o
		recs = append(recs, offsetRecord(g.id, tp, &o))
	}
	if len(recs) == 0 {
		c.dropIfUnusedLocked(g)
		return nil, nil
	}
	wait := make(chan error, 1)
	c.enqueueLocked(g.part, &write{recs: recs, apply: func(err error) {
		if err == nil && g.state != Dead {
			for tp, o := range accepted {
				g.offsets[tp] = o
			}
		}
		wait <- err
	}})
	return wait, nil
}

// validateCommitLocked is Kafka's check of who may commit.
func (c *Coordinator) validateCommitLocked(g *group, req *CommitRequest) error {
	if g.state == Dead {
		return kerr.CoordinatorNotAvailable
	}
	if req.Generation < 0 && g.state == Empty {
		return nil // offsets only: no group management
	}
	m, err := g.validateMember(req.MemberID, req.InstanceID, req.Generation)
	if err != nil {
		return err
	}
	if g.state == CompletingRebalance {
		return kerr.RebalanceInProgress
	}
	m.deadline = c.now().Add(m.sessionTimeout)
	return nil
}

// Committed is one partition's committed offset as OffsetFetch returns it.
type Committed struct {
	TopicPartition
	Offset
	Found bool // false: no offset (-1)
	// Unstable: a transaction holds a pending offset for the partition
	// (OffsetFetch RequireStable answers UNSTABLE_OFFSET_COMMIT).
	Unstable bool
}

// Fetch serves OffsetFetch for one group: the requested partitions, or all
// the group's offsets when tps is nil. An unknown group has no offsets.
func (c *Coordinator) Fetch(groupID string, tps []TopicPartition) ([]Committed, error) {
	if err := c.Available(groupID); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return nil, kerr.NotCoordinator
	}
	g := c.groupLocked(groupID)
	if tps == nil {
		if g == nil {
			return nil, nil
		}
		for tp := range g.offsets {
			tps = append(tps, tp)
		}
		slices.SortFunc(tps, compareTP)
	}
	out := make([]Committed, 0, len(tps))
	for _, tp := range tps {
		cm := Committed{TopicPartition: tp, Offset: Offset{Offset: -1, LeaderEpoch: -1}}
		if g != nil {
			if o, ok := g.offsets[tp]; ok {
				cm.Offset, cm.Found = o, true
			}
			cm.Unstable = g.unstableLocked(tp)
		}
		out = append(out, cm)
	}
	return out, nil
}

func compareTP(a, b TopicPartition) int {
	if c := strings.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return int(a.Partition) - int(b.Partition)
}

// DeleteOffsets serves OffsetDelete: the group error, and per partition
// GROUP_SUBSCRIBED_TO_TOPIC for topics a non-empty consumer group reads.
func (c *Coordinator) DeleteOffsets(groupID string, tps []TopicPartition) (map[TopicPartition]error, error) {
	if groupID == "" {
		return nil, kerr.InvalidGroupID
	}
	if err := c.Available(groupID); err != nil {
		return nil, err
	}
	c.mu.Lock()
	out, wait, err := c.deleteOffsetsLocked(groupID, tps)
	c.mu.Unlock()
	if err != nil || wait == nil {
		return out, err
	}
	c.flushDirty()
	return out, <-wait
}

func (c *Coordinator) deleteOffsetsLocked(groupID string, tps []TopicPartition) (map[TopicPartition]error, chan error, error) {
	if c.mu.closed {
		return nil, nil, kerr.NotCoordinator
	}
	g := c.groupLocked(groupID)
	if g == nil || g.state == Dead {
		return nil, nil, kerr.GroupIDNotFound
	}
	var subscribed map[string]bool
	if g.state != Empty {
		var ok bool
		if subscribed, ok = g.subscribedTopics(); !ok {
			return nil, nil, kerr.NonEmptyGroup
		}
	}
	out := make(map[TopicPartition]error, len(tps))
	var recs []kv
	for _, tp := range tps {
		if subscribed[tp.Topic] {
			out[tp] = kerr.GroupSubscribedToTopic
			continue
		}
		out[tp] = nil
		if _, ok := g.offsets[tp]; ok {
			delete(g.offsets, tp)
			recs = append(recs, offsetRecord(g.id, tp, nil))
		}
	}
	if len(recs) == 0 {
		return out, nil, nil
	}
	wait := make(chan error, 1)
	c.enqueueLocked(g.part, &write{recs: recs, apply: func(err error) { wait <- err }})
	return out, wait, nil
}

// ExpireOffsets removes the offsets of groups without members (and of
// offset-only groups) committed, and unchanged since the group became
// Empty, more than OffsetsRetention ago; a group left with nothing is
// removed. Kafka's offsets.retention.minutes semantics (KIP-211). Tombstones
// are appended.
func (c *Coordinator) ExpireOffsets() int {
	now := c.now()
	cutoff := now.Add(-c.cfg.OffsetsRetention).UnixMilli()
	n := 0
	c.mu.Lock()
	for id, g := range c.mu.groups {
		if g.state != Empty {
			continue
		}
		base := g.stateTime.UnixMilli()
		var recs []kv
		for tp, o := range g.offsets {
			if max(o.CommitTimestamp, base) < cutoff {
				delete(g.offsets, tp)
				recs = append(recs, offsetRecord(id, tp, nil))
			}
		}
		n += len(recs)
		if len(g.offsets) == 0 && len(g.members) == 0 && len(g.pending) == 0 && len(g.txnOffsets) == 0 {
			if g.hasMetadata() {
				recs = append(recs, groupTombstone(id))
			}
			g.transition(Dead, now)
			delete(c.mu.groups, id)
		}
		if len(recs) > 0 {
			c.enqueueLocked(g.part, &write{recs: recs})
		}
	}
	c.mu.Unlock()
	c.flushDirty()
	if n > 0 {
		c.log.Info("expired committed offsets", "offsets", n)
	}
	return n
}
