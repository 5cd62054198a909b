package netio

import (
	"testing"
	"time"
)

func TestFrameClasses(t *testing.T) {
	f := func(n, want int) {
		t.Helper()
		if got := frameClass(n); got != want {
			t.Fatalf("frameClass(%d) = %d, want %d", n, got, want)
		}
	}
	f(0, -1)
	f(256, -1)
	f(257, 9)
	f(600, 10)
	f(2048, 11)
	f(2049, 12)
	f(4096, 12)
	f(4097, 13)
	f(256<<10, 18)
	f(256<<10+1, -1)
}

func TestLargeCap(t *testing.T) {
	for _, c := range []struct{ n, want int }{
		{256<<10 + 1, 320 << 10},
		{1<<20 + 1, 1<<20 + 256<<10},
		{9 << 19, 5 << 20}, // 4.5 MiB takes 5 MiB
		{5 << 20, 5 << 20},
		{16 << 20, 16 << 20},
		{16<<20 + 1, 20 << 20},
	} {
		if got := largeCap(c.n); got != c.want {
			t.Errorf("largeCap(%d) = %d, want %d", c.n, got, c.want)
		}
	}
}

// A recycled frame comes back for the next frame of its class, and frames
// that are not pool-shaped are never pooled.
func TestRecycleFrame(t *testing.T) {
	skipFrameCheck(t)
	a := newFrame(100<<10, true)
	if len(a) != 100<<10 || cap(a) != 128<<10 {
		t.Fatalf("newFrame: len %d cap %d", len(a), cap(a))
	}
	a[0] = 42
	RecycleFrame(a)
	b := newFrame(120<<10, true)
	if cap(b) != 128<<10 {
		t.Fatalf("next frame of the class: cap %d", cap(b))
	}
	RecycleFrame(make([]byte, 5000)) // not a power-of-two capacity: ignored
	RecycleFrame(nil)
	if c := newFrame(100, true); cap(c) != 100 {
		t.Fatalf("frames of 256 B or less are plain allocations: cap %d", cap(c))
	}
	if c := newFrame(600, false); cap(c) != 600 {
		t.Fatalf("a small frame nobody recycles is a plain allocation: cap %d", cap(c))
	}
	d := newFrame(600, true)
	if cap(d) != 1024 {
		t.Fatalf("a small recycled frame: cap %d, want its class's 1024", cap(d))
	}
	RecycleFrame(d)
	if allocs := testing.AllocsPerRun(100, func() { RecycleFrame(newFrame(600, true)) }); allocs != 0 {
		t.Fatalf("%v allocations to take and recycle a pooled frame, want 0", allocs)
	}
}

// Large frames share one free list: a frame takes the smallest free
// buffer that holds it, and the list keeps no more than the most bytes in
// use at once lately (at least largeFreeMin), preferring larger buffers.
func TestLargeFreeList(t *testing.T) {
	skipFrameCheck(t)
	reset := resetLargeFree
	state := func() (free, n, inUse int) {
		largeFree.Lock()
		defer largeFree.Unlock()
		return largeFree.bytes, len(largeFree.bufs), largeFree.inUse
	}
	reset()
	defer reset()
	f2 := newFrame(2<<20, true)
	f8 := newFrame(8<<20, true)
	if cap(f2) != 2<<20 || cap(f8) != 8<<20 {
		t.Fatalf("caps %d %d", cap(f2), cap(f8))
	}
	RecycleFrame(f2)
	RecycleFrame(f8)
	if g := newFrame(3<<20, true); cap(g) != 8<<20 {
		t.Fatalf("3 MiB frame: cap %d, want the free 8 MiB buffer", cap(g))
	} else {
		RecycleFrame(g)
	}
	if g := newFrame(1<<20+1, true); cap(g) != 2<<20 {
		t.Fatalf("1 MiB+1 frame: cap %d, want the smallest free buffer (2 MiB)", cap(g))
	} else {
		RecycleFrame(g)
	}
	// 2 + 8 MiB are free, and at most 10 MiB were in use at once: a new
	// 12 MiB mapping does not fit beside them in largeFreeMin (16): the
	// 2 MiB buffer is dropped to make room, then the 8 MiB one, before it
	// is mapped.
	f12 := newFrame(12<<20, true)
	if free, n, inUse := state(); free != 0 || n != 0 || inUse != 12<<20 {
		t.Fatalf("a new 12 MiB mapping left %d bytes free in %d buffers, %d in use; want the free ones dropped first", free, n, inUse)
	}
	RecycleFrame(f12)
	if free, n, inUse := state(); free != 12<<20 || n != 1 || inUse != 0 {
		t.Fatalf("free list: %d bytes in %d buffers, %d in use; want only the 12 MiB one", free, n, inUse)
	}
	if isMapped(f2) || isMapped(f8) || !isMapped(f12) {
		t.Fatalf("dropped buffers still mapped (2 MiB: %v, 8 MiB: %v), or the kept one not (%v)", isMapped(f2), isMapped(f8), isMapped(f12))
	}
	RecycleFrame(make([]byte, 5<<20)) // not mapped: the garbage collector's
	if free, _, _ := state(); free != 12<<20 {
		t.Fatalf("free list: %d bytes, want 12 MiB", free)
	}
	// 44 MiB in use at once (the free 12 MiB buffer and four new 8 MiB
	// ones): the free list may keep all of it.
	var held [][]byte
	for range 5 {
		held = append(held, newFrame(8<<20, true))
	}
	for _, f := range held {
		RecycleFrame(f)
	}
	if free, n, inUse := state(); free != 44<<20 || n != 5 || inUse != 0 {
		t.Fatalf("after 5 x 8 MiB in use at once: %d bytes free in %d buffers, %d in use", free, n, inUse)
	}
}

