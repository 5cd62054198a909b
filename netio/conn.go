package netio

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// conn is one client connection: the gnet side (read and framing, on an
// event loop), a request goroutine and a writer goroutine.
type conn struct {
	srv *Server
	gc  gnet.Conn // only Close and Wake are called off the event loop
	pub Conn

	tcp *net.TCPConn    // the writer's dup of the socket
	raw syscall.RawConn // tcp's RawConn, for sendfile

	ctx    context.Context // handlers' context; cancelled by onClose
	cancel context.CancelFunc

	reqKick   chan struct{} // one slot: a frame was queued or response bytes drained
	writeKick chan struct{} // one slot: a response was queued
	done      chan struct{} // closed by onClose

	drained     chan struct{} // closed once draining and idle, or closed
	drainedOnce sync.Once

	lastActive atomic.Int64 // UnixNano of the last dispatch or response sent

	w writerState // owned by the writer goroutine

	mu struct {
		sync.Mutex
		frames    [][]byte // dispatched, not yet handed to the Handler
		queue     []outItem
		charged   int64 // bytes counted against ConnBudgetBytes
		respBytes int64 // response bytes queued or being written
		handling  bool  // the Handler is running
		writing   bool  // the writer holds responses taken from queue
		paused    bool  // the event loop stopped dispatching (over budget)
		stopped   bool  // no more dispatch: handler error, panic or close requested
		draining  bool  // Shutdown: finish what was dispatched
		closeSent bool  // gc.Close was called
		closed    bool  // onClose ran: gc must not be used any more
		// orphans: the client closed with whole requests received but not
		// served; they are served (responses discarded), as Kafka does.
		orphans bool
	}
}

// outItem is a response queued for the writer, or a request to close the
// connection once everything before it was sent.
type outItem struct {
	resp       *Response
	size       int64 // 4 + resp.Len()
	closeAfter bool
}

// newConn dups gc's socket into a *net.TCPConn for the writer. The dup is
// a second descriptor for the same socket: gnet keeps reading its own, the
// writer writes on the dup through Go's netpoller.
func newConn(s *Server, gc gnet.Conn) (*conn, error) {
	tcp, err := dupTCP(gc.Fd())
	if err != nil {
		return nil, err
	}
	raw, err := tcp.SyscallConn()
	if err != nil {
		tcp.Close()
		return nil, fmt.Errorf("cannot get the socket's RawConn: %w", err)
	}
	c := &conn{
		srv: s, gc: gc, tcp: tcp, raw: raw,
		reqKick:   make(chan struct{}, 1),
		writeKick: make(chan struct{}, 1),
		done:      make(chan struct{}),
		drained:   make(chan struct{}),
	}
	c.pub = Conn{id: s.nextID.Add(1), remoteAddr: tcp.RemoteAddr(), localAddr: tcp.LocalAddr()}
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	c.lastActive.Store(nowNano())
	return c, nil
}

// dupTCP duplicates fd (close-on-exec, non-blocking) into a *net.TCPConn
// registered with the runtime netpoller.
func dupTCP(fd int) (*net.TCPConn, error) {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("cannot dup socket fd %d: %w", fd, err)
	}
	if err := unix.SetNonblock(dup, true); err != nil {
		unix.Close(dup)
		return nil, fmt.Errorf("cannot make socket fd %d non-blocking: %w", dup, err)
	}
	f := os.NewFile(uintptr(dup), "netio-conn")
	nc, err := net.FileConn(f) // dups again; f is closed below either way
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("cannot wrap socket fd %d: %w", dup, err)
	}
	tcp, ok := nc.(*net.TCPConn)
	if !ok {
		nc.Close()
		return nil, fmt.Errorf("socket fd %d is a %T, not TCP", fd, nc)
	}
	return tcp, nil
}

// closeSocket closes the writer's dup; used when OnOpen rejects c.
func (c *conn) closeSocket() {
	c.cancel()
	c.tcp.Close()
}

func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// requestClose asks gnet to close the connection (OnClose follows on the
// event loop). Safe from any goroutine.
func (c *conn) requestClose() {
	c.mu.Lock()
	c.requestCloseLocked()
	c.mu.Unlock()
}

// requestCloseLocked calls gc.Close at most once and never after onClose,
// when gnet's poller may be closed (gnet's Close is a Trigger on the
// event loop's task queue: goroutine-safe and non-blocking).
func (c *conn) requestCloseLocked() {
	c.mu.stopped = true
	if c.mu.closed || c.mu.closeSent {
		return
	}
	c.mu.closeSent = true
	if err := c.gc.Close(); err != nil {
		c.srv.log.Warn("netio: cannot close connection", "conn", c.pub.id, "err", err)
	}
}

