// Package listener parses Kafka's listener settings: listeners,
// listener.security.protocol.map, advertised.listeners,
// controller.listener.names and inter.broker.listener.name, into one
// Listener per configured endpoint. It checks them as Kafka does
// (KafkaConfig and SocketServerConfigs) and knows nothing about sockets.
//
//	listeners=PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://127.0.0.1:9094,CONTROLLER://127.0.0.1:9093
//	listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT
//	advertised.listeners=PLAINTEXT://broker1:9092,SASL_PLAINTEXT://broker1:9094
//
// A bare host:port (the --listen form) is a listener named PLAINTEXT.
package listener

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Protocol is a security protocol (Kafka's SecurityProtocol).
type Protocol string

// The security protocols Kafka defines.
const (
	Plaintext     Protocol = "PLAINTEXT"
	SSL           Protocol = "SSL"
	SASLPlaintext Protocol = "SASL_PLAINTEXT"
	SASLSSL       Protocol = "SASL_SSL"
)

// SASL reports whether clients must authenticate with SASL.
func (p Protocol) SASL() bool { return p == SASLPlaintext || p == SASLSSL }

// TLS reports whether the connection is wrapped in TLS.
func (p Protocol) TLS() bool { return p == SSL || p == SASLSSL }

// ID is Kafka's id of the protocol (SecurityProtocol.id, as brokers
// register their listeners): 0 PLAINTEXT, 1 SSL, 2 SASL_PLAINTEXT,
// 3 SASL_SSL.
func (p Protocol) ID() int16 {
	switch p {
	case SSL:
		return 1
	case SASLPlaintext:
		return 2
	case SASLSSL:
		return 3
	}
	return 0
}

func parseProtocol(s string) (Protocol, error) {
	switch p := Protocol(strings.ToUpper(strings.TrimSpace(s))); p {
	case Plaintext, SSL, SASLPlaintext, SASLSSL:
		return p, nil
	}
	return "", fmt.Errorf("unknown security protocol %q (want PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)", s)
}

// DefaultProtocolMap is listener.security.protocol.map's default: each
// protocol's name maps to itself, and CONTROLLER to PLAINTEXT (as Kafka
// does for KRaft controllers).
const DefaultProtocolMap = "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT"

// Listener is one endpoint of listeners.
type Listener struct {
	Name     string   // listener name, upper case (PLAINTEXT, SASL_PLAINTEXT, CLIENT, …)
	Protocol Protocol // from listener.security.protocol.map
	Host     string   // "" binds every interface
	Port     int      // 0 picks a free port
	// Advertised is the host:port Metadata gives clients that connected
	// on this listener (advertised.listeners). "" means the listener's own
	// address, with a wildcard host replaced by the machine's host name.
	Advertised string
	// Controller marks a listener named in controller.listener.names:
	// clients are not served on it.
	Controller bool
}

// Addr is the address to bind, host:port.
func (l Listener) Addr() string { return net.JoinHostPort(l.Host, strconv.Itoa(l.Port)) }

// String is Kafka's NAME://host:port form.
func (l Listener) String() string { return l.Name + "://" + l.Addr() }

// Spec is the raw values of the settings Parse reads.
type Spec struct {
	Listeners       string // listeners (required)
	ProtocolMap     string // listener.security.protocol.map; "" means DefaultProtocolMap
	Advertised      string // advertised.listeners
	ControllerNames string // controller.listener.names, comma-separated
	InterBroker     string // inter.broker.listener.name; "" leaves it unchecked
}

// Endpoint is one NAME://host:port entry.
type Endpoint struct {
	Name string
	Host string
	Port int
}

// ParseEndpoints splits NAME://host:port,… (a bare host:port is named
// PLAINTEXT) and checks each address.
func ParseEndpoints(v string) ([]Endpoint, error) {
	var out []Endpoint
	for part := range strings.SplitSeq(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, addr := "PLAINTEXT", part
		if n, a, ok := strings.Cut(part, "://"); ok {
			name, addr = strings.ToUpper(strings.TrimSpace(n)), a
		}
		if name == "" {
			return nil, fmt.Errorf("%q: empty listener name", part)
		}
		host, port, err := splitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", part, err)
		}
		out = append(out, Endpoint{Name: name, Host: host, Port: port})
	}
	return out, nil
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, errors.New("want host:port")
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return "", 0, errors.New("want a port 0..65535")
	}
	return host, int(port), nil
}

