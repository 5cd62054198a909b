package segment

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/sluice/sluice/internal/vfs"
	"github.com/sluice/sluice/internal/vfs/errorfs"
)

// TestCreateLazy: a lazy File creates nothing until its first append; its
// first Sync after that fsyncs the file and its directory, later Syncs
// only the file; a never-written one syncs and closes without a file.
func TestCreateLazy(t *testing.T) {
	dir := t.TempDir()
	fs := errorfs.Wrap(vfs.Default, nil)
	path := filepath.Join(dir, "00000000000000000000.log")
	f := CreateLazyFS(fs, path)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if f.Size() != 0 || f.IsOpen() {
		t.Fatalf("size %d, open %v before the first append", f.Size(), f.IsOpen())
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file exists before the first append: %v", err)
	}
	if ops := fs.Ops(); len(ops) != 0 {
		t.Fatalf("ops before the first append: %v", ops)
	}
	b := testBatch(0, 3)
	if pos, err := f.Append([][]byte{b}); err != nil || pos != 0 {
		t.Fatalf("append: pos %d, %v", pos, err)
	}
	for i := range 2 {
		fs.Reset()
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		want := []errorfs.Op{{Kind: errorfs.OpSync, Path: path}}
		if i == 0 {
			want = append(want, errorfs.Op{Kind: errorfs.OpSyncDir, Path: dir})
		}
		if got := fs.Ops(); !equalOps(got, want) {
			t.Fatalf("sync %d: ops %v, want %v", i, got, want)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	g, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if g.Size() != int64(len(b)) {
		t.Fatalf("reopened size %d, want %d", g.Size(), len(b))
	}

	never := CreateLazyFS(fs, filepath.Join(dir, "00000000000000000100.log"))
	if err := never.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := never.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(never.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a never-written lazy file was created: %v", err)
	}
}

// TestCreateLazyDirSyncFails: a failed fsync of the new file's directory is
// returned, and the next Sync tries the directory again.
func TestCreateLazyDirSyncFails(t *testing.T) {
	dir := t.TempDir()
	fail := true
	fs := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind == errorfs.OpSyncDir && fail {
			return syscall.EIO
		}
		return nil
	}))
	f := CreateLazyFS(fs, filepath.Join(dir, "00000000000000000000.log"))
	defer f.Close()
	if _, err := f.Append([][]byte{testBatch(0, 1)}); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("sync with a failing directory fsync: %v, want EIO", err)
	}
	fail = false
	fs.Reset()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if n := len(fs.Ops()); n != 2 {
		t.Fatalf("retry: ops %v, want the file's and the directory's fsync", fs.Ops())
	}
}

func equalOps(a, b []errorfs.Op) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// testDir is a Dir that records its calls and makes the directory.
type testDir struct {
	path         string
	makes, syncs int
	makeErr      error
}

func (d *testDir) Make() error {
	d.makes++
	if d.makeErr != nil {
		return d.makeErr
	}
	return os.MkdirAll(d.path, 0o755)
}

func (d *testDir) Sync() error { d.syncs++; return nil }

// TestCreateLazyInDir: a lazy File in a directory that does not exist yet
// makes the directory before creating itself (a failure leaves it absent
// and is retried by the next use), and its first Sync after that is the
// Dir's, not a plain fsync of the directory.
func TestCreateLazyInDir(t *testing.T) {
	d := &testDir{path: filepath.Join(t.TempDir(), "t-0"), makeErr: syscall.ENOSPC}
	fs := errorfs.Wrap(vfs.Default, nil)
	path := filepath.Join(d.path, "00000000000000000000.log")
	f := CreateLazyInFS(fs, path, d)
	defer f.Close()
	if err := f.Sync(); err != nil || d.makes != 0 || d.syncs != 0 {
		t.Fatalf("sync before the first append: %v, makes %d, syncs %d", err, d.makes, d.syncs)
	}
	if _, err := f.Append([][]byte{testBatch(0, 1)}); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append with a failing Make: %v, want ENOSPC", err)
	}
	if _, err := os.Stat(d.path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("directory after a failed Make: %v", err)
	}
	d.makeErr = nil
	b := testBatch(0, 2)
	if pos, err := f.Append([][]byte{b}); err != nil || pos != 0 {
		t.Fatalf("append: pos %d, %v", pos, err)
	}
	if d.makes != 2 {
		t.Fatalf("makes %d, want 2 (the failed one and the retry)", d.makes)
	}
	fs.Reset()
	for range 2 {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if d.syncs != 1 {
		t.Fatalf("Dir syncs %d, want 1 (the first Sync after the creation)", d.syncs)
	}
	for _, op := range fs.Ops() {
		if op.Kind == errorfs.OpSyncDir {
			t.Fatalf("the File fsync'd its directory itself: %v", fs.Ops())
		}
	}
	if st, err := os.Stat(path); err != nil || st.Size() != int64(len(b)) {
		t.Fatalf("file: %v, %v", st, err)
	}
}