// chargeLocked adds n (negative to refund) to the budget and, when the
// event loop stopped dispatching and the budget has room again, wakes it.
func (c *conn) chargeLocked(n int64) {
	if c.mu.closed {
		return // onClose refunded everything
	}
	c.mu.charged += n
	c.srv.charge(n, c.mu.charged)
	if n >= 0 || !c.mu.paused || c.mu.charged >= c.srv.cfg.ConnBudgetBytes || c.mu.closed {
		return
	}
	c.mu.paused = false
	if err := c.gc.Wake(nil); err != nil {
		c.srv.log.Warn("netio: cannot wake connection", "conn", c.pub.id, "err", err)
	}
}

// idleLocked reports whether nothing is dispatched, served or being sent.
func (c *conn) idleLocked() bool {
	return len(c.mu.frames) == 0 && !c.mu.handling && len(c.mu.queue) == 0 && !c.mu.writing
}

// checkDrainedLocked closes drained once Shutdown's wait is over for c.
func (c *conn) checkDrainedLocked() {
	if c.mu.closed || (c.mu.draining && c.idleLocked()) {
		c.drainedOnce.Do(func() { close(c.drained) })
	}
}

// beginDrain stops dispatch; drained closes when what was dispatched has
// been answered.
func (c *conn) beginDrain() {
	c.mu.Lock()
	c.mu.draining = true
	c.checkDrainedLocked()
	c.mu.Unlock()
}

// closeIfIdle closes c if it is idle and had no activity since deadline.
func (c *conn) closeIfIdle(deadline int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closeSent || c.mu.closed || !c.idleLocked() || c.lastActive.Load() >= deadline {
		return false
	}
	c.requestCloseLocked()
	return true
}

// onClose runs on the event loop when gnet closes the connection. It
// closes the writer's socket (so the peer sees FIN once gnet closes its
// descriptor too), stops the writer and releases every response that will
// not be sent. A Handler still running finds the connection closed when it
// returns and releases its own response. When the client closed its side
// (peerEOF), the whole requests it sent before are still served (with the
// cancelled context), responses discarded: an acks=0 producer that sends
// and closes loses nothing.
func (c *conn) onClose(peerEOF bool) {
	var rest [][]byte
	if peerEOF {
		rest = c.takeBufferedFrames()
	}
	c.mu.Lock()
	c.srv.charge(-c.mu.charged, 0) // frames, queued responses and the writer's batch
	c.mu.charged, c.mu.respBytes = 0, 0
	c.mu.closed = true
	c.mu.stopped = true
	queue := c.mu.queue
	c.mu.queue = nil
	if peerEOF {
		c.mu.frames = append(c.mu.frames, rest...)
	} else {
		c.mu.frames = nil
	}
	c.mu.orphans = len(c.mu.frames) > 0
	c.checkDrainedLocked()
	c.mu.Unlock()
	// Handlers see a cancelled context from here on: a waiting long poll
	// answers at once; a write (Produce) still happens.
	c.cancel()
	close(c.done)
	c.tcp.Close()
	for _, it := range queue {
		if it.resp != nil {
			it.resp.Release()
		}
	}
}

// dispatch runs on the event loop (OnTraffic and Wake): it hands every
// whole buffered frame to the request goroutine until the budget is
// spent. Partial frames stay in gnet's buffer; each whole frame is copied
// once, into a fresh slice the Handler will own.
func (c *conn) dispatch() gnet.Action {
	c.lastActive.Store(nowNano()) // any input counts as activity
	max := c.srv.cfg.MaxRequestBytes
	for {
		prefix, err := c.gc.Peek(sizeLen)
		if err != nil {
			return gnet.None // fewer than 4 bytes buffered
		}
		size, err := frameSize(prefix, max)
		if err != nil {
			c.srv.stats.rejected.Add(1)
			c.srv.log.Warn("netio: closing connection", "conn", c.pub.id, "remote", c.pub.remoteAddr, "err", err)
			return gnet.Close
		}
		if c.gc.InboundBuffered() < sizeLen+int(size) {
			return gnet.None
		}
		if !c.admit() {
			return c.checkOverflow()
		}
		c.enqueueFrame(c.takeFrame(int(size)))
	}
}

// takeBufferedFrames takes every whole frame still in gnet's buffer,
// whatever the budget (onClose, on the event loop).
func (c *conn) takeBufferedFrames() [][]byte {
	var out [][]byte
	for {
		prefix, err := c.gc.Peek(sizeLen)
		if err != nil {
			return out
		}
		size, err := frameSize(prefix, c.srv.cfg.MaxRequestBytes)
		if err != nil || c.gc.InboundBuffered() < sizeLen+int(size) {
			return out
		}
		out = append(out, c.takeFrame(int(size)))
		c.srv.stats.requests.Add(1)
	}
}

// takeFrame moves the whole frame at the head of gnet's buffer (size
// bytes after the prefix, all buffered) into a fresh slice: gnet reuses
// its buffer after OnTraffic returns.
func (c *conn) takeFrame(size int) []byte {
	if _, err := c.gc.Discard(sizeLen); err != nil {
		panic(fmt.Sprintf("BUG: netio: Discard(%d): %v", sizeLen, err))
	}
	frame := newFrame(size)
	if size == 0 {
		return frame
	}
	if n, err := c.gc.Read(frame); n != size {
		panic(fmt.Sprintf("BUG: netio: %d-byte frame was buffered but Read gave %d: %v", size, n, err))
	}
	return frame
}

