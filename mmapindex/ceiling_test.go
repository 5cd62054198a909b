package mmapindex

import (
	"math/rand/v2"
	"path/filepath"
	"testing"
)

// Ceiling agrees with a linear search over the entries.
func TestCeilingMatchesModel(t *testing.T) {
	const base = 1000
	x, err := OpenOffsetIndex(filepath.Join(t.TempDir(), "a.index"), base, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if _, _, ok := x.Ceiling(base); ok {
		t.Fatal("Ceiling on an empty index found an entry")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var offs []int64
	off, pos := int64(base), uint32(0)
	for i := 0; i < 500; i++ {
		off += 1 + rng.Int64N(50)
		pos += 1 + uint32(rng.IntN(5000))
		if err := x.Append(off, pos); err != nil {
			t.Fatal(err)
		}
		offs = append(offs, off)
	}
	for target := int64(base - 5); target < off+5; target++ {
		want := -1
		for i, o := range offs {
			if o >= target {
				want = i
				break
			}
		}
		got, gpos, ok := x.Ceiling(target)
		if (want < 0) == ok {
			t.Fatalf("Ceiling(%d) ok=%v, want entry %d", target, ok, want)
		}
		if ok {
			if wo, wp := x.Entry(want); got != wo || gpos != wp {
				t.Fatalf("Ceiling(%d) = (%d, %d), want (%d, %d)", target, got, gpos, wo, wp)
			}
		}
	}
}
