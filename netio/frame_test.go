package netio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// gnetInbound mimics gnet.Conn's buffered input for frameLoop: Peek(n)
// fails with io.ErrShortBuffer when fewer than n bytes are buffered, Read
// and Discard consume.
type gnetInbound struct{ buf []byte }

func (g *gnetInbound) InboundBuffered() int { return len(g.buf) }
func (g *gnetInbound) Peek(n int) ([]byte, error) {
	if n > len(g.buf) {
		return nil, io.ErrShortBuffer
	}
	return g.buf[:n], nil
}
func (g *gnetInbound) Discard(n int) (int, error) {
	n = min(n, len(g.buf))
	g.buf = g.buf[n:]
	return n, nil
}
func (g *gnetInbound) Read(p []byte) (int, error) {
	if len(g.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, g.buf)
	g.buf = g.buf[n:]
	return n, nil
}

// budgetSink admits up to room frames, then blocks.
type budgetSink struct {
	room   int
	frames [][]byte
}

func (b *budgetSink) admit() bool                { return len(b.frames) < b.room }
func (b *budgetSink) deliver(frame []byte)       { b.frames = append(b.frames, frame) }
func (b *budgetSink) handOn()                    {}
func (b *budgetSink) recycles(head []byte) bool  { return false }
func (b *budgetSink) scan([]byte, int) FrameScan { return nil }

func TestFrameLoop(t *testing.T) {
	f := func(in []byte, max int32, room int, wantFrames []string, wantSt frameState, wantErr error) {
		t.Helper()
		g := &gnetInbound{buf: in}
		sink := &budgetSink{room: room}
		st, err := frameLoop(g, max, sink)
		var got []string
		for _, fr := range sink.frames {
			got = append(got, string(fr))
		}
		if !errors.Is(err, wantErr) || st != wantSt || len(got) != len(wantFrames) {
			t.Fatalf("frameLoop(%x, %d) = %q, %v, %v; want %q, %v, %v", in, max, got, st, err, wantFrames, wantSt, wantErr)
		}
		for i := range got {
			if got[i] != wantFrames[i] {
				t.Fatalf("frame %d = %q, want %q", i, got[i], wantFrames[i])
			}
		}
	}
	f(nil, 10, 9, nil, frameNone, nil)
	f([]byte{0, 0, 0}, 10, 9, nil, framePartial, nil)
	f([]byte{0, 0, 0, 0}, 10, 9, []string{""}, frameNone, nil)
	f([]byte{0, 0, 0, 2, 'a'}, 10, 9, nil, framePartial, nil)
	f([]byte{0, 0, 0, 2, 'a', 'b', 0, 0, 0, 1, 'c'}, 10, 9, []string{"ab", "c"}, frameNone, nil)
	f([]byte{0, 0, 0, 2, 'a', 'b', 0, 0, 0, 1, 'c'}, 10, 1, []string{"ab"}, frameBlocked, nil)
	f([]byte{0, 0, 0, 2, 'a', 'b', 0, 0}, 10, 9, []string{"ab"}, framePartial, nil)
	f([]byte{0, 0, 0, 10}, 10, 9, nil, framePartial, nil)
	f([]byte{0, 0, 0, 11}, 10, 9, nil, framePartial, errTooLarge)
	f([]byte{0x7f, 0xff, 0xff, 0xff}, 100<<20, 9, nil, framePartial, errTooLarge)
	f([]byte{0xff, 0xff, 0xff, 0xff, 1}, 10, 9, nil, framePartial, errNegativeSize)
	f([]byte{0, 0, 0, 1, 'a', 0x80, 0, 0, 0}, 10, 9, []string{"a"}, framePartial, errNegativeSize)
}

// chunkReader returns in, cut at the lengths chunks gives (cycled), the
// way a socket delivers a stream in reads of any size.
type chunkReader struct {
	in     []byte
	chunks []byte
	i      int
}

func (r *chunkReader) next() int {
	n := 1
	if len(r.chunks) > 0 {
		n = int(r.chunks[r.i%len(r.chunks)]) + 1
		r.i++
	}
	return min(n, len(r.in))
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.in) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.in[:min(r.next(), len(p))])
	r.in = r.in[n:]
	return n, nil
}

