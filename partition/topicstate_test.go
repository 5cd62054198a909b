package partition

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluice/sluice/internal/vfs"
	"github.com/sluice/sluice/internal/vfs/errorfs"
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
	s.awaitRemovals() // the renamed directories go in the background
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

// TestFreshLogMatchesReopened: a partition opened straight after its
// directory was made (no listing, no loading) has the state the same
// directory has when opened from disk, takes appends, and keeps them over a
// crash; a stale directory without partition.metadata is replaced, its
// files gone.
func TestFreshLogMatchesReopened(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	stale := filepath.Join(dir, "e-1")
	if err := os.MkdirAll(stale, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stale, "00000000000000000000.log"), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	id := [16]byte{7}
	logs, err := s.CreateLogs("e", 0, 2, id, testConfig(), nil)
	if err != nil || len(logs) != 2 {
		t.Fatalf("CreateLogs: %d logs, %v", len(logs), err)
	}
	type state struct {
		start, hw, leo, size int64
		epoch                int32
		segments             int
	}
	stateOf := func(l *Log) state {
		return state{l.LogStartOffset(), l.HighWatermark(), l.LogEndOffset(), l.Size(), l.LeaderEpoch(), l.Segments()}
	}
	fresh := []state{stateOf(logs[0]), stateOf(logs[1])}
	if fresh[1] != (state{segments: 1}) || len(logs[1].Producers()) != 0 {
		t.Fatalf("fresh log over a stale directory: %+v", fresh[1])
	}
	mustAppend(t, logs[0], batch(3, 10, 1))
	crashStore(s)

	s = openTestStore(t, dir)
	defer s.Close()
	if got := stateOf(s.Get("e", 1)); got != fresh[1] {
		t.Fatalf("reopened empty log %+v, fresh %+v", got, fresh[1])
	}
	l := s.Get("e", 0)
	if l.LogEndOffset() != 3 || l.TopicID() != id {
		t.Fatalf("reopened e-0: LEO %d, id %x", l.LogEndOffset(), l.TopicID())
	}
	r, err := l.Read(0, 1<<20, true)
	if err != nil || r.Bytes == 0 {
		t.Fatalf("read after crash: %+v, %v", r, err)
	}
}

