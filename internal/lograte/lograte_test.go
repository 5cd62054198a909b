package lograte

import (
	"strconv"
	"testing"
	"time"
)

func TestPerKey(t *testing.T) {
	p := New(time.Minute)
	t0 := time.Unix(1000, 0)
	f := func(key string, at time.Duration, want bool) {
		t.Helper()
		if got := p.Allow(key, t0.Add(at)); got != want {
			t.Fatalf("Allow(%q, +%v) = %v, want %v", key, at, got, want)
		}
	}
	f("a", 0, true)
	f("a", time.Second, false)
	f("b", time.Second, true) // another client is logged
	f("a", 59*time.Second, false)
	f("a", time.Minute, true)
	f("b", time.Minute, false)
	f("b", 61*time.Second, true)
}

// TestPerKeyBounded: a flood of distinct keys keeps at most maxKeys, and
// logging resumes for new keys once old ones expire.
func TestPerKeyBounded(t *testing.T) {
	p := New(time.Minute)
	t0 := time.Unix(1000, 0)
	for i := range maxKeys {
		if !p.Allow(strconv.Itoa(i), t0) {
			t.Fatalf("key %d refused below the bound", i)
		}
	}
	if p.Allow("new", t0.Add(time.Second)) {
		t.Fatal("a key past the bound was allowed while none expired")
	}
	if n := len(p.mu.last); n != maxKeys {
		t.Fatalf("%d keys kept, want %d", n, maxKeys)
	}
	if !p.Allow("new", t0.Add(time.Minute)) {
		t.Fatal("a new key was refused after the old ones expired")
	}
	if n := len(p.mu.last); n != 1 {
		t.Fatalf("%d keys kept after pruning, want 1", n)
	}
}

// TestAllowHeld: an allowed event reports how many of its key were
// refused since the last allowed one.
func TestAllowHeld(t *testing.T) {
	p := New(time.Minute)
	t0 := time.Unix(1000, 0)
	for i, c := range []struct {
		at   time.Duration
		ok   bool
		held int
	}{{0, true, 0}, {time.Second, false, 0}, {2 * time.Second, false, 0}, {time.Minute, true, 2}, {2 * time.Minute, true, 0}} {
		if ok, held := p.AllowHeld("a", t0.Add(c.at)); ok != c.ok || held != c.held {
			t.Fatalf("event %d at +%v: %v, %d; want %v, %d", i, c.at, ok, held, c.ok, c.held)
		}
	}
}
