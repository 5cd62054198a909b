//go:build framecheck

package netio

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// frameCheck (go test -tags framecheck) maps every frame a FrameRecycler
// will recycle, whatever its size, in pages of its own, and makes a
// recycled frame inaccessible for good (PROT_NONE, its pages given back)
// instead of reusing it: any use after RecycleFrame is a fault at the
// use, in the test that made it, and a second RecycleFrame panics.
const frameCheck = true

// checkedFrame maps an n-byte frame (n > 0) of its own.
func checkedFrame(n int) []byte {
	page := os.Getpagesize()
	b, err := mapFrame((n + page - 1) / page * page)
	if err != nil {
		panic(fmt.Sprintf("netio: framecheck: %v", err))
	}
	largeFree.Lock()
	largeFree.inUse += len(b)
	largeFree.Unlock()
	return b[:n]
}

// releaseChecked makes a recycled frame inaccessible (it stays mapped,
// so its addresses are never handed out again).
func releaseChecked(b []byte) {
	largeFree.Lock()
	delete(largeFree.mapped, base(b))
	if largeFree.released == nil {
		largeFree.released = make(map[uintptr]bool)
	}
	largeFree.released[base(b)] = true
	largeFree.inUse -= len(b)
	largeFree.Unlock()
	if err := unix.Madvise(b, unix.MADV_DONTNEED); err != nil {
		panic(fmt.Sprintf("BUG: netio: framecheck: madvise: %v", err))
	}
	if err := unix.Mprotect(b, unix.PROT_NONE); err != nil {
		panic(fmt.Sprintf("BUG: netio: framecheck: mprotect: %v", err))
	}
}

// checkNotReleased panics if b was recycled before.
func checkNotReleased(b []byte) {
	largeFree.Lock()
	twice := largeFree.released[base(b)]
	largeFree.Unlock()
	if twice {
		panic("BUG: netio: a frame was recycled twice")
	}
}
