package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/sluice/sluice/segment/segmenttest"
)

func testBatch(base int64, n int) []byte {
	return segmenttest.NewBatch(base, n, 1_700_000_000_000, 10).Encode()
}

func TestValidate(t *testing.T) {
	good := testBatch(100, 3)
	f := func(name string, edit func(b []byte) []byte, want ...error) {
		t.Helper()
		b := edit(bytes.Clone(good))
		h, err := Validate(b)
		if len(want) == 0 {
			if err != nil {
				t.Fatalf("%s: Validate: %v", name, err)
			}
			if h.BaseOffset != 100 || h.NumRecords != 3 || h.Size() != int64(len(b)) {
				t.Fatalf("%s: header %+v", name, h)
			}
			return
		}
		for _, w := range want {
			if !errors.Is(err, w) {
				t.Fatalf("%s: Validate error %v, want %v", name, err, w)
			}
		}
		if !errors.Is(err, ErrTorn) && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: %v wraps neither ErrTorn nor ErrCorrupt", name, err)
		}
	}
	same := func(b []byte) []byte { return b }
	refix := func(edit func(b []byte)) func(b []byte) []byte {
		return func(b []byte) []byte { edit(b); segmenttest.FixCRC(b); return b }
	}
	put32 := func(at int, v int32) func(b []byte) {
		return func(b []byte) { binary.BigEndian.PutUint32(b[at:], uint32(v)) }
	}
	put64 := func(at int, v int64) func(b []byte) {
		return func(b []byte) { binary.BigEndian.PutUint64(b[at:], uint64(v)) }
	}

	f("good", same)
	f("offset and epoch are outside the crc", func(b []byte) []byte { SetBaseOffset(b, 100); SetLeaderEpoch(b, 7); return b })
	f("bad magic", func(b []byte) []byte { b[16] = 1; return b }, ErrBadMagic, ErrCorrupt)
	f("bad crc", func(b []byte) []byte { b[17] ^= 1; return b }, ErrBadCRC, ErrCorrupt)
	f("body bit flip", func(b []byte) []byte { b[len(b)-1] ^= 0x80; return b }, ErrBadCRC)
	f("empty", func(b []byte) []byte { return nil }, ErrTorn)
	f("short header", func(b []byte) []byte { return b[:HeaderSize-1] }, ErrTorn)
	f("short body", func(b []byte) []byte { return b[:len(b)-1] }, ErrTorn)
	f("trailing byte", func(b []byte) []byte { return append(b, 0) }, ErrCorrupt)
	f("length too small", func(b []byte) []byte { put32(8, minLength-1)(b); return b }, ErrCorrupt)
	f("length negative", func(b []byte) []byte { put32(8, -5)(b); return b }, ErrCorrupt)
	f("length says more", func(b []byte) []byte { put32(8, int32(len(b)))(b); return b }, ErrTorn)
	f("length says less", func(b []byte) []byte { put32(8, int32(len(b)-13))(b); return b }, ErrCorrupt)
	f("count mismatch", refix(put32(57, 2)), ErrBadCount, ErrCorrupt)
	f("lastOffsetDelta mismatch", refix(put32(23, 3)), ErrBadCount)
	f("zero records", refix(func(b []byte) { put32(57, 0)(b); put32(23, -1)(b) }), ErrBadCount)
	f("max < base timestamp", refix(put64(35, 1_600_000_000_000)), ErrTimestamp, ErrCorrupt)
	f("max -1 is fine", refix(put64(35, -1)), nil...)
	f("base -1 is fine", refix(put64(27, -1)), nil...)
	f("log append time may be below base", func(b []byte) []byte { SetLogAppendTime(b, 1); return b }, nil...)
	f("unknown codec", refix(func(b []byte) { b[22] |= 5 }), ErrCorrupt)
	f("records short", refix(func(b []byte) { put32(57, 4)(b); put32(23, 3)(b) }), ErrCorrupt)
	f("records long", refix(func(b []byte) { put32(57, 2)(b); put32(23, 1)(b) }), ErrCorrupt)
	// The first record starts at HeaderSize with its length varint.
	f("record length past the end", refix(func(b []byte) { b[HeaderSize] = 0x7e }), ErrCorrupt)
	f("record length negative", refix(func(b []byte) { b[HeaderSize] = 0x03 }), ErrCorrupt)
	f("record offset delta out of range", refix(func(b []byte) {
		// attributes at +1, tsDelta (0) at +2, offsetDelta (0) at +3.
		b[HeaderSize+3] = 0x08 // zigzag 4 >= 3 records
	}), ErrCorrupt)
	f("record key length lies", refix(func(b []byte) { b[HeaderSize+4] = 0x40 }), ErrCorrupt)
	f("record key length < -1", refix(func(b []byte) { b[HeaderSize+4] = 0x05 }), ErrCorrupt)
	f("record varint overflow", refix(func(b []byte) {
		copy(b[HeaderSize+1:], bytes.Repeat([]byte{0xff}, 11))
	}), ErrCorrupt)
}

