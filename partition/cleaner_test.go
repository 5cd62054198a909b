package partition

import (
	"bytes"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice/sluice/segment"
	"github.com/sluice/sluice/segment/segmenttest"
)

// compactConfig is a compacted log with small segments and indexes.
func compactConfig() Config {
	c := testConfig()
	c.CleanupPolicy = "compact"
	c.SegmentBytes = 4 << 10
	c.IndexIntervalBytes = 256
	c.MinCleanableDirtyRatio = 0
	c.DeleteRetentionMs = 1000
	return c
}

// kv is one record of the model: a nil value is a tombstone.
type kv struct {
	key, value string
	tomb       bool
}

// rec is a record read back.
type rec struct {
	off   int64
	key   string
	value string
	tomb  bool
}

func kvBatch(codec int, ts int64, recs []kv) []byte {
	b := segmenttest.Batch{BaseTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Codec: codec}
	for i, r := range recs {
		sr := segmenttest.Record{TimestampDelta: int64(i), Key: []byte(r.key)}
		if !r.tomb {
			sr.Value = []byte(r.value)
		}
		b.Records = append(b.Records, sr)
	}
	return b.Encode()
}

// readRecords reads every record at or after from through Read, checking
// offsets only increase.
func readRecords(t testing.TB, l *Log, from int64) []rec {
	t.Helper()
	var out []rec
	last := int64(-1)
	for off := from; off < l.HighWatermark(); {
		res, err := l.Read(off, 64<<10, true)
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if len(res.Regions) == 0 {
			t.Fatalf("read at %d below the high watermark %d returned nothing", off, l.HighWatermark())
		}
		for _, r := range res.Regions {
			buf := make([]byte, r.Len)
			if _, err := r.File.ReadAt(buf, r.Off); err != nil {
				t.Fatal(err)
			}
			r.Release()
			err := segment.Split(buf, func(b []byte, h segment.Header) error {
				off = h.LastOffset() + 1
				return segment.Records(b, func(sr segment.Record) bool {
					if sr.Offset <= last {
						t.Fatalf("offset %d after %d: offsets go back", sr.Offset, last)
					}
					last = sr.Offset
					if sr.Offset >= from {
						out = append(out, rec{sr.Offset, string(sr.Key), string(sr.Value), sr.ValueNull})
					}
					return true
				})
			})
			if err != nil {
				t.Fatalf("read at %d: %v", off, err)
			}
		}
	}
	return out
}

// testCleaner is a cleaner with a 1 MiB dedupe buffer and clock.
func testCleaner(clock *fakeClock) *cleaner {
	return newCleaner(1<<20, make(chan struct{}), clock.now)
}

func mustClean(t testing.TB, c *cleaner, l *Log) CleanerStats {
	t.Helper()
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	st, err := c.clean(l, true)
	if err != nil {
		t.Fatalf("clean: %v", err)
	}
	return st
}

// model is what was appended: every record by offset, and each key's
// latest offset.
type model struct {
	recs   map[int64]kv
	latest map[string]int64
}

func newModel() *model { return &model{recs: map[int64]kv{}, latest: map[string]int64{}} }

func (m *model) append(t testing.TB, l *Log, codec int, ts int64, recs []kv) {
	t.Helper()
	res := mustAppend(t, l, kvBatch(codec, ts, recs))
	for i, r := range recs {
		off := res.BaseOffset + int64(i)
		m.recs[off] = r
		m.latest[r.key] = off
	}
}

