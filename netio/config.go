package netio

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/sluice/sluice/listener"
)

// Config configures a Server. A zero field takes its default (see
// DefaultConfig).
type Config struct {
	// Addr is the TCP address to listen on, host:port. A port of 0 picks a
	// free port; Server.Addr reports it. Default ":9092".
	Addr string

	// Listeners, when set, replaces Addr: one listening socket per entry
	// (Name, Protocol and Addr are used), all served by the same event
	// loops and limits. Each connection knows the listener it came in on
	// (Conn.ListenerName, Conn.SecurityProtocol). Unset: Addr is one
	// listener named PLAINTEXT. netio serves bytes as they come: a
	// protocol's security (SASL, TLS) is the Handler's business.
	Listeners []listener.Listener

	// Multicore runs one event loop per CPU (or NumEventLoop loops) instead
	// of one. Event loops only read and frame, so one loop serves many
	// connections; more loops help when many clients send small requests.
	// DefaultConfig sets it to true.
	Multicore bool

	// NumEventLoop fixes the number of event loops when Multicore is set.
	// Default 0: one per CPU.
	NumEventLoop int

	// MaxRequestBytes is socket.request.max.bytes: a size prefix above it
	// (or below 0) closes the connection before anything is allocated.
	// Default 100 MiB. Lower it to bound the memory one request can take;
	// it must stay above the clients' max.request.size.
	MaxRequestBytes int32

	// SASLMaxReceiveBytes is sasl.server.max.receive.size: on SASL
	// listeners, the largest request (SASL token or other) accepted before
	// the Handler lifts the limit (Conn.SetMaxRequestBytes) once the client
	// has authenticated. Default 512 KiB, Kafka's: an unauthenticated
	// client cannot make the broker buffer more.
	SASLMaxReceiveBytes int32

	// IdleTimeout is connections.max.idle.ms: a connection with no byte
	// received or sent for this long and nothing being served or sent is
	// closed (IdleClosed). It is also the write deadline: a connection
	// whose writer made no progress for this long (a client that stopped
	// reading; progress is counted per writev and per MiB of a file region)
	// is closed although responses are pending, releasing the regions they
	// pin (WriteTimeouts). Checked by one ticker (see FrameTimeout), so the
	// close comes up to 10% late. Default 10 minutes; negative disables
	// both.
	IdleTimeout time.Duration

	// ConnBudgetBytes bounds, per connection, the bytes of requests
	// dispatched but not yet served plus responses queued but not yet sent
	// (file regions count by their length). Over budget, the event loop
	// stops dispatching that connection's requests and the request
	// goroutine waits for the writer; a slow reader thus holds about
	// 2×ConnBudgetBytes plus one request and one response (frames
	// dispatched while the responses were few, then responses). A client that
	// keeps sending meanwhile is muted: its socket is no longer read until
	// the budget has room, so TCP slows it (see the package doc). Default
	// 64 MiB; lower it for many connections, raise it for deep pipelining.
	ConnBudgetBytes int64

	// MaxPending bounds, per connection, the responses a Handler returned
	// as Pending (a produce waiting for its fsync or its replicas) that
	// are not complete yet: with that many outstanding, the next request
	// is not handled until the oldest completes. Their frames stay
	// counted against ConnBudgetBytes until then, which bounds their
	// bytes. Default 5, what franz-go and the Java client keep in flight
	// per connection (max.in.flight.requests.per.connection); 1 serves
	// one request at a time end to end.
	MaxPending int

	// MaxConns is max.connections: connections open at once. A connection
	// accepted beyond it is closed at once and counted
	// (Stats.RefusedMaxConns). Default 0: no limit (Kafka's default is
	// Int.MAX). Set it below the file-descriptor limit divided by the
	// descriptors per connection (2, see the package doc) minus those the
	// logs need, so that the limit, not the OS, sheds connections.
	MaxConns int

	// MaxConnsPerIP is max.connections.per.ip: connections open at once
	// from one client IP address; beyond it, new ones from that address are
	// closed and counted (Stats.RefusedPerIP). Default 0: no limit.
	MaxConnsPerIP int

	// MaxConnsPerIPOverrides is max.connections.per.ip.overrides: per-IP
	// limits replacing MaxConnsPerIP for those addresses (keys are IP
	// addresses in net.IP.String form; 0 refuses every connection).
	MaxConnsPerIPOverrides map[string]int

	// MaxConnCreationRate is max.connection.creation.rate: connections
	// admitted per second (in one-second windows); beyond it new ones are
	// closed and counted (Stats.RefusedRate). Default 0: no limit.
	MaxConnCreationRate int

	// FrameTimeout bounds how long a request frame may take to arrive once
	// its first byte has: a connection holding a partial frame for longer
	// is closed (Stats.FrameTimeouts), however slowly its bytes trickle in
	// (slowloris). Time spent muted by back-pressure does not count.
	// Checked by the idle ticker, so the close may come up to 10% late.
	// Default 30 s; negative disables it.
	FrameTimeout time.Duration

	// TLS holds, by listener name, the configuration of each listener
	// whose protocol is SSL or SASL_SSL (one is required for each).
	// Connections of a TLS listener are served by goroutines (gnet cannot
	// own a TLS session) with the same Handler, framing, budget, timeouts
	// and limits; file regions are read and encrypted through a pooled
	// 64 KiB buffer instead of sendfile (Stats.TLSCopiedBytes). Set
	// GetConfigForClient or GetCertificate to change certificates without
	// a restart. Default none: every listener is plaintext, on gnet.
	TLS map[string]*tls.Config

	// HandshakeTimeout bounds a TLS handshake: a connection that has not
	// completed it this long after being accepted is closed
	// (Stats.TLSHandshakeTimeouts). Kafka has no such setting (its idle
	// timeout applies); without it a client that opens connections and
	// sends nothing holds a goroutine and a descriptor each until
	// IdleTimeout. Default 10 s; only used with TLS.
	HandshakeTimeout time.Duration

	// ShutdownLinger is how long Shutdown, once every dispatched request
	// is answered, keeps each connection open for reading after sending
	// its FIN, waiting for the client to close its side (a lingering
	// close; see Server.Shutdown). Input that arrives meanwhile is read and
	// dropped, never served; a connection quiet for 250 ms (no byte either
	// way) is closed without waiting. Kafka has no such setting: it closes
	// at once.
	// Default 1 s; negative: close at once. Shutdown's context bounds it
	// too.
	ShutdownLinger time.Duration

	// Logger receives connection errors, recovered panics and gnet's own
	// messages. Default slog.Default().
	Logger *slog.Logger
}

