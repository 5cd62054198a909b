package netio

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// Writing responses in place (writer.go, sendQueued): small byte
// responses are written by the goroutine that queued them, file regions
// and large responses by the writer goroutine, responses before a quick
// frame are held back and sent with its own; all in request order.

// A small response is written by the request goroutine itself; a file
// region goes to the writer goroutine.
func TestSmallResponseWrittenInline(t *testing.T) {
	h := newTestHandler(t, 1<<16)
	s := startServer(t, testConfig(), h)
	c := dial(t, s)
	c.send(req(opEcho, 1, []byte("small")))
	if got := string(c.recv()); got != string(u32(1))+"small" {
		t.Fatalf("response 1: %q", got)
	}
	if st := s.Stats(); st.InlineBatches != 1 || st.WriterBatches != 0 || writerStarted(s) {
		t.Fatalf("after a small response: inline %d, writer %d batches, writer started %v; want 1, 0, false",
			st.InlineBatches, st.WriterBatches, writerStarted(s))
	}
	q := req(opFile, 2, u64(100), u64(5000))
	c.send(q)
	if got := c.recv(); !bytes.Equal(got, h.want(q)) {
		t.Fatalf("response 2: %d bytes differ from the %d expected", len(got), len(h.want(q)))
	}
	q = req(opBig, 3, u32(inlineMax+1))
	c.send(q)
	if got := c.recv(); !bytes.Equal(got, h.want(q)) {
		t.Fatalf("response 3: %d bytes differ from the %d expected", len(got), len(h.want(q)))
	}
	if st := s.Stats(); st.InlineBatches != 1 || st.WriterBatches != 2 || !writerStarted(s) {
		t.Fatalf("after a region and a large response: inline %d, writer %d batches; want 1, 2", st.InlineBatches, st.WriterBatches)
	}
}

// writerStarted reports whether the writer goroutine of s's one
// connection was started.
func writerStarted(s *Server) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.mu.conns {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.mu.writerOn
	}
	return false
}

// blockThen sends a request that blocks until released, then the given
// ones, and waits until they are all queued for the request goroutine
// (s serves c alone): once the first is released, the rest follow it
// without waiting for input.
func blockThen(t *testing.T, s *Server, c *client, rest ...[]byte) {
	t.Helper()
	c.send(append([][]byte{req(opBlock, 0)}, rest...)...)
	eventually(t, "every frame queued", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for sc := range s.mu.conns {
			sc.mu.Lock()
			n, handling := len(sc.mu.frames), sc.mu.handling
			sc.mu.Unlock()
			return handling && n == len(rest)
		}
		return false
	})
}

// Responses ready together leave in one write: while the next frame is
// quick the request goroutine holds its responses back, at most holdMax
// of them.
func TestQuickFramesShareOneWrite(t *testing.T) {
	f := func(n int, wantBatches uint64) {
		t.Helper()
		h := newTestHandler(t, 1<<16)
		h.quickOps = string(opEcho)
		s := startServer(t, testConfig(), h)
		c := dial(t, s)
		var echos [][]byte
		for i := 1; i <= n; i++ {
			echos = append(echos, req(opEcho, uint32(i), []byte(fmt.Sprint("e", i))))
		}
		blockThen(t, s, c, echos...)
		h.release(0)
		if got := string(c.recv()); got != string(u32(0)) {
			t.Fatalf("response 0: %q", got)
		}
		for i, q := range echos {
			if got := c.recv(); !bytes.Equal(got, h.want(q)) {
				t.Fatalf("response %d: %q, want %q", i+1, got, h.want(q))
			}
		}
		if st := s.Stats(); st.InlineBatches != wantBatches || st.WriterBatches != 0 {
			t.Fatalf("%d quick frames: inline %d, writer %d batches; want %d, 0", n, st.InlineBatches, st.WriterBatches, wantBatches)
		}
	}
	for _, n := range []int{1, 10, holdMax - 1, holdMax, holdMax + 1, 40, 2 * holdMax, 3*holdMax - 1} {
		f(n, uint64(n+holdMax)/holdMax) // n+1 responses, holdMax a write
	}
}

// A response is not held back behind a frame that is not quick (a long
// poll): the writer goroutine sends it while that frame's Handler waits.
func TestNoHoldBeforeSlowFrame(t *testing.T) {
	h := newTestHandler(t, 1<<16)
	h.quickOps = string(opEcho)
	s := startServer(t, testConfig(), h)
	c := dial(t, s)
	blockThen(t, s, c, req(opEcho, 1, []byte("a")), req(opGate, 2), req(opEcho, 3, []byte("b")))
	h.release(0)
	for _, want := range []string{string(u32(0)), string(u32(1)) + "a"} {
		got, err := c.tryRecv(10 * time.Second)
		if err != nil || string(got) != want {
			t.Fatalf("before the slow request returned: %q, %v; want %q", got, err, want)
		}
	}
	if st := s.Stats(); st.InlineBatches != 0 || st.WriterBatches != 1 {
		t.Fatalf("before a slow frame: inline %d, writer %d batches; want 0, 1 (held 0 and 1, then left to the writer)",
			st.InlineBatches, st.WriterBatches)
	}
	<-h.entered
	close(h.gate)
	if got := c.recv(); !bytes.Equal(got, h.want(req(opGate, 2))) {
		t.Fatalf("response 2: %d bytes", len(got))
	}
	if got := string(c.recv()); got != string(u32(3))+"b" {
		t.Fatalf("response 3: %q", got)
	}
}

