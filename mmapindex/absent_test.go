package mmapindex

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluice/sluice/internal/vfs"
)

// TestAbsentIndex: an index without a file (NewOffsetIndexFS, or
// OpenOffsetIndexLazyFS of a missing file) is empty, creates no file on
// lookups, Sync, TruncateTo, Trim or Close, follows a RenameTo by its path
// alone, and its first Append creates the file, preallocated and mapped,
// at its current path; read-only, it stays empty (ErrFull).
func TestAbsentIndex(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.index")
	noFile := func(when, p string) {
		t.Helper()
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("%s: %s exists (%v)", when, p, err)
		}
	}
	x := NewOffsetIndexFS(nil, p, base, 4096)
	if !x.Absent() || x.Entries() != 0 || x.IsFull() {
		t.Fatalf("new: absent %v, %d entries, full %v", x.Absent(), x.Entries(), x.IsFull())
	}
	if off, pos := x.Lookup(base + 10); off != base || pos != 0 {
		t.Fatalf("Lookup = %d, %d", off, pos)
	}
	if _, _, ok := x.Ceiling(base); ok {
		t.Fatal("Ceiling found an entry in an empty index")
	}
	x.TruncateTo(base)
	if err := x.Sync(); err != nil {
		t.Fatal(err)
	}
	noFile("after lookups, TruncateTo and Sync", p)
	moved := p + ".deleted"
	if err := x.RenameTo(moved); err != nil {
		t.Fatalf("RenameTo of an absent index: %v", err)
	}
	noFile("after RenameTo", moved)
	if err := x.Append(base+3, 100); err != nil {
		t.Fatal(err)
	}
	noFile("after Append (at the old name)", p)
	if fi, err := os.Stat(moved); err != nil || fi.Size() != 4096 {
		t.Fatalf("after Append: %v, want a 4096-byte file at %s", err, moved)
	}
	if x.Absent() || x.Entries() != 1 {
		t.Fatalf("after Append: absent %v, %d entries", x.Absent(), x.Entries())
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	y := openOffset(t, moved, 0)
	if off, pos := y.Entry(0); y.Entries() != 1 || off != base+3 || pos != 100 {
		t.Fatalf("reopened: %d entries, first (%d, %d)", y.Entries(), off, pos)
	}

	// A missing file, opened lazily: writable stays absent until Append.
	q := filepath.Join(dir, "b.timeindex")
	w, err := OpenTimeIndexLazyFS(nil, q, base, 4096)
	if err != nil || !w.Absent() {
		t.Fatalf("lazy writable open of a missing file: absent %v, %v", w != nil && w.Absent(), err)
	}
	if ts, off := w.Last(); ts != -1 || off != base {
		t.Fatalf("Last = %d, %d", ts, off)
	}
	if err := w.Trim(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	noFile("after Trim and Close", q)
	r, err := OpenTimeIndexLazyFS(nil, q, base, 0)
	if err != nil || !r.Absent() {
		t.Fatalf("lazy read-only open of a missing file: %v", err)
	}
	if err := r.Append(5, base); !errors.Is(err, ErrFull) {
		t.Fatalf("Append to a read-only absent index: %v, want ErrFull", err)
	}
	noFile("after a read-only Append", q)
	r.Close()

	// An existing file opened lazily is opened as usual.
	z, err := OpenOffsetIndexLazyFS(vfs.Default, moved, base, 4096)
	if err != nil || z.Absent() || z.Entries() != 1 {
		t.Fatalf("lazy open of an existing file: absent %v, %v", z != nil && z.Absent(), err)
	}
	z.Close()
}
