package netio

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluice/sluice/sendfile"
)

func TestListenAddr(t *testing.T) {
	h := newTestHandler(t, 4096)
	s := startServer(t, testConfig(), h)
	addr, ok := s.Addr().(*net.TCPAddr)
	if !ok || addr.Port == 0 || !addr.IP.IsLoopback() {
		t.Fatalf("Addr() = %v", s.Addr())
	}
	roundTrip(t, s, h)
	if _, err := Listen(Config{Addr: s.Addr().String()}, h); err == nil {
		t.Fatal("second Listen on a bound port succeeded")
	}
}

// TestPipelinedOrder pipelines byte, file-region and mixed responses from
// several connections at once and checks each arrives in order, exact.
func TestPipelinedOrder(t *testing.T) {
	const conns, perConn = 6, 300
	h := newTestHandler(t, 1<<20)
	s := startServer(t, testConfig(), h)
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for ci := range conns {
		c := dial(t, s)
		reqs := make([][]byte, perConn)
		for i := range reqs {
			id := uint32(ci*perConn + i)
			off, n := uint64(i*3001%(1<<19)), uint64(i*37%60000)
			switch i % 4 {
			case 0:
				reqs[i] = req(opEcho, id, []byte(fmt.Sprint("payload-", i)))
			case 1:
				reqs[i] = req(opFile, id, u64(off), u64(n))
			case 2:
				reqs[i] = req(opMixed, id, u64(off), u64(n))
			case 3:
				reqs[i] = req(opBig, id, u32(uint32(i*101)))
			}
		}
		sent := c.sendAsync(reqs...)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, q := range reqs {
				got, err := c.tryRecv(10 * time.Second)
				if err == nil && !bytes.Equal(got, h.want(q)) {
					err = fmt.Errorf("conn %d response %d: %d bytes differ from the %d expected", ci, i, len(got), len(h.want(q)))
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- <-sent
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats(); st.Requests != conns*perConn {
		t.Fatalf("Requests = %d, want %d; handled %d; %+v", st.Requests, conns*perConn, h.handled.Load(), st)
	}
}

func TestNilResponseAndHandlerError(t *testing.T) {
	h := newTestHandler(t, 4096)
	s := startServer(t, testConfig(), h)
	c := dial(t, s)
	a, b := req(opEcho, 1, []byte("a")), req(opFile, 3, u64(10), u64(100))
	c.send(a, req(opNil, 2), b, req(opError, 4), req(opEcho, 5))
	if got := c.recv(); !bytes.Equal(got, h.want(a)) {
		t.Fatalf("first response %q", got)
	}
	if got := c.recv(); !bytes.Equal(got, h.want(b)) {
		t.Fatalf("second response %q", got)
	}
	c.expectClosed() // the error closes it after the responses before it
	roundTrip(t, s, h)
}

// TestSlowReader64MiB sends a 64 MiB region to a client that reads in small
// chunks with pauses: the writer must wait on EAGAIN and resume.
func TestSlowReader64MiB(t *testing.T) {
	const size = 64 << 20
	h := newTestHandler(t, size)
	s := startServer(t, testConfig(), h)
	c := dial(t, s)
	if err := c.tcp.SetReadBuffer(32 << 10); err != nil {
		t.Fatal(err)
	}
	before := sendfile.Stats()
	c.send(req(opFile, 1, u64(0), u64(size)))
	c.nc.SetReadDeadline(time.Now().Add(60 * time.Second))
	var hdr [8]byte
	if _, err := io.ReadFull(c.nc, hdr[:]); err != nil {
		t.Fatal(err)
	}
	if n := binary.BigEndian.Uint32(hdr[:4]); n != 4+size {
		t.Fatalf("size prefix %d", n)
	}
	sum := sha256.New()
	buf := make([]byte, 16<<10)
	for got, reads := 0, 0; got < size; reads++ {
		n, err := c.nc.Read(buf[:min(len(buf), size-got)])
		if err != nil {
			t.Fatalf("after %d bytes: %v", got, err)
		}
		sum.Write(buf[:n])
		got += n
		if reads%64 == 0 {
			time.Sleep(time.Millisecond) // a slow consumer, not a wait for a condition
		}
	}
	want := sha256.Sum256(h.data)
	if !bytes.Equal(sum.Sum(nil), want[:]) {
		t.Fatal("SHA-256 differs")
	}
	after := sendfile.Stats()
	sent, copied := after.SendfileBytes-before.SendfileBytes, after.CopiedBytes-before.CopiedBytes
	t.Logf("sendfile bytes %d, copied bytes %d", sent, copied)
	if sent < size || copied != 0 {
		t.Fatalf("sendfile moved %d bytes and copy %d; want all %d by sendfile", sent, copied, size)
	}
}

// TestBadInput feeds each kind of bad input on its own connection; each
// must be closed (or ignored) while other clients are still served.
func TestBadInput(t *testing.T) {
	h := newTestHandler(t, 4096)
	cfg := testConfig()
	s := startServer(t, cfg, h)
	f := func(name string, input []byte, wantRejected bool) {
		t.Helper()
		before := s.Stats().FramesRejected
		c := dial(t, s)
		c.write(input)
		c.expectClosed()
		if got := s.Stats().FramesRejected - before; wantRejected && got != 1 {
			t.Fatalf("%s: FramesRejected grew by %d", name, got)
		}
		roundTrip(t, s, h)
	}
	f("negative size", []byte{0xff, 0xff, 0xff, 0xfe, 1, 2, 3}, true)
	f("size MinInt32", []byte{0x80, 0, 0, 0}, true)
	f("size just over max", u32(uint32(cfg.MaxRequestBytes)+1), true)

	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	allocBefore := ms.TotalAlloc
	f("2 GiB size", append(u32(0x7fffffff), "tail"...), true)
	runtime.ReadMemStats(&ms)
	if d := ms.TotalAlloc - allocBefore; d > 16<<20 {
		t.Fatalf("a 2 GiB size prefix cost %d bytes of allocation", d)
	}

	for i := range 20 {
		garbage := make([]byte, 4+i*97)
		rand.Read(garbage)
		garbage[0] |= 0x80 // a negative size: garbage is rejected, not awaited
		f(fmt.Sprint("garbage ", i), garbage, true)
	}
}

func TestTruncatedFrameThenClose(t *testing.T) {
	h := newTestHandler(t, 4096)
	s := startServer(t, testConfig(), h)
	c := dial(t, s)
	c.write(append(u32(1000), req(opEcho, 1, []byte("only part"))...))
	c.nc.Close()
	eventually(t, "the truncated connection to close", func() bool { return s.Stats().ConnsOpen == 0 })
	if st := s.Stats(); st.Requests != 0 {
		t.Fatalf("a truncated frame was dispatched: %+v", st)
	}
	roundTrip(t, s, h)

	// The same with a large frame, 3/4 of it sent (read straight into
	// its own buffer by then): it is dropped, not dispatched.
	open := s.Stats().ConnsOpen
	c = dial(t, s)
	big := req(opEcho, 2, make([]byte, 2<<20))
	c.write(append(u32(uint32(len(big))), big[:len(big)*3/4]...))
	c.nc.Close()
	eventually(t, "the truncated connection to close", func() bool { return s.Stats().ConnsOpen == open })
	if st := s.Stats(); st.Requests != 1 {
		t.Fatalf("a truncated frame was dispatched: %+v", st)
	}
	roundTrip(t, s, h)
}

func TestHalfOpenConnections(t *testing.T) {
	h := newTestHandler(t, 4096)
	s := startServer(t, testConfig(), h)
	for i := range 200 {
		c := dial(t, s)
		switch i % 3 {
		case 0: // nothing sent
		case 1:
			c.write([]byte{0, 0}) // half a size prefix
		case 2:
			c.write(append(u32(64), 'e')) // a prefix and part of a body
		}
	}
	eventually(t, "200 connections accepted", func() bool { return s.Stats().ConnsOpen >= 200 })
	roundTrip(t, s, h)
	if st := s.Stats(); st.Requests != 1 {
		t.Fatalf("Requests = %d, want only the round trip's", st.Requests)
	}
}

func TestHandlerPanic(t *testing.T) {
	h := newTestHandler(t, 4096)
	s := startServer(t, testConfig(), h)
	c := dial(t, s)
	c.send(req(opPanic, 1), req(opEcho, 2))
	c.expectClosed()
	if st := s.Stats(); st.PanicsRecovered != 1 {
		t.Fatalf("PanicsRecovered = %d", st.PanicsRecovered)
	}
	roundTrip(t, s, h)
}

// TestBackPressure: a client pipelines requests for 64 KiB responses
// without reading. The server must stop dispatching and serving near the
// budget, and everything must arrive once the client reads.
func TestBackPressure(t *testing.T) {
	const n, respSize, budget = 2000, 64 << 10, 256 << 10
	f := func(padding int) {
		t.Helper()
		h := newTestHandler(t, 4096)
		cfg := testConfig()
		cfg.ConnBudgetBytes = budget
		s := startServer(t, cfg, h)
		c := dial(t, s)
		if err := c.tcp.SetReadBuffer(64 << 10); err != nil {
			t.Fatal(err)
		}
		reqs := make([][]byte, n)
		for i := range reqs {
			reqs[i] = req(opBig, uint32(i), u32(respSize), make([]byte, padding))
		}
		sent := c.sendAsync(reqs...)
		eventually(t, "the connection to fill its budget", func() bool { return s.Stats().QueuedBytes >= budget })
		st := s.Stats()
		t.Logf("padding %d, stalled: handled %d, %+v", padding, h.handled.Load(), st)
		if h.handled.Load() >= n {
			t.Fatalf("all %d requests were served for a client that does not read", n)
		}
		if padding*n > 2*budget && st.Requests >= n {
			t.Fatalf("all %d requests were dispatched for a client that does not read", n)
		}
		for i, q := range reqs {
			if got := c.recv(); !bytes.Equal(got, h.want(q)) {
				t.Fatalf("response %d differs", i)
			}
		}
		if err := <-sent; err != nil {
			t.Fatal(err)
		}
		st = s.Stats()
		limit := int64(2*budget + respSize + padding + 64)
		if st.MaxConnQueuedBytes > limit {
			t.Fatalf("a connection had %d bytes queued, budget %d (limit %d)", st.MaxConnQueuedBytes, budget, limit)
		}
		if st.Requests != n {
			t.Fatalf("Requests = %d, want %d", st.Requests, n)
		}
	}
	f(0)       // small requests: the request goroutine waits for the writer
	f(4 << 10) // large requests: the event loop stops dispatching too
}

// TestMutedConnectionPushesBack: while a connection's budget is spent,
// netio stops reading its socket (the connection is muted), so a client
// that keeps sending is slowed by TCP instead of filling memory or being
// disconnected; once the budget frees, every request is served once, in
// order.
func TestMutedConnectionPushesBack(t *testing.T) {
	h := newTestHandler(t, 4096)
	cfg := testConfig()
	cfg.ConnBudgetBytes = 64 << 10
	cfg.MaxRequestBytes = 64 << 10
	s := startServer(t, cfg, h)
	c := dial(t, s)
	const n = 2000 // 32 MiB of requests: more than socket buffers and gnet's muteAfter hold
	frames := [][]byte{req(opGate, 0)}
	for i := 1; i < n; i++ {
		frames = append(frames, req(opBig, uint32(i), u32(100), make([]byte, 16<<10)))
	}
	sent := c.sendAsync(frames...)
	<-h.entered
	eventually(t, "the connection to be muted", func() bool { return s.Stats().Muted == 1 })
	// With the first request held, dispatch stops at the budget: one frame
	// past it at most.
	if st := s.Stats(); st.Requests > uint64(cfg.ConnBudgetBytes)/(16<<10)+2 || st.MaxConnQueuedBytes > cfg.ConnBudgetBytes+int64(len(frames[1])) {
		t.Fatalf("dispatched past the budget while muted: %+v", st)
	}
	close(h.gate)
	for i := range n {
		got := c.recv()
		if !bytes.Equal(got, h.want(frames[i])) {
			t.Fatalf("response %d: got %d bytes starting %x", i, len(got), got[:min(len(got), 8)])
		}
	}
	if err := <-sent; err != nil {
		t.Fatalf("sending: %v", err)
	}
	st := s.Stats()
	if st.Requests != n || h.handled.Load() != n || st.InboundOverflows != 0 || st.ConnsOpen != 1 {
		t.Fatalf("after the flood: %+v, handled %d", st, h.handled.Load())
	}
	// A muted connection still closes cleanly when the client goes.
	c.nc.Close()
	eventually(t, "the muted connection to finish", func() bool { return s.Stats().ConnsOpen == 0 })
	roundTrip(t, s, h)
}

func TestIdleTimeout(t *testing.T) {
	h := newTestHandler(t, 4096)
	cfg := testConfig()
	cfg.IdleTimeout = 200 * time.Millisecond
	s := startServer(t, cfg, h)
	idle := dial(t, s)
	q := req(opEcho, 1, []byte("hi"))
	idle.send(q)
	idle.recv()
	start := time.Now()
	idle.expectClosed()
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("closed after %v, before the idle timeout", d)
	}
	// The sweeper counts a connection before closing it: a client that
	// saw the close finds it counted.
	if st := s.Stats(); st.IdleClosed != 1 {
		t.Fatalf("IdleClosed = %d after the client saw the close", st.IdleClosed)
	}
	// A connection that keeps sending stays open past the timeout.
	busy := dial(t, s)
	for i := range 10 {
		busy.send(req(opEcho, uint32(i)))
		busy.recv()
		time.Sleep(50 * time.Millisecond) // client think time, not a wait for a condition
	}
	if st := s.Stats(); st.IdleClosed != 1 {
		t.Fatalf("a busy connection was closed as idle: %+v", st)
	}
}

// shutdownWhileHolding starts a server with cfg and h, has a client's
// request held in h (opHold, until h.gate closes) and starts Shutdown.
func shutdownWhileHolding(t *testing.T, cfg Config, h *testHandler) (s *Server, c *client, q []byte, shut <-chan error) {
	t.Helper()
	s, err := Listen(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	c = dial(t, s)
	q = req(opHold, 1)
	c.send(q)
	<-h.entered
	return s, c, q, startShutdown(t, s)
}

// TestShutdownFinishesInFlight: Shutdown waits for a request being served
// and sends its response; new connections are refused meanwhile.
func TestShutdownFinishesInFlight(t *testing.T) {
	h := newTestHandler(t, 4096)
	s, c, q, shut := shutdownWhileHolding(t, testConfig(), h)
	if late, err := net.DialTimeout("tcp", s.Addr().String(), 5*time.Second); err == nil {
		late.Close()
		t.Fatal("a new connection was accepted while shutting down")
	}
	close(h.gate)
	if got := c.recv(); !bytes.Equal(got, h.want(q)) {
		t.Fatalf("in-flight response %q", got)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	c.expectClosed()
	if a, r := h.acquired.Load(), h.released.Load(); a != r || a != 1 {
		t.Fatalf("regions acquired %d, released %d", a, r)
	}
}

// TestShutdownDeadline: a handler that never finishes does not hold
// Shutdown past its context; its response is released.
func TestShutdownDeadline(t *testing.T) {
	h := newTestHandler(t, 4096)
	s, err := Listen(testConfig(), h)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, s)
	c.send(req(opHold, 1))
	<-h.entered
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); err == nil {
		t.Fatal("Shutdown returned nil with a request still in flight")
	}
	c.expectClosed()
	close(h.gate) // the stuck handler finishes after all; its response goes nowhere
	eventually(t, "the in-flight region to be released", func() bool {
		return h.acquired.Load() == 1 && h.released.Load() == 1
	})
}

// TestShutdownLingers: Shutdown half-closes a drained connection and
// reads on until the client closes, so a client still writing requests
// after its last response gets no RST (a client whose write fails may
// drop responses it has not read: franz-go fails every request in
// flight). What it sends after the drain is dropped, also once it closes
// with those requests whole; the client's close, not the linger's bound,
// ends Shutdown.
func TestShutdownLingers(t *testing.T) {
	old := lingerQuiet.Swap(int64(time.Hour)) // a stalled test client is not a quiet one
	defer lingerQuiet.Store(old)
	h := newTestHandler(t, 4096)
	cfg := testConfig()
	cfg.ShutdownLinger = time.Hour // only the client's close can end it within Shutdown's 10 s
	_, c, q, shut := shutdownWhileHolding(t, cfg, h)
	close(h.gate)
	if got := c.recv(); !bytes.Equal(got, h.want(q)) {
		t.Fatalf("in-flight response %q", got)
	}
	if _, err := c.tryRecv(10 * time.Second); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last response: %v, want EOF (the server's FIN)", err)
	}
	// The first write to a closed socket draws RST; the next one fails.
	for i := uint32(2); i <= 4; i++ {
		if _, err := c.nc.Write(encode(req(opEcho, i, []byte("late")))); err != nil {
			t.Fatalf("write %d after the server's FIN: %v", i, err)
		}
		time.Sleep(20 * time.Millisecond) // let an RST arrive, were one sent
	}
	c.nc.Close()
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n := h.handled.Load(); n != 1 {
		t.Fatalf("%d requests handled, want 1: those sent after the drain must not be served", n)
	}
	if a, r := h.acquired.Load(), h.released.Load(); a != r || a != 1 {
		t.Fatalf("regions acquired %d, released %d", a, r)
	}
}

// TestShutdownClosesQuietConnections: a client that has its answers and
// sends nothing (it reads only when it has asked something, as franz-go
// and the brokers' own connections do) does not hold Shutdown for the
// linger: after lingerQuiet without a byte its connection is closed, and
// the next write draws RST.
func TestShutdownClosesQuietConnections(t *testing.T) {
	h := newTestHandler(t, 4096)
	cfg := testConfig()
	cfg.ShutdownLinger = time.Hour
	s, err := Listen(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, s)
	q := req(opEcho, 1, []byte("before"))
	c.send(q)
	if got := c.recv(); !bytes.Equal(got, h.want(q)) {
		t.Fatalf("response %q", got)
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	select {
	case err := <-shut: // only the quiet close can end the hour's linger this soon
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Shutdown still lingering on a quiet connection after 30 s")
	}
	if _, err := c.tryRecv(10 * time.Second); !errors.Is(err, io.EOF) {
		t.Fatalf("after Shutdown: %v, want EOF", err)
	}
	// Closed, not half-closed: a write now draws RST, and the one after
	// it fails.
	var werr error
	for i := uint32(2); i <= 10 && werr == nil; i++ {
		_, werr = c.nc.Write(encode(req(opEcho, i, []byte("late"))))
		time.Sleep(20 * time.Millisecond)
	}
	if werr == nil {
		t.Fatal("writes after Shutdown kept succeeding: the connection was left open")
	}
	if n := h.handled.Load(); n != 1 {
		t.Fatalf("%d requests handled, want 1", n)
	}
}

// TestCloseWhileHandling: the client goes away while its request is being
// served; the response is released, not sent, and nothing leaks.
func TestCloseWhileHandling(t *testing.T) {
	h := newTestHandler(t, 4096)
	s := startServer(t, testConfig(), h)
	c := dial(t, s)
	c.send(req(opGate, 1), req(opFile, 2, u64(0), u64(100)))
	<-h.entered
	c.nc.Close()
	eventually(t, "the connection to close", func() bool { return s.Stats().ConnsOpen == 0 })
	// The gated request returns on the cancelled context and the request
	// sent before the close is still served; both responses are released.
	eventually(t, "both responses to be released", func() bool {
		return h.acquired.Load() == 2 && h.released.Load() == 2
	})
	h.gate = make(chan struct{})
	roundTrip(t, s, h)
}

// TestLargeRequestsInPieces writes large and tiny frames in uneven pieces,
// so frames span gnet's ring buffer and the latest read.
// TestLargeRequestsInPieces: frames arriving in pieces of every size are
// read whole (the large ones straight into their own buffers, see
// conn.startDirect), also when the handler recycles its frames so that
// later frames reuse their buffers.
func TestLargeRequestsInPieces(t *testing.T) {
	h := newTestHandler(t, 4096)
	s := startServer(t, testConfig(), h)
	c := dial(t, s)
	var reqs [][]byte
	sizes := []int{0, 300 << 10, 1, 2 << 20, 7, 65536, 65531, 100, 3 << 20, 1<<20 + 1, 2 << 20, 5 << 20, 3 << 20}
	for i, n := range sizes {
		payload := make([]byte, n)
		rand.Read(payload)
		op := byte(opEcho)
		if i%2 == 1 || n > 2<<20 {
			op = opRecycle
		}
		reqs = append(reqs, req(op, uint32(i), payload))
	}
	stream := encode(reqs...)
	errc := make(chan error, 1)
	go func() {
		for i, piece := 0, 1; len(stream) > 0; i++ {
			piece = min(len(stream), 1+(piece*7919+i*104729)%70000)
			if _, err := c.nc.Write(stream[:piece]); err != nil {
				errc <- err
				return
			}
			stream = stream[piece:]
		}
		errc <- nil
	}()
	for i, q := range reqs {
		if got, want := c.recv(), h.want(q); !bytes.Equal(got, want) {
			at := 0
			for at < min(len(got), len(want)) && got[at] == want[at] {
				at++
			}
			t.Fatalf("response %d (op %c): %d bytes, want %d, first difference at %d", i, q[0], len(got), len(want), at)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// Frames the Handler recycles are mapped outside the heap; those netio
// never hands to it (queued behind a request that failed, so the
// connection closes) netio recycles itself, so none stays mapped.
func TestUnservedFramesRecycled(t *testing.T) {
	h := newTestHandler(t, 4096)
	s := startServer(t, testConfig(), h)
	inUse0, _ := FrameMemory()
	big := make([]byte, 2<<20)
	c := dial(t, s)
	// opBlock holds the request goroutine until all frames are read; the
	// failing opError then stops it with three frames queued.
	c.write(encode(req(opBlock, 1), req(opError, 2), req(opRecycle, 3, big), req(opRecycle, 4, big), req(opRecycle, 5, big)))
	eventually(t, "frames read", func() bool {
		inUse, _ := FrameMemory()
		return inUse-inUse0 >= 3*(2<<20)
	})
	h.release(1)
	if got := c.recv(); !bytes.Equal(got, u32(1)) {
		t.Fatalf("response %x, want opBlock's", got)
	}
	c.expectClosed()
	eventually(t, "mapped frames recycled", func() bool {
		inUse, _ := FrameMemory()
		return inUse == inUse0
	})
	if n := h.handled.Load(); n != 2 {
		t.Fatalf("handled %d requests, want 2 (none after the failing one)", n)
	}
}

// TestEmptyFrame: a zero-size frame reaches the Handler (which rejects it).
func TestEmptyFrame(t *testing.T) {
	h := newTestHandler(t, 4096)
	s := startServer(t, testConfig(), h)
	c := dial(t, s)
	c.write(u32(0))
	c.expectClosed()
	if got := h.handled.Load(); got != 1 {
		t.Fatalf("handled %d", got)
	}
}

// TestConnectionLimits: connections beyond max.connections,
// max.connections.per.ip (and its overrides) and
// max.connection.creation.rate are closed at once and counted; closing
// one frees its slot.
func TestConnectionLimits(t *testing.T) {
	h := newTestHandler(t, 4096)
	// refused dials s and expects the connection closed (reset) at once.
	refused := func(s *Server) {
		t.Helper()
		nc, err := net.DialTimeout("tcp", s.Addr().String(), 5*time.Second)
		if err != nil {
			if !errors.Is(err, syscall.ECONNRESET) {
				t.Fatal(err)
			}
			return
		}
		defer nc.Close()
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.Copy(io.Discard, nc); err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("connection not closed by the server: %v", err)
		}
	}
	t.Run("max.connections", func(t *testing.T) {
		cfg := testConfig()
		cfg.MaxConns = 2
		s := startServer(t, cfg, h)
		a, b := dial(t, s), dial(t, s)
		roundTripOn(t, a, h)
		roundTripOn(t, b, h)
		refused(s)
		if st := s.Stats(); st.RefusedMaxConns != 1 || st.ConnsOpen != 2 {
			t.Fatalf("%+v", st)
		}
		a.nc.Close()
		eventually(t, "a slot to free", func() bool { return s.Stats().ConnsOpen == 1 })
		roundTripOn(t, dial(t, s), h)
	})
	t.Run("max.connections.per.ip", func(t *testing.T) {
		cfg := testConfig()
		cfg.MaxConnsPerIP = 1
		s := startServer(t, cfg, h)
		roundTripOn(t, dial(t, s), h)
		refused(s)
		if st := s.Stats(); st.RefusedPerIP != 1 {
			t.Fatalf("%+v", st)
		}
	})
	t.Run("override", func(t *testing.T) {
		cfg := testConfig()
		cfg.MaxConnsPerIP = 1
		cfg.MaxConnsPerIPOverrides = map[string]int{"127.0.0.1": 3}
		s := startServer(t, cfg, h)
		for range 3 {
			roundTripOn(t, dial(t, s), h)
		}
		refused(s)
		if st := s.Stats(); st.RefusedPerIP != 1 || st.ConnsOpen != 3 {
			t.Fatalf("%+v", st)
		}
	})
	t.Run("max.connection.creation.rate", func(t *testing.T) {
		cfg := testConfig()
		cfg.MaxConnCreationRate = 3
		s := startServer(t, cfg, h)
		for range 10 {
			if nc, err := net.DialTimeout("tcp", s.Addr().String(), 5*time.Second); err == nil {
				defer nc.Close()
			}
		}
		// At most 3 per one-second window: 10 dials in well under a
		// second's worth of windows cannot all be admitted.
		eventually(t, "refusals", func() bool { st := s.Stats(); return st.RefusedRate+st.ConnsAccepted == 10 })
		if st := s.Stats(); st.RefusedRate == 0 {
			t.Fatalf("%+v", st)
		}
	})
}

func roundTripOn(t testing.TB, c *client, h *testHandler) {
	t.Helper()
	q := req(opEcho, 9, []byte("hello"))
	c.send(q)
	if got := c.recv(); !bytes.Equal(got, h.want(q)) {
		t.Fatalf("got %q", got)
	}
}

// TestSlowloris: a frame whose bytes trickle in is closed FrameTimeout
// after its first byte, however steady the trickle; a connection that
// sends nothing is left to the idle timeout.
func TestSlowloris(t *testing.T) {
	h := newTestHandler(t, 4096)
	cfg := testConfig()
	cfg.FrameTimeout = 300 * time.Millisecond
	cfg.IdleTimeout = time.Hour
	s := startServer(t, cfg, h)
	c := dial(t, s)
	c.write([]byte{0, 0x10, 0, 0}) // a 1 MiB frame
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		for {
			c.nc.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := c.nc.Write([]byte{'x'}); err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond) // the trickle's pace, not a wait for a condition
		}
	}()
	// Closed with the trickle's last bytes unread: a FIN or a reset.
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, c.r); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("connection not closed by the server: %v", err)
	}
	<-closed
	// Counted before the close; the slow connection leaves ConnsOpen once
	// its teardown ran, which may trail the close the client saw.
	if st := s.Stats(); st.FrameTimeouts != 1 {
		t.Fatalf("%+v", st)
	}
	quiet := dial(t, s)
	roundTripOn(t, quiet, h)
	eventually(t, "the slow connection to leave ConnsOpen", func() bool { return s.Stats().ConnsOpen == 1 })
	if st := s.Stats(); st.FrameTimeouts != 1 {
		t.Fatalf("%+v", st)
	}
}

// TestFrameTimeoutPerFrame: the frame deadline bounds each frame, not a
// stream: a client whose every write completes one frame and starts the
// next (a partial frame is always buffered) is not cut off, however long
// it streams.
func TestFrameTimeoutPerFrame(t *testing.T) {
	h := newTestHandler(t, 4096)
	cfg := testConfig()
	cfg.FrameTimeout = 500 * time.Millisecond
	s := startServer(t, cfg, h)
	c := dial(t, s)
	var stream []byte
	const n = 300
	for i := range n {
		stream = append(stream, encode(req(opNil, uint32(i), make([]byte, 100)))...)
	}
	end := time.Now().Add(3 * cfg.FrameTimeout)
	for off, i := 0, 0; off < len(stream); i++ {
		// Each write ends 50 bytes into the next frame.
		next := min(off+len(stream)/n, len(stream))
		if next < len(stream) {
			next += 50
		}
		c.write(stream[off:next])
		off = next
		if d := time.Until(end) / time.Duration(n-i); d > 0 {
			time.Sleep(d) // pacing the stream over 3 frame timeouts, not a wait for a condition
		}
	}
	c.send(req(opEcho, 1))
	c.recv()
	if st := s.Stats(); st.FrameTimeouts != 0 || st.Requests != n+1 {
		t.Fatalf("%+v", st)
	}
}

// TestWriteTimeout: a client that stops reading while responses are
// queued is closed once the writer has made no progress for
// IdleTimeout, even though writes are pending, and the file regions its
// responses pinned are released.
func TestWriteTimeout(t *testing.T) {
	h := newTestHandler(t, 1<<20)
	cfg := testConfig()
	cfg.IdleTimeout = 300 * time.Millisecond
	s := startServer(t, cfg, h)
	c := dial(t, s)
	c.tcp.SetReadBuffer(4 << 10)
	var frames [][]byte
	for i := range 64 {
		frames = append(frames, req(opFile, uint32(i), u64(0), u64(1<<20)))
	}
	c.send(frames...)
	eventually(t, "the stuck writer to be cut off", func() bool { return s.Stats().WriteTimeouts == 1 })
	eventually(t, "every region to be released", func() bool {
		return h.acquired.Load() > 0 && h.acquired.Load() == h.released.Load() && s.Stats().ConnsOpen == 0
	})
	if st := s.Stats(); st.IdleClosed != 0 {
		t.Fatalf("%+v", st)
	}
}

// TestHealth: Health is nil while the listener accepts and wraps
// ErrNotAccepting once it cannot (its socket closed under it).
func TestHealth(t *testing.T) {
	h := newTestHandler(t, 4096)
	s := startServer(t, testConfig(), h)
	if err := s.Health(); err != nil {
		t.Fatal(err)
	}
	s.lns[0].ln.Close() // the fault: the listening socket is gone
	eventually(t, "Health to report it", func() bool { return errors.Is(s.Health(), ErrNotAccepting) })
}

// startShutdown runs s.Shutdown (within 10 s) in the background and
// returns its result's channel once s has started draining.
func startShutdown(t *testing.T, s *Server) <-chan error {
	t.Helper()
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	eventually(t, "Shutdown to start draining", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.mu.draining
	})
	return shut
}