// check reads from every offset in froms and checks what a consumer must
// see: only records that were appended at that offset, every key's latest
// record at or after the start (a tombstone only if not below horizon),
// and no tombstone below horizon.
func (m *model) check(t *testing.T, l *Log, froms []int64, horizon int64) {
	t.Helper()
	for _, from := range froms {
		seen := map[int64]bool{}
		for _, r := range readRecords(t, l, from) {
			want, ok := m.recs[r.off]
			if !ok || want.key != r.key || want.tomb != r.tomb || !want.tomb && want.value != r.value {
				t.Fatalf("from %d: read %+v at %d, appended %+v", from, r, r.off, want)
			}
			if r.tomb && r.off < horizon {
				t.Fatalf("from %d: tombstone at %d below the horizon %d", from, r.off, horizon)
			}
			seen[r.off] = true
		}
		for key, off := range m.latest {
			if off < from || m.recs[off].tomb && off < horizon {
				continue
			}
			if !seen[off] {
				t.Fatalf("from %d: key %s's latest record at %d is missing", from, key, off)
			}
		}
	}
}

// TestCleanerModel appends random keys, values and tombstones with every
// codec, cleaning now and then, and checks after each cleaning what a
// consumer starting at any offset sees; tombstones go once
// delete.retention.ms has passed since a cleaning that covered them.
func TestCleanerModel(t *testing.T) {
	clock := newClock()
	l, dir := newTestLog(t, compactConfig(), clock)
	rng := mrand.New(mrand.NewPCG(7, 7))
	m := newModel()
	c := testCleaner(clock)
	for round := 0; round < 6; round++ {
		for i := 0; i < 100; i++ {
			var recs []kv
			for range 1 + rng.IntN(8) {
				r := kv{key: fmt.Sprintf("k%02d", rng.IntN(40)), value: fmt.Sprintf("v%d-%d", round, rng.IntN(1e6))}
				r.tomb = rng.IntN(8) == 0
				recs = append(recs, r)
			}
			codec := segment.CodecNone // every codec, mostly none (-race is slow to compress)
			if rng.IntN(4) == 0 {
				codec = 1 + rng.IntN(4)
			}
			m.append(t, l, codec, clock.now().UnixMilli(), recs)
		}
		before := l.Size()
		st := mustClean(t, c, l)
		horizon := l.tombstoneHorizon(clock.now().UnixMilli(), 1000)
		if round > 0 && (st.RecordsRemoved == 0 || l.Size() >= before) {
			t.Fatalf("round %d: cleaning removed %d records, %d → %d bytes", round, st.RecordsRemoved, before, l.Size())
		}
		m.check(t, l, sampleOffsets(rng, l), horizon)
		clock.advance(600 * time.Millisecond)
	}
	// Two more cleanings more than delete.retention.ms apart: every
	// tombstone below the first one's end goes.
	l.SetConfig(withSegmentMs(l.Config(), 1000))
	mustAppend(t, l, kvBatch(0, clock.now().UnixMilli(), []kv{{key: "x", value: "y"}}))
	clock.advance(1500 * time.Millisecond)
	mustAppend(t, l, kvBatch(0, clock.now().UnixMilli(), []kv{{key: "x", value: "z"}})) // rolls
	m.recs[l.LogEndOffset()-1], m.latest["x"] = kv{key: "x", value: "z"}, l.LogEndOffset()-1
	m.recs[l.LogEndOffset()-2] = kv{key: "x", value: "y"}
	mustClean(t, c, l)
	horizon := l.tombstoneHorizon(clock.now().UnixMilli(), 1000)
	if horizon <= 0 {
		t.Fatalf("no tombstone horizon after delete.retention.ms: %d", horizon)
	}
	m.check(t, l, sampleOffsets(rng, l), horizon)
	// Reopened, the log reads the same.
	want := readRecords(t, l, 0)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := openTest(t, dir, compactConfig(), false, -1, clock)
	defer l2.Close()
	if got := readRecords(t, l2, 0); !equalRecs(got, want) {
		t.Fatalf("after reopen: %d records, want %d", len(got), len(want))
	}
}

// sampleOffsets is 0, the end, some segment bases, and random offsets.
func sampleOffsets(rng *mrand.Rand, l *Log) []int64 {
	out := []int64{0, l.LogEndOffset()}
	l.mu.RLock()
	for i, s := range l.mu.segments {
		if i%4 == 1 {
			out = append(out, s.base, s.base+1)
		}
	}
	l.mu.RUnlock()
	for range 4 {
		out = append(out, rng.Int64N(l.LogEndOffset()+1))
	}
	return out
}

