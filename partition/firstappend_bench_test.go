package partition

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sluice/sluice/internal/vfs"
	"github.com/sluice/sluice/internal/vfs/errorfs"
)

// BenchmarkFirstAppend1000 creates a 1,000-partition topic (untimed, one
// syncfs as CreateTopics does) and times one small batch (1 record, 100 B)
// appended to each new partition, with the default FlushNever and with
// FlushAlways: one op is the 1,000 first appends, done by 64 goroutines
// (the broker's cap per produce request) or one after another. fsyncs/op
// counts every file and directory fsync during them (an errorfs wrapper
// records, the real OS file system runs).
func BenchmarkFirstAppend1000(b *testing.B) {
	for _, flush := range []FlushPolicy{FlushNever, FlushAlways} {
		for _, workers := range []int{1, 64} {
			b.Run(fmt.Sprintf("flush=%s/workers=%d", flush, workers), func(b *testing.B) {
				benchFirstAppend(b, 1000, workers, flush)
			})
		}
	}
}

func benchFirstAppend(b *testing.B, partitions, workers int, flush FlushPolicy) {
	fsys := errorfs.Wrap(vfs.Default, nil)
	cfg := testConfig()
	cfg.Flush = flush
	s, err := OpenStore(StoreConfig{Dir: b.TempDir(), Defaults: cfg, Logger: quietLogger(), FS: fsys,
		CleanerThreads: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	rec := batch(1, 100, 1)
	var syncs int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		logs, err := s.CreateLogs(fmt.Sprintf("t%d", i), 0, int32(partitions), [16]byte{byte(i)}, cfg, nil)
		if err != nil {
			b.Fatal(err)
		}
		fsys.Reset()
		b.StartTimer()
		appendToEach(b, logs, workers, rec)
		b.StopTimer()
		for _, op := range fsys.Ops() {
			if op.Kind == errorfs.OpSync || op.Kind == errorfs.OpSyncDir {
				syncs++
			}
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(syncs)/float64(b.N), "fsyncs/op")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*partitions), "µs/partition")
}

// BenchmarkCreateThenFirstAppend1000 times, together, the creation of a
// 1,000-partition topic and one small batch (1 record, 100 B) appended to
// each of its partitions by 64 goroutines, FlushNever: CreateLogs (the
// directories made at creation, one syncfs) against CreateLogsLazy (each
// directory made by its partition's first append), so the work a lazy
// creation moves to the first appends is counted on both sides.
func BenchmarkCreateThenFirstAppend1000(b *testing.B) {
	for _, lazy := range []bool{false, true} {
		b.Run(fmt.Sprintf("lazy=%v", lazy), func(b *testing.B) {
			cfg := testConfig()
			s, err := OpenStore(StoreConfig{Dir: b.TempDir(), Defaults: cfg, Logger: quietLogger(), CleanerThreads: -1})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			rec := batch(1, 100, 1)
			for i := 0; i < b.N; i++ {
				topic, id := fmt.Sprintf("t%d", i), [16]byte{byte(i), byte(i >> 8)}
				var logs []*Log
				if lazy {
					logs, err = s.CreateLogsLazy(topic, 0, 1000, id, cfg)
				} else {
					logs, err = s.CreateLogs(topic, 0, 1000, id, cfg, nil)
				}
				if err != nil {
					b.Fatal(err)
				}
				appendToEach(b, logs, 64, rec)
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*1000), "µs/partition")
		})
	}
}

// appendToEach appends a copy of rec to every log, workers goroutines
// taking the next log in turn.
func appendToEach(b *testing.B, logs []*Log, workers int, rec []byte) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := next.Add(1) - 1; j < int64(len(logs)); j = next.Add(1) - 1 {
				if _, err := logs[j].Append(append([]byte(nil), rec...)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
