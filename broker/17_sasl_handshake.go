package broker

import (
	"context"
	"net"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluice/sluice/internal/lograte"
	"github.com/sluice/sluice/netio"
)

// SASLHandshake: v0-1
//
// Behavior on a SASL listener (SASL_PLAINTEXT, SASL_SSL), as Kafka's
// SaslServerAuthenticator (see auth.go):
// * A mechanism of sasl.enabled.mechanisms starts the exchange: error 0
//   and the enabled mechanisms. v1: tokens follow in SaslAuthenticate;
//   v0: tokens follow as raw size-prefixed frames without Kafka headers.
// * An unknown or disabled mechanism: UNSUPPORTED_SASL_MECHANISM (33)
//   with the enabled list, then the connection is closed (Java throws
//   UnsupportedSaslMechanismException).
// * A second handshake during the exchange: ILLEGAL_SASL_STATE, closed.
// * On an authenticated connection it starts a re-authentication
//   (KIP-368): v1 and the same mechanism only, else ILLEGAL_SASL_STATE
//   and closed.
//
// Behavior on a listener without SASL (PLAINTEXT):
// * A SASLHandshake means the client was configured with
//   security.protocol=SASL_PLAINTEXT (a SASL_SSL client is stopped at its
//   ClientHello by netio). As Kafka answers it on a listener without SASL
//   (KafkaApis.handleSaslHandshakeRequest): ILLEGAL_SASL_STATE (34) with
//   no enabled mechanisms. Java throws IllegalSaslStateException
//   "Unexpected handshake request with client mechanism PLAIN, enabled
//   mechanisms are []"; franz-go fails the request with ILLEGAL_SASL_STATE
//   at once; librdkafka logs "SASL PLAIN mechanism handshake failed:
//   Broker: Request not valid in current SASL state" on each connection
//   attempt until its own timeout.
// * Advertised in ApiVersions (v0-1), as Kafka advertises it on every
//   listener: librdkafka sends the pre-KIP-43 raw SASL token when the
//   broker does not advertise it, which would end in a closed connection
//   and retries rather than this clear error. Clients not configured for
//   SASL never send it.
// * Each handshake is counted (SASLRefused, the metric
//   sluice_connections_refused_total{reason="sasl_on_plaintext"}) and a
//   client address is logged at most once per netio.WrongProtocolLogEvery.
//   The connection stays open, as in Kafka: the client closes it.

func init() { register(17, 0, 1, handleSASLHandshake) }

// SASLOnPlaintextMsg is the warning logged for a SASL client.
const SASLOnPlaintextMsg = "SASL handshake on a PLAINTEXT listener: check the client's security.protocol (SASL_PLAINTEXT; this listener is PLAINTEXT)"

func handleSASLHandshake(_ context.Context, b *Broker, r *request) (*netio.Response, error) {
	req := r.kreq.(*kmsg.SASLHandshakeRequest)
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	a := authOf(r.conn)
	if a == nil {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		resp.SupportedMechanisms = []string{}
		b.refuseSASL(r, "mechanism", req.Mechanism)
		return r.respond(resp), nil
	}
	code, err := b.handshake(r.conn, a, r.version, req.Mechanism)
	resp.ErrorCode = code
	resp.SupportedMechanisms = b.enabledMechanisms()
	if err != nil {
		b.authLog(r.conn, "SASL handshake refused: closing the connection", "mechanism", req.Mechanism,
			"enabled", mechanismNames(b.cfg.SASL.Mechanisms), "err", err)
	}
	return r.respond(resp), err
}

// saslRefusals counts and rate-limits the logs of SASL requests on this
// PLAINTEXT listener.
type saslRefusals struct {
	log *lograte.PerKey // set by New
	n   atomic.Uint64
}

// refuseSASL counts a SASL request and logs it once per client address
// per netio.WrongProtocolLogEvery.
func (b *Broker) refuseSASL(r *request, args ...any) {
	n := b.sasl.n.Add(1)
	ip := clientIP(r.conn)
	if !b.sasl.log.Allow(ip, time.Now()) {
		return
	}
	args = append([]any{"client", ip, "remote", r.conn.RemoteAddr(), "api_key", r.key,
		"client_id", strOrNil(r.clientID)}, args...)
	args = append(args, "sasl_refused_total", n, "next_log_for_client_after", netio.WrongProtocolLogEvery)
	b.log.Warn(SASLOnPlaintextMsg, args...)
}

// SASLRefused is the number of SASL requests answered ILLEGAL_SASL_STATE
// on listeners without SASL since start.
func (b *Broker) SASLRefused() uint64 { return b.sasl.n.Load() }

// clientIP is c's peer address without the port.
func clientIP(c *netio.Conn) string {
	if c == nil || c.RemoteAddr() == nil {
		return ""
	}
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	return c.RemoteAddr().String()
}

func strOrNil(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}
