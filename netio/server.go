package netio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// Server is a running listener: gnet event loops plus, per connection, a
// request goroutine and a writer goroutine.
type Server struct {
	cfg      Config
	h        Handler
	log      *slog.Logger
	eng      gnet.Engine
	addr     net.Addr
	ctx      context.Context // parent of every connection's context
	cancel   context.CancelFunc
	runDone  chan struct{} // closed when gnet.Run has returned
	runErr   error         // gnet.Run's result, set before runDone closes
	idleDone chan struct{} // closes to stop the idle ticker
	idleWG   sync.WaitGroup
	conns    sync.WaitGroup // connection goroutines
	nextID   atomic.Uint64
	stats    counters
	stopOnce sync.Once

	mu struct {
		sync.Mutex
		conns    map[*conn]struct{}
		draining bool // Shutdown started: new connections are closed at once
	}
}

// Stats are a Server's counters.
type Stats struct {
	ConnsOpen          int64  // connections open now
	ConnsAccepted      uint64 // connections accepted since Listen
	Requests           uint64 // frames dispatched to the Handler
	PanicsRecovered    uint64 // Handler panics recovered (each closed its connection)
	FramesRejected     uint64 // size prefixes < 0 or > MaxRequestBytes (each closed its connection)
	InboundOverflows   uint64 // connections closed for unread input beyond MaxRequestBytes+ConnBudgetBytes
	IdleClosed         uint64 // connections closed by IdleTimeout
	QueuedBytes        int64  // bytes counted against budgets now, all connections
	MaxConnQueuedBytes int64  // the most bytes one connection has had counted
}

