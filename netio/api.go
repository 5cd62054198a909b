package netio

// This file is the contract between netio and its user (the broker).

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"github.com/sluice/sluice/listener"
	"github.com/sluice/sluice/sendfile"
)

// Handler serves requests. netio calls Handle for one connection's requests
// one at a time, in arrival order, on a goroutine of that connection (never
// on a gnet event loop), so a handler may block (disk I/O, a long-poll
// Fetch). frame is one request without its 4-byte size prefix; it is owned
// by the handler from then on. Handle returns the response body to send
// (netio adds the size prefix), nil to send nothing (acks=0), or an error to
// close the connection (after responses already queued have been sent).
// A panic inside Handle is recovered by netio: logged, counted, and the
// connection closed; the server goes on. ctx is done when the connection
// closes or the server shuts down: a handler that waits (a long poll)
// should then answer at once with what it has.
//
// A Handler may split a request in two (see Pending): what must happen in
// request order (a produce's appends) inside Handle, and the wait for
// its outcome (the fsync, the replicas) in the Pending response's wait
// function, which netio runs on another goroutine while later requests
// are handled. Handle calls stay one at a time; responses are sent in
// request order whatever order the waits end in. A Handler that serves a
// request which must not overlap earlier pending ones calls
// Conn.WaitPending first.
type Handler interface {
	Handle(ctx context.Context, c *Conn, frame []byte) (*Response, error)
}

// QuickChecker is a Handler that can tell, from a request frame alone and
// before Handle sees it, that serving it takes only CPU and page-cache
// time: no long poll, no wait for another request, a coordinator or a
// replica (a Pending response's wait does not count: it runs elsewhere).
// While the next frame waiting on a connection is quick, the goroutine
// that queued a response holds it back and sends it together with the
// next ones in one write (package doc, "Writing responses"); a Handler
// without the method, or a frame it calls slow, has the responses before
// it sent first. Quick is called on the connection's request goroutine,
// like Handle (it may read Conn.State), and must not block or keep frame.
type QuickChecker interface {
	Quick(c *Conn, frame []byte) bool
}

// FrameRecycler is a Handler that hands back with RecycleFrame every
// frame for which Recycles reports true, once nothing refers to it, on
// every path: served, refused, malformed (the exception, a Handler that
// panics, leaves its frame mapped and counted by FrameMemory). netio then
// maps such a frame, when large, outside the Go heap (framepool.go), so
// that it costs its own pages and not twice that in garbage collector
// headroom; a use after RecycleFrame may fault. head is the frame's first
// FrameHeadLen bytes (a Kafka request's api_key); Recycles is called on an
// event loop or read goroutine, for frames of any size, and must be quick,
// must not block and must not keep head. Frames netio never hands to
// Handle (the connection closed first) netio recycles itself.
type FrameRecycler interface {
	Recycles(head []byte) bool
}

// FrameScanner is a Handler that looks at a frame while it arrives. netio
// reads a frame that is not whole in its read buffer when the
// connection's budget lets it in (in practice a large one; a muted or
// TLS connection: one over 64 KiB) from the socket in pieces straight
// into the frame's buffer; for such a frame it asks ScanFrame, with the frame's first
// FrameHeadLen bytes and its size, for a FrameScan, and calls its Arrived
// after every piece, while the piece is still in the CPU's cache. The
// Handler finds the scan again with Conn.FrameScan when it handles the
// frame. Frames read whole, or before their head arrived, get no scan:
// a Handler must serve a frame the same with or without one. ScanFrame
// and Arrived are called on an event loop or read goroutine, must be quick
// and must not block; a panic in them is a panic of the server.
type FrameScanner interface {
	ScanFrame(head []byte, size int) FrameScan
}

// FrameScan sees one frame arrive (FrameScanner). Arrived is called, on
// the goroutine reading the frame, each time more of it arrived: frame is
// the frame's whole buffer and frame[:n] what has arrived, n growing from
// call to call; frame[n:] holds garbage. The calls end before Handle gets
// the frame (the last had n == len(frame)), or when the connection closes
// first; a scan may keep frame until then, and the Handler may keep it
// while it holds the frame.
type FrameScan interface {
	Arrived(frame []byte, n int)
}

// FrameHeadLen is the length of the head FrameRecycler.Recycles sees.
const FrameHeadLen = 2

