package partition

import (
	"os"
	"path/filepath"
	"testing"
)

// TestHighWatermarkCheckpoint: CheckpointHighWatermarks writes Kafka's
// replication-offset-checkpoint; after a restart (clean or a crash) a
// replicated log starts from its checkpointed high watermark, clamped to
// its log end, not from the log end; a log that appended as a single
// replica checkpoints its log end.
func TestHighWatermarkCheckpoint(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	rl, err := s.Create("r", 0, [16]byte{1}, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	sl, err := s.Create("s", 0, [16]byte{2}, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := rl.SetReplicated(true); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		mustAppend(t, rl, batch(2, 20, 1_700_000_000_000))
	}
	mustAppend(t, sl, batch(3, 20, 1_700_000_000_000))
	rl.UpdateHighWatermark(4)
	if err := s.CheckpointHighWatermarks(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, replicationOffsetFile)
	f := func(want string) {
		t.Helper()
		if b, err := os.ReadFile(path); err != nil || string(b) != want {
			t.Fatalf("%s: %q, %v; want %q", replicationOffsetFile, b, err, want)
		}
	}
	f("0\n2\nr 0 4\ns 0 3\n")
	rl.UpdateHighWatermark(6)
	s.Abandon() // a crash: the periodic checkpoint (4) is what is on disk

	reopen := func(wantHW int64) *Store {
		t.Helper()
		s := openTestStore(t, dir)
		rl := s.Get("r", 0)
		if rl.HighWatermark() != 10 {
			t.Fatalf("before SetReplicated: hw %d, want the log end 10", rl.HighWatermark())
		}
		if err := rl.SetReplicated(true); err != nil {
			t.Fatal(err)
		}
		if rl.HighWatermark() != wantHW || readableEnd(t, rl) != wantHW {
			t.Fatalf("after a restart: hw %d, readable to %d; want %d", rl.HighWatermark(), readableEnd(t, rl), wantHW)
		}
		return s
	}
	s = reopen(4)
	s.Get("r", 0).UpdateHighWatermark(8)
	if err := s.Close(); err != nil { // Close checkpoints too
		t.Fatal(err)
	}
	f("0\n2\nr 0 8\ns 0 3\n")
	s = reopen(8)
	s.Close()

	// A checkpoint above the log end (the log lost its tail) is clamped.
	if err := os.WriteFile(path, []byte("0\n1\nr 0 99\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s = reopen(10)
	if sl := s.Get("s", 0); sl.SetReplicated(true) != nil || sl.HighWatermark() != 0 {
		t.Fatalf("no entry: hw %d, want 0 (Kafka's default)", sl.HighWatermark())
	}
	s.Close()
}
