package netio

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluice/sluice/listener"
	"github.com/sluice/sluice/sendfile"
)

// Test requests are | op byte | id uint32 | args |; responses start with
// the id.
const (
	opEcho    = 'e' // args: payload; response: id, payload
	opRecycle = 'c' // as opEcho, with the payload copied and the frame recycled (RecycleFrame)
	opFile    = 'f' // args: off uint64, len uint64; response: id, region
	opRepl    = 'r' // opFile answered as to a follower's Fetch (Response.MarkReplica)
	opMixed   = 'm' // args: off, len; response: id, "<", region, ">", region, "!"
	opBig     = 'b' // args: n uint32; response: id, n bytes of 'x'
	opNil     = 'n' // no response
	opPanic   = 'p'
	opError   = 'x' // Handle returns an error
	opGate    = 'g' // waits for the gate (or ctx), then responds with id and a region
	opHold    = 'h' // like opGate, but ignores ctx (a write waiting for its fsync)
	opBadLen  = 'L' // a malformed frame the handler rejects with an error
	// Pipelining (pipeline_test.go): a Pending response whose wait blocks
	// until release(id), then answers id, "P" and a region (opPend) or
	// fails (opPendErr); opSettle calls Conn.WaitPending, then echoes;
	// opAhead answers id and "1" or "0" by Conn.PendingAhead.
	opPend    = 'P'
	opPendErr = 'E'
	opSettle  = 'S'
	opAhead   = 'A'
	// opBlock waits until release(id) (or ctx), then answers id alone:
	// a slow request with a bytes-only response (inline_test.go).
	opBlock = 'B'
	// opSmall is opEcho answered with a pooled NewSmallResponse, built in
	// its buffer (a payload over SmallResponseBytes-4 outgrows it).
	opSmall = 's'
)

// testHandler implements the ops above over one real file.
type testHandler struct {
	file     *os.File
	data     []byte
	acquired atomic.Int64
	released atomic.Int64
	handled  atomic.Int64  // Handle calls
	entered  chan struct{} // opGate signals here when it starts waiting
	gate     chan struct{} // closed to let opGate requests go on

	pmu    sync.Mutex
	events []string                 // "h<id>" when Handle ran, "w<id>" when a wait returns
	rel    map[uint32]chan struct{} // closed by release(id)

	quickOps string // ops that Quick reports quick (QuickChecker); none by default
}

// Quick reports the frame quick when its op is in quickOps; with '!' in
// quickOps it panics on opPanic, as Handle does.
func (h *testHandler) Quick(_ *Conn, frame []byte) bool {
	if len(frame) > 0 && frame[0] == opPanic && strings.IndexByte(h.quickOps, '!') >= 0 {
		panic("test Quick panic")
	}
	return len(frame) > 0 && strings.IndexByte(h.quickOps, frame[0]) >= 0
}

// note records a pipelining event.
func (h *testHandler) note(ev string) {
	h.pmu.Lock()
	h.events = append(h.events, ev)
	h.pmu.Unlock()
}

// seen returns the events so far.
func (h *testHandler) seen() []string {
	h.pmu.Lock()
	defer h.pmu.Unlock()
	return append([]string(nil), h.events...)
}

// releaseCh is the channel release(id) closes.
func (h *testHandler) releaseCh(id uint32) chan struct{} {
	h.pmu.Lock()
	defer h.pmu.Unlock()
	if h.rel == nil {
		h.rel = map[uint32]chan struct{}{}
	}
	if h.rel[id] == nil {
		h.rel[id] = make(chan struct{})
	}
	return h.rel[id]
}

// release lets the wait of pending request id return.
func (h *testHandler) release(id uint32) { close(h.releaseCh(id)) }

type countRef struct{ h *testHandler }

func (r countRef) Release() { r.h.released.Add(1) }

func newTestHandler(t testing.TB, size int) *testHandler {
	t.Helper()
	data := make([]byte, size)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "00000000000000000000.log")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &testHandler{file: f, data: data, entered: make(chan struct{}, 100), gate: make(chan struct{})}
}

func (h *testHandler) region(off, n uint64) sendfile.Region {
	h.acquired.Add(1)
	return sendfile.Region{File: h.file, Off: int64(off), Len: int64(n), Ref: countRef{h}}
}

// Recycles: the handler recycles opRecycle frames (FrameRecycler), on
// every path.
func (h *testHandler) Recycles(head []byte) bool { return head[0] == opRecycle }

