package netio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/sluice/sluice/internal/lograte"
	"github.com/sluice/sluice/listener"
)

// Server is a running listener: an accept goroutine, gnet event loops
// and, per connection, a request goroutine and a writer goroutine.
type Server struct {
	cfg         Config
	h           Handler
	quick       QuickChecker  // h's, or nil
	recycler    FrameRecycler // h's, or nil
	scanner     FrameScanner  // h's, or nil
	log         *slog.Logger
	lns         []*boundListener // one per Config.Listeners entry, in order
	cli         *gnet.Client     // gnet's event loops, without gnet's acceptor
	reserveMu   sync.Mutex       // taken by an accept goroutine around shedOne
	reserve     *os.File         // spare descriptor, guarded by reserveMu
	acceptWG    sync.WaitGroup   // the accept goroutines
	closeAccept chan struct{}    // closed by Shutdown: the accept goroutine stops
	closing     atomic.Bool      // Shutdown closed the listener
	acc         acceptState
	limits      *connLimits
	ctx         context.Context // parent of every connection's context
	cancel      context.CancelFunc
	idleDone    chan struct{} // closes to stop the idle ticker
	idleWG      sync.WaitGroup
	conns       sync.WaitGroup // connection goroutines
	nextID      atomic.Uint64
	stats       counters
	stopOnce    sync.Once

	lastAcceptLog, lastLimitLog atomic.Int64    // UnixNano of the last throttled warning
	wrongProtoLog               *lograte.PerKey // one TLS-on-PLAINTEXT warning per client IP per minute

	mu struct {
		sync.Mutex
		conns    map[*conn]struct{}
		draining bool // Shutdown started: new connections are closed at once
	}
}

// Stats are a Server's counters.
type Stats struct {
	ConnsOpen            int64  // connections open now
	ConnsAccepted        uint64 // connections accepted since Listen
	Requests             uint64 // frames dispatched to the Handler
	PanicsRecovered      uint64 // Handler panics recovered (each closed its connection)
	FramesRejected       uint64 // size prefixes < 0 or > MaxRequestBytes (each closed its connection)
	InboundOverflows     uint64 // connections that stopped dispatching (Handler error, draining) closed for unread input beyond MaxRequestBytes+ConnBudgetBytes
	IdleClosed           uint64 // connections closed by IdleTimeout with nothing pending
	WriteTimeouts        uint64 // connections closed because responses made no progress for IdleTimeout
	FrameTimeouts        uint64 // connections closed holding a partial frame for FrameTimeout
	Muted                uint64 // times a connection's reading was handed from gnet to a goroutine that stops reading over budget
	AcceptErrors         uint64 // failed accepts (EMFILE, ENFILE, ENOBUFS, …), each followed by a back-off
	ConnsShed            uint64 // connections closed unserved because descriptors ran out
	RefusedMaxConns      uint64 // connections closed by max.connections
	RefusedPerIP         uint64 // connections closed by max.connections.per.ip (or its overrides)
	RefusedRate          uint64 // connections closed by max.connection.creation.rate
	RefusedTLS           uint64 // connections closed because they opened with a TLS ClientHello (security.protocol=SSL or SASL_SSL on this PLAINTEXT listener)
	TLSHandshakes        uint64 // TLS handshakes completed (TLS listener)
	TLSHandshakeFailures uint64 // TLS handshakes that failed (wrong CA, no client certificate, not TLS, …), each closed its connection
	TLSHandshakeTimeouts uint64 // connections closed for not completing the TLS handshake within HandshakeTimeout
	TLSCopiedBytes       uint64 // file-region bytes read and encrypted through a buffer (no sendfile on TLS)
	ReplicaSendfileBytes uint64 // file-region bytes of followers' Fetch responses (Response.MarkReplica) sent by sendfile(2)
	ReplicaCopiedBytes   uint64 // the same bytes read and copied instead (TLS, or sendfile unsupported)
	InlineBatches        uint64 // batches of responses written by the goroutine that queued them (no hand-off)
	WriterBatches        uint64 // batches of responses written by a connection's writer goroutine
	QueuedBytes          int64  // bytes counted against budgets now, all connections
	MaxConnQueuedBytes   int64  // the most bytes one connection has had counted
	FrameBytesInUse      int64  // request frames mapped outside the Go heap and handed to the Handler, not recycled yet (FrameMemory; process-wide)
	FrameBytesFree       int64  // mapped frame buffers kept for reuse (FrameMemory; process-wide)
}

