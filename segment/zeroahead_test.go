package segment

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/vfs"
	"github.com/sluice/sluice/internal/vfs/errorfs"
	"github.com/sluice/sluice/segment/segmenttest"
)

// fileLength is the length of the file on disk (stat), not Size.
func fileLength(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// zeroAheadGap sets zeroAheadMaxGap for the test: long, so that a slow
// fsync on a loaded machine does not turn the zeros off, or short.
func zeroAheadGap(t *testing.T, d time.Duration) {
	old := zeroAheadMaxGap
	zeroAheadMaxGap = d
	t.Cleanup(func() { zeroAheadMaxGap = old })
}

// newLog opens a new, empty .log in a directory of its own, closed when
// the test ends.
func newLog(t *testing.T) *File {
	t.Helper()
	f, err := Open(filepath.Join(t.TempDir(), "00000000000000000000.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// appendSynced appends each batch and fsyncs after it, as fsync=always does.
func appendSynced(t *testing.T, f *File, batches ...[]byte) {
	t.Helper()
	for _, b := range batches {
		if _, err := f.Append([][]byte{b}); err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
}

// Under small fsync'd appends the file carries zeros ahead of its last
// batch; Size stays at the batches' end, a crash (the file opened again)
// recovers to that end with ErrZeroTail, and TrimAhead leaves the file
// ending at its last batch.
func TestZeroAheadUnderSmallSyncs(t *testing.T) {
	zeroAheadGap(t, time.Hour)
	f := newLog(t)
	path := f.Path()
	batches := someBatches(6)
	appendSynced(t, f, batches...)
	var want []byte
	for _, b := range batches {
		want = append(want, b...)
	}
	size := int64(len(want))
	if f.Size() != size {
		t.Fatalf("Size = %d, want %d", f.Size(), size)
	}
	length := fileLength(t, path)
	if length < size+zeroAheadChunk/2 || length%pageSize != 0 {
		t.Fatalf("file length %d after small fsync'd appends of %d bytes: want zeros written ahead to a page boundary past %d",
			length, size, size+zeroAheadChunk/2)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data[:size], want) || !bytes.Equal(data[size:], make([]byte, length-size)) {
		t.Fatal("the file is not the batches followed by zeros")
	}

	// A crash: what a start finds.
	g, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	end, err := g.Recover(0, nil)
	if end != size || !errors.Is(err, ErrZeroTail) || !errors.Is(err, ErrTorn) {
		t.Fatalf("Recover after a crash = %d, %v; want %d, ErrZeroTail", end, err, size)
	}
	g.Close()

	// The segment stops growing: the zeros go.
	if err := f.TrimAhead(); err != nil {
		t.Fatal(err)
	}
	if l := fileLength(t, path); l != size {
		t.Fatalf("file length %d after TrimAhead, want %d", l, size)
	}
	if err := f.TrimAhead(); err != nil { // nothing left to trim
		t.Fatal(err)
	}
	g, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if end, err := g.Recover(0, nil); end != size || err != nil {
		t.Fatalf("Recover after TrimAhead = %d, %v; want %d, nil", end, err, size)
	}
}

// Appends that are fsync'd in large pieces, now and then, or never get no
// zeros: the file ends at its last batch, as Kafka's does.
func TestNoZeroAheadUnlessSyncsAreSmallAndFrequent(t *testing.T) {
	zeroAheadGap(t, time.Hour)
	f := newLog(t)
	path := f.Path()
	big := segmenttest.NewBatch(0, 1, 1_700_000_000_000, zeroAheadMaxSync).Encode()
	appendSynced(t, f, big, big, big)
	if l := fileLength(t, path); l != f.Size() {
		t.Fatalf("file length %d after fsyncs of %d bytes each, want Size %d", l, len(big), f.Size())
	}
	// Small fsyncs, but further apart than zeroAheadMaxGap.
	zeroAheadMaxGap = time.Millisecond
	quiet := newLog(t)
	for _, b := range someBatches(6) {
		time.Sleep(5 * time.Millisecond)
		appendSynced(t, quiet, b)
	}
	if l := fileLength(t, quiet.Path()); l != quiet.Size() {
		t.Fatalf("file length %d after fsyncs 5 ms apart, want Size %d", l, quiet.Size())
	}
	// Never fsync'd: no zeros either.
	g := newLog(t)
	for _, b := range someBatches(8) {
		if _, err := g.Append([][]byte{b}); err != nil {
			t.Fatal(err)
		}
	}
	if l := fileLength(t, g.Path()); l != g.Size() {
		t.Fatalf("file length %d without fsyncs, want Size %d", l, g.Size())
	}
}

// A full disk while writing the zeros leaves the append standing, writes
// no zeros again, and TrimAhead still cuts the file at its last batch;
// Truncate drops the zeros as well.
func TestZeroAheadFullDisk(t *testing.T) {
	zeroAheadGap(t, time.Hour)
	writes := 0
	fs := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind != errorfs.OpWrite {
			return nil
		}
		writes++
		if writes == 3 { // batch 1, batch 2, then the zeros after batch 2
			return syscall.ENOSPC
		}
		return nil
	}))
	path := filepath.Join(t.TempDir(), "00000000000000000000.log")
	f, err := OpenFS(fs, path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	batches := someBatches(4)
	appendSynced(t, f, batches...)
	if writes != 5 {
		t.Fatalf("%d writes, want 5: four batches and the one failed write of zeros", writes)
	}
	if l := fileLength(t, path); l != f.Size() {
		t.Fatalf("file length %d after the zeros failed, want Size %d", l, f.Size())
	}
	if err := f.TrimAhead(); err != nil {
		t.Fatal(err)
	}
	if end, err := f.Recover(0, nil); end != f.Size() || err != nil {
		t.Fatalf("Recover = %d, %v; want %d, nil", end, err, f.Size())
	}

	h := newLog(t)
	appendSynced(t, h, batches...)
	if fileLength(t, h.Path()) == h.Size() {
		t.Fatal("no zeros written ahead")
	}
	keep := int64(len(batches[0]))
	if err := h.Truncate(keep); err != nil {
		t.Fatal(err)
	}
	if err := h.TrimAhead(); err != nil {
		t.Fatal(err)
	}
	if l := fileLength(t, h.Path()); l != keep {
		t.Fatalf("file length %d after Truncate(%d)", l, keep)
	}
}
