package mmapindex

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

const base = 1000

func openOffset(t testing.TB, path string, maxBytes int) *OffsetIndex {
	t.Helper()
	x, err := OpenOffsetIndex(path, base, maxBytes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

func openTime(t testing.TB, path string, maxBytes int) *TimeIndex {
	t.Helper()
	x, err := OpenTimeIndex(path, base, maxBytes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

type offsetEntry struct {
	off int64
	pos uint32
}

// randomOffsets returns n entries with increasing offsets and positions.
func randomOffsets(rng *rand.Rand, n int) []offsetEntry {
	out := make([]offsetEntry, n)
	off, pos := int64(base), uint32(0)
	for i := range out {
		off += 1 + rng.Int64N(50)
		pos += 1 + uint32(rng.IntN(9000))
		out[i] = offsetEntry{off, pos}
	}
	return out
}

// modelLookup is the linear-search answer.
func modelLookup(entries []offsetEntry, target int64) offsetEntry {
	got := offsetEntry{base, 0}
	for _, e := range entries {
		if e.off <= target {
			got = e
		}
	}
	return got
}

func checkOffsetIndex(t *testing.T, x *OffsetIndex, entries []offsetEntry, rng *rand.Rand) {
	t.Helper()
	if x.Entries() != len(entries) {
		t.Fatalf("%d entries, want %d", x.Entries(), len(entries))
	}
	for i, e := range entries {
		if off, pos := x.Entry(i); off != e.off || pos != e.pos {
			t.Fatalf("entry %d = (%d, %d), want %v", i, off, pos, e)
		}
	}
	maxOff := int64(base + 10)
	if len(entries) > 0 {
		maxOff = entries[len(entries)-1].off + 10
	}
	for range 500 {
		target := base - 5 + rng.Int64N(maxOff-base+10)
		want := modelLookup(entries, target)
		if off, pos := x.Lookup(target); off != want.off || pos != want.pos {
			t.Fatalf("Lookup(%d) = (%d, %d), want %v", target, off, pos, want)
		}
		p := uint32(rng.IntN(int(maxOff) * 100))
		wantP := offsetEntry{base, 0}
		for _, e := range entries {
			if e.pos <= p {
				wantP = e
			}
		}
		if off, pos := x.LookupPosition(p); off != wantP.off || pos != wantP.pos {
			t.Fatalf("LookupPosition(%d) = (%d, %d), want %v", p, off, pos, wantP)
		}
	}
}

func TestOffsetIndexAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	f := func(n, maxEntries int) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "00000000000000001000.index")
		x := openOffset(t, path, maxEntries*OffsetEntrySize+3) // rounded down
		entries := randomOffsets(rng, n)
		for _, e := range entries {
			if err := x.Append(e.off, e.pos); err != nil {
				t.Fatal(err)
			}
		}
		checkOffsetIndex(t, x, entries, rng)
		if st, _ := os.Stat(path); st.Size() != int64(maxEntries*OffsetEntrySize) {
			t.Fatalf("preallocated %d bytes, want %d", st.Size(), maxEntries*OffsetEntrySize)
		}
		if err := x.Close(); err != nil {
			t.Fatal(err)
		}
		if err := x.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if st, _ := os.Stat(path); st.Size() != int64(n*OffsetEntrySize) {
			t.Fatalf("closed at %d bytes, want %d", st.Size(), n*OffsetEntrySize)
		}
		// Reopen both ways: the same entries.
		checkOffsetIndex(t, openOffset(t, path, 0), entries, rng)
		y := openOffset(t, path, maxEntries*OffsetEntrySize)
		checkOffsetIndex(t, y, entries, rng)
		if n < maxEntries {
			more := randomOffsets(rng, 1)[0]
			more.off += entries[len(entries)-1].off
			more.pos += entries[len(entries)-1].pos
			if err := y.Append(more.off, more.pos); err != nil {
				t.Fatalf("Append after reopen: %v", err)
			}
		}
	}
	f(1, 10)
	f(7, 10)
	f(10, 10)
	f(1000, 4096)
}

func TestOffsetIndexErrors(t *testing.T) {
	x := openOffset(t, filepath.Join(t.TempDir(), "a.index"), 3*OffsetEntrySize)
	f := func(off int64, pos uint32, want error) {
		t.Helper()
		if err := x.Append(off, pos); !errors.Is(err, want) {
			t.Fatalf("Append(%d, %d) = %v, want %v", off, pos, err, want)
		}
	}
	f(base-1, 0, ErrOrder)
	f(base+1<<32, 0, ErrOrder)
	f(base+10, 100, nil)
	f(base+10, 200, ErrOrder)
	f(base+9, 200, ErrOrder)
	f(base+11, 99, ErrOrder)
	f(base+11, 100, nil)
	if x.IsFull() {
		t.Fatal("full with one slot left")
	}
	f(base+12, 300, nil)
	if !x.IsFull() {
		t.Fatal("not full")
	}
	f(base+13, 400, ErrFull)
	if err := x.Trim(); err != nil {
		t.Fatal(err)
	}
	f(base+13, 400, ErrFull) // read-only after Trim
	if off, pos := x.Lookup(base + 100); off != base+12 || pos != 300 {
		t.Fatalf("Lookup after Trim = (%d, %d)", off, pos)
	}
	if _, err := OpenOffsetIndex(filepath.Join(t.TempDir(), "b.index"), base, 7); err == nil {
		t.Fatal("maxBytes below one entry accepted")
	}
	if _, err := OpenOffsetIndex(filepath.Join(t.TempDir(), "missing.index"), base, 0); err == nil {
		t.Fatal("read-only open of a missing file succeeded")
	}
}

func TestOffsetIndexCrash(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	f := func(entries, want []offsetEntry) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "c.index")
		x, err := OpenOffsetIndex(path, base, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if err := x.Append(e.off, e.pos); err != nil {
				t.Fatal(err)
			}
		}
		// Crash: no Close. The mapping's pages are in the page cache, as
		// after a process kill; the file keeps its preallocated size.
		if err := x.Sync(); err != nil {
			t.Fatal(err)
		}
		crashed := x
		t.Cleanup(func() { crashed.Close() })
		if st, _ := os.Stat(path); st.Size() != 1<<20 {
			t.Fatalf("file size %d", st.Size())
		}
		checkOffsetIndex(t, openOffset(t, path, 1<<20), want, rng)
		checkOffsetIndex(t, openOffset(t, path, 0), want, rng)
	}
	f(nil, nil)
	one, many := randomOffsets(rng, 1), randomOffsets(rng, 500)
	f(one, one)
	f(many, many)
	// A lone (0, 0) entry in a preallocated file cannot be told from the
	// zeros after it; losing it is harmless (Lookup answers the same).
	f([]offsetEntry{{base, 0}}, nil)
	two := []offsetEntry{{base, 0}, {base + 3, 4500}}
	f(two, two)
}

