package mmapindex

import (
	"math/rand/v2"
	"path/filepath"
	"testing"
)

// BenchmarkLookup: random targets in the index of a full 1 GiB segment (an
// entry every 4 KiB: 262,144 entries), warm.
func BenchmarkLookup(b *testing.B) {
	const entries = 1 << 30 / 4096
	x, err := OpenOffsetIndex(filepath.Join(b.TempDir(), "b.index"), base, entries*OffsetEntrySize)
	if err != nil {
		b.Fatal(err)
	}
	defer x.Close()
	for i := range entries {
		if err := x.Append(base+int64(i)*10, uint32(i)*4096); err != nil {
			b.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	targets := make([]int64, 1<<16)
	for i := range targets {
		targets[i] = base + rng.Int64N(entries*10)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		x.Lookup(targets[i&(len(targets)-1)])
		i++
	}
}
