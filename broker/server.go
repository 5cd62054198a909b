package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"

	"github.com/sluice/sluice/controller"
	"github.com/sluice/sluice/listener"
	"github.com/sluice/sluice/netio"
	"github.com/sluice/sluice/partition"
)

// ServerConfig wires a whole broker: data directory, listener and broker
// settings. cmd/sluiced fills it from flags; tests start it in-process.
type ServerConfig struct {
	// Store configures the data directory (Dir is required). Store.Defaults
	// is also the broker's default log config.
	Store partition.StoreConfig
	// Net configures the listener (Net.Addr is host:port; port 0 picks one).
	Net netio.Config
	// Broker configures the broker. Its AdvertisedHost/Port are replaced by
	// Advertised or, when that is empty, by the listener's address.
	Broker Config
	// Advertised is the host:port clients of the first listener are told
	// to connect to when that listener has no Advertised of its own
	// (Net.Listeners[i].Advertised, advertised.listeners). Empty: the
	// listening address, with a wildcard host replaced by the machine's
	// host name.
	Advertised string
	// Logger is used by all three parts. Default slog.Default().
	Logger *slog.Logger
	// OpenController, if set, starts this node's controller quorum member
	// once the data directory is open (and locked: a second daemon on it
	// is refused before touching the metadata log). The server owns it:
	// Shutdown closes it last. Nil: a standalone broker.
	OpenController func() (*controller.Controller, error)
	// WrapHandler, if set, wraps the broker's handler before the listener
	// starts (cmd/sluiced instruments requests for its metrics with it).
	WrapHandler func(netio.Handler) netio.Handler
}

// Server is a running broker: store, handlers and listener.
type Server struct {
	ctl    *controller.Controller // nil without OpenController
	store  *partition.Store
	broker *Broker
	net    *netio.Server
	log    *slog.Logger
}

// StartServer opens the store, loads the broker and starts listening.
func StartServer(cfg ServerConfig) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.Store.Logger, cfg.Net.Logger, cfg.Broker.Logger = cfg.Logger, cfg.Logger, cfg.Logger
	cfg.Broker.DefaultLog = cfg.Store.Defaults
	eps, err := endpoints(cfg)
	if err != nil {
		return nil, err
	}
	host, port := eps[0].Host, eps[0].Port
	store, err := partition.OpenStore(cfg.Store)
	if err != nil {
		return nil, fmt.Errorf("broker: cannot open data directory %q: %w", cfg.Store.Dir, err)
	}
	cfg.Broker.AdvertisedHost, cfg.Broker.AdvertisedPort = host, port
	cfg.Broker.Advertised = eps
	var ctl *controller.Controller
	if cfg.OpenController != nil {
		if ctl, err = cfg.OpenController(); err != nil {
			return nil, errors.Join(err, store.Close())
		}
		cfg.Broker.Controller = ctl
	}
	closeCtl := func() error {
		if ctl == nil {
			return nil
		}
		return ctl.Close()
	}
	b, err := New(cfg.Broker, store)
	if err != nil {
		return nil, errors.Join(err, closeCtl(), store.Close())
	}
	var h netio.Handler = b
	if cfg.WrapHandler != nil {
		h = cfg.WrapHandler(h)
	}
	ns, err := netio.Listen(cfg.Net, h)
	if err != nil {
		return nil, errors.Join(err, b.Close(), closeCtl(), store.Close())
	}
	addrs := ns.Addrs()
	for i := range eps {
		if eps[i].Port == 0 {
			eps[i].Port = int32(addrs[eps[i].Listener].(*net.TCPAddr).Port)
		}
	}
	b.setAdvertisedPort(eps[0].Port)
	b.setEndpoints(eps)
	for _, l := range netListeners(cfg.Net) {
		cfg.Logger.Info("listening", "listener", l.Name, "security_protocol", l.Protocol,
			"addr", addrs[l.Name].String(), "advertised", (*b.endpoints.Load())[l.Name].String())
	}
	if b.cl != nil {
		b.cl.start() // registers once the advertised port is known
	}
	return &Server{ctl: ctl, store: store, broker: b, net: ns, log: cfg.Logger}, nil
}

