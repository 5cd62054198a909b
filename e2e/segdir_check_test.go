package e2e

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder is a reporter that keeps what it is told.
type recorder struct{ msgs []string }

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...) }

// writeSegment writes base's .log from batches (base offsets assigned
// from base), an .index entry per batch (its last offset, Kafka's rule)
// and one .timeindex entry.
func writeSegment(t *testing.T, dir string, base int64, batches ...[]byte) {
	t.Helper()
	var log, idx, tidx []byte
	off := base
	for _, b := range batches {
		b = append([]byte(nil), b...)
		binary.BigEndian.PutUint64(b, uint64(off))
		last := off + int64(binary.BigEndian.Uint32(b[23:]))
		idx = binary.BigEndian.AppendUint32(idx, uint32(last-base))
		idx = binary.BigEndian.AppendUint32(idx, uint32(len(log)))
		log = append(log, b...)
		off = last + 1
	}
	tidx = binary.BigEndian.AppendUint64(tidx, 1700000000000)
	tidx = binary.BigEndian.AppendUint32(tidx, uint32(off-1-base))
	name := filepath.Join(dir, fmt.Sprintf("%020d", base))
	for ext, data := range map[string][]byte{".log": log, ".index": idx, ".timeindex": tidx} {
		if err := os.WriteFile(name+ext, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestVerifyPartitionDir checks that the independent directory reader
// accepts a well-formed partition and reports each kind of damage.
func TestVerifyPartitionDir(t *testing.T) {
	three := encodeBatch(kv{[]byte("a"), []byte("1")}, kv{[]byte("b"), []byte("2")}, kv{nil, []byte("3")})
	two := encodeBatch(kv{[]byte("d"), []byte("4")}, kv{[]byte("e"), nil})
	one := encodeBatch(kv{[]byte("f"), []byte("6")})
	seg := func(base int64, ext string) string { return fmt.Sprintf("%020d%s", base, ext) }
	patch := func(name string, pos int, b ...byte) func(dir string) {
		return func(dir string) {
			p := filepath.Join(dir, name)
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			copy(data[pos:], b)
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	f := func(name string, damage func(dir string), want string) {
		t.Helper()
		dir := t.TempDir()
		writeSegment(t, dir, 0, three, two)
		writeSegment(t, dir, 5, one)
		if damage != nil {
			damage(dir)
		}
		var r recorder
		d := verifyPartitionDir(&r, dir)
		all := strings.Join(r.msgs, "\n")
		switch {
		case want == "" && len(r.msgs) > 0:
			t.Errorf("%s: reported problems in a good directory:\n%s", name, all)
		case want == "" && (len(d.Records) != 6 || d.Next != 6 || len(d.Segments) != 2):
			t.Errorf("%s: read %d records, next %d, %d segments; want 6, 6, 2", name, len(d.Records), d.Next, len(d.Segments))
		case want != "" && !strings.Contains(all, want):
			t.Errorf("%s: want a report containing %q, got:\n%s", name, want, all)
		}
	}
	f("good", nil, "")
	f("index holds the base offset", patch(seg(0, ".index"), 8, 0, 0, 0, 3), "ends at offset 4")
	f("index position inside a batch", patch(seg(0, ".index"), 12, 0, 0, 0, 9), "not a batch start")
	f("index zero tail", func(dir string) {
		p := filepath.Join(dir, seg(0, ".index"))
		data, _ := os.ReadFile(p)
		_ = os.WriteFile(p, append(data, make([]byte, 8)...), 0o644)
	}, "does not increase")
	f("bad crc", patch(seg(0, ".log"), len(three)-1, 'X'), "crc")
	f("segment misnamed", func(dir string) {
		for _, ext := range []string{".log", ".index", ".timeindex"} {
			_ = os.Rename(filepath.Join(dir, seg(5, ext)), filepath.Join(dir, seg(6, ext)))
		}
	}, "named 6, but the previous segment ends before offset 5")
	f("offset gap", patch(seg(0, ".log"), len(three)+7, 4), "base offset 4, want 3")
	f("timeindex decreases", func(dir string) {
		p := filepath.Join(dir, seg(0, ".timeindex"))
		data, _ := os.ReadFile(p)
		_ = os.WriteFile(p, append(data, make([]byte, 12)...), 0o644)
	}, "decreases")
	f("torn tail", func(dir string) {
		p := filepath.Join(dir, seg(5, ".log"))
		data, _ := os.ReadFile(p)
		_ = os.WriteFile(p, data[:len(data)-1], 0o644)
	}, "short batch")
	f("index without log", func(dir string) {
		_ = os.WriteFile(filepath.Join(dir, seg(9, ".index")), nil, 0o644)
	}, "no .log beside it")
}
