package broker

import (
	"sync/atomic"

	"github.com/sluice/sluice/listener"
	"github.com/sluice/sluice/netio"
)

// Authentication on SASL listeners.
//
// A connection on a SASL_PLAINTEXT or SASL_SSL listener is served nothing
// but ApiVersions, SaslHandshake and SaslAuthenticate until it has
// authenticated; any other request closes it (logged, counted), as Kafka's
// SaslServerAuthenticator does. The connection's state (connAuth) lives
// in its netio.Conn (SetState): requests of one connection are handled
// one at a time, so it needs no lock.

// saslHandshakeKey and saslAuthenticateKey are the SASL API keys.
const (
	saslHandshakeKey    = 17
	saslAuthenticateKey = 36
)

// connAuth is one connection's authentication state.
type connAuth struct {
	user string // authenticated user name; "" until authenticated
}

func authOf(c *netio.Conn) *connAuth {
	if c == nil {
		return nil
	}
	a, _ := c.State().(*connAuth)
	return a
}

// principal is the Kafka principal of c's client: "User:<name>" once it
// authenticated with SASL, "User:ANONYMOUS" on a PLAINTEXT listener (as
// Kafka names it), "" while a SASL connection has not authenticated.
func (b *Broker) principal(c *netio.Conn) string {
	if c != nil && c.SecurityProtocol() == listener.SSL {
		return b.sslPrincipal(c)
	}
	if c == nil || !c.SecurityProtocol().SASL() {
		return "User:ANONYMOUS"
	}
	if a := authOf(c); a != nil && a.user != "" {
		return "User:" + a.user
	}
	return ""
}

// preAuthAllowed reports whether key may be served before authentication.
func preAuthAllowed(key int16) bool {
	return key == apiVersionsKey || key == saslHandshakeKey || key == saslAuthenticateKey
}

// checkAuthenticated closes a connection on a SASL listener that sends
// anything but ApiVersions or the SASL APIs before it has authenticated.
func (b *Broker) checkAuthenticated(c *netio.Conn, h header) error {
	if preAuthAllowed(h.key) || b.principal(c) != "" {
		return nil
	}
	n := b.saslStats.unauthenticated.Add(1)
	b.log.Warn("request before SASL authentication: closing the connection",
		"client", clientIP(c), "remote", c.RemoteAddr(), "listener", c.ListenerName(),
		"api_key", h.key, "client_id", strOrNil(h.clientID), "unauthenticated_requests_total", n)
	return errClose("api key %d before SASL authentication on listener %s", h.key, c.ListenerName())
}

// saslStats are the SASL listeners' counters.
type saslStats struct {
	unauthenticated atomic.Uint64 // connections closed for a request before authentication
}

// SASLStats are the SASL listeners' counters since start.
type SASLStats struct {
	// Unauthenticated counts connections closed for a request other than
	// ApiVersions or the SASL APIs before authentication.
	Unauthenticated uint64
}

// SASLStats returns the SASL listeners' counters.
func (b *Broker) SASLStats() SASLStats {
	return SASLStats{Unauthenticated: b.saslStats.unauthenticated.Load()}
}
