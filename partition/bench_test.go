package partition

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sluice/sluice/segment"
	"github.com/sluice/sluice/segment/segmenttest"
)

var benchSizes = []int{1 << 10, 16 << 10, 1 << 20}

// benchRotate is how much a benchmark writes before it starts a new file
// (and deletes the old one), so long runs do not fill the disk.
const benchRotate = 512 << 20

// BenchmarkAppend writes batches of each size through Log.Append and, in
// the same run, the same bytes with plain sequential os.File writes. Both
// start a new file every benchRotate bytes and fsync the finished one (the
// log does that when a segment rolls, as Kafka does), so both make the same
// bytes durable. The ratio of the two MB/s figures is what
// docs/BENCHMARKS.md reports.
func BenchmarkAppend(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("raw/size=%s", sizeName(size)), func(b *testing.B) { benchRaw(b, size) })
		b.Run(fmt.Sprintf("log/size=%s", sizeName(size)), func(b *testing.B) { benchLog(b, size) })
	}
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dKiB", n>>10)
}

// benchBatch is one batch of about size bytes.
func benchBatch(size int) []byte {
	n := max(1, size/1024)
	return segmenttest.NewBatch(0, n, time.Now().UnixMilli(), size/n-40).Encode()
}

func benchRaw(b *testing.B, size int) {
	buf := benchBatch(size)
	dir := b.TempDir()
	var f *os.File
	var written int64
	rotate := func() {
		if f != nil {
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			f.Close()
			os.Remove(f.Name())
		}
		var err error
		f, err = os.Create(filepath.Join(dir, fmt.Sprintf("%d.raw", written)))
		if err != nil {
			b.Fatal(err)
		}
	}
	rotate()
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if written += int64(len(buf)); written%benchRotate < int64(len(buf)) {
			rotate()
		}
	}
	b.StopTimer()
	f.Close()
}

func benchLog(b *testing.B, size int) {
	buf := benchBatch(size)
	cfg := DefaultConfig()
	cfg.SegmentBytes = benchRotate
	cfg.RetentionBytes = 0 // every inactive segment goes at ApplyRetention
	l := openTest(b, filepath.Join(b.TempDir(), "t-0"), cfg, true, 0, nil)
	defer l.Close()
	segs := l.Segments()
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Append(buf); err != nil {
			b.Fatal(err)
		}
		if n := l.Segments(); n != segs {
			l.ApplyRetention(time.Now())
			segs = l.Segments()
		}
	}
}

// BenchmarkReadRandomOffset looks up random offsets in a 1 GiB segment of
// 16 KiB batches (index entry per batch) through Log.Read, warm, and reports
// the median latency of one lookup (p50-ns) besides the mean.
func BenchmarkReadRandomOffset(b *testing.B) {
	cfg := DefaultConfig()
	l := openTest(b, filepath.Join(b.TempDir(), "t-0"), cfg, true, 0, nil)
	defer l.Close()
	buf := benchBatch(16 << 10)
	for l.Size() < 1<<30-int64(len(buf)) {
		if _, err := l.Append(buf); err != nil {
			b.Fatal(err)
		}
	}
	if l.Segments() != 1 {
		b.Fatalf("%d segments, want one 1 GiB segment", l.Segments())
	}
	leo := l.LogEndOffset()
	rng := rand.New(rand.NewPCG(1, 2))
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		off := rng.Int64N(leo)
		t0 := time.Now()
		res, err := l.Read(off, 1, true)
		lat = append(lat, time.Since(t0))
		if err != nil || len(res.Regions) != 1 {
			b.Fatalf("read at %d: %v", off, err)
		}
		res.Regions[0].Release()
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkAppendAsFollower compares, in one run and for the same batches,
// a client append (Log.Append: offsets assigned, producer checks, one
// replica), a leader's append in replicated mode followed by the high
// watermark move a follower's fetch causes, and a follower's append of the
// same batches with the leader's offsets kept (Log.AppendAsFollower).
func BenchmarkAppendAsFollower(b *testing.B) {
	for _, size := range benchSizes[:2] {
		b.Run(fmt.Sprintf("append/size=%s", sizeName(size)), func(b *testing.B) { benchOrigin(b, size, "append") })
		b.Run(fmt.Sprintf("leader/size=%s", sizeName(size)), func(b *testing.B) { benchOrigin(b, size, "leader") })
		b.Run(fmt.Sprintf("follower/size=%s", sizeName(size)), func(b *testing.B) { benchOrigin(b, size, "follower") })
	}
}

func benchOrigin(b *testing.B, size int, origin string) {
	buf := benchBatch(size)
	cfg := DefaultConfig()
	cfg.SegmentBytes = benchRotate
	cfg.RetentionBytes = 0
	l := openTest(b, filepath.Join(b.TempDir(), "t-0"), cfg, true, 0, nil)
	defer l.Close()
	if origin != "append" {
		if err := l.SetReplicated(true); err != nil {
			b.Fatal(err)
		}
	}
	segs := l.Segments()
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var err error
		switch origin {
		case "follower":
			segment.SetBaseOffset(buf, l.LogEndOffset())
			_, err = l.AppendAsFollower(buf)
		default:
			_, err = l.Append(buf)
		}
		if err != nil {
			b.Fatal(err)
		}
		if origin != "append" { // the leader's HW after a fetch; the follower's from the response
			l.UpdateHighWatermark(l.LogEndOffset())
		}
		if n := l.Segments(); n != segs {
			l.ApplyRetention(time.Now())
			segs = l.Segments()
		}
	}
}

// BenchmarkReadAtTheEnd is a consumer at the log's end: each iteration
// appends one batch of one 1 KiB record and reads it from where the last
// read stopped, timing the read alone (read-ns). "hint" starts the read
// where the last one stopped (readhint.go); "index" forgets the hints
// before each read, so the batch is found from the sparse index (an entry
// per 4 KiB) by reading the batch headers after the entry.
func BenchmarkReadAtTheEnd(b *testing.B) {
	for _, mode := range []string{"hint", "index"} {
		b.Run(mode, func(b *testing.B) {
			l := openTest(b, filepath.Join(b.TempDir(), "t-0"), DefaultConfig(), true, 0, nil)
			defer l.Close()
			buf := benchBatch(1 << 10)
			next := l.LogEndOffset()
			var readNs time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%(1<<16) == 0 && l.Size() > benchRotate {
					b.StopTimer() // a fresh log now and then: the disk does not fill
					l.Close()
					l = openTest(b, filepath.Join(b.TempDir(), fmt.Sprintf("t-%d", i)), DefaultConfig(), true, 0, nil)
					next = l.LogEndOffset()
					b.StartTimer()
				}
				if _, err := l.Append(buf); err != nil {
					b.Fatal(err)
				}
				if mode == "index" {
					l.hints = readHintSet{}
				}
				t0 := time.Now()
				res, err := l.Read(next, 1<<20, true)
				readNs += time.Since(t0)
				if err != nil || len(res.Regions) != 1 {
					b.Fatalf("read at %d: %v", next, err)
				}
				res.Regions[0].Release()
				next = res.HighWatermark
			}
			b.ReportMetric(float64(readNs.Nanoseconds())/float64(b.N), "read-ns")
		})
	}
}
