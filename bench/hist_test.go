package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistogramPercentiles(t *testing.T) {
	h := NewHistogram()
	for i := 1; i <= 10000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	f := func(q float64, want time.Duration) {
		t.Helper()
		got := h.Percentile(q)
		if math.Abs(float64(got-want)) > float64(want)/float64(subCount) {
			t.Fatalf("p%v = %v, want %v within 1/%d", q, got, want, subCount)
		}
	}
	f(50, 5000*time.Microsecond)
	f(99, 9900*time.Microsecond)
	f(99.9, 9990*time.Microsecond)
	f(100, 10000*time.Microsecond)
	f(0, time.Microsecond)
	if h.Max() != 10*time.Millisecond || h.Count() != 10000 {
		t.Fatalf("max %v count %d", h.Max(), h.Count())
	}
}

func TestHistogramAgainstSort(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	h := NewHistogram()
	vals := make([]int64, 100000)
	for i := range vals {
		vals[i] = int64(r.ExpFloat64() * 3e6) // ~3 ms mean, long tail
		h.Record(time.Duration(vals[i]))
	}
	slices.Sort(vals)
	for _, q := range []float64{1, 50, 90, 99, 99.9, 99.99} {
		want := vals[int(math.Ceil(q/100*float64(len(vals))))-1]
		got := int64(h.Percentile(q))
		if math.Abs(float64(got-want)) > float64(want)/float64(subCount)+1 {
			t.Errorf("p%v = %d, exact %d", q, got, want)
		}
	}
}

func TestHistogramBuckets(t *testing.T) {
	prev := -1
	for _, v := range []int64{0, 1, 127, 128, 255, 256, 257, 1 << 20, 1<<40 + 12345, math.MaxInt64} {
		i := bucketOf(v)
		if i < prev || i >= bucketCount { // 256 and 257 share a 2-wide bucket
			t.Fatalf("bucketOf(%d) = %d after %d (of %d)", v, i, prev, bucketCount)
		}
		prev = i
		if mid := bucketMid(i); v > 0 && math.Abs(float64(mid-v)) > float64(v)/float64(subCount) {
			t.Fatalf("bucketMid(bucketOf(%d)) = %d", v, mid)
		}
	}
}

func TestHistogramMergeEmpty(t *testing.T) {
	a, b := NewHistogram(), NewHistogram()
	if a.Percentile(99) != 0 || a.Max() != 0 || a.Mean() != 0 {
		t.Fatal("empty histogram not zero")
	}
	b.Record(time.Second)
	a.Merge(b)
	if a.Count() != 1 || a.Percentile(50) != time.Second {
		t.Fatalf("merged: count %d p50 %v", a.Count(), a.Percentile(50))
	}
}
