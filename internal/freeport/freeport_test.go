package freeport

import "testing"

// TestPortsAreNeverHandedOutTwice: many ports in a row are all distinct,
// though the kernel reuses a closed listener's port readily.
func TestPortsAreNeverHandedOutTwice(t *testing.T) {
	seen := map[int]bool{}
	for range 300 {
		p, err := Port()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
}
