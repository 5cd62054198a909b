package segment

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/sluice/sluice/segment/segmenttest"
)

// A corrupt length field claiming a huge batch must not make Recover
// allocate that much: large batches are checked with a streaming CRC.
func TestRecoverDoesNotAllocateClaimedLength(t *testing.T) {
	path := filepath.Join(t.TempDir(), "00000000000000000000.log")
	good := segmenttest.NewBatch(0, 3, 1, 100).Encode()
	bad := append([]byte(nil), good...)
	binary.BigEndian.PutUint64(bad[0:], 3)
	binary.BigEndian.PutUint32(bad[8:], 900<<20) // claims 900 MiB
	if err := os.WriteFile(path, append(good, bad...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 1<<30); err != nil { // sparse: the claim fits the file
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	end, err := f.Recover(0, nil)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrCorrupt) || end != int64(len(good)) {
		t.Fatalf("Recover = %d, %v; want %d and ErrCorrupt", end, err, len(good))
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
		t.Fatalf("Recover allocated %d MiB for a corrupt length", grew>>20)
	}
}

// A valid batch above the streaming threshold recovers.
func TestRecoverLargeValidBatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "00000000000000000000.log")
	b := segmenttest.NewBatch(0, 1, 1, streamThreshold+1024).Encode()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	end, err := f.Recover(0, nil)
	if err != nil || end != int64(len(b)) {
		t.Fatalf("Recover = %d, %v; want %d", end, err, len(b))
	}
	// And a flipped byte in its records is caught.
	w, _ := os.OpenFile(path, os.O_RDWR, 0)
	w.WriteAt([]byte{0xff}, int64(len(b))-10)
	w.Close()
	if _, err := f.Recover(0, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt large batch: %v", err)
	}
}
