package console

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// BenchmarkHistoryFull fills the history to its bounds (256 series, 7 days
// of per-minute points, the live hour at 5 s) and reports the heap it
// holds and the size and save time of its file:
//
//	go test -run '^$' -bench HistoryFull -benchtime 3x ./console/
func BenchmarkHistoryFull(b *testing.B) {
	const series = 256
	retention := 7 * 24 * time.Hour
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	h := newHistory(5*time.Second, retention, series)
	t0 := time.Now().Add(-retention)
	for m := 0; m < int(retention/time.Minute)+1; m++ {
		at := t0.Add(time.Duration(m) * time.Minute)
		for s := 0; s < series; s++ {
			h.add(fmt.Sprintf("group_lag:group-%03d", s), at, float64(m))
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	path := filepath.Join(b.TempDir(), "history")
	b.ResetTimer()
	for range b.N {
		if err := h.save(path); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(fi.Size())/(1<<20), "file-MiB")
	runtime.KeepAlive(h)
}