type counters struct {
	connsOpen, queuedBytes, maxConnQueued                  atomic.Int64
	accepted, requests, panics, rejected, overflows, idled atomic.Uint64
	writeTimeouts, frameTimeouts, muted                    atomic.Uint64
	acceptErrors, shed, tlsRefused                         atomic.Uint64
	tlsHandshakes, tlsFailures, tlsTimeouts, tlsCopied     atomic.Uint64
	replicaSendfile, replicaCopied                         atomic.Uint64
	inlineBatches, writerBatches                           atomic.Uint64
	completers                                             atomic.Uint64 // completer goroutines started (tests)
	refused                                                [refusedRate + 1]atomic.Uint64
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	c := &s.stats
	inUse, free := FrameMemory()
	return Stats{
		ConnsOpen:            c.connsOpen.Load(),
		ConnsAccepted:        c.accepted.Load(),
		Requests:             c.requests.Load(),
		PanicsRecovered:      c.panics.Load(),
		FramesRejected:       c.rejected.Load(),
		InboundOverflows:     c.overflows.Load(),
		IdleClosed:           c.idled.Load(),
		WriteTimeouts:        c.writeTimeouts.Load(),
		FrameTimeouts:        c.frameTimeouts.Load(),
		Muted:                c.muted.Load(),
		AcceptErrors:         c.acceptErrors.Load(),
		ConnsShed:            c.shed.Load(),
		RefusedMaxConns:      c.refused[refusedMaxConns].Load(),
		RefusedPerIP:         c.refused[refusedPerIP].Load(),
		RefusedRate:          c.refused[refusedRate].Load(),
		RefusedTLS:           c.tlsRefused.Load(),
		TLSHandshakes:        c.tlsHandshakes.Load(),
		TLSHandshakeFailures: c.tlsFailures.Load(),
		TLSHandshakeTimeouts: c.tlsTimeouts.Load(),
		TLSCopiedBytes:       c.tlsCopied.Load(),
		ReplicaSendfileBytes: c.replicaSendfile.Load(),
		ReplicaCopiedBytes:   c.replicaCopied.Load(),
		InlineBatches:        c.inlineBatches.Load(),
		WriterBatches:        c.writerBatches.Load(),
		QueuedBytes:          c.queuedBytes.Load(),
		MaxConnQueuedBytes:   c.maxConnQueued.Load(),
		FrameBytesInUse:      inUse,
		FrameBytesFree:       free,
	}
}

// Listen starts serving cfg.Addr with h and returns once the listening
// socket accepts connections (so a caller may signal readiness).
func Listen(cfg Config, h Handler) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errors.New("netio: nil Handler")
	}
	lns, err := listenAll(cfg.Listeners)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, h: h, log: cfg.Logger, lns: lns, limits: newConnLimits(cfg),
		wrongProtoLog: lograte.New(WrongProtocolLogEvery),
		closeAccept:   make(chan struct{}), idleDone: make(chan struct{})}
	s.quick, _ = h.(QuickChecker)
	s.recycler, _ = h.(FrameRecycler)
	s.scanner, _ = h.(FrameScanner)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.mu.conns = make(map[*conn]struct{})
	if s.reserve, err = os.Open(os.DevNull); err != nil {
		closeAll(lns)
		return nil, fmt.Errorf("netio: cannot open the spare descriptor: %w", err)
	}
	if err := s.startLoops(); err != nil {
		closeAll(lns)
		s.reserve.Close()
		return nil, fmt.Errorf("netio: cannot start event loops: %w", err)
	}
	for _, bl := range lns {
		s.acceptWG.Add(1)
		go s.acceptLoop(bl)
	}
	s.startIdleTicker()
	return s, nil
}

// startLoops starts gnet's event loops, with no listener: the accept
// goroutine enrolls each accepted socket. Only TLS listeners: none.
func (s *Server) startLoops() error {
	if !slices.ContainsFunc(s.cfg.Listeners, func(l listener.Listener) bool { return !l.Protocol.TLS() }) {
		return nil
	}
	cli, err := gnet.NewClient(&events{s: s},
		gnet.WithMulticore(s.cfg.Multicore),
		gnet.WithNumEventLoop(s.cfg.NumEventLoop),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithLogger(gnetLogger{s.log}),
	)
	if err != nil {
		return err
	}
	if err := cli.Start(); err != nil {
		return err
	}
	s.cli = cli
	return nil
}

