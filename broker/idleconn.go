package broker

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Connections kept to other brokers sit idle between requests: the
// heartbeat connection to the active controller's broker between beats,
// the pool's connections between transaction markers. A broker shutting
// down half-closes each connection and waits, up to a second, for its
// client to close its side (netio's lingering close, Server.Shutdown); a
// client that reads only after it has asked something would notice the
// FIN at its next request, and hold that broker's shutdown for the whole
// second. An idleWatch reads while its connection is idle, so that the
// peer's FIN (or anything unasked) closes the connection at once:
//
//	round trip ─▶ watchIdle(c) ─▶ Read blocks ─┬─ FIN, error, a stray byte: c closed, take says false
//	                                           └─ take: read deadline in the past, Read returns, c handed back
type idleWatch struct {
	c    net.Conn
	done chan struct{}
	dead atomic.Bool
	mu   sync.Mutex // orders take's deadline against run's reset of it
	took bool
}

// watchIdle starts watching c, which nobody else may use until take.
func watchIdle(c net.Conn) *idleWatch {
	w := &idleWatch{c: c, done: make(chan struct{})}
	go w.run()
	return w
}

func (w *idleWatch) run() {
	defer close(w.done)
	var b [1]byte
	for {
		w.mu.Lock()
		if w.took {
			w.mu.Unlock()
			return
		}
		// No deadline while idle (the last round trip's may be set).
		_ = w.c.SetReadDeadline(time.Time{})
		w.mu.Unlock()
		n, err := w.c.Read(b[:])
		if n == 0 && errors.Is(err, os.ErrDeadlineExceeded) {
			continue // take's deadline: the loop's check ends it
		}
		w.dead.Store(true)
		_ = w.c.Close()
		return
	}
}

// take stops watching and returns the connection, or nil if it was closed
// meanwhile.
func (w *idleWatch) take() net.Conn {
	w.mu.Lock()
	w.took = true
	_ = w.c.SetReadDeadline(time.Unix(1, 0))
	w.mu.Unlock()
	<-w.done
	if w.dead.Load() {
		return nil
	}
	return w.c
}