// admit reports whether the event loop may dispatch one more frame; if
// not because of the budget, it marks c paused so the next refund wakes
// the loop.
func (c *conn) admit() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.stopped || c.mu.draining {
		return false
	}
	if c.mu.charged >= c.srv.cfg.ConnBudgetBytes {
		c.mu.paused = true
		return false
	}
	return true
}

// checkOverflow closes c when gnet has buffered more unread input than a
// paused connection may hold (gnet v2.9.0 cannot stop reading a socket).
func (c *conn) checkOverflow() gnet.Action {
	limit := int64(c.srv.cfg.MaxRequestBytes) + sizeLen + c.srv.cfg.ConnBudgetBytes
	if int64(c.gc.InboundBuffered()) <= limit {
		return gnet.None
	}
	c.srv.stats.overflows.Add(1)
	c.srv.log.Warn("netio: closing connection: unread input over limit",
		"conn", c.pub.id, "remote", c.pub.remoteAddr, "buffered", c.gc.InboundBuffered(), "limit", limit)
	return gnet.Close
}

func (c *conn) enqueueFrame(frame []byte) {
	c.srv.stats.requests.Add(1)
	c.lastActive.Store(nowNano())
	c.mu.Lock()
	c.mu.frames = append(c.mu.frames, frame)
	c.chargeLocked(int64(len(frame)))
	c.mu.Unlock()
	kick(c.reqKick)
}

// serveRequests is the request goroutine: it calls the Handler for each
// frame in order, one at a time, and queues the responses.
func (c *conn) serveRequests() {
	defer c.srv.conns.Done()
	for {
		frame, ok := c.nextFrame()
		if !ok {
			return
		}
		resp, err, panicked := c.handle(frame)
		if !c.queueResponse(int64(len(frame)), resp, err, panicked) {
			return
		}
	}
}

// nextFrame waits for a frame and for room for its response: it does not
// start a request while ConnBudgetBytes of responses wait for the writer.
func (c *conn) nextFrame() ([]byte, bool) {
	for {
		c.mu.Lock()
		if c.mu.closed && (!c.mu.orphans || len(c.mu.frames) == 0) {
			c.mu.orphans = false
			c.mu.Unlock()
			return nil, false
		}
		if len(c.mu.frames) > 0 && (c.mu.closed || c.mu.respBytes < c.srv.cfg.ConnBudgetBytes) {
			frame := c.mu.frames[0]
			c.mu.frames[0] = nil
			c.mu.frames = c.mu.frames[1:]
			c.mu.handling = true
			c.mu.Unlock()
			return frame, true
		}
		c.mu.Unlock()
		select {
		case <-c.reqKick:
		case <-c.done:
		}
	}
}

// handle calls the Handler, recovering a panic.
func (c *conn) handle(frame []byte) (resp *Response, err error, panicked bool) {
	defer func() {
		if p := recover(); p != nil {
			c.srv.stats.panics.Add(1)
			c.srv.log.Error("netio: handler panicked; closing connection", "conn", c.pub.id,
				"remote", c.pub.remoteAddr, "panic", p, "stack", string(debug.Stack()))
			resp, err, panicked = nil, fmt.Errorf("netio: handler panicked: %v", p), true
		}
	}()
	resp, err = c.srv.h.Handle(c.ctx, &c.pub, frame)
	return resp, err, false
}

// queueResponse hands a Handler's result to the writer and reports whether
// the request goroutine goes on.
func (c *conn) queueResponse(frameLen int64, resp *Response, err error, panicked bool) bool {
	c.mu.Lock()
	c.mu.handling = false
	c.chargeLocked(-frameLen)
	if c.mu.closed || panicked {
		if panicked {
			c.mu.orphans = false
		}
		goOn := c.mu.closed && c.mu.orphans && err == nil
		c.requestCloseLocked()
		c.checkDrainedLocked()
		c.mu.Unlock()
		if resp != nil {
			resp.Release()
		}
		return goOn
	}
	if resp != nil {
		size := sizeLen + resp.Len()
		c.mu.queue = append(c.mu.queue, outItem{resp: resp, size: size})
		c.mu.respBytes += size
		c.chargeLocked(size)
	}
	if err != nil {
		c.srv.log.Debug("netio: handler error; closing connection after queued responses",
			"conn", c.pub.id, "remote", c.pub.remoteAddr, "err", err)
		c.mu.stopped = true
		c.mu.queue = append(c.mu.queue, outItem{closeAfter: true})
	}
	c.checkDrainedLocked()
	c.mu.Unlock()
	kick(c.writeKick)
	return err == nil
}

func nowNano() int64 { return time.Now().UnixNano() }
