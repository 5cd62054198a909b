package partition

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/vfs"
	"github.com/sluice/sluice/internal/vfs/errorfs"
)

// faultConfig is a log with tiny segments and indexes, so a few appends
// roll, index and fill retention.
func faultConfig() Config {
	c := testConfig()
	c.SegmentBytes = 700
	c.SegmentIndexBytes = 4096
	c.IndexIntervalBytes = 128
	return c
}

func openFaultStore(t testing.TB, dir string, fsys vfs.FS) (*Store, error) {
	t.Helper()
	return OpenStore(StoreConfig{Dir: dir, Defaults: faultConfig(), Logger: quietLogger(), FS: fsys,
		CleanerThreads: -1})
}

// syncsOf counts the fsyncs of files with suffix among ops, per partition
// directory.
func syncsOf(ops []errorfs.Op, suffix string) map[string]int {
	n := map[string]int{}
	for _, op := range ops {
		if op.Kind == errorfs.OpSync && strings.HasSuffix(op.Path, suffix) {
			n[filepath.Base(filepath.Dir(op.Path))]++
		}
	}
	return n
}

// TestCloseFsyncsEveryDirtyLog: a clean stop fsyncs the .log files of every
// log that holds unflushed appends (FlushNever), and their indexes, before
// it writes the recovery points and the clean-shutdown marker.
func TestCloseFsyncsEveryDirtyLog(t *testing.T) {
	dir := t.TempDir()
	fs := errorfs.Wrap(vfs.Default, nil)
	s, err := openFaultStore(t, dir, fs)
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(3) {
		l, err := s.Create("dirty", p, [16]byte{9}, testConfig())
		if err != nil {
			t.Fatal(err)
		}
		if p < 2 { // 6 KiB: past index.interval.bytes, so the segment has index files
			mustAppend(t, l, batch(3, 2000, 1))
		}
	}
	fs.Reset()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ops := fs.Ops()
	logs, idx := syncsOf(ops, logSuffix), syncsOf(ops, indexSuffix)
	for _, p := range []string{"dirty-0", "dirty-1"} {
		if logs[p] != 1 || idx[p] != 1 {
			t.Errorf("%s: %d .log and %d .index fsyncs at close, want 1 each", p, logs[p], idx[p])
		}
	}
	if logs["dirty-2"] != 0 {
		t.Errorf("dirty-2 held nothing unflushed but was fsync'd %d times", logs["dirty-2"])
	}
	// The marker comes after every fsync of a .log.
	lastLogSync, marker := -1, -1
	for i, op := range ops {
		switch {
		case op.Kind == errorfs.OpSync && strings.HasSuffix(op.Path, logSuffix):
			lastLogSync = i
		case op.Kind == errorfs.OpRename && filepath.Base(op.Path) == cleanShutdownFile:
			marker = i
		}
	}
	if marker < 0 || marker < lastLogSync {
		t.Fatalf("marker written at call %d, last .log fsync at %d", marker, lastLogSync)
	}
	s2, err := openFaultStore(t, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if !s2.OpenedClean() || s2.Get("dirty", 1).LogEndOffset() != 3 {
		t.Fatalf("clean %v, end %d", s2.OpenedClean(), s2.Get("dirty", 1).LogEndOffset())
	}
}

// TestCloseWithFailedFsyncWritesNoMarker: when an fsync at close fails, the
// store reports it and writes no clean-shutdown marker, so the next start
// recovers that log (and finds its data, still in the page cache here).
func TestCloseWithFailedFsyncWritesNoMarker(t *testing.T) {
	dir := t.TempDir()
	rule := errorfs.OnIndex(1, errorfs.Under("*"+logSuffix, errorfs.Kinds(errorfs.OpSync)), syscall.EIO)
	var armed atomic.Bool
	fs := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if !armed.Load() {
			return nil
		}
		return rule.Inject(op)
	}))
	s, err := openFaultStore(t, dir, fs)
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.Create("t", 0, [16]byte{}, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, batch(3, 50, 1))
	armed.Store(true)
	if err := s.Close(); !errors.Is(err, syscall.EIO) || !errors.Is(err, ErrStorage) {
		t.Fatalf("close: %v, want the fsync's EIO as ErrStorage", err)
	}
	if _, err := os.Stat(filepath.Join(dir, cleanShutdownFile)); !os.IsNotExist(err) {
		t.Fatalf("clean-shutdown marker written after a failed fsync (%v)", err)
	}
	rps, err := readOffsetCheckpoint(vfs.Default, filepath.Join(dir, recoveryPointFile))
	if err != nil || rps[topicPartition{"t", 0}] != 0 {
		t.Fatalf("recovery point %v (%v), want 0: nothing was fsync'd", rps, err)
	}
	s2, err := openFaultStore(t, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.OpenedClean() || s2.Get("t", 0).LogEndOffset() != 3 {
		t.Fatalf("clean %v, end %d; want a recovery finding 3", s2.OpenedClean(), s2.Get("t", 0).LogEndOffset())
	}
}

