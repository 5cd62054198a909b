package partition

import (
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/vfs"
	"github.com/sluice/sluice/internal/vfs/errorfs"
)

// removalGate is an injector that holds (or fails) the removal of files in
// `-delete` directories.
type removalGate struct {
	mu      sync.Mutex
	hold    chan struct{} // non-nil: a removal waits for it to close
	entered chan struct{} // closed by the first held removal
	fail    string        // a removal under a path containing this fails with EIO
}

func (g *removalGate) Inject(op errorfs.Op) error {
	if op.Kind != errorfs.OpRemove || !strings.Contains(op.Path, deleteDirSuffix) {
		return nil
	}
	g.mu.Lock()
	hold, entered, fail := g.hold, g.entered, g.fail
	if entered != nil {
		g.entered = nil
	}
	g.mu.Unlock()
	if entered != nil {
		close(entered)
	}
	if hold != nil {
		select {
		case <-hold:
		case <-time.After(10 * time.Second):
			// Only a removal run inside DeleteLogs, which the test
			// releases after DeleteLogs returns, waits this long.
			return errors.New("removal held for 10 s: it ran inside DeleteLogs")
		}
	}
	if fail != "" && strings.Contains(op.Path, fail) {
		return syscall.EIO
	}
	return nil
}

func (g *removalGate) set(hold bool, fail string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.hold, g.entered, g.fail = nil, nil, fail
	if hold {
		g.hold, g.entered = make(chan struct{}), make(chan struct{})
	}
}

func deleteLeftovers(t *testing.T, dir, topic string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, topic+"-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestDeletedDirectoriesRemovedInBackground: DeleteLogs returns once the
// directories are renamed, before their files are removed; the background
// removal then removes them. A removal that fails leaves the `-delete`
// directory, which the next start removes; a stop in the middle of one
// leaves the rest of it to the next start too.
func TestDeletedDirectoriesRemovedInBackground(t *testing.T) {
	dir := t.TempDir()
	gate := &removalGate{}
	open := func() *Store { return openStoreOn(t, dir, errorfs.Wrap(vfs.Default, gate), testConfig()) }
	s := open()
	fill := func(topic string, parts int32) {
		t.Helper()
		logs, err := s.CreateLogs(topic, 0, parts, [16]byte{7}, testConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range logs {
			mustAppend(t, l, batch(5, 100, 1))
		}
	}

	// Held removal: DeleteLogs still returns, with the directories renamed.
	fill("a", 3)
	gate.set(true, "")
	entered := gate.entered
	if err := s.DeleteLogs("a", []int32{0, 1, 2}, nil); err != nil {
		t.Fatalf("DeleteLogs: %v", err)
	}
	<-entered // the removal started, and is held
	left := deleteLeftovers(t, dir, "a")
	if len(left) != 3 {
		t.Fatalf("while the removal is held: %v, want the 3 renamed directories", left)
	}
	for _, d := range left {
		if !strings.HasSuffix(d, deleteDirSuffix) {
			t.Fatalf("not renamed for deletion: %s", d)
		}
	}
	if n := s.rm.pending(); n != 3 {
		t.Fatalf("%d pending removals, want 3", n)
	}
	close(gate.hold)
	s.awaitRemovals()
	if left := deleteLeftovers(t, dir, "a"); len(left) != 0 {
		t.Fatalf("left after the removal: %v", left)
	}

	// A failed removal leaves the directory under its `-delete` name.
	fill("b", 2)
	gate.set(false, "b-1.")
	if err := s.DeleteLogs("b", []int32{0, 1}, nil); err != nil {
		t.Fatalf("DeleteLogs: %v", err)
	}
	s.awaitRemovals()
	left = deleteLeftovers(t, dir, "b")
	if len(left) != 1 || !strings.HasPrefix(filepath.Base(left[0]), "b-1.") || !strings.HasSuffix(left[0], deleteDirSuffix) {
		t.Fatalf("after a failed removal: %v, want b-1's -delete directory", left)
	}

	// A stop in the middle of a removal.
	fill("c", 1)
	gate.set(true, "")
	entered = gate.entered
	if err := s.DeleteLogs("c", []int32{0}, nil); err != nil {
		t.Fatalf("DeleteLogs: %v", err)
	}
	<-entered
	closed := make(chan error)
	go func() { closed <- s.Close() }()
	// Close stops the remover; the held removal then finishes its file and
	// the remover stops before the next.
	for {
		select {
		case <-s.stop:
		default:
			time.Sleep(time.Millisecond)
			continue
		}
		break
	}
	close(gate.hold)
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if left := deleteLeftovers(t, dir, "c"); len(left) != 1 {
		t.Fatalf("after a stop mid-removal: %v, want c-0's -delete directory", left)
	}

	// The next start removes both leftovers.
	gate.set(false, "")
	s = open()
	defer s.Close()
	s.awaitRemovals()
	if left := append(deleteLeftovers(t, dir, "b"), deleteLeftovers(t, dir, "c")...); len(left) != 0 {
		t.Fatalf("left after the restart: %v", left)
	}
}