// Defaults, see Config.
const (
	DefaultAddr                = ":9092"
	DefaultMaxRequestBytes     = 100 << 20
	DefaultSASLMaxReceiveBytes = 512 << 10
	DefaultIdleTimeout         = 10 * time.Minute
	DefaultConnBudgetBytes     = 64 << 20
	DefaultFrameTimeout        = 30 * time.Second
	DefaultHandshakeTimeout    = 10 * time.Second
	DefaultMaxPending          = 5
	DefaultShutdownLinger      = time.Second
)

// DefaultConfig returns the defaults: listen on :9092 with one event loop
// per CPU, 100 MiB requests, 10 minute idle timeout, 64 MiB budget per
// connection, slog.Default().
func DefaultConfig() Config {
	return Config{
		Addr:            DefaultAddr,
		Multicore:       true,
		MaxRequestBytes: DefaultMaxRequestBytes,
		IdleTimeout:     DefaultIdleTimeout,
		ConnBudgetBytes: DefaultConnBudgetBytes,
		MaxPending:      DefaultMaxPending,
		FrameTimeout:    DefaultFrameTimeout,
		Logger:          slog.Default(),
	}
}

// withDefaults fills zero fields and checks the rest.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if len(cfg.Listeners) == 0 {
		host, port, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			return cfg, fmt.Errorf("netio: bad address %q: %w", cfg.Addr, err)
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return cfg, fmt.Errorf("netio: bad port in %q: %w", cfg.Addr, err)
		}
		cfg.Listeners = []listener.Listener{{Name: "PLAINTEXT", Protocol: listener.Plaintext, Host: host, Port: int(p)}}
	}
	for _, l := range cfg.Listeners {
		if l.Protocol.TLS() && cfg.TLS[l.Name] == nil {
			return cfg, fmt.Errorf("netio: listener %s is %s but has no TLS configuration", l.Name, l.Protocol)
		}
	}
	if cfg.MaxRequestBytes == 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if cfg.SASLMaxReceiveBytes <= 0 {
		cfg.SASLMaxReceiveBytes = DefaultSASLMaxReceiveBytes
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.ConnBudgetBytes == 0 {
		cfg.ConnBudgetBytes = DefaultConnBudgetBytes
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.FrameTimeout == 0 {
		cfg.FrameTimeout = DefaultFrameTimeout
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.ShutdownLinger == 0 {
		cfg.ShutdownLinger = DefaultShutdownLinger
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	switch {
	case cfg.MaxRequestBytes < 0:
		return cfg, fmt.Errorf("netio: MaxRequestBytes %d is negative", cfg.MaxRequestBytes)
	case cfg.ConnBudgetBytes < 0:
		return cfg, fmt.Errorf("netio: ConnBudgetBytes %d is negative", cfg.ConnBudgetBytes)
	case cfg.NumEventLoop < 0:
		return cfg, fmt.Errorf("netio: NumEventLoop %d is negative", cfg.NumEventLoop)
	case cfg.MaxConns < 0 || cfg.MaxConnsPerIP < 0 || cfg.MaxConnCreationRate < 0:
		return cfg, fmt.Errorf("netio: negative connection limit (MaxConns %d, MaxConnsPerIP %d, MaxConnCreationRate %d)",
			cfg.MaxConns, cfg.MaxConnsPerIP, cfg.MaxConnCreationRate)
	}
	for ip, n := range cfg.MaxConnsPerIPOverrides {
		if n < 0 || net.ParseIP(ip) == nil {
			return cfg, fmt.Errorf("netio: bad MaxConnsPerIPOverrides entry %q: %d", ip, n)
		}
	}
	return cfg, nil
}

// tickEvery is how often the idle ticker runs: a tenth of the shorter of
// IdleTimeout and FrameTimeout (those enabled), bounded to [10ms, 30s].
func (cfg Config) tickEvery() time.Duration {
	d := 300 * time.Second
	for _, t := range []time.Duration{cfg.IdleTimeout, cfg.FrameTimeout} {
		if t > 0 {
			d = min(d, t)
		}
	}
	return min(max(d/10, 10*time.Millisecond), 30*time.Second)
}
