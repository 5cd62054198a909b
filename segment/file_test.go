package segment

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice/sluice/segment/segmenttest"
)

// writeSegment appends batches (one Append each) to a new .log file.
func writeSegment(t testing.TB, batches ...[]byte) (*File, []int64) {
	t.Helper()
	f, err := Open(filepath.Join(t.TempDir(), "00000000000000000000.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	var positions []int64
	for _, b := range batches {
		pos, err := f.Append([][]byte{b})
		if err != nil {
			t.Fatal(err)
		}
		positions = append(positions, pos)
	}
	return f, positions
}

func someBatches(n int) [][]byte {
	var out [][]byte
	off := int64(0)
	for i := range n {
		b := segmenttest.NewBatch(off, 1+i%4, 1_700_000_000_000+int64(i), 30*i)
		out = append(out, b.Encode())
		off += int64(len(b.Records))
	}
	return out
}

func TestAppendScanTruncate(t *testing.T) {
	batches := someBatches(5)
	f, positions := writeSegment(t, batches...)
	var total int64
	for _, b := range batches {
		total += int64(len(b))
	}
	if f.Size() != total {
		t.Fatalf("Size %d, want %d", f.Size(), total)
	}
	scan := func(from int64) (got []int64) {
		t.Helper()
		if err := f.ScanFrom(from, func(h Header, pos int64) bool { got = append(got, pos); return true }); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := scan(0); !equal(got, positions) {
		t.Fatalf("ScanFrom(0) = %v, want %v", got, positions)
	}
	if got := scan(positions[2]); !equal(got, positions[2:]) {
		t.Fatalf("ScanFrom(%d) = %v", positions[2], got)
	}
	h, err := f.ReadHeaderAt(positions[3])
	if err != nil || h.BaseOffset == 0 || h.Size() != int64(len(batches[3])) {
		t.Fatalf("ReadHeaderAt = %+v, %v", h, err)
	}
	if _, err := f.ReadHeaderAt(f.Size()); err != io.EOF {
		t.Fatalf("ReadHeaderAt(Size) = %v, want io.EOF", err)
	}
	if err := f.Truncate(positions[2]); err != nil {
		t.Fatal(err)
	}
	if got := scan(0); !equal(got, positions[:2]) || f.Size() != positions[2] {
		t.Fatalf("after Truncate: %v, size %d", got, f.Size())
	}
	// Several buffers in one Append land contiguously.
	pos, err := f.Append([][]byte{batches[2], {}, batches[3], batches[4]})
	if err != nil || pos != positions[2] {
		t.Fatalf("Append = %d, %v", pos, err)
	}
	if validEnd, err := f.Recover(0, nil); err != nil || validEnd != total {
		t.Fatalf("Recover = %d, %v", validEnd, err)
	}
	// Reopening sees the same bytes.
	g, err := Open(f.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if g.Size() != total {
		t.Fatalf("reopened size %d, want %d", g.Size(), total)
	}
}

func TestScanStopsWhenFnSaysSo(t *testing.T) {
	f, _ := writeSegment(t, someBatches(4)...)
	calls := 0
	f.ScanFrom(0, func(Header, int64) bool { calls++; return calls < 2 })
	if calls != 2 {
		t.Fatalf("%d calls", calls)
	}
}

func TestAppendManyBuffers(t *testing.T) {
	// More buffers than IOV_MAX take several pwritev calls.
	var bufs [][]byte
	var want []byte
	for i := range 3000 {
		b := []byte{byte(i), byte(i >> 8)}
		bufs = append(bufs, b)
		want = append(want, b...)
	}
	f, _ := writeSegment(t)
	if _, err := f.Append(bufs); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(f.Path())
	if !bytes.Equal(got, want) {
		t.Fatal("file content differs")
	}
}

func TestAppendErrorIsSticky(t *testing.T) {
	f, _ := writeSegment(t, someBatches(1)...)
	f.OS().Close() // pwritev fails (EBADF) and so does the truncate back
	_, err := f.Append([][]byte{testBatch(1, 1)})
	if err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("Append on a closed fd = %v", err)
	}
	if _, err2 := f.Append([][]byte{testBatch(1, 1)}); err2 != err {
		t.Fatalf("second Append = %v, want the sticky %v", err2, err)
	}
}

func TestAppendErrorTruncatesBack(t *testing.T) {
	f, _ := writeSegment(t, someBatches(1)...)
	size := f.Size()
	// A buffer whose second half is unmapped makes pwritev fail with EFAULT
	// after the first buffer may have been written.
	good := testBatch(1, 1)
	_, err := f.Append([][]byte{good, unmappedBytes(t)})
	if err == nil {
		t.Fatal("Append with a bad buffer succeeded")
	}
	st, _ := f.OS().Stat()
	if f.Size() != size || st.Size() != size {
		t.Fatalf("after a failed Append: Size %d, file %d, want %d", f.Size(), st.Size(), size)
	}
	if _, err := f.Append([][]byte{good}); err != nil {
		t.Fatalf("Append after a recovered failure: %v", err)
	}
}

func TestRecoverTornTailAtEveryByte(t *testing.T) {
	batches := someBatches(4)
	f, positions := writeSegment(t, batches...)
	last := positions[len(positions)-1]
	full, _ := os.ReadFile(f.Path())
	for cut := last + 1; cut < int64(len(full)); cut++ {
		if err := f.Truncate(cut); err != nil {
			t.Fatal(err)
		}
		var seen []int64
		validEnd, err := f.Recover(0, func(h Header, pos int64) { seen = append(seen, pos) })
		if validEnd != last || !equal(seen, positions[:len(positions)-1]) {
			t.Fatalf("cut at %d: validEnd %d (want %d), seen %v", cut, validEnd, last, seen)
		}
		if !errors.Is(err, ErrTorn) && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("cut at %d: err %v", cut, err)
		}
		if !strings.Contains(err.Error(), f.Path()) {
			t.Fatalf("cut at %d: err %q does not name the file", cut, err)
		}
		if err := f.ScanFrom(0, func(Header, int64) bool { return true }); err == nil {
			t.Fatalf("cut at %d: ScanFrom found no torn batch", cut)
		}
		if err := f.Truncate(last); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Append([][]byte{full[last:cut]}); err != nil { // restore for the next cut
			t.Fatal(err)
		}
	}
}

func TestRecoverCorruption(t *testing.T) {
	batches := someBatches(4)
	f := func(name string, edit func(data []byte, positions []int64) []byte, wantEnd func(positions []int64, size int64) int64, want error) {
		t.Helper()
		seg, positions := writeSegment(t, batches...)
		data, _ := os.ReadFile(seg.Path())
		size := int64(len(data))
		data = edit(data, positions)
		if err := seg.Truncate(0); err != nil {
			t.Fatal(err)
		}
		if _, err := seg.Append([][]byte{data}); err != nil {
			t.Fatal(err)
		}
		validEnd, err := seg.Recover(0, nil)
		ok := errors.Is(err, want) || want == nil && (errors.Is(err, ErrTorn) || errors.Is(err, ErrCorrupt))
		if validEnd != wantEnd(positions, size) || !ok {
			t.Fatalf("%s: Recover = %d, %v; want %d, %v", name, validEnd, err, wantEnd(positions, size), want)
		}
	}
	at := func(i int) func([]int64, int64) int64 { return func(p []int64, _ int64) int64 { return p[i] } }
	end := func(_ []int64, size int64) int64 { return size }
	f("flipped crc byte", func(d []byte, p []int64) []byte { d[p[2]+offCRC+1] ^= 0x10; return d }, at(2), ErrBadCRC)
	f("flipped body byte", func(d []byte, p []int64) []byte { d[p[1]+HeaderSize] ^= 1; return d }, at(1), ErrBadCRC)
	f("bad magic", func(d []byte, p []int64) []byte { d[p[3]+offMagic] = 0; return d }, at(3), ErrBadMagic)
	// Zeros after the last batch (written ahead, then a crash) are told
	// apart from other damage; ErrZeroTail is a torn tail.
	f("zero tail", func(d []byte, p []int64) []byte { return append(d, make([]byte, 4096)...) }, end, ErrZeroTail)
	f("short zero tail", func(d []byte, p []int64) []byte { return append(d, make([]byte, 10)...) }, end, ErrZeroTail)
	f("zeros then a byte", func(d []byte, p []int64) []byte { return append(append(d, make([]byte, 4096)...), 1) }, end, ErrCorrupt)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		garbage := make([]byte, 1+rng.IntN(300))
		for i := range garbage {
			garbage[i] = byte(rng.Uint32())
		}
		f("random garbage", func(d []byte, p []int64) []byte { return append(d, garbage...) }, end, nil)
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestAppendStartsWritebackByChunks(t *testing.T) {
	// Appends of odd sizes past several writebackChunks hand whole pages to
	// writeback; a truncate below the mark pulls it back, and the file's
	// content is exactly what was appended throughout.
	f, _ := writeSegment(t)
	rng := rand.New(rand.NewPCG(1, 2))
	var want []byte
	appendN := func(n int) {
		t.Helper()
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		if _, err := f.Append([][]byte{b}); err != nil {
			t.Fatal(err)
		}
		want = append(want, b...)
		w := f.wmu.written
		if w%pageSize != 0 || w > f.Size() || f.Size()-w >= writebackChunk+pageSize {
			t.Fatalf("after appending to %d bytes: written mark %d", f.Size(), w)
		}
	}
	for f.Size() < 3*writebackChunk+12345 {
		appendN(1 + rng.IntN(100_000))
	}
	if f.wmu.written < 3*writebackChunk {
		t.Fatalf("written mark %d after %d bytes appended", f.wmu.written, f.Size())
	}
	cut := int64(writebackChunk + 777)
	if err := f.Truncate(cut); err != nil {
		t.Fatal(err)
	}
	want = want[:cut]
	if w := f.wmu.written; w > cut || w%pageSize != 0 {
		t.Fatalf("written mark %d after truncating to %d", w, cut)
	}
	for f.Size() < 2*writebackChunk+99 {
		appendN(1 + rng.IntN(100_000))
	}
	got, err := os.ReadFile(f.Path())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("file content differs from the appended bytes")
	}
	g, err := Open(f.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if w := g.wmu.written; w != g.Size()&^(pageSize-1) {
		t.Fatalf("reopened at %d bytes: written mark %d", g.Size(), w)
	}
}
