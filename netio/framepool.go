package netio

import (
	"math/bits"
	"sync"
	"time"
)

// Frame buffers are recycled, so that a frame costs neither an allocation
// nor zeroing (a 1 MiB produce request otherwise costs both, and the
// garbage collector's time after them). A handler done with a frame —
// nothing it keeps refers to any part of it — hands it back with
// RecycleFrame.
//
//   - Frames of 2 KiB+1 to 1 MiB come from a sync.Pool per power-of-two
//     class (4 KiB … 1 MiB); the garbage collector empties those pools.
//   - Larger frames are sized up to the next eighth of their power of two
//     (a 4.5 MiB request takes 5 MiB, not 8) and kept, once recycled, in
//     one free list; a frame takes the smallest free buffer that holds it.
//     The free list keeps at most as many bytes as large frames held at
//     once lately (the most in use at any moment of the last one to two
//     minutes, at least largeFreeMin), so a steady load allocates
//     nothing: its frames come back for its next requests. Producers'
//     requests vary in size from one to the next (1–16 MiB for one
//     franz-go producer with 16 partitions); a pool per size class kept a
//     few buffers of every class, and a small fixed bound dropped buffers
//     the next request needed, and the garbage collector let the heap
//     grow to twice what was live in both cases.
//   - Frames of 2 KiB or less are plain allocations, never pooled.
//
// Large frame memory is thus bounded by what the connections' budgets
// (ConnBudgetBytes, plus one frame each) let in at once, and falls back
// to largeFreeMin within two minutes of the load dropping.
const (
	minFrameClass = 12 // 4 KiB
	maxFrameClass = 20 // 1 MiB: larger frames use the free list
)

const (
	largeFreeMin   = 16 << 20         // the free list may always keep this much
	largePeakEvery = 60 * time.Second // how long a peak of large frames in use counts
)

var framePools [maxFrameClass - minFrameClass + 1]sync.Pool

// largeFree is the free list of buffers over 1 MiB, in no order, and the
// accounting that bounds it.
var largeFree struct {
	sync.Mutex
	bufs  [][]byte // each of length 0
	bytes int      // the sum of their capacities
	inUse int      // capacity of large frames handed out and not recycled
	// peak is the most inUse in this window, prevPeak in the last one;
	// the free list keeps at most max(peak, prevPeak, largeFreeMin).
	peak, prevPeak int
	windowEnd      time.Time
}

// frameClass is the smallest class holding n bytes, or -1.
func frameClass(n int) int {
	if n <= 1<<minFrameClass/2 || n > 1<<maxFrameClass {
		return -1
	}
	return max(bits.Len(uint(n-1)), minFrameClass)
}

// largeCap is the capacity a large frame of n bytes is allocated with: n
// rounded up to an eighth of its power of two.
func largeCap(n int) int {
	step := 1 << (bits.Len(uint(n-1)) - 3)
	return (n + step - 1) / step * step
}

// newFrame returns an n-byte slice, reused when it can be. Its contents
// are garbage: the caller overwrites all n bytes.
func newFrame(n int) []byte {
	if n > 1<<maxFrameClass {
		return takeLarge(n)
	}
	c := frameClass(n)
	if c < 0 {
		return make([]byte, n)
	}
	if p, ok := framePools[c-minFrameClass].Get().(*[]byte); ok {
		return (*p)[:n]
	}
	return make([]byte, n, 1<<c)
}

// freeFrame returns an n-byte slice only if it costs no new memory: a
// free large buffer holding n bytes; nil otherwise.
func freeFrame(n int) []byte {
	if n <= 1<<maxFrameClass {
		return nil
	}
	return takeLargeOr(n, false)
}

// takeLarge returns the smallest free large buffer holding n bytes, or a
// new one.
func takeLarge(n int) []byte { return takeLargeOr(n, true) }

func takeLargeOr(n int, alloc bool) []byte {
	largeFree.Lock()
	defer largeFree.Unlock()
	best := -1
	for i, b := range largeFree.bufs {
		if cap(b) >= n && (best < 0 || cap(b) < cap(largeFree.bufs[best])) {
			best = i
		}
	}
	var b []byte
	switch {
	case best >= 0:
		b = removeLargeLocked(best)[:n]
	case !alloc:
		return nil
	default:
		b = make([]byte, n, largeCap(n))
	}
	largeFree.inUse += cap(b)
	notePeakLocked(time.Now())
	return b
}

// notePeakLocked moves the window of peaks on and counts inUse in it.
func notePeakLocked(now time.Time) {
	if now.After(largeFree.windowEnd) {
		largeFree.prevPeak, largeFree.peak = largeFree.peak, 0
		if now.Sub(largeFree.windowEnd) > largePeakEvery {
			largeFree.prevPeak = 0 // a whole window passed without a large frame
		}
		largeFree.windowEnd = now.Add(largePeakEvery)
	}
	largeFree.peak = max(largeFree.peak, largeFree.inUse)
}

// removeLargeLocked takes the i-th buffer off the free list.
func removeLargeLocked(i int) []byte {
	b := largeFree.bufs[i]
	last := len(largeFree.bufs) - 1
	largeFree.bufs[i] = largeFree.bufs[last]
	largeFree.bufs[last] = nil
	largeFree.bufs = largeFree.bufs[:last]
	largeFree.bytes -= cap(b)
	return b
}

// putLarge keeps b for reuse, making room by dropping smaller free
// buffers (a larger one serves more frames); b itself is dropped when
// even that leaves no room.
func putLarge(b []byte) {
	c := cap(b)
	largeFree.Lock()
	defer largeFree.Unlock()
	largeFree.inUse = max(largeFree.inUse-c, 0) // a frame not from newFrame counts as none
	notePeakLocked(time.Now())
	limit := max(largeFree.peak, largeFree.prevPeak, largeFreeMin)
	for largeFree.bytes+c > limit {
		small := -1
		for i, f := range largeFree.bufs {
			if cap(f) < c && (small < 0 || cap(f) < cap(largeFree.bufs[small])) {
				small = i
			}
		}
		if small < 0 {
			return
		}
		removeLargeLocked(small)
	}
	largeFree.bufs = append(largeFree.bufs, b[:0])
	largeFree.bytes += c
}

// RecycleFrame returns a request frame for reuse. Call it only when
// nothing refers to the frame any more (a decoded request's byte slices
// point into it). A small frame that is not pool-shaped is ignored.
func RecycleFrame(frame []byte) {
	c := cap(frame)
	if c > 1<<maxFrameClass {
		putLarge(frame)
		return
	}
	if c == 0 || c&(c-1) != 0 || frameClass(c) != bits.Len(uint(c-1)) {
		return
	}
	b := frame[:0]
	framePools[bits.Len(uint(c-1))-minFrameClass].Put(&b)
}
