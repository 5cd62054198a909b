package partition

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/sluice/sluice/segment"
)

// txnModel is what read_committed must return: every data record of a
// plain or committed batch below the LSO; the LSO is the first offset of
// the oldest open transaction, else the log end.
type txnModel struct {
	leo      int64
	open     map[int64]int64   // producer → first offset of its open transaction
	pending  map[int64][]int64 // producer → offsets of its open transaction's records
	visible  map[int64]bool    // data records that read_committed shows once below the LSO
	decided  map[int64]bool    // every offset that is a record of a decided or plain batch
	seq      map[int64]int32
	epoch    int16
	aborts   int
	commits  int
	markers  []int64
	producer []int64
	ops      []string // for failure messages
}

func newTxnModel(producers int) *txnModel {
	m := &txnModel{open: map[int64]int64{}, pending: map[int64][]int64{}, visible: map[int64]bool{},
		decided: map[int64]bool{}, seq: map[int64]int32{}, epoch: 2}
	for p := range producers {
		m.producer = append(m.producer, int64(100+p))
	}
	return m
}

func (m *txnModel) lso() int64 {
	lso := m.leo
	for _, f := range m.open {
		lso = min(lso, f)
	}
	return lso
}

// step applies one random operation to l and the model.
func (m *txnModel) step(t *testing.T, l *Log, r *rand.Rand) {
	t.Helper()
	pid := m.producer[r.IntN(len(m.producer))]
	n := 1 + r.IntN(4)
	switch op := r.IntN(10); {
	case op < 3: // a plain batch
		res := mustAppend(t, l, batch(n, 30, 1))
		for o := res.BaseOffset; o <= res.LastOffset; o++ {
			m.visible[o] = true
		}
		m.leo = res.LastOffset + 1
		m.ops = append(m.ops, fmt.Sprintf("plain %d-%d", res.BaseOffset, res.LastOffset))
	case op < 7: // a transactional batch
		res := mustAppend(t, l, txnBatch(pid, m.epoch, m.seq[pid], n, true))
		m.seq[pid] += int32(n)
		if _, ok := m.open[pid]; !ok {
			m.open[pid] = res.BaseOffset
		}
		for o := res.BaseOffset; o <= res.LastOffset; o++ {
			m.pending[pid] = append(m.pending[pid], o)
		}
		m.leo = res.LastOffset + 1
		m.ops = append(m.ops, fmt.Sprintf("txn p%d %d-%d", pid, res.BaseOffset, res.LastOffset))
	default: // a marker (sometimes for a producer with nothing open)
		commit := r.IntN(2) == 0
		off, err := l.AppendMarker(pid, m.epoch, commit, 1)
		if err != nil {
			t.Fatalf("AppendMarker: %v", err)
		}
		if commit {
			m.commits++
			for _, o := range m.pending[pid] {
				m.visible[o] = true
			}
		} else {
			m.aborts++
		}
		delete(m.open, pid)
		delete(m.pending, pid)
		m.markers = append(m.markers, off)
		m.leo = off + 1
		m.ops = append(m.ops, fmt.Sprintf("marker p%d commit=%v %d", pid, commit, off))
	}
}

