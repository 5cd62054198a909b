package bench

import (
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	f := func(in string, want Rate, ok bool) {
		t.Helper()
		got, err := ParseRate(in)
		if (err == nil) != ok || got != want {
			t.Fatalf("ParseRate(%q) = %+v, %v; want %+v ok=%v", in, got, err, want, ok)
		}
	}
	f("", Rate{}, true)
	f("200MB/s", Rate{Per: 200 << 20}, true)
	f("1.5GB/s", Rate{Per: 1.5 * (1 << 30)}, true)
	f("512KB/s", Rate{Per: 512 << 10}, true)
	f("50000rec/s", Rate{Per: 50000, Records: true}, true)
	f("100B/s", Rate{Per: 100}, true)
	f("200MB", Rate{}, false)
	f("MB/s", Rate{}, false)
	f("-5MB/s", Rate{}, false)
	f("5XB/s", Rate{}, false)
}

// fakeClock is advanced by the test.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }

func TestLimiter(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	l := NewLimiter(1000, 100, clk.now) // 1000 tokens/s, burst 100
	f := func(n float64, want time.Duration) {
		t.Helper()
		if got := l.Reserve(n); got != want {
			t.Fatalf("Reserve(%v) = %v, want %v", n, got, want)
		}
	}
	f(100, 0)                    // the full bucket
	f(100, 100*time.Millisecond) // debt of 100 at 1000/s
	clk.add(100 * time.Millisecond)
	f(0, 0) // debt repaid exactly
	clk.add(time.Hour)
	f(50, 0)             // refilled only up to the burst
	f(50, 0)             //
	f(1000, time.Second) // larger than the burst still goes, later
	clk.add(500 * time.Millisecond)
	f(0, 500*time.Millisecond) // half the debt left
}

func TestLimiterAverageRate(t *testing.T) {
	clk := &fakeClock{t: time.Unix(0, 0)}
	l := NewLimiter(1<<20, 1<<20, clk.now) // 1 MiB/s, 1 MiB burst
	for i := 0; i < 100; i++ {             // 100 × 1 MiB: waits advance the clock
		clk.add(l.Reserve(1 << 20))
	}
	if got := clk.t.Sub(time.Unix(0, 0)); got != 99*time.Second {
		t.Fatalf("100 MiB at 1 MiB/s with a 1 MiB burst took %v, want 99s", got)
	}
}
