package partition

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluice/sluice/internal/vfs"
	"github.com/sluice/sluice/internal/vfs/errorfs"
)

func openTestStore(t *testing.T, dir string) *Store {
	t.Helper()
	cfg := testConfig()
	s, err := OpenStore(StoreConfig{Dir: dir, Defaults: cfg, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	return s
}

// openStoreOn opens a store on dir through fsys with defaults cfg and no
// cleaner threads, failing the test if it cannot.
func openStoreOn(t *testing.T, dir string, fsys vfs.FS, cfg Config) *Store {
	t.Helper()
	s, err := OpenStore(StoreConfig{Dir: dir, Defaults: cfg, Logger: quietLogger(), FS: fsys, CleanerThreads: -1})
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	return s
}

func TestStoreCleanRestartReadsNoSegmentData(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	id := [16]byte{1, 2, 3}
	for p := int32(0); p < 3; p++ {
		l, err := s.Create("orders", p, id, testConfig())
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 20; i++ {
			mustAppend(t, l, batch(5, 100, 1))
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, cleanShutdownFile)); err != nil {
		t.Fatalf("no clean-shutdown marker after Close: %v", err)
	}
	s = openTestStore(t, dir)
	defer s.Close()
	if _, err := os.Stat(filepath.Join(dir, cleanShutdownFile)); !os.IsNotExist(err) {
		t.Fatalf("marker still there while running: %v", err)
	}
	logs := s.Logs()
	if len(logs) != 3 {
		t.Fatalf("%d logs after restart", len(logs))
	}
	for _, l := range logs {
		if l.LogEndOffset() != 100 || l.TopicID() != id {
			t.Fatalf("%s-%d: LEO %d id %x", l.Topic(), l.Partition(), l.LogEndOffset(), l.TopicID())
		}
		if n := l.recoveredBytes.Load(); n != 0 {
			t.Fatalf("clean start read %d bytes of segment data", n)
		}
		if got := len(readAll(t, l, 0)); got != 20 {
			t.Fatalf("read %d batches", got)
		}
	}
}

func TestStoreCrashRecovers(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	l, _ := s.Create("t", 0, [16]byte{9}, testConfig())
	for i := 0; i < 30; i++ {
		mustAppend(t, l, batch(2, 100, 1))
	}
	crashStore(s)
	appendRandom(t, lastLogFile(t, l.Dir()), 3000)
	s = openTestStore(t, dir)
	defer s.Close()
	l = s.Get("t", 0)
	if l.LogEndOffset() != 60 {
		t.Fatalf("LEO %d after crash and garbage tail, want 60", l.LogEndOffset())
	}
	if l.recoveredBytes.Load() == 0 {
		t.Fatal("a start without the marker did not recover")
	}
}

// crashStore abandons a store as kill -9 would: no flush, no checkpoint, no
// marker. Only the lock and background loop go, so the test can reopen.
func crashStore(s *Store) {
	close(s.stop)
	s.done.Wait()
	s.waitLogsBackground()
	s.lock.Close()
}

func TestStoreLockRefusesSecondOpen(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	defer s.Close()
	_, err := OpenStore(StoreConfig{Dir: dir, Defaults: testConfig()})
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second open: %v", err)
	}
}

func TestStoreDeleteLog(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	defer s.Close()
	l, _ := s.Create("gone", 0, [16]byte{}, testConfig())
	mustAppend(t, l, batch(1, 10, 1))
	if err := s.Delete("gone", 0); err != nil {
		t.Fatal(err)
	}
	if s.Get("gone", 0) != nil {
		t.Fatal("log still listed")
	}
	s.awaitRemovals() // the renamed directories go in the background
	if m, _ := filepath.Glob(filepath.Join(dir, "gone-0*")); len(m) != 0 {
		t.Fatalf("directory left: %v", m)
	}
}

// TestWriteErrorRollsBack runs in a child process with RLIMIT_FSIZE set, so
// a write fails for real (EFBIG, as ENOSPC would), then checks nothing half
// written is on disk, the log is offline (appends and reads get the stored
// error, even once there is room) until reopened, and after reopening every
// acknowledged batch is there and appends work again.
func TestWriteErrorRollsBack(t *testing.T) {
	if os.Getenv("SLUICE_FSIZE_CHILD") == "1" {
		writeErrorChild(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestWriteErrorRollsBack$", "-test.v")
	cmd.Env = append(os.Environ(), "SLUICE_FSIZE_CHILD=1", "SLUICE_FSIZE_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "write error surfaced") {
		t.Fatalf("child did not reach the write error:\n%s", out)
	}
}

func writeErrorChild(t *testing.T) {
	signal.Ignore(syscall.SIGXFSZ) // make the write fail with EFBIG instead
	dir := filepath.Join(os.Getenv("SLUICE_FSIZE_DIR"), "t-0")
	cfg := testConfig()
	cfg.SegmentIndexBytes = 4096
	l := openTest(t, dir, cfg, true, 0, nil)
	defer l.Close()
	var lim unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_FSIZE, &lim)
	small := unix.Rlimit{Cur: 64 << 10, Max: lim.Max}
	if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &small); err != nil {
		t.Skipf("cannot set RLIMIT_FSIZE: %v", err)
	}
	var acked int64
	var werr error
	for i := 0; i < 200 && werr == nil; i++ {
		res, err := l.Append(batch(1, 1000, 1))
		if err != nil {
			werr = err
			break
		}
		acked = res.LastOffset + 1
	}
	if !errors.Is(werr, ErrStorage) {
		t.Fatalf("write past the limit: %v, want ErrStorage", werr)
	}
	fmt.Println("write error surfaced:", werr)
	if l.LogEndOffset() != acked || l.HighWatermark() != acked {
		t.Fatalf("LEO %d HW %d after failed write, want %d", l.LogEndOffset(), l.HighWatermark(), acked)
	}
	if fi, _ := os.Stat(lastLogFile(t, dir)); fi.Size() != activeSize(l) {
		t.Fatalf("file %d bytes, log %d: half a batch on disk", fi.Size(), activeSize(l))
	}
	if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(batch(1, 1000, 1)); !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("append to an offline log: %v, want the stored ErrStorage wrapping EFBIG", err)
	}
	if _, err := l.Read(0, 1<<20, true); !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("read of an offline log: %v, want the stored error", err)
	}
	if err := l.Close(); !errors.Is(err, ErrStorage) {
		t.Fatalf("close of an offline log: %v, want its error", err)
	}
	l = openTest(t, dir, cfg, false, 0, nil)
	defer l.Close()
	if got := len(readAll(t, l, 0)); int64(got) != acked {
		t.Fatalf("read %d batches after reopening, want %d", got, acked)
	}
	res := mustAppend(t, l, batch(1, 1000, 1))
	if res.BaseOffset != acked {
		t.Fatalf("append after room came back at %d, want %d", res.BaseOffset, acked)
	}
}

