package netio

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// scanHandler is a testHandler that scans opRecycle frames as they
// arrive (FrameScanner) and checks, in Handle, that Conn.FrameScan gives
// each frame its own scan, complete.
type scanHandler struct {
	*testHandler
	mu     sync.Mutex
	scans  []*pieceScan
	errs   []string
	served int // frames handled with their scan
}

// pieceScan records what Arrived saw of one frame.
type pieceScan struct {
	size   int
	frame  []byte
	ns     []int  // n at each call
	seen   []byte // a copy of the arrived bytes, piece by piece
	misuse string
}

func (s *pieceScan) Arrived(frame []byte, n int) {
	switch {
	case len(frame) != s.size:
		s.misuse = fmt.Sprintf("frame of %d bytes, want %d", len(frame), s.size)
	case s.frame != nil && &s.frame[0] != &frame[0]:
		s.misuse = "another buffer"
	case len(s.ns) > 0 && n <= s.ns[len(s.ns)-1] || n > len(frame):
		s.misuse = fmt.Sprintf("n %d after %v", n, s.ns)
	}
	s.frame = frame
	s.seen = append(s.seen, frame[len(s.seen):n]...)
	s.ns = append(s.ns, n)
}

func (h *scanHandler) ScanFrame(head []byte, size int) FrameScan {
	if head[0] != opRecycle {
		return nil
	}
	s := &pieceScan{size: size}
	h.mu.Lock()
	h.scans = append(h.scans, s)
	h.mu.Unlock()
	return s
}

func (h *scanHandler) Handle(ctx context.Context, c *Conn, frame []byte) (*Response, error) {
	if fs := c.FrameScan(frame); fs != nil {
		s := fs.(*pieceScan)
		h.mu.Lock()
		switch {
		case s.misuse != "":
			h.errs = append(h.errs, s.misuse)
		case len(s.ns) == 0 || s.ns[len(s.ns)-1] != len(frame) || !bytes.Equal(s.seen, frame):
			h.errs = append(h.errs, fmt.Sprintf("scan saw %d calls ending at %v of %d bytes", len(s.ns), s.ns[len(s.ns)-1:], len(frame)))
		case c.FrameScan(frame[:len(frame)-1]) != nil || c.FrameScan(bytes.Clone(frame)) != nil:
			h.errs = append(h.errs, "FrameScan of another slice")
		default:
			h.served++
		}
		h.mu.Unlock()
	}
	return h.testHandler.Handle(ctx, c, frame)
}

// Frames over 64 KiB that the Handler scans are seen arriving piece by
// piece, every piece at most scanChunk (so still in cache when scanned),
// and handed to Handle with their scan; other frames are not scanned.
func TestFrameScan(t *testing.T) {
	h := &scanHandler{testHandler: newTestHandler(t, 1<<20)}
	s, err := Listen(testConfig(), h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	c := dial(t, s)
	const frames = 4
	for i := range frames {
		payload := bytes.Repeat([]byte{byte('a' + i)}, 3<<20+i)
		c.send(req(opRecycle, uint32(i), payload))
		if got := c.recv(); !bytes.Equal(got[4:], payload) {
			t.Fatalf("frame %d: echo of %d bytes", i, len(got))
		}
		c.send(req(opEcho, 100+uint32(i), payload[:100<<10])) // not scanned
		c.recv()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.errs) > 0 || h.served != frames || len(h.scans) != frames {
		t.Fatalf("errors %v; %d frames served with their scan, %d scans, want %d", h.errs, h.served, len(h.scans), frames)
	}
	for i, sc := range h.scans {
		prev := 0
		for k, n := range sc.ns {
			if k > 0 && n-prev > scanChunk {
				t.Fatalf("frame %d: a piece of %d bytes (%v)", i, n-prev, sc.ns)
			}
			prev = n
		}
	}
}