func TestValidateCompressedChecksOnlyHeaderAndCRC(t *testing.T) {
	b := segmenttest.NewBatch(0, 5, 1, 100)
	b.Codec = segmenttest.Zstd
	enc := b.Encode()
	enc[len(enc)-3] ^= 0xff // garbage inside the compressed records
	segmenttest.FixCRC(enc)
	if _, err := Validate(enc); err != nil {
		t.Fatalf("Validate on a compressed batch decompressed it: %v", err)
	}
	if err := Records(enc, func(Record) bool { return true }); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Records on garbage zstd = %v, want ErrCorrupt", err)
	}
}

func TestValidateDoesNotAllocate(t *testing.T) {
	good, bad := testBatch(0, 10), testBatch(0, 10)
	bad[20] ^= 1
	if n := testing.AllocsPerRun(100, func() { Validate(good); Validate(bad); Validate(bad[:30]) }); n != 0 {
		t.Fatalf("Validate allocates %v times per call", n)
	}
}

func TestSplit(t *testing.T) {
	a, b := testBatch(0, 2), testBatch(2, 3)
	var got []Header
	set := append(bytes.Clone(a), b...)
	err := Split(set, func(batch []byte, h Header) error {
		if int64(len(batch)) != h.Size() {
			t.Fatalf("batch len %d, Size %d", len(batch), h.Size())
		}
		got = append(got, h)
		return nil
	})
	if err != nil || len(got) != 2 || got[1].BaseOffset != 2 {
		t.Fatalf("Split = %v, %+v", err, got)
	}
	f := func(set []byte, want error) {
		t.Helper()
		if err := Split(set, func([]byte, Header) error { return nil }); !errors.Is(err, want) {
			t.Fatalf("Split error %v, want %v", err, want)
		}
	}
	f(nil, ErrCorrupt)
	f(set[:len(set)-1], ErrTorn)
	f(append(bytes.Clone(set), 1, 2, 3), ErrTorn)
	stop := errors.New("stop")
	if err := Split(set, func([]byte, Header) error { return stop }); err != stop {
		t.Fatalf("Split did not return fn's error: %v", err)
	}
}

