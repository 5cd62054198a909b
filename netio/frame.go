package netio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// sizeLen is the length of a frame's size prefix.
const sizeLen = 4

var (
	errNegativeSize = errors.New("netio: negative request size")
	errTooLarge     = errors.New("netio: request larger than MaxRequestBytes")
)

// frameSize decodes a size prefix (len(prefix) >= sizeLen) and checks it
// against max.
func frameSize(prefix []byte, max int32) (int32, error) {
	size := int32(binary.BigEndian.Uint32(prefix))
	switch {
	case size < 0:
		return 0, fmt.Errorf("%w: %d", errNegativeSize, size)
	case size > max:
		return 0, fmt.Errorf("%w: %d > %d", errTooLarge, size, max)
	}
	return size, nil
}

// TLS record header (RFC 8446 §5.1): content type, legacy version, length.
// A handshake record (22) with major version 3 starts every ClientHello,
// from SSL 3.0 (3.0) to TLS 1.3 (which sends 3.1 or 3.3 there).
const (
	tlsHeaderLen       = 3 // what tlsClientHello needs
	tlsHandshakeRecord = 0x16
	tlsMajorVersion    = 0x03
	tlsMaxMinorVersion = 0x04
)

// tlsClientHello reports whether b (at least tlsHeaderLen bytes, the first
// bytes of a connection) starts a TLS handshake record: a client with
// security.protocol=SSL or SASL_SSL. Read as a size prefix those bytes are
// 0x1603xxxx, about 369 MB, over any sane MaxRequestBytes, so no Kafka
// request can start that way; Kafka itself rejects it as an oversized
// receive ("Invalid receive (size = 369295616 larger than 104857600)").
func tlsClientHello(b []byte) bool {
	return b[0] == tlsHandshakeRecord && b[1] == tlsMajorVersion && b[2] <= tlsMaxMinorVersion
}

// inbound is buffered input that framing consumes: gnet's Conn on an event
// loop, a frameReader for a muted connection. Peek(n) fails when fewer
// than n bytes are buffered.
type inbound interface {
	Peek(n int) ([]byte, error)
	Discard(n int) (int, error)
	Read(p []byte) (int, error)
	InboundBuffered() int
}

// frameSink receives frames from frameLoop: admit says whether one more
// may be dispatched now (the connection's budget), deliver takes it,
// handOn hands on what deliver took (frameLoop calls it before it
// returns, so a sink may gather the frames of one loop), recycles says
// whether a frame starting with head (FrameHeadLen bytes) will be
// recycled (FrameRecycler), so may be mapped; scan gives the FrameScan
// of a frame read in pieces (FrameScanner), or nil.
type frameSink interface {
	admit() bool
	deliver(frame []byte)
	handOn()
	recycles(head []byte) bool
	scan(head []byte, size int) FrameScan
}

// frameState is what is left at the head of the input after frameLoop.
type frameState int

const (
	frameNone    frameState = iota // nothing buffered
	framePartial                   // part of a frame: wait for more input
	frameBlocked                   // a whole frame the sink did not admit
)

// frameLoop is the request framing of both reading paths: it moves every
// whole frame at the head of in to sink, each copied once into a fresh
// slice (gnet reuses its buffer), while the sink admits them. A bad size
// prefix is an error (the connection is closed, nothing allocated).
func frameLoop(in inbound, max int32, sink frameSink) (frameState, error) {
	defer sink.handOn()
	for {
		n := in.InboundBuffered()
		if n == 0 {
			return frameNone, nil
		}
		if n < sizeLen {
			return framePartial, nil
		}
		prefix, err := in.Peek(sizeLen)
		if err != nil {
			panic(fmt.Sprintf("BUG: netio: %d bytes buffered but Peek(%d): %v", n, sizeLen, err))
		}
		size, err := frameSize(prefix, max)
		if err != nil {
			return framePartial, err
		}
		if n < sizeLen+int(size) {
			return framePartial, nil
		}
		if !sink.admit() {
			return frameBlocked, nil
		}
		sink.deliver(takeFrame(in, int(size), sink))
	}
}

// takeFrame moves the whole frame at the head of in (size bytes after the
// prefix, all buffered) into a fresh slice.
func takeFrame(in inbound, size int, sink frameSink) []byte {
	mapped := false
	if size >= FrameHeadLen {
		head, err := in.Peek(sizeLen + FrameHeadLen)
		if err != nil {
			panic(fmt.Sprintf("BUG: netio: %d-byte frame was buffered but Peek: %v", size, err))
		}
		mapped = sink.recycles(head[sizeLen:])
	}
	if _, err := in.Discard(sizeLen); err != nil {
		panic(fmt.Sprintf("BUG: netio: Discard(%d): %v", sizeLen, err))
	}
	frame := newFrame(size, mapped)
	if size == 0 {
		return frame
	}
	if n, err := io.ReadFull(in, frame); n != size {
		panic(fmt.Sprintf("BUG: netio: %d-byte frame was buffered but Read gave %d: %v", size, n, err))
	}
	return frame
}

// scanChunk bounds each read into a frame that has a FrameScan: the scan
// reads each piece right after it arrived, so the piece must still be in
// the CPU's cache (a read of the several MiB a socket may hold would
// push its first bytes out of a 1 MiB L2 before the scan reaches them).
const scanChunk = 256 << 10

