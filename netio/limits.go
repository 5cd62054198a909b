package netio

import (
	"sync"
	"time"
)

// refusal is why a new connection was refused (0: admitted).
type refusal int

const (
	admitted refusal = iota
	refusedMaxConns
	refusedPerIP
	refusedRate
)

func (r refusal) String() string {
	switch r {
	case refusedMaxConns:
		return "max.connections reached"
	case refusedPerIP:
		return "max.connections.per.ip reached"
	case refusedRate:
		return "max.connection.creation.rate exceeded"
	}
	return ""
}

// connLimits applies max.connections, max.connections.per.ip (with its
// overrides) and max.connection.creation.rate. The accept goroutine calls
// admit; a connection's close calls release.
type connLimits struct {
	maxConns  int            // 0: no limit
	maxPerIP  int            // 0: no limit
	overrides map[string]int // IP → its own per-IP limit
	rate      int            // connections admitted per second; 0: no limit

	mu struct {
		sync.Mutex
		open        int
		perIP       map[string]int
		windowStart time.Time // start of the current one-second window
		windowCount int       // connections admitted in it
	}
}

func newConnLimits(cfg Config) *connLimits {
	l := &connLimits{maxConns: cfg.MaxConns, maxPerIP: cfg.MaxConnsPerIP,
		overrides: cfg.MaxConnsPerIPOverrides, rate: cfg.MaxConnCreationRate}
	l.mu.perIP = make(map[string]int)
	return l
}

// admit counts a new connection from ip, or says why it is refused.
func (l *connLimits) admit(ip string, now time.Time) refusal {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.maxConns > 0 && l.mu.open >= l.maxConns {
		return refusedMaxConns
	}
	limit := l.maxPerIP
	if n, ok := l.overrides[ip]; ok {
		limit = n
	}
	if (limit > 0 || l.overridden(ip)) && l.mu.perIP[ip] >= limit {
		return refusedPerIP
	}
	if l.rate > 0 {
		if now.Sub(l.mu.windowStart) >= time.Second || now.Before(l.mu.windowStart) {
			l.mu.windowStart, l.mu.windowCount = now, 0
		}
		if l.mu.windowCount >= l.rate {
			return refusedRate
		}
		l.mu.windowCount++
	}
	l.mu.open++
	l.mu.perIP[ip]++
	return admitted
}

// overridden reports whether ip has an override (an override of 0
// refuses every connection from it, as in Kafka).
func (l *connLimits) overridden(ip string) bool {
	_, ok := l.overrides[ip]
	return ok
}

// release uncounts a connection from ip.
func (l *connLimits) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mu.open--
	if n := l.mu.perIP[ip] - 1; n > 0 {
		l.mu.perIP[ip] = n
	} else {
		delete(l.mu.perIP, ip)
	}
}
