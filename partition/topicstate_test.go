package partition

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestCreateDeleteLogsLeftovers stops CreateLogs and DeleteLogs part way
// (their progress hook), abandons the store as a crash would, adds the
// leftovers of a crash inside one partition's creation or deletion, and
// checks the reopened store has whole partitions only.
func TestCreateDeleteLogsLeftovers(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	id := [16]byte{5}
	stop := errors.New("stop")
	logs, err := s.CreateLogs("c", 0, 4, id, testConfig(), func(p int32) error {
		if p == 1 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || len(logs) != 2 {
		t.Fatalf("CreateLogs stopped at 1: %d logs, %v", len(logs), err)
	}
	if _, err := s.CreateLogs("d", 0, 3, id, testConfig(), nil); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s.Get("d", 0), batch(1, 10, 1))
	err = s.DeleteLogs("d", []int32{2, 1, 0}, func(p int32) error {
		if p == 1 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || s.Get("d", 2) != nil || s.Get("d", 0) == nil {
		t.Fatalf("DeleteLogs stopped at 1: %v", err)
	}
	crashStore(s)
	// A crash inside a creation (before the rename) and inside a deletion
	// (after the rename, before the removal).
	for _, leftover := range []string{"c-2.0011223344556677-new", "d-1.0011223344556677-delete"} {
		if err := os.MkdirAll(filepath.Join(dir, leftover), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, leftover, partitionMetadataFile), partitionMetadataBody(id), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s = openTestStore(t, dir)
	defer s.Close()
	var got []string
	for _, l := range s.Logs() {
		got = append(got, l.Topic()+"-"+string(rune('0'+l.Partition())))
		if l.TopicID() != id {
			t.Fatalf("%s-%d: topic id %x", l.Topic(), l.Partition(), l.TopicID())
		}
	}
	if len(got) != 3 || got[0] != "c-0" || got[1] != "c-1" || got[2] != "d-0" {
		t.Fatalf("logs after the crash: %v", got)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*-new")); len(m) != 0 {
		t.Fatalf("leftovers not removed: %v", m)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*-delete")); len(m) != 0 {
		t.Fatalf("leftovers not removed: %v", m)
	}
	// Creating again keeps the existing partitions and adds the rest.
	logs, err = s.CreateLogs("c", 0, 4, id, testConfig(), nil)
	if err != nil || len(logs) != 4 || logs[0] != s.Get("c", 0) {
		t.Fatalf("roll forward: %d logs, %v", len(logs), err)
	}
}