// TestFsyncErrorIsSticky: after one failed fsync the log refuses appends,
// reads and flushes with that error, even though the next fsync would
// succeed; its recovery point stays; another log of the store is not
// affected.
func TestFsyncErrorIsSticky(t *testing.T) {
	dir := t.TempDir()
	rule := errorfs.OnIndex(1, errorfs.Under(filepath.Join(dir, "bad-0"), errorfs.Under("*"+logSuffix, errorfs.Kinds(errorfs.OpSync))), syscall.EIO)
	s, err := openFaultStore(t, dir, errorfs.Wrap(vfs.Default, rule))
	if err != nil {
		t.Fatal(err)
	}
	bad, _ := s.Create("bad", 0, [16]byte{}, testConfig())
	good, _ := s.Create("good", 0, [16]byte{}, testConfig())
	for _, l := range []*Log{bad, good} {
		mustAppend(t, l, batch(2, 50, 1))
	}
	if err := bad.Flush(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("flush: %v, want EIO", err)
	}
	f := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.EIO) {
			t.Errorf("%s after a failed fsync: %v, want the stored EIO", what, err)
		}
	}
	f("flush", bad.Flush())
	_, err = bad.Append(batch(1, 10, 1))
	f("append", err)
	_, err = bad.Read(0, 1<<20, true)
	f("read", err)
	f("Offline", bad.Offline())
	if rp := bad.recoveryPointOf(); rp != 0 {
		t.Errorf("recovery point %d after a failed fsync, want 0", rp)
	}
	mustAppend(t, good, batch(2, 50, 1))
	if err := good.Flush(); err != nil || good.recoveryPointOf() != 4 || good.Offline() != nil {
		t.Errorf("other log: flush %v, recovery point %d, offline %v", err, good.recoveryPointOf(), good.Offline())
	}
	if off := s.OfflineLogs(); len(off) != 1 || off[0] != bad {
		t.Errorf("OfflineLogs: %v, want bad-0 alone", off)
	}
	if err := s.Close(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("close: %v, want the stored EIO", err)
	}
	s2, err := openFaultStore(t, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := s2.Get("bad", 0).LogEndOffset(); got != 2 {
		t.Fatalf("bad-0 reopened with end %d, want 2", got)
	}
	mustAppend(t, s2.Get("bad", 0), batch(1, 10, 1))
}

// faultLogs are the logs of the fault walk: one with retention, one
// compacted, one fsync'd on every append (FlushAlways).
var faultLogs = []struct {
	name string
	cfg  func() Config
}{
	{"del", func() Config {
		c := faultConfig()
		c.RetentionBytes, c.RetentionMs = 1400, -1
		return c
	}},
	{"cmp", func() Config {
		c := faultConfig()
		c.CleanupPolicy, c.MinCleanableDirtyRatio, c.DeleteRetentionMs = "compact", 0, 1000
		return c
	}},
	{"sync", func() Config {
		c := faultConfig()
		c.Flush = FlushAlways
		return c
	}},
}

// faultRun is what a run of the workload acknowledged and saw.
type faultRun struct {
	acked    map[string]map[int64]kv // partition → offset → record
	failed   map[string]map[kv]bool  // partition → records of failed appends
	affected map[string]error        // partitions whose operations failed
}

