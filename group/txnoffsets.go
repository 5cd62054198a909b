package group

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/segment"
)

// Transactional offset commits (TxnOffsetCommit, KIP-98/447), as Kafka
// keeps them: the offsets a transactional producer commits for a group
// are appended to the group's __consumer_offsets partition as a
// transactional batch of that producer (no sequence, like every write of
// a coordinator) and stay pending until the transaction's marker: the
// broker appends the COMMIT or ABORT marker to the partition, then calls
// EndTxn, which makes them the group's committed offsets or drops them.
// While any are pending for a partition, OffsetFetch with RequireStable
// answers UNSTABLE_OFFSET_COMMIT for it (Committed.Unstable).
//
// At load, a transactional batch's offsets are pending for its producer
// until a marker of that producer follows. Pending offsets left at the end
// belong to a transaction still open in the log (the transaction
// coordinator will write its marker), unless the partition's producer
// state has no open transaction for the producer: then the marker is gone
// (the cleaner removed it after delete.retention.ms, which it does only
// after dropping an aborted transaction's records) and they were
// committed.

// TxnCommitRequest is a TxnOffsetCommit: offsets of the transaction of
// ProducerID. Generation -1 with no member id skips the membership check
// (v0-2, or a producer that does not know its group's generation).
type TxnCommitRequest struct {
	Group         string
	MemberID      string
	InstanceID    *string
	Generation    int32
	ProducerID    int64
	ProducerEpoch int16
	Offsets       map[TopicPartition]Offset
}

// TxnCommit appends req's offsets as a transactional batch of its
// producer and records them as pending. It returns an error per
// partition once the batch is appended.
func (c *Coordinator) TxnCommit(ctx context.Context, req TxnCommitRequest) map[TopicPartition]error {
	return c.commitWith(ctx, req.Group, req.Offsets, func(out map[TopicPartition]error) (chan error, error) {
		return c.txnCommitLocked(&req, out)
	})
}

func (c *Coordinator) txnCommitLocked(req *TxnCommitRequest, out map[TopicPartition]error) (chan error, error) {
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
	cr := CommitRequest{Group: req.Group, MemberID: req.MemberID, InstanceID: req.InstanceID, Generation: req.Generation}
	if err := c.validateCommitLocked(g, &cr); err != nil {
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
	pid := req.ProducerID
	c.enqueueLocked(g.part, &write{recs: recs, txn: &txnTag{producerID: pid, epoch: req.ProducerEpoch}, apply: func(err error) {
		if err == nil && g.state != Dead {
			for tp, o := range accepted {
				c.addPendingLocked(g, pid, tp, o)
			}
		}
		wait <- err
	}})
	return wait, nil
}

// addPendingLocked records o as pending for producer pid in g.
func (c *Coordinator) addPendingLocked(g *group, pid int64, tp TopicPartition, o Offset) {
	if g.txnOffsets == nil {
		g.txnOffsets = map[int64]map[TopicPartition]Offset{}
	}
	if g.txnOffsets[pid] == nil {
		g.txnOffsets[pid] = map[TopicPartition]Offset{}
	}
	g.txnOffsets[pid][tp] = o
	if c.mu.txnGroups == nil {
		c.mu.txnGroups = map[int64]map[string]struct{}{}
	}
	if c.mu.txnGroups[pid] == nil {
		c.mu.txnGroups[pid] = map[string]struct{}{}
	}
	c.mu.txnGroups[pid][g.id] = struct{}{}
}

// EndTxn applies a transaction marker the broker appended to
// __consumer_offsets partition p: producerID's pending offsets on the
// groups of p become committed offsets (commit) or are dropped. Without
// pending offsets it does nothing, so a repeated marker is harmless.
func (c *Coordinator) EndTxn(p int32, producerID int64, commit bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.endTxnLocked(p, producerID, commit)
}

func (c *Coordinator) endTxnLocked(p int32, producerID int64, commit bool) {
	for id := range c.mu.txnGroups[producerID] {
		g := c.groupLocked(id)
		if g == nil || g.part != p {
			continue
		}
		pend := g.txnOffsets[producerID]
		delete(g.txnOffsets, producerID)
		delete(c.mu.txnGroups[producerID], id)
		if commit && g.state != Dead {
			for tp, o := range pend {
				g.offsets[tp] = o
			}
		}
		c.dropIfUnusedLocked(g)
	}
	if len(c.mu.txnGroups[producerID]) == 0 {
		delete(c.mu.txnGroups, producerID)
	}
}

// replayTxn loads one record of a transactional batch of producerID.
func (c *Coordinator) replayTxn(p int32, producerID int64, r segment.Record) {
	var k kmsg.OffsetCommitKey
	if r.KeyNull || r.ValueNull || k.ReadFrom(r.Key) != nil || k.Version > 1 {
		c.log.Warn("skipping a transactional record that is not an offset commit", "partition", p, "offset", r.Offset)
		return
	}
	var v kmsg.OffsetCommitValue
	if err := v.ReadFrom(r.Value); err != nil {
		c.log.Warn("skipping bad offset commit value", "partition", p, "offset", r.Offset, "err", err)
		return
	}
	epoch := v.LeaderEpoch
	if v.Version < 3 {
		epoch = -1
	}
	g := c.loadGroup(p, k.Group)
	c.addPendingLocked(g, producerID, TopicPartition{k.Topic, k.Partition},
		Offset{Offset: v.Offset, LeaderEpoch: epoch, Metadata: v.Metadata, CommitTimestamp: v.CommitTimestamp})
}

// settleLoadedTxns commits, after the load of the partitions in, the
// pending offsets of producers with no open transaction on their
// partition (their marker was cleaned away: see the package comment
// above).
func (c *Coordinator) settleLoadedTxns(in func(p int32) bool) {
	for pid, ids := range c.mu.txnGroups {
		parts := map[int32]bool{}
		for id := range ids {
			if g := c.mu.groups[id]; g != nil && in(g.part) {
				parts[g.part] = true
			}
		}
		for p := range parts {
			l := c.parts[p].log
			if st, ok := l.Producers()[pid]; ok && st.TxnStartOffset >= 0 {
				continue // still open: the transaction coordinator ends it
			}
			c.endTxnLocked(p, pid, true)
		}
	}
}

// unstableLocked reports whether tp of g has a pending transactional
// offset.
func (g *group) unstableLocked(tp TopicPartition) bool {
	for _, pend := range g.txnOffsets {
		if _, ok := pend[tp]; ok {
			return true
		}
	}
	return false
}
