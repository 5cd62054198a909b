package netio

import (
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// Pipelining (see the package doc): a Handler may return a Pending
// response; the request goroutine then goes on to the next request while
// the completer goroutine runs the wait, and every response — pending or
// not — handled after it goes through c.mu.flights, so they reach the
// writer in request order.

// flight is one handled request whose response is not queued yet.
type flight struct {
	frameLen int64 // refunded from the budget once queued
	resp     *Response
	err      error
	panicked bool
}

// settle hands the result of Handle to the writer, directly when nothing
// is in flight and it is complete, else through flights. It reports
// whether the request goroutine goes on; it waits while MaxPending
// responses are pending.
func (c *conn) settle(f flight) bool {
	pending := f.resp.IsPending() && f.err == nil && !f.panicked
	if f.resp.IsPending() && !pending {
		f.resp = nil // a Handler error wins; its wait never runs
	}
	c.mu.Lock()
	if !pending && len(c.mu.flights) == 0 {
		goOn, drop := c.queueResponseLocked(f)
		var next []byte
		if goOn && len(c.mu.frames) > 0 {
			next = c.mu.frames[0] // only this goroutine takes frames
		}
		c.mu.Unlock()
		if drop != nil {
			drop.Release()
		}
		c.sendQueued(c.nextOf(next))
		return goOn
	}
	c.mu.handling = false
	c.mu.flights = append(c.mu.flights, f)
	if pending {
		c.mu.waits++
	}
	switch {
	case !c.mu.completing:
		c.mu.completing = true
		c.srv.conns.Add(1)
		c.srv.stats.completers.Add(1)
		go c.complete()
	case c.mu.compIdle:
		c.mu.compIdle = false
		kick(c.compKick)
	}
	c.mu.Unlock()
	c.sendQueued(nextSlow) // what earlier frames' responses held back
	if f.err != nil || f.panicked {
		return false // the completer queues it in order, then the close
	}
	return c.waitRoom()
}

// nextOf classifies the frame waiting after a response (nil: none) by
// the Handler's QuickChecker; a Quick that panics calls it slow (the
// frame's Handle call meets the same bug and is recovered there).
func (c *conn) nextOf(frame []byte) (nx next) {
	defer func() {
		if recover() != nil {
			nx = nextSlow
		}
	}()
	switch {
	case frame == nil:
		return nextNone
	case c.srv.quick != nil && c.srv.quick.Quick(&c.pub, frame):
		return nextQuick
	}
	return nextSlow
}

// waitRoom waits until fewer than MaxPending responses are pending; false
// once a queued error or panic stopped the connection.
func (c *conn) waitRoom() bool {
	for {
		c.mu.Lock()
		failed, room := c.mu.failed, c.mu.waits < c.srv.cfg.MaxPending
		c.mu.Unlock()
		switch {
		case failed:
			return false
		case room:
			return true
		}
		<-c.reqKick // the completer kicks after each flight; waits always end
	}
}

// waitsAhead reports whether a Pending response of c has not completed
// (Conn.PendingAhead).
func (c *conn) waitsAhead() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.waits > 0
}

// waitFlights waits until every flight is queued (Conn.WaitPending). It
// runs on the request goroutine, inside Handle.
func (c *conn) waitFlights() {
	for {
		c.mu.Lock()
		n := len(c.mu.flights)
		c.mu.Unlock()
		if n == 0 {
			return
		}
		<-c.reqKick
	}
}

// complete is the completer goroutine: it takes flights in order, runs a
// pending one's wait, and queues each response. When none is left it
// waits up to completerLinger for settle to hand it the next, and exits
// if none comes or the connection closes (settle starts another for the
// next Pending then).
func (c *conn) complete() {
	defer c.srv.conns.Done()
	var linger *time.Timer
	for {
		c.mu.Lock()
		if len(c.mu.flights) == 0 {
			c.checkDrainedLocked()
			c.mu.compIdle = true // a closed connection's: lingerIdle sees done and exits
			c.mu.Unlock()
			kick(c.reqKick)
			if !c.lingerIdle(&linger) {
				return
			}
			continue
		}
		f := c.mu.flights[0]
		c.mu.Unlock()
		waited := f.resp.IsPending()
		if waited {
			f.resp, f.err, f.panicked = c.await(f.resp)
		}
		c.mu.Lock()
		// Taken off only now: until it is queued, a later complete
		// response must not overtake it (settle checks flights).
		c.mu.flights[0] = flight{}
		c.mu.flights = c.mu.flights[1:]
		if waited {
			c.mu.waits--
		}
		_, drop := c.queueResponseLocked(f)
		// A complete response next is queued at once: send both together.
		// Before a wait, write in place.
		nx := nextNone
		if len(c.mu.flights) > 0 && !c.mu.flights[0].resp.IsPending() {
			nx = nextQuick
		}
		c.mu.Unlock()
		if drop != nil {
			drop.Release()
		}
		c.sendQueued(nx)
		kick(c.reqKick)
	}
}

// completerLinger is how long an idle completer waits for the next
// Pending before it exits. A completer started afresh for every Pending
// of a producer that pipelines (one per request at 16 x 100 B) grows its
// stack again on the way into the wait (runtime.morestack under
// WaitGroup.Wait: ~1.5% of the broker's CPU there); a waiting one is
// woken as cheaply as a new one is started. Short, so that many
// connections that produce now and then hold no goroutine each.
var completerLinger atomic.Int64 // nanoseconds; tests lengthen it

func init() { completerLinger.Store(int64(5 * time.Millisecond)) }

// lingerIdle is the idle completer's wait (compIdle set): true when
// settle claimed it, false when it exits (completing cleared).
func (c *conn) lingerIdle(t **time.Timer) bool {
	d := time.Duration(completerLinger.Load())
	if *t == nil {
		*t = time.NewTimer(d)
	} else {
		(*t).Reset(d)
	}
	select {
	case <-c.compKick:
		return true
	case <-(*t).C:
	case <-c.done:
	}
	c.mu.Lock()
	if c.mu.compIdle { // not claimed
		c.mu.compIdle = false
		c.mu.completing = false
		c.mu.Unlock()
		(*t).Stop()
		return false
	}
	c.mu.Unlock()
	// settle claimed it under c.mu, and kicked before it unlocked: the
	// token is there.
	<-c.compKick
	return true
}

// await runs a Pending response's wait, recovering a panic as handle does.
func (c *conn) await(p *Response) (resp *Response, err error, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			c.srv.stats.panics.Add(1)
			c.srv.log.Error("netio: pending response panicked; closing connection", "conn", c.pub.id,
				"remote", c.pub.remoteAddr, "panic", r, "stack", string(debug.Stack()))
			resp, err, panicked = nil, fmt.Errorf("netio: pending response panicked: %v", r), true
		}
	}()
	resp, err = p.Wait()
	return resp, err, false
}
