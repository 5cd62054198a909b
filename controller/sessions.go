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
	var prev time.Time // the previous pass
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
		}
		now := c.cfg.Now()
		led = c.checkSessionsSince(led, prev)
		prev = now
	}
}

// checkSessions is checkSessionsSince with no previous pass: a pass that
// finds leadership (re)gained forgets every heartbeat.
func (c *Controller) checkSessions(wasLeader bool) bool {
	return c.checkSessionsSince(wasLeader, time.Time{})
}

// checkSessionsSince is one pass of sessionLoop: wasLeader says whether
// the previous pass (at prev) saw this node lead; it returns whether this
// one did. A pass that finds leadership (re)gained starts every broker's
// session afresh instead of fencing: what this node saw while it led
// before is stale (the heartbeats went to another leader meanwhile), and
// leaderLoop, which clears it too, may not have run yet: raft reports the
// new state before LeaderCh delivers it. Heartbeats and registrations
// received since prev are kept: only a leader records them, so they came
// to this leadership (forgetting them gave a broker that registered and
// died between the election and this pass a session from the next pass,
// up to a check interval late; BenchmarkLeaderFailover showed it). The
// other unfenced brokers' sessions start at this pass.
func (c *Controller) checkSessionsSince(wasLeader bool, prev time.Time) bool {
	if !c.IsLeader() {
		return false
	}
	if !wasLeader {
		now, brokers := c.cfg.Now(), c.Image().Brokers()
		c.mu.Lock()
		for id, seen := range c.mu.lastSeen {
			if prev.IsZero() || seen.Before(prev) {
				delete(c.mu.lastSeen, id)
			}
		}
		for _, b := range brokers { // the fresh sessions start now, not at the next pass
			if _, ok := c.mu.lastSeen[b.ID]; !ok && !b.Fenced {
				c.mu.lastSeen[b.ID] = now
			}
		}
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
