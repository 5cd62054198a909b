package netio

import (
	"fmt"
	"log/slog"
	"time"
)

// Config configures a Server. A zero field takes its default (see
// DefaultConfig).
type Config struct {
	// Addr is the TCP address to listen on, host:port. A port of 0 picks a
	// free port; Server.Addr reports it. Default ":9092".
	Addr string

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

	// IdleTimeout is connections.max.idle.ms: a connection with no request
	// and nothing being served for this long is closed. Checked by one
	// ticker every IdleTimeout/10 (bounded to [10ms, 30s]), so the close
	// comes up to 10% late. Default 10 minutes; negative disables it.
	IdleTimeout time.Duration

	// ConnBudgetBytes bounds, per connection, the bytes of requests
	// dispatched but not yet served plus responses queued but not yet sent
	// (file regions count by their length). Over budget, the event loop
	// stops dispatching that connection's requests and the request
	// goroutine waits for the writer; a slow reader thus holds about
	// 2×ConnBudgetBytes plus one request and one response. gnet keeps
	// reading the socket meanwhile; a connection whose unread input
	// exceeds MaxRequestBytes+ConnBudgetBytes is closed. Default 64 MiB;
	// lower it for many connections, raise it for deep pipelining.
	ConnBudgetBytes int64

	// Logger receives connection errors, recovered panics and gnet's own
	// messages. Default slog.Default().
	Logger *slog.Logger
}

// Defaults, see Config.
const (
	DefaultAddr            = ":9092"
	DefaultMaxRequestBytes = 100 << 20
	DefaultIdleTimeout     = 10 * time.Minute
	DefaultConnBudgetBytes = 64 << 20
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
		Logger:          slog.Default(),
	}
}

// withDefaults fills zero fields and checks the rest.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.MaxRequestBytes == 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.ConnBudgetBytes == 0 {
		cfg.ConnBudgetBytes = DefaultConnBudgetBytes
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
	}
	return cfg, nil
}

// idleCheckEvery is how often the idle ticker runs for timeout d.
func idleCheckEvery(d time.Duration) time.Duration {
	return min(max(d/10, 10*time.Millisecond), 30*time.Second)
}
