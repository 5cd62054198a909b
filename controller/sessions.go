package controller

import (
	"errors"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
)

// Broker sessions. The active controller fences every unfenced broker
// whose last heartbeat is older than SessionTimeout (Kafka's
// BrokerHeartbeatManager). A node that becomes the active controller has
// seen none of the heartbeats (they went to the previous one), so it
// starts every broker's session at its election, as KRaft's activation
// does, with one exception:
//
//	the broker of the previous active controller (combined roles share
//	the node id) heartbeated that controller, in the same process; it
//	cannot have been heard from after the controller itself was last
//	heard from (raft's LastContact when this node saw the leader lost).
//	Its session runs from that moment, so a kill -9 of the active
//	controller fences its broker a session after the kill, not a session
//	after the election (which comes 1-2 raft heartbeat timeouts later).
//
// That earlier start never leaves a live broker less than
// previousLeaderGrace after the election to reach the new controller:
// a broker that keeps heartbeating (the old controller paused, or cut
// off, then back) is heard from within one heartbeat interval of
// learning the new leader.
//
// The session state is reset on raft's own goroutine, as the state
// changes (observeRaft): no pass of sessionLoop can see this node lead
// with the sessions of an earlier leadership (what it saw while it led
// before is stale: the heartbeats went to another leader meanwhile).

// leaderWatch is what observeRaft keeps of raft's leader changes, under
// Controller.mu.
type leaderWatch struct {
	leading bool      // this node leads and its sessions were started
	leader  int32     // the leader last observed, -1 if none
	lost    int32     // another node whose leadership ended (this node saw it lost), -1 if none
	lostAt  time.Time // raft's LastContact then: when that leader was last heard from
}

// observeRaft is the filter of the raft observer registered by Open.
// hashicorp/raft calls it on its own goroutine inside setState and
// setLeader, right after the change (for a new leader, the state changes
// to Leader before the leader is set to this node); it keeps nothing for a
// channel, it records.
func (c *Controller) observeRaft(o *raft.Observation) bool {
	switch d := o.Data.(type) {
	case raft.RaftState:
		if d == raft.Leader {
			c.startSessions()
		} else {
			c.mu.Lock()
			c.mu.watch.leading = false
			c.mu.Unlock()
		}
	case raft.LeaderObservation:
		id, contact := int32(-1), time.Time{}
		if d.LeaderID == "" {
			contact = o.Raft.LastContact()
		} else if n, err := strconv.ParseInt(string(d.LeaderID), 10, 32); err == nil {
			id = int32(n)
		}
		c.leaderChanged(id, contact)
	}
	return false
}

// leaderChanged records that the leader is now id (-1: none, lastContact
// being when the previous one was last heard from).
func (c *Controller) leaderChanged(id int32, lastContact time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := &c.mu.watch
	prev := w.leader
	w.leader = id
	switch {
	case id >= 0:
		w.lost = -1
	case prev >= 0 && prev != c.cfg.NodeID:
		w.lost, w.lostAt = prev, lastContact
	}
}

// startSessions, as this node becomes the active controller, forgets
// every heartbeat and starts the unfenced brokers' sessions now, the
// previous controller's broker's from when it was last heard from.
func (c *Controller) startSessions() {
	now, brokers := c.cfg.Now(), c.Image().Brokers()
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.mu.lastSeen)
	clear(c.mu.offsets)
	for _, b := range brokers {
		if !b.Fenced {
			c.mu.lastSeen[b.ID] = now
		}
	}
	w := &c.mu.watch
	if _, ok := c.mu.lastSeen[w.lost]; ok && w.lost != c.cfg.NodeID {
		c.mu.lastSeen[w.lost] = c.previousLeaderSeen(now, w.lostAt)
	}
	w.leading = true
	select { // the first pass computes when the first session ends
	case c.sessionKick <- struct{}{}:
	default:
	}
}

// previousLeaderGrace is the least time the previous controller's broker
// keeps after an election: two heartbeat intervals (the one it may be
// sleeping through, and one more to find the new controller and be
// heard), at most a whole session.
func (c *Controller) previousLeaderGrace() time.Duration {
	return min(2*c.cfg.HeartbeatInterval, c.cfg.SessionTimeout)
}

// previousLeaderSeen is when the previous controller's broker counts as
// last heard from, for a leadership that starts at now: when that
// controller was last heard from (lastContact), but late enough to leave
// previousLeaderGrace, and never after now.
func (c *Controller) previousLeaderSeen(now, lastContact time.Time) time.Time {
	floor := now.Add(c.previousLeaderGrace() - c.cfg.SessionTimeout)
	switch {
	case lastContact.Before(floor):
		return floor
	case lastContact.After(now):
		return now
	}
	return lastContact
}

// sessionLoop, on the active controller, fences every unfenced broker
// whose session expired: at the next session's end (KRaft's controller
// schedules its check there too), at most SessionCheckInterval after the
// previous pass, and when this node becomes the leader.
func (c *Controller) sessionLoop() {
	defer c.done.Done()
	timer := time.NewTimer(c.cfg.SessionCheckInterval)
	defer timer.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-c.sessionKick:
		case <-timer.C:
		}
		timer.Reset(untilNextPass(c.cfg.Now(), c.checkSessions(), c.cfg.SessionCheckInterval))
	}
}

// untilNextPass is how long sessionLoop waits at now for its next pass
// when the next session ends at next (zero: none known): until just after
// that end, within [1 ms, interval].
func untilNextPass(now, next time.Time, interval time.Duration) time.Duration {
	if next.IsZero() {
		return interval
	}
	// A session expires once strictly more than SessionTimeout passed.
	d := next.Sub(now) + time.Millisecond
	return min(max(d, time.Millisecond), interval)
}

// checkSessions is one pass of sessionLoop: it fences the brokers whose
// session expired and returns when the next of the others ends (zero if
// none, or not leading).
func (c *Controller) checkSessions() time.Time {
	if !c.IsLeader() {
		return time.Time{}
	}
	expired, next := c.expiredSessions()
	for _, id := range expired {
		if err := c.FenceBroker(id); err != nil && !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrClosed) {
			c.cfg.Logger.Error("cannot fence broker", "broker", id, "error", err)
		}
	}
	return next
}

// expiredSessions returns the unfenced brokers past their session, and
// when the first of the others' ends. A broker not heard from in this
// leadership yet (registered since it began) gets a session from now.
func (c *Controller) expiredSessions() (expired []int32, next time.Time) {
	now := c.cfg.Now()
	brokers := c.Image().Brokers()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.mu.watch.leading {
		return nil, time.Time{}
	}
	for _, b := range brokers {
		if b.Fenced {
			continue
		}
		seen, ok := c.mu.lastSeen[b.ID]
		if !ok {
			seen = now
			c.mu.lastSeen[b.ID] = now
		}
		end := seen.Add(c.cfg.SessionTimeout)
		switch {
		case now.Sub(seen) > c.cfg.SessionTimeout:
			expired = append(expired, b.ID)
		case next.IsZero() || end.Before(next):
			next = end
		}
	}
	return expired, next
}
