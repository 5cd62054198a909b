package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestMain lets the test binary be the sender child that receiveConns
// starts (os.Args[0] with --send).
func TestMain(m *testing.M) {
	if os.Getenv("TCPFLOOR_TEST_CHILD") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestConnsFloorWritesEveryFrame runs the --conns mode with reads smaller
// than a frame, so frames arrive in pieces, and checks that every frame's
// bytes reached the files whole, spread over them in turn, with and
// without --combine.
func TestConnsFloorWritesEveryFrame(t *testing.T) {
	t.Setenv("TCPFLOOR_TEST_CHILD", "1")
	defer func(n int) { connReadSize = n }(connReadSize)
	connReadSize = 700
	const files, conns, frame, inflight, requests = 3, 5, 1000, 3, 301
	body := make([]byte, frame)
	for i := range body {
		body[i] = byte(i + 4) // as the sender fills it
	}
	for _, combine := range []bool{false, true} {
		dir := t.TempDir()
		if err := receiveConns(dir, files, conns, frame, inflight, 64, requests, combine); err != nil {
			t.Fatalf("combine=%v: %v", combine, err)
		}
		names, err := filepath.Glob(filepath.Join(dir, "f*"))
		if err != nil || len(names) != files {
			t.Fatalf("combine=%v: files %v (%v), want %d", combine, names, err, files)
		}
		var total int
		for _, name := range names {
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(b) / frame; len(b)%frame != 0 || n < requests/files || n > requests/files+1 {
				t.Errorf("combine=%v: %s holds %d bytes, want %d or %d frames of %d", combine, name, len(b), requests/files, requests/files+1, frame)
			}
			for off := 0; off+frame <= len(b); off += frame {
				if !bytes.Equal(b[off:off+frame], body) {
					t.Fatalf("combine=%v: %s: the frame at %d is not the one sent", combine, name, off)
				}
			}
			total += len(b)
		}
		if total != requests*frame {
			t.Errorf("combine=%v: %d bytes written, want %d", combine, total, requests*frame)
		}
	}
}