// boundListener is one listening socket and the listener it serves.
type boundListener struct {
	ln *net.TCPListener
	l  listener.Listener
}

// listenAll binds every listener, or none.
func listenAll(ls []listener.Listener) ([]*boundListener, error) {
	var out []*boundListener
	for _, l := range ls {
		ln, err := net.Listen("tcp", l.Addr()) // SO_REUSEADDR, as gnet set it
		if err != nil {
			closeAll(out)
			return nil, fmt.Errorf("netio: cannot listen on %q (listener %s): %w", l.Addr(), l.Name, err)
		}
		out = append(out, &boundListener{ln: ln.(*net.TCPListener), l: l})
	}
	return out, nil
}

func closeAll(lns []*boundListener) {
	for _, bl := range lns {
		bl.ln.Close()
	}
}

// Addr is the address of the first listener, with the real port.
func (s *Server) Addr() net.Addr { return s.lns[0].ln.Addr() }

// Addrs are the listeners' addresses (with their real ports) by listener
// name.
func (s *Server) Addrs() map[string]net.Addr {
	out := make(map[string]net.Addr, len(s.lns))
	for _, bl := range s.lns {
		out[bl.l.Name] = bl.ln.Addr()
	}
	return out
}

// Shutdown stops taking connections (new ones are closed at once) and
// stops dispatching requests, waits until every request already
// dispatched has been served and its response sent, lingers (below),
// then stops the event loops and closes every connection. If ctx ends
// first, everything is closed at once and ctx's error is returned.
//
// The lingering close: once drained, each connection is half-closed (the
// client reads FIN after the last response) and kept open for reading
// until its client closes it, at most Config.ShutdownLinger (a connection
// quiet for lingerQuiet is closed sooner); what it sends meanwhile is read
// and dropped, never served. A pipelining client may
// still be writing requests as its last response leaves. Had the socket
// been closed, the kernel would answer those writes with RST, and a client
// whose write fails may tear its connection down before reading the
// responses already sent to it: franz-go then fails every request in
// flight, and an idempotent producer retries batches that were appended.
// After a restart the producer snapshot remembers only each producer's
// last batch (Kafka's format), so the retry of an older one is
// OUT_OF_ORDER_SEQUENCE_NUMBER and the producer starts over under a new
// id, writing those batches a second time.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.stopOnce.Do(func() { err = s.shutdown(ctx) })
	return err
}

func (s *Server) shutdown(ctx context.Context) error {
	s.stopAccepting()
	s.mu.Lock()
	s.mu.draining = true
	conns := make([]*conn, 0, len(s.mu.conns))
	for c := range s.mu.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	close(s.idleDone)
	for _, c := range conns {
		c.beginDrain()
	}
	// Handlers see their context done: a long poll (a Fetch waiting for
	// data) answers now with what it has instead of holding the drain.
	s.cancel()
	drainErr := waitAll(ctx, conns, func(c *conn) <-chan struct{} { return c.drained })
	if drainErr == nil {
		s.linger(ctx, conns)
	}
	stopErr := s.stopEngine(ctx)
	if drainErr != nil {
		return fmt.Errorf("netio: shutdown: in-flight requests unfinished: %w", drainErr)
	}
	if stopErr != nil {
		return fmt.Errorf("netio: shutdown: %w", stopErr)
	}
	return nil
}

