package controller

import (
	"sync/atomic"
	"time"

	"github.com/sluice/sluice/metadata"
)

// Apply lag: how long after the active controller appended a metadata log
// entry this node applied it.
//
//	leader: append (stamp) ─ replicate ─ commit ─▶ FSM.Apply (stage "image")
//	follower:               AppendEntries ─ commit known ─▶ FSM.Apply ("image")
//	every broker:                 reconcile pass over that image ("reconciled")
//
// The stamp is raft's Log.AppendedAt: the leader's clock when it appended
// the entry, carried to every node with the entry. The lag is the
// applying node's clock minus it, so it is meaningful where clocks agree
// (one host, or NTP-close hosts) and includes the commit (a quorum's
// fsync and one round trip): it bounds the lag since commit from above. On
// the leader, the "image" lag is the commit latency itself. Entries a node
// gets through a snapshot carry no stamp and are not observed.

// Apply stages, the values of the stage label.
const (
	StageImage      = "image"      // the FSM applied the entry: the image was swapped
	StageReconciled = "reconciled" // the broker's reconcile pass over that image ended
)

// ApplyStamp is when this node applied one metadata log entry.
type ApplyStamp struct {
	Index      uint64    // raft log index; 0 for an image restored from a snapshot
	AppendedAt time.Time // the leader's append; zero if unknown
	AppliedAt  time.Time // this node's clock
}

// Lag is AppliedAt - AppendedAt, or 0 when the append time is unknown.
func (s ApplyStamp) Lag() time.Duration {
	if s.AppendedAt.IsZero() {
		return 0
	}
	return s.AppliedAt.Sub(s.AppendedAt)
}

// ApplyObserver is told of each applied entry, on the applying goroutine:
// it must not block.
type ApplyObserver func(stage string, s ApplyStamp)

// applyLag holds a node's last stamps and its observer.
type applyLag struct {
	image      atomic.Pointer[stampedImage]
	reconciled atomic.Pointer[ApplyStamp]
	observer   atomic.Pointer[ApplyObserver]
}

// stampedImage is an image with the stamp of the entry that made it.
type stampedImage struct {
	im    *metadata.Image
	stamp ApplyStamp
}

func (a *applyLag) observe(stage string, s ApplyStamp) {
	if o := a.observer.Load(); o != nil && !s.AppendedAt.IsZero() {
		(*o)(stage, s)
	}
}

// SetApplyObserver makes o see every entry applied from now on (nil: none).
func (c *Controller) SetApplyObserver(o ApplyObserver) {
	if o == nil {
		c.fsm.lag.observer.Store(nil)
		return
	}
	c.fsm.lag.observer.Store(&o)
}

// StampedImage returns the current image with the stamp of the entry that
// made it, read together (Image and a stamp read apart may disagree).
func (c *Controller) StampedImage() (*metadata.Image, ApplyStamp) {
	if si := c.fsm.lag.image.Load(); si != nil {
		return si.im, si.stamp
	}
	return c.fsm.Image(), ApplyStamp{}
}

// Reconciled records that this node's broker finished reconciling the
// image of stamp s (from StampedImage) at now.
func (c *Controller) Reconciled(s ApplyStamp, now time.Time) {
	s.AppliedAt = now
	c.fsm.lag.reconciled.Store(&s)
	if s.Index != 0 {
		c.fsm.lag.observe(StageReconciled, s)
	}
}

// ApplyStamps returns the stamps of the last entry applied to the image
// and of the last image the broker reconciled (zero values if none).
func (c *Controller) ApplyStamps() (image, reconciled ApplyStamp) {
	if si := c.fsm.lag.image.Load(); si != nil {
		image = si.stamp
	}
	if r := c.fsm.lag.reconciled.Load(); r != nil {
		reconciled = *r
	}
	return image, reconciled
}
