package group

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Transactional offset commits (TxnOffsetCommit, KIP-98/447): the offsets
// a transactional producer commits for a group are pending until its
// transaction ends. The transaction coordinator's COMMIT marker on the
// group's __consumer_offsets partition materialises them (CompleteTxn
// appends them as ordinary offset records); an ABORT discards them. While
// any are pending for a partition, OffsetFetch with RequireStable answers
// UNSTABLE_OFFSET_COMMIT for it (Committed.Unstable).
//
// Pending offsets are kept in memory only: a broker crash between the
// commit's PrepareCommit and its markers loses them (the consumers then
// resume from the previously committed offsets and the transaction's
// input is processed again). Kafka writes them to the log as transactional
// records, made visible by the marker.

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

// TxnCommit records req's offsets as pending for its producer. It returns
// an error per partition.
func (c *Coordinator) TxnCommit(req TxnCommitRequest) map[TopicPartition]error {
	out := make(map[TopicPartition]error, len(req.Offsets))
	all := func(err error) map[TopicPartition]error {
		for tp := range req.Offsets {
			out[tp] = err
		}
		return out
	}
	if err := c.Available(req.Group); err != nil {
		return all(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return all(kerr.NotCoordinator)
	}
	g := c.groupLocked(req.Group)
	if g == nil {
		if req.Generation >= 0 {
			return all(kerr.IllegalGeneration)
		}
		g = c.getOrCreateLocked(req.Group)
	}
	cr := CommitRequest{Group: req.Group, MemberID: req.MemberID, InstanceID: req.InstanceID, Generation: req.Generation}
	if err := c.validateCommitLocked(g, &cr); err != nil {
		c.dropIfUnusedLocked(g)
		return all(err)
	}
	now := c.now().UnixMilli()
	if g.txnOffsets == nil {
		g.txnOffsets = map[int64]map[TopicPartition]Offset{}
	}
	pend := g.txnOffsets[req.ProducerID]
	if pend == nil {
		pend = map[TopicPartition]Offset{}
		g.txnOffsets[req.ProducerID] = pend
	}
	for tp, o := range req.Offsets {
		if len(o.Metadata) > c.cfg.MaxMetadataSize {
			out[tp] = kerr.OffsetMetadataTooLarge
			continue
		}
		o.CommitTimestamp = now
		pend[tp] = o
		out[tp] = nil
	}
	if c.mu.txnGroups == nil {
		c.mu.txnGroups = map[int64]map[string]struct{}{}
	}
	if c.mu.txnGroups[req.ProducerID] == nil {
		c.mu.txnGroups[req.ProducerID] = map[string]struct{}{}
	}
	c.mu.txnGroups[req.ProducerID][g.id] = struct{}{}
	return out
}

// CompleteTxn ends the pending offsets of producerID on the groups of
// __consumer_offsets partition p: commit appends them as committed
// offsets (it returns once they are durable), abort discards them. Without
// pending offsets it does nothing, so a repeated marker is harmless.
func (c *Coordinator) CompleteTxn(ctx context.Context, p int32, producerID int64, commit bool) error {
	c.mu.Lock()
	var waits []chan error
	for id := range c.mu.txnGroups[producerID] {
		g := c.groupLocked(id)
		if g == nil || g.part != p {
			continue
		}
		pend := g.txnOffsets[producerID]
		delete(g.txnOffsets, producerID)
		delete(c.mu.txnGroups[producerID], id)
		if !commit || len(pend) == 0 || g.state == Dead {
			c.dropIfUnusedLocked(g)
			continue
		}
		var recs []kv
		for tp, o := range pend {
			recs = append(recs, offsetRecord(g.id, tp, &o))
		}
		wait := make(chan error, 1)
		c.enqueueLocked(g.part, &write{recs: recs, apply: func(err error) {
			if err == nil && g.state != Dead {
				for tp, o := range pend {
					g.offsets[tp] = o
				}
			}
			wait <- err
		}})
		waits = append(waits, wait)
	}
	if len(c.mu.txnGroups[producerID]) == 0 {
		delete(c.mu.txnGroups, producerID)
	}
	c.mu.Unlock()
	if len(waits) == 0 {
		return nil
	}
	c.flushDirty()
	for _, w := range waits {
		select {
		case err := <-w:
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
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