// faultWorkload creates the logs, then (with arm called, so faults count
// from here) appends until each rolled a few times, applies retention,
// cleans the compacted log, appends again and closes the store.
func faultWorkload(t *testing.T, dir string, fsys vfs.FS, arm func()) faultRun {
	t.Helper()
	run := faultRun{acked: map[string]map[int64]kv{}, failed: map[string]map[kv]bool{}, affected: map[string]error{}}
	s, err := openFaultStore(t, dir, fsys)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	logs := map[string]*Log{}
	for _, fl := range faultLogs {
		if logs[fl.name], err = s.Create(fl.name, 0, [16]byte{1}, fl.cfg()); err != nil {
			t.Fatalf("create: %v", err)
		}
		run.acked[fl.name+"-0"] = map[int64]kv{}
		run.failed[fl.name+"-0"] = map[kv]bool{}
	}
	arm()
	fail := func(name string, err error) {
		if err != nil && run.affected[name+"-0"] == nil {
			run.affected[name+"-0"] = err
		}
	}
	appendAll := func(round int) {
		for _, fl := range faultLogs {
			recs := []kv{{fmt.Sprintf("k%d", round%4), fmt.Sprintf("v%d-%s", round, fl.name), false},
				{fmt.Sprintf("k%d", (round+1)%4), fmt.Sprintf("w%d-%s", round, fl.name), false}}
			res, err := logs[fl.name].Append(kvBatch(0, 1_700_000_000_000+int64(round), recs))
			if err != nil && !errors.Is(err, ErrStorage) {
				t.Fatalf("append to %s: %v, want ErrStorage or nil", fl.name, err)
			}
			fail(fl.name, err)
			for i, r := range recs {
				if err == nil {
					run.acked[fl.name+"-0"][res.BaseOffset+int64(i)] = r
				} else {
					run.failed[fl.name+"-0"][r] = true
				}
			}
		}
	}
	for round := range 10 {
		appendAll(round)
	}
	_, err = logs["del"].ApplyRetention(s.cfg.Now())
	fail("del", err)
	if _, err := s.Clean(logs["cmp"]); err != nil {
		fail("cmp", logs["cmp"].Offline()) // a failed cleaning may leave the log online
	}
	for round := 10; round < 13; round++ {
		appendAll(round)
	}
	for name, l := range logs {
		fail(name, l.Offline())
	}
	s.Close() // may fail: checked by what the next open finds
	return run
}

