package segment

import (
	"testing"

	"github.com/sluice/sluice/segment/segmenttest"
)

// recordGeneral is the walk's general path for the record at data[pos:]:
// its end and 1 when it is whole and valid, 0 when it is not whole, -1
// when it is invalid.
func recordGeneral(data []byte, pos int, n int32) (int, int8) {
	l, p := varintAt(data, pos)
	if p < 0 {
		return 0, 0
	}
	if l < 0 {
		return 0, -1
	}
	end := p + int(l)
	if l > int64(len(data)-p) {
		return 0, 0
	}
	if !recordValid(data[p:end], n) {
		return 0, -1
	}
	return end, 1
}

// recordFast is walkFast for the one record at data[pos:]: its end, or
// -1 where walkFast stops.
func recordFast(data []byte, pos int, n int32) int {
	end, i := walkFast(data, pos, n-1, n)
	if i != n {
		return -1
	}
	return end
}

// FuzzWalkFast: whatever walkFast accepts, the general path accepts with
// the same end; walkFast never refuses outright (it leaves every other
// record to the general path, which gives the errors). Seeded with
// the records clients write (most take the fast path) and the edges of
// its shape: varints of three bytes, negative lengths, a key or value
// running past the record, a record too short for its head, headers.
func FuzzWalkFast(f *testing.F) {
	seed := func(batch []byte) {
		h, _ := ParseHeader(batch)
		data := batch[HeaderSize:]
		for pos := 0; pos < len(data); {
			end, ok := recordGeneral(data, pos, h.NumRecords)
			if ok != 1 {
				break
			}
			f.Add(data[pos:], h.NumRecords)
			f.Add(data[pos:end], h.NumRecords)
			f.Add(data[pos:], int32(1))
			pos = end
		}
	}
	keyless := segmenttest.NewBatch(0, 3, 1, 100)
	for i := range keyless.Records {
		keyless.Records[i].Key = nil
	}
	long := segmenttest.NewBatch(0, 3, 1, 10)
	long.Records[1].TimestampDelta = 1 << 20 // four bytes
	long.Records[2].TimestampDelta = 1 << 16 // three bytes
	headers := segmenttest.NewBatch(0, 3, 1, 20)
	headers.Records[0].Headers = []segmenttest.Header{{Key: "h", Value: []byte("v")}}
	headers.Records[1].Headers = []segmenttest.Header{{Key: "a"}, {Key: "", Value: []byte{}}}
	for _, b := range []segmenttest.Batch{segmenttest.NewBatch(0, 3, 1, 100), segmenttest.NewBatch(0, 2, 1, 9000), keyless, long, headers} {
		seed(b.Encode())
	}
	seed(mixedBatch())
	// length 15, attributes, ts 0, offset 0, key null, value of 9 bytes, no headers
	rec := []byte{30, 0, 0, 0, 1, 18, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0xff, 0xff}
	if recordFast(rec, 0, 1) != 16 {
		f.Fatal("the seed record does not take the fast path")
	}
	f.Add(rec, int32(1))
	for _, mut := range []struct{ at, b byte }{
		{0, 31}, {0, 2}, {0, 28}, {0, 32}, // -16 (zig-zag 15's odd twin), too short, one short, one long
		{3, 2}, {3, 1}, {3, 3}, {3, 0x81}, // an offset delta of 1 (n 1), -1, -2, two bytes
		{4, 3}, {4, 2}, {4, 40}, // a key of -2, 1 and 20 bytes
		{5, 3}, {5, 16}, {5, 20}, {5, 0x80}, // a value of -2, one short, one long, two bytes
		{15, 1}, {15, 2}, // a header count of -1 and 1
	} {
		b := append([]byte(nil), rec...)
		b[mut.at] = mut.b
		f.Add(b, int32(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, n int32) {
		if n <= 0 {
			n = 1
		}
		end := recordFast(data, 0, n)
		if end < 0 {
			return
		}
		if gEnd, ok := recordGeneral(data, 0, n); ok != 1 || gEnd != end {
			t.Fatalf("walkFast: end %d; general path: end %d, %d (n %d, % x)", end, gEnd, ok, n, data)
		}
	})
}

// TestWalkFastTakesClientRecords: the records clients write — with and
// without keys and headers, values of 0 to 8,000 bytes, batches of up to
// 10,000 records — take the fast path, each but the last 15 bytes of the
// section (which the fast path leaves to the general one: it loads 16
// bytes at a time).
func TestWalkFastTakesClientRecords(t *testing.T) {
	for _, c := range []struct {
		n, size       int
		keys, headers bool
	}{{10000, 100, false, false}, {10000, 100, true, false}, {1000, 1024, false, false}, {200, 8000, true, false}, {100, 0, true, false}, {1000, 100, true, true}} {
		b := segmenttest.NewBatch(0, c.n, 1, c.size)
		for i := range b.Records {
			if !c.keys {
				b.Records[i].Key = nil
			}
			if c.headers {
				b.Records[i].Headers = []segmenttest.Header{{Key: "traceparent", Value: []byte("00-0af7651916cd43dd-01")}, {Key: "n"}}
			}
		}
		batch := b.Encode()
		data := batch[HeaderSize:]
		fast := 0
		for pos, i := 0, 0; i < c.n; i++ {
			end := recordFast(data, pos, int32(c.n))
			if end < 0 {
				var ok int8
				if end, ok = recordGeneral(data, pos, int32(c.n)); ok != 1 {
					t.Fatalf("%+v: record %d is not valid", c, i)
				}
				if pos+16 <= len(data) {
					t.Errorf("%+v: record %d at %d of %d bytes left to the general path", c, i, pos, len(data))
				}
			} else {
				fast++
			}
			pos = end
		}
		if fast < c.n-1 {
			t.Errorf("%+v: %d of %d records took the fast path", c, fast, c.n)
		}
		if !recordsValid(data, int32(c.n)) {
			t.Errorf("%+v: recordsValid refuses the batch", c)
		}
	}
}

// BenchmarkWalkHeaders: the walk of records with a header each (which
// walkFast leaves to the general path), 160 × 100 B.
func BenchmarkWalkHeaders(b *testing.B) {
	bt := segmenttest.NewBatch(0, 160, 1, 100)
	for i := range bt.Records {
		bt.Records[i].Headers = []segmenttest.Header{{Key: "traceparent", Value: []byte("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")}}
	}
	batch := bt.Encode()
	b.SetBytes(int64(len(batch)))
	for b.Loop() {
		if !recordsValid(batch[HeaderSize:], 160) {
			b.Fatal("invalid")
		}
	}
}
