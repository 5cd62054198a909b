package netio

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluice/sluice/listener"
)

// Accepting is done by netio, not by gnet: gnet v2.9.0's acceptor returns
// ErrAcceptSocket on EMFILE and its main reactor exits, stopping the whole
// engine for good. The accept goroutine below survives running out of
// file descriptors, applies the connection limits, and hands each
// accepted socket to a gnet event loop (gnet.Client.Enroll).

// Back-off of the accept goroutine after an accept error other than a
// connection that went away: it doubles from acceptBackoffMin up to
// acceptBackoffMax and resets on the next accept.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = 500 * time.Millisecond
	// logEvery rate-limits the accept-failure and limit warnings.
	logEvery = 10 * time.Second
	// enrollStuck is how long handing a connection to an event loop may
	// take before Health reports the event loops as not responding.
	enrollStuck = 10 * time.Second
)

// acceptState is shared between the accept goroutine and Health.
type acceptState struct {
	failingSince atomic.Int64        // UnixNano of the first failed accept of a run, 0 when accepting
	lastErr      atomic.Pointer[any] // the last accept error (error), for Health
	enrolling    atomic.Int64        // UnixNano when the current Enroll started, 0 when none
	stopped      atomic.Pointer[any] // why the accept goroutine exited unexpectedly (error)
}

func (a *acceptState) setErr(p *atomic.Pointer[any], err error) {
	var v any = err
	p.Store(&v)
}

func loadErr(p *atomic.Pointer[any]) error {
	if v := p.Load(); v != nil {
		err, _ := (*v).(error)
		return err
	}
	return nil
}

// ErrNotAccepting is wrapped by Health's error when the listener cannot
// take new connections.
var ErrNotAccepting = errors.New("netio: listener not accepting connections")

// Health reports whether the listener takes new connections. It returns
// an error wrapping ErrNotAccepting after a connection was shed for want
// of file descriptors (until a connection is set up again, or Health
// finds free the descriptors one needs: it opens and closes them), once
// the listening socket was closed other than by Shutdown, and while
// handing a connection to an event loop has taken over 10 s (the event
// loops are not running). nil means healthy.
func (s *Server) Health() error {
	a := &s.acc
	if err := loadErr(&a.stopped); err != nil {
		return fmt.Errorf("%w: accept stopped: %v", ErrNotAccepting, err)
	}
	if since := a.failingSince.Load(); since != 0 && !fdsAvailable() {
		return fmt.Errorf("%w: out of file descriptors since %s: %v", ErrNotAccepting,
			time.Unix(0, since).UTC().Format(time.RFC3339), loadErr(&a.lastErr))
	} else if since != 0 {
		a.failingSince.CompareAndSwap(since, 0)
	}
	if since := a.enrolling.Load(); since != 0 && time.Since(time.Unix(0, since)) > enrollStuck {
		return fmt.Errorf("%w: event loops not responding for %v", ErrNotAccepting, time.Since(time.Unix(0, since)).Round(time.Second))
	}
	return nil
}

// enrollee is the context of a socket handed to an event loop, until
// OnOpen replaces it with its *conn.
type enrollee struct {
	ip string // counted by the connection limits
	l  *listener.Listener
}

// acceptLoop accepts on bl until it is closed.
func (s *Server) acceptLoop(bl *boundListener) {
	defer s.acceptWG.Done()
	backoff := time.Duration(0)
	for {
		tc, err := bl.ln.AcceptTCP()
		if err == nil {
			backoff = 0
			s.admitConn(tc, &bl.l)
			continue
		}
		if s.closing.Load() {
			return
		}
		if errors.Is(err, net.ErrClosed) {
			s.acc.setErr(&s.acc.stopped, err)
			s.log.Error("netio: listener closed: new connections are refused", "listener", bl.l.Name, "addr", bl.ln.Addr(), "err", err)
			return
		}
		s.stats.acceptErrors.Add(1)
		s.acc.setErr(&s.acc.lastErr, err)
		if isFdExhausted(err) {
			s.markFdExhausted(err)
			if s.shedOne(bl.ln, err) {
				continue // the next pending connection gets a real accept first
			}
		} else if !isTransientAccept(err) {
			s.logThrottled(&s.lastAcceptLog, "netio: accept failed; retrying", "err", err)
		}
		backoff = min(max(2*backoff, acceptBackoffMin), acceptBackoffMax)
		s.sleepAccept(backoff)
	}
}

// sleepAccept waits d, or less if Shutdown closes the listener.
func (s *Server) sleepAccept(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.closeAccept:
	}
}

// isTransientAccept reports whether accept failed because of the
// connection (gone before it was taken), not worth a warning. Any other
// error but a closed listener is retried after a back-off too.
func isTransientAccept(err error) bool {
	return errors.Is(err, unix.ECONNABORTED) || errors.Is(err, unix.ECONNRESET) ||
		errors.Is(err, unix.EINTR) || errors.Is(err, unix.EPROTO)
}

