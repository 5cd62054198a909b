package netio

// This file is the TLS path: gnet cannot own a TLS session, so a listener
// with Config.TLS serves each connection with goroutines only. It shares
// everything else with the gnet path: the accept goroutine and its
// limits, the request goroutine, the writer and its budget, framing
// (frameLoop over a frameReader, as a muted connection), the idle ticker
// and Shutdown.

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/sluice/sluice/sendfile"
)

// tlsBufSize is the pooled buffer through which a TLS connection's byte
// runs are coalesced and its file regions copied: 4 TLS records of 16 KiB.
const tlsBufSize = 64 << 10

var tlsBufPool = sync.Pool{New: func() any { b := make([]byte, tlsBufSize); return &b }}

// openTLS sets up an admitted connection on a TLS listener: a read
// goroutine that runs the handshake, then frames as a muted connection
// does, reading only while the budget has room.
func (s *Server) openTLS(tc *net.TCPConn, e *enrollee) {
	c, err := newConnOn(s, tc, e)
	if err != nil {
		s.limits.release(e.ip)
		s.log.Error("netio: cannot set up connection", "remote", tc.RemoteAddr(), "err", err)
		return
	}
	c.tls = tls.Server(tc, s.cfg.TLS[e.l.Name])
	c.mu.muted = true // no gnet side: closing means closing tc
	c.handshaking.Store(true)
	if !s.register(c) {
		s.limits.release(e.ip)
		c.closeSocket()
		return
	}
	s.acc.failingSince.Store(0)
	s.stats.accepted.Add(1)
	s.stats.connsOpen.Add(1)
	s.conns.Add(1) // the read goroutine
	go c.serveRequests()
	go c.writeLoop()
	go c.tlsReadLoop()
}

// tlsReadLoop is a TLS connection's read goroutine.
func (c *conn) tlsReadLoop() {
	defer c.srv.conns.Done()
	err := c.handshake()
	if err == nil {
		err = c.readFrames(newFrameReader(c.tls, nil))
	}
	c.endRead(err)
}

// handshake runs the TLS handshake within HandshakeTimeout and publishes
// the session's state on c.pub before any frame is read. A handshake that
// fails or does not finish in time closes the connection (counted).
func (c *conn) handshake() error {
	s := c.srv
	ctx, cancel := context.WithTimeout(c.ctx, s.cfg.HandshakeTimeout)
	defer cancel()
	err := c.tls.HandshakeContext(ctx) // on ctx's end, closes the socket
	if err == nil {
		st := c.tls.ConnectionState()
		c.pub.tls = &st
		s.stats.tlsHandshakes.Add(1)
		c.lastActive.Store(nowNano())
		c.handshaking.Store(false)
		return nil
	}
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		n := s.stats.tlsTimeouts.Add(1)
		s.logPerIP(c, "netio: closing connection: TLS handshake not finished in time",
			"timeout", s.cfg.HandshakeTimeout, "tls_handshake_timeouts_total", n)
	case c.ctx.Err() != nil || errors.Is(err, net.ErrClosed):
		// closed by Shutdown or the idle ticker
	default:
		n := s.stats.tlsFailures.Add(1)
		s.logPerIP(c, "netio: TLS handshake failed", "err", err, "tls_handshake_failures_total", n)
	}
	return err
}

// logPerIP logs a warning about c at most once per client IP per
// WrongProtocolLogEvery: a misconfigured client retries every few hundred
// milliseconds; the counters count every attempt.
func (s *Server) logPerIP(c *conn, msg string, args ...any) {
	if !s.wrongProtoLog.Allow(c.ip, time.Now()) {
		return
	}
	s.log.Warn(msg, append([]any{"client", c.ip, "remote", c.pub.remoteAddr, "conn", c.pub.id}, args...)...)
}

// writeTLSRuns writes byte runs through the TLS session, coalesced in a
// pooled buffer so that a 4-byte size prefix does not become a record of
// its own.
func (c *conn) writeTLSRuns(iov [][]byte) error {
	bp := tlsBufPool.Get().(*[]byte)
	defer tlsBufPool.Put(bp)
	buf := (*bp)[:0]
	for _, b := range iov {
		if len(buf) == 0 && len(b) >= cap(buf) {
			if _, err := c.tls.Write(b); err != nil {
				return err
			}
			continue
		}
		for len(b) > 0 {
			n := copy(buf[len(buf):cap(buf)], b)
			buf, b = buf[:len(buf)+n], b[n:]
			if len(buf) == cap(buf) {
				if _, err := c.tls.Write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
	}
	if len(buf) > 0 {
		_, err := c.tls.Write(buf)
		return err
	}
	return nil
}

// copyTLS sends a file region through the TLS session: read with pread
// into a pooled buffer, encrypted and written (no sendfile without kTLS).
// The bytes are counted in Stats.TLSCopiedBytes.
func (c *conn) copyTLS(r sendfile.Region) error {
	bp := tlsBufPool.Get().(*[]byte)
	defer tlsBufPool.Put(bp)
	n, err := sendfile.CopyThrough(c.tls, r, *bp)
	c.srv.stats.tlsCopied.Add(uint64(n))
	return err
}