func equalRecs(a, b []rec) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestCleanerEveryCodec: partly kept batches are re-encoded with the codec
// they had (snappy keeps its xerial framing), and the values survive.
func TestCleanerEveryCodec(t *testing.T) {
	for i := segment.CodecNone; i <= segment.CodecZstd+1; i++ {
		codec, xerial := i, i == segment.CodecZstd+1
		if xerial {
			codec = segment.CodecSnappy
		}
		t.Run(fmt.Sprintf("%s/xerial=%v", segment.CodecName(codec), xerial), func(t *testing.T) {
			clock := newClock()
			l, _ := newTestLog(t, compactConfig(), clock)
			m := newModel()
			for i := 0; i < 60; i++ {
				var recs []kv
				for j := range 10 {
					recs = append(recs, kv{key: fmt.Sprintf("k%d", (i*10+j)%13), value: fmt.Sprintf("v%d", i*10+j)})
				}
				b := segmenttest.Batch{BaseTimestamp: 1, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
					Codec: codec, Xerial: xerial}
				for j, r := range recs {
					b.Records = append(b.Records, segmenttest.Record{TimestampDelta: int64(j), Key: []byte(r.key), Value: []byte(r.value)})
				}
				res := mustAppend(t, l, b.Encode())
				for j, r := range recs {
					m.recs[res.BaseOffset+int64(j)] = r
					m.latest[r.key] = res.BaseOffset + int64(j)
				}
			}
			st := mustClean(t, testCleaner(clock), l)
			if st.RecordsRemoved == 0 {
				t.Fatal("nothing removed")
			}
			m.check(t, l, []int64{0, 100, 333}, -1)
			for _, raw := range rawBatches(t, l) {
				if raw.h.Compression() != codec || codec == segment.CodecSnappy && segment.IsXerial(raw.b) != xerial {
					t.Fatalf("batch at %d: codec %d (xerial %v), want %d (%v)", raw.h.BaseOffset,
						raw.h.Compression(), segment.IsXerial(raw.b), codec, xerial)
				}
			}
		})
	}
}

type rawBatch struct {
	b []byte
	h segment.Header
}

// rawBatches reads every batch of the log.
func rawBatches(t testing.TB, l *Log) []rawBatch {
	t.Helper()
	var out []rawBatch
	for off := int64(0); off < l.HighWatermark(); {
		res, err := l.Read(off, 1<<20, true)
		if err != nil || len(res.Regions) == 0 {
			t.Fatalf("read at %d: %v", off, err)
		}
		for _, r := range res.Regions {
			buf := make([]byte, r.Len)
			r.File.ReadAt(buf, r.Off)
			r.Release()
			segment.Split(buf, func(b []byte, h segment.Header) error {
				out = append(out, rawBatch{append([]byte(nil), b...), h})
				off = h.LastOffset() + 1
				return nil
			})
		}
	}
	return out
}

