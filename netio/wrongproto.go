package netio

import (
	"time"
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

// refuseTLS counts and (once per client IP per WrongProtocolLogEvery) logs
// a connection whose first bytes are a TLS ClientHello; the caller closes
// it. Like Kafka, nothing is answered (no TLS alert): the client sees the
// connection closed during its handshake, which librdkafka reports as
// "connecting to a PLAINTEXT broker listener?".
func (s *Server) refuseTLS(c *conn) {
	n := s.stats.tlsRefused.Add(1)
	if !s.wrongProtoLog.Allow(c.ip, time.Now()) {
		return
	}
	s.log.Warn(TLSOnPlaintextMsg, "client", c.ip, "remote", c.pub.remoteAddr, "conn", c.pub.id,
		"tls_refused_total", n, "next_log_for_client_after", WrongProtocolLogEvery)
}
