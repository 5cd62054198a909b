package broker

import "github.com/sluice/sluice/netio"

// sslPrincipal is the principal of a client on an SSL listener, from its
// certificate (Config.SSLPrincipal), worked out on its first request and
// kept in the connection's state. "" (the connection is closed as
// unauthenticated) when the mapping fails.
func (b *Broker) sslPrincipal(c *netio.Conn) string {
	if a := authOf(c); a != nil && a.user != "" {
		return "User:" + a.user
	}
	p := "User:ANONYMOUS"
	if b.cfg.SSLPrincipal != nil {
		var err error
		if p, err = b.cfg.SSLPrincipal(c.ListenerName(), c.TLS()); err != nil {
			b.log.Warn("SSL client certificate maps to no principal: closing the connection",
				"remote", c.RemoteAddr(), "listener", c.ListenerName(), "err", err)
			return ""
		}
	}
	c.SetState(&connAuth{user: p[len("User:"):]})
	return p
}