// Response is a response body made of byte runs and file regions, sent in
// order: runs of bytes with writev, regions with sendfile(2). Regions are
// released (Region.Release) once sent or once the connection is gone.
type Response struct {
	parts   []part
	first   [1]part                   // parts' first array: a one-part response costs one allocation
	files   bool                      // a part is a file region: only the writer goroutine sends it
	replica bool                      // a follower's Fetch: its regions count in Stats.Replica*
	wait    func() (*Response, error) // set by Pending: not complete yet
	home    *smallResponse            // set by NewSmallResponse: back to smallResponses once written
}

// SmallResponseBytes is the capacity of the buffer NewSmallResponse hands
// out: a one-partition Produce response (about 50 bytes and its topic's
// name, with its header) fits for any topic name up to 200 bytes, and a
// four-partition one for names up to 90 (64 bytes, the size before, fit
// only names of up to 8).
const SmallResponseBytes = 256

// smallResponse is a Response and its first SmallResponseBytes bytes,
// recycled through smallResponses.
type smallResponse struct {
	r   Response
	buf [SmallResponseBytes]byte
}

var smallResponses = sync.Pool{New: func() any {
	s := new(smallResponse)
	s.r.home = s
	return s
}}

// NewSmallResponse returns an empty Response and a buffer of
// SmallResponseBytes capacity (length 0) that belongs to it, for a body
// built with append and added with AppendBytes (a body that outgrows the
// buffer is appended to a new array, as append does). Neither costs an
// allocation: the connection's writer takes the Response back for reuse
// once its bytes are written (or its write failed), so the caller must
// not touch it, nor the buffer, after Handle returned it. A Response that
// is never written (the connection closed first, a Handler error, a
// caller outside netio) is left to the garbage collector.
func NewSmallResponse() (*Response, []byte) {
	s := smallResponses.Get().(*smallResponse)
	return &s.r, s.buf[:0]
}

// recycle hands a written Response of NewSmallResponse back to the pool;
// other Responses are left alone.
func (r *Response) recycle() {
	s := r.home
	if s == nil {
		return
	}
	s.r = Response{home: s}
	smallResponses.Put(s)
}

// MarkReplica marks r as the answer to a follower's Fetch: the writer
// counts its file regions in Stats.ReplicaSendfileBytes or
// Stats.ReplicaCopiedBytes, so an operator can see the share of
// replicated bytes that leaves the leader by sendfile(2).
func (r *Response) MarkReplica() { r.replica = true }

// Pending returns a response that is not complete yet: netio calls wait
// once, on a goroutine of the connection other than the one calling
// Handle, and sends what it returns (nil: nothing; an error closes the
// connection after the responses before it) in the request's place in
// the connection's order. Meanwhile later requests of the connection are
// handled, at most Config.MaxPending pending at once. wait must not touch
// the Conn's state (SetState) nor rely on later requests waiting for it.
func Pending(wait func() (*Response, error)) *Response { return &Response{wait: wait} }

// IsPending reports whether r was made by Pending.
func (r *Response) IsPending() bool { return r != nil && r.wait != nil }

// Wait completes r: for a Pending response it runs its wait function
// (once) and returns its result, for any other r returns r itself. For
// callers that serve a Handler without netio's connection (tests, tools).
func (r *Response) Wait() (*Response, error) {
	if !r.IsPending() {
		return r, nil
	}
	w := r.wait
	r.wait = nil
	return w()
}

type part struct {
	b      []byte
	region sendfile.Region
	isFile bool
}

// AppendBytes adds b (not copied; do not modify it afterwards).
func (r *Response) AppendBytes(b []byte) { r.appendPart(part{b: b}) }

func (r *Response) appendPart(p part) {
	if r.parts == nil {
		r.parts = r.first[:0]
	}
	r.parts = append(r.parts, p)
}

// AppendRegion adds a file region.
func (r *Response) AppendRegion(reg sendfile.Region) {
	r.appendPart(part{region: reg, isFile: true})
	r.files = true
}

// Len is the body's length in bytes.
func (r *Response) Len() int64 {
	var n int64
	for _, p := range r.parts {
		if p.isFile {
			n += p.region.Len
		} else {
			n += int64(len(p.b))
		}
	}
	return n
}