// referenceFrames splits in the plain way: whole frames until one is
// incomplete or has a bad prefix.
func referenceFrames(in []byte, max int32) (frames [][]byte, bad bool) {
	for len(in) >= sizeLen {
		size := int32(binary.BigEndian.Uint32(in))
		if size < 0 || size > max {
			return frames, true
		}
		if len(in) < sizeLen+int(size) {
			break
		}
		frames = append(frames, in[sizeLen:sizeLen+int(size)])
		in = in[sizeLen+int(size):]
	}
	return frames, false
}

// FuzzFraming drives the framing production runs, frameLoop, through both
// of its inputs: gnet's buffer as an event loop sees it (input arriving in
// arbitrary pieces, OnTraffic after each, with a budget that blocks now
// and then) and a muted connection's frameReader filling from a socket
// that returns arbitrary short reads. Both must deliver exactly the
// reference split of the input, in order, none twice, reject exactly the
// bad prefixes, and never hold a whole frame back unless the budget did.
func FuzzFraming(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, 'a', 'b', 0, 0, 0, 0, 0, 0}, int32(10), []byte{0, 3, 1})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, int32(10), []byte{})
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff, 1, 2}, int32(1<<20), []byte{5})
	f.Add([]byte{0, 0, 0, 3, 1, 2}, int32(0), []byte{1, 1})
	f.Add(bytes.Repeat([]byte{0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'}, 20), int32(5), []byte{7, 0, 200, 2})
	f.Fuzz(func(t *testing.T, in []byte, max int32, chunks []byte) {
		if max < 0 {
			max = -(max + 1)
		}
		max %= 1 << 16 // frameReader sizes its buffer by the prefix
		want, wantBad := referenceFrames(in, max)
		check := func(path string, got [][]byte, bad bool) {
			t.Helper()
			if bad != wantBad || len(got) != len(want) {
				t.Fatalf("%s: %d frames (bad prefix %v), want %d (%v)", path, len(got), bad, len(want), wantBad)
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("%s: frame %d = %x, want %x", path, i, got[i], want[i])
				}
			}
		}
		got, bad := gnetPath(t, in, max, chunks)
		check("event loop", got, bad)
		got, bad = readerPath(t, in, max, chunks)
		check("muted reader", got, bad)
	})
}

// gnetPath feeds in to frameLoop over a gnet-like buffer in pieces.
func gnetPath(t *testing.T, in []byte, max int32, chunks []byte) ([][]byte, bool) {
	g := &gnetInbound{}
	sink := &budgetSink{}
	r := &chunkReader{in: in, chunks: chunks}
	for step := 0; ; step++ {
		var piece [256]byte
		n, _ := r.Read(piece[:])
		g.buf = append(g.buf, piece[:n]...)
		sink.room = len(sink.frames) + step%3 // a budget that sometimes blocks
		st, err := frameLoop(g, max, sink)
		if err != nil {
			return sink.frames, true
		}
		if n == 0 { // all input arrived: the budget frees, everything whole is taken
			sink.room = len(in)
			st, err = frameLoop(g, max, sink)
			if err != nil {
				return sink.frames, true
			}
			if st == frameBlocked {
				t.Fatalf("blocked with an unlimited budget")
			}
			return sink.frames, false
		}
		if st == frameNone && g.InboundBuffered() != 0 {
			t.Fatalf("frameNone with %d bytes buffered", g.InboundBuffered())
		}
	}
}

// readerPath runs the muted connection's loop (frameLoop, then fill,
// frames over 8 bytes read directly) over a socket that returns short
// reads.
func readerPath(t *testing.T, in []byte, max int32, chunks []byte) ([][]byte, bool) {
	split := len(in) / 2
	fr := newFrameReader(&chunkReader{in: in[split:], chunks: chunks}, in[:split]) // gnet's leftover, then the socket
	fr.directOver = 8
	sink := &budgetSink{room: len(in) + 1}
	for {
		st, err := frameLoop(fr, max, sink)
		if err != nil {
			return sink.frames, true
		}
		if st == framePartial {
			fr.startDirect(max, sink)
		}
		if err := fr.fill(max); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("fill: %v", err)
			}
			return sink.frames, false
		}
		if frame, _ := fr.takeDirect(); frame != nil {
			sink.deliver(frame)
		}
	}
}
