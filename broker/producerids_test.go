package broker

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// With a controller, ids come from its blocks, skipping those below the
// floor the file left by a single-node directory; a failed reservation
// is returned and the next call tries again; concurrent callers never
// get the same id.
func TestProducerIDsFromController(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, producerIDBlockFile), binary.BigEndian.AppendUint64(nil, 1500), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := openProducerIDs(dir, 1000)
	if err != nil {
		t.Fatal(err)
	}
	next, fail := int64(0), true
	p.reserve = func() (int64, int64, error) {
		if fail {
			fail = false
			return 0, 0, errNoProducerIDs
		}
		first := next
		next += 1000
		return first, 1000, nil
	}
	if _, err := p.next(); !errors.Is(err, errNoProducerIDs) {
		t.Fatalf("first call: %v, want errNoProducerIDs", err)
	}
	if id, err := p.next(); err != nil || id != 1500 {
		t.Fatalf("first id %d (%v), want 1500: blocks [0,1000) and [1000,2000) start below the floor", id, err)
	}
	var mu sync.Mutex
	seen := map[int64]bool{1500: true}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 300 {
				id, err := p.next()
				mu.Lock()
				if err != nil || seen[id] || id < 1500 {
					t.Errorf("id %d (%v): reused or below the floor", id, err)
				}
				seen[id] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if next != 4000 { // 2,401 ids from 1500: blocks up to [3000,4000)
		t.Fatalf("controller handed out ids up to %d, want 4000", next)
	}
}