// TestFreshLogFileOnFirstAppend: a created partition has no .log until its
// first append; under FlushAlways that append's fsync is followed by one of
// the partition directory (the new name is durable before the append is
// acknowledged), and later appends fsync the file only. After a crash the
// written partition has its records and the never-written one opens empty.
func TestFreshLogFileOnFirstAppend(t *testing.T) {
	dir := t.TempDir()
	fs := errorfs.Wrap(vfs.Default, nil)
	cfg := testConfig()
	cfg.Flush = FlushAlways
	s := openStoreOn(t, dir, fs, cfg)
	logs, err := s.CreateLogs("f", 0, 2, [16]byte{3}, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	seg := func(p int) string { return filepath.Join(dir, fmt.Sprintf("f-%d", p), "00000000000000000000.log") }
	for p := range 2 {
		if _, err := os.Stat(seg(p)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("f-%d has a .log before its first append: %v", p, err)
		}
	}
	for i := range 2 {
		fs.Reset()
		mustAppend(t, logs[0], batch(2, 10, 1))
		var syncs []errorfs.Op
		for _, op := range fs.Ops() {
			if op.Kind == errorfs.OpSync || op.Kind == errorfs.OpSyncDir {
				syncs = append(syncs, op)
			}
		}
		// The first append also writes the leader-epoch checkpoint
		// (its own fsyncs, after the round's).
		want := []errorfs.Op{{Kind: errorfs.OpSync, Path: seg(0)}}
		if i == 0 {
			want = append(want, errorfs.Op{Kind: errorfs.OpSyncDir, Path: filepath.Dir(seg(0))})
			syncs = syncs[:min(len(syncs), len(want))]
		}
		if fmt.Sprint(syncs) != fmt.Sprint(want) {
			t.Fatalf("append %d: fsyncs %v, want %v", i, syncs, want)
		}
	}
	if _, err := os.Stat(seg(1)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("f-1 got a .log without an append: %v", err)
	}
	crashStore(s)

	s = openTestStore(t, dir)
	defer s.Close()
	if got := s.Get("f", 0).LogEndOffset(); got != 4 {
		t.Fatalf("f-0 reopened at LEO %d, want 4", got)
	}
	l := s.Get("f", 1)
	if l.LogEndOffset() != 0 {
		t.Fatalf("f-1 reopened at LEO %d, want 0", l.LogEndOffset())
	}
	if _, err := os.Stat(seg(1)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the start created f-1's .log: %v", err)
	}
	mustAppend(t, l, batch(1, 10, 1))
	if _, err := os.Stat(seg(1)); err != nil {
		t.Fatalf("f-1 has no .log after its first append: %v", err)
	}
}

// TestFreshLogTruncateFully: a new partition's .log, not created yet, is
// deleted and replaced by TruncateFullyAndStartAt like any other (a
// follower starting at the leader's log start); appends and a crash
// restart then see the new start.
func TestFreshLogTruncateFully(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	logs, err := s.CreateLogs("g", 0, 1, [16]byte{4}, testConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	l := logs[0]
	if err := l.TruncateFullyAndStartAt(100); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, batch(3, 10, 1))
	if l.LogStartOffset() != 100 || l.LogEndOffset() != 103 {
		t.Fatalf("log start %d, end %d; want 100, 103", l.LogStartOffset(), l.LogEndOffset())
	}
	crashStore(s)
	s = openTestStore(t, dir)
	defer s.Close()
	if l := s.Get("g", 0); l.LogStartOffset() != 100 || l.LogEndOffset() != 103 {
		t.Fatalf("reopened: log start %d, end %d; want 100, 103", l.LogStartOffset(), l.LogEndOffset())
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "g-0", "*"+deletedSuffix)); len(m) != 0 {
		t.Fatalf("leftover deleted files: %v", m)
	}
}

// TestCreatePartitionDirExisting: createPartitionDir learns from its
// rename whether the directory exists: a missing or empty one is made, one
// whose partition.metadata names the topic id is kept with its files, any
// other is replaced; no "-new" directory is left behind.
func TestCreatePartitionDirExisting(t *testing.T) {
	id := [16]byte{9}
	f := func(name string, setup func(dir string), wantMade, wantMarker bool) {
		t.Helper()
		root := t.TempDir()
		dir := filepath.Join(root, "x-0")
		setup(dir)
		made, err := createPartitionDir(vfs.Default, dir, id, true, nil)
		if err != nil || made != wantMade {
			t.Fatalf("%s: made %v, %v; want %v", name, made, err, wantMade)
		}
		if got, err := readPartitionMetadata(dir); err != nil || got != id {
			t.Fatalf("%s: topic id %x, %v", name, got, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "marker")); (err == nil) != wantMarker {
			t.Fatalf("%s: marker kept %v, want %v", name, err == nil, wantMarker)
		}
		if m, _ := filepath.Glob(filepath.Join(root, "*"+newDirSuffix)); len(m) != 0 {
			t.Fatalf("%s: leftovers %v", name, m)
		}
	}
	with := func(files map[string][]byte) func(string) {
		return func(dir string) {
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for n, b := range files {
				if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	f("missing", func(string) {}, true, false)
	f("empty", with(nil), true, false)
	f("same id", with(map[string][]byte{partitionMetadataFile: partitionMetadataBody(id), "marker": nil}), false, true)
	f("other id", with(map[string][]byte{partitionMetadataFile: partitionMetadataBody([16]byte{1}), "marker": nil}), true, false)
	f("no metadata", with(map[string][]byte{"marker": []byte("junk")}), true, false)
	f("a file", func(dir string) {
		if err := os.WriteFile(dir, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}, true, false)
}