// TestCleanerKeepsProducerFields: a partly kept idempotent batch keeps its
// producer id and epoch, and each run's base sequence is its first record's.
func TestCleanerKeepsProducerFields(t *testing.T) {
	clock := newClock()
	l, _ := newTestLog(t, compactConfig(), clock)
	b := segmenttest.Batch{BaseTimestamp: 1, ProducerID: 9, ProducerEpoch: 2, BaseSequence: 0}
	for i := range 6 {
		b.Records = append(b.Records, segmenttest.Record{Key: []byte{byte('a' + i)}, Value: []byte{byte(i)}})
	}
	mustAppend(t, l, b.Encode())
	// Overwrite keys b and e: kept runs [0], [2, 3], [5] of the first batch.
	b2 := segmenttest.Batch{BaseTimestamp: 1, ProducerID: 9, ProducerEpoch: 2, BaseSequence: 6,
		Records: []segmenttest.Record{{Key: []byte("b"), Value: []byte("B")}, {Key: []byte("e"), Value: []byte("E")}}}
	mustAppend(t, l, b2.Encode())
	l.SetConfig(withSegmentMs(l.Config(), 1))
	clock.advance(time.Second)
	mustAppend(t, l, kvBatch(0, 1, []kv{{key: "z", value: "z"}})) // rolls
	mustClean(t, testCleaner(clock), l)
	got := rawBatches(t, l)
	want := []struct{ base, n int64 }{{0, 1}, {2, 2}, {5, 1}, {6, 2}}
	if len(got) != len(want)+1 {
		t.Fatalf("%d batches after cleaning, want %d", len(got), len(want)+1)
	}
	for i, w := range want {
		h := got[i].h
		if h.BaseOffset != w.base || int64(h.NumRecords) != w.n || h.BaseSequence != int32(w.base) ||
			h.ProducerID != 9 || h.ProducerEpoch != 2 {
			t.Fatalf("batch %d: %+v, want base %d with %d records, sequence %d", i, h, w.base, w.n, w.base)
		}
	}
}

func withSegmentMs(c Config, ms int64) Config { c.SegmentMs = ms; return c }

// TestCompactedLogRefusesKeylessRecords: INVALID_RECORD for a record
// without a key, compressed or not; nothing is written.
func TestCompactedLogRefusesKeylessRecords(t *testing.T) {
	l, _ := newTestLog(t, compactConfig(), nil)
	for codec := segment.CodecNone; codec <= segment.CodecZstd; codec++ {
		b := segmenttest.Batch{BaseTimestamp: 1, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Codec: codec,
			Records: []segmenttest.Record{{Key: []byte("k"), Value: []byte("v")}, {Value: []byte("no key")}}}
		_, err := l.Append(b.Encode())
		wantErr(t, err, ErrInvalidRecord)
		b.Records[1].Key = []byte("k2")
		mustAppend(t, l, b.Encode())
	}
	if l.LogEndOffset() != 10 {
		t.Fatalf("log end %d, want 10 (only the keyed batches)", l.LogEndOffset())
	}
	// A delete-policy log takes them.
	l2, _ := newTestLog(t, testConfig(), nil)
	mustAppend(t, l2, segmenttest.NewBatch(0, 1, 1, 1).Encode())
}

// TestReaderAcrossSwap: a region read before a cleaning reads the same
// bytes after the swap replaced (and deleted) its segment; the old file
// goes once the region is released.
func TestReaderAcrossSwap(t *testing.T) {
	clock := newClock()
	l, dir := newTestLog(t, compactConfig(), clock)
	for i := 0; i < 200; i++ {
		mustAppend(t, l, kvBatch(0, 1, []kv{{key: fmt.Sprintf("k%d", i%5), value: fmt.Sprintf("v%d", i)}}))
	}
	// Rolled segments' flushes hold references too: let them finish, so
	// that the region below is the last reader of the old segment.
	l.bg.Wait()
	res, err := l.Read(0, 2000, true)
	if err != nil || len(res.Regions) != 1 {
		t.Fatalf("read: %v, %d regions", err, len(res.Regions))
	}
	reg := res.Regions[0]
	want := make([]byte, reg.Len)
	reg.File.ReadAt(want, reg.Off)
	mustClean(t, testCleaner(clock), l)
	if n, _ := filepath.Glob(filepath.Join(dir, "*.deleted")); len(n) == 0 {
		t.Fatal("no .deleted file while a reader holds the old segment")
	}
	got := make([]byte, reg.Len)
	if _, err := reg.File.ReadAt(got, reg.Off); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("region after the swap: %v, equal %v", err, bytes.Equal(got, want))
	}
	reg.Release()
	if n, _ := filepath.Glob(filepath.Join(dir, "*.deleted")); len(n) != 0 {
		t.Fatalf("old files left after the last reader: %v", n)
	}
	below := 0
	for _, r := range readRecords(t, l, 0) {
		if r.off < l.active().base {
			below++
		}
	}
	if below > 5 {
		t.Fatalf("%d records below the active segment after cleaning 5 keys", below)
	}
}