// scanEnd is where a read into a frame of size bytes, n of them arrived,
// ends: at most scanChunk on when scan is not nil.
func scanEnd(scan FrameScan, n, size int) int {
	if scan == nil {
		return size
	}
	return min(size, n+scanChunk)
}

// readBufSize is a frameReader's buffer between frames.
const readBufSize = 64 << 10

// frameReader is the inbound of a muted connection: its own buffer,
// filled from the socket only when the read goroutine asks (fill), so an
// unread socket fills the client's TCP window instead of memory.
type frameReader struct {
	r   io.Reader
	buf []byte // buffered input is buf[off:]
	off int
	// direct is a large frame being read straight into its own buffer
	// (startDirect): direct[:directN] has arrived; nil: none.
	direct  []byte
	directN int
	scan    FrameScan // direct's, or nil
	// directOver is the frame size above which startDirect acts
	// (readBufSize; tests lower it).
	directOver int
}

func newFrameReader(r io.Reader, leftover []byte) *frameReader {
	buf := make([]byte, len(leftover), max(len(leftover), readBufSize))
	copy(buf, leftover)
	return &frameReader{r: r, buf: buf, directOver: readBufSize}
}

func (fr *frameReader) InboundBuffered() int { return len(fr.buf) - fr.off }

func (fr *frameReader) Peek(n int) ([]byte, error) {
	if n > fr.InboundBuffered() {
		return nil, io.ErrShortBuffer
	}
	return fr.buf[fr.off : fr.off+n], nil
}

func (fr *frameReader) Discard(n int) (int, error) {
	n = min(n, fr.InboundBuffered())
	fr.off += n
	return n, nil
}

func (fr *frameReader) Read(p []byte) (int, error) {
	if fr.InboundBuffered() == 0 {
		return 0, io.EOF
	}
	n := copy(p, fr.buf[fr.off:])
	fr.off += n
	return n, nil
}

// startDirect moves the partial frame at the head of the buffer, when it
// is larger than directOver, into a buffer of its own that fill then
// reads into: each of its bytes is copied once (socket to frame), not
// twice (socket to buffer to frame). It reports whether it did; it waits
// for the frame's head (FrameHeadLen bytes: sink.recycles).
func (fr *frameReader) startDirect(maxSize int32, sink frameSink) bool {
	n := fr.InboundBuffered()
	if fr.direct != nil || n < sizeLen+FrameHeadLen {
		return false
	}
	size, err := frameSize(fr.buf[fr.off:], maxSize)
	if err != nil || int(size) <= fr.directOver || int(size) <= n-sizeLen {
		return false
	}
	head := fr.buf[fr.off+sizeLen : fr.off+sizeLen+FrameHeadLen]
	fr.direct = newFrame(int(size), sink.recycles(head))
	fr.scan = sink.scan(head, int(size))
	fr.directN = copy(fr.direct, fr.buf[fr.off+sizeLen:])
	fr.off = len(fr.buf)
	fr.arrived()
	return true
}

// arrived tells the direct frame's scan what has arrived.
func (fr *frameReader) arrived() {
	if fr.scan != nil {
		fr.scan.Arrived(fr.direct, fr.directN)
	}
}

// takeDirect returns the frame read directly, and its scan, once it is
// whole, else nil.
func (fr *frameReader) takeDirect() ([]byte, FrameScan) {
	if fr.direct == nil || fr.directN < len(fr.direct) {
		return nil, nil
	}
	frame, scan := fr.direct, fr.scan
	fr.direct, fr.directN, fr.scan = nil, 0, nil
	return frame, scan
}

// dropDirect recycles a frame that will never be whole.
func (fr *frameReader) dropDirect() {
	if fr.direct != nil {
		RecycleFrame(fr.direct)
		fr.direct, fr.directN, fr.scan = nil, 0, nil
	}
}

// fill reads once from the socket: into the frame being read directly,
// else into the buffer, making room for the whole frame at the head when
// its size prefix is known (at most sizeLen+max bytes). Between frames
// the buffer shrinks back to readBufSize.
func (fr *frameReader) fill(maxSize int32) error {
	if fr.direct != nil {
		m, err := fr.r.Read(fr.direct[fr.directN:scanEnd(fr.scan, fr.directN, len(fr.direct))])
		fr.directN += m
		if m > 0 {
			fr.arrived()
		}
		return readErr(m, err)
	}
	n := fr.InboundBuffered()
	want := readBufSize
	if n >= sizeLen {
		if size, err := frameSize(fr.buf[fr.off:], maxSize); err == nil {
			want = sizeLen + int(size)
		}
	}
	want = max(want, n+1)
	if cap(fr.buf) < want || (cap(fr.buf) > readBufSize && want <= readBufSize) || fr.off > 0 {
		buf := fr.buf
		if cap(buf) < want || cap(buf) > readBufSize && want <= readBufSize {
			buf = make([]byte, 0, max(want, readBufSize))
		}
		buf = buf[:n]
		copy(buf, fr.buf[fr.off:])
		fr.buf, fr.off = buf, 0
	}
	m, err := fr.r.Read(fr.buf[len(fr.buf):cap(fr.buf)])
	fr.buf = fr.buf[:len(fr.buf)+m]
	return readErr(m, err)
}

// readErr is fill's outcome of a read that gave m bytes and err: any
// progress is success (err comes again on the next read).
func readErr(m int, err error) error {
	if m > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}
