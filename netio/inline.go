package netio

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"unsafe"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// Serving on the event loop (package doc): a frame that arrives whole on
// a plaintext gnet connection whose request goroutine is idle is offered
// to the Handler's HandleInline on the event loop itself; served, its
// response is queued and held, and the loop writes what it queued with
// one non-blocking writev once it has dispatched the frames it read. A
// frame the Handler declines, and every frame after it until the request
// goroutine is idle again, goes the usual way.

// evloopMode is the SLUICE_EVLOOP switch, read once: 0 off (the default),
// 1 requests served on the event loop (InlineHandler), 2 also their
// work staged to the end of the loop's batch (Deferred, LoopFlusher).
var evloopMode = sync.OnceValue(func() int {
	switch os.Getenv("SLUICE_EVLOOP") {
	case "1":
		return 1
	case "2":
		return 2
	}
	return 0
})

// inlineIdleLocked reports whether a frame may be served on the event
// loop now: c is on gnet (not muted, not closing), its request goroutine
// has nothing queued, handles nothing and has no response in flight, and
// the responses queued leave room in the budget. Responses queued and not
// written yet are fine: they precede the frame, and the queue keeps order.
func (c *conn) inlineIdleLocked() bool {
	return !c.mu.muted && !c.mu.muting && !c.mu.stopped && !c.mu.draining && !c.mu.closed &&
		!c.mu.closeSent && !c.mu.failed && !c.mu.reqDone && !c.mu.wdone &&
		len(c.mu.frames) == 0 && !c.mu.handling && len(c.mu.flights) == 0 &&
		c.mu.respBytes < c.srv.cfg.ConnBudgetBytes
}

// tryInline offers frame to the Handler on the event loop (dispatch, via
// deliverScanned) and reports whether it was served there; false leaves
// the frame to the request goroutine, untouched.
func (c *conn) tryInline(frame []byte, scan FrameScan) bool {
	if c.gc == nil { // a TLS connection: no event loop
		return false
	}
	c.mu.Lock()
	if !c.inlineIdleLocked() {
		c.mu.Unlock()
		return false
	}
	c.mu.handling = true // timeouts and Shutdown see a request served
	c.mu.Unlock()
	resp, ok, err, panicked := c.handleInline(frame, scan)
	c.mu.Lock()
	if !ok {
		c.mu.handling = false
		c.mu.Unlock()
		return false
	}
	c.srv.stats.loopRequests.Add(1)
	f := flight{resp: resp, err: err, panicked: panicked}
	if c.stage != nil && (resp.IsDeferred() || len(c.staged) > 0) {
		c.mu.handling = false
		c.mu.Unlock()
		c.stageResult(f)
		return true
	}
	_, drop := c.queueResponseLocked(f)
	c.mu.loopHeld = true
	full := len(c.mu.queue) >= holdMax || c.mu.respBytes >= inlineMax
	c.mu.Unlock()
	if drop != nil {
		drop.Release()
	}
	if full {
		c.flushOnLoop()
	}
	return true
}

// errInlinePending is a Handler's HandleInline returning a Pending
// response, which it must not.
var errInlinePending = errors.New("netio: BUG: HandleInline returned a Pending response")

// handleInline calls HandleInline, recovering a panic as handle does (a
// panic counts as served: the frame is the Handler's).
func (c *conn) handleInline(frame []byte, scan FrameScan) (resp *Response, ok bool, err error, panicked bool) {
	c.pub.cur, c.pub.scan = frame, scan
	if c.stage != nil {
		c.pub.loop = &c.stage.loop
	}
	defer func() {
		c.pub.cur, c.pub.scan, c.pub.loop = nil, nil, nil
		if p := recover(); p != nil {
			c.srv.stats.panics.Add(1)
			c.srv.log.Error("netio: handler panicked on the event loop; closing connection", "conn", c.pub.id,
				"remote", c.pub.remoteAddr, "panic", p, "stack", string(debug.Stack()))
			resp, ok, err, panicked = nil, true, fmt.Errorf("netio: handler panicked: %v", p), true
		}
	}()
	resp, ok, err = c.srv.inline.HandleInline(c.ctx, &c.pub, frame)
	if ok && (resp.IsPending() || resp.IsDeferred() && (c.stage == nil || c.srv.flusher == nil)) {
		resp, err = nil, errInlinePending
	}
	return resp, ok, err, false
}