// TestReadAcrossSwapAfterMiss: a read whose offset lies past the last
// batch of the segment it pinned (a gap cleaning left) moves on to the next
// segment even when the cleaner swapped the pinned one out meanwhile; it
// used to ask the list for the successor of a segment no longer in it, get
// the log end offset and answer nothing below the high watermark.
func TestReadAcrossSwapAfterMiss(t *testing.T) {
	clock := newClock()
	l, _ := newTestLog(t, compactConfig(), clock)
	c := testCleaner(clock)
	// Each segment's keys are its own, and each key is written twice in a
	// row: cleaning keeps every segment, each ending at a record that is
	// followed by a superseded one, so a gap ends each segment.
	for i := 0; i < 400; i++ {
		k := fmt.Sprintf("k%d", i/2)
		mustAppend(t, l, kvBatch(0, 1, []kv{{key: k, value: fmt.Sprintf("v%d", i)}}))
	}
	mustClean(t, c, l)
	// Find a gap at the end of a segment that has a successor below the
	// high watermark.
	l.mu.RLock()
	segs := append([]*logSegment(nil), l.mu.segments...)
	l.mu.RUnlock()
	gap := int64(-1)
	recs := readRecords(t, l, 0)
	for i := 0; i+1 < len(segs)-1 && gap < 0; i++ {
		next := segs[i+1].base
		last := int64(-1)
		for _, r := range recs {
			if r.off >= segs[i].base && r.off < next {
				last = r.off
			}
		}
		if last >= 0 && last+1 < next {
			gap = last + 1
		}
	}
	if gap < 0 {
		t.Fatalf("no segment ends in a gap after cleaning: %d segments", len(segs))
	}
	// Dirty data, so that the next cleaning rewrites (swaps) every
	// segment, including the one the read pins.
	for i := 0; i < 400; i++ {
		mustAppend(t, l, kvBatch(0, 1, []kv{{key: fmt.Sprintf("k%d", i/2), value: fmt.Sprintf("w%d", i)}}))
	}
	swapped := false
	readMissHook = func() {
		if !swapped {
			swapped = true
			mustClean(t, c, l)
		}
	}
	t.Cleanup(func() { readMissHook = nil })
	res, err := l.Read(gap, 64<<10, true)
	for _, r := range res.Regions {
		r.Release()
	}
	if !swapped {
		t.Fatalf("the read at %d did not miss in its segment", gap)
	}
	if err != nil || len(res.Regions) == 0 {
		t.Fatalf("read at %d (high watermark %d) during a swap: %d regions, %v", gap, res.HighWatermark, len(res.Regions), err)
	}
}

// TestCleanerLeavesHighWatermarkSegment: between a roll and the round's
// publish (its fsync), the segment that rolled is full but still holds
// the high watermark; a cleaning then must not swap it out, or readers,
// which find their limit in it by identity, see nothing in its range, and
// the round's fsync of it finds its file closed (the log goes offline).
func TestCleanerLeavesHighWatermarkSegment(t *testing.T) {
	clock := newClock()
	cfg := compactConfig()
	cfg.Flush = FlushAlways
	l, _ := newTestLog(t, cfg, clock)
	c := testCleaner(clock)
	checked := false
	testHookBeforeSync = func() {
		l.mu.RLock()
		rolled := l.active() != l.mu.hwSeg
		hw := l.mu.hw
		l.mu.RUnlock()
		if !rolled || checked || hw < 50 {
			return
		}
		checked = true
		mustClean(t, c, l)
		res, err := l.Read(hw-1, 64<<10, true)
		for _, r := range res.Regions {
			r.Release()
		}
		if err != nil || len(res.Regions) == 0 {
			t.Errorf("read at %d below the high watermark %d after a cleaning: %d regions, %v", hw-1, hw, len(res.Regions), err)
		}
	}
	t.Cleanup(func() { testHookBeforeSync = nil })
	for i := 0; i < 400 && !checked; i++ {
		mustAppend(t, l, kvBatch(0, 1, []kv{{key: fmt.Sprintf("k%d", i%5), value: fmt.Sprintf("v%d", i)}}))
	}
	if !checked {
		t.Fatal("no round rolled")
	}
}