// waitAll waits until ch(c) is closed for every c of conns, or ctx ends.
func waitAll(ctx context.Context, conns []*conn, ch func(*conn) <-chan struct{}) error {
	for _, c := range conns {
		select {
		case <-ch(c):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// linger half-closes every drained connection and waits until each is
// closed by its client, Config.ShutdownLinger passes or ctx ends. A
// connection quiet for lingerQuiet (no byte in or out: its client is not
// writing, and has had that long to read its last response) is closed
// without waiting for its client: many clients read only while they wait
// for an answer (franz-go, the brokers' own idle connections) and notice
// the FIN at their next request, which may be seconds away.
func (s *Server) linger(ctx context.Context, conns []*conn) {
	if s.cfg.ShutdownLinger <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownLinger)
	defer cancel()
	deadline, _ := ctx.Deadline()
	for _, c := range conns {
		c.halfClose(deadline)
	}
	quiet := time.Duration(lingerQuiet.Load())
	tick := time.NewTicker(min(quiet/4, 50*time.Millisecond))
	defer tick.Stop()
	for open := slices.Clone(conns); ; { // filtered in place: not the caller's slice
		cutoff := nowNano() - int64(quiet)
		left := open[:0]
		for _, c := range open {
			select {
			case <-c.done:
				continue
			default:
			}
			if c.lastActive.Load() < cutoff {
				c.requestClose() // its done follows
			}
			left = append(left, c)
		}
		if open = left; len(open) == 0 {
			return
		}
		select {
		case <-ctx.Done(): // the linger's end is no error
			return
		case <-tick.C:
		}
	}
}

// lingerQuiet is how long a lingering connection may go without a byte
// in or out before Shutdown closes it (a variable for tests).
var lingerQuiet atomic.Int64

func init() { lingerQuiet.Store(int64(250 * time.Millisecond)) }

// stopAccepting closes the listener (new connections are refused) and
// waits for the accept goroutine.
func (s *Server) stopAccepting() {
	s.closing.Store(true)
	close(s.closeAccept)
	closeAll(s.lns)
	s.acceptWG.Wait()
	if s.reserve != nil {
		s.reserve.Close()
		s.reserve = nil
	}
}

// stopEngine stops gnet's event loops (which close every connection they
// hold, running OnClose), closes the connections whose reading was
// handed to a goroutine, and waits for every connection goroutine.
func (s *Server) stopEngine(ctx context.Context) error {
	var stopErr error
	if s.cli != nil { // a TLS listener has no event loops
		stopped := make(chan error, 1)
		go func() { stopped <- s.cli.Stop() }()
		select {
		case stopErr = <-stopped:
		case <-ctx.Done():
			s.cancel()
			return ctx.Err()
		}
	}
	s.cancel() // handlers blocked on their context return now
	s.closeMuted()
	s.idleWG.Wait()
	done := make(chan struct{})
	go func() { s.conns.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("connection goroutines still running (a Handler ignores its context): %w", ctx.Err())
	}
	if stopErr != nil {
		return fmt.Errorf("gnet: %w", stopErr)
	}
	return nil
}

// closeMuted closes every connection no longer on a gnet event loop.
func (s *Server) closeMuted() {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.mu.conns))
	for c := range s.mu.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.requestClose()
	}
}

// startIdleTicker closes idle connections until Shutdown.
func (s *Server) startIdleTicker() {
	if s.cfg.IdleTimeout < 0 && s.cfg.FrameTimeout < 0 {
		return
	}
	s.idleWG.Add(1)
	go func() {
		defer s.idleWG.Done()
		t := time.NewTicker(s.cfg.tickEvery())
		defer t.Stop()
		for {
			select {
			case <-s.idleDone:
				return
			case now := <-t.C:
				s.closeIdle(now)
			}
		}
	}()
}

// countTimeout counts a connection about to be closed for why.
func (s *Server) countTimeout(why timeout) {
	switch why {
	case idleTimeout:
		s.stats.idled.Add(1)
	case writeTimeout:
		s.stats.writeTimeouts.Add(1)
	case frameTimeout:
		s.stats.frameTimeouts.Add(1)
	}
}

// closeIdle closes connections idle for IdleTimeout (no byte received
// or sent, nothing pending), those whose writer made no progress for
// IdleTimeout, and those holding a partial frame for FrameTimeout.
func (s *Server) closeIdle(now time.Time) {
	var d deadlines
	if s.cfg.IdleTimeout > 0 {
		d.idle = now.Add(-s.cfg.IdleTimeout).UnixNano()
		d.write = d.idle
	}
	if s.cfg.FrameTimeout > 0 {
		d.frame = now.Add(-s.cfg.FrameTimeout).UnixNano()
	}
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.mu.conns))
	for c := range s.mu.conns {
		if c.mayTimeOut(d) {
			conns = append(conns, c)
		}
	}
	s.mu.Unlock()
	for _, c := range conns {
		switch c.checkTimeouts(d) {
		case writeTimeout:
			s.log.Info("netio: closing connection: responses made no progress", "conn", c.pub.id,
				"remote", c.pub.remoteAddr, "timeout", s.cfg.IdleTimeout)
		case frameTimeout:
			s.log.Debug("netio: closing connection: partial request not completed in time", "conn", c.pub.id,
				"remote", c.pub.remoteAddr, "timeout", s.cfg.FrameTimeout)
		}
	}
}