// flushOnLoop writes, on the event loop, the responses it queued and held
// (loopHeld): with one non-blocking writev when the queue holds only byte
// runs and nobody else is writing; a queue with a file region or over
// inlineMax goes to the writer goroutine; a queue someone is writing is
// theirs (finishBatch wakes the writer goroutine for the rest).
func (c *conn) flushOnLoop() {
	c.mu.Lock()
	if !c.mu.loopHeld {
		c.mu.Unlock()
		return
	}
	c.mu.loopHeld = false
	if len(c.mu.queue) == 0 || c.mu.writing || c.mu.closed || c.mu.wdone {
		c.mu.Unlock()
		return
	}
	if c.mu.queueFile || c.mu.respBytes > inlineMax {
		c.wakeWriterLocked()
		c.mu.Unlock()
		return
	}
	batch := c.takeBatchLocked()
	c.mu.Unlock()
	c.srv.stats.loopBatches.Add(1)
	c.sendBatchOnLoop(batch)
}

// sendBatchOnLoop writes a batch of byte runs on the event loop without
// blocking: what the socket does not take at once (EAGAIN, a partial
// write) is copied and queued at the head of the queue, raw, for the
// writer goroutine, which waits for the socket to drain.
func (c *conn) sendBatchOnLoop(batch []outItem) {
	w := &c.w
	if need := sizeLen * len(batch); cap(w.hdrs) < need {
		w.hdrs = make([]byte, need)
	}
	w.hdrs = w.hdrs[:sizeLen*len(batch)]
	closeAfter := false
	var err error
	for i, it := range batch {
		if it.closeAfter {
			closeAfter = true // the last item: nothing is queued after a close
			break
		}
		hdr := w.hdrs[sizeLen*i : sizeLen*(i+1)]
		if it.raw {
			hdr = nil
		}
		if it.resp.files {
			panic("BUG: netio: a file region in a batch written on the event loop")
		}
		if err = c.appendResponse(hdr, it.resp); err != nil {
			releaseItems(batch[i+1:])
			break
		}
	}
	var left [][]byte
	if err == nil {
		left, err = writevNow(c.gc.Fd(), w.iov, &w.vecs)
		if err == nil {
			c.progress()
		}
	}
	var rest []outItem
	if err == nil && len(left) > 0 {
		var n int
		for _, b := range left {
			n += len(b)
		}
		buf := make([]byte, 0, n)
		for _, b := range left {
			buf = append(buf, b...)
		}
		r := new(Response)
		r.AppendBytes(buf)
		rest = append(rest, outItem{resp: r, size: int64(n), raw: true})
		if closeAfter {
			rest = append(rest, outItem{closeAfter: true})
			closeAfter = false
		}
	}
	end := err != nil || closeAfter
	c.finishBatchRest(batch, end, rest)
	if err != nil {
		c.srv.log.Debug("netio: write failed; closing connection", "conn", c.pub.id,
			"remote", c.pub.remoteAddr, "err", err)
	}
	if end {
		c.requestClose()
	}
}

// queueRestLocked puts what an event loop could not write at the head of
// the queue (finishBatchRest), counted as queued response bytes.
func (c *conn) queueRestLocked(rest []outItem) {
	c.mu.queue = append(rest, c.mu.queue...)
	for _, it := range rest {
		c.mu.respBytes += it.size
		c.chargeLocked(it.size)
	}
}

// iovMax is the most byte runs one writev takes (Linux's IOV_MAX).
const iovMax = 1024

// writevNow writes iov to the non-blocking socket fd until it is written
// or the socket would block, and returns what is left (nil: all), its
// first run cut where the socket stopped. vecs is scratch space, kept
// between calls.
func writevNow(fd int, iov [][]byte, vecs *[]unix.Iovec) ([][]byte, error) {
	for len(iov) > 0 {
		v := (*vecs)[:0]
		for _, b := range iov[:min(len(iov), iovMax)] {
			var x unix.Iovec
			x.Base = &b[0]
			x.SetLen(len(b))
			v = append(v, x)
		}
		*vecs = v
		n, _, e := unix.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&v[0])), uintptr(len(v)))
		clear(v) // no pointer into a response kept past the write
		switch e {
		case 0:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return iov, nil
		default:
			return iov, fmt.Errorf("netio: writev on the event loop: %w", e)
		}
		for m := int(n); m > 0; {
			if m >= len(iov[0]) {
				m -= len(iov[0])
				iov = iov[1:]
				continue
			}
			iov[0] = iov[0][m:]
			m = 0
		}
	}
	return nil, nil
}

