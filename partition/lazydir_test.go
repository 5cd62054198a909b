package partition

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/sluice/sluice/internal/vfs"
	"github.com/sluice/sluice/internal/vfs/errorfs"
)

// partitionDirs lists the partition directories of topic in dir.
func partitionDirs(t *testing.T, dir, topic string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, topic+"-*"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m
}

// TestCreateLogsLazy: CreateLogsLazy touches no file; reads and a flush of
// a never-written partition leave it so; its first append makes the
// directory (partition.metadata naming the topic, Kafka's segment files)
// and the first fsync after it fsyncs partition.metadata, the partition
// directory and the data directory, in that order, then only the file and
// its directory. After a crash the written partition reopens with its
// records and the others are not there until created again, empty.
func TestCreateLogsLazy(t *testing.T) {
	dir := t.TempDir()
	fs := errorfs.Wrap(vfs.Default, nil)
	cfg := testConfig()
	s := openStoreOn(t, dir, fs, cfg)
	fs.Reset()
	id := [16]byte{7}
	logs, err := s.CreateLogsLazy("z", 0, 3, id, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if ops := fs.Ops(); len(ops) != 0 {
		t.Fatalf("CreateLogsLazy did file operations: %v", ops)
	}
	if again, err := s.CreateLogsLazy("z", 0, 3, id, cfg); err != nil || !slices.Equal(again, logs) {
		t.Fatalf("created again: %v, %v; want the same logs", again, err)
	}
	for _, l := range logs {
		if _, err := l.Read(0, 1<<20, true); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := l.OffsetForTimestamp(1); err != nil {
			t.Fatal(err)
		}
		if _, err := l.ReadReplica(0, 1<<20); err != nil {
			t.Fatal(err)
		}
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
		if l.LogEndOffset() != 0 || l.LogStartOffset() != 0 || l.Size() != 0 {
			t.Fatalf("%s-%d: start %d, end %d, size %d", l.Topic(), l.Partition(), l.LogStartOffset(), l.LogEndOffset(), l.Size())
		}
	}
	if d := partitionDirs(t, dir, "z"); len(d) != 0 {
		t.Fatalf("directories before any append: %v", d)
	}

	mustAppend(t, logs[1], batch(3, 10, 1))
	pdir := filepath.Join(dir, "z-1")
	if d := partitionDirs(t, dir, "z"); !slices.Equal(d, []string{"z-1"}) {
		t.Fatalf("directories after one append: %v, want [z-1]", d)
	}
	if got, err := readPartitionMetadata(pdir); err != nil || got != id {
		t.Fatalf("partition.metadata: %x, %v; want %x", got, err, id)
	}
	if _, err := os.Stat(filepath.Join(pdir, "00000000000000000000.log")); err != nil {
		t.Fatalf("after the first append: %v", err)
	}
	for _, name := range []string{"00000000000000000000.index", "00000000000000000000.timeindex"} {
		if exists(filepath.Join(pdir, name)) { // no index entry was due
			t.Fatalf("%s after a first append of %d bytes", name, logs[1].Size())
		}
	}
	flushSyncs := func() []string {
		t.Helper()
		fs.Reset()
		if err := logs[1].Flush(); err != nil {
			t.Fatal(err)
		}
		var syncs []string
		for _, op := range fs.Ops() {
			if op.Kind == errorfs.OpSync || op.Kind == errorfs.OpSyncDir {
				syncs = append(syncs, filepath.Base(op.Path))
			}
		}
		return syncs
	}
	// The first append also recorded the leader-epoch checkpoint, which the
	// flush writes (a temporary file, fsync'd, renamed).
	want := []string{"00000000000000000000.log", partitionMetadataFile, "z-1", filepath.Base(dir),
		leaderEpochFile + ".tmp", "z-1"}
	if got := flushSyncs(); !slices.Equal(got, want) {
		t.Fatalf("first flush: fsyncs %v, want %v", got, want)
	}
	mustAppend(t, logs[1], batch(1, 10, 1))
	if got, want := flushSyncs(), []string{"00000000000000000000.log"}; !slices.Equal(got, want) {
		t.Fatalf("second flush: fsyncs %v, want %v", got, want)
	}
	mustAppend(t, logs[1], batch(1, 5000, 1)) // past index.interval.bytes: the first entry, kept in memory
	if got, want := flushSyncs(), []string{"00000000000000000000.log"}; !slices.Equal(got, want) {
		t.Fatalf("flush after the first index entry: fsyncs %v, want %v", got, want)
	}
	if exists(filepath.Join(pdir, "00000000000000000000.index")) {
		t.Fatal("the first index entry created the .index")
	}
	crashStore(s)

	s = openTestStore(t, dir)
	defer s.Close()
	if l := s.Get("z", 1); l == nil || l.LogEndOffset() != 5 {
		t.Fatalf("z-1 after the crash: %v", l)
	}
	for _, p := range []int32{0, 2} {
		if l := s.Get("z", p); l != nil {
			t.Fatalf("z-%d, never written, reopened from disk", p)
		}
	}
	logs, err = s.CreateLogsLazy("z", 0, 3, id, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if logs[0].LogEndOffset() != 0 || logs[1].LogEndOffset() != 5 || logs[2].LogEndOffset() != 0 {
		t.Fatalf("created again: ends %d %d %d, want 0 5 0", logs[0].LogEndOffset(), logs[1].LogEndOffset(), logs[2].LogEndOffset())
	}
	mustAppend(t, logs[2], batch(2, 10, 1))
	if logs[2].LogEndOffset() != 2 {
		t.Fatalf("z-2 end %d after its first append, want 2", logs[2].LogEndOffset())
	}
}

// TestCreateLogsLazyCleanRestart: a clean shutdown with never-written lazy
// logs creates nothing for them, and the next start has none of them.
func TestCreateLogsLazyCleanRestart(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	if _, err := s.CreateLogsLazy("c", 0, 4, [16]byte{8}, testConfig()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if d := partitionDirs(t, dir, "c"); len(d) != 0 {
		t.Fatalf("directories after a clean shutdown: %v", d)
	}
	s = openTestStore(t, dir)
	defer s.Close()
	if n := len(s.Logs()); n != 0 {
		t.Fatalf("%d logs reopened, want 0", n)
	}
}

// TestDeleteLogsLazy: deleting partitions whose directory was never made
// succeeds and leaves nothing; a written one is removed as usual; a
// deleted lazy log never makes its directory afterwards.
func TestDeleteLogsLazy(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	defer s.Close()
	logs, err := s.CreateLogsLazy("d", 0, 3, [16]byte{9}, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, logs[2], batch(1, 10, 1))
	if err := s.DeleteLogs("d", []int32{0, 1, 2}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := logs[0].Append(batch(1, 10, 1)); err == nil {
		t.Fatal("append to a deleted log succeeded")
	}
	if err := logs[0].pdir.Make(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Make after deletion: %v, want ErrClosed", err)
	}
	s.awaitRemovals() // the renamed directories go in the background
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			t.Fatalf("left in the data directory: %s", e.Name())
		}
	}
	if n := len(s.Logs()); n != 0 {
		t.Fatalf("%d logs left", n)
	}
}

// TestCreateLogsLazyTruncateFully: a follower starting a never-written
// lazy log at its leader's log start makes the directory there; a crash
// restart sees the new start.
func TestCreateLogsLazyTruncateFully(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	logs, err := s.CreateLogsLazy("f", 0, 1, [16]byte{10}, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := logs[0].TruncateFullyAndStartAt(500); err != nil {
		t.Fatal(err)
	}
	if d := partitionDirs(t, dir, "f"); !slices.Equal(d, []string{"f-0"}) {
		t.Fatalf("directories: %v", d)
	}
	crashStore(s)
	s = openTestStore(t, dir)
	defer s.Close()
	if l := s.Get("f", 0); l == nil || l.LogStartOffset() != 500 || l.LogEndOffset() != 500 {
		t.Fatalf("reopened: %v", l)
	}
}

// TestCreateLogsLazyMakeFails: a first append whose directory cannot be
// made fails with a storage error and takes only that log offline; nothing
// is left behind, and the other partitions are unaffected.
func TestCreateLogsLazyMakeFails(t *testing.T) {
	dir := t.TempDir()
	fs := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind == errorfs.OpMkdir && filepath.Base(filepath.Dir(op.Path)) == filepath.Base(dir) &&
			len(filepath.Base(op.Path)) > 4 && filepath.Base(op.Path)[:4] == "m-0." {
			return syscall.ENOSPC
		}
		return nil
	}))
	s, err := OpenStore(StoreConfig{Dir: dir, Defaults: testConfig(), Logger: quietLogger(), FS: fs, CleanerThreads: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	logs, err := s.CreateLogsLazy("m", 0, 2, [16]byte{11}, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := logs[0].Append(batch(1, 10, 1)); !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append with the mkdir failing: %v, want a storage error with ENOSPC", err)
	}
	mustAppend(t, logs[1], batch(1, 10, 1))
	if d := partitionDirs(t, dir, "m"); !slices.Equal(d, []string{"m-1"}) {
		t.Fatalf("directories: %v, want [m-1]", d)
	}
}

// TestCreateLogsLazyDurableEpochWrite: a durable leader-epoch checkpoint
// write that makes a lazy log's directory (TruncateFullyAndStartAt) also
// makes the new directory durable: partition.metadata and the data
// directory are fsync'd before it returns.
func TestCreateLogsLazyDurableEpochWrite(t *testing.T) {
	dir := t.TempDir()
	fs := errorfs.Wrap(vfs.Default, nil)
	s, err := OpenStore(StoreConfig{Dir: dir, Defaults: testConfig(), Logger: quietLogger(), FS: fs, CleanerThreads: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	logs, err := s.CreateLogsLazy("e", 0, 1, [16]byte{12}, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	fs.Reset()
	if err := logs[0].TruncateFullyAndStartAt(70); err != nil {
		t.Fatal(err)
	}
	var synced []string
	for _, op := range fs.Ops() {
		if op.Kind == errorfs.OpSync || op.Kind == errorfs.OpSyncDir {
			synced = append(synced, filepath.Base(op.Path))
		}
	}
	for _, want := range []string{partitionMetadataFile, filepath.Base(dir)} {
		if !slices.Contains(synced, want) {
			t.Fatalf("fsyncs %v: no %s", synced, want)
		}
	}
}
