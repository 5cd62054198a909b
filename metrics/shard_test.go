package metrics

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// histogramOf gathers c's one histogram.
func histogramOf(t *testing.T, c prometheus.Collector) *dto.Histogram {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 1 || len(mfs[0].Metric) != 1 || mfs[0].Metric[0].Histogram == nil {
		t.Fatalf("want one histogram, got %v", mfs)
	}
	return mfs[0].Metric[0].Histogram
}

// A sharded histogram exports what prometheus.Histogram does for the same
// values, whichever shards they went to: values on a bound, either side
// of it, zero and past the last bound.
func TestShardedHistMatchesPrometheus(t *testing.T) {
	les := prometheus.ExponentialBuckets(0.0001, 4, 10)
	ref := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ref", Buckets: les})
	c := histCollector{prometheus.NewDesc("sharded", "h", nil, nil), newShardedHist(newIntBuckets(les, 1e-9))}
	var values []time.Duration
	for _, le := range les {
		d := time.Duration(le * 1e9)
		values = append(values, d-1, d, d+1)
	}
	values = append(values, 0, 27*time.Second, time.Hour)
	for i, d := range values {
		ref.Observe(d.Seconds())
		c.h.observe(uint64(i*7), uint64(d))
	}
	want, got := histogramOf(t, ref), histogramOf(t, c)
	if got.GetSampleCount() != want.GetSampleCount() || got.GetSampleCount() != uint64(len(values)) {
		t.Fatalf("count %d, prometheus %d, observed %d", got.GetSampleCount(), want.GetSampleCount(), len(values))
	}
	if diff := got.GetSampleSum() - want.GetSampleSum(); diff > 1e-6 || diff < -1e-6 {
		t.Errorf("sum %v, prometheus %v", got.GetSampleSum(), want.GetSampleSum())
	}
	if len(got.Bucket) != len(want.Bucket) {
		t.Fatalf("%d buckets, prometheus %d", len(got.Bucket), len(want.Bucket))
	}
	for i := range want.Bucket {
		g, w := got.Bucket[i], want.Bucket[i]
		if g.GetUpperBound() != w.GetUpperBound() || g.GetCumulativeCount() != w.GetCumulativeCount() {
			t.Errorf("bucket %d: le=%v count %d, prometheus le=%v count %d", i,
				g.GetUpperBound(), g.GetCumulativeCount(), w.GetUpperBound(), w.GetCumulativeCount())
		}
	}
}

// Integer buckets: a value on a bound is in that bucket, one past it in
// the next, past the last in +Inf.
func TestIntBuckets(t *testing.T) {
	b := newIntBuckets(prometheus.ExponentialBuckets(4<<10, 2, 15), 1)
	for _, tc := range []struct {
		v    uint64
		want int
	}{{0, 0}, {4096, 0}, {4097, 1}, {8192, 1}, {64 << 20, 14}, {64<<20 + 1, 15}, {1 << 62, 15}} {
		if got := b.index(tc.v); got != tc.want {
			t.Errorf("index(%d) = %d, want %d", tc.v, got, tc.want)
		}
	}
	if got := newIntBuckets([]float64{0.0004}, 1e-9).bounds[0]; got != 400000 {
		t.Errorf("0.0004 s is %d ns, want 400000", got)
	}
}

// Observers on many goroutines and scrapes meanwhile: every request is
// counted once, and no scrape sees a count its buckets do not add up to
// (run with -race).
func TestRequestMetricsConcurrent(t *testing.T) {
	m := New()
	h := m.Instrument(fakeHandler{})
	const goroutines, each = 8, 500
	var wg sync.WaitGroup
	stop := make(chan struct{})
	scraped := make(chan error, 1)
	go func() {
		defer close(scraped)
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, a := range m.req.all() {
				s := a.h.snapshot()
				if s.buckets[a.h.b.les[len(a.h.b.les)-1]] > s.count {
					t.Errorf("buckets %v beyond count %d", s.buckets, s.count)
				}
			}
		}
	}()
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				// nil Conn: shard 0 for every goroutine, the contended case.
				if _, err := h.Handle(t.Context(), nil, []byte{0, 3, 0, byte(g)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-scraped
	if got := m.RequestsTotal(); got != goroutines*each {
		t.Errorf("RequestsTotal %v, want %d", got, goroutines*each)
	}
	out := scrape(t, m)
	for _, want := range []string{
		`sluice_requests_total{api="Metadata"} 4000`,
		`sluice_request_bytes_total{api="Metadata"} 16000`,
		`sluice_response_bytes_total{api="Metadata"} 40000`,
		`sluice_request_duration_seconds_count{api="Metadata"} 4000`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the scrape", want)
		}
	}
}