// WriteTo writes the body to w, reading regions with pread (tests and
// tools; the connection writer sends regions with sendfile). It neither
// releases regions nor changes their files' positions.
func (r *Response) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for _, p := range r.parts {
		var m int64
		var err error
		if p.isFile {
			m, err = io.Copy(w, io.NewSectionReader(p.region.File, p.region.Off, p.region.Len))
		} else {
			var k int
			k, err = w.Write(p.b)
			m = int64(k)
		}
		n += m
		if err != nil {
			return n, fmt.Errorf("netio: writing response body: %w", err)
		}
	}
	return n, nil
}

// Release releases every region (for a response that will not be sent).
func (r *Response) Release() {
	for _, p := range r.parts {
		if p.isFile {
			p.region.Release()
		}
	}
}

// Conn identifies a client connection to handlers.
type Conn struct {
	id         uint64
	remoteAddr net.Addr
	localAddr  net.Addr
	listener   string               // the listener's name
	protocol   listener.Protocol    // the listener's security protocol
	state      any                  // the Handler's, see SetState
	maxReq     *atomic.Int32        // its conn's framing limit
	maxDefault int32                // Config.MaxRequestBytes
	tls        *tls.ConnectionState // set before the first frame; nil on a plaintext listener
	settle     func()               // waits for the connection's pending responses; nil in-process
	ahead      func() bool          // PendingAhead's; nil in-process
	// cur is the frame Handle is serving and scan its FrameScan, set
	// around each Handle call (FrameScan).
	cur  []byte
	scan FrameScan
}

// FrameScan returns the FrameScan that saw frame arrive (FrameScanner),
// when frame is the one Handle is serving on c now, or nil.
func (c *Conn) FrameScan(frame []byte) FrameScan {
	if c == nil || c.scan == nil || len(frame) != len(c.cur) || len(frame) == 0 || &frame[0] != &c.cur[0] {
		return nil
	}
	return c.scan
}

// WaitPending returns once every response that c's earlier requests
// returned as Pending has completed and been queued for sending, in
// order. Called from Handle (never from a wait function), before serving
// a request that must not overlap them: netio overlaps only what a
// Handler made Pending. On an in-process connection (which runs waits
// at once) it returns at once.
func (c *Conn) WaitPending() {
	if c != nil && c.settle != nil {
		c.settle()
	}
}

// PendingAhead reports whether a response that one of c's earlier
// requests returned as Pending has not completed yet. Called from Handle:
// when it is false, the wait of a Pending that Handle returns now is the
// next one c's completer runs; when true, it runs only after those ahead
// of it. On an in-process connection it is always false.
func (c *Conn) PendingAhead() bool {
	return c != nil && c.ahead != nil && c.ahead()
}

// SetMaxRequestBytes bounds the size of the requests c's framing accepts
// from now on (a frame already read is not affected); a larger size
// prefix closes the connection before anything is read. 0 restores
// Config.MaxRequestBytes. Connections on SASL listeners start at
// Config.SASLMaxReceiveBytes: the Handler lifts it once the client has
// authenticated.
func (c *Conn) SetMaxRequestBytes(n int32) {
	if c.maxReq == nil {
		return
	}
	if n <= 0 {
		n = c.maxDefault
	}
	c.maxReq.Store(n)
}

// SetState keeps v with c for the Handler (the broker keeps a
// connection's SASL state and principal there); netio never reads it.
// Handle calls for one connection are serialized (see Handler), so a
// Handler reading and writing it from Handle needs no lock.
func (c *Conn) SetState(v any) { c.state = v }

// State is the value last given to SetState, or nil.
func (c *Conn) State() any { return c.state }

// ListenerName is the name of the listener c came in on (PLAINTEXT,
// SASL_PLAINTEXT, or a custom name of listener.security.protocol.map).
func (c *Conn) ListenerName() string { return c.listener }

// SecurityProtocol is the security protocol of c's listener.
func (c *Conn) SecurityProtocol() listener.Protocol { return c.protocol }

func (c *Conn) ID() uint64           { return c.id }
func (c *Conn) RemoteAddr() net.Addr { return c.remoteAddr }
func (c *Conn) LocalAddr() net.Addr  { return c.localAddr }

// TLS is the connection's TLS session once its handshake completed (the
// negotiated version and cipher suite, and the client's certificate chain
// in PeerCertificates and VerifiedChains when it sent one), or nil on a
// plaintext listener. It does not change while the connection is open.
func (c *Conn) TLS() *tls.ConnectionState { return c.tls }
