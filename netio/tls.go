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
	"encoding/binary"
	"errors"
	"fmt"
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
	c.hs = &handshakeConn{TCPConn: tc, sniff: true, alert: -1}
	c.tls = tls.Server(c.hs, s.cfg.TLS[e.l.Name])
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
	c.hs.sniff = false
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
		err = c.hs.explain(err)
		n := s.stats.tlsFailures.Add(1)
		s.logPerIP(c, "netio: TLS handshake failed", "err", err, "tls_handshake_failures_total", n)
	}
	return err
}

// handshakeConn is a TLS connection's socket as crypto/tls reads it.
// During the handshake it follows the records the client sends, to name
// a fatal alert the client sent unencrypted: OpenSSL (librdkafka, kcat,
// Python's ssl) refuses a TLS 1.3 server's certificate (unknown CA,
// expired) with a plaintext alert after the server switched to its
// handshake keys, and crypto/tls, failing to decrypt it, reports "local
// error: tls: bad record MAC", which reads like bytes corrupted on the
// way (issue 17). After the handshake it only passes reads through.
type handshakeConn struct {
	*net.TCPConn
	sniff bool // the read goroutine's: on until the handshake ends

	hdr   [tlsRecordHeaderLen]byte // the current record's header, nhdr bytes of it so far
	nhdr  int
	left  int     // body bytes of the current record still to come
	body  [2]byte // a plaintext alert's level and description
	nbody int
	alert int // the description of the last plaintext alert; -1 none
}

// TLS record layer (RFC 8446 §5.1): | type (1B) | version (2B) | length (2B) | body |.
const (
	tlsRecordHeaderLen = 5
	tlsAlertRecord     = 21
)

func (h *handshakeConn) Read(p []byte) (int, error) {
	n, err := h.TCPConn.Read(p)
	if h.sniff {
		h.follow(p[:n])
	}
	return n, err
}

// follow moves the record parser over b, the next bytes from the client.
func (h *handshakeConn) follow(b []byte) {
	for len(b) > 0 {
		if h.nhdr < len(h.hdr) {
			k := copy(h.hdr[h.nhdr:], b)
			h.nhdr, b = h.nhdr+k, b[k:]
			if h.nhdr < len(h.hdr) {
				return
			}
			h.left, h.nbody = int(binary.BigEndian.Uint16(h.hdr[3:])), 0
		}
		k := min(h.left, len(b))
		if h.plainAlert() {
			h.nbody += copy(h.body[h.nbody:], b[:k])
		}
		h.left, b = h.left-k, b[k:]
		if h.left > 0 {
			return
		}
		if h.plainAlert() {
			h.alert = int(h.body[1])
		}
		h.nhdr = 0
	}
}

// plainAlert reports whether the current record is an unencrypted alert:
// an encrypted one is longer than its 2 bytes (TLS 1.2) or typed as
// application data (TLS 1.3).
func (h *handshakeConn) plainAlert() bool {
	return h.hdr[0] == tlsAlertRecord && binary.BigEndian.Uint16(h.hdr[3:]) == 2
}

// explain names the client's unencrypted alert when crypto/tls failed on
// our side (a local error) after receiving one; otherwise err is returned.
func (h *handshakeConn) explain(err error) error {
	var op *net.OpError
	if h.alert < 0 || !errors.As(err, &op) || op.Op != "local error" {
		return err
	}
	return fmt.Errorf("the client refused the handshake with an unencrypted alert: %w (alert %d; crypto/tls reports %q)",
		tls.AlertError(h.alert), h.alert, err)
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
func (c *conn) copyTLS(r sendfile.Region) (int64, error) {
	bp := tlsBufPool.Get().(*[]byte)
	defer tlsBufPool.Put(bp)
	n, err := sendfile.CopyThrough(c.tls, r, *bp)
	c.srv.stats.tlsCopied.Add(uint64(n))
	return n, err
}