// checkAfterFault reopens dir with the real filesystem (with fsyncs skipped:
// there was no power loss) and checks that the
// store opens, every acknowledged record is there (from the log start;
// for the compacted log, each key's latest), nothing else is but records
// of failed appends (written, then not undone because the undo failed too,
// say on a read-only disk: the client was told it failed, and a retry may
// duplicate it, as with Kafka), and the directories are consistent.
func checkAfterFault(t *testing.T, dir string, run faultRun) {
	t.Helper()
	s, err := openFaultStore(t, dir, errorfs.Wrap(vfs.Default, nil).SkipSyncs())
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	for tp, acked := range run.acked {
		name := strings.TrimSuffix(tp, "-0")
		l := s.Get(name, 0)
		got := map[int64]rec{}
		for _, r := range readRecords(t, l, l.LogStartOffset()) {
			got[r.off] = r
			if run.failed[tp][kv{r.key, r.value, false}] {
				continue
			}
			if a, ok := acked[r.off]; !ok || a.key != r.key || a.value != r.value {
				t.Errorf("%s: offset %d holds %q=%q, acknowledged %+v (%v)", tp, r.off, r.key, r.value, a, ok)
			}
		}
		latest := map[string]int64{}
		for off, a := range acked {
			if off >= l.LogStartOffset() {
				latest[a.key] = max(latest[a.key], off)
			}
		}
		for off, a := range acked {
			if off < l.LogStartOffset() || (name == "cmp" && latest[a.key] != off) {
				continue
			}
			if _, ok := got[off]; !ok {
				t.Errorf("%s: acknowledged offset %d (%q=%q) lost (log [%d, %d))", tp, off, a.key, a.value,
					l.LogStartOffset(), l.LogEndOffset())
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Errorf("close after reopening: %v", err)
	}
	for _, fl := range faultLogs {
		if fl.name == "cmp" {
			verifyCompactedDir(t, filepath.Join(dir, fl.name+"-0"))
		} else {
			verifyDir(t, filepath.Join(dir, fl.name+"-0"))
		}
	}
}

// faultedPartition is the partition directory op is in ("" for the data
// directory's own files).
func faultedPartition(dir string, op errorfs.Op) string {
	rel, err := filepath.Rel(dir, op.Path)
	if err != nil || rel == "." {
		return ""
	}
	first := strings.SplitN(rel, string(os.PathSeparator), 2)[0]
	if fi, err := os.Stat(filepath.Join(dir, first)); err != nil || !fi.IsDir() {
		return ""
	}
	return first
}

// walkFault fails the k-th mutating call with one of four faults: EIO once;
// ENOSPC or EROFS from then on for the writes (all mutating calls, for
// EROFS) in the same partition directory, as a full or read-only disk under
// that partition would; or a short write (EIO when the call is no write).
type walkFault struct {
	dir  string
	k    int
	kind string
	on   atomic.Bool // counting starts once armed

	mu  sync.Mutex
	n   int
	hit *errorfs.Op
	tp  string // partition of the hit
}

var walkKinds = []string{"eio", "enospc", "short", "erofs"}

func (w *walkFault) Inject(op errorfs.Op) error {
	if !w.on.Load() {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n++
	switch {
	case w.n == w.k:
		w.hit, w.tp = &op, faultedPartition(w.dir, op)
		switch w.kind {
		case "enospc":
			return syscall.ENOSPC
		case "erofs":
			return syscall.EROFS
		case "short":
			if op.Kind == errorfs.OpWrite {
				return errorfs.ErrShortWrite
			}
		}
		return syscall.EIO
	case w.n < w.k || w.tp == "" || faultedPartition(w.dir, op) != w.tp:
		return nil
	case w.kind == "erofs":
		return syscall.EROFS
	case w.kind == "enospc" && (op.Kind == errorfs.OpWrite || op.Kind == errorfs.OpCreate):
		return syscall.ENOSPC
	}
	return nil
}

// TestFaultAtEveryWriteAndFsync walks every mutating call (write, fsync,
// truncate, rename, remove, create) of a produce → roll → retention →
// compaction → shutdown run, failing each in turn (EIO, ENOSPC, a short
// write or EROFS, by turns), then reopens with the real filesystem:
// nothing acknowledged is lost, nothing never appended appears, the store
// opens, and no partition but the one whose file failed saw an error.
// With -short it fails every third call.
func TestFaultAtEveryWriteAndFsync(t *testing.T) {
	root := t.TempDir()
	counter := errorfs.Wrap(vfs.Default, nil).SkipSyncs()
	faultWorkload(t, filepath.Join(root, "count"), counter, counter.Reset)
	n := len(counter.Ops())
	t.Logf("%d mutating calls in the run", n)
	if n < 50 {
		t.Fatalf("only %d calls: the run did not roll, clean and close", n)
	}
	step := 1
	if testing.Short() {
		step = 3
	}
	for k := 1; k <= n+5; k += step { // a few more: background flushes may vary the count
		dir := filepath.Join(root, fmt.Sprint(k))
		w := &walkFault{dir: dir, k: k, kind: walkKinds[k%len(walkKinds)]}
		run := faultWorkload(t, dir, errorfs.Wrap(vfs.Default, w).SkipSyncs(), func() { w.on.Store(true) })
		w.mu.Lock()
		hit, faulted := w.hit, w.tp
		w.mu.Unlock()
		for tp, err := range run.affected {
			if hit == nil || tp != faulted {
				t.Errorf("k=%d %s (%v): partition %s failed: %v", k, w.kind, hit, tp, err)
			}
		}
		checkAfterFault(t, dir, run)
		if t.Failed() {
			t.Fatalf("k=%d: %s at %v", k, w.kind, hit)
		}
		os.RemoveAll(dir)
	}
}

// TestEpochCheckpointWrittenOutsideMu: the leader-epoch checkpoint that a
// log's first append records is not written by the append but by the
// log's flush, without the log's mu held, so readers of the offsets are
// not stalled by a slow disk.
func TestEpochCheckpointWrittenOutsideMu(t *testing.T) {
	dir := t.TempDir()
	inSync, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var flushing atomic.Bool
	fs := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind == errorfs.OpRename && strings.Contains(op.Path, leaderEpochFile) {
			if !flushing.Load() {
				t.Errorf("the checkpoint was written before the flush: %v", op)
			}
			once.Do(func() { close(inSync); <-release })
		}
		return nil
	}))
	s, err := openFaultStore(t, dir, fs)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l, err := s.Create("t", 0, [16]byte{}, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, batch(1, 10, 1))
	if exists(filepath.Join(l.Dir(), leaderEpochFile)) {
		t.Fatal("the first append wrote the leader-epoch checkpoint")
	}
	flushing.Store(true)
	flushed := make(chan error, 1)
	go func() { flushed <- l.Flush() }()
	<-inSync
	read := make(chan int64, 1)
	go func() { read <- l.HighWatermark() + l.LogEndOffset() + int64(l.LeaderEpoch()) }()
	select {
	case got := <-read:
		if got != 2 {
			t.Errorf("offsets and epoch %d, want 2", got)
		}
	case <-time.After(10 * time.Second):
		t.Error("a reader of the offsets waited for the epoch checkpoint's write")
	}
	close(release)
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	if ep, err := loadEpochCache(vfs.Default, l.Dir()); err != nil || len(ep.entries) != 1 {
		t.Fatalf("checkpoint after the flush: %v, %v", ep, err)
	}
}

