package bench

import (
	"encoding/binary"
	"hash/crc32"
	"testing"
)

// fullCRC is the CRC-32C over attributes..end, computed from scratch.
func fullCRC(b []byte) uint32 {
	return crc32.Checksum(b[offAttributes:], crc32.MakeTable(crc32.Castagnoli))
}

func TestStampKeepsCRCValid(t *testing.T) {
	f := func(records, size int, stamps ...int64) {
		t.Helper()
		b, err := NewBatch(records, size, 7)
		if err != nil {
			t.Fatalf("NewBatch(%d, %d): %v", records, size, err)
		}
		for _, ms := range stamps {
			b.Stamp(ms)
			if got, want := binary.BigEndian.Uint32(b.Bytes[offCRC:]), fullCRC(b.Bytes); got != want {
				t.Fatalf("%d×%d bytes, stamp %d: CRC %08x, recomputed %08x", records, size, ms, got, want)
			}
			for _, off := range []int{offBaseTS, offMaxTS} {
				if got := int64(binary.BigEndian.Uint64(b.Bytes[off:])); got != ms {
					t.Fatalf("timestamp at %d = %d, want %d", off, got, ms)
				}
			}
		}
	}
	f(1, 0, 1)
	f(1, 1, 1, 2, 3)
	f(3, 100, 1700000000000, 1700000000001, -1, 0)
	f(64, 16384, 1, 1<<62, 1763700000123)
	f(RecordsPerBatch(16384, 1<<20), 16384, 1763700000123, 1763700000124)
	f(1000, 10, 5, 6)
}

func TestNewBatchLayout(t *testing.T) {
	b, err := NewBatch(5, 100, 1)
	if err != nil {
		t.Fatal(err)
	}
	var seen []batchInfo
	if err := walkBatches(append(b.Bytes, b.Bytes...), true, func(i batchInfo) { seen = append(seen, i) }); err != nil {
		t.Fatalf("walkBatches: %v", err)
	}
	if len(seen) != 2 || seen[0].records != 5 || seen[0].lastDelta != 4 || seen[0].size != len(b.Bytes) {
		t.Fatalf("walked %+v, batch of %d bytes", seen, len(b.Bytes))
	}
	if got := int(binary.BigEndian.Uint32(b.Bytes[offBatchLength:])) + 12; got != len(b.Bytes) {
		t.Fatalf("batchLength+12 = %d, len %d", got, len(b.Bytes))
	}
}

func TestWalkBatchesPartialAndCorrupt(t *testing.T) {
	b, _ := NewBatch(2, 50, 3)
	n := 0
	if err := walkBatches(append(append([]byte{}, b.Bytes...), b.Bytes[:70]...), true, func(batchInfo) { n++ }); err != nil || n != 1 {
		t.Fatalf("partial tail: %d batches, %v", n, err)
	}
	bad := append([]byte{}, b.Bytes...)
	bad[len(bad)-3] ^= 1
	if err := walkBatches(bad, true, func(batchInfo) {}); err == nil {
		t.Fatal("flipped bit: no CRC error")
	}
	if err := walkBatches(bad, false, func(batchInfo) {}); err != nil {
		t.Fatalf("without verify: %v", err)
	}
}

func TestRecordsPerBatch(t *testing.T) {
	f := func(size, batch, want int) {
		t.Helper()
		if got := RecordsPerBatch(size, batch); got != want {
			t.Fatalf("RecordsPerBatch(%d, %d) = %d, want %d", size, batch, got, want)
		}
		b, _ := NewBatch(want, size, 1)
		if want > 1 && len(b.Bytes) > batch {
			t.Fatalf("batch of %d records is %d bytes > %d", want, len(b.Bytes), batch)
		}
	}
	f(16384, 1<<20, 63)
	f(16384, 100, 1) // one record even when it does not fit
	f(1<<20, 1048588, 1)
}

func BenchmarkStamp(b *testing.B) {
	bt, _ := NewBatch(RecordsPerBatch(16384, 1<<20), 16384, 1)
	b.SetBytes(int64(len(bt.Bytes)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		bt.Stamp(int64(i))
	}
}

func BenchmarkFullCRC(b *testing.B) {
	bt, _ := NewBatch(RecordsPerBatch(16384, 1<<20), 16384, 1)
	b.SetBytes(int64(len(bt.Bytes)))
	for b.Loop() {
		crc32.Checksum(bt.Bytes[offAttributes:], castagnoli)
	}
}

// TestFirstValueLen: consume reports the record size it reads, not the
// --record-size default.
func TestFirstValueLen(t *testing.T) {
	f := func(records, size int, mutate func([]byte), want int) {
		t.Helper()
		b, err := NewBatch(records, size, 3)
		if err != nil {
			t.Fatal(err)
		}
		if mutate != nil {
			mutate(b.Bytes)
		}
		var got []int
		if err := walkBatches(b.Bytes, false, func(i batchInfo) { got = append(got, i.valueLen) }); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0] != want {
			t.Fatalf("%d×%d: valueLen %v, want %d", records, size, got, want)
		}
	}
	f(1, 0, nil, 0)
	f(3, 100, nil, 100)
	f(64, 16384, nil, 16384)
	f(2, 1024, func(b []byte) { b[offAttributes+1] |= 1 }, -1) // gzip: not read
}
