package logcheck

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice/sluice/segment"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// batch encodes an uncompressed RecordBatch v2 at base holding values.
func batch(base int64, values ...string) []byte {
	var recs []byte
	for i, v := range values {
		r := kmsg.Record{OffsetDelta: int32(i), Value: []byte(v)}
		body := r.AppendTo(nil)[1:] // after Length, encoded as the 1-byte varint 0
		recs = append(binary.AppendVarint(recs, int64(len(body))), body...)
	}
	b := kmsg.RecordBatch{
		FirstOffset: base, Magic: 2, LastOffsetDelta: int32(len(values) - 1),
		ProducerID: 7, ProducerEpoch: 0, FirstSequence: int32(base), NumRecords: int32(len(values)), Records: recs,
	}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
}

// writeLog writes a segment file of dir starting at base.
func writeLog(t *testing.T, dir string, base int64, batches ...[]byte) {
	t.Helper()
	var data []byte
	for _, b := range batches {
		data = append(data, b...)
	}
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%020d.log", base)), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, dir string) (*Partition, []Record) {
	t.Helper()
	p, err := ReadPartition(dir)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := p.Records()
	if err != nil {
		t.Fatal(err)
	}
	return p, recs
}

func TestReadAndCheck(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, dir, 0, batch(0, "a", "b"), batch(2, "c"))
	writeLog(t, dir, 3, batch(3, "d", "e"), batch(5, "f")[:30]) // torn tail
	p, recs := read(t, dir)
	if p.End != 5 || p.Torn != 30 || len(recs) != 5 || string(recs[4].Value) != "e" || recs[4].Offset != 4 || recs[4].Sequence != 4 {
		t.Fatalf("end %d torn %d records %+v", p.End, p.Torn, recs)
	}
	f := func(acks []Ack, want ...string) {
		t.Helper()
		got, n := CheckAcked(recs, acks, 0)
		if n != len(want) || strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("CheckAcked(%v) = %q (%d), want %q", acks, got, n, want)
		}
	}
	f([]Ack{{0, "a"}, {4, "e"}})
	f([]Ack{{5, "f"}}, `acknowledged "f" at offset 5: lost`)
	f([]Ack{{1, "c"}}, `acknowledged "c" at offset 1: the log has "b" there`)
	if got, n := CheckSeen(recs, []Ack{{2, "c"}, {5, "f"}}, 0); n != 1 || !strings.Contains(got[0], `"f" at offset 5`) {
		t.Fatalf("CheckSeen: %q", got)
	}

	dup := t.TempDir()
	writeLog(t, dup, 0, batch(0, "a"), batch(1, "a"))
	_, drecs := read(t, dup)
	if got, _ := CheckAcked(drecs, []Ack{{0, "a"}}, 0); len(got) != 1 || !strings.Contains(got[0], "present 2 times") {
		t.Fatalf("duplicate: %q", got)
	}
	if d := Duplicates(drecs); len(d) != 1 {
		t.Fatalf("Duplicates: %q", d)
	}
}

// A flipped byte inside a batch, or a torn batch before the last segment,
// is corruption.
func TestCorrupt(t *testing.T) {
	bad := batch(1, "b")
	bad[len(bad)-1] ^= 1
	for name, write := range map[string]func(dir string){
		"crc":  func(dir string) { writeLog(t, dir, 0, batch(0, "a"), bad) },
		"torn": func(dir string) { writeLog(t, dir, 0, batch(0, "a")[:20]); writeLog(t, dir, 1, batch(1, "b")) },
	} {
		dir := t.TempDir()
		write(dir)
		if _, err := ReadPartition(dir); !errors.Is(err, segment.ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}

// Replicas compare by batches below the high watermark, whatever their
// segment boundaries.
func TestCompareReplicas(t *testing.T) {
	a, b, c, short := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	writeLog(t, a, 0, batch(0, "x", "y"), batch(2, "z"), batch(3, "w"))
	writeLog(t, b, 0, batch(0, "x", "y"))
	writeLog(t, b, 2, batch(2, "z"), batch(3, "other")) // differs at 3 only
	writeLog(t, c, 0, batch(0, "x", "q"), batch(2, "z"))
	writeLog(t, short, 0, batch(0, "x", "y"))
	pa, _ := read(t, a)
	pb, _ := read(t, b)
	pc, _ := read(t, c)
	ps, _ := read(t, short)
	if err := CompareReplicas(3, pa, pb); err != nil {
		t.Fatalf("equal below 3: %v", err)
	}
	if err := CompareReplicas(4, pa, pb); err == nil || !strings.Contains(err.Error(), "differ at offset 3") {
		t.Fatalf("differ at 3: %v", err)
	}
	if err := CompareReplicas(1, pa, pc); err == nil || !strings.Contains(err.Error(), "differ at offset 0") {
		t.Fatalf("differ at 0: %v", err)
	}
	if err := CompareReplicas(3, pa, ps); err == nil || !strings.Contains(err.Error(), "below the high watermark") {
		t.Fatalf("short replica: %v", err)
	}
}