// TestStoreLogsFollowChanges: Logs is ordered by topic and partition and
// follows every create and delete, though its order is kept between
// changes (store.logs), at open too; the slice returned is the caller's.
func TestStoreLogsFollowChanges(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	names := func() []string {
		var out []string
		for _, l := range s.Logs() {
			out = append(out, fmt.Sprintf("%s-%d", l.Topic(), l.Partition()))
		}
		return out
	}
	want := func(w ...string) {
		t.Helper()
		if got := names(); !slices.Equal(got, w) {
			t.Fatalf("Logs: %v, want %v", got, w)
		}
	}
	want()
	for _, tp := range []struct {
		topic string
		p     int32
	}{{"b", 1}, {"a", 10}, {"b", 0}, {"a", 2}} {
		if _, err := s.Create(tp.topic, tp.p, [16]byte{1}, testConfig()); err != nil {
			t.Fatal(err)
		}
	}
	want("a-2", "a-10", "b-0", "b-1")
	logs := s.Logs()
	logs[0], logs[3] = logs[3], logs[0] // the caller's copy
	want("a-2", "a-10", "b-0", "b-1")
	if err := s.Delete("a", 10); err != nil {
		t.Fatal(err)
	}
	want("a-2", "b-0", "b-1")
	if _, err := s.CreateLogs("c", 0, 2, [16]byte{2}, testConfig(), nil); err != nil {
		t.Fatal(err)
	}
	want("a-2", "b-0", "b-1", "c-0", "c-1")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTestStore(t, dir)
	defer s.Close()
	want("a-2", "b-0", "b-1", "c-0", "c-1")
}

// TestStoreLoadsLogsConcurrently: an unclean open recovers several logs at
// once. The first recovered log's first write or fsync waits until another
// log's arrives; loading one log after the other, that never comes and the
// first log goes offline.
func TestStoreLoadsLogsConcurrently(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	for p := int32(0); p < 4; p++ {
		l, err := s.Create("c", p, [16]byte{4}, testConfig())
		if err != nil {
			t.Fatal(err)
		}
		mustAppend(t, l, batch(5, 100, 1))
	}
	crashStore(s) // nothing flushed: every log is recovered at the next open

	var mu sync.Mutex
	first := ""
	other := make(chan struct{})
	var otherOnce sync.Once
	inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind != errorfs.OpSync && op.Kind != errorfs.OpCreate {
			return nil
		}
		pdir := filepath.Base(filepath.Dir(op.Path))
		if !strings.HasPrefix(pdir, "c-") {
			return nil
		}
		mu.Lock()
		if first == "" {
			first = pdir
			mu.Unlock()
			select {
			case <-other:
				return nil
			case <-time.After(10 * time.Second):
				return errors.New("no other log was loading while the first waited 10 s")
			}
		}
		waiting := first
		mu.Unlock()
		if pdir != waiting {
			otherOnce.Do(func() { close(other) })
		}
		return nil
	})
	s = openStoreOn(t, dir, errorfs.Wrap(vfs.Default, inj), testConfig())
	defer s.Close()
	if off := s.Offline(); len(off) != 0 {
		t.Fatalf("offline after the open: %+v", off)
	}
	if n := len(s.Logs()); n != 4 {
		t.Fatalf("%d logs, want 4", n)
	}
	for _, l := range s.Logs() {
		if l.LogEndOffset() != 5 {
			t.Fatalf("%s-%d ends at %d, want 5", l.Topic(), l.Partition(), l.LogEndOffset())
		}
	}
}
