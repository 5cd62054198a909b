package netio

import (
	"context"
	"slices"
	"testing"
	"time"
)

// pendWant is the answer to opPend id: id, "P", the first 10 bytes.
func pendWant(h *testHandler, id uint32) string {
	return string(u32(id)) + "P" + string(h.data[:10])
}

// Pending responses overlap later requests (all handled before any wait
// returns) and leave in request order whatever order their waits end in;
// a complete response after them waits its turn.
func TestPendingOverlapsAndAnswersInOrder(t *testing.T) {
	h := newTestHandler(t, 1<<10)
	cfg := testConfig()
	cfg.MaxPending = 4
	s := startServer(t, cfg, h)
	c := dial(t, s)
	c.send(req(opPend, 1), req(opPend, 2), req(opPend, 3), req(opEcho, 4, []byte("e")))
	eventually(t, "four requests handled while three wait", func() bool { return h.handled.Load() == 4 })
	for _, id := range []uint32{3, 2, 1} {
		h.release(id)
	}
	for id := uint32(1); id <= 3; id++ {
		if got := string(c.recv()); got != pendWant(h, id) {
			t.Fatalf("response %d: %q, want %q", id, got, pendWant(h, id))
		}
	}
	if got := string(c.recv()); got != string(u32(4))+"e" {
		t.Fatalf("response 4: %q", got)
	}
}

// MaxPending bounds the pending responses: with 2, the third request is
// handled only after a wait returned.
func TestPendingBoundedByMaxPending(t *testing.T) {
	h := newTestHandler(t, 1<<10)
	cfg := testConfig()
	cfg.MaxPending = 2
	s := startServer(t, cfg, h)
	c := dial(t, s)
	c.send(req(opPend, 1), req(opPend, 2), req(opPend, 3))
	eventually(t, "two requests handled", func() bool { return h.handled.Load() >= 2 })
	for _, id := range []uint32{1, 2, 3} {
		h.release(id)
	}
	for id := uint32(1); id <= 3; id++ {
		if got := string(c.recv()); got != pendWant(h, id) {
			t.Fatalf("response %d: %q", id, got)
		}
	}
	ev := h.seen()
	if w1, h3 := slices.Index(ev, "w1"), slices.Index(ev, "h3"); w1 < 0 || h3 < w1 {
		t.Fatalf("events %v: request 3 handled before a wait returned (MaxPending 2)", ev)
	}
}

// Conn.WaitPending, called by a Handler, returns only once the earlier
// pending responses completed.
func TestWaitPendingWaitsForEarlierPending(t *testing.T) {
	h := newTestHandler(t, 1<<10)
	s := startServer(t, testConfig(), h)
	c := dial(t, s)
	c.send(req(opPend, 1), req(opSettle, 2, []byte("s")))
	eventually(t, "both requests handed to the Handler", func() bool { return h.handled.Load() == 2 })
	h.release(1)
	if got := string(c.recv()); got != pendWant(h, 1) {
		t.Fatalf("response 1: %q", got)
	}
	if got := string(c.recv()); got != string(u32(2))+"s" {
		t.Fatalf("response 2: %q", got)
	}
	if ev := h.seen(); !slices.Equal(ev, []string{"h1", "w1", "h2"}) {
		t.Fatalf("events %v, want [h1 w1 h2]", ev)
	}
}

// Conn.PendingAhead, asked by a Handler, is true while an earlier
// request's Pending wait has not returned, and false before any and once
// they have.
func TestPendingAheadWhileEarlierWaits(t *testing.T) {
	h := newTestHandler(t, 1<<10)
	s := startServer(t, testConfig(), h)
	c := dial(t, s)
	c.send(req(opAhead, 1))
	if got := string(c.recv()); got != string(u32(1))+"0" {
		t.Fatalf("nothing pending: %q, want PendingAhead false", got)
	}
	c.send(req(opPend, 2), req(opAhead, 3))
	eventually(t, "both requests handled", func() bool { return h.handled.Load() == 3 })
	h.release(2)
	if got := string(c.recv()); got != pendWant(h, 2) {
		t.Fatalf("response 2: %q", got)
	}
	if got := string(c.recv()); got != string(u32(3))+"1" {
		t.Fatalf("behind a pending wait: %q, want PendingAhead true", got)
	}
	c.send(req(opAhead, 4))
	if got := string(c.recv()); got != string(u32(4))+"0" {
		t.Fatalf("after the wait returned: %q, want PendingAhead false", got)
	}
}