func (h *testHandler) Handle(ctx context.Context, c *Conn, frame []byte) (*Response, error) {
	h.handled.Add(1)
	if len(frame) < 5 {
		if len(frame) >= FrameHeadLen && h.Recycles(frame) {
			RecycleFrame(frame)
		}
		return nil, errors.New("short test frame")
	}
	op, id, args := frame[0], frame[1:5], frame[5:]
	r := &Response{}
	r.AppendBytes(id)
	switch op {
	case opEcho:
		r.AppendBytes(args)
	case opRecycle: // the response may not point into the frame
		r = &Response{}
		r.AppendBytes(append(append([]byte(nil), id...), args...))
		RecycleFrame(frame)
	case opFile, opRepl, opMixed:
		off, n := binary.BigEndian.Uint64(args), binary.BigEndian.Uint64(args[8:])
		if op == opRepl {
			r.MarkReplica()
		}
		if op != opMixed {
			r.AppendRegion(h.region(off, n))
			break
		}
		r.AppendBytes([]byte("<"))
		r.AppendRegion(h.region(off, n))
		r.AppendBytes([]byte(">"))
		r.AppendRegion(h.region(off/2, n/2))
		r.AppendBytes([]byte("!"))
	case opBig:
		r.AppendBytes(make([]byte, binary.BigEndian.Uint32(args)))
	case opSmall:
		small, buf := NewSmallResponse()
		buf = append(append(buf, id...), args...)
		small.AppendBytes(buf)
		return small, nil
	case opNil:
		return nil, nil
	case opPanic:
		panic("test panic")
	case opError:
		return nil, errors.New("test handler error")
	case opGate:
		h.entered <- struct{}{}
		select {
		case <-h.gate:
		case <-ctx.Done():
		}
		r.AppendRegion(h.region(0, 1000))
	case opHold:
		h.entered <- struct{}{}
		<-h.gate
		r.AppendRegion(h.region(0, 1000))
	case opPend, opPendErr:
		n := binary.BigEndian.Uint32(id)
		h.note(fmt.Sprintf("h%d", n))
		ch := h.releaseCh(n)
		return Pending(func() (*Response, error) {
			<-ch
			defer h.note(fmt.Sprintf("w%d", n))
			if op == opPendErr {
				return nil, errors.New("test pending error")
			}
			r.AppendBytes([]byte("P"))
			r.AppendRegion(h.region(0, 10))
			return r, nil
		}), nil
	case opBlock:
		select {
		case <-h.releaseCh(binary.BigEndian.Uint32(id)):
		case <-ctx.Done():
		}
	case opAhead:
		ahead := "0"
		if c.PendingAhead() {
			ahead = "1"
		}
		r.AppendBytes([]byte(ahead))
	case opSettle:
		c.WaitPending()
		h.note(fmt.Sprintf("h%d", binary.BigEndian.Uint32(id)))
		r.AppendBytes(args)
	default:
		return nil, fmt.Errorf("unknown op %q", op)
	}
	return r, nil
}

// want is the response the test handler gives to req.
func (h *testHandler) want(req []byte) []byte {
	op, id, args := req[0], req[1:5], req[5:]
	out := append([]byte(nil), id...)
	switch op {
	case opEcho, opRecycle, opSmall:
		out = append(out, args...)
	case opFile, opRepl, opMixed:
		off, n := binary.BigEndian.Uint64(args), binary.BigEndian.Uint64(args[8:])
		if op != opMixed {
			return append(out, h.data[off:off+n]...)
		}
		out = append(out, '<')
		out = append(out, h.data[off:off+n]...)
		out = append(out, '>')
		out = append(out, h.data[off/2:off/2+n/2]...)
		out = append(out, '!')
	case opBig:
		out = append(out, make([]byte, binary.BigEndian.Uint32(args))...)
	case opGate, opHold:
		out = append(out, h.data[:1000]...)
	}
	return out
}

func req(op byte, id uint32, args ...[]byte) []byte {
	b := []byte{op, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], id)
	for _, a := range args {
		b = append(b, a...)
	}
	return b
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// testHost is the loopback address the tests listen on. Not 127.0.0.1:
// other packages' tests, run at the same time by go test ./..., leave
// Kafka clients and Raft transports redialling the ports of brokers they
// stopped (seen in a CI run: a Kafka client's ApiVersions and Raft's
// AppendEntries, up to 25 a second), and the kernel may give such a port to
// the next listener that binds port 0. On 127.0.0.1 those strangers'
// frames would land in a test here that counts requests or connections
// exactly. All of 127/8 is loopback on Linux; nothing else listens on
// this address. Clients still connect from 127.0.0.1.
const testHost = "127.77.0.1"