// A large frame the Handler does not recycle is a heap slice; one it
// recycles is mapped, counted in use by FrameMemory until recycled.
func TestMappedFrames(t *testing.T) {
	skipFrameCheck(t)
	resetLargeFree()
	defer resetLargeFree()
	inUse0, _ := FrameMemory()
	heap := newFrame(3<<20, false)
	if isMapped(heap) {
		t.Fatalf("a frame that will not be recycled was mapped")
	}
	m := newFrame(3<<20, true)
	if !isMapped(m) || len(m) != 3<<20 || cap(m) != 3<<20 {
		t.Fatalf("mapped %v, len %d, cap %d", isMapped(m), len(m), cap(m))
	}
	m[0], m[len(m)-1] = 1, 2 // writable
	if inUse, _ := FrameMemory(); inUse-inUse0 != 3<<20 {
		t.Fatalf("FrameMemory in use grew by %d, want 3 MiB", inUse-inUse0)
	}
	RecycleFrame(m)
	if inUse, _ := FrameMemory(); inUse != inUse0 {
		t.Fatalf("FrameMemory in use %d after recycling, want %d", inUse, inUse0)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatalf("recycling a mapped frame twice did not panic")
			}
		}()
		RecycleFrame(m)
	}()
}

// resetLargeFree empties the free list (unmapping it) and its accounting.
func resetLargeFree() {
	largeFree.Lock()
	bufs := largeFree.bufs
	for _, b := range bufs {
		delete(largeFree.mapped, base(b[:cap(b)]))
	}
	largeFree.bufs, largeFree.bytes, largeFree.inUse = nil, 0, 0
	largeFree.peak, largeFree.prevPeak = 0, 0
	largeFree.Unlock()
	unmapFrames(bufs)
}

func isMapped(b []byte) bool {
	largeFree.Lock()
	defer largeFree.Unlock()
	_, ok := largeFree.mapped[base(b[:cap(b)])]
	return ok
}

func skipFrameCheck(t *testing.T) {
	if frameCheck {
		t.Skip("framecheck maps and never reuses frames")
	}
}

// The trim timer's work: free buffers stay while the peak they were kept
// for counts (this window or the last), and are all unmapped once a whole
// window passed with no mapped frame in use.
func TestFreeListTrim(t *testing.T) {
	skipFrameCheck(t)
	resetLargeFree()
	defer resetLargeFree()
	now := time.Now()
	largeFree.Lock()
	largeFree.peak, largeFree.prevPeak, largeFree.windowEnd = 0, 0, now.Add(largePeakEvery)
	largeFree.Unlock()
	var held [][]byte
	for range 3 {
		held = append(held, newFrame(8<<20, true))
	}
	for _, f := range held {
		RecycleFrame(f)
	}
	free := func() int64 { _, f := FrameMemory(); return f }
	if got := free(); got != 24<<20 {
		t.Fatalf("free list %d bytes, want 24 MiB", got)
	}
	trimLarge(now.Add(largePeakEvery + time.Second)) // the peak was in the last window: kept
	if got := free(); got != 24<<20 {
		t.Fatalf("one window on: free list %d bytes, want 24 MiB kept", got)
	}
	trimLarge(now.Add(2*largePeakEvery + 2*time.Second)) // a whole window with nothing in use
	if got := free(); got != 0 {
		t.Fatalf("idle for a window: free list %d bytes, want 0", got)
	}
	for _, f := range held {
		if isMapped(f) {
			t.Fatalf("a trimmed buffer is still mapped")
		}
	}
}
