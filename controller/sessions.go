package controller

import (
	"errors"
	"time"
)

// sessionLoop, on the active controller, fences every unfenced broker whose
// last heartbeat is older than the session timeout. A broker this leader
// has not heard from yet gets a full session from the first check (its
// heartbeats went to the previous leader).
func (c *Controller) sessionLoop() {
	defer c.done.Done()
	tick := time.NewTicker(c.cfg.SessionCheckInterval)
	defer tick.Stop()
	led := false
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
		}
		led = c.checkSessions(led)
	}
}

// checkSessions is one pass of sessionLoop: wasLeader says whether the
// previous pass saw this node lead; it returns whether this one did. A
// pass that finds leadership (re)gained starts every broker's session
// afresh instead of fencing: what this node saw while it led before is
// stale (the heartbeats went to another leader meanwhile), and
// leaderLoop, which clears it too, may not have run yet: raft reports the
// new state before LeaderCh delivers it.
func (c *Controller) checkSessions(wasLeader bool) bool {
	if !c.IsLeader() {
		return false
	}
	if !wasLeader {
		c.mu.Lock()
		clear(c.mu.lastSeen)
		c.mu.Unlock()
		return true
	}
	for _, id := range c.expiredSessions() {
		if err := c.FenceBroker(id); err != nil && !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrClosed) {
			c.cfg.Logger.Error("cannot fence broker", "broker", id, "error", err)
		}
	}
	return true
}

// expiredSessions returns the unfenced brokers past their session.
func (c *Controller) expiredSessions() []int32 {
	now := c.cfg.Now()
	var expired []int32
	brokers := c.Image().Brokers()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range brokers {
		if b.Fenced {
			continue
		}
		seen, ok := c.mu.lastSeen[b.ID]
		if !ok {
			c.mu.lastSeen[b.ID] = now
			continue
		}
		if now.Sub(seen) > c.cfg.SessionTimeout {
			expired = append(expired, b.ID)
		}
	}
	return expired
}
