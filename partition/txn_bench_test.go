package partition

import (
	"path/filepath"
	"testing"

	"github.com/sluice/sluice/segment"
)

// BenchmarkReadIsolation reads a 32 MiB log of 16 KiB transactional
// batches (transactions of 10 batches, one in five aborted, in 4 MiB
// segments) from start to end by Read and by ReadCommitted in 1 MiB
// fetches, in the same run: the cost of the LSO bound and of collecting
// aborted transactions per fetch (the regions are not read; sendfile does
// that). Compare the two MB/s figures.
func BenchmarkReadIsolation(b *testing.B) {
	cfg := testConfig()
	cfg.SegmentBytes = 4 << 20
	dir := filepath.Join(b.TempDir(), "t-0")
	l := openTest(b, dir, cfg, true, 0, nil)
	defer l.Close()
	seq := int32(0)
	for i := 0; l.Size() < 32<<20; i++ {
		for range 10 {
			mustAppend(b, l, txnBatch(1, 0, seq, 16, true))
			seq += 16
		}
		if _, err := l.AppendMarker(1, 0, i%5 != 4, 0); err != nil {
			b.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		read func(int64, int64, bool) (ReadResult, error)
	}{{"read_uncommitted", l.Read}, {"read_committed", l.ReadCommitted}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(l.Size())
			b.ReportAllocs()
			for range b.N {
				for off := int64(0); off < l.HighWatermark(); {
					res, err := c.read(off, 1<<20, true)
					if err != nil || len(res.Regions) == 0 {
						b.Fatalf("read at %d: %v", off, err)
					}
					off = nextOffsetAfter(b, res)
				}
			}
		})
	}
}

// nextOffsetAfter walks the batch headers of res's regions (releasing
// them) and returns the offset after the last.
func nextOffsetAfter(b *testing.B, res ReadResult) int64 {
	next := int64(-1)
	for _, r := range res.Regions {
		err := walkHeaders(r.File, r.Off, r.Off+r.Len, func(h segment.Header, _ int64) bool {
			next = h.LastOffset() + 1
			return true
		})
		r.Release()
		if err != nil {
			b.Fatal(err)
		}
	}
	return next
}