// TestDeleteDoesNotFsync: deleting a log does not fsync data that is about
// to be removed.
func TestDeleteDoesNotFsync(t *testing.T) {
	fs := errorfs.Wrap(vfs.Default, nil)
	s, err := openFaultStore(t, t.TempDir(), fs)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l, _ := s.Create("gone", 0, [16]byte{}, testConfig())
	mustAppend(t, l, batch(3, 50, 1))
	fs.Reset()
	if err := s.Delete("gone", 0); err != nil {
		t.Fatal(err)
	}
	if n := syncsOf(fs.Ops(), logSuffix)["gone-0"]; n != 0 {
		t.Fatalf("%d fsyncs of the deleted log's .log", n)
	}
}

// TestErrorClassesStayApart: an I/O error and corruption found on disk both
// match ErrStorage, and only the one matches its cause; a client's corrupt
// batch matches neither ErrStorage nor ErrCorruption.
func TestErrorClassesStayApart(t *testing.T) {
	dir := t.TempDir()
	rule := errorfs.OnIndex(1, errorfs.Under("*"+logSuffix, errorfs.Kinds(errorfs.OpWrite)), syscall.EIO)
	s, err := openFaultStore(t, dir, errorfs.Wrap(vfs.Default, rule))
	if err != nil {
		t.Fatal(err)
	}
	io, _ := s.Create("io", 0, [16]byte{}, testConfig())
	_, err = io.Append(batch(1, 10, 1))
	if !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.EIO) || errors.Is(err, ErrCorruption) {
		t.Errorf("failed write: %v; want ErrStorage and EIO, not ErrCorruption", err)
	}
	good, _ := s.Create("good", 0, [16]byte{}, testConfig())
	bad := batch(1, 10, 1)
	bad[len(bad)-1] ^= 0xff
	_, err = good.Append(bad)
	if !errors.Is(err, ErrCorruptMessage) || errors.Is(err, ErrStorage) || errors.Is(err, ErrCorruption) {
		t.Errorf("client's corrupt batch: %v; want ErrCorruptMessage only", err)
	}

	// Corruption on disk: a batch of an inactive segment of a compacted log
	// gets a bad magic byte, then a cleaning reads it.
	cfg := faultConfig()
	cfg.CleanupPolicy, cfg.MinCleanableDirtyRatio = "compact", 0
	cmp, _ := s.Create("cmp", 0, [16]byte{}, cfg)
	for i := 0; cmp.Segments() < 3; i++ {
		mustAppend(t, cmp, kvBatch(0, 1_700_000_000_000, []kv{{fmt.Sprint("k", i), "value", false}}))
	}
	f, err := os.OpenFile(filepath.Join(dir, "cmp-0", fmt.Sprintf("%020d%s", 0, logSuffix)), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{7}, 16) // magic
	f.Close()
	_, err = s.Clean(cmp)
	if !errors.Is(err, ErrStorage) || !errors.Is(err, ErrCorruption) || errors.Is(err, syscall.EIO) {
		t.Errorf("cleaning a corrupt segment: %v; want ErrStorage and ErrCorruption, not EIO", err)
	}
	crashStore(s)
}
