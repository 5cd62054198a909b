package broker

import "github.com/sluice/sluice/netio"

// sslAuth is the state of a connection on an SSL listener: its principal,
// worked out from its certificate on its first request.
type sslAuth struct{ principal string }

// sslPrincipal is the principal of a client on an SSL listener, from its
// certificate (Config.SSLPrincipal), kept in the connection's state. The
// listener's configuration refused certificates that map to no principal
// at the handshake, so the mapping does not fail here; if it did, the
// client would be User:ANONYMOUS, logged.
func (b *Broker) sslPrincipal(c *netio.Conn) string {
	if a, ok := c.State().(*sslAuth); ok {
		return a.principal
	}
	p := "User:ANONYMOUS"
	if b.cfg.SSLPrincipal != nil {
		mapped, err := b.cfg.SSLPrincipal(c.ListenerName(), c.TLS())
		if err != nil {
			b.log.Warn("SSL client certificate maps to no principal", "remote", c.RemoteAddr(),
				"listener", c.ListenerName(), "err", err)
		} else {
			p = mapped
		}
	}
	c.SetState(&sslAuth{principal: p})
	return p
}
