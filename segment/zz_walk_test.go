package segment

import (
	"testing"

	"github.com/sluice/sluice/segment/segmenttest"
)

func chainOnly(data []byte, n int32) int {
	pos := 0
	for i := int32(0); i < n; i++ {
		b := data[pos]
		l := int(b)
		k := 1
		if b >= 0x80 {
			l = int(b&0x7f) | int(data[pos+1])<<7
			k = 2
		}
		pos += k + l>>1
	}
	return pos
}

func BenchmarkZZWalk(b *testing.B) {
	for _, size := range []struct {
		name      string
		n, valLen int
	}{{"160x100B", 160, 100}, {"100x1KiB", 100, 1024}} {
		batch := segmenttest.NewBatch(0, size.n, 1, size.valLen).Encode()
		data := batch[HeaderSize:]
		b.Run("fast/"+size.name, func(b *testing.B) {
			for b.Loop() {
				if p, _ := walkFast(data, 0, 0, int32(size.n)); p != len(data) {
					b.Fatal(p, len(data))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(size.n), "ns/rec")
		})
		b.Run("chain/"+size.name, func(b *testing.B) {
			for b.Loop() {
				if p := chainOnly(data, int32(size.n)); p != len(data) {
					b.Fatal(p, len(data))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(size.n), "ns/rec")
		})
	}
}