// A loop's stage (SLUICE_EVLOOP=2): requests served on the loop whose
// responses are Deferred wait in their connection's staged list; the
// first of a batch of events arms a flush (a task on the loop, run after
// the callbacks of the next batch), which lets the Handler write what it
// staged (LoopFlusher), then completes the connections' staged responses
// in order and writes each connection's queue with one writev.

// stageMax bounds the requests staged on a loop: at that many, the loop
// flushes at once.
const stageMax = 256

// loopStage is one event loop's staged work; used on that loop only.
type loopStage struct {
	srv   *Server
	el    gnet.EventLoop
	loop  Loop
	conns []*conn // with staged responses, in the order they first staged
	n     int     // staged responses, all connections
	armed bool    // a flush task is queued on the loop
	run   gnet.Runnable
}

// stageOf returns el's stage, made on first use.
func (s *Server) stageOf(el gnet.EventLoop) *loopStage {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.stages == nil {
		s.mu.stages = make(map[gnet.EventLoop]*loopStage)
	}
	st := s.mu.stages[el]
	if st == nil {
		st = &loopStage{srv: s, el: el}
		st.run = gnet.RunnableFunc(func(context.Context) error {
			st.armed = false
			st.flush(false)
			return nil
		})
		s.mu.stages[el] = st
	}
	return st
}

// stageResult keeps f, the result of a request served on the loop, in
// c's staged list when it is Deferred or follows one; false: f may be
// queued now.
func (c *conn) stageResult(f flight) bool {
	if !f.resp.IsDeferred() && len(c.staged) == 0 {
		return false
	}
	st := c.stage
	c.staged = append(c.staged, f)
	st.n++
	if !c.inStage {
		c.inStage = true
		st.conns = append(st.conns, c)
	}
	switch {
	case st.n >= stageMax:
		st.flush(true)
	case !st.armed:
		st.armed = true
		if err := st.el.Execute(context.Background(), st.run); err != nil {
			st.armed = false
			st.flush(true) // shutting down: no task will run
		}
	}
	return true
}

// flush lets the Handler write what it staged, then completes every
// connection's staged responses in order and writes them: those that are
// ready, or all when must (a connection's next request is about to go to
// its request goroutine, or it is closing). Connections left with staged
// responses (waiting for the other event loop's writer) arm the next flush.
func (st *loopStage) flush(must bool) {
	if st.srv.flusher != nil && st.loop.state != nil {
		st.srv.flusher.FlushLoop(&st.loop)
	}
	keep := st.conns[:0]
	for _, c := range st.conns {
		c.completeStaged(must)
		if len(c.staged) > 0 {
			keep = append(keep, c)
		} else {
			c.inStage = false
		}
	}
	clear(st.conns[len(keep):])
	st.conns = keep
	if len(keep) > 0 && !st.armed {
		st.armed = true
		if err := st.el.Execute(context.Background(), st.run); err != nil {
			st.armed = false
			st.flush(true)
		}
	}
}

// completeStaged queues c's staged responses in order, completing the
// Deferred ones: those ready, or all when must. Then it writes c's queue.
func (c *conn) completeStaged(must bool) {
	n := 0
	for ; n < len(c.staged); n++ {
		f := c.staged[n]
		if f.resp.IsDeferred() {
			if !must && !f.resp.deferred.Ready() {
				break
			}
			f.resp, f.err, f.panicked = c.completeDeferred(f.resp)
		}
		c.mu.Lock()
		_, drop := c.queueResponseLocked(f)
		c.mu.loopHeld = true
		c.mu.Unlock()
		if drop != nil {
			drop.Release()
		}
	}
	m := copy(c.staged, c.staged[n:])
	clear(c.staged[m:])
	c.staged = c.staged[:m]
	c.stage.n -= n
	c.flushOnLoop()
}

// completeDeferred runs a Deferred response's complete, recovering a
// panic as handle does.
func (c *conn) completeDeferred(d *Response) (resp *Response, err error, panicked bool) {
	defer func() {
		if p := recover(); p != nil {
			c.srv.stats.panics.Add(1)
			c.srv.log.Error("netio: deferred response panicked; closing connection", "conn", c.pub.id,
				"remote", c.pub.remoteAddr, "panic", p, "stack", string(debug.Stack()))
			resp, err, panicked = nil, fmt.Errorf("netio: deferred response panicked: %v", p), true
		}
	}()
	w := d.deferred
	d.deferred = nil
	resp, err = w.Complete()
	if resp.IsPending() || resp.IsDeferred() {
		resp, err = nil, errInlinePending
	}
	return resp, err, false
}
