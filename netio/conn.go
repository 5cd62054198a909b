package netio

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
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
	gc  gnet.Conn // only Close and Wake are called off the event loop, until muted; nil on a TLS listener
	pub Conn
	ip  string // counted by the connection limits

	tcp *net.TCPConn    // the writer's dup of the socket (the socket itself on a TLS listener)
	raw syscall.RawConn // tcp's RawConn, for sendfile
	tls *tls.Conn       // on a TLS listener, the session over tcp that reads and writes; nil otherwise
	hs  *handshakeConn  // on a TLS listener, tcp as tls reads it (names a client's plaintext alert)

	ctx    context.Context // handlers' context; cancelled by onClose
	cancel context.CancelFunc

	reqKick   chan struct{} // one slot: a frame was queued or response bytes drained
	compKick  chan struct{} // one slot: settle claimed the idle completer
	writeKick chan struct{} // one slot: a response was queued
	readKick  chan struct{} // one slot: a muted connection's budget has room, or close requested
	done      chan struct{} // closed by onClose

	drained     chan struct{} // closed once draining and idle, or closed
	drainedOnce sync.Once

	lastActive   atomic.Int64 // UnixNano of the last byte received or sent
	handshaking  atomic.Bool  // a TLS handshake is under way: HandshakeTimeout, not idleness, bounds it
	lastWrite    atomic.Int64 // UnixNano of the writer's last progress (batch taken, chunk sent)
	partialSince atomic.Int64 // UnixNano since a partial frame waits for its rest; 0: none

	maxReq atomic.Int32 // the largest request framed from now on (Conn.SetMaxRequestBytes)

	firstChecked bool // event loop only: the first bytes were checked for a TLS ClientHello

	// asm is the frame being read straight into its own buffer (event
	// loop only): asm[:asmN] has arrived. nil: none (startDirect).
	asm     []byte
	asmN    int
	asmScan FrameScan // asm's, or nil

	// taken are the frames frameLoop took and has not handed on yet, and
	// takenBytes their bytes (owned by whoever runs frameLoop: the event
	// loop, or a muted connection's read goroutine): delivered together,
	// with one lock, one charge and one wake-up (handOn).
	taken      [][]byte
	takenBytes int64

	w writerState // owned by the goroutine that set mu.writing (writer.go)

	mu struct {
		sync.Mutex
		frames [][]byte // dispatched, not yet handed to the Handler
		// frameBuf is the head of frames' array: frames starts there
		// again once it is empty (nextFrame takes frames[0] by slicing,
		// which would otherwise use up the array and reallocate it).
		frameBuf [][]byte
		// scans holds the FrameScan of frames in frames that have one,
		// by the address of their first byte.
		scans     map[*byte]FrameScan
		reqDone   bool // the request goroutine ended: frames are recycled, not queued
		queue     []outItem
		queueFile bool  // a response in queue has a file region: the writer goroutine sends it
		charged   int64 // bytes counted against ConnBudgetBytes
		respBytes int64 // response bytes queued or being written
		handling  bool  // the Handler is running
		writing   bool  // a goroutine holds responses taken from queue (and c.w)
		wdone     bool  // a write failed or a close was sent: nothing more is written
		writerOn  bool  // the writer goroutine was started (on first use)
		paused    bool  // the event loop stopped dispatching (over budget)
		muting    bool  // dispatch asked gnet to close so that reading moves to a goroutine
		muted     bool  // gnet's side is closed: a read goroutine reads c.tcp
		stopped   bool  // no more dispatch: handler error, panic or close requested
		draining  bool  // Shutdown: finish what was dispatched
		lingering bool  // Shutdown half-closed c: read and drop input until the client closes
		closeSent bool  // close was requested (gc.Close, or c.tcp.Close when muted)
		closed    bool  // onClose ran: gc must not be used any more
		// orphans: the client closed with whole requests received but not
		// served; they are served (responses discarded), as Kafka does.
		orphans bool
		// flights: requests handled whose responses are not queued yet,
		// in request order, while any of them is Pending (pipeline.go);
		// waits counts the Pending ones whose wait has not returned;
		// completing: the completer goroutine runs; compIdle: it waits
		// for a flight (completerLinger) and settle has not claimed it.
		flights    []flight
		waits      int
		completing bool
		compIdle   bool
		failed     bool // a Handler error or panic was queued: serve no more
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
func newConn(s *Server, gc gnet.Conn, e *enrollee) (*conn, error) {
	tcp, err := dupTCP(gc.Fd())
	if err != nil {
		return nil, err
	}
	c, err := newConnOn(s, tcp, e)
	if err != nil {
		return nil, err
	}
	c.gc = gc
	return c, nil
}

// newConnOn makes a connection whose writer writes on tcp (and whose
// socket is closed by closing tcp).
func newConnOn(s *Server, tcp *net.TCPConn, e *enrollee) (*conn, error) {
	raw, err := tcp.SyscallConn()
	if err != nil {
		tcp.Close()
		return nil, fmt.Errorf("cannot get the socket's RawConn: %w", err)
	}
	c := &conn{
		srv: s, ip: e.ip, tcp: tcp, raw: raw,
		reqKick:   make(chan struct{}, 1),
		compKick:  make(chan struct{}, 1),
		writeKick: make(chan struct{}, 1),
		readKick:  make(chan struct{}, 1),
		done:      make(chan struct{}),
		drained:   make(chan struct{}),
	}
	c.pub = Conn{id: s.nextID.Add(1), remoteAddr: tcp.RemoteAddr(), localAddr: tcp.LocalAddr(),
		listener: e.l.Name, protocol: e.l.Protocol, maxReq: &c.maxReq, maxDefault: s.cfg.MaxRequestBytes}
	c.pub.settle, c.pub.ahead = c.waitFlights, c.waitsAhead
	c.maxReq.Store(s.cfg.MaxRequestBytes)
	if e.l.Protocol.SASL() {
		c.maxReq.Store(min(s.cfg.MaxRequestBytes, s.cfg.SASLMaxReceiveBytes))
	}
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	c.lastActive.Store(nowNano())
	c.lastWrite.Store(nowNano())
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
// event loop's task queue: goroutine-safe and non-blocking). A muted
// connection is not on gnet any more: closing its socket wakes its read
// goroutine, which finishes it.
func (c *conn) requestCloseLocked() {
	c.mu.stopped = true
	if c.mu.closed || c.mu.closeSent {
		return
	}
	c.mu.closeSent = true
	if c.mu.muted {
		c.tcp.Close()
		kick(c.readKick)
		return
	}
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
	if n >= 0 || c.mu.charged >= c.srv.cfg.ConnBudgetBytes {
		return
	}
	if c.mu.muted {
		kick(c.readKick)
		return
	}
	if !c.mu.paused || c.mu.muting {
		return
	}
	c.mu.paused = false
	if err := c.gc.Wake(nil); err != nil {
		c.srv.log.Warn("netio: cannot wake connection", "conn", c.pub.id, "err", err)
	}
}

// idleLocked reports whether nothing is dispatched, served or being sent.
func (c *conn) idleLocked() bool {
	return len(c.mu.frames) == 0 && !c.mu.handling && len(c.mu.flights) == 0 && len(c.mu.queue) == 0 && !c.mu.writing
}

// checkDrainedLocked closes drained once Shutdown's wait is over for c.
func (c *conn) checkDrainedLocked() {
	if c.mu.closed || (c.mu.draining && c.idleLocked()) {
		c.drainedOnce.Do(func() { close(c.drained) })
	}
}

// halfClose is Shutdown's lingering close of a drained connection: it
// sends FIN after c's last response and makes a read goroutine (a muted or
// TLS connection), which stopped reading when the drain began, read and
// drop the client's input until the client closes. gnet goes on reading a
// connection of its own: dispatch admits nothing while draining, and
// onClose drops what gnet buffered. deadline bounds a TLS close_notify's
// write to a client that reads nothing.
func (c *conn) halfClose(deadline time.Time) {
	c.mu.Lock()
	if c.mu.closed || c.mu.closeSent {
		c.mu.Unlock()
		return
	}
	c.mu.lingering = true
	c.mu.Unlock()
	kick(c.readKick)
	// Errors are those of a connection closing under us (onClose closes
	// c.tcp): nothing to do.
	_ = c.tcp.SetWriteDeadline(deadline)
	if c.tls != nil {
		_ = c.tls.CloseWrite() // close_notify; the client's read ends cleanly
	}
	_ = c.tcp.CloseWrite()
}

// beginDrain stops dispatch; drained closes when what was dispatched has
// been answered.
func (c *conn) beginDrain() {
	c.mu.Lock()
	c.mu.draining = true
	c.checkDrainedLocked()
	c.mu.Unlock()
}

// timeout is why the ticker closed a connection.
type timeout int

const (
	noTimeout timeout = iota
	idleTimeout
	writeTimeout
	frameTimeout
)

// deadlines are the ticker's cut-offs, UnixNano; 0 disables one.
type deadlines struct {
	idle  int64 // no byte received or sent since: close if nothing is pending
	write int64 // responses pending and no write progress since: close
	frame int64 // a partial frame waiting since: close
}

// mayTimeOut is the lock-free pre-check of checkTimeouts.
func (c *conn) mayTimeOut(d deadlines) bool {
	p := c.partialSince.Load()
	return d.frame != 0 && p != 0 && p < d.frame ||
		d.idle != 0 && (c.lastActive.Load() < d.idle || c.lastWrite.Load() < d.write)
}

// checkTimeouts closes c if one of its deadlines passed. A connection
// whose Handler is running is never idle (a long poll finishes on its
// own); one whose writer is stuck is closed whatever else it does, which
// releases the file regions its queued responses pin.
func (c *conn) checkTimeouts(d deadlines) timeout {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closeSent || c.mu.closed {
		return noTimeout
	}
	var why timeout
	switch p := c.partialSince.Load(); {
	case d.frame != 0 && p != 0 && p < d.frame:
		why = frameTimeout
	case d.write != 0 && c.mu.writing && c.lastWrite.Load() < d.write:
		why = writeTimeout
	case d.idle != 0 && c.idleLocked() && !c.handshaking.Load() && c.lastActive.Load() < d.idle:
		why = idleTimeout
	default:
		return noTimeout
	}
	// Counted before the close, so that a client that saw the close finds
	// it in Stats.
	c.srv.countTimeout(why)
	c.requestCloseLocked()
	return why
}

// onClose runs on the event loop when gnet closes the connection. It
// closes the writer's socket (so the peer sees FIN once gnet closes its
// descriptor too), stops the writer and releases every response that will
// not be sent. A Handler still running finds the connection closed when it
// returns and releases its own response. When the client closed its side
// (peerEOF), the whole requests it sent before are still served (with the
// cancelled context), responses discarded: an acks=0 producer that sends
// and closes loses nothing.
func (c *conn) onClose(peerEOF bool, rest [][]byte) {
	c.mu.Lock()
	c.srv.charge(-c.mu.charged, 0) // frames, queued responses and the writer's batch
	c.mu.charged, c.mu.respBytes = 0, 0
	c.mu.closed = true
	c.mu.stopped = true
	c.partialSince.Store(0)
	queue := c.mu.queue
	c.mu.queue = nil
	var drop [][]byte
	switch {
	case c.mu.reqDone:
		drop = rest
	case peerEOF && c.mu.draining:
		// Sent after Shutdown stopped dispatching: not served. The client
		// sends them again elsewhere; served here unanswered, an
		// idempotent producer's batches would be written twice.
		drop = rest
	case peerEOF:
		c.mu.frames = append(c.mu.frames, rest...)
	}
	// Frames not served are recycled by the request goroutine as it ends
	// (dropFrames): it may be looking at the next one (Quick).
	c.mu.orphans = peerEOF && len(c.mu.frames) > 0
	c.checkDrainedLocked()
	c.mu.Unlock()
	for _, f := range drop {
		RecycleFrame(f)
	}
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

// muteAfter is how much input gnet may buffer for a connection whose
// budget is spent before its reading is handed to a goroutine (mute).
const muteAfter = 1 << 20

// dispatch runs on the event loop (OnTraffic and Wake): it hands every
// whole buffered frame to the request goroutine until the budget is
// spent (frameLoop). A partial frame the budget admits is read straight
// into its own buffer from then on (startDirect); other partial frames
// stay in gnet's buffer.
func (c *conn) dispatch() gnet.Action {
	c.lastActive.Store(nowNano()) // any input counts as activity
	if !c.firstChecked && c.gc.InboundBuffered() >= tlsHeaderLen {
		c.firstChecked = true
		if b, err := c.gc.Peek(tlsHeaderLen); err == nil && tlsClientHello(b) {
			c.srv.refuseTLS(c)
			return gnet.Close
		}
	}
	for {
		if c.asm != nil && !c.fillDirect() {
			c.notePartial(framePartial)
			return gnet.None
		}
		st, err := frameLoop(c.gc, c.maxReq.Load(), c)
		if err != nil {
			c.srv.stats.rejected.Add(1)
			c.srv.log.Warn("netio: closing connection", "conn", c.pub.id, "remote", c.pub.remoteAddr, "err", err)
			return gnet.Close
		}
		if st == framePartial && c.startDirect() {
			continue
		}
		c.notePartial(st)
		if st == frameBlocked {
			return c.overBudget()
		}
		return gnet.None
	}
}

// directMin is the frame size from which a partial frame waits in gnet's
// buffer until an eighth of it has arrived before a new buffer is
// allocated for it: a client cannot make the broker allocate more than 8
// times what it sent (or directMin) for a frame. A frame the Handler
// recycles (FrameRecycler) is mapped (framepool.go) and taken at once,
// from the free list or new: a mapping's pages cost memory only once
// written, so the frame's memory follows what arrived without the wait,
// and gnet's buffer (which grows to what waits in it and keeps that
// size) stays small.
const directMin = 256 << 10

// startDirect begins reading the partial frame at the head of gnet's
// buffer straight into a frame buffer, when the budget admits it: each of
// its bytes is then copied once, from gnet's read buffer into the frame,
// instead of into gnet's ring buffer (which would grow to the frame's
// size and keep that size) and out again. It reports whether it began.
func (c *conn) startDirect() bool {
	n := c.gc.InboundBuffered()
	if n < sizeLen {
		return false
	}
	prefix, err := c.gc.Peek(sizeLen)
	if err != nil {
		return false
	}
	size, err := frameSize(prefix, c.maxReq.Load())
	if err != nil || int(size) <= n-sizeLen || n < sizeLen+FrameHeadLen {
		return false // frameLoop closes on a bad prefix; a whole frame is not partial; wait for the head
	}
	if !c.admit() {
		return false
	}
	peeked, err := c.gc.Peek(sizeLen + FrameHeadLen)
	if err != nil {
		return false
	}
	// A copy: when the bytes span gnet's ring and read buffers, Peek
	// returns a buffer of gnet's pool that Discard gives back, and the
	// head is still read after that (scan).
	var head [sizeLen + FrameHeadLen]byte
	copy(head[:], peeked)
	mapped := c.recycles(head[sizeLen:])
	var frame []byte
	if mapped {
		frame = freeFrame(int(size))
	}
	if frame == nil {
		if !mapped && int(size) > directMin && 8*(n-sizeLen) < int(size) {
			return false
		}
		frame = newFrame(int(size), mapped)
	}
	if _, err := c.gc.Discard(sizeLen); err != nil {
		panic(fmt.Sprintf("BUG: netio: Discard(%d): %v", sizeLen, err))
	}
	c.asm, c.asmN = frame, 0
	c.asmScan = c.scan(head[sizeLen:], int(size))
	return true
}

// fillDirect moves what gnet has buffered into the frame being read
// directly, then reads the socket straight into the frame while it has
// data, and delivers the frame once whole (true). The socket is
// non-blocking; a read that gives nothing (EAGAIN), the peer's EOF or an
// error ends the reading here, and gnet's next read on the level-triggered
// poller sees the same and closes as usual (a peer's EOF still serves
// the whole requests sent before it). Frame bytes read this way are
// copied by the kernel only, socket to frame.
func (c *conn) fillDirect() bool {
	m, _ := c.gc.Read(c.asm[c.asmN:])
	c.asmN += m
	if m > 0 && c.asmScan != nil {
		c.asmScan.Arrived(c.asm, c.asmN)
	}
	for c.asmN < len(c.asm) && c.gc.InboundBuffered() == 0 {
		n, err := unix.Read(c.gc.Fd(), c.asm[c.asmN:scanEnd(c.asmScan, c.asmN, len(c.asm))])
		if n <= 0 || err != nil {
			break
		}
		c.asmN += n
		if c.asmScan != nil {
			c.asmScan.Arrived(c.asm, c.asmN)
		}
	}
	if c.asmN < len(c.asm) {
		return false
	}
	frame, scan := c.asm, c.asmScan
	c.asm, c.asmN, c.asmScan = nil, 0, nil
	c.deliverScanned(frame, scan)
	return true
}

// dropDirect recycles a partial frame that will never be whole (the
// connection closed on the event loop).
func (c *conn) dropDirect() {
	if c.asm != nil {
		RecycleFrame(c.asm)
		c.asm, c.asmN, c.asmScan = nil, 0, nil
	}
}

// notePartial starts the frame deadline when a frame is partly received
// and clears it otherwise (a whole frame we do not admit is not the
// client's delay).
func (c *conn) notePartial(st frameState) {
	if st == framePartial {
		c.partialSince.CompareAndSwap(0, nowNano())
	} else {
		c.partialSince.Store(0)
	}
}

// takeBufferedFrames takes every whole frame still in gnet's buffer,
// whatever the budget (onClose, on the event loop).
func (c *conn) takeBufferedFrames() [][]byte {
	var all takeAll
	frameLoop(c.gc, c.maxReq.Load(), &all)
	c.srv.stats.requests.Add(uint64(len(all)))
	return all
}

// takeAll is a frameSink that admits everything (its frames are on the
// heap: it is for a closing connection's last frames).
type takeAll [][]byte

func (t *takeAll) admit() bool                { return true }
func (t *takeAll) deliver(fr []byte)          { *t = append(*t, fr) }
func (t *takeAll) handOn()                    {}
func (t *takeAll) recycles(head []byte) bool  { return false }
func (t *takeAll) scan([]byte, int) FrameScan { return nil }

// scan asks the Handler for the FrameScan of a frame starting with head,
// of size bytes, that is read in pieces (frameSink).
func (c *conn) scan(head []byte, size int) FrameScan {
	if c.srv.scanner == nil {
		return nil
	}
	return c.srv.scanner.ScanFrame(head, size)
}

// recycles asks the Handler whether it recycles a frame starting with
// head (frameSink): such frames may be mapped outside the heap.
func (c *conn) recycles(head []byte) bool {
	return c.srv.recycler != nil && c.srv.recycler.Recycles(head)
}

// admit reports whether one more frame may be dispatched; if not because
// of the budget, it marks c paused so the next refund wakes the loop.
func (c *conn) admit() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.stopped || c.mu.draining {
		return false
	}
	if c.mu.charged+c.takenBytes >= c.srv.cfg.ConnBudgetBytes {
		c.mu.paused = true
		return false
	}
	return true
}

// overBudget runs when frames wait in gnet's buffer. gnet v2.9.0 cannot
// stop reading a socket, so once gnet holds more than muteAfter unread
// bytes of a connection whose budget is spent, the connection is muted:
// gnet closes its descriptor (the socket lives on in the writer's dup)
// and a read goroutine takes over, reading only while the budget has
// room, so TCP slows the client as Kafka's channel muting does. A
// connection that stopped dispatching for good (a Handler error) or is
// draining is closed instead once its input passes the old bound.
func (c *conn) overBudget() gnet.Action {
	buffered := int64(c.gc.InboundBuffered())
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.stopped || c.mu.draining {
		limit := int64(c.srv.cfg.MaxRequestBytes) + sizeLen + c.srv.cfg.ConnBudgetBytes
		if buffered <= limit {
			return gnet.None
		}
		c.srv.stats.overflows.Add(1)
		c.srv.log.Warn("netio: closing connection: unread input over limit",
			"conn", c.pub.id, "remote", c.pub.remoteAddr, "buffered", buffered, "limit", limit)
		return gnet.Close
	}
	if buffered <= muteAfter || c.mu.closeSent {
		return gnet.None
	}
	c.mu.muting = true
	return gnet.Close
}

// handOff runs in OnClose: if dispatch asked for the close to mute c (and
// nothing asked for a real close since), it moves gnet's buffered input
// to a read goroutine and reports true; gnet then closes only its own
// descriptor.
func (c *conn) handOff() bool {
	c.mu.Lock()
	if !c.mu.muting || c.mu.closeSent || c.mu.closed {
		c.mu.Unlock()
		return false
	}
	c.mu.muting, c.mu.muted, c.mu.paused = false, true, false
	c.mu.Unlock()
	if c.asm != nil {
		panic("BUG: netio: muting a connection with a frame half read directly")
	}
	leftover := make([]byte, c.gc.InboundBuffered())
	if _, err := io.ReadFull(c.gc, leftover); err != nil {
		panic(fmt.Sprintf("BUG: netio: cannot take %d buffered bytes: %v", len(leftover), err))
	}
	c.srv.stats.muted.Add(1)
	c.srv.conns.Add(1)
	go c.readLoop(newFrameReader(c.tcp, leftover))
	return true
}

// readLoop reads a muted connection: it frames what is buffered, waits
// while the budget is spent (not reading, so TCP pushes back), and reads
// the socket only for more input. It finishes the connection when the
// socket fails or closes, or close is requested.
func (c *conn) readLoop(fr *frameReader) {
	defer c.srv.conns.Done()
	c.endRead(c.readFrames(fr))
}

// endRead finishes a connection read by a goroutine (muted, or TLS) once
// reading stopped with err.
func (c *conn) endRead(err error) {
	peerEOF := errors.Is(err, io.EOF)
	if err != nil && !peerEOF && !errors.Is(err, net.ErrClosed) {
		c.srv.log.Debug("netio: connection closed", "conn", c.pub.id, "remote", c.pub.remoteAddr, "err", err)
	}
	c.mu.Lock()
	c.mu.closeSent = true // no gnet Close any more; c.tcp is closed by onClose
	c.mu.Unlock()
	c.finish(peerEOF, nil)
}

func (c *conn) readFrames(fr *frameReader) error {
	defer fr.dropDirect()
	for {
		max := c.maxReq.Load()
		st, err := frameLoop(fr, max, c)
		if err != nil {
			c.srv.stats.rejected.Add(1)
			c.srv.log.Warn("netio: closing connection", "conn", c.pub.id, "remote", c.pub.remoteAddr, "err", err)
			return err
		}
		if st == framePartial && fr.direct == nil && c.admit() {
			fr.startDirect(max, c)
		}
		if fr.direct != nil {
			st = framePartial // the frame read directly is the partial one
		}
		c.notePartial(st)
		if st == frameBlocked {
			if !c.waitBudget() {
				if c.lingers() {
					return discardInput(fr)
				}
				return net.ErrClosed
			}
			continue
		}
		if err := fr.fill(max); err != nil {
			return err
		}
		c.lastActive.Store(nowNano())
		if frame, scan := fr.takeDirect(); frame != nil {
			c.deliverScanned(frame, scan)
		}
	}
}

// lingers reports whether Shutdown half-closed c (halfClose).
func (c *conn) lingers() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.lingering && !c.mu.closeSent && !c.mu.closed
}

// discardInput reads and drops the client's input until it closes its
// side, which it reports as io.EOF, or the socket fails (halfClose).
func discardInput(fr *frameReader) error {
	fr.off = len(fr.buf)
	if _, err := io.Copy(io.Discard, fr.r); err != nil {
		return err
	}
	return io.EOF
}

// waitBudget waits until c may dispatch again; false once c is closing or
// lingering (halfClose).
func (c *conn) waitBudget() bool {
	for {
		c.mu.Lock()
		closing := c.mu.closeSent || c.mu.closed || c.mu.lingering
		ok := !c.mu.stopped && !c.mu.draining && c.mu.charged < c.srv.cfg.ConnBudgetBytes
		c.mu.Unlock()
		switch {
		case closing:
			return false
		case ok:
			return true
		}
		select {
		case <-c.readKick:
		case <-c.done:
			return false
		}
	}
}

// deliver takes a frame from frameLoop (frameSink); handOn queues it for
// the request goroutine with the others of the same loop.
func (c *conn) deliver(frame []byte) {
	c.taken = append(c.taken, frame)
	c.takenBytes += int64(len(frame))
}

// handOn queues the frames deliver took (frameSink), in order.
func (c *conn) handOn() {
	if len(c.taken) == 0 {
		return
	}
	c.queueFrames(c.taken, nil)
	clear(c.taken)
	c.taken, c.takenBytes = c.taken[:0], 0
}

// deliverScanned queues a frame read in pieces and the FrameScan that
// saw it arrive (nil: none) for the request goroutine.
func (c *conn) deliverScanned(frame []byte, scan FrameScan) {
	c.queueFrames([][]byte{frame}, scan)
}

// queueFrames queues frames for the request goroutine, scan (nil: none)
// being the last one's. The frame deadline restarts: it bounds each
// frame, not a stream of them.
func (c *conn) queueFrames(frames [][]byte, scan FrameScan) {
	c.srv.stats.requests.Add(uint64(len(frames)))
	c.partialSince.Store(0)
	c.lastActive.Store(nowNano())
	c.mu.Lock()
	if c.mu.reqDone { // nobody will serve them
		c.mu.Unlock()
		for _, frame := range frames {
			RecycleFrame(frame)
		}
		return
	}
	if len(c.mu.frames) == 0 {
		c.mu.frames = c.mu.frameBuf[:0]
	}
	before := cap(c.mu.frames)
	c.mu.frames = append(c.mu.frames, frames...)
	if cap(c.mu.frames) != before { // a new array: frames is its head
		c.mu.frameBuf = c.mu.frames[:0]
	}
	var n int64
	for _, frame := range frames {
		n += int64(len(frame))
	}
	if last := frames[len(frames)-1]; scan != nil && len(last) > 0 {
		if c.mu.scans == nil {
			c.mu.scans = make(map[*byte]FrameScan)
		}
		c.mu.scans[&last[0]] = scan
	}
	c.chargeLocked(n)
	c.mu.Unlock()
	kick(c.reqKick)
}

// dropFrames runs as the request goroutine ends: the frames it will not
// hand to the Handler are recycled, and frames delivered from now on are
// recycled at once.
func (c *conn) dropFrames() {
	c.mu.Lock()
	c.mu.reqDone = true
	frames := c.mu.frames
	c.mu.frames = nil // still charged: onClose refunds everything
	c.mu.frameBuf = nil
	clear(c.mu.scans)
	c.checkDrainedLocked()
	c.mu.Unlock()
	for _, f := range frames {
		RecycleFrame(f)
	}
}

// serveRequests is the request goroutine: it calls the Handler for each
// frame in order, one at a time, and queues the responses (through the
// completer once one is Pending: settle, pipeline.go).
func (c *conn) serveRequests() {
	defer c.srv.conns.Done()
	defer c.dropFrames()
	for {
		frame, scan, ok := c.nextFrame()
		if !ok {
			return
		}
		resp, err, panicked := c.handle(frame, scan)
		if !c.settle(flight{frameLen: int64(len(frame)), resp: resp, err: err, panicked: panicked}) {
			return
		}
	}
}

// nextFrame waits for a frame and for room for its response: it does not
// start a request while ConnBudgetBytes of responses wait for the writer.
func (c *conn) nextFrame() ([]byte, FrameScan, bool) {
	for {
		c.mu.Lock()
		if c.mu.failed || c.mu.closed && (!c.mu.orphans || len(c.mu.frames) == 0) {
			c.mu.orphans = false
			c.mu.Unlock()
			return nil, nil, false
		}
		if len(c.mu.frames) > 0 && (c.mu.closed || c.mu.respBytes < c.srv.cfg.ConnBudgetBytes) {
			frame := c.mu.frames[0]
			c.mu.frames[0] = nil
			c.mu.frames = c.mu.frames[1:]
			c.mu.handling = true
			scan := c.takeScanLocked(frame)
			c.mu.Unlock()
			return frame, scan, true
		}
		c.mu.Unlock()
		select {
		case <-c.reqKick:
		case <-c.done:
		}
	}
}

// takeScanLocked takes the FrameScan of a frame taken off mu.frames, or
// nil.
func (c *conn) takeScanLocked(frame []byte) FrameScan {
	if len(c.mu.scans) == 0 || len(frame) == 0 {
		return nil
	}
	scan := c.mu.scans[&frame[0]]
	if scan != nil {
		delete(c.mu.scans, &frame[0])
	}
	return scan
}

// handle calls the Handler with frame and the FrameScan that saw it
// arrive (Conn.FrameScan), recovering a panic.
func (c *conn) handle(frame []byte, scan FrameScan) (resp *Response, err error, panicked bool) {
	c.pub.cur, c.pub.scan = frame, scan
	defer func() {
		c.pub.cur, c.pub.scan = nil, nil
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

// queueResponseLocked hands a Handler's result (a complete response) to
// the writer and reports whether the request goroutine goes on, and a
// response to release once mu is unlocked. The caller kicks the writer.
func (c *conn) queueResponseLocked(f flight) (goOn bool, drop *Response) {
	c.mu.handling = false
	c.chargeLocked(-f.frameLen)
	if c.mu.failed { // an earlier error queued the close: nothing after it is sent
		c.checkDrainedLocked()
		return false, f.resp
	}
	if c.mu.closed || f.panicked {
		if f.panicked {
			c.mu.orphans = false
		}
		goOn = c.mu.closed && c.mu.orphans && f.err == nil
		if f.err != nil || f.panicked {
			c.mu.failed = true
		}
		c.requestCloseLocked()
		c.checkDrainedLocked()
		return goOn, f.resp
	}
	if f.resp != nil {
		size := sizeLen + f.resp.Len()
		c.mu.queue = append(c.mu.queue, outItem{resp: f.resp, size: size})
		c.mu.queueFile = c.mu.queueFile || f.resp.files
		c.mu.respBytes += size
		c.chargeLocked(size)
	}
	if f.err != nil {
		c.srv.log.Debug("netio: handler error; closing connection after queued responses",
			"conn", c.pub.id, "remote", c.pub.remoteAddr, "err", f.err)
		c.mu.stopped = true
		c.mu.failed = true
		c.mu.queue = append(c.mu.queue, outItem{closeAfter: true})
	}
	c.checkDrainedLocked()
	return f.err == nil, nil
}

func nowNano() int64 { return time.Now().UnixNano() }
