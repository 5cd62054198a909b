package segment

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// unmappedBytes returns a slice whose memory is not mapped, so a syscall
// reading it fails with EFAULT.
func unmappedBytes(t *testing.T) []byte {
	t.Helper()
	m, err := unix.Mmap(-1, 0, 4096, unix.PROT_NONE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(m) })
	return unsafe.Slice(&m[0], len(m))
}
