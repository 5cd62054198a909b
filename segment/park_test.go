package segment

import (
	"errors"
	"os"
	"testing"
)

// TestParkReopensClosePersists: a parked file holds no descriptor, the next
// use reopens it by path (reads, appends, sync), and after Close every use
// fails with os.ErrClosed instead of reopening.
func TestParkReopensClosePersists(t *testing.T) {
	f, pos := writeSegment(t, someBatches(3)...)
	if err := f.Park(); err != nil || f.IsOpen() {
		t.Fatalf("park: %v, open %v", err, f.IsOpen())
	}
	h, err := f.ReadHeaderAt(pos[1])
	if err != nil || h.BaseOffset == 0 || !f.IsOpen() {
		t.Fatalf("read after park: %+v %v (open %v)", h, err, f.IsOpen())
	}
	f.Park()
	if _, err := f.Append([][]byte{someBatches(4)[3]}); err != nil {
		t.Fatalf("append after park: %v", err)
	}
	f.Park()
	if err := f.Sync(); err != nil {
		t.Fatalf("sync after park: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ReadHeaderAt(0); !errors.Is(err, os.ErrClosed) || f.IsOpen() {
		t.Fatalf("read after Close: %v (open %v)", err, f.IsOpen())
	}
	if _, err := f.Handle(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("handle after Close: %v", err)
	}
}
