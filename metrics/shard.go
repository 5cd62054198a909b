package metrics

import (
	"math"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// The hot metrics, kept in shards.
//
// Every Kafka request updates its API's request metrics, and every
// pwritev of a partition's writer the round histograms, from both cores
// at once. A prometheus.Histogram is one set of counters that every core
// adds to: each update waited for its cache line to come from the other
// core (a `lock xadd` took 65% of the histogram's samples; the request
// metrics were 2.4% of the broker's samples at 100 connections of small
// produces, 1.3% sharded). Here a metric
// keeps `shards` copies of its counters, each on cache lines of its own;
// a request adds to its connection's copy (a round to its partition's),
// and a scrape sums the copies. One copy, 192 bytes (3 cache lines):
//
//	counts[0..15] (per bucket, not cumulative; counts[len(bounds)] is +Inf) | sum | in | out | outs | pad[4]
//
// Values are integers (nanoseconds, bytes, batches) and are exported as
// value × scale (seconds: 1e-9). A scrape reads the copies without
// stopping writers: the count is the sum of the buckets read, so the
// buckets and the count agree; the sum may lag them by the requests in
// flight.

// shards is how many copies a sharded metric keeps.
const shards = 16

// maxBuckets is the most buckets (besides +Inf) a sharded histogram has.
const maxBuckets = 15

// histShard is one copy of a sharded histogram's counters (and, for the
// request metrics, the request and response bytes).
type histShard struct {
	counts [maxBuckets + 1]atomic.Uint64
	sum    atomic.Uint64
	in     atomic.Uint64 // request bytes
	out    atomic.Uint64 // response bytes
	outs   atomic.Uint64 // responses counted in out: the series shows once one is
	_      [4]uint64
}

// intBuckets are a histogram's bucket bounds as integers: a value v
// falls in the first bucket whose bound is at least v, as v×scale falls
// in the first whose le is at least v×scale.
type intBuckets struct {
	bounds []uint64
	les    []float64 // the bounds as exported (v×scale)
	scale  float64
}

func newIntBuckets(les []float64, scale float64) *intBuckets {
	if len(les) > maxBuckets {
		panic("metrics: too many buckets for a sharded histogram")
	}
	b := &intBuckets{les: les, scale: scale, bounds: make([]uint64, len(les))}
	for i, le := range les {
		// 1e-6: 0.0004/1e-9 is 400000.00000000006, and should not be
		// 399999 after a rounding the other way.
		b.bounds[i] = uint64(math.Floor(le/scale + 1e-6))
	}
	return b
}

// index is the bucket of v: len(bounds) for +Inf.
func (b *intBuckets) index(v uint64) int {
	for i, bound := range b.bounds {
		if v <= bound {
			return i
		}
	}
	return len(b.bounds)
}

// shardedHist is a histogram of integer values in shards (see above).
// shards comes first: allocated alone, the copies start on a cache line
// (the allocator's size class for it is a multiple of 64 bytes).
type shardedHist struct {
	shards [shards]histShard
	b      *intBuckets
}

func newShardedHist(b *intBuckets) *shardedHist { return &shardedHist{b: b} }

// observe adds v to the copy of key (a connection id, a partition).
func (h *shardedHist) observe(key uint64, v uint64) *histShard {
	s := &h.shards[key%shards]
	s.counts[h.b.index(v)].Add(1)
	s.sum.Add(v)
	return s
}

// histSnapshot is a shardedHist summed over its copies.
type histSnapshot struct {
	count     uint64
	sum       float64 // in the exported unit
	buckets   map[float64]uint64
	in, out   uint64
	responses uint64
}

func (h *shardedHist) snapshot() histSnapshot {
	var counts [maxBuckets + 1]uint64
	var sum uint64
	var snap histSnapshot
	for i := range h.shards {
		s := &h.shards[i]
		for j := range len(h.b.bounds) + 1 {
			counts[j] += s.counts[j].Load()
		}
		sum += s.sum.Load()
		snap.in += s.in.Load()
		snap.out += s.out.Load()
		snap.responses += s.outs.Load()
	}
	snap.buckets = make(map[float64]uint64, len(h.b.bounds))
	for j, le := range h.b.les {
		snap.count += counts[j]
		snap.buckets[le] = snap.count
	}
	snap.count += counts[len(h.b.bounds)]
	snap.sum = float64(sum) * h.b.scale
	return snap
}

// apiMetrics are one API key's request metrics: the duration histogram
// (whose count is sluice_requests_total) with the request and response
// bytes in the same copies.
type apiMetrics struct {
	h   shardedHist // first: see shardedHist
	api string
}

// requestMetrics are the request metrics of every API key seen, which
// every Handler that Instrument wraps adds to.
type requestMetrics struct {
	buckets *intBuckets
	byKey   [128]atomic.Pointer[apiMetrics] // by API key, made on first use
	mu      struct {
		sync.Mutex
		byName map[string]*apiMetrics // API keys from 128 on, and Unknown
	}
	latency, requests, bytesIn, bytesOut *prometheus.Desc
}

func newRequestMetrics() *requestMetrics {
	api := []string{"api"}
	r := &requestMetrics{
		buckets: newIntBuckets(prometheus.ExponentialBuckets(0.0001, 4, 10), 1e-9),
		latency: prometheus.NewDesc("sluice_request_duration_seconds",
			"Time to handle a Kafka request (sending the response excluded; a long-poll Fetch includes its wait), by API key.", api, nil),
		requests: prometheus.NewDesc("sluice_requests_total", "Kafka requests handled, by API key.", api, nil),
		bytesIn:  prometheus.NewDesc("sluice_request_bytes_total", "Request bytes received, by API key.", api, nil),
		bytesOut: prometheus.NewDesc("sluice_response_bytes_total",
			"Response body bytes queued for sending (file regions included), by API key.", api, nil),
	}
	r.mu.byName = make(map[string]*apiMetrics)
	return r
}

// forKey returns the metrics of API key, made on first use.
func (r *requestMetrics) forKey(key int16, name func(int16) string) *apiMetrics {
	if key >= 0 && int(key) < len(r.byKey) {
		if a := r.byKey[key].Load(); a != nil {
			return a
		}
		r.byKey[key].CompareAndSwap(nil, &apiMetrics{h: shardedHist{b: r.buckets}, api: name(key)})
		return r.byKey[key].Load()
	}
	return r.forName(name(key))
}

// forName returns the metrics of an API outside byKey, made on first use.
func (r *requestMetrics) forName(api string) *apiMetrics {
	r.mu.Lock()
	defer r.mu.Unlock()
	a := r.mu.byName[api]
	if a == nil {
		a = &apiMetrics{h: shardedHist{b: r.buckets}, api: api}
		r.mu.byName[api] = a
	}
	return a
}

func (r *requestMetrics) all() []*apiMetrics {
	var as []*apiMetrics
	for i := range r.byKey {
		if a := r.byKey[i].Load(); a != nil {
			as = append(as, a)
		}
	}
	r.mu.Lock()
	for _, a := range r.mu.byName {
		as = append(as, a)
	}
	r.mu.Unlock()
	sort.Slice(as, func(i, j int) bool { return as[i].api < as[j].api })
	return as
}

// Describe implements prometheus.Collector.
func (r *requestMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- r.latency
	ch <- r.requests
	ch <- r.bytesIn
	ch <- r.bytesOut
}

// Collect implements prometheus.Collector: an API's series show from
// its first request on, its response bytes from its first response.
func (r *requestMetrics) Collect(ch chan<- prometheus.Metric) {
	for _, a := range r.all() {
		s := a.h.snapshot()
		ch <- prometheus.MustNewConstHistogram(r.latency, s.count, s.sum, s.buckets, a.api)
		ch <- prometheus.MustNewConstMetric(r.requests, prometheus.CounterValue, float64(s.count), a.api)
		ch <- prometheus.MustNewConstMetric(r.bytesIn, prometheus.CounterValue, float64(s.in), a.api)
		if s.responses > 0 {
			ch <- prometheus.MustNewConstMetric(r.bytesOut, prometheus.CounterValue, float64(s.out), a.api)
		}
	}
}

// histCollector exports one shardedHist without labels.
type histCollector struct {
	desc *prometheus.Desc
	h    *shardedHist
}

func newHistCollector(name, help string, les []float64) histCollector {
	return histCollector{prometheus.NewDesc(name, help, nil, nil), newShardedHist(newIntBuckets(les, 1))}
}

// Describe implements prometheus.Collector.
func (c histCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c histCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.h.snapshot()
	ch <- prometheus.MustNewConstHistogram(c.desc, s.count, s.sum, s.buckets)
}
