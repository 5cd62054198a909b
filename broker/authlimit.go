package broker

import (
	"sync"
	"time"
)

// Failed authentications per client address.
//
// connection.failed.authentication.delay.ms (Kafka's) slows one
// connection's guess; a client opening connections in parallel is not
// slowed by it. So each client address (IP, not port) also has a window:
// the first failure opens it, and once the address has failed
// FailedAuthMax times within FailedAuthWindow, every authentication from
// it is refused (SASL_AUTHENTICATION_FAILED, "too many failed
// authentications", after the delay, without checking the credentials)
// until the window ends. Refusals do not extend the window, so a client
// that fixed its password gets in at the end of it. The broker logs once
// when an address is blocked, and counts refusals
// (sluice_sasl_authentications_total{result="rate_limited"}).
//
// Memory is bounded: past maxAuthAddrs addresses, expired ones are
// dropped, and while none has expired a new address is not tracked (it
// still gets the per-connection delay).

// maxAuthAddrs bounds the addresses tracked.
const maxAuthAddrs = 4096

// authLimiter counts failed authentications per client address. Its lock
// is held for map updates only, never across I/O.
type authLimiter struct {
	max    int           // failures in a window that block the address; 0: off
	window time.Duration // how long a window lasts from its first failure
	mu     struct {
		sync.Mutex
		by map[string]authWindow
	}
}

// authWindow is one address's current window.
type authWindow struct {
	start    time.Time // first failure of the window
	failures int
}

func newAuthLimiter(max int, window time.Duration) *authLimiter {
	l := &authLimiter{max: max, window: window}
	l.mu.by = make(map[string]authWindow)
	return l
}

// blocked reports whether ip has used up its failures of the current
// window at now, and until when.
func (l *authLimiter) blocked(ip string, now time.Time) (bool, time.Time) {
	if l.max <= 0 {
		return false, time.Time{}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.mu.by[ip]
	end := w.start.Add(l.window)
	return ok && w.failures >= l.max && now.Before(end), end
}

// failed records a failure of ip at now and reports whether it is the one
// that blocks the address.
func (l *authLimiter) failed(ip string, now time.Time) bool {
	if l.max <= 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.mu.by[ip]
	if !ok && len(l.mu.by) >= maxAuthAddrs {
		l.pruneLocked(now)
		if len(l.mu.by) >= maxAuthAddrs {
			return false
		}
	}
	if !ok || !now.Before(w.start.Add(l.window)) {
		w = authWindow{start: now}
	}
	w.failures++
	l.mu.by[ip] = w
	return w.failures == l.max
}

// pruneLocked drops the addresses whose window is over.
func (l *authLimiter) pruneLocked(now time.Time) {
	for ip, w := range l.mu.by {
		if !now.Before(w.start.Add(l.window)) {
			delete(l.mu.by, ip)
		}
	}
}

// blockedAddrs is how many addresses are blocked at now (a gauge).
func (l *authLimiter) blockedAddrs(now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, w := range l.mu.by {
		if w.failures >= l.max && now.Before(w.start.Add(l.window)) {
			n++
		}
	}
	return n
}