// register adds c unless the server is draining; it reports whether it did.
func (s *Server) register(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.draining {
		return false
	}
	s.mu.conns[c] = struct{}{}
	s.conns.Add(1) // the request goroutine (the writer, the completer and a muted connection's reader add their own)
	return true
}

func (s *Server) unregister(c *conn) {
	s.mu.Lock()
	delete(s.mu.conns, c)
	s.mu.Unlock()
}

// charge adds n (which may be negative) to the server-wide queued bytes
// and records perConn as a high-water mark.
func (s *Server) charge(n, perConn int64) {
	s.stats.queuedBytes.Add(n)
	for {
		old := s.stats.maxConnQueued.Load()
		if perConn <= old || s.stats.maxConnQueued.CompareAndSwap(old, perConn) {
			return
		}
	}
}

// events is the gnet.EventHandler; its methods run on event loops.
type events struct {
	gnet.BuiltinEventEngine
	s *Server
}

// OnOpen runs when the accept goroutine enrolls a socket; gc's context is
// the client's IP, counted by the connection limits.
func (ev *events) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	s := ev.s
	e, _ := gc.Context().(*enrollee)
	if e == nil {
		s.log.Error("netio: BUG: connection enrolled without its listener", "remote", gc.RemoteAddr())
		return nil, gnet.Close
	}
	c, err := newConn(s, gc, e)
	if err != nil {
		if isFdExhausted(err) {
			s.stats.shed.Add(1)
			s.markFdExhausted(err)
			s.logThrottled(&s.lastAcceptLog, "netio: out of file descriptors; shedding new connections",
				"err", err, "shed_total", s.stats.shed.Load())
		} else {
			s.log.Error("netio: cannot set up connection", "remote", gc.RemoteAddr(), "err", err)
		}
		return nil, gnet.Close
	}
	if !s.register(c) {
		c.closeSocket()
		return nil, gnet.Close
	}
	gc.SetContext(c)
	s.acc.failingSince.Store(0) // a connection was set up: descriptors are available
	s.stats.accepted.Add(1)
	s.stats.connsOpen.Add(1)
	go c.serveRequests()
	return nil, gnet.None
}

// OnClose runs when gnet closes a connection: either it is done, or it
// was muted (its reading moves to a goroutine, see conn.mute).
func (ev *events) OnClose(gc gnet.Conn, err error) gnet.Action {
	c, ok := gc.Context().(*conn)
	if !ok {
		if e, ok := gc.Context().(*enrollee); ok {
			ev.s.limits.release(e.ip) // closed in OnOpen
		}
		return gnet.None
	}
	if c.handOff() {
		return gnet.None
	}
	c.dropDirect()
	if err != nil {
		ev.s.log.Debug("netio: connection closed", "conn", c.pub.id, "remote", c.pub.remoteAddr, "err", err)
	}
	peerEOF := peerClosed(err)
	var rest [][]byte
	if peerEOF {
		rest = c.takeBufferedFrames()
	}
	c.finish(peerEOF, rest)
	return gnet.None
}

// finish is the end of a connection, on whichever side saw it: OnClose for
// a connection on gnet, its read goroutine for a muted one.
func (c *conn) finish(peerEOF bool, rest [][]byte) {
	c.onClose(peerEOF, rest)
	c.srv.unregister(c)
	c.srv.limits.release(c.ip)
	c.srv.stats.connsOpen.Add(-1)
}

// peerClosed reports whether gnet closed the connection because the client
// closed its side (EOF), as opposed to an error or a close we asked for.
func peerClosed(err error) bool { return errors.Is(err, io.EOF) }

func (ev *events) OnTraffic(gc gnet.Conn) gnet.Action {
	c, ok := gc.Context().(*conn)
	if !ok {
		return gnet.Close
	}
	return c.dispatch()
}