type counters struct {
	connsOpen, queuedBytes, maxConnQueued                  atomic.Int64
	accepted, requests, panics, rejected, overflows, idled atomic.Uint64
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	c := &s.stats
	return Stats{
		ConnsOpen:          c.connsOpen.Load(),
		ConnsAccepted:      c.accepted.Load(),
		Requests:           c.requests.Load(),
		PanicsRecovered:    c.panics.Load(),
		FramesRejected:     c.rejected.Load(),
		InboundOverflows:   c.overflows.Load(),
		IdleClosed:         c.idled.Load(),
		QueuedBytes:        c.queuedBytes.Load(),
		MaxConnQueuedBytes: c.maxConnQueued.Load(),
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
	s := &Server{cfg: cfg, h: h, log: cfg.Logger, runDone: make(chan struct{}), idleDone: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.mu.conns = make(map[*conn]struct{})
	booted := make(chan error, 1)
	ev := &events{s: s, booted: booted}
	go s.run(ev)
	select {
	case err = <-booted:
	case <-s.runDone:
		select {
		case err = <-booted:
		default:
			err = s.runErr
		}
		if err == nil {
			err = errors.New("gnet stopped before it booted")
		}
	}
	if err != nil {
		s.cancel()
		return nil, fmt.Errorf("netio: cannot listen on %q: %w", cfg.Addr, err)
	}
	s.startIdleTicker()
	return s, nil
}

// run runs the gnet engine until it stops.
func (s *Server) run(ev *events) {
	defer close(s.runDone)
	s.runErr = gnet.Run(ev, "tcp://"+s.cfg.Addr,
		gnet.WithMulticore(s.cfg.Multicore),
		gnet.WithNumEventLoop(s.cfg.NumEventLoop),
		gnet.WithReusePort(false),
		gnet.WithReuseAddr(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithLogger(gnetLogger{s.log}),
	)
}

// Addr is the address the server listens on, with the real port.
func (s *Server) Addr() net.Addr { return s.addr }

// Shutdown stops taking connections (new ones are closed at once) and
// stops dispatching requests, waits until every request already
// dispatched has been served and its response sent, then stops the event
// loops and closes every connection. If ctx ends first, everything is
// closed at once and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.stopOnce.Do(func() { err = s.shutdown(ctx) })
	return err
}

func (s *Server) shutdown(ctx context.Context) error {
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
	drainErr := waitDrained(ctx, conns)
	stopErr := s.stopEngine(ctx)
	if drainErr != nil {
		return fmt.Errorf("netio: shutdown: in-flight requests unfinished: %w", drainErr)
	}
	if stopErr != nil {
		return fmt.Errorf("netio: shutdown: %w", stopErr)
	}
	return nil
}

// waitDrained waits until every draining connection has drained.
func waitDrained(ctx context.Context, conns []*conn) error {
	for _, c := range conns {
		select {
		case <-c.drained:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// stopEngine stops gnet (which closes every connection, running OnClose)
// and waits for its goroutines and the connections' goroutines.
func (s *Server) stopEngine(ctx context.Context) error {
	go func() {
		// Engine.Stop polls every 500ms; runDone tells us sooner.
		if err := s.eng.Stop(context.WithoutCancel(ctx)); err != nil {
			s.log.Debug("netio: gnet stop", "err", err)
		}
	}()
	select {
	case <-s.runDone:
	case <-ctx.Done():
		s.cancel()
		return ctx.Err()
	}
	s.cancel() // handlers blocked on their context return now
	s.idleWG.Wait()
	done := make(chan struct{})
	go func() { s.conns.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("connection goroutines still running (a Handler ignores its context): %w", ctx.Err())
	}
	if s.runErr != nil {
		return fmt.Errorf("gnet: %w", s.runErr)
	}
	return nil
}

// startIdleTicker closes idle connections until Shutdown.
func (s *Server) startIdleTicker() {
	if s.cfg.IdleTimeout < 0 {
		return
	}
	s.idleWG.Add(1)
	go func() {
		defer s.idleWG.Done()
		t := time.NewTicker(idleCheckEvery(s.cfg.IdleTimeout))
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

// closeIdle closes connections with no request for IdleTimeout.
func (s *Server) closeIdle(now time.Time) {
	deadline := now.Add(-s.cfg.IdleTimeout).UnixNano()
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.mu.conns))
	for c := range s.mu.conns {
		if c.lastActive.Load() < deadline {
			conns = append(conns, c)
		}
	}
	s.mu.Unlock()
	for _, c := range conns {
		if c.closeIfIdle(deadline) {
			s.stats.idled.Add(1)
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
	s.conns.Add(2) // request goroutine and writer
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
	s      *Server
	booted chan<- error
}

// OnBoot records the engine and the bound address; the listening socket
// exists by now (gnet binds before booting).
func (ev *events) OnBoot(eng gnet.Engine) gnet.Action {
	ev.s.eng = eng
	addr, err := boundAddr(eng)
	if err != nil {
		ev.booted <- err
		return gnet.Shutdown
	}
	ev.s.addr = addr
	ev.booted <- nil
	return gnet.None
}

// boundAddr asks the kernel for the listener's address (":0" resolved).
func boundAddr(eng gnet.Engine) (net.Addr, error) {
	fd, err := eng.Dup()
	if err != nil {
		return nil, fmt.Errorf("cannot dup the listener: %w", err)
	}
	defer unix.Close(fd)
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, fmt.Errorf("getsockname: %w", err)
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(sa.Addr[:]).To16(), Port: sa.Port}, nil
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(sa.Addr[:]), Port: sa.Port}, nil
	}
	return nil, fmt.Errorf("listener has a non-TCP address %T", sa)
}

func (ev *events) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	s := ev.s
	c, err := newConn(s, gc)
	if err != nil {
		s.log.Error("netio: cannot set up connection", "remote", gc.RemoteAddr(), "err", err)
		return nil, gnet.Close
	}
	if !s.register(c) {
		c.closeSocket()
		return nil, gnet.Close
	}
	gc.SetContext(c)
	s.stats.accepted.Add(1)
	s.stats.connsOpen.Add(1)
	go c.serveRequests()
	go c.writeLoop()
	return nil, gnet.None
}

func (ev *events) OnClose(gc gnet.Conn, err error) gnet.Action {
	c, ok := gc.Context().(*conn)
	if !ok {
		return gnet.None // closed in OnOpen
	}
	if err != nil {
		ev.s.log.Debug("netio: connection closed", "conn", c.pub.id, "remote", c.pub.remoteAddr, "err", err)
	}
	c.onClose(peerClosed(err))
	ev.s.unregister(c)
	ev.s.stats.connsOpen.Add(-1)
	return gnet.None
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