// readCommitted reads from offset to the LSO as a Kafka consumer does
// (Fetcher: aborted transactions by first offset, a producer's records
// skipped from its aborted transaction's first offset until its ABORT
// marker) and returns the data records it keeps and the regions' bytes.
func readCommitted(t *testing.T, l *Log, from int64) (kept []int64, lso int64) {
	t.Helper()
	off := from
	for {
		res, err := l.ReadCommitted(off, 1+rand.Int64N(4096), true)
		if err != nil {
			t.Fatalf("ReadCommitted(%d): %v", off, err)
		}
		lso = res.LastStableOffset
		if len(res.Regions) == 0 {
			if off < lso {
				t.Fatalf("ReadCommitted(%d) returned nothing below the LSO %d", off, lso)
			}
			return kept, lso
		}
		aborted := slices.Clone(res.AbortedTransactions)
		sort.Slice(aborted, func(i, j int) bool { return aborted[i].FirstOffset < aborted[j].FirstOffset })
		skipping := map[int64]bool{}
		for _, reg := range res.Regions {
			buf := make([]byte, reg.Len)
			if _, err := reg.File.ReadAt(buf, reg.Off); err != nil {
				t.Fatal(err)
			}
			reg.Release()
			err := segment.Split(buf, func(b []byte, h segment.Header) error {
				if h.LastOffset() >= lso {
					t.Fatalf("batch %d-%d read at or above the LSO %d", h.BaseOffset, h.LastOffset(), lso)
				}
				for len(aborted) > 0 && aborted[0].FirstOffset <= h.LastOffset() {
					skipping[aborted[0].ProducerID] = true
					aborted = aborted[1:]
				}
				off = h.LastOffset() + 1
				if h.Attributes&segment.AttrControl != 0 {
					mk, err := segment.ParseMarker(b)
					if err != nil {
						t.Fatal(err)
					}
					if !mk.Commit() {
						delete(skipping, h.ProducerID)
					}
					return nil
				}
				if h.Attributes&segment.AttrTransactional != 0 && skipping[h.ProducerID] {
					return nil
				}
				for o := max(h.BaseOffset, from); o <= h.LastOffset(); o++ {
					kept = append(kept, o)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
}

// check compares l with the model from a few offsets.
func (m *txnModel) check(t *testing.T, l *Log, r *rand.Rand, what string) {
	t.Helper()
	if got, want := l.LastStableOffset(), m.lso(); got != want {
		t.Fatalf("%s: LSO %d, model %d (open %v)", what, got, want, m.open)
	}
	for _, from := range []int64{0, r.Int64N(m.leo + 1), r.Int64N(m.leo + 1)} {
		kept, lso := readCommitted(t, l, from)
		var want []int64
		for o := from; o < m.lso(); o++ {
			if m.visible[o] {
				want = append(want, o)
			}
		}
		if lso != m.lso() || !slices.Equal(kept, want) {
			t.Fatalf("%s: read_committed from %d (LSO %d): got %v\nwant %v\nops %q", what, from, lso, kept, want, m.ops)
		}
	}
}

// TestTxnModel: random interleavings of plain batches, transactional
// batches and COMMIT/ABORT markers over several producers, appended
// directly to a log that rolls often, read with ReadCommitted as a Kafka
// consumer would and compared with the model; then again after a clean
// reopen and after a crash (reopen without close, recovering everything),
// and appending goes on after each.
func TestTxnModel(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 16))
			cfg := testConfig()
			cfg.SegmentBytes = 600 + int64(r.IntN(1500))
			dir := filepath.Join(t.TempDir(), "t-0")
			m := newTxnModel(1 + int(seed%4))
			l := openTest(t, dir, cfg, true, 0, nil)
			t.Cleanup(func() { l.Close() })
			run := func(what string, steps int) {
				for i := range steps {
					m.step(t, l, r)
					if i%10 == 9 {
						m.check(t, l, r, fmt.Sprintf("%s step %d", what, i))
					}
				}
				m.check(t, l, r, what)
			}
			run("first run", 60+r.IntN(60))
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = openTest(t, dir, cfg, true, l.LogEndOffset(), nil)
			t.Cleanup(func() { l.Close() })
			m.check(t, l, r, "after a clean reopen")
			run("after a clean reopen", 40)
			// Crash: no Close, recovery from scratch.
			crash(l)
			l = openTest(t, dir, cfg, false, -1, nil)
			t.Cleanup(func() { l.Close() })
			m.check(t, l, r, "after a crash")
			run("after a crash", 40)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			verifyDir(t, dir)
			t.Logf("offsets %d, commits %d, aborts %d, segments %d", m.leo, m.commits, m.aborts, countFiles(t, dir, ".log"))
		})
	}
}

func countFiles(t *testing.T, dir, suffix string) int {
	names, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if err != nil {
		t.Fatal(err)
	}
	return len(names)
}
