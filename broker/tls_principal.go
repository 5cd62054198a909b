package broker

import "github.com/sluice/sluice/netio"

// sslPrincipal is the principal of a client on an SSL listener, from its
// certificate (Config.SSLPrincipal), worked out on first use and kept in
// the connection's state. The listener's configuration refused
// certificates that map to no principal at the handshake, so the mapping
// does not fail here; if it did, the client would be User:ANONYMOUS,
// logged.
func (b *Broker) sslPrincipal(c *netio.Conn) string {
	st := stateOf(c)
	if st.ssl != "" {
		return st.ssl
	}
	st.ssl = "User:ANONYMOUS"
	if b.cfg.SSLPrincipal != nil {
		p, err := b.cfg.SSLPrincipal(c.ListenerName(), c.TLS())
		if err != nil {
			b.log.Warn("SSL client certificate maps to no principal", "remote", c.RemoteAddr(),
				"listener", c.ListenerName(), "err", err)
		} else {
			st.ssl = p
		}
	}
	return st.ssl
}
