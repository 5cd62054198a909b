package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// A read barrier: a broker that must not answer from a stale image (an
// admin request naming a topic it has not applied yet) asks the active
// controller for its commit index (DescribeQuorum's high watermark) and
// calls CatchUp with it. Raft followers learn that an entry is committed
// from the leader's next append (within the commit timeout), so the wait
// is short; an index this node never reaches ends with ctx.

// catchUpPoll is how often CatchUp looks at raft's applied index, which
// has no notification.
const catchUpPoll = 2 * time.Millisecond

// CommitIndex is the index of the last metadata log entry this node knows
// to be committed (on the leader: every committed entry).
func (c *Controller) CommitIndex() uint64 { return c.raft.CommitIndex() }

// CatchUp waits until this node's image holds every metadata log entry up
// to index, or ctx ends. Raft hands committed entries to the FSM's
// goroutine before it counts them applied, so CatchUp waits first for
// raft's applied index, then for the FSM to have applied the last
// command entry at or below index (entries of other types do not change
// the image). Entries already compacted into a snapshot are in the image
// once raft has applied index.
func (c *Controller) CatchUp(ctx context.Context, index uint64) error {
	t := time.NewTicker(catchUpPoll)
	defer t.Stop()
	for c.raft.AppliedIndex() < index {
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("controller: metadata applied up to %d, waiting for %d: %w", c.raft.AppliedIndex(), index, ctx.Err())
		}
	}
	target, err := c.lastCommandAtOrBelow(index)
	if err != nil {
		return err
	}
	for {
		changed := c.fsm.Changed()
		si := c.fsm.lag.image.Load()
		// A stamp of index 0 is a restored snapshot's: raft restored it
		// (and handed any later entries on) before counting index.
		if target == 0 || si != nil && (si.stamp.Index >= target || si.stamp.Index == 0) {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("controller: image behind metadata log entry %d: %w", target, ctx.Err())
		}
	}
}

// lastCommandAtOrBelow is the index of the last command entry at or below
// index in this node's log, 0 if none is left (compacted).
func (c *Controller) lastCommandAtOrBelow(index uint64) (uint64, error) {
	var l raft.Log
	for i := index; i > 0; i-- {
		err := c.store.GetLog(i, &l)
		switch {
		case errors.Is(err, raft.ErrLogNotFound):
			return 0, nil
		case err != nil:
			return 0, fmt.Errorf("controller: cannot read metadata log entry %d: %w", i, err)
		case l.Type == raft.LogCommand:
			return i, nil
		}
	}
	return 0, nil
}
