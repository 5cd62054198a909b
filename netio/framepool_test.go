package netio

import "testing"

func TestFrameClasses(t *testing.T) {
	f := func(n, want int) {
		t.Helper()
		if got := frameClass(n); got != want {
			t.Fatalf("frameClass(%d) = %d, want %d", n, got, want)
		}
	}
	f(0, -1)
	f(2048, -1)
	f(2049, 12)
	f(4096, 12)
	f(4097, 13)
	f(1<<20, 20)
	f(1<<20+1, 21)
	f(1<<24, 24)
	f(1<<24+1, -1)
}

// A recycled frame comes back for the next frame of its class, and frames
// that are not pool-shaped are never pooled.
func TestRecycleFrame(t *testing.T) {
	a := newFrame(300 << 10)
	if len(a) != 300<<10 || cap(a) != 512<<10 {
		t.Fatalf("newFrame: len %d cap %d", len(a), cap(a))
	}
	a[0] = 42
	RecycleFrame(a)
	b := newFrame(400 << 10)
	if cap(b) != 512<<10 {
		t.Fatalf("next frame of the class: cap %d", cap(b))
	}
	RecycleFrame(make([]byte, 5000)) // not a power-of-two capacity: ignored
	RecycleFrame(nil)
	if c := newFrame(100); cap(c) != 100 {
		t.Fatalf("small frames are plain allocations: cap %d", cap(c))
	}
}
