package partition

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sluice/sluice/segment"
	"github.com/sluice/sluice/segment/segmenttest"
)

// txnKVBatch is a transactional batch of keyed records from pid.
func txnKVBatch(pid int64, seq int32, keys ...string) []byte {
	b := segmenttest.Batch{BaseTimestamp: 1_700_000_000_000, ProducerID: pid, ProducerEpoch: 0, BaseSequence: seq,
		Attributes: segment.AttrTransactional}
	for i, k := range keys {
		b.Records = append(b.Records, segmenttest.Record{TimestampDelta: int64(i), Key: []byte(k), Value: []byte("txn")})
	}
	return b.Encode()
}

// txnIndexEntries is every .txnindex entry in dir, by file.
func txnIndexEntries(t *testing.T, dir string) []TxnIndexEntry {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "*"+txnIndexSuffix))
	var out []TxnIndexEntry
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		es, _, err := DecodeTxnIndex(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, es...)
	}
	return out
}

// TestCleanerTransactions: compaction drops aborted records (which never
// hide an older committed record of their key), keeps markers and moves
// an ABORT marker's .txnindex entry with it while its data was there,
// removes the marker and entry once the data is gone and delete.retention.ms
// has passed, and never cleans at or past the last stable offset.
func TestCleanerTransactions(t *testing.T) {
	clock := newClock()
	cfg := compactConfig()
	cfg.SegmentBytes = 100 // about a batch a segment
	l, dir := newTestLog(t, cfg, clock)
	mustAppend(t, l, kvBatch(0, 1, []kv{{key: "k1", value: "v1"}})) // 0
	mustAppend(t, l, txnKVBatch(1, 0, "k1", "k2"))                  // 1-2
	if _, err := l.AppendMarker(1, 0, false, 0); err != nil {       // 3
		t.Fatal(err)
	}
	mustAppend(t, l, txnKVBatch(2, 0, "k2"))                 // 4
	if _, err := l.AppendMarker(2, 0, true, 0); err != nil { // 5
		t.Fatal(err)
	}
	mustAppend(t, l, kvBatch(0, 1, []kv{{key: "k3", value: "v3"}})) // 6
	mustAppend(t, l, txnKVBatch(3, 0, "k3"))                        // 7, open
	for range 3 {
		mustAppend(t, l, kvBatch(0, 1, []kv{{key: "k4", value: "v4"}})) // 8-10
	}
	if l.LastStableOffset() != 7 {
		t.Fatalf("LSO %d", l.LastStableOffset())
	}
	offsets := func() []int64 {
		var out []int64
		for _, r := range readRecords(t, l, 0) {
			out = append(out, r.off)
		}
		return out
	}
	c := testCleaner(clock)
	mustClean(t, c, l)
	if got, want := offsets(), []int64{0, 3, 4, 5, 6, 7, 8, 9, 10}; !slices.Equal(got, want) {
		t.Fatalf("after the first cleaning: offsets %v, want %v", got, want)
	}
	if kept, _ := readCommitted(t, l, 0); !slices.Equal(kept, []int64{0, 4, 6}) {
		t.Fatalf("read_committed after the first cleaning: %v", kept)
	}
	if es := txnIndexEntries(t, dir); len(es) != 1 || es[0].LastOffset != 3 {
		t.Fatalf(".txnindex after the first cleaning: %+v", es)
	}
	if c := l.CleanerCheckpoint(); c > 7 {
		t.Fatalf("cleaned up to %d, past the LSO 7", c)
	}
	// The open transaction commits; more records come. Past
	// delete.retention.ms the ABORT marker (its data gone) and its entry
	// go; the COMMIT markers stay with their records; k3's plain record is
	// superseded by the committed one, k4's by the last.
	if _, err := l.AppendMarker(3, 0, true, 0); err != nil { // 11
		t.Fatal(err)
	}
	for _, k := range []string{"f1", "f2", "f3"} { // 12-14
		mustAppend(t, l, kvBatch(0, 1, []kv{{key: k, value: "f"}}))
	}
	clock.advance(2 * time.Second)
	mustClean(t, c, l)
	if got, want := offsets(), []int64{0, 4, 5, 7, 10, 11, 12, 13, 14}; !slices.Equal(got, want) {
		t.Fatalf("after delete.retention.ms: offsets %v, want %v", got, want)
	}
	if es := txnIndexEntries(t, dir); len(es) != 0 {
		t.Fatalf(".txnindex after delete.retention.ms: %+v", es)
	}
	if kept, _ := readCommitted(t, l, 0); !slices.Equal(kept, []int64{0, 4, 7, 10, 12, 13, 14}) {
		t.Fatalf("read_committed at the end: %v", kept)
	}
}
