package partition

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCleanShutdownBrokerEpoch: the clean-shutdown marker names the broker
// epoch set before Close ({"version":0,"brokerEpoch":N}, Kafka's), the next
// open reports it, and an open without a marker (a crash) or with an old
// marker without one reports -1.
func TestCleanShutdownBrokerEpoch(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, cleanShutdownFile)
	reopen := func(s *Store, epoch int64) *Store {
		t.Helper()
		if epoch >= 0 {
			s.SetBrokerEpoch(epoch)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		return openTestStore(t, dir)
	}
	s := openTestStore(t, dir)
	if got := s.CleanShutdownBrokerEpoch(); got != -1 {
		t.Fatalf("new directory: epoch %d", got)
	}
	s = reopen(s, 7)
	if got := s.CleanShutdownBrokerEpoch(); got != 7 {
		t.Fatalf("after a clean shutdown at epoch 7: %d", got)
	}
	s = reopen(s, -1) // no epoch set: the marker names none
	if got := s.CleanShutdownBrokerEpoch(); got != -1 || !s.OpenedClean() {
		t.Fatalf("marker without an epoch: %d (clean %v)", got, s.OpenedClean())
	}
	s.SetBrokerEpoch(9)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(marker); err != nil || string(b) != "{\"version\":0,\"brokerEpoch\":9}\n" {
		t.Fatalf("marker %q (%v)", b, err)
	}
	if err := os.Remove(marker); err != nil { // as after a crash
		t.Fatal(err)
	}
	s = openTestStore(t, dir)
	defer s.Close()
	if got := s.CleanShutdownBrokerEpoch(); got != -1 {
		t.Fatalf("after a crash: epoch %d", got)
	}
}