func TestOffsetIndexZeroFirstEntryTrimmed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "z.index")
	x := openOffset(t, path, 1024)
	if err := x.Append(base, 0); err != nil {
		t.Fatal(err)
	}
	x.Close()
	if y := openOffset(t, path, 0); y.Entries() != 1 {
		t.Fatalf("a trimmed lone (0, 0) entry: %d entries, want 1", y.Entries())
	}
}

func TestOffsetIndexTruncateTo(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	entries := randomOffsets(rng, 100)
	f := func(trimFirst bool, to int64) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "t.index")
		x := openOffset(t, path, 4096)
		for _, e := range entries {
			x.Append(e.off, e.pos)
		}
		if trimFirst {
			x.Trim()
		}
		x.TruncateTo(to)
		keep := sort.Search(len(entries), func(i int) bool { return entries[i].off >= to })
		checkOffsetIndex(t, x, entries[:keep], rng)
		if err := x.Sync(); err != nil {
			t.Fatal(err)
		}
		// A crash after TruncateTo does not bring the dropped entries back.
		checkOffsetIndex(t, openOffset(t, path, 0), entries[:keep], rng)
		x.Close()
		checkOffsetIndex(t, openOffset(t, path, 0), entries[:keep], rng)
	}
	for _, trim := range []bool{false, true} {
		f(trim, entries[50].off)
		f(trim, entries[50].off+1)
		f(trim, entries[0].off)
		f(trim, base-1)
		f(trim, 1<<62)
	}
	x := openOffset(t, filepath.Join(t.TempDir(), "r.index"), 4096)
	x.Append(base+5, 10)
	x.Reset()
	if x.Entries() != 0 {
		t.Fatal("Reset left entries")
	}
	if err := x.Append(base+1, 0); err != nil {
		t.Fatalf("Append after Reset: %v", err)
	}
}

func TestReadOnlyEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "e.index")
	os.WriteFile(path, nil, 0o644)
	x := openOffset(t, path, 0)
	if x.Entries() != 0 || !x.IsFull() {
		t.Fatal("empty file has entries or room")
	}
	if off, pos := x.Lookup(base + 5); off != base || pos != 0 {
		t.Fatalf("Lookup = (%d, %d)", off, pos)
	}
	if err := x.Append(base+1, 1); !errors.Is(err, ErrFull) {
		t.Fatalf("Append to a read-only index = %v", err)
	}
	ti := openTime(t, path, 0)
	if ts, off := ti.Last(); ts != -1 || off != base {
		t.Fatalf("Last = (%d, %d)", ts, off)
	}
}

type timeEntry struct{ ts, off int64 }

func TestTimeIndex(t *testing.T) {
	path := filepath.Join(t.TempDir(), "00000000000000001000.timeindex")
	x := openTime(t, path, 100*TimeEntrySize)
	var entries []timeEntry
	rng := rand.New(rand.NewPCG(4, 4))
	ts, off := int64(1_700_000_000_000), int64(base)
	for range 60 {
		ts += rng.Int64N(5) - 1 // sometimes not a new maximum: no entry
		off += 1 + rng.Int64N(10)
		lastTS, _ := x.Last()
		if err := x.Append(ts, off); err != nil {
			t.Fatal(err)
		}
		if ts > lastTS {
			entries = append(entries, timeEntry{ts, off})
		}
	}
	check := func(x *TimeIndex) {
		t.Helper()
		if x.Entries() != len(entries) {
			t.Fatalf("%d entries, want %d", x.Entries(), len(entries))
		}
		for i, e := range entries {
			if ts, off := x.Entry(i); ts != e.ts || off != e.off {
				t.Fatalf("entry %d = (%d, %d), want %v", i, ts, off, e)
			}
		}
		for target := entries[0].ts - 2; target < ts+2; target++ {
			want := timeEntry{-1, base}
			for _, e := range entries {
				if e.ts <= target {
					want = e
				}
			}
			if gts, goff := x.Lookup(target); gts != want.ts || goff != want.off {
				t.Fatalf("Lookup(%d) = (%d, %d), want %v", target, gts, goff, want)
			}
		}
	}
	check(x)
	if err := x.Append(ts+10, off); !errors.Is(err, ErrOrder) {
		t.Fatalf("Append with an old offset = %v", err)
	}
	x.Sync()
	check(openTime(t, path, 100*TimeEntrySize)) // crash: reopen before Close
	x.Close()
	check(openTime(t, path, 0))
	y := openTime(t, path, 100*TimeEntrySize)
	y.TruncateTo(entries[10].off)
	entries = entries[:10]
	ts = entries[9].ts
	check(y)
}