// TestCleanerGroupsSmallSegments: segments that shrink are merged up to
// segment.bytes.
func TestCleanerGroupsSmallSegments(t *testing.T) {
	clock := newClock()
	cfg := compactConfig()
	cfg.SegmentBytes = 1024
	l, dir := newTestLog(t, cfg, clock)
	m := newModel()
	for i := 0; i < 400; i++ {
		m.append(t, l, 0, 1, []kv{{key: fmt.Sprintf("k%d", i%20), value: fmt.Sprintf("value-%04d", i)}})
	}
	before := l.Segments()
	cfg.SegmentBytes = 8 << 10
	if err := l.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	mustClean(t, testCleaner(clock), l)
	// Groups are made by the sizes before cleaning: the next cleaning (of
	// new dirty data) merges the shrunk segments.
	l.SetConfig(withSegmentMs(cfg, 1000))
	clock.advance(1500 * time.Millisecond)
	m.append(t, l, 0, 1, []kv{{key: "k0", value: "again"}}) // rolls
	mustClean(t, testCleaner(clock), l)
	if after := l.Segments(); after*4 > before {
		t.Fatalf("%d segments before cleaning, %d after: not grouped", before, after)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, n := range names {
		if fi, _ := os.Stat(n); fi.Size() > cfg.SegmentBytes {
			t.Fatalf("%s is %d bytes, over segment.bytes", n, fi.Size())
		}
	}
	m.check(t, l, []int64{0, 200, 399}, -1)
}

// TestCleanerDedupeBufferBound: with room for a few keys only, a cleaning
// stops where the map filled; later cleanings finish the job.
func TestCleanerDedupeBufferBound(t *testing.T) {
	clock := newClock()
	l, _ := newTestLog(t, compactConfig(), clock)
	m := newModel()
	for i := 0; i < 600; i++ {
		m.append(t, l, 0, 1, []kv{{key: fmt.Sprintf("k%d", i%60), value: fmt.Sprintf("v%d", i)}})
	}
	c := newCleaner(20*slotBytes, make(chan struct{}), clock.now) // 18 keys
	mustClean(t, c, l)
	first := l.CleanerCheckpoint()
	if first <= 0 || first >= 600 {
		t.Fatalf("checkpoint %d after a cleaning with a full map, want inside (0, 600)", first)
	}
	m.check(t, l, []int64{0, first}, -1)
	for i := 0; i < 40 && l.CleanerCheckpoint() < l.active().base; i++ {
		mustClean(t, c, l)
	}
	if got := l.CleanerCheckpoint(); got != l.active().base {
		t.Fatalf("checkpoint %d, want the active segment's base %d", got, l.active().base)
	}
	m.check(t, l, []int64{0, 300}, -1)
}

// TestCompactedLogSkipsRetention: cleanup.policy=compact deletes nothing by
// time; compact,delete does.
func TestCompactedLogSkipsRetention(t *testing.T) {
	clock := newClock()
	cfg := compactConfig()
	cfg.RetentionMs = 1
	l, _ := newTestLog(t, cfg, clock)
	for i := 0; i < 100; i++ {
		mustAppend(t, l, kvBatch(0, clock.now().UnixMilli(), []kv{{key: "k", value: "0123456789012345678901234567890123456789"}}))
	}
	clock.advance(time.Hour)
	if n, err := l.ApplyRetention(clock.now()); err != nil || n != 0 {
		t.Fatalf("retention on a compacted log deleted %d: %v", n, err)
	}
	cfg.CleanupPolicy = "compact,delete"
	l.SetConfig(cfg)
	if n, err := l.ApplyRetention(clock.now()); err != nil || n == 0 {
		t.Fatalf("retention on compact,delete deleted %d: %v", n, err)
	}
}

// TestCleanerCrashAtEverySwapStep stops the cleaner at each step of the
// swap sequence as a crash would, reopens the directory (with and without
// the clean-shutdown shortcut) and reads either the old records or the
// cleaned ones, exactly.
func TestCleanerCrashAtEverySwapStep(t *testing.T) {
	clock := newClock()
	cfg := compactConfig()
	src := filepath.Join(t.TempDir(), "t-0")
	l := openTest(t, src, cfg, true, 0, clock)
	for i := 0; i < 300; i++ {
		recs := []kv{{key: fmt.Sprintf("k%d", i%17), value: fmt.Sprintf("v%d", i)}}
		if i%11 == 0 {
			recs = append(recs, kv{key: fmt.Sprintf("k%d", i%17), tomb: true})
		}
		mustAppend(t, l, kvBatch(i%2*segment.CodecSnappy, 1, recs))
	}
	// The last group's records all go (its keys are rewritten after it).
	for i := 0; i < 17; i++ {
		mustAppend(t, l, kvBatch(0, 1, []kv{{key: fmt.Sprintf("k%d", i), value: "last"}}))
	}
	oldRecs := readRecords(t, l, 0)
	leo := l.LogEndOffset()
	// One group: a crash stops the cleaning inside it (earlier groups of a
	// cleaning would be swapped in already, which is fine but not "old").
	cfg.SegmentBytes = 1 << 20
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	cleanedDir := filepath.Join(t.TempDir(), "t-0")
	copyDir(t, src, cleanedDir)
	lc := openTest(t, cleanedDir, cfg, true, leo, clock)
	mustClean(t, testCleaner(clock), lc)
	newRecs := readRecords(t, lc, 0)
	lc.Close()
	if equalRecs(oldRecs, newRecs) {
		t.Fatal("cleaning changed nothing")
	}
	for i, step := range cleanerSteps {
		for _, cleanStart := range []bool{false, true} {
			dir := filepath.Join(t.TempDir(), "t-0")
			copyDir(t, src, dir)
			crashed := openTest(t, dir, cfg, true, leo, clock)
			cleanerHook = func(s string) error {
				if s == step {
					return errors.New("crash")
				}
				return nil
			}
			crashed.cleanMu.Lock()
			_, err := testCleaner(clock).clean(crashed, true)
			cleanerHook = nil
			if !errors.Is(err, errInjectedCrash) {
				t.Fatalf("step %s: clean returned %v, want the injected crash", step, err)
			}
			// Abandoned without Close, as a crash leaves it.
			rp := int64(-1)
			if cleanStart {
				rp = leo
			}
			re := openTest(t, dir, cfg, cleanStart, rp, clock)
			got := readRecords(t, re, 0)
			want, which := newRecs, "cleaned"
			if i < 2 {
				want, which = oldRecs, "old"
			}
			if !equalRecs(got, want) {
				t.Fatalf("step %s (clean start %v): %d records after reopening, want the %d %s ones",
					step, cleanStart, len(got), len(want), which)
			}
			re.Close()
			verifyCompactedDir(t, dir)
			if left, _ := filepath.Glob(filepath.Join(dir, "*.deleted")); len(left) > 0 {
				t.Fatalf("step %s: %v left", step, left)
			}
		}
	}
}

// openDirtyCompactedStore fills in scfg's Defaults, Logger and dedupe
// buffer and opens a store with it holding one compacted log, "table" 0,
// given n appends over 10 keys.
func openDirtyCompactedStore(t *testing.T, scfg *StoreConfig, n int) (*Store, *Log) {
	t.Helper()
	scfg.Defaults, scfg.Logger, scfg.CleanerDedupeBufferSize = testConfig(), quietLogger(), 1<<20
	s, err := OpenStore(*scfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := compactConfig()
	cfg.MinCleanableDirtyRatio = 0.3
	l, err := s.Create("table", 0, [16]byte{9}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		mustAppend(t, l, kvBatch(0, 1, []kv{{key: fmt.Sprintf("k%d", i%10), value: fmt.Sprintf("v%d", i)}}))
	}
	return s, l
}

// TestStoreCloseInterruptsCleanerBackoff: a cleaner thread sleeping out
// an hour-long backoff with a dirty compacted log is stopped by Close,
// not waited for: a Close that waited would hang the test until its
// timeout.
func TestStoreCloseInterruptsCleanerBackoff(t *testing.T) {
	s, _ := openDirtyCompactedStore(t, &StoreConfig{Dir: t.TempDir(), CleanerBackoff: time.Hour}, 40)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestStoreCleansInBackground: a cleaner thread woken by a short backoff
// cleans a dirty compacted log, counts it, checkpoints it in
// cleaner-offset-checkpoint (read back after a restart), and Close stops
// it (TestStoreCloseInterruptsCleanerBackoff: without waiting out its
// backoff).
func TestStoreCleansInBackground(t *testing.T) {
	dir := t.TempDir()
	scfg := StoreConfig{Dir: dir, CleanerBackoff: 5 * time.Millisecond}
	s, l := openDirtyCompactedStore(t, &scfg, 400)
	before := l.Size()
	deadline := time.Now().Add(20 * time.Second)
	// Cleanings may start while the appends go on: wait for one that
	// leaves nothing dirty.
	for s.CleanerStats().Cleanings == 0 || l.CleanerCheckpoint() < 0 || l.DirtyRatio() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no background cleaning: %+v, dirty ratio %.2f", s.CleanerStats(), l.DirtyRatio())
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
	st := s.CleanerStats()
	if l.Size() >= before || st.BytesRead == 0 || st.RecordsRemoved == 0 || st.Duration <= 0 {
		t.Fatalf("size %d → %d, stats %+v", before, l.Size(), st)
	}
	point := l.CleanerCheckpoint()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, cleanerCheckpointFile))
	if err != nil || !strings.Contains(string(b), fmt.Sprintf("table 0 %d", point)) {
		t.Fatalf("cleaner-offset-checkpoint: %q, %v; want table 0 %d", b, err, point)
	}
	s, err = OpenStore(scfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Get("table", 0).CleanerCheckpoint(); got != point {
		t.Fatalf("checkpoint after restart %d, want %d", got, point)
	}
}

// TestRollIfIdleAfterClose: the cleaner walks a list of logs taken before
// one of them is closed (DeleteTopics, shutdown); a closed log has no
// segments, and rolling it must do nothing rather than index its active
// segment (a CI run of the broker tests panicked so: index out of range
// [-1] in rollIfIdle).
func TestRollIfIdleAfterClose(t *testing.T) {
	for _, c := range []struct {
		name  string
		close func(*Log) error
	}{
		{"closed", func(l *Log) error { return l.Close() }},
		{"discarded", func(l *Log) error { return l.closeDiscarding() }}, // DeleteTopics' close
	} {
		t.Run(c.name, func(t *testing.T) {
			clock := newClock()
			l := openTest(t, filepath.Join(t.TempDir(), "t-0"), compactConfig(), true, 0, clock)
			mustAppend(t, l, kvBatch(0, clock.now().UnixMilli(), []kv{{key: "k", value: "v"}}))
			if err := c.close(l); err != nil {
				t.Fatal(err)
			}
			clock.advance(365 * 24 * time.Hour) // past any roll age
			if err := l.rollIfIdle(clock.now()); err != nil {
				t.Fatalf("rollIfIdle on a %s log: %v", c.name, err)
			}
		})
	}
}