// A pending response that fails closes the connection after the
// responses before it; nothing handled after it is sent (its pending
// wait still runs, its region is released).
func TestPendingErrorClosesAfterEarlierResponses(t *testing.T) {
	h := newTestHandler(t, 1<<10)
	s := startServer(t, testConfig(), h)
	c := dial(t, s)
	c.send(req(opPend, 1), req(opPendErr, 2), req(opPend, 3), req(opEcho, 4, []byte("e")))
	eventually(t, "three requests handled", func() bool { return h.handled.Load() >= 3 })
	for _, id := range []uint32{3, 2, 1} {
		h.release(id)
	}
	if got := string(c.recv()); got != pendWant(h, 1) {
		t.Fatalf("response 1: %q", got)
	}
	c.expectClosed()
	roundTrip(t, s, h)
}

// A client that closes while responses are pending: the waits still run
// and their responses are dropped, regions released (startServer checks).
func TestPendingAfterClientClosed(t *testing.T) {
	h := newTestHandler(t, 1<<10)
	s := startServer(t, testConfig(), h)
	c := dial(t, s)
	c.send(req(opPend, 1), req(opPend, 2))
	eventually(t, "both handled", func() bool { return h.handled.Load() == 2 })
	c.nc.Close()
	eventually(t, "the connection closed", func() bool { return s.Stats().ConnsOpen == 0 })
	h.release(1)
	h.release(2)
	eventually(t, "both waits returned", func() bool {
		ev := h.seen()
		return slices.Contains(ev, "w1") && slices.Contains(ev, "w2")
	})
	roundTrip(t, s, h)
}

// Shutdown waits for pending responses: they are answered and sent before
// the connection closes.
func TestShutdownFinishesPending(t *testing.T) {
	h := newTestHandler(t, 1<<10)
	s, err := Listen(testConfig(), h)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, s)
	c.send(req(opPend, 1), req(opPend, 2))
	eventually(t, "both handled", func() bool { return h.handled.Load() == 2 })
	shut := startShutdown(t, s)
	h.release(2)
	h.release(1)
	for id := uint32(1); id <= 2; id++ {
		if got := string(c.recv()); got != pendWant(h, id) {
			t.Fatalf("response %d: %q", id, got)
		}
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	c.expectClosed()
	if a, r := h.acquired.Load(), h.released.Load(); a != r || a != 2 {
		t.Fatalf("regions acquired %d, released %d", a, r)
	}
}

// One completer serves the pending responses of a connection that sends
// them one after another: it waits for the next (completerLinger, here an
// hour) instead of exiting after each; it exits when the connection
// closes, so Shutdown does not wait out its linger.
func TestCompleterWaitsForNextPending(t *testing.T) {
	old := completerLinger.Load()
	completerLinger.Store(int64(time.Hour))
	defer completerLinger.Store(old)
	h := newTestHandler(t, 1<<10)
	s, err := Listen(testConfig(), h)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, s)
	for id := uint32(1); id <= 5; id++ {
		c.send(req(opPend, id))
		h.release(id)
		if got := string(c.recv()); got != pendWant(h, id) {
			t.Fatalf("response %d: %q", id, got)
		}
		// The completer has queued it and is about to wait (or waits).
		eventually(t, "the completer idle", func() bool {
			c := onlyConn(s)
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.mu.compIdle
		})
	}
	if n := s.stats.completers.Load(); n != 1 {
		t.Fatalf("%d completers started for 5 pending responses one after another, want 1", n)
	}
	c.nc.Close()
	eventually(t, "the connection closed", func() bool { return s.Stats().ConnsOpen == 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v (a completer waiting out its linger?)", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Shutdown took %v", d)
	}
}

// onlyConn is s's one open connection.
func onlyConn(s *Server) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.mu.conns {
		return c
	}
	return nil
}
