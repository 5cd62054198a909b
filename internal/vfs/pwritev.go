package vfs

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// MaxIovecs is Linux's IOV_MAX: one pwritev takes at most this many buffers.
const MaxIovecs = 1024

func pwritev(fd int, iov []unix.Iovec, off int64) (int, error) {
	n, _, errno := unix.Syscall6(unix.SYS_PWRITEV, uintptr(fd),
		uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)), uintptr(off), 0, 0)
	if errno != 0 {
		return int(n), errno
	}
	return int(n), nil
}

// IovecLen is the total length of iov.
func IovecLen(iov []unix.Iovec) int64 {
	var n int64
	for _, v := range iov {
		n += int64(v.Len)
	}
	return n
}

// Advance drops n written bytes from the front of iov.
func Advance(iov []unix.Iovec, n int) []unix.Iovec {
	for n > 0 {
		if uint64(n) < iov[0].Len {
			iov[0].Base = (*byte)(unsafe.Add(unsafe.Pointer(iov[0].Base), n))
			iov[0].Len -= uint64(n)
			return iov
		}
		n -= int(iov[0].Len)
		iov = iov[1:]
	}
	return iov
}
