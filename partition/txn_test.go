package partition

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluice/sluice/internal/vfs"
	"github.com/sluice/sluice/internal/vfs/errorfs"
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
	if st := l.Producers()[1]; st.TxnStartOffset != 0 || st.Epoch != 5 || st.CoordinatorEpoch != -1 {
		t.Fatalf("producer state with a transaction open: %+v", st)
	}
	_, err = l.AppendMarker(1, 4, true, 0)
	wantErr(t, err, ErrInvalidProducerEpoch)
	if _, err := l.AppendMarker(1, 5, false, 3); err != nil {
		t.Fatal(err)
	}
	if st := l.Producers()[1]; st.TxnStartOffset != -1 || st.CoordinatorEpoch != 3 {
		t.Fatalf("producer state after the marker: %+v", st)
	}
	_, err = l.AppendMarker(1, 5, false, 2)
	wantErr(t, err, ErrTransactionCoordinatorFenced)
	// A control batch from a producer is refused.
	_, err = l.Append(segment.EncodeMarker(1, 5, true, 3, 1))
	wantErr(t, err, ErrInvalidRecord)
	// The transaction is closed: a plain batch goes in.
	mustAppend(t, l, txnBatch(1, 5, 1, 1, false))
}

// TestTxnTornTail: a crash cuts the log inside an ABORT marker or inside
// the transactional batch after it (at each field boundary of interest). Recovery rebuilds the
// transaction state and the .txnindex from the log: with the marker cut
// the transaction is open again (LSO at its first offset, no aborted
// entry); with it whole, it is aborted (entry in .txnindex, LSO past it).
func TestTxnTornTail(t *testing.T) {
	src := filepath.Join(t.TempDir(), "t-0")
	l := openTest(t, src, testConfig(), true, 0, nil)
	mustAppend(t, l, batch(1, 10, 1))            // 0
	mustAppend(t, l, txnBatch(1, 0, 0, 2, true)) // 1-2
	markerStart := l.Size()
	if _, err := l.AppendMarker(1, 0, false, 4); err != nil { // 3
		t.Fatal(err)
	}
	lastStart := l.Size()
	mustAppend(t, l, txnBatch(2, 0, 0, 2, true)) // 4-5
	end := l.Size()
	// Crash: l is abandoned; its files are what the page cache holds.
	logName := fileName(src, 0, logSuffix)
	h := int64(segment.HeaderSize)
	for _, cut := range []int64{markerStart, markerStart + 1, markerStart + h - 1, markerStart + h, lastStart - 1,
		lastStart, lastStart + 1, lastStart + h, end - 1} {
		dir := filepath.Join(t.TempDir(), "t-0")
		copyDir(t, src, dir)
		if err := os.Truncate(filepath.Join(dir, filepath.Base(logName)), cut); err != nil {
			t.Fatal(err)
		}
		l := openTest(t, dir, testConfig(), false, -1, nil)
		wantLEO, wantLSO, wantAborted := int64(3), int64(1), []AbortedTxn(nil)
		if cut >= lastStart {
			wantLEO, wantLSO, wantAborted = 4, 4, []AbortedTxn{{ProducerID: 1, FirstOffset: 1}}
		}
		res, err := l.ReadCommitted(0, 1<<20, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Regions {
			r.Release()
		}
		if l.LogEndOffset() != wantLEO || l.LastStableOffset() != wantLSO || !slices.Equal(res.AbortedTransactions, wantAborted) {
			t.Fatalf("cut at %d: LEO %d LSO %d aborted %v; want %d %d %v", cut, l.LogEndOffset(), l.LastStableOffset(),
				res.AbortedTransactions, wantLEO, wantLSO, wantAborted)
		}
		// The marker can be written again after a cut one.
		if cut < lastStart {
			if off, err := l.AppendMarker(1, 0, false, 4); err != nil || off != 3 {
				t.Fatalf("cut at %d: marker again at %d: %v", cut, off, err)
			}
			if l.LastStableOffset() != 4 {
				t.Fatalf("cut at %d: LSO %d after the marker", cut, l.LastStableOffset())
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(fileName(dir, 0, txnIndexSuffix))
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		es, partial, err := DecodeTxnIndex(b)
		if err != nil || partial != 0 || len(es) != 1 || es[0] != (TxnIndexEntry{ProducerID: 1, FirstOffset: 1, LastOffset: 3, LastStableOffset: 4}) {
			t.Fatalf("cut at %d: .txnindex %+v partial %d: %v", cut, es, partial, err)
		}
		verifyDir(t, dir)
	}
}

// TestTxnStateSurvivesCleanRestart: an open transaction's first offset
// is in the producer snapshot (Kafka's currentTxnFirstOffset): a clean
// start, which reads no log, has the same LSO, and the marker closes it.
func TestTxnStateSurvivesCleanRestart(t *testing.T) {
	l, dir := newTestLog(t, testConfig(), nil)
	mustAppend(t, l, batch(1, 10, 1))
	mustAppend(t, l, txnBatch(9, 1, 0, 3, true))
	mustAppend(t, l, batch(1, 10, 1))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	m, _, err := readSnapshot(vfs.Default, fileName(dir, 5, snapshotSuffix))
	if err != nil || m[9] == nil || m[9].txnFirstOffset != 1 {
		t.Fatalf("snapshot %+v: %v", m[9], err)
	}
	l = openTest(t, dir, testConfig(), true, 5, nil)
	defer l.Close()
	if l.RecoveredBytes() != 0 || l.LastStableOffset() != 1 {
		t.Fatalf("clean start: recovered %d bytes, LSO %d; want 0 and 1", l.RecoveredBytes(), l.LastStableOffset())
	}
	if _, err := l.AppendMarker(9, 1, true, 0); err != nil || l.LastStableOffset() != 6 {
		t.Fatalf("after the commit: LSO %d, %v", l.LastStableOffset(), err)
	}
}

// TestTxnIndexRolledAndRetained: each segment gets its own .txnindex (the
// one holding the marker), and retention deletes it with its segment.
func TestTxnIndexRolledAndRetained(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 200
	l, dir := newTestLog(t, cfg, nil)
	for i := range 4 {
		mustAppend(t, l, txnBatch(1, 0, int32(2*i), 2, true))
		if _, err := l.AppendMarker(1, 0, false, 0); err != nil {
			t.Fatal(err)
		}
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*"+txnIndexSuffix))
	if len(names) < 2 {
		t.Fatalf("%d .txnindex files for %d segments", len(names), l.Segments())
	}
	for _, n := range names {
		b, _ := os.ReadFile(n)
		es, _, _ := DecodeTxnIndex(b)
		var base int64
		fmt.Sscanf(filepath.Base(n), "%020d", &base)
		for _, e := range es {
			if e.LastOffset < base {
				t.Fatalf("%s holds the marker at %d, below its base", n, e.LastOffset)
			}
		}
	}
	if _, err := l.DeleteRecordsBefore(l.HighWatermark()); err != nil {
		t.Fatal(err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*"+txnIndexSuffix))
	if len(left) >= len(names) {
		t.Fatalf(".txnindex files %v left after deleting their segments (before: %v)", left, names)
	}
	for _, n := range left {
		if _, err := os.Stat(strings.TrimSuffix(n, txnIndexSuffix) + logSuffix); err != nil {
			t.Fatalf("%s outlived its segment", n)
		}
	}
}

// TestRolledFlushAfterDeleteLeavesNoTxnIndex: the flush of a rolled
// segment that runs after retention renamed the segment's files away does
// not create its .txnindex again (it used to open it by path, creating a
// .txnindex of no segment).
func TestRolledFlushAfterDeleteLeavesNoTxnIndex(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 200
	dir := filepath.Join(t.TempDir(), "t-0")
	first := fileName(dir, 0, logSuffix)
	// Hold the flush after the roll at the first segment's .log fsync
	// (before its .txnindex's) until retention renamed the segment's files.
	var armed atomic.Bool
	blocked, resume := make(chan struct{}), make(chan struct{})
	fsys := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind == errorfs.OpSync && op.Path == first && armed.CompareAndSwap(true, false) {
			close(blocked)
			<-resume
		}
		return nil
	})).SkipSyncs()
	o := openOptions{topic: "t", partition: 0, cfg: cfg, recoveryPoint: 0, logStart: -1, clean: true,
		logger: quietLogger(), fs: fsys}
	l, err := openLog(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { l.Close() }()
	mustAppend(t, l, txnBatch(1, 0, 0, 2, true))
	if _, err := l.AppendMarker(1, 0, false, 0); err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	mustAppend(t, l, batch(1, 300, 1)) // rolls
	select {
	case <-blocked:
	case <-time.After(10 * time.Second):
		close(resume)
		t.Fatal("no fsync of the rolled segment's .log")
	}
	_, err = l.DeleteRecordsBefore(l.HighWatermark())
	close(resume)
	if err != nil {
		t.Fatal(err)
	}
	l.bg.Wait()
	for _, p := range []string{fileName(dir, 0, txnIndexSuffix), fileName(dir, 0, txnIndexSuffix) + deletedSuffix} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			names, _ := filepath.Glob(filepath.Join(dir, "*"))
			t.Fatalf("%s after its segment was deleted: %v; files %v", p, err, names)
		}
	}
}

// TestTruncatedReaderKeepsItsAbortedTxns: a reader holding a segment that
// a truncation to the log's first offset renames for deletion reads the
// aborted transactions of that segment's .txnindex, not those of the new
// segment at the same base offset, whose .txnindex has the old name (the
// old segment's index, read lazily, used to be read by that name).
func TestTruncatedReaderKeepsItsAbortedTxns(t *testing.T) {
	cfg := testConfig()
	dir := filepath.Join(t.TempDir(), "t-0")
	l := openTest(t, dir, cfg, true, 0, nil)
	mustAppend(t, l, txnBatch(1, 0, 0, 2, true))              // 0-1
	if _, err := l.AppendMarker(1, 0, false, 0); err != nil { // 2: ABORT
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir, cfg, true, 3, nil) // the .txnindex is read on first use
	defer func() { l.Close() }()
	l.mu.RLock()
	old := l.mu.segments[0]
	old.acquire() // a reader's pin
	l.mu.RUnlock()
	defer old.Release()
	if err := l.TruncateTo(0); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, txnBatch(2, 0, 0, 1, true))              // 0
	if _, err := l.AppendMarker(2, 0, false, 0); err != nil { // 1: ABORT
		t.Fatal(err)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	got, _, err := old.collectAborted(nil, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if want := []AbortedTxn{{ProducerID: 1, FirstOffset: 0}}; !slices.Equal(got, want) {
		t.Fatalf("aborted transactions of the truncated segment: %v, want %v", got, want)
	}
	l.mu.RLock()
	cur := l.mu.segments[0]
	l.mu.RUnlock()
	got, _, err = cur.collectAborted(nil, 0, 100)
	if want := []AbortedTxn{{ProducerID: 2, FirstOffset: 0}}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("aborted transactions of the new segment: %v (%v), want %v", got, err, want)
	}
}

// FuzzDecodeTxnIndex: any bytes decode to whole entries and a partial
// tail, or fail with corruption; whole entries re-encode to the same bytes.
func FuzzDecodeTxnIndex(f *testing.F) {
	f.Add(abortedTxn{1, 2, 3, 4}.appendTo(nil))
	f.Add(append(abortedTxn{1, 2, 3, 4}.appendTo(nil), 0, 1))
	f.Add([]byte{0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		es, partial, err := decodeTxnIndex(b)
		if err != nil {
			if !errors.Is(err, segment.ErrCorrupt) {
				t.Fatalf("error %v is not corruption", err)
			}
			return
		}
		var back []byte
		for _, e := range es {
			back = e.appendTo(back)
		}
		if partial != len(b)%txnIndexEntrySize || string(back) != string(b[:len(b)-partial]) {
			t.Fatalf("%d entries and %d partial bytes do not give back %x", len(es), partial, b)
		}
	})
}

// TestMarkerIndexWriteFails: an ABORT marker whose .txnindex write fails
// (injected EIO) is undone with its round, the log goes offline, and the
// next start has the transaction open again with no aborted entry.
func TestMarkerIndexWriteFails(t *testing.T) {
	fail := atomic.Bool{}
	fs := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(op errorfs.Op) error {
		if fail.Load() && op.Kind == errorfs.OpWrite && strings.HasSuffix(op.Path, txnIndexSuffix) {
			return syscall.EIO
		}
		return nil
	}))
	dir := filepath.Join(t.TempDir(), "t-0")
	l, err := openLog(dir, openOptions{topic: "t", cfg: testConfig(), recoveryPoint: 0, logStart: -1, clean: true,
		logger: quietLogger(), fs: fs})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, txnBatch(4, 0, 0, 2, true))
	fail.Store(true)
	_, err = l.AppendMarker(4, 0, false, 0)
	wantErr(t, err, ErrStorage)
	if !errors.Is(err, syscall.EIO) || l.Offline() == nil {
		t.Fatalf("marker error %v, offline %v", err, l.Offline())
	}
	if l.LogEndOffset() != 2 || l.LastStableOffset() != 0 {
		t.Fatalf("after the undone marker: LEO %d LSO %d, want 2 and 0", l.LogEndOffset(), l.LastStableOffset())
	}
	l.Close()
	l = openTest(t, dir, testConfig(), false, -1, nil)
	defer l.Close()
	if l.LogEndOffset() != 2 || l.LastStableOffset() != 0 || l.Producers()[4].TxnStartOffset != 0 {
		t.Fatalf("reopened: LEO %d LSO %d state %+v", l.LogEndOffset(), l.LastStableOffset(), l.Producers()[4])
	}
	if _, err := os.Stat(fileName(dir, 0, txnIndexSuffix)); !os.IsNotExist(err) {
		t.Fatalf(".txnindex after the undone marker: %v", err)
	}
	if off, err := l.AppendMarker(4, 0, false, 0); err != nil || off != 2 || l.LastStableOffset() != 3 {
		t.Fatalf("marker again: %d, %v, LSO %d", off, err, l.LastStableOffset())
	}
}