func FuzzOffsetIndexOpen(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 64))
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 2, 0, 0, 0, 7, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "f.index")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, maxBytes := range []int{0, 256} {
			x, err := OpenOffsetIndex(path, base, maxBytes)
			if err != nil {
				t.Fatal(err)
			}
			prevOff, prevPos := int64(-1), uint32(0)
			for i := range x.Entries() {
				off, pos := x.Entry(i)
				if off <= prevOff || pos < prevPos {
					t.Fatalf("entry %d (%d, %d) after (%d, %d)", i, off, pos, prevOff, prevPos)
				}
				prevOff, prevPos = off, pos
				if got, _ := x.Lookup(off); got != off {
					t.Fatalf("Lookup(%d) = %d", off, got)
				}
			}
			x.Lookup(prevOff + 1)
			x.LookupPosition(prevPos)
			x.Append(prevOff+1, prevPos)
			if err := x.Close(); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(path, data, 0o644)
		}
		ti, err := OpenTimeIndex(path, base, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer ti.Close()
		prevTS, prevOff := int64(-1<<63), int64(-1)
		for i := range ti.Entries() {
			ts, off := ti.Entry(i)
			if off <= prevOff || ts < prevTS {
				t.Fatalf("time entry %d (%d, %d) after (%d, %d)", i, ts, off, prevTS, prevOff)
			}
			prevTS, prevOff = ts, off
		}
	})
}

func TestLookupDuringAppend(t *testing.T) {
	x := openOffset(t, filepath.Join(t.TempDir(), "r.index"), 1<<16)
	const n = 5000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= n; i++ {
			if err := x.Append(base+int64(i), uint32(i)*100); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		// Whatever is published is consistent: offset i at position i*100.
		off, pos := x.Lookup(base + n)
		if off != base && int64(pos) != (off-base)*100 {
			t.Fatalf("Lookup saw (%d, %d)", off, pos)
		}
	}
	if off, _ := x.Lookup(base + n); off != base+n {
		t.Fatalf("final Lookup = %d", off)
	}
}

// TestSyncAfterRenameCreatesNothing: an index whose file was renamed away
// (a segment being deleted or swapped out) syncs without error and without
// creating an empty file at its old path.
func TestSyncAfterRenameCreatesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "00000000000000001000.index")
	x := openOffset(t, path, 4096)
	if err := x.Append(base+1, 100); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".deleted"); err != nil {
		t.Fatal(err)
	}
	if err := x.Sync(); err != nil {
		t.Fatalf("sync after the rename: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("%s after a sync of the renamed index: %v", path, err)
	}
}

// TestRenameToThenNewIndexAtOldName: an index renamed through RenameTo
// (a segment renamed for deletion) whose old name a new index takes (a
// segment created again at the same base offset) syncs and closes its
// own file: the new index keeps its preallocated size and takes entries
// through its mapping. Reached by the old name, the close trimmed the new
// file to the old entry count, and the new index's next Append faulted.
func TestRenameToThenNewIndexAtOldName(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "00000000000000001000.index")
	old, err := OpenOffsetIndex(path, base, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.RenameTo(path + ".deleted"); err != nil {
		t.Fatal(err)
	}
	if old.Path() != path+".deleted" {
		t.Fatalf("Path %q after RenameTo", old.Path())
	}
	x := openOffset(t, path, 4096)
	if err := old.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		p    string
		size int64
	}{{path, 4096}, {path + ".deleted", 0}} {
		fi, err := os.Stat(c.p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != c.size {
			t.Fatalf("%s: %d bytes, want %d", c.p, fi.Size(), c.size)
		}
	}
	for i := range 4096 / OffsetEntrySize {
		if err := x.Append(base+int64(i), uint32(i)); err != nil {
			t.Fatal(err)
		}
	}
	// A rename of a file that is gone still moves the index off the old
	// name, which may be another file's now.
	gone, err := OpenOffsetIndex(filepath.Join(dir, "00000000000000002000.index"), base, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(gone.Path()); err != nil {
		t.Fatal(err)
	}
	if err := gone.RenameTo(gone.Path() + ".deleted"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("RenameTo of a removed file: %v", err)
	}
	if err := gone.Close(); err != nil || filepath.Base(gone.Path()) != "00000000000000002000.index.deleted" {
		t.Fatalf("close: %v, path %s", err, gone.Path())
	}
}
