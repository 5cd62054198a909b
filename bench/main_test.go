package bench

import (
	"os"
	"testing"
)

// TestMain lets the floors re-run the test binary as their second process.
func TestMain(m *testing.M) {
	ServeFloorChild()
	os.Exit(m.Run())
}
