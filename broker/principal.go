package broker

import (
	"net"
	"net/netip"

	"github.com/sluice/sluice/netio"
)

// anonymous is the principal of a connection that did not authenticate,
// as Kafka names it.
const anonymous = "User:ANONYMOUS"

// principalOf returns the principal a connection acts as and the client's
// IP address (the host ACLs name), without allocating: the SASL user or
// the TLS client certificate's mapped name (see principal in auth.go),
// User:ANONYMOUS on PLAINTEXT; tests in this package may set
// Config.principalForTest.
func (b *Broker) principalOf(c *netio.Conn) (principal string, host netip.Addr) {
	principal = b.principal(c)
	if f := b.cfg.principalForTest; f != nil {
		principal = f(c)
	}
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		host = a.AddrPort().Addr()
	}
	return principal, host
}