func TestSetLogAppendTime(t *testing.T) {
	b := testBatch(0, 3)
	SetLogAppendTime(b, 1_800_000_000_000)
	h, err := Validate(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.Attributes&AttrTimestampType == 0 || h.MaxTimestamp != 1_800_000_000_000 {
		t.Fatalf("header %+v", h)
	}
	err = Records(b, func(r Record) bool {
		if r.Timestamp != 1_800_000_000_000 {
			t.Fatalf("record timestamp %d, want the log append time", r.Timestamp)
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRecordsEveryCodec(t *testing.T) {
	spec := segmenttest.Batch{BaseOffset: 40, BaseTimestamp: 1000, ProducerID: -1, BaseSequence: -1}
	for i := range 50 {
		r := segmenttest.Record{TimestampDelta: int64(i), Key: []byte{byte(i)}, Value: bytes.Repeat([]byte("v"), i*10)}
		switch i % 5 {
		case 1:
			r.Key = nil
		case 2:
			r.Value = nil
		case 3:
			r.Headers = []segmenttest.Header{{Key: "h1", Value: []byte("x")}, {Key: "h2"}}
		}
		spec.Records = append(spec.Records, r)
	}
	f := func(name string, codec int, xerial bool) {
		t.Helper()
		spec.Codec, spec.Xerial = codec, xerial
		enc := spec.Encode()
		i := 0
		err := Records(enc, func(r Record) bool {
			want := spec.Records[i]
			if r.Offset != 40+int64(i) || r.Timestamp != 1000+int64(i) ||
				!bytes.Equal(r.Key, want.Key) || r.KeyNull != (want.Key == nil) ||
				!bytes.Equal(r.Value, want.Value) || r.ValueNull != (want.Value == nil) ||
				len(r.Headers) != len(want.Headers) {
				t.Fatalf("%s: record %d = %+v, want %+v", name, i, r, want)
			}
			for j, h := range want.Headers {
				if r.Headers[j].Key != h.Key || !bytes.Equal(r.Headers[j].Value, h.Value) || (r.Headers[j].Value == nil) != (h.Value == nil) {
					t.Fatalf("%s: record %d header %d = %+v", name, i, j, r.Headers[j])
				}
			}
			i++
			return true
		})
		if err != nil || i != len(spec.Records) {
			t.Fatalf("%s: Records = %v after %d records", name, err, i)
		}
		stopped := 0
		Records(enc, func(Record) bool { stopped++; return false })
		if stopped != 1 {
			t.Fatalf("%s: fn returning false did not stop (%d calls)", name, stopped)
		}
	}
	f("none", segmenttest.None, false)
	f("gzip", segmenttest.Gzip, false)
	f("snappy raw", segmenttest.Snappy, false)
	f("snappy xerial", segmenttest.Snappy, true)
	f("lz4", segmenttest.LZ4, false)
	f("zstd", segmenttest.Zstd, false)
}

func BenchmarkValidate(b *testing.B) {
	for _, size := range []struct {
		name      string
		n, valLen int
	}{{"records=10x100B", 10, 100}, {"records=160x100B", 160, 100}, {"records=100x1KiB", 100, 1024}} {
		batch := segmenttest.NewBatch(0, size.n, 1, size.valLen).Encode()
		b.Run(size.name, func(b *testing.B) {
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Validate(batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRecordsValid is the record pass of Validate alone (no CRC).
func BenchmarkRecordsValid(b *testing.B) {
	for _, size := range []struct {
		name      string
		n, valLen int
	}{{"records=160x100B", 160, 100}, {"records=100x1KiB", 100, 1024}} {
		batch := segmenttest.NewBatch(0, size.n, 1, size.valLen).Encode()
		b.Run(size.name, func(b *testing.B) {
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				if !recordsValid(batch[HeaderSize:], int32(size.n)) {
					b.Fatal("invalid")
				}
			}
		})
	}
}

// TestVarintAtMatchesBinaryVarint: the produce path's varint reads
// (varint12 inline, then varintLong) take exactly what binary.Varint takes,
// for every one- and two-byte input, each at every position and cut short,
// and for the longest and overlong ones.
func TestVarintAtMatchesBinaryVarint(t *testing.T) {
	f := func(b []byte, pos int) {
		t.Helper()
		v, p := varintAt(b, pos)
		want, k := int64(0), 0
		if pos < len(b) {
			want, k = binary.Varint(b[pos:])
		}
		wantP := pos + k
		if k <= 0 {
			want, wantP = 0, -1
		}
		if v != want || p != wantP {
			t.Fatalf("varintAt(% x, %d) = %d, %d; binary.Varint: %d, %d", b, pos, v, p, want, k)
		}
	}
	for x := range 1 << 16 {
		b := []byte{0xff, byte(x), byte(x >> 8)}
		for pos := range 4 {
			f(b, pos)
			f(b[:2], min(pos, 2))
		}
	}
	f(binary.AppendVarint(nil, math.MinInt64), 0)
	f(binary.AppendVarint(nil, math.MaxInt64), 0)
	f(bytes.Repeat([]byte{0xff}, 10), 0) // overflows 64 bits
	f(bytes.Repeat([]byte{0x80}, 11), 0) // longer than 10 bytes
	f(append(bytes.Repeat([]byte{0x80}, 9), 0), 0)
}

// TestFirstKeyless: the first record with a null key, compressed or not,
// and the corruption of a compressed batch that does not decompress.
func TestFirstKeyless(t *testing.T) {
	f := func(codec int, keys []bool, want int32, wantErr error) {
		t.Helper()
		b := segmenttest.Batch{BaseOffset: 7, BaseTimestamp: 1, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Codec: codec}
		for i, keyed := range keys {
			r := segmenttest.Record{TimestampDelta: int64(i), Value: make([]byte, 200)}
			if keyed {
				r.Key = []byte("k")
			}
			b.Records = append(b.Records, r)
		}
		enc := b.Encode()
		h, err := Validate(enc)
		if err != nil {
			t.Fatalf("Validate: %v", err)
		}
		if wantErr != nil {
			enc = enc[:len(enc)-4] // the records no longer decompress
		}
		got, err := FirstKeyless(enc, h)
		if got != want || !errors.Is(err, wantErr) || (err == nil) != (wantErr == nil) {
			t.Fatalf("codec %d, keys %v: FirstKeyless = %d, %v; want %d, %v", codec, keys, got, err, want, wantErr)
		}
		if codec == segmenttest.None {
			if n := testing.AllocsPerRun(10, func() { FirstKeyless(enc, h) }); n != 0 {
				t.Fatalf("FirstKeyless allocates %v times on an uncompressed batch", n)
			}
		}
	}
	for codec := segmenttest.None; codec <= segmenttest.Zstd; codec++ {
		f(codec, []bool{true}, -1, nil)
		f(codec, []bool{true, true, true}, -1, nil)
		f(codec, []bool{false}, 0, nil)
		f(codec, []bool{true, true, false, false}, 2, nil)
	}
	f(segmenttest.Gzip, []bool{true, false}, -1, ErrCorrupt)
}
