package partition

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluice/sluice/mmapindex"
	"github.com/sluice/sluice/segment"
	"github.com/sluice/sluice/segment/segmenttest"
	"github.com/sluice/sluice/sendfile"
)

// testConfig is the default config with small indexes, so tests stay light.
func testConfig() Config {
	c := DefaultConfig()
	c.SegmentIndexBytes = 64 << 10
	return c
}

// fakeClock is an injectable clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newClock() *fakeClock { return &fakeClock{t: time.UnixMilli(1_700_000_000_000)} }

// openTest opens dir as a log; rp < 0 with clean false recovers everything.
func openTest(t testing.TB, dir string, cfg Config, clean bool, rp int64, clock *fakeClock) *Log {
	t.Helper()
	o := openOptions{topic: "t", partition: 0, cfg: cfg, recoveryPoint: rp, logStart: -1, clean: clean,
		logger: quietLogger()}
	if clock != nil {
		o.now = clock.now
	}
	l, err := openLog(dir, o)
	if err != nil {
		t.Fatalf("openLog: %v", err)
	}
	return l
}

// newTestLog opens a fresh log in a temp dir and verifies the directory
// after the test closes it (t.Cleanup runs last-registered first).
func newTestLog(t *testing.T, cfg Config, clock *fakeClock) (*Log, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "t-0")
	if cfg.Compact() {
		t.Cleanup(func() { verifyCompactedDir(t, dir) })
	} else {
		t.Cleanup(func() { verifyDir(t, dir) })
	}
	l := openTest(t, dir, cfg, true, 0, clock)
	t.Cleanup(func() { l.Close() })
	return l, dir
}

// batch returns a batch of n records with values of size bytes.
func batch(n, size int, ts int64) []byte {
	return segmenttest.NewBatch(0, n, ts, size).Encode()
}

// crash leaves l as a kill -9 would, without Close, once its rolled
// segments' flushes finished (Store.Abandon's rule): no goroutine of the
// old log writes into the directory (a producer snapshot's .tmp, a
// .txnindex) while the test reopens it.
func crash(l *Log) { l.bg.Wait() }

func mustAppend(t testing.TB, l *Log, b []byte) AppendResult {
	t.Helper()
	res, err := l.Append(b)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return res
}

// readAll reads every batch from offset to the high watermark through Read
// and returns their headers in order.
func readAll(t testing.TB, l *Log, from int64) []segment.Header {
	t.Helper()
	var out []segment.Header
	for off := from; off < l.HighWatermark(); {
		res, err := l.Read(off, 1<<20, true)
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if len(res.Regions) == 0 {
			t.Fatalf("read at %d below the high watermark %d returned nothing", off, l.HighWatermark())
		}
		for _, hs := range regionBatches(t, res.Regions) {
			out = append(out, hs)
			off = hs.LastOffset() + 1
		}
	}
	return out
}

// regionBatches reads the regions' bytes, checks they are whole valid
// batches, and releases them.
func regionBatches(t testing.TB, regs []sendfile.Region) []segment.Header {
	t.Helper()
	var out []segment.Header
	for _, r := range regs {
		buf := make([]byte, r.Len)
		if _, err := r.File.ReadAt(buf, r.Off); err != nil {
			t.Fatalf("read region: %v", err)
		}
		r.Release()
		err := segment.Split(buf, func(_ []byte, h segment.Header) error {
			out = append(out, h)
			return nil
		})
		if err != nil {
			t.Fatalf("region is not whole valid batches: %v", err)
		}
	}
	return out
}

// verifyDir checks a closed partition directory as an independent reader
// would: every .log a run of valid batches with contiguous offsets from its
// name, each name its first offset, index entries at batch starts holding
// the batch's last offset, time index entries non-decreasing.
func verifyDir(t testing.TB, dir string) { t.Helper(); verifyDirGaps(t, dir, false) }

// verifyCompactedDir is verifyDir for a compacted log: offsets increase
// with gaps allowed, a segment may start after its name's offset or be
// empty, and no cleaner file (.cleaned, .swap) is left.
func verifyCompactedDir(t testing.TB, dir string) {
	t.Helper()
	for _, pat := range []string{"*.cleaned", "*.swap"} {
		if left, _ := filepath.Glob(filepath.Join(dir, pat)); len(left) > 0 {
			t.Errorf("verify: cleaner files left: %v", left)
		}
	}
	verifyDirGaps(t, dir, true)
}

