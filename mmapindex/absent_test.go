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
// lookups, Sync, TruncateTo or Close while empty, follows a RenameTo by
// its path alone; its first memMaxEntries entries are kept in memory
// (lookups find them), the append past them creates the file at its
// current path, preallocated and mapped, with them in it; read-only, it
// stays empty (ErrFull).
func TestAbsentIndex(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.index")
	noFile := func(when, p string) {
		t.Helper()
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("%s: %s exists (%v)", when, p, err)
		}
	}
	x := NewOffsetIndexFS(nil, p, base, 8192)
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
	for i := range memMaxEntries {
		if err := x.Append(base+3+int64(i), uint32(100*i)); err != nil {
			t.Fatal(err)
		}
	}
	x.TruncateTo(base + 3 + memMaxEntries - 1) // one dropped, one appended again
	if err := x.Append(base+3+memMaxEntries-1, 100*(memMaxEntries-1)); err != nil {
		t.Fatal(err)
	}
	if err := x.Sync(); err != nil {
		t.Fatal(err)
	}
	noFile("after memMaxEntries appends and a Sync", moved)
	if off, pos := x.Lookup(base + 3 + 7); !x.Absent() || off != base+3+7 || pos != 700 {
		t.Fatalf("Lookup in memory = %d, %d (absent %v)", off, pos, x.Absent())
	}
	if err := x.Append(base+3+memMaxEntries, 100*memMaxEntries); err != nil {
		t.Fatal(err)
	}
	noFile("after the append past memory (at the old name)", p)
	if fi, err := os.Stat(moved); err != nil || fi.Size() != 8192 {
		t.Fatalf("after the append past memory: %v, want an 8192-byte file at %s", err, moved)
	}
	if x.Absent() || x.Entries() != memMaxEntries+1 {
		t.Fatalf("after the append past memory: absent %v, %d entries", x.Absent(), x.Entries())
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	y := openOffset(t, moved, 0)
	for i := range memMaxEntries + 1 {
		if off, pos := y.Entry(i); off != base+3+int64(i) || pos != uint32(100*i) {
			t.Fatalf("reopened: entry %d is (%d, %d)", i, off, pos)
		}
	}
	if y.Entries() != memMaxEntries+1 {
		t.Fatalf("reopened: %d entries", y.Entries())
	}

	// Trim (a roll) and Close (a shutdown) write the entries in memory
	// to a file of their size; renamed for deletion, Close writes none.
	for _, renamed := range []bool{false, true} {
		p := filepath.Join(dir, "c.index")
		x := NewOffsetIndexFS(nil, p, base, 8192)
		for i := range int64(3) {
			if err := x.Append(base+i, uint32(10*i)); err != nil {
				t.Fatal(err)
			}
		}
		if renamed {
			if err := x.RenameTo(p + ".deleted"); err != nil {
				t.Fatal(err)
			}
			if err := x.Close(); err != nil {
				t.Fatal(err)
			}
			noFile("closed after RenameTo", p+".deleted")
			continue
		}
		if err := x.Trim(); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(p); err != nil || fi.Size() != 3*OffsetEntrySize || x.Absent() {
			t.Fatalf("after Trim: %v (absent %v), want a %d-byte file", err, x.Absent(), 3*OffsetEntrySize)
		}
		if off, pos := x.Lookup(base + 1); off != base+1 || pos != 10 {
			t.Fatalf("after Trim: Lookup = %d, %d", off, pos)
		}
		if err := x.Close(); err != nil {
			t.Fatal(err)
		}
		if z := openOffset(t, p, 0); z.Entries() != 3 {
			t.Fatalf("reopened after Trim: %d entries", z.Entries())
		}
	}
	e := NewOffsetIndexFS(nil, filepath.Join(dir, "e.index"), base, 8192)
	if err := e.Trim(); err != nil {
		t.Fatal(err)
	}
	e.Close()
	noFile("empty, trimmed and closed", filepath.Join(dir, "e.index"))

	// A missing file, opened lazily: writable stays absent until Append.
	q := filepath.Join(dir, "b.timeindex")
	w, err := OpenTimeIndexLazyFS(nil, q, base, 4096)
	if err == nil {
		defer w.Close()
	}
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
	if err != nil || z.Absent() || z.Entries() != memMaxEntries+1 {
		t.Fatalf("lazy open of an existing file: absent %v, %v", z != nil && z.Absent(), err)
	}
	z.Close()
}