// testConfig is a config for tests: loopback, any port, quiet logs.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Addr = testHost + ":0"
	cfg.NumEventLoop = 2
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if testTLS != nil {
		withTLS(&cfg, testTLS.serverConfig())
	}
	return cfg
}

// withTLS makes cfg's one listener an SSL listener served with tc.
func withTLS(cfg *Config, tc *tls.Config) {
	cfg.Listeners = []listener.Listener{{Name: "SSL", Protocol: listener.SSL, Host: testHost}}
	cfg.TLS = map[string]*tls.Config{"SSL": tc}
}

// testTLS, when set, makes testConfig a TLS listener and dial a TLS
// client: TestTLSSharedPaths runs the gnet path's tests over TLS with it.
var testTLS *tlsFixture

// startServer starts a server; cleanup shuts it down and checks that every
// region the handler made was released exactly once.
func startServer(t testing.TB, cfg Config, h *testHandler) *Server {
	t.Helper()
	s, err := Listen(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if a, r := h.acquired.Load(), h.released.Load(); a != r {
			t.Errorf("regions acquired %d, released %d", a, r)
		}
		if st := s.Stats(); st.ConnsOpen != 0 || st.QueuedBytes != 0 {
			t.Errorf("after Shutdown: %+v", st)
		}
	})
	return s
}

type client struct {
	t   testing.TB
	nc  net.Conn     // tcp, or a TLS session over it
	tcp *net.TCPConn // the socket
	r   *bufio.Reader
}

// dial connects to s, with TLS (testTLS's client certificate) when s is a
// TLS listener.
func dial(t testing.TB, s *Server) *client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", s.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &client{t: t, nc: nc, tcp: nc.(*net.TCPConn)}
	if s.cfg.Listeners[0].Protocol.TLS() {
		tc := tls.Client(nc, testTLS.clientConfig())
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			t.Fatalf("TLS handshake: %v", err)
		}
		tc.SetDeadline(time.Time{})
		c.nc = tc
	}
	c.r = bufioReader(c.nc)
	return c
}

func bufioReader(nc net.Conn) *bufio.Reader { return bufio.NewReaderSize(nc, 64<<10) }

// closeWrite ends what the client sends (a FIN, or TLS's close_notify).
func (c *client) closeWrite() {
	c.t.Helper()
	var err error
	if tc, ok := c.nc.(*tls.Conn); ok {
		err = tc.CloseWrite()
	} else {
		err = c.tcp.CloseWrite()
	}
	if err != nil {
		c.t.Fatalf("close write: %v", err)
	}
}

func (c *client) send(frames ...[]byte) {
	c.t.Helper()
	c.write(encode(frames...))
}

// sendAsync sends frames from another goroutine; the error arrives on the
// channel.
func (c *client) sendAsync(frames ...[]byte) <-chan error {
	b := encode(frames...)
	errc := make(chan error, 1)
	go func() {
		c.nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		_, err := c.nc.Write(b)
		errc <- err
	}()
	return errc
}

// encode size-prefixes frames.
func encode(frames ...[]byte) []byte {
	var b []byte
	for _, f := range frames {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

func (c *client) write(b []byte) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *client) recv() []byte {
	c.t.Helper()
	b, err := c.tryRecv(10 * time.Second)
	if err != nil {
		c.t.Fatalf("recv: %v", err)
	}
	return b
}

func (c *client) tryRecv(timeout time.Duration) ([]byte, error) {
	c.nc.SetReadDeadline(time.Now().Add(timeout))
	var hdr [4]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	_, err := io.ReadFull(c.r, b)
	return b, err
}

// expectClosed waits until the server closes the connection.
func (c *client) expectClosed() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, c.r)
	// A reset is the server closing too: closing a socket with unread
	// input makes the kernel send RST instead of FIN (bad input the server
	// stopped reading, on either path). A timeout is the failure.
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		c.t.Fatalf("connection not closed by the server: %v", err)
	}
}

// roundTrip checks that the server still serves a fresh client.
func roundTrip(t testing.TB, s *Server, h *testHandler) {
	t.Helper()
	c := dial(t, s)
	q := req(opEcho, 7, []byte("still serving"))
	c.send(q)
	if got := c.recv(); string(got) != string(h.want(q)) {
		t.Fatalf("round trip: got %q", got)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond) // polling interval, not a wait for the condition
	}
}
