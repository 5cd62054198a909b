package metrics

import (
	"strings"
	"syscall"
	"testing"

	"github.com/sluice/sluice/internal/vfs"
	"github.com/sluice/sluice/internal/vfs/errorfs"
	"github.com/sluice/sluice/partition"
	"github.com/sluice/sluice/segment/segmenttest"
)

// TestOfflineCountsFailedLogs: a log that a failed write took offline
// counts in sluice_offline_partitions and sluice_log_offline, beside the
// partitions that could not be opened.
func TestOfflineCountsFailedLogs(t *testing.T) {
	rule := errorfs.OnIndex(1, errorfs.Under("*.log", errorfs.Kinds(errorfs.OpWrite)), syscall.EIO)
	store, err := partition.OpenStore(partition.StoreConfig{Dir: t.TempDir(), Defaults: partition.DefaultConfig(),
		FS: errorfs.Wrap(vfs.Default, rule)})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	bad, err := store.Create("bad", 0, [16]byte{1}, partition.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Create("good", 0, [16]byte{2}, partition.DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Append(segmenttest.NewBatch(0, 5, 1, 50).Encode()); err == nil {
		t.Fatal("append through a failing write succeeded")
	}
	m := New()
	m.SetSources(Sources{Logs: store.Logs, Offline: store.Offline})
	out := scrape(t, m)
	for _, want := range []string{"sluice_offline_partitions 1\n", `sluice_log_offline{partition="0",topic="bad"} 1`} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if strings.Contains(out, `topic="good"} 1`) && strings.Contains(out, "sluice_log_offline{partition=\"0\",topic=\"good\"}") {
		t.Error("the healthy log is reported offline")
	}
}