// A QuickChecker that panics does not take the server down: the frame
// counts as slow, and its Handle call, which panics too, is recovered and
// closes the connection as any Handler panic does; the server serves on.
func TestQuickPanicRecovered(t *testing.T) {
	h := newTestHandler(t, 1<<16)
	h.quickOps = string(opEcho) + "!"
	s := startServer(t, testConfig(), h)
	c := dial(t, s)
	blockThen(t, s, c, req(opPanic, 1))
	h.release(0)
	c.expectClosed() // response 0 may or may not leave first, as before any Handler panic
	if st := s.Stats(); st.PanicsRecovered != 1 {
		t.Fatalf("%+v", st)
	}
	roundTrip(t, s, h)
}

// Held responses never wait for room in a budget they fill themselves:
// with a budget smaller than the responses, every one still arrives.
func TestHoldWithinTinyBudget(t *testing.T) {
	h := newTestHandler(t, 1<<16)
	h.quickOps = string(opEcho)
	cfg := testConfig()
	cfg.ConnBudgetBytes = 64
	s := startServer(t, cfg, h)
	c := dial(t, s)
	var reqs [][]byte
	for i := range 200 {
		reqs = append(reqs, req(opEcho, uint32(i), bytes.Repeat([]byte{'x'}, 20+i%40)))
	}
	sent := c.sendAsync(reqs...)
	for i, q := range reqs {
		got, err := c.tryRecv(10 * time.Second)
		if err != nil || !bytes.Equal(got, h.want(q)) {
			t.Fatalf("response %d: %q, %v", i, got, err)
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}

// Pipelined requests of every kind, with responses held before quick
// echoes and large byte responses, written in place or by the writer
// goroutine around its file regions: every response arrives intact and in
// order. (Which goroutine writes which batch depends on timing; a lone
// echo first is written in place.)
func TestPipelinedOrderQuick(t *testing.T) {
	h := newTestHandler(t, 1<<20)
	h.quickOps = string([]byte{opEcho, opBig})
	s := startServer(t, testConfig(), h)
	c := dial(t, s)
	c.send(req(opEcho, 1000, []byte("first")))
	if got := string(c.recv()); got != string(u32(1000))+"first" {
		t.Fatalf("first response: %q", got)
	}
	var reqs [][]byte
	for i := range 400 {
		id := uint32(i)
		switch i % 7 {
		case 0, 1, 2:
			reqs = append(reqs, req(opEcho, id, []byte(fmt.Sprint("payload-", i))))
		case 3:
			reqs = append(reqs, req(opFile, id, u64(uint64(i*3001%(1<<19))), u64(uint64(i*37%60000))))
		case 4:
			reqs = append(reqs, req(opBig, id, u32(uint32(i*997%(2*inlineMax)))))
		case 5:
			reqs = append(reqs, req(opNil, id))
		case 6:
			reqs = append(reqs, req(opMixed, id, u64(uint64(i*17)), u64(uint64(i*13))))
		}
	}
	sent := c.sendAsync(reqs...)
	for i, q := range reqs {
		if q[0] == opNil {
			continue
		}
		got, err := c.tryRecv(10 * time.Second)
		if err == nil && !bytes.Equal(got, h.want(q)) {
			err = fmt.Errorf("%d bytes differ from the %d expected", len(got), len(h.want(q)))
		}
		if err != nil {
			t.Fatalf("response %d (op %q): %v", i, q[0], err)
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.InlineBatches == 0 || st.WriterBatches == 0 {
		t.Fatalf("inline %d, writer %d batches: want both", st.InlineBatches, st.WriterBatches)
	}
}

// A client that stops reading blocks the request goroutine inside its
// own write; the write timeout still cuts it off and closes the
// connection. Each request is sent once the one before it was written in
// place, so that the request goroutine, not the writer, writes them all.
func TestInlineWriteTimeout(t *testing.T) {
	h := newTestHandler(t, 1<<16)
	cfg := testConfig()
	cfg.IdleTimeout = 300 * time.Millisecond
	s := startServer(t, cfg, h)
	c := dial(t, s)
	c.tcp.SetReadBuffer(4 << 10)
	for i := 0; s.Stats().WriteTimeouts == 0; i++ {
		if i == 2000 {
			t.Fatal("2000 responses of 60000 bytes written to a client that reads none")
		}
		c.send(req(opBig, uint32(i), u32(60000)))
		eventually(t, "the response written in place, or the write cut off", func() bool {
			st := s.Stats()
			return st.InlineBatches == uint64(i+1) || st.WriteTimeouts == 1
		})
	}
	eventually(t, "the connection to close", func() bool { return s.Stats().ConnsOpen == 0 })
	if st := s.Stats(); st.WriterBatches != 0 || st.IdleClosed != 0 {
		t.Fatalf("%+v", st)
	}
}
