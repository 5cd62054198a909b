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
		last map[string]entry
	}
}

// entry is a key's last allowed event and the events refused since.
type entry struct {
	at   time.Time
	held int
}

// New returns a limiter allowing one event per key per every.
func New(every time.Duration) *PerKey {
	p := &PerKey{every: every}
	p.mu.last = make(map[string]entry)
	return p
}

// Allow reports whether an event for key at now should be logged, and if
// so records it.
func (p *PerKey) Allow(key string, now time.Time) bool {
	ok, _ := p.AllowHeld(key, now)
	return ok
}

// AllowHeld is Allow that also returns, when the event is allowed, how many
// events of key it refused since the last one it allowed (for a
// "suppressed=N" field).
func (p *PerKey) AllowHeld(key string, now time.Time) (ok bool, held int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, seen := p.mu.last[key]
	if seen && now.Sub(e.at) < p.every {
		e.held++
		p.mu.last[key] = e
		return false, 0
	}
	if len(p.mu.last) >= maxKeys {
		p.pruneLocked(now)
		if _, ok := p.mu.last[key]; !ok && len(p.mu.last) >= maxKeys {
			return false, 0
		}
	}
	p.mu.last[key] = entry{at: now}
	return true, e.held
}

// pruneLocked drops the keys whose interval is over.
func (p *PerKey) pruneLocked(now time.Time) {
	for k, e := range p.mu.last {
		if now.Sub(e.at) >= p.every {
			delete(p.mu.last, k)
		}
	}
}
