package segment

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sluice/sluice/internal/vfs"
	"github.com/sluice/sluice/internal/vfs/errorfs"
)

// callSpan cuts a write into calls of at most maxWriteBytes and maxIovecs
// buffers, cutting a buffer where the bytes run out.
func TestCallSpan(t *testing.T) {
	iovs := func(lens ...uint64) []unix.Iovec {
		v := make([]unix.Iovec, len(lens))
		for i, l := range lens {
			v[i].Len = l
		}
		return v
	}
	many := make([]uint64, maxIovecs+5)
	for i := range many {
		many[i] = 100
	}
	const max = maxWriteBytes
	for _, c := range []struct {
		name string
		iov  []unix.Iovec
		k    int
		last uint64
	}{
		{"one small", iovs(10), 1, 10},
		{"fits exactly", iovs(max/2, max/2), 2, max / 2},
		{"one too big", iovs(3 * max), 1, max},
		{"cut in the second", iovs(max/2, max, 7), 2, max / 2},
		{"small ones after a cut start", iovs(max-1, 1, 1), 2, 1},
		{"IOV_MAX buffers", iovs(many...), maxIovecs, 100},
	} {
		k, last := callSpan(c.iov)
		if k != c.k || last != c.last {
			t.Errorf("%s: callSpan = %d, %d; want %d, %d", c.name, k, last, c.k, c.last)
		}
	}
}

// An append larger than maxWriteBytes reaches the file in calls of at
// most that many bytes, and every byte lands in order, also when the
// kernel writes only part of a call.
func TestAppendWritesInBoundedCalls(t *testing.T) {
	for _, short := range []bool{false, true} {
		calls := 0
		fs := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
			if op.Kind != errorfs.OpWrite || filepath.Ext(op.Path) != ".log" {
				return nil
			}
			calls++
			if short && calls%2 == 1 {
				return errorfs.ErrShortWrite
			}
			return nil
		}))
		path := filepath.Join(t.TempDir(), "00000000000000000000.log")
		f, err := OpenFS(fs, path)
		if err != nil {
			t.Fatal(err)
		}
		// A buffer of 2.5 limits, then two of a third of one: 3 limits and
		// a bit, so 4 calls when every call is whole.
		var bufs [][]byte
		var want []byte
		for i, n := range []int{maxWriteBytes * 5 / 2, maxWriteBytes / 3, maxWriteBytes / 3} {
			b := bytes.Repeat([]byte{byte('a' + i)}, n)
			for j := 0; j < n; j += 4093 {
				b[j] = byte(j / 4093)
			}
			bufs = append(bufs, b)
			want = append(want, b...)
		}
		if _, err := f.Append(bufs); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		wantCalls := (len(want) + maxWriteBytes - 1) / maxWriteBytes
		if !short && calls != wantCalls {
			t.Errorf("%d pwritev calls for %d bytes, want %d (at most %d bytes each)", calls, len(want), wantCalls, maxWriteBytes)
		}
		if short && calls <= wantCalls {
			t.Errorf("short writes: %d pwritev calls for %d bytes, want more than %d", calls, len(want), wantCalls)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("short writes %v: the file's %d bytes differ from the %d appended", short, len(got), len(want))
		}
	}
}

// A long append starts the kernel's writeback of its first calls' pages
// before its last call, not only once it is done: under fsync=always the
// fsync after a round of tens of MiB then finds most of it on its way to
// the disk.
func TestLongAppendStartsWritebackBetweenCalls(t *testing.T) {
	var events []string
	fs := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind == errorfs.OpWrite && filepath.Ext(op.Path) == ".log" {
			events = append(events, "write")
		}
		return nil
	}))
	old := syncFileRange
	t.Cleanup(func() { syncFileRange = old })
	var next int64 // where the next writeback should start
	syncFileRange = func(fd int, off, n int64, flags int) error {
		if off != next {
			t.Errorf("writeback of [%d, %d), want it to start at %d", off, off+n, next)
		}
		next = off + n
		events = append(events, fmt.Sprintf("writeback to %d", off+n))
		return old(fd, off, n, flags)
	}
	f, err := OpenFS(fs, filepath.Join(t.TempDir(), "00000000000000000000.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := maxWriteBytes*3 + maxWriteBytes/3
	if _, err := f.Append([][]byte{bytes.Repeat([]byte{7}, n)}); err != nil {
		t.Fatal(err)
	}
	want := []string{"write", fmt.Sprintf("writeback to %d", maxWriteBytes),
		"write", fmt.Sprintf("writeback to %d", 2*maxWriteBytes),
		"write", fmt.Sprintf("writeback to %d", 3*maxWriteBytes),
		"write"} // the last third of a call: under writebackChunk, left to the next append or fsync
	if got := strings.Join(events, ", "); got != strings.Join(want, ", ") {
		t.Fatalf("append of %d bytes: %s\nwant %s", n, got, strings.Join(want, ", "))
	}
}
