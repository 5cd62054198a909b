package broker

import "sync"

// coordEntry is one broker's group or transaction coordinator (C), opened
// on first use from its config (Cfg) and never reopened once closed.
//
// Opening takes openMu (one opening at a time) and does its slow part,
// creating the coordinator's topic, without mu: in a cluster that creation
// waits for this broker's reconciler, which takes mu after each pass
// (electCoordinators). Held there, every metadata change on the broker
// stalled for clusterWait when a request created the topic
// (BenchmarkMetadataPropagation found it).
type coordEntry[C comparable, Cfg any] struct {
	openMu sync.Mutex // serializes opening (its topic's creation); taken before mu, never by the reconciler
	mu     sync.Mutex
	cfg    Cfg
	c      C
	closed bool // closed: never reopen
}

// openedLocked returns the coordinator if open (ok), or closedErr once
// closed. Called with mu held.
func (e *coordEntry[C, Cfg]) openedLocked(closedErr error) (c C, ok bool, err error) {
	var zero C
	switch {
	case e.closed:
		return zero, false, closedErr
	case e.c != zero:
		return e.c, true, nil
	}
	return zero, false, nil
}

// get returns the coordinator, opening it if need be: prepare gets the
// config and does the slow part under openMu only, then the opener it
// returns runs under mu, unless the entry was closed meanwhile.
func (e *coordEntry[C, Cfg]) get(closedErr error, prepare func(Cfg) (func() (C, error), error)) (C, error) {
	var zero C
	e.mu.Lock()
	c, ok, err := e.openedLocked(closedErr)
	e.mu.Unlock()
	if ok || err != nil {
		return c, err
	}
	e.openMu.Lock()
	defer e.openMu.Unlock()
	e.mu.Lock() // again: closed or opened while this one waited
	c, ok, err = e.openedLocked(closedErr)
	cfg := e.cfg
	e.mu.Unlock()
	if ok || err != nil {
		return c, err
	}
	open, err := prepare(cfg)
	if err != nil {
		return zero, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return zero, closedErr
	}
	if c, err = open(); err != nil {
		return zero, err
	}
	e.c = c
	return c, nil
}
