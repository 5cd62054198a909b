package netio

import (
	"fmt"
	"math/bits"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Frame buffers are recycled, so that a frame costs neither an allocation
// nor zeroing (a 1 MiB produce request otherwise costs both, and the
// garbage collector's time after them). A handler done with a frame —
// nothing it keeps refers to any part of it — hands it back with
// RecycleFrame.
//
//   - Frames of 257 B to 256 KiB come from a sync.Pool per power-of-two
//     class (512 B … 256 KiB); the garbage collector empties those pools.
//     Frames of 2 KiB or less come from the pools only when the Handler
//     recycles them (FrameRecycler); others are plain allocations of
//     their own size, as before.
//     The pools hold each buffer's base address (an unsafe.Pointer fits
//     in an interface without an allocation), so that recycling a frame
//     allocates nothing either: with 100 connections of one 512 B record
//     per request, the frame was most of the bytes the broker allocated
//     (docs/BENCHMARKS.md, issue 19, branch conns100).
//   - Larger frames the Handler promised to recycle (FrameRecycler) are
//     mapped outside the Go heap (anonymous mmap), sized up to the next
//     eighth of their power of two (a 4.5 MiB request takes 5 MiB, not
//     8), and kept, once recycled, in one free list; a frame takes the
//     smallest free buffer that holds it. What is mapped, in use and
//     free, stays within the most that mapped frames held at once lately
//     (at any moment of the last one to two minutes, at least
//     largeFreeMin): a frame that needs a new mapping first drops the
//     free buffers too small for it (smallest first) to make room, and a
//     recycled one drops smaller free ones. So a steady load maps
//     nothing (its frames come back for its next requests), and the free
//     list never adds to the peak in use. Buffers dropped are unmapped
//     (munmap): their memory goes back to the kernel at once.
//     Producers' requests vary in size from one to the next (1–16 MiB
//     for one franz-go producer with 16 partitions); when the free list
//     bounded only its own bytes, the peak in use plus free buffers of
//     the wrong sizes mapped 39–42 MiB for 26–32 MiB in use.
//   - Other frames over 256 KiB (a Handler that does not recycle them) are
//     plain allocations, left to the garbage collector.
//   - Frames of 256 B or less are plain allocations, never pooled.
//
// Why outside the heap: the garbage collector lets the heap grow to
// twice what is live (GOGC=100) before it collects, so on the heap every
// byte of a large frame in use or free cost about two bytes of RSS. A
// mapped frame costs its own pages only, and the heap's goal stays that
// of the broker's small objects.
//
// Mapped memory is thus at most the peak of frames in use over the last
// one to two minutes — bounded by what the connections' budgets let in
// at once (ConnBudgetBytes plus one frame each) — or largeFreeMin, plus
// a new mapping while it is being made room for; it falls back to
// largeFreeMin within two to three minutes of the load dropping, and to
// nothing once no mapped frame was in use for a whole minute (a timer
// trims the free list). A frame whose Handler panicked is never handed back: it
// stays counted in use (FrameMemory) and mapped.
const (
	minFrameClass = 9  // 512 B
	maxFrameClass = 18 // 256 KiB: larger frames are mapped or plain
)

const (
	largeFreeMin   = 16 << 20         // the free list may always keep this much
	largePeakEvery = 60 * time.Second // how long a peak of large frames in use counts
)

var framePools [maxFrameClass - minFrameClass + 1]sync.Pool

// largeFree is the free list of mapped buffers, in no order, and the
// accounting that bounds it.
var largeFree struct {
	sync.Mutex
	bufs  [][]byte // each of length 0
	bytes int      // the sum of their capacities
	inUse int      // capacity of mapped frames handed out and not recycled
	// peak is the most inUse in this window, prevPeak in the last one;
	// the free list keeps at most max(peak, prevPeak, largeFreeMin).
	peak, prevPeak int
	windowEnd      time.Time
	// mapped holds the base address of every mapping made here, and
	// whether it is in use (false: free): RecycleFrame tells them from
	// heap slices, and a frame recycled twice from one recycled once.
	mapped map[uintptr]bool
	// released: (framecheck builds) frames recycled and made inaccessible.
	released map[uintptr]bool
	trimming bool // a trim is scheduled (scheduleTrimLocked)
}

// FrameMemory reports the bytes of request frames mapped outside the Go
// heap: inUse handed to a Handler and not recycled yet, free kept for
// reuse.
func FrameMemory() (inUse, free int64) {
	largeFree.Lock()
	defer largeFree.Unlock()
	return int64(largeFree.inUse), int64(largeFree.bytes)
}

// frameClass is the smallest class holding n bytes, or -1.
func frameClass(n int) int {
	if n <= 1<<minFrameClass/2 || n > 1<<maxFrameClass {
		return -1
	}
	return max(bits.Len(uint(n-1)), minFrameClass)
}

// largeCap is the capacity a large frame of n bytes is allocated with: n
// rounded up to an eighth of its power of two (a multiple of the page
// size for any n over 256 KiB).
func largeCap(n int) int {
	step := 1 << (bits.Len(uint(n-1)) - 3)
	return (n + step - 1) / step * step
}

// newFrame returns an n-byte slice, reused when it can be. Its contents
// are garbage: the caller overwrites all n bytes. mapped says that the
// frame will be recycled (FrameRecycler): a large one is then mapped
// outside the Go heap.
func newFrame(n int, mapped bool) []byte {
	if mapped && frameCheck && n > 0 {
		return checkedFrame(n)
	}
	if n > 1<<maxFrameClass {
		if mapped {
			return takeLarge(n)
		}
		return make([]byte, n)
	}
	c := frameClass(n)
	if c < 0 || !mapped && n <= 2<<10 {
		// A small frame nobody recycles is a plain allocation of its
		// own size: a pooled one would only round it up.
		return make([]byte, n)
	}
	if p, ok := framePools[c-minFrameClass].Get().(unsafe.Pointer); ok {
		return unsafe.Slice((*byte)(p), 1<<c)[:n]
	}
	return make([]byte, n, 1<<c)
}

// freeFrame returns an n-byte mapped frame only if it costs no new
// memory: a free large buffer holding n bytes; nil otherwise.
func freeFrame(n int) []byte {
	if n <= 1<<maxFrameClass || frameCheck {
		return nil
	}
	return takeLargeOr(n, false)
}

// takeLarge returns the smallest free large buffer holding n bytes, or a
// new mapping (a heap slice if mmap fails).
func takeLarge(n int) []byte { return takeLargeOr(n, true) }

func takeLargeOr(n int, alloc bool) []byte {
	largeFree.Lock()
	best := -1
	for i, b := range largeFree.bufs {
		if cap(b) >= n && (best < 0 || cap(b) < cap(largeFree.bufs[best])) {
			best = i
		}
	}
	if best >= 0 {
		b := removeLargeLocked(best)[:n]
		largeFree.mapped[base(b)] = true
		largeFree.inUse += cap(b)
		notePeakLocked(time.Now())
		largeFree.Unlock()
		return b
	}
	if !alloc {
		largeFree.Unlock()
		return nil
	}
	// No free buffer holds n bytes: those that are smaller make room
	// for the new mapping first, smallest first.
	drop, _ := dropLocked(largeCap(n), 0, limitLocked(), nil)
	largeFree.Unlock()
	unmapFrames(drop)
	b, err := mapFrame(largeCap(n))
	if err != nil {
		return make([]byte, n) // not mapped: RecycleFrame leaves it to the GC
	}
	largeFree.Lock()
	largeFree.inUse += cap(b)
	notePeakLocked(time.Now())
	largeFree.Unlock()
	return b[:n]
}

// mapFrame maps size bytes of anonymous memory (size a multiple of the
// page size) and registers them.
func mapFrame(size int) ([]byte, error) {
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("netio: cannot map a %d-byte frame: %w", size, err)
	}
	largeFree.Lock()
	if largeFree.mapped == nil {
		largeFree.mapped = make(map[uintptr]bool)
	}
	largeFree.mapped[base(b)] = true
	largeFree.Unlock()
	return b, nil
}

