package partition

import (
	"encoding/binary"
	"os"
	"testing"

	"github.com/sluice/sluice/segment"
	"github.com/sluice/sluice/segment/segmenttest"
)

// txnBatch is a transactional batch of n records from producer pid.
func txnBatch(pid int64, epoch int16, seq int32, n int, transactional bool) []byte {
	b := segmenttest.NewBatch(0, n, 1_700_000_000_000, 20)
	b.ProducerID, b.ProducerEpoch, b.BaseSequence = pid, epoch, seq
	if transactional {
		b.Attributes = segment.AttrTransactional
	}
	return b.Encode()
}

// readBatchBytes reads every batch from offset 0 to the high watermark.
func readBatchBytes(t *testing.T, l *Log) [][]byte {
	t.Helper()
	var out [][]byte
	for off := int64(0); off < l.HighWatermark(); {
		res, err := l.Read(off, 1<<20, true)
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if len(res.Regions) == 0 {
			t.Fatalf("nothing at %d", off)
		}
		for _, r := range res.Regions {
			buf := make([]byte, r.Len)
			if _, err := r.File.ReadAt(buf, r.Off); err != nil {
				t.Fatal(err)
			}
			r.Release()
			segment.Split(buf, func(b []byte, h segment.Header) error {
				out = append(out, append([]byte(nil), b...))
				off = h.LastOffset() + 1
				return nil
			})
		}
	}
	return out
}

// TestAppendMarkerFormat: a marker is Kafka's control batch (isControl and
// isTransactional, no sequence, one record: key version 0 + type, value
// version 0 + coordinator epoch), closes the transaction and moves the LSO.
func TestAppendMarkerFormat(t *testing.T) {
	l, dir := newTestLog(t, testConfig(), newClock())
	mustAppend(t, l, batch(2, 10, 1))
	mustAppend(t, l, txnBatch(7, 3, 0, 3, true))
	if got := l.LastStableOffset(); got != 2 {
		t.Fatalf("LSO with a transaction open from 2 = %d, want 2", got)
	}
	off, err := l.AppendMarker(7, 3, true, 11)
	if err != nil || off != 5 {
		t.Fatalf("AppendMarker = %d, %v; want 5", off, err)
	}
	if got := l.LastStableOffset(); got != 6 {
		t.Fatalf("LSO after the commit = %d, want 6", got)
	}
	bs := readBatchBytes(t, l)
	m := bs[len(bs)-1]
	h, err := segment.Validate(m)
	if err != nil {
		t.Fatal(err)
	}
	if h.Attributes != segment.AttrControl|segment.AttrTransactional || h.ProducerID != 7 || h.ProducerEpoch != 3 ||
		h.BaseSequence != -1 || h.NumRecords != 1 || h.BaseOffset != 5 {
		t.Fatalf("marker header %+v", h)
	}
	var key, value []byte
	segment.Records(m, func(r segment.Record) bool {
		key, value = append(key, r.Key...), append(value, r.Value...)
		return false
	})
	if want := []byte{0, 0, 0, 1}; string(key) != string(want) {
		t.Fatalf("key %x, want %x", key, want)
	}
	if want := []byte{0, 0, 0, 0, 0, 11}; string(value) != string(want) {
		t.Fatalf("value %x, want %x", value, want)
	}
	if _, err := os.Stat(fileName(dir, 0, txnIndexSuffix)); !os.IsNotExist(err) {
		t.Fatalf("a commit wrote a .txnindex: %v", err)
	}

	// An abort: one .txnindex entry, in Kafka's 34-byte layout.
	mustAppend(t, l, txnBatch(7, 3, 3, 2, true))
	off, err = l.AppendMarker(7, 3, false, 11)
	if err != nil || off != 8 {
		t.Fatalf("AppendMarker = %d, %v", off, err)
	}
	b, err := os.ReadFile(fileName(dir, 0, txnIndexSuffix))
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0, 0}
	for _, v := range []int64{7, 6, 8, 9} {
		want = binary.BigEndian.AppendUint64(want, uint64(v))
	}
	if string(b) != string(want) {
		t.Fatalf(".txnindex\n got %x\nwant %x", b, want)
	}
}

// TestMarkerFencing: Kafka's marker checks and transaction-state checks.
func TestMarkerFencing(t *testing.T) {
	l, _ := newTestLog(t, testConfig(), newClock())
	mustAppend(t, l, txnBatch(1, 5, 0, 1, true))
	// A plain batch while the transaction is open.
	_, err := l.Append(txnBatch(1, 5, 1, 1, false))
	wantErr(t, err, ErrInvalidTxnState)
	_, err = l.AppendMarker(1, 4, true, 0)
	wantErr(t, err, ErrInvalidProducerEpoch)
	if _, err := l.AppendMarker(1, 5, false, 3); err != nil {
		t.Fatal(err)
	}
	_, err = l.AppendMarker(1, 5, false, 2)
	wantErr(t, err, ErrTransactionCoordinatorFenced)
	// A control batch from a producer is refused.
	_, err = l.Append(segment.EncodeMarker(1, 5, true, 3, 1))
	wantErr(t, err, ErrInvalidRecord)
	// The transaction is closed: a plain batch goes in.
	mustAppend(t, l, txnBatch(1, 5, 1, 1, false))
}
