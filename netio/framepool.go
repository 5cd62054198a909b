package netio

import (
	"math/bits"
	"sync"
)

// Frame buffers are recycled by size class, powers of two from 4 KiB to
// 16 MiB. A handler done with a frame — nothing it keeps refers to any part
// of it — hands it back with RecycleFrame, and a later frame of that class
// costs neither an allocation nor zeroing (a 1 MiB produce request otherwise
// costs both, and the garbage collector's time after them). Frames outside
// the classes are plain allocations and are never pooled.
const (
	minFrameClass = 12 // 4 KiB
	maxFrameClass = 24 // 16 MiB
)

var framePools [maxFrameClass - minFrameClass + 1]sync.Pool

// frameClass is the smallest class holding n bytes, or -1.
func frameClass(n int) int {
	if n <= 1<<minFrameClass/2 || n > 1<<maxFrameClass {
		return -1
	}
	return max(bits.Len(uint(n-1)), minFrameClass)
}

// newFrame returns an n-byte slice, from the pool when n has a class. Its
// contents are garbage: the caller overwrites all n bytes.
func newFrame(n int) []byte {
	c := frameClass(n)
	if c < 0 {
		return make([]byte, n)
	}
	if p, ok := framePools[c-minFrameClass].Get().(*[]byte); ok {
		return (*p)[:n]
	}
	return make([]byte, n, 1<<c)
}

// RecycleFrame returns a request frame to the pool. Call it only when
// nothing refers to the frame any more (a decoded request's byte slices
// point into it); a frame not from the pool is ignored.
func RecycleFrame(frame []byte) {
	c := cap(frame)
	if c == 0 || c&(c-1) != 0 || frameClass(c) != bits.Len(uint(c-1)) {
		return
	}
	b := frame[:0]
	framePools[bits.Len(uint(c-1))-minFrameClass].Put(&b)
}
