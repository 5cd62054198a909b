package segment

import (
	"os"
	"path/filepath"
	"testing"
)

// benchSizes are the batch sizes of the append benchmarks.
var benchSizes = []struct {
	name string
	n    int
}{{"size=1KiB", 1 << 10}, {"size=16KiB", 16 << 10}, {"size=1MiB", 1 << 20}}

// resetEvery bounds the benchmark files: both benchmarks truncate to zero
// (inside the timed loop) whenever they pass it.
const resetEvery = 256 << 20

// BenchmarkAppend and BenchmarkRawWrite write the same bytes; compare their
// MB/s per size in the same run.
func BenchmarkAppend(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			f, err := Open(filepath.Join(b.TempDir(), "00000000000000000000.log"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			bufs := [][]byte{make([]byte, size.n)}
			b.SetBytes(int64(size.n))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.Append(bufs); err != nil {
					b.Fatal(err)
				}
				if f.Size() >= resetEvery {
					if err := f.Truncate(0); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

func BenchmarkRawWrite(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			f, err := os.OpenFile(filepath.Join(b.TempDir(), "raw"), os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			buf := make([]byte, size.n)
			b.SetBytes(int64(size.n))
			b.ReportAllocs()
			var written int64
			for b.Loop() {
				if _, err := f.Write(buf); err != nil {
					b.Fatal(err)
				}
				if written += int64(size.n); written >= resetEvery {
					if err := f.Truncate(0); err != nil {
						b.Fatal(err)
					}
					if _, err := f.Seek(0, 0); err != nil {
						b.Fatal(err)
					}
					written = 0
				}
			}
		})
	}
}

// BenchmarkScan walks the headers of a 256 MiB segment of 16 KiB batches.
func BenchmarkScan(b *testing.B) {
	f, err := Open(filepath.Join(b.TempDir(), "00000000000000000000.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	batch := testBatch(0, 1)
	batch = append(batch[:len(batch):len(batch)], make([]byte, 16<<10-len(batch))...)
	// Not a valid batch body (headers only matter): patch batchLength.
	putLength(batch)
	chunk := make([][]byte, 0, 64)
	for range 64 {
		chunk = append(chunk, batch)
	}
	for f.Size() < 256<<20 {
		if _, err := f.Append(chunk); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(f.Size())
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		if err := f.ScanFrom(0, func(Header, int64) bool { n++; return true }); err != nil {
			b.Fatal(err)
		}
	}
}

func putLength(batch []byte) {
	l := int32(len(batch) - LogOverhead)
	batch[offLength], batch[offLength+1], batch[offLength+2], batch[offLength+3] = byte(l>>24), byte(l>>16), byte(l>>8), byte(l)
}