// ParseProtocolMap parses NAME:PROTOCOL,… into a map keyed by upper-case
// listener name.
func ParseProtocolMap(v string) (map[string]Protocol, error) {
	out := map[string]Protocol{}
	for pair := range strings.SplitSeq(v, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		name, proto, ok := strings.Cut(pair, ":")
		name = strings.ToUpper(strings.TrimSpace(name))
		if !ok || name == "" {
			return nil, fmt.Errorf("%q is not NAME:PROTOCOL", strings.TrimSpace(pair))
		}
		p, err := parseProtocol(proto)
		if err != nil {
			return nil, fmt.Errorf("listener %s: %w", name, err)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("listener %s is mapped twice", name)
		}
		out[name] = p
	}
	return out, nil
}

// Parse resolves s into its listeners, in the order listeners names them.
// Errors name the offending setting.
func Parse(s Spec) ([]Listener, error) {
	pm := s.ProtocolMap
	if strings.TrimSpace(pm) == "" {
		pm = DefaultProtocolMap
	}
	protocols, err := ParseProtocolMap(pm)
	if err != nil {
		return nil, fmt.Errorf("listener.security.protocol.map: %w", err)
	}
	eps, err := ParseEndpoints(s.Listeners)
	if err != nil {
		return nil, fmt.Errorf("listeners: %w", err)
	}
	controllers := names(s.ControllerNames)
	out, err := fromEndpoints(eps, protocols, controllers)
	if err != nil {
		return nil, err
	}
	if err := advertise(out, s.Advertised); err != nil {
		return nil, err
	}
	if ib := strings.ToUpper(strings.TrimSpace(s.InterBroker)); ib != "" {
		if l := find(out, ib); l == nil || l.Controller {
			return nil, fmt.Errorf("inter.broker.listener.name: %s is not a broker listener in listeners", ib)
		}
	}
	return out, nil
}

func fromEndpoints(eps []Endpoint, protocols map[string]Protocol, controllers map[string]bool) ([]Listener, error) {
	var out []Listener
	ports := map[int]string{}
	for _, ep := range eps {
		p, ok := protocols[ep.Name]
		if !ok {
			return nil, fmt.Errorf("listeners: no security protocol for listener %s in listener.security.protocol.map", ep.Name)
		}
		if find(out, ep.Name) != nil {
			return nil, fmt.Errorf("listeners: listener %s is named twice", ep.Name)
		}
		if other, dup := ports[ep.Port]; dup && ep.Port != 0 {
			return nil, fmt.Errorf("listeners: %s and %s use the same port %d", other, ep.Name, ep.Port)
		}
		ports[ep.Port] = ep.Name
		out = append(out, Listener{Name: ep.Name, Protocol: p, Host: ep.Host, Port: ep.Port, Controller: controllers[ep.Name]})
	}
	if len(out) == 0 {
		return nil, errors.New("listeners: no listener")
	}
	return out, nil
}

// advertise sets each listener's Advertised from advertised.listeners,
// whose names must be listeners' and whose hosts must not be wildcards.
func advertise(ls []Listener, v string) error {
	eps, err := ParseEndpoints(v)
	if err != nil {
		return fmt.Errorf("advertised.listeners: %w", err)
	}
	seen := map[string]bool{}
	for _, ep := range eps {
		l := find(ls, ep.Name)
		if l == nil {
			return fmt.Errorf("advertised.listeners: %s is not a listener in listeners", ep.Name)
		}
		if seen[ep.Name] {
			return fmt.Errorf("advertised.listeners: listener %s is named twice", ep.Name)
		}
		seen[ep.Name] = true
		if ip := net.ParseIP(ep.Host); ep.Host == "" || ip != nil && ip.IsUnspecified() {
			return fmt.Errorf("advertised.listeners: %s://%s:%d: a wildcard host cannot be advertised", ep.Name, ep.Host, ep.Port)
		}
		l.Advertised = net.JoinHostPort(ep.Host, strconv.Itoa(ep.Port))
	}
	return nil
}

func find(ls []Listener, name string) *Listener {
	for i := range ls {
		if ls[i].Name == name {
			return &ls[i]
		}
	}
	return nil
}

func names(v string) map[string]bool {
	out := map[string]bool{}
	for n := range strings.SplitSeq(v, ",") {
		if n = strings.ToUpper(strings.TrimSpace(n)); n != "" {
			out[n] = true
		}
	}
	return out
}

// Brokers is ls without the controller listeners: those clients connect to.
func Brokers(ls []Listener) []Listener {
	var out []Listener
	for _, l := range ls {
		if !l.Controller {
			out = append(out, l)
		}
	}
	return out
}