// unmapFrames unmaps buffers dropped from the free list (not under its
// lock: munmap of many megabytes takes a while).
func unmapFrames(bufs [][]byte) {
	for _, b := range bufs {
		if err := unix.Munmap(b[:cap(b)]); err != nil {
			panic(fmt.Sprintf("BUG: netio: munmap of a %d-byte frame: %v", cap(b), err))
		}
	}
}

// base is the address of b's first byte (b's capacity is not 0).
func base(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

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

// limitLocked is the bound of what is mapped, in use or free: the most
// in use at once lately, or largeFreeMin.
func limitLocked() int { return max(largeFree.peak, largeFree.prevPeak, largeFreeMin) }

// dropLocked takes buffers off the free list, smallest first and only
// those smaller than keep (0: any), until room more bytes fit under
// limit beside what is mapped, in use or free. It reports whether they
// fit, and appends the buffers taken off to drop (to unmap once
// unlocked).
func dropLocked(room, keep, limit int, drop [][]byte) ([][]byte, bool) {
	for largeFree.inUse+largeFree.bytes+room > limit {
		small := -1
		for i, f := range largeFree.bufs {
			if (keep == 0 || cap(f) < keep) && (small < 0 || cap(f) < cap(largeFree.bufs[small])) {
				small = i
			}
		}
		if small < 0 {
			return drop, false
		}
		b := removeLargeLocked(small)
		delete(largeFree.mapped, base(b[:cap(b)]))
		drop = append(drop, b)
	}
	return drop, true
}

// putLarge keeps the mapped frame b for reuse, making room by dropping
// smaller free buffers (a larger one serves more frames); b itself is
// dropped when even that leaves no room. Dropped buffers are unmapped.
func putLarge(b []byte) {
	c := cap(b)
	largeFree.Lock()
	if !largeFree.mapped[base(b[:c])] {
		largeFree.Unlock()
		panic("BUG: netio: a frame was recycled twice")
	}
	largeFree.inUse = max(largeFree.inUse-c, 0)
	notePeakLocked(time.Now())
	drop, ok := dropLocked(c, c, limitLocked(), nil)
	if ok {
		largeFree.mapped[base(b[:c])] = false
		largeFree.bufs = append(largeFree.bufs, b[:0])
		largeFree.bytes += c
	} else {
		delete(largeFree.mapped, base(b[:c]))
		drop = append(drop, b)
	}
	scheduleTrimLocked()
	largeFree.Unlock()
	unmapFrames(drop)
}

// scheduleTrimLocked makes sure that a free list is trimmed to its bound
// once the peak it was kept for has passed, even if no frame comes back
// meanwhile, and given back whole once idle (trimLarge).
func scheduleTrimLocked() {
	if largeFree.trimming || largeFree.bytes == 0 {
		return
	}
	largeFree.trimming = true
	time.AfterFunc(largePeakEvery, func() { trimLarge(time.Now()) })
}

// trimLarge unmaps free buffers over the free list's bound, and all of
// them once a whole window (60 s) passed with no mapped frame in use: an
// idle broker keeps no frame memory, not even largeFreeMin.
func trimLarge(now time.Time) {
	largeFree.Lock()
	largeFree.trimming = false
	notePeakLocked(now)
	limit := limitLocked()
	if largeFree.inUse == 0 && largeFree.peak == 0 && largeFree.prevPeak == 0 {
		limit = 0
	}
	drop, _ := dropLocked(0, 0, limit, nil)
	scheduleTrimLocked()
	largeFree.Unlock()
	unmapFrames(drop)
}

// RecycleFrame returns a request frame for reuse. Call it only when
// nothing refers to the frame any more (a decoded request's byte slices
// point into it), with the frame as Handle received it (not a subslice
// starting further on). A mapped frame is unmapped or reused from then
// on: a later access is a fault, not stale data. A small frame that is
// not pool-shaped, and a large one that is not mapped, are ignored.
func RecycleFrame(frame []byte) {
	c := cap(frame)
	if c > 1<<maxFrameClass || frameCheck && c > 0 {
		largeFree.Lock()
		_, ok := largeFree.mapped[base(frame[:c])]
		largeFree.Unlock()
		switch {
		case ok && frameCheck:
			releaseChecked(frame[:c])
			return
		case ok:
			putLarge(frame)
			return
		case frameCheck:
			checkNotReleased(frame[:c])
		}
		if c > 1<<maxFrameClass {
			return // a heap slice: the garbage collector's
		}
	}
	if c == 0 || c&(c-1) != 0 || frameClass(c) != bits.Len(uint(c-1)) {
		return
	}
	framePools[bits.Len(uint(c-1))-minFrameClass].Put(unsafe.Pointer(unsafe.SliceData(frame)))
}