// netListeners are the listeners cfg.Net serves (one PLAINTEXT listener
// on Net.Addr when Net.Listeners is empty).
func netListeners(n netio.Config) []listener.Listener {
	if len(n.Listeners) > 0 {
		return n.Listeners
	}
	addr := n.Addr
	if addr == "" {
		addr = netio.DefaultAddr
	}
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	return []listener.Listener{{Name: "PLAINTEXT", Protocol: listener.Plaintext, Host: host, Port: p}}
}

// endpoints is the advertised endpoint of each listener, in order; port 0
// means "the port the listener gets". ServerConfig.Advertised applies to
// the first listener when it has none of its own.
func endpoints(cfg ServerConfig) ([]Endpoint, error) {
	var out []Endpoint
	for i, l := range netListeners(cfg.Net) {
		adv := l.Advertised
		if adv == "" && i == 0 {
			adv = cfg.Advertised
		}
		host, port, err := advertisedAddr(adv, l.Addr())
		if err != nil {
			return nil, fmt.Errorf("listener %s: %w", l.Name, err)
		}
		out = append(out, Endpoint{Listener: l.Name, Host: host, Port: port, Protocol: l.Protocol})
	}
	return out, nil
}

// advertisedAddr picks the host and port to advertise. Port 0 means "the
// port the listener gets".
func advertisedAddr(advertised, listen string) (string, int32, error) {
	addr := advertised
	if addr == "" {
		addr = listen
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("broker: bad listener address %q: %w", addr, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("broker: bad port in %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		if advertised != "" {
			return "", 0, fmt.Errorf("broker: advertised listener %q has no usable host", advertised)
		}
		if host, err = os.Hostname(); err != nil {
			return "", 0, fmt.Errorf("broker: cannot get host name to advertise: %w", err)
		}
	}
	return host, int32(port), nil
}

// Addr is the listening address (with the real port).
func (s *Server) Addr() net.Addr { return s.net.Addr() }

// Addrs are the listening addresses (with the real ports) by listener name.
func (s *Server) Addrs() map[string]net.Addr { return s.net.Addrs() }

// Controller is this node's controller quorum member (nil without one).
func (s *Server) Controller() *controller.Controller { return s.ctl }

// Broker is the server's broker.
func (s *Server) Broker() *Broker { return s.broker }

// Store is the server's data directory.
func (s *Server) Store() *partition.Store { return s.store }

// NetHealth is nil while the listener accepts connections (netio.Server.Health).
func (s *Server) NetHealth() error { return s.net.Health() }

// NetStats are the listener's counters.
func (s *Server) NetStats() netio.Stats { return s.net.Stats() }

// Shutdown stops taking requests, serves those in flight (until ctx ends),
// then closes the broker and the store (flush, checkpoints, clean-shutdown
// marker) and last the controller (the broker's controlled shutdown uses
// it). Requests cut off because ctx ended are logged, not returned as
// an error: the data directory still closes cleanly.
func (s *Server) Shutdown(ctx context.Context) error {
	// Blocked JoinGroup/SyncGroup calls answer now rather than hold the
	// listener's drain until ctx ends.
	groupsErr := s.broker.closeGroups()
	if s.broker.cl != nil {
		s.broker.cl.stop() // controlled shutdown: the controller fences us now
	}
	if err := s.net.Shutdown(ctx); err != nil {
		s.log.Warn("requests in flight were cut off at the shutdown timeout", "err", err)
	}
	s.broker.topics.wait() // topic operations that outlived their request's timeout
	brokerErr := s.broker.Close()
	storeErr := s.store.Close()
	if storeErr != nil {
		storeErr = fmt.Errorf("broker: cannot close data directory: %w", storeErr)
	}
	var ctlErr error
	if s.ctl != nil {
		ctlErr = s.ctl.Close()
	}
	return errors.Join(groupsErr, brokerErr, storeErr, ctlErr)
}