// isFdExhausted reports whether err is the process (EMFILE) or the system
// (ENFILE) running out of file descriptors.
func isFdExhausted(err error) bool {
	return errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE)
}

// shedOne runs when accept failed for want of descriptors. The pending
// connection would otherwise wait in the kernel's backlog (its client
// hanging until it times out) and the listener would stay readable,
// spinning the accept goroutine. Like nginx and libuv, netio keeps one
// spare descriptor (/dev/null) for this: it closes it, accepts the
// connection at the head of the backlog and resets it at once (the
// client sees it closed and retries later), then takes the spare back.
// One connection per failed accept: each pending one first gets a real
// accept, so connections are served again as soon as descriptors are. It
// reports whether it shed one (false: nothing pending, or no spare).
func (s *Server) shedOne(ln *net.TCPListener, cause error) bool {
	s.reserveMu.Lock()
	defer s.reserveMu.Unlock()
	s.logThrottled(&s.lastAcceptLog, "netio: accept failed: out of file descriptors; shedding new connections",
		"err", cause, "shed_total", s.stats.shed.Load(), "open", s.stats.connsOpen.Load())
	if s.reserve == nil {
		if s.reserve, _ = os.Open(os.DevNull); s.reserve == nil {
			return false
		}
	}
	s.reserve.Close()
	s.reserve = nil
	shed := s.acceptAndClose(ln)
	s.reserve, _ = os.Open(os.DevNull)
	return shed
}

// markFdExhausted records for Health that a connection could not be
// accepted or set up for want of descriptors.
func (s *Server) markFdExhausted(err error) {
	s.acc.setErr(&s.acc.lastErr, err)
	s.acc.failingSince.CompareAndSwap(0, nowNano())
}

// fdsPerConn is how many descriptors setting up a connection needs at
// once (accepted socket, gnet's dup, the writer's dup).
const fdsPerConn = 3

// fdsAvailable reports whether fdsPerConn descriptors can be opened now.
func fdsAvailable() bool {
	var fs []*os.File
	defer func() {
		for _, f := range fs {
			f.Close()
		}
	}()
	for range fdsPerConn {
		f, err := os.Open(os.DevNull)
		if err != nil {
			return false
		}
		fs = append(fs, f)
	}
	return true
}

// acceptAndClose accepts the pending connection at the head of the
// backlog without waiting (the listening socket is non-blocking) and
// resets it; it reports whether there was one. A listener's RawConn
// offers only Control.
func (s *Server) acceptAndClose(ln *net.TCPListener) bool {
	rc, err := ln.SyscallConn()
	if err != nil {
		return false
	}
	shed := false
	_ = rc.Control(func(fd uintptr) {
		nfd, _, err := unix.Accept4(int(fd), unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK)
		if err != nil {
			return
		}
		s.stats.shed.Add(1) // before the client can see it
		unix.SetsockoptLinger(nfd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
		unix.Close(nfd)
		shed = true
	})
	return shed
}

// logThrottled logs a warning at most once per logEvery per *last.
func (s *Server) logThrottled(last *atomic.Int64, msg string, args ...any) {
	now := nowNano()
	prev := last.Load()
	if now-prev < int64(logEvery) || !last.CompareAndSwap(prev, now) {
		return
	}
	s.log.Warn(msg, args...)
}

// admitConn applies the connection limits to tc and hands it to an event
// loop, or closes it.
func (s *Server) admitConn(tc *net.TCPConn, l *listener.Listener) {
	ip := remoteIP(tc)
	if r := s.limits.admit(ip, time.Now()); r != admitted {
		s.stats.refused[r].Add(1)
		s.logThrottled(&s.lastLimitLog, "netio: connection refused: "+r.String(),
			"remote", tc.RemoteAddr(), "refused_total", s.stats.refused[r].Load())
		tc.SetLinger(0) // reset: do not leave a TIME_WAIT per refused connection
		tc.Close()
		return
	}
	if l.Protocol.TLS() {
		s.openTLS(tc, &enrollee{ip: ip, l: l})
		return
	}
	s.acc.enrolling.Store(nowNano())
	_, err := s.cli.EnrollContext(tc, &enrollee{ip: ip, l: l}) // closes tc; gnet keeps a dup
	s.acc.enrolling.Store(0)
	if err != nil {
		s.limits.release(ip)
		if isFdExhausted(err) {
			s.stats.shed.Add(1)
			s.markFdExhausted(err)
			s.logThrottled(&s.lastAcceptLog, "netio: out of file descriptors; shedding new connections",
				"err", err, "shed_total", s.stats.shed.Load())
			return
		}
		s.log.Warn("netio: cannot hand connection to an event loop", "remote", tc.RemoteAddr(), "err", err)
	}
}

// remoteIP is tc's peer address without the port.
func remoteIP(tc *net.TCPConn) string {
	if a, ok := tc.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	return ""
}
