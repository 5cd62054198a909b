// Package lograte rate-limits a log line per key (a client's address), so
// that one misconfigured client retrying in a loop logs once per interval
// instead of once per connection, while a second client is still logged.
package lograte

import (
	"sync"
	"time"
)

// maxKeys bounds the memory a flood of distinct addresses can take: past
// it, expired keys are dropped, and if none expired a new key is not
// logged until one does (the counters still count every event).
const maxKeys = 4096

// PerKey allows one event per key per interval. The zero value is not
// usable; call New.
type PerKey struct {
	every time.Duration
	mu    struct {
		sync.Mutex
		last map[string]time.Time // key → when it was last allowed
	}
}

// New returns a limiter allowing one event per key per every.
func New(every time.Duration) *PerKey {
	p := &PerKey{every: every}
	p.mu.last = make(map[string]time.Time)
	return p
}

// Allow reports whether an event for key at now should be logged, and if
// so records it.
func (p *PerKey) Allow(key string, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t, ok := p.mu.last[key]; ok && now.Sub(t) < p.every {
		return false
	}
	if len(p.mu.last) >= maxKeys {
		p.pruneLocked(now)
		if _, ok := p.mu.last[key]; !ok && len(p.mu.last) >= maxKeys {
			return false
		}
	}
	p.mu.last[key] = now
	return true
}

// pruneLocked drops the keys whose interval is over.
func (p *PerKey) pruneLocked(now time.Time) {
	for k, t := range p.mu.last {
		if now.Sub(t) >= p.every {
			delete(p.mu.last, k)
		}
	}
}
