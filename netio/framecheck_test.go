//go:build framecheck

package netio

import (
	"runtime/debug"
	"testing"
)

// Under framecheck a recycled frame faults at its next use, and a second
// RecycleFrame panics: the check that the broker's tests rely on.
func TestFrameCheckFaultsAfterRecycle(t *testing.T) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	f := newFrame(100, true)
	f[99] = 7
	RecycleFrame(f)
	faulted := func(fn func()) (p any) {
		defer func() { p = recover() }()
		fn()
		return nil
	}
	if p := faulted(func() { readSink = f[0] }); p == nil {
		t.Fatalf("reading a recycled frame did not fault")
	}
	if p := faulted(func() { RecycleFrame(f) }); p == nil {
		t.Fatalf("recycling a frame twice did not panic")
	}
	if h := newFrame(100, false); h[:1] == nil {
		t.Fatalf("a frame that will not be recycled")
	}
}

var readSink byte