func verifyDirGaps(t testing.TB, dir string, gaps bool) {
	t.Helper()
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		return
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	sort.Strings(names)
	next := int64(-1)
	for _, name := range names {
		var base int64
		fmt.Sscanf(filepath.Base(name), "%020d.log", &base)
		if gaps && base < next {
			t.Errorf("verify: %s named below the end %d of the segment before", name, next)
		}
		starts := verifyLogFile(t, name, base, &next, gaps)
		verifyTxnIndex(t, strings.TrimSuffix(name, ".log")+txnIndexSuffix, name)
		// An index file is created by its first entry: without one, the
		// index is empty (Absent), which is always right.
		if idx := strings.TrimSuffix(name, ".log") + ".index"; exists(idx) {
			verifyIndex(t, idx, base, starts)
		}
		if tidx := strings.TrimSuffix(name, ".log") + ".timeindex"; exists(tidx) {
			verifyTimeIndex(t, tidx, base)
		}
	}
}

func verifyLogFile(t testing.TB, name string, base int64, next *int64, gaps bool) map[int64]int64 {
	t.Helper()
	f, err := segment.Open(name)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	defer f.Close()
	starts := make(map[int64]int64) // position → last offset
	first := true
	end, err := f.Recover(0, func(h segment.Header, pos int64) {
		if first && (h.BaseOffset < base || !gaps && h.BaseOffset != base) {
			t.Errorf("verify: %s starts at offset %d, not its name", name, h.BaseOffset)
		}
		if gaps && h.BaseOffset < *next {
			t.Errorf("verify: %s position %d: offset %d below %d (offsets go back)", name, pos, h.BaseOffset, *next)
		}
		if !gaps && *next >= 0 && h.BaseOffset != *next {
			t.Errorf("verify: %s position %d: offset %d, want %d (not contiguous)", name, pos, h.BaseOffset, *next)
		}
		first = false
		*next = h.LastOffset() + 1
		starts[pos] = h.LastOffset()
	})
	if err != nil || end != f.Size() {
		t.Errorf("verify: %s valid to %d of %d: %v", name, end, f.Size(), err)
	}
	return starts
}

func verifyIndex(t testing.TB, name string, base int64, starts map[int64]int64) {
	t.Helper()
	x, err := mmapindex.OpenOffsetIndex(name, base, 0)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	defer x.Close()
	for i := 0; i < x.Entries(); i++ {
		off, pos := x.Entry(i)
		last, ok := starts[int64(pos)]
		if !ok || last != off {
			t.Errorf("verify: %s entry %d (offset %d, position %d) is not a batch start with that last offset", name, i, off, pos)
		}
	}
}

func verifyTimeIndex(t testing.TB, name string, base int64) {
	t.Helper()
	x, err := mmapindex.OpenTimeIndex(name, base, 0)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	defer x.Close()
	prevTS, prevOff := int64(-1), int64(-1)
	for i := 0; i < x.Entries(); i++ {
		ts, off := x.Entry(i)
		if ts < prevTS || off < prevOff {
			t.Errorf("verify: %s entry %d (%d, %d) goes backwards", name, i, ts, off)
		}
		prevTS, prevOff = ts, off
	}
}

// copyDir copies a partition directory (to crash-test many variants).
func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		in, err := os.Open(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dst, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
		out.Close()
	}
}

// lastLogFile is the newest .log in dir.
func lastLogFile(t testing.TB, dir string) string {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	sort.Strings(names)
	if len(names) == 0 {
		t.Fatal("no .log files")
	}
	return names[len(names)-1]
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}

// quietLogger drops logs unless SLUICE_TEST_LOG is set.
func quietLogger() *slog.Logger {
	if os.Getenv("SLUICE_TEST_LOG") != "" {
		return slog.Default()
	}
	return slog.New(slog.DiscardHandler)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// verifyTxnIndex checks a segment's .txnindex (if any) against its .log:
// whole entries, ascending markers, each one an ABORT marker of its
// producer in that .log, after the transaction's first offset.
func verifyTxnIndex(t testing.TB, name, logName string) {
	t.Helper()
	b, err := os.ReadFile(name)
	if os.IsNotExist(err) {
		return
	}
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	es, partial, err := DecodeTxnIndex(b)
	if err != nil || partial != 0 {
		t.Errorf("verify: %s: %d partial bytes: %v", name, partial, err)
	}
	data, err := os.ReadFile(logName)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	aborts := map[int64]int64{} // marker offset → producer
	segment.Split(data, func(batch []byte, h segment.Header) error {
		if m, err := segment.ParseMarker(batch); err == nil && h.Attributes&segment.AttrControl != 0 && !m.Commit() {
			aborts[h.BaseOffset] = h.ProducerID
		}
		return nil
	})
	prev := int64(-1)
	for _, e := range es {
		if pid, ok := aborts[e.LastOffset]; !ok || pid != e.ProducerID || e.FirstOffset > e.LastOffset || e.LastOffset <= prev {
			t.Errorf("verify: %s entry %+v is not an ABORT marker of its producer in %s after the one before", name, e, logName)
		}
		prev = e.LastOffset
	}
}
