package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Heartbeat serves Heartbeat: it extends the member's session; during a
// rebalance it answers REBALANCE_IN_PROGRESS so the member rejoins.
func (c *Coordinator) Heartbeat(groupID, memberID string, instanceID *string, generation int32) error {
	if groupID == "" {
		return kerr.InvalidGroupID
	}
	if err := c.Available(groupID); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return kerr.NotCoordinator
	}
	g := c.groupLocked(groupID)
	if g == nil {
		return kerr.UnknownMemberID
	}
	m, err := g.validateMember(memberID, instanceID, generation)
	if err != nil {
		return err
	}
	switch g.state {
	case Empty:
		return kerr.UnknownMemberID
	case PreparingRebalance:
		m.deadline = c.now().Add(m.sessionTimeout)
		return kerr.RebalanceInProgress
	}
	m.deadline = c.now().Add(m.sessionTimeout)
	return nil
}

// LeaveMember is one member leaving (v3+ batches them; instance id set
// for static members).
type LeaveMember struct {
	MemberID   string
	InstanceID *string
}

// Leave serves LeaveGroup: one error per member, and the group error
// (UNKNOWN_MEMBER_ID for an unknown group, as Kafka).
func (c *Coordinator) Leave(groupID string, members []LeaveMember) ([]error, error) {
	if groupID == "" {
		return nil, kerr.InvalidGroupID
	}
	if err := c.Available(groupID); err != nil {
		return nil, err
	}
	c.mu.Lock()
	errs, gerr := c.leaveLocked(groupID, members)
	c.mu.Unlock()
	c.flushDirty()
	return errs, gerr
}

func (c *Coordinator) leaveLocked(groupID string, members []LeaveMember) ([]error, error) {
	if c.mu.closed {
		return nil, kerr.NotCoordinator
	}
	g := c.groupLocked(groupID)
	if g == nil {
		return nil, kerr.UnknownMemberID
	}
	if g.state == Dead {
		return nil, kerr.CoordinatorNotAvailable
	}
	errs := make([]error, len(members))
	for i, lm := range members {
		errs[i] = c.leaveOneLocked(g, lm)
	}
	return errs, nil
}

func (c *Coordinator) leaveOneLocked(g *group, lm LeaveMember) error {
	id := lm.MemberID
	if lm.InstanceID != nil {
		sid, ok := g.static[*lm.InstanceID]
		if !ok {
			return kerr.UnknownMemberID
		}
		if id != "" && id != sid {
			return kerr.FencedInstanceID
		}
		id = sid
	}
	if _, ok := g.pending[id]; ok {
		delete(g.pending, id)
		if g.state == PreparingRebalance {
			c.tryCompleteJoinLocked(g)
		}
		return nil
	}
	m := g.members[id]
	if m == nil {
		return kerr.UnknownMemberID
	}
	c.removeMemberLocked(g, m)
	return nil
}

// removeMemberLocked removes a member that left or expired and rebalances.
func (c *Coordinator) removeMemberLocked(g *group, m *member) {
	g.completeJoin(m, joinError(m.id, kerr.UnknownMemberID))
	m.respondSync(syncError(kerr.UnknownMemberID))
	g.remove(m.id)
	switch g.state {
	case Stable, CompletingRebalance:
		c.maybePrepareRebalanceLocked(g)
	case PreparingRebalance:
		c.tryCompleteJoinLocked(g)
	}
}

// Tick runs everything due at the clock's now: member sessions, pending
// member ids, rebalance and sync deadlines. The background goroutine calls
// it; with Config.Manual the owner does. It returns the next deadline
// (zero: none).
func (c *Coordinator) Tick() time.Time {
	c.mu.Lock()
	next := c.expireLocked(c.now())
	c.mu.Unlock()
	c.flushDirty()
	return next
}

// expireLocked handles the deadlines due at now and returns the next.
func (c *Coordinator) expireLocked(now time.Time) time.Time {
	var next time.Time
	soonest := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, g := range c.mu.groups {
		c.expireGroupLocked(g, now)
		soonest(g.nextDeadline())
	}
	return next
}

// expireGroupLocked handles one group's due deadlines.
func (c *Coordinator) expireGroupLocked(g *group, now time.Time) {
	for id, t := range g.pending {
		if !now.Before(t) {
			delete(g.pending, id)
		}
	}
	for _, m := range g.sortedMembers() {
		awaiting := m.joinWait != nil || m.syncWait != nil
		if (m.isNew || !awaiting) && !now.Before(m.deadline) {
			c.log.Info("group member session expired", "group", g.id, "member", m.id)
			c.removeMemberLocked(g, m)
		}
	}
	if g.state == PreparingRebalance && !g.joinDeadline.IsZero() && !now.Before(g.joinDeadline) {
		c.joinDeadlineLocked(g, now)
	}
	if (g.state == CompletingRebalance || g.state == Stable) && len(g.pendingSync) > 0 &&
		!g.syncDeadline.IsZero() && !now.Before(g.syncDeadline) {
		for id := range g.pendingSync {
			if m := g.members[id]; m != nil {
				c.log.Info("group member did not sync in time", "group", g.id, "member", id)
				c.removeMemberLocked(g, m)
			}
		}
	}
	if g.state == PreparingRebalance {
		c.tryCompleteJoinLocked(g)
	}
}

// nextDeadline is the group's earliest pending deadline.
func (g *group) nextDeadline() time.Time {
	var next time.Time
	soonest := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, t := range g.pending {
		soonest(t)
	}
	for _, m := range g.members {
		if m.isNew || m.joinWait == nil && m.syncWait == nil {
			soonest(m.deadline)
		}
	}
	if g.state == PreparingRebalance {
		soonest(g.joinDeadline)
	}
	if len(g.pendingSync) > 0 {
		soonest(g.syncDeadline)
	}
	return next
}

// run is the background goroutine: deadlines and offset expiry.
func (c *Coordinator) run() {
	defer close(c.done)
	const maxWait = time.Second
	timer := time.NewTimer(0)
	defer timer.Stop()
	lastExpire := time.Now()
	for {
		select {
		case <-c.quit:
			return
		case <-c.kick:
		case <-timer.C:
		}
		next := c.Tick()
		if time.Since(lastExpire) >= c.cfg.OffsetsRetentionCheckInterval {
			lastExpire = time.Now()
			c.ExpireOffsets()
		}
		wait := maxWait
		if !next.IsZero() {
			wait = min(max(next.Sub(c.now()), time.Millisecond), maxWait)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
	}
}
