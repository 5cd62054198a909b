package broker

import (
	"net"
	"strconv"
	"strings"

	"github.com/sluice/sluice/listener"
	"github.com/sluice/sluice/netio"
)

// Endpoint is where clients of one listener are told to connect.
type Endpoint struct {
	Listener string // listener name
	Host     string
	Port     int32
	Protocol listener.Protocol // the listener's security protocol ("" means PLAINTEXT)
}

func (e Endpoint) String() string {
	return e.Listener + "://" + net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port)))
}

func (b *Broker) setEndpoints(eps []Endpoint) {
	m := make(map[string]Endpoint, len(eps))
	for _, e := range eps {
		m[e.Listener] = e
	}
	b.endpoints.Store(&m)
}

// advertised is the host and port Metadata, FindCoordinator and
// DescribeCluster give a client on c: the advertised address of c's
// listener (Kafka answers each listener with its own endpoint).
func (b *Broker) advertised(c *netio.Conn) (string, int32) {
	if c != nil {
		if e, ok := (*b.endpoints.Load())[c.ListenerName()]; ok {
			return e.Host, e.Port
		}
	}
	return b.cfg.AdvertisedHost, b.advertisedPort()
}

// advertisedListeners is advertised.listeners as DescribeConfigs shows
// it: NAME://host:port per listener, in listeners' order.
func (b *Broker) advertisedListeners() string {
	m := *b.endpoints.Load()
	if len(m) == 0 {
		return Endpoint{Listener: "PLAINTEXT", Host: b.cfg.AdvertisedHost, Port: b.advertisedPort()}.String()
	}
	parts := make([]string, 0, len(m))
	for _, e := range b.cfg.Advertised {
		parts = append(parts, m[e.Listener].String())
	}
	return strings.Join(parts, ",")
}
