package netio

import (
	"time"

	"golang.org/x/sys/unix"
)

// WrongProtocolLogEvery is how often a client address is logged for
// speaking TLS (here) or SASL (the broker) to a PLAINTEXT listener: a
// misconfigured client reconnects every few hundred milliseconds, and one
// line per minute per address says all there is to say; the counters count
// every attempt.
const WrongProtocolLogEvery = time.Minute

// TLSOnPlaintextMsg is the warning logged when a connection opens with a
// TLS ClientHello.
const TLSOnPlaintextMsg = "netio: TLS handshake on a PLAINTEXT listener: the client uses security.protocol=SSL or SASL_SSL; this listener is PLAINTEXT"

// tlsHandshakeFailure is a TLS fatal alert record (RFC 8446 §6): type
// alert (21), record version 3.3, length 2, level fatal (2), description
// handshake_failure (40).
var tlsHandshakeFailure = []byte{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28}

// refuseTLS answers a connection whose first bytes are a TLS ClientHello
// with a handshake_failure alert (the caller then closes it), counts it
// and (once per client IP per WrongProtocolLogEvery) logs it.
//
// Kafka sends nothing: it reads the record header as an oversized request
// and closes the connection. A TLS client that meets a bare close during
// its handshake takes it for a network fault and retries: Kafka's Java
// admin client until its 60 s timeout ("Timed out waiting for a node
// assignment"). With the alert it fails at once ("SSL handshake
// failed"), Go's crypto/tls reports "remote error: tls: handshake
// failure" and librdkafka "sslv3 alert handshake failure" instead of
// EOF.
//
// The alert is written with one non-blocking write(2) on gnet's
// descriptor, on the event loop: nothing else was ever written to this
// connection (no frame was dispatched), and 7 bytes fit any fresh
// socket's send buffer; if they did not, the write fails with EAGAIN and
// the client sees the bare close.
func (s *Server) refuseTLS(c *conn) {
	n := s.stats.tlsRefused.Add(1) // before the client can see the alert
	_, _ = unix.Write(c.gc.Fd(), tlsHandshakeFailure)
	if !s.wrongProtoLog.Allow(c.ip, time.Now()) {
		return
	}
	s.log.Warn(TLSOnPlaintextMsg, "client", c.ip, "remote", c.pub.remoteAddr, "conn", c.pub.id,
		"tls_refused_total", n, "next_log_for_client_after", WrongProtocolLogEvery)
}
