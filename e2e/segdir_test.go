package e2e

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// reporter is the part of testing.TB the directory checks use, so their
// own test can record what they report.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// segmentName is a segment file name: the 20-digit base offset and a kind.
var segmentName = regexp.MustCompile(`^(\d{20})\.(log|index|timeindex)$`)

// partitionDump is what verifyPartitionDir read from a partition directory.
type partitionDump struct {
	Segments []int64  // base offsets, ascending
	Records  []record // every record of uncompressed batches, in offset order
	Batches  int
	Next     int64 // offset after the last batch
}

// verifyPartitionDir checks a partition directory (after a clean stop) with
// the independent decoder: every .log is a run of valid RecordBatch v2
// with offsets contiguous across files, named by its first batch's base
// offset; every .index entry points at a batch start and holds that
// batch's last offset; .timeindex timestamps never decrease. Every problem
// is reported with t.Errorf; the records read are returned.
func verifyPartitionDir(t reporter, dir string) partitionDump {
	t.Helper()
	bases := segmentBases(t, dir)
	var d partitionDump
	d.Segments = bases
	for i, base := range bases {
		name := filepath.Join(dir, fmt.Sprintf("%020d", base))
		starts, ok := verifyLog(t, name+".log", base, i == 0, &d)
		if !ok {
			continue
		}
		verifyOffsetIndex(t, name+".index", base, starts)
		verifyTimeIndex(t, name+".timeindex", base, d.Next)
	}
	return d
}

// segmentBases lists the base offsets of the .log files in dir, checking
// that every segment file name is well formed and has its .log.
func segmentBases(t reporter, dir string) []int64 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read partition dir: %v", err)
	}
	logs := map[int64]bool{}
	var others []string
	for _, e := range ents {
		m := segmentName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		base, _ := strconv.ParseInt(m[1], 10, 64)
		if m[2] == "log" {
			logs[base] = true
		} else {
			others = append(others, e.Name())
		}
	}
	for _, o := range others {
		base, _ := strconv.ParseInt(o[:20], 10, 64)
		if !logs[base] {
			t.Errorf("%s: no .log beside it", o)
		}
	}
	var bases []int64
	for b := range logs {
		bases = append(bases, b)
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases
}

// verifyLog reads one .log, appending its records to d and advancing
// d.Next. It returns the batches by start position (position → last
// offset), ok false if the file could not be read as a whole.
func verifyLog(t reporter, path string, base int64, first bool, d *partitionDump) (map[uint32]int64, bool) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%v", err)
		return nil, false
	}
	if len(data) == 0 {
		t.Errorf("%s: empty segment", path)
		return nil, false
	}
	if !first && base != d.Next {
		t.Errorf("%s: named %d, but the previous segment ends before offset %d", path, base, d.Next)
	}
	d.Next = base
	starts := map[uint32]int64{}
	for pos := 0; pos < len(data); {
		b, err := parseBatch(data[pos:])
		if err != nil {
			t.Errorf("%s: position %d: %v", path, pos, err)
			return starts, false
		}
		if b.BaseOffset != d.Next {
			t.Errorf("%s: position %d: batch base offset %d, want %d (contiguous)", path, pos, b.BaseOffset, d.Next)
		}
		if b.Count != b.LastOffsetDelta+1 {
			t.Errorf("%s: position %d: count %d but lastOffsetDelta %d", path, pos, b.Count, b.LastOffsetDelta)
		}
		if b.Compression() == 0 {
			recs, err := b.records()
			if err != nil {
				t.Errorf("%s: %v", path, err)
			}
			d.Records = append(d.Records, recs...)
		}
		starts[uint32(pos)] = b.LastOffset()
		d.Next = b.LastOffset() + 1
		d.Batches++
		pos += len(b.Raw)
	}
	return starts, true
}

// verifyOffsetIndex checks a .index: 8-byte entries (relative offset u32,
// position u32), strictly increasing, each at a batch start and holding
// that batch's last offset.
func verifyOffsetIndex(t reporter, path string, base int64, starts map[uint32]int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%v", err)
		return
	}
	if len(data)%8 != 0 {
		t.Errorf("%s: size %d is not a multiple of 8", path, len(data))
	}
	prevOff, prevPos := int64(-1), int64(-1)
	for i := 0; i+8 <= len(data); i += 8 {
		off := base + int64(binary.BigEndian.Uint32(data[i:]))
		pos := binary.BigEndian.Uint32(data[i+4:])
		if off <= prevOff || int64(pos) <= prevPos {
			t.Errorf("%s: entry %d (offset %d position %d) does not increase after (offset %d position %d)", path, i/8, off, pos, prevOff, prevPos)
			return
		}
		last, ok := starts[pos]
		switch {
		case !ok:
			t.Errorf("%s: entry %d: position %d is not a batch start", path, i/8, pos)
		case off != last:
			t.Errorf("%s: entry %d: offset %d, but the batch at position %d ends at offset %d", path, i/8, off, pos, last)
		}
		prevOff, prevPos = off, int64(pos)
	}
}

// verifyTimeIndex checks a .timeindex: 12-byte entries (timestamp i64,
// relative offset u32) with timestamps and offsets that never decrease,
// offsets inside the segment.
func verifyTimeIndex(t reporter, path string, base, next int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%v", err)
		return
	}
	if len(data)%12 != 0 {
		t.Errorf("%s: size %d is not a multiple of 12", path, len(data))
	}
	prevTS, prevOff := int64(-1<<63), int64(-1)
	for i := 0; i+12 <= len(data); i += 12 {
		ts := int64(binary.BigEndian.Uint64(data[i:]))
		off := base + int64(binary.BigEndian.Uint32(data[i+8:]))
		if ts < prevTS || off < prevOff {
			t.Errorf("%s: entry %d (timestamp %d offset %d) decreases after (timestamp %d offset %d)", path, i/12, ts, off, prevTS, prevOff)
			return
		}
		if off >= next {
			t.Errorf("%s: entry %d: offset %d beyond the segment's last offset %d", path, i/12, off, next-1)
		}
		prevTS, prevOff = ts, off
	}
}

// newestLog is the path of the .log with the largest base offset in dir.
func newestLog(t *testing.T, dir string) string {
	t.Helper()
	bases := segmentBases(t, dir)
	if len(bases) == 0 {
		t.Fatalf("%s: no segments", dir)
	}
	return filepath.Join(dir, fmt.Sprintf("%020d.log", bases[len(bases)-1]))
}

// lines splits kcat output into lines without the final empty one.
func lines(out []byte) []string {
	s := strings.TrimSuffix(string(out), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
